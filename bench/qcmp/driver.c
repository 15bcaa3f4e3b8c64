/*
 * driver.c - cmp_vs_qemu: our comparator against QEMU's own colo-compare,
 * on identical frames, end to end through the same kind of sockets.
 *
 *   cmp_vs_qemu --qemu PATH [--front PATH] [-r ROUNDS] [-n FRAMES]
 *               [-w WINDOW] [-b BATCH] [-p POINT]... [--json FILE]
 *               [--md FILE] [--meta KEY=VALUE]... [--vnet] [-k]
 *
 * Per point (gen.h: protocol, payload, connections, segmentation), the
 * frames are generated once; then ROUNDS rounds each run the library
 * alone, QEMU's colo-compare and our cmp_front, the two processes in
 * alternating order (QEMU first in even rounds). Each process is fresh
 * per run. A run reports a rate only if every primary frame fed came out
 * of outdev, once and unaltered (run.h). The summary per point is the
 * median of the rounds; the ratios are ours / QEMU (report.h).
 *
 * Progress goes to stderr, the Markdown table to stdout (and --md).
 * Exit status: 0 every run measured, 1 some run failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/qcmp/report.h"

#define MAX_POINTS 128
#define MAX_META 16

struct opts {
	struct run_env env;
	unsigned rounds;
	uint32_t frames;
	bool vnet, keep;
	const char *json, *md;
	const char *meta[MAX_META];
	unsigned nmeta;
	struct gen_point pts[MAX_POINTS];
	uint32_t win[MAX_POINTS];	/* 0: the default window */
	unsigned npts;
};

static void usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: cmp_vs_qemu --qemu PATH [options]\n"
"  --qemu PATH      qemu-system-x86_64 with colo-compare\n"
"  --front PATH     cmp_front (default: next to this program)\n"
"  -r, --rounds N   rounds per point (default 5)\n"
"  -n, --frames N   timed primary frames per point (default 50000)\n"
"  -w, --window N   primary frames in flight (default 256)\n"
"  -b, --batch N    frames per write (default 32)\n"
"  -p, --point P    tcp|udp:PAYLOAD:CONNS[:same|diff][:wWINDOW][:nFRAMES],\n"
"                   repeatable. Default: the grid, tcp and udp x 64/512/1448 B\n"
"                   x 1/16/256/1024, tcp also with different segmentation\n"
"                   (36 points), then window sensitivity: tcp:64:1,\n"
"                   tcp:1448:16 and udp:512:256 at windows 1 (5000 frames),\n"
"                   16 (20000), 64 and 1000 (12 points)\n"
"  --json FILE      write everything as JSON\n"
"  --md FILE        write the Markdown table\n"
"  --meta K=V       record K=V under \"versions\" (repeatable)\n"
"  --vnet           frames carry a vnet header (vnet_hdr_support=on)\n"
"  --stall-ms MS    a run with no frame out for this long fails (10000)\n"
"  -k, --keep       keep the scratch directory (sockets, logs)\n");
	exit(status);
}

static unsigned long num(const char *s, const char *what, unsigned long lo,
			 unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "cmp_vs_qemu: %s \"%s\": expected %lu to %lu\n",
			what, s, lo, hi);
		exit(2);
	}
	return v;
}

/* An optional ":wN" (window) or ":nN" (frames) field of a point. */
static void point_opt(struct opts *o, const char *f, const char *spec)
{
	if (f[0] == 'w')
		o->win[o->npts] = (uint32_t)num(f + 1, "window", 1, 1000);
	else if (f[0] == 'n')
		o->pts[o->npts].frames = (uint32_t)num(f + 1, "frames", 1024,
						       10000000);
	else if (!strcmp(f, "diff"))
		o->pts[o->npts].diff = true;
	else if (strcmp(f, "same")) {
		fprintf(stderr, "cmp_vs_qemu: point \"%s\": unknown field "
			"\"%s\"\n", spec, f);
		exit(2);
	}
}

static void add_point(struct opts *o, const char *spec)
{
	char buf[64], *proto, *pay, *conns, *f, *save;
	struct gen_point *pt = &o->pts[o->npts];

	snprintf(buf, sizeof(buf), "%s", spec);
	proto = strtok_r(buf, ":", &save);
	pay = strtok_r(NULL, ":", &save);
	conns = strtok_r(NULL, ":", &save);
	if (o->npts == MAX_POINTS || !proto || !pay || !conns ||
	    (strcmp(proto, "tcp") && strcmp(proto, "udp"))) {
		fprintf(stderr, "cmp_vs_qemu: point \"%s\": expected "
			"tcp|udp:PAYLOAD:CONNS[:same|diff][:wWINDOW][:nFRAMES]"
			"\n", spec);
		exit(2);
	}
	memset(pt, 0, sizeof(*pt));
	o->win[o->npts] = 0;
	pt->proto = strcmp(proto, "tcp") ? GEN_UDP : GEN_TCP;
	pt->payload = (uint32_t)num(pay, "payload", 8, 9000);
	pt->conns = (uint32_t)num(conns, "connections", 1, 60000);
	while ((f = strtok_r(NULL, ":", &save)))
		point_opt(o, f, spec);
	if (pt->diff && pt->proto == GEN_UDP) {
		fprintf(stderr, "cmp_vs_qemu: point \"%s\": UDP datagrams "
			"are not segmented\n", spec);
		exit(2);
	}
	o->npts++;
}

static void default_points(struct opts *o)
{
	static const unsigned pays[] = { 64, 512, 1448 };
	static const unsigned conns[] = { 1, 16, 256, 1024 };
	static const char *const kinds[] = { "tcp:%u:%u:same",
					     "tcp:%u:%u:diff", "udp:%u:%u" };
	static const char *const sens[] = { "tcp:64:1", "tcp:1448:16",
					    "udp:512:256" };
	static const char *const wins[] = { "w1:n5000", "w16:n20000", "w64",
					    "w1000" };
	char spec[64];

	for (unsigned k = 0; k < 3; k++)
		for (unsigned p = 0; p < 3; p++)
			for (unsigned c = 0; c < 4; c++) {
				snprintf(spec, sizeof(spec), kinds[k], pays[p],
					 conns[c]);
				add_point(o, spec);
			}
	for (unsigned i = 0; i < 3; i++)
		for (unsigned w = 0; w < 4; w++) {
			snprintf(spec, sizeof(spec), "%s:%s", sens[i], wins[w]);
			add_point(o, spec);
		}
}

static const char *front_default(const char *argv0)
{
	static char path[4096];
	const char *slash = strrchr(argv0, '/');

	snprintf(path, sizeof(path), "%.*s/cmp_front",
		 slash ? (int)(slash - argv0) : 1, slash ? argv0 : ".");
	return path;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qemu", required_argument, NULL, 'Q' },
		{ "front", required_argument, NULL, 'F' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "frames", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "batch", required_argument, NULL, 'b' },
		{ "point", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'J' },
		{ "md", required_argument, NULL, 'M' },
		{ "meta", required_argument, NULL, 'm' },
		{ "vnet", no_argument, NULL, 'V' },
		{ "stall-ms", required_argument, NULL, 'S' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	o->rounds = 5;
	o->frames = 50000;
	o->env.window = 256;
	o->env.batch = 32;
	o->env.stall_ms = 10000;
	while ((c = getopt_long(argc, argv, "r:n:w:b:p:kh", lo, NULL)) != -1) {
		switch (c) {
		case 'Q': o->env.qemu = optarg; break;
		case 'F': o->env.front = optarg; break;
		case 'r': o->rounds = (unsigned)num(optarg, "rounds", 1, 64);
			break;
		case 'n': o->frames = (uint32_t)num(optarg, "frames", 1024,
						    10000000); break;
		case 'w': o->env.window = (uint32_t)num(optarg, "window", 1,
							1000); break;
		case 'b': o->env.batch = (uint32_t)num(optarg, "batch", 1,
						       1000); break;
		case 'p': add_point(o, optarg); break;
		case 'J': o->json = optarg; break;
		case 'M': o->md = optarg; break;
		case 'm':
			if (o->nmeta < MAX_META)
				o->meta[o->nmeta++] = optarg;
			break;
		case 'V': o->vnet = true; break;
		case 'S': o->env.stall_ms = (unsigned)num(optarg, "stall-ms",
							  100, 600000); break;
		case 'k': o->keep = true; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !o->env.qemu)
		usage(2);
	if (!o->env.front)
		o->env.front = front_default(argv[0]);
	if (!o->npts)
		default_points(o);
	for (unsigned i = 0; i < o->npts; i++) {
		if (!o->pts[i].frames)
			o->pts[i].frames = o->frames;
		if (!o->win[i])
			o->win[i] = o->env.window;
		o->pts[i].vnet = o->vnet;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The scratch directory and the logs run.c leaves in it. */
static void remove_dir(const char *dir)
{
	char path[4096];

	for (int k = RUN_QEMU; k <= RUN_OURS; k++) {
		snprintf(path, sizeof(path), "%s/%s.out", dir, run_kind_names[k]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.log", dir, run_kind_names[k]);
		unlink(path);
	}
	rmdir(dir);
}

static void add_sample(struct point_result *p, enum run_kind k,
		       const struct run_result *r, unsigned round,
		       unsigned order)
{
	struct sample *s = &p->s[k][p->n[k]++];

	s->r = *r;
	s->round = round;
	s->order = order;
}

/* All rounds of one point. */
static int measure_point(const struct opts *o, struct point_result *p)
{
	struct run_result *r = malloc(sizeof(*r));
	struct run_env env = o->env;
	struct gen g;
	int err;

	if (!r)
		return -ENOMEM;
	if ((err = gen_build(&p->pt, &g))) {
		free(r);
		return err;
	}
	p->prim_frames = g.side[0].n;
	p->sec_frames = g.side[1].n;
	p->timed_payload = g.timed_payload;
	env.window = p->window;
	for (int k = 0; k < RUN_KINDS; k++)
		p->s[k] = calloc(o->rounds, sizeof(struct sample));
	for (unsigned round = 0; round < o->rounds; round++) {
		enum run_kind first = round % 2 ? RUN_OURS : RUN_QEMU;

		run_one(&env, &g, RUN_LIB, r);
		add_sample(p, RUN_LIB, r, round, 0);
		run_one(&env, &g, first, r);
		add_sample(p, first, r, round, 0);
		run_one(&env, &g, first == RUN_OURS ? RUN_QEMU : RUN_OURS, r);
		add_sample(p, first == RUN_OURS ? RUN_QEMU : RUN_OURS, r, round,
			   1);
	}
	gen_free(&g);
	free(r);
	report_summarise(p);
	return 0;
}

static void progress(unsigned i, unsigned n, const struct point_result *p,
		     uint32_t default_window, double t0)
{
	double el = now_s() - t0, left = el / (i + 1) * (n - i - 1);
	char name[96];

	point_name(p, default_window, name, sizeof(name));
	if (!p->valid) {
		fprintf(stderr, "[%2u/%u] %-40s ERROR (%.0f s, ~%.0f s left)\n",
			i + 1, n, name, el, left);
		return;
	}
	fprintf(stderr, "[%2u/%u] %-40s QEMU %7.1f k/s  ours %7.1f k/s  "
		"x%-6.2f CPU x%.3f  %s (%.0f s, ~%.0f s left)\n", i + 1, n,
		name, p->fps[RUN_QEMU] / 1e3, p->fps[RUN_OURS] / 1e3,
		p->fps_ratio, p->cpu_ratio,
		p->goal_fps && p->goal_cpu ? "met" : "MISSED", el, left);
}

int main(int argc, char **argv)
{
	static struct opts o;
	static struct point_result res[MAX_POINTS];
	struct report rep = { .p = res };
	char dir[] = "/tmp/cmp_vs_qemu.XXXXXX", started[32];
	double t0 = now_s();
	time_t wall = time(NULL);
	int status = 0;

	parse_args(&o, argc, argv);
	if (access(o.env.qemu, X_OK) || access(o.env.front, X_OK)) {
		fprintf(stderr, "cmp_vs_qemu: cannot run %s or %s\n",
			o.env.qemu, o.env.front);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("cmp_vs_qemu: mkdtemp");
		return 1;
	}
	o.env.dir = dir;
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&wall));
	fprintf(stderr, "cmp_vs_qemu: %u points x %u rounds, %u timed frames "
		"each (unless the point says), window %u (idem), batch %u\n",
		o.npts, o.rounds, o.frames, o.env.window, o.env.batch);
	for (unsigned i = 0; i < o.npts; i++) {
		res[i].pt = o.pts[i];
		res[i].window = o.win[i];
		if (measure_point(&o, &res[i])) {
			fprintf(stderr, "cmp_vs_qemu: cannot build point %u\n",
				i);
			return 1;
		}
		status |= !res[i].valid;
		progress(i, o.npts, &res[i], o.env.window, t0);
	}
	rep.np = o.npts;
	rep.rounds = o.rounds;
	rep.env = &o.env;
	rep.frames = o.frames;
	rep.meta = o.meta;
	rep.nmeta = o.nmeta;
	rep.started = started;
	rep.seconds = now_s() - t0;
	report_markdown(&rep, stdout);
	if (o.md) {
		FILE *fp = fopen(o.md, "w");

		if (!fp) {
			perror(o.md);
			status = 1;
		} else {
			report_markdown(&rep, fp);
			fclose(fp);
		}
	}
	if (o.json && report_json(&rep, o.json)) {
		fprintf(stderr, "cmp_vs_qemu: cannot write %s\n", o.json);
		status = 1;
	}
	if (o.keep || status)
		fprintf(stderr, "cmp_vs_qemu: logs kept in %s\n", dir);
	else
		remove_dir(dir);
	return status;
}
