/*
 * report.c - medians, ratios, the Markdown table and the JSON record.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/qcmp/proc.h"
#include "bench/qcmp/report.h"
#include "compare/cmp.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double fps_of(const struct run_result *r)
{
	return r->elapsed_ns ? (double)r->frames * 1e9 / (double)r->elapsed_ns
			     : 0;
}

/* Ours / QEMU per round, over the rounds where both ran. */
static void round_ratios(struct point_result *p)
{
	bool any = false;

	for (unsigned i = 0; i < p->n[RUN_OURS]; i++) {
		for (unsigned j = 0; j < p->n[RUN_QEMU]; j++) {
			const struct sample *o = &p->s[RUN_OURS][i];
			const struct sample *q = &p->s[RUN_QEMU][j];
			double r;

			if (o->round != q->round || !fps_of(&q->r))
				continue;
			r = fps_of(&o->r) / fps_of(&q->r);
			if (!any || r < p->fps_ratio_min)
				p->fps_ratio_min = r;
			if (!any || r > p->fps_ratio_max)
				p->fps_ratio_max = r;
			any = true;
		}
	}
}

void report_summarise(struct point_result *p)
{
	p->valid = true;
	for (int k = 0; k < RUN_KINDS; k++) {
		double fps[64], gbps[64], cpu[64], ticks = 0, frames = 0;
		unsigned n = 0;

		p->notify[k] = p->reordered[k] = 0;
		for (unsigned i = 0; i < p->n[k] && n < 64; i++, n++) {
			const struct run_result *r = &p->s[k][i].r;

			if (!r->ok || !r->elapsed_ns || !r->frames)
				p->valid = false;
			fps[n] = fps_of(r);
			gbps[n] = r->elapsed_ns ? (double)p->timed_payload * 8 /
				  (double)r->elapsed_ns : 0;
			cpu[n] = r->frames ? (double)r->cpu_ns /
				 (double)r->frames : 0;
			p->notify[k] += r->notify;
			p->reordered[k] += r->reordered;
			ticks += (double)r->cpu_ticks;
			frames += (double)r->frames;
		}
		p->cpu_stat_ns[k] = frames ? ticks * 1e9 / (double)proc_hz() /
					     frames : 0;
		p->ticks[k] = (unsigned long long)ticks;
		if (!n)
			p->valid = false;
		p->fps[k] = median(fps, n);
		p->gbps[k] = median(gbps, n);
		p->cpu_ns[k] = median(cpu, n);
	}
	if (!p->valid)
		return;
	p->fps_ratio = p->fps[RUN_OURS] / p->fps[RUN_QEMU];
	p->cpu_ratio = p->cpu_ns[RUN_OURS] / p->cpu_ns[RUN_QEMU];
	p->cpu_ratio_stat = p->cpu_stat_ns[RUN_QEMU] ?
		p->cpu_stat_ns[RUN_OURS] / p->cpu_stat_ns[RUN_QEMU] : 0;
	p->goal_fps = p->fps_ratio >= GOAL_FPS;
	p->goal_cpu = p->cpu_ratio <= GOAL_CPU;
	round_ratios(p);
}

/* ---- Markdown ------------------------------------------------------------ */

static const char *first_error(const struct point_result *p)
{
	for (int k = 0; k < RUN_KINDS; k++)
		for (unsigned i = 0; i < p->n[k]; i++)
			if (!p->s[k][i].r.ok)
				return p->s[k][i].r.error;
	return "no sample";
}

const char *point_name(const struct point_result *p, uint32_t default_window,
		       char *buf, size_t len)
{
	size_t n;

	gen_point_name(&p->pt, buf, len);
	n = strlen(buf);
	if (p->window != default_window && n < len)
		snprintf(buf + n, len - n, ", window %u", p->window);
	return buf;
}

static void table_head(FILE *fp)
{
	fprintf(fp, "| point | QEMU kframes/s | ours kframes/s | frames/s "
		"ours/QEMU (rounds) | QEMU Gbit/s | ours Gbit/s | QEMU us "
		"CPU/frame | ours us CPU/frame | CPU ours/QEMU | (from "
		"/proc/PID/stat ticks) | library alone kframes/s | goal | checkpoint "
		"requests QEMU / ours (all rounds) | frames reordered QEMU / "
		"ours (all rounds) |\n");
	fprintf(fp, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		"---|---:|---:|\n");
}

#define MIN_TICKS 20		/* fewer: too coarse to give a ratio */

static void table_row(const struct report *r, const struct point_result *p,
		      FILE *fp)
{
	char name[128], stat[32];

	point_name(p, r->env->window, name, sizeof(name));
	if (!p->valid) {
		fprintf(fp, "| %s | ERROR: %s ||||||||||||\n", name,
			first_error(p));
		return;
	}
	if (p->ticks[RUN_OURS] < MIN_TICKS)
		snprintf(stat, sizeof(stat), "n/a (%llu ticks)",
			 p->ticks[RUN_OURS]);
	else
		snprintf(stat, sizeof(stat), "%.3f", p->cpu_ratio_stat);
	fprintf(fp, "| %s | %.1f | %.1f | %.2fx (%.2f-%.2f) | %.3f | %.3f | "
		"%.2f | %.2f | %.3f | %s | %.0f | %s | %llu / %llu | %llu / "
		"%llu |\n",
		name, p->fps[RUN_QEMU] / 1e3, p->fps[RUN_OURS] / 1e3,
		p->fps_ratio, p->fps_ratio_min, p->fps_ratio_max,
		p->gbps[RUN_QEMU], p->gbps[RUN_OURS],
		p->cpu_ns[RUN_QEMU] / 1e3, p->cpu_ns[RUN_OURS] / 1e3,
		p->cpu_ratio, stat, p->fps[RUN_LIB] / 1e3,
		p->goal_fps && p->goal_cpu ? "met" :
		!p->goal_fps && !p->goal_cpu ? "MISSED (both)" :
		!p->goal_fps ? "MISSED (frames/s)" : "MISSED (CPU)",
		p->notify[RUN_QEMU], p->notify[RUN_OURS],
		p->reordered[RUN_QEMU], p->reordered[RUN_OURS]);
}

/* The points at the default window (SENS false) or the others. */
static void table(const struct report *r, bool sens, FILE *fp)
{
	unsigned met = 0, valid = 0, n = 0;

	for (unsigned i = 0; i < r->np; i++) {
		const struct point_result *p = &r->p[i];

		if ((p->window != r->env->window) != sens)
			continue;
		if (!n++)
			table_head(fp);
		table_row(r, p, fp);
		valid += p->valid;
		met += p->valid && p->goal_fps && p->goal_cpu;
	}
	if (n)
		fprintf(fp, "\nGoal met on %u of %u points%s (%u failed to "
			"measure).\n", met, n, sens ? " at other windows" :
			"", n - valid);
}

void report_markdown(const struct report *r, FILE *fp)
{
	fprintf(fp, "Baseline: QEMU's own colo-compare on the same frames, "
		"through the same kind of sockets, in the same run; medians of "
		"%u rounds of %u timed frames per point (unless the point "
		"says); %u primary frames in flight (window); ratios are ours / "
		"QEMU. CPU: the comparator process, all threads. Goal: frames/s "
		"ratio >= %.0f and CPU ratio <= %.2f.\n\n", r->rounds,
		r->frames, r->env->window, GOAL_FPS, GOAL_CPU);
	table(r, false, fp);
	for (unsigned i = 0; i < r->np; i++) {
		if (r->p[i].window == r->env->window)
			continue;
		fprintf(fp, "\nWindow sensitivity (the same, with other "
			"numbers of frames in flight):\n\n");
		table(r, true, fp);
		break;
	}
}

/* ---- JSON -------------------------------------------------------------- */

static json_t *read_text(const char *path)
{
	char buf[512];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (!fp)
		return json_null();
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return json_string(buf);
}

static json_t *cpu_model(void)
{
	char line[512];
	FILE *fp = fopen("/proc/cpuinfo", "r");
	json_t *v = json_null();

	while (fp && fgets(line, sizeof(line), fp)) {
		char *c = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !c)
			continue;
		c[strcspn(c, "\n")] = '\0';
		v = json_string(c + 2);
		break;
	}
	if (fp)
		fclose(fp);
	return v;
}

static json_t *machine(void)
{
	struct utsname u;
	char host[256] = "";

	uname(&u);
	gethostname(host, sizeof(host) - 1);
	return json_pack("{s:s, s:s, s:s, s:o, s:i, s:o, s:o}",
			 "hostname", host, "kernel", u.release,
			 "arch", u.machine, "cpu", cpu_model(),
			 "cpus_online", (int)sysconf(_SC_NPROCESSORS_ONLN),
			 "mem_total", json_integer((json_int_t)sysconf(
				 _SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE)),
			 "loadavg_end", read_text("/proc/loadavg"));
}

static json_t *argv_json(const struct report *r, enum run_kind kind)
{
	struct gen g = { .pt = r->p[0].pt };
	char *argv[40], buf[4096];
	json_t *a = json_array();

	run_argv(r->env, &g, kind, argv, buf, sizeof(buf));
	for (int i = 0; argv[i]; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

static json_t *parameters(const struct report *r)
{
	struct cmp_config c;

	cmp_config_defaults(&c);
	return json_pack(
		"{s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:{s:i, s:i, s:i, s:b}, "
		"s:{s:I, s:I, s:i, s:i}, s:s, s:f, s:f}",
		"rounds", (int)r->rounds, "frames", (int)r->frames,
		"window", (int)r->env->window, "batch", (int)r->env->batch,
		"stall_ms", (int)r->env->stall_ms,
		"qemu_argv", argv_json(r, RUN_QEMU),
		"ours_argv", argv_json(r, RUN_OURS),
		"colo_compare_defaults", "compare_timeout_ms", 3000,
		"expired_scan_cycle_ms", 1000, "max_queue_size", 1024,
		"vnet_hdr_support", r->p[0].pt.vnet,
		"cmp_config", "hold_timeout_ns", (json_int_t)c.hold_timeout_ns,
		"max_held_bytes", (json_int_t)c.max_held_bytes,
		"max_held_frames", (int)c.max_held_frames,
		"max_flows", (int)c.max_flows,
		"cpu_source", "sum of /proc/PID/task/*/schedstat field 1 (ns); "
		"/proc/PID/stat utime+stime in cpu_ticks",
		"goal_fps_ratio", GOAL_FPS, "goal_cpu_ratio", GOAL_CPU);
}

static json_t *sample_json(const struct sample *s)
{
	const struct run_result *r = &s->r;
	json_t *o = json_pack(
		"{s:i, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:i, s:I, s:I, "
		"s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"round", (int)s->round, "order", (int)s->order, "ok", r->ok,
		"elapsed_ns", (json_int_t)r->elapsed_ns,
		"frames", (json_int_t)r->frames,
		"cpu_ns", (json_int_t)r->cpu_ns,
		"cpu_ticks", (json_int_t)r->cpu_ticks,
		"driver_cpu_ns", (json_int_t)r->driver_cpu_ns,
		"threads", (int)r->threads,
		"in_frames", (json_int_t)r->in_frames,
		"out_frames", (json_int_t)r->out_frames,
		"secondary_frames", (json_int_t)r->sec_frames,
		"unknown", (json_int_t)r->bad, "duplicate", (json_int_t)r->dup,
		"altered", (json_int_t)r->altered,
		"reordered", (json_int_t)r->reordered,
		"checkpoint_requests", (json_int_t)r->notify,
		"startup_ns", (json_int_t)r->startup_ns);

	if (!r->ok)
		json_object_set_new(o, "error", json_string(r->error));
	if (r->counters[0])
		json_object_set_new(o, "counters",
				    json_loads(r->counters, 0, NULL));
	return o;
}

static json_t *point_json(const struct point_result *p, uint32_t defwin)
{
	json_t *o, *samples = json_object();
	char name[128];

	for (int k = 0; k < RUN_KINDS; k++) {
		json_t *a = json_array();

		for (unsigned i = 0; i < p->n[k]; i++)
			json_array_append_new(a, sample_json(&p->s[k][i]));
		json_object_set_new(samples, run_kind_names[k], a);
	}
	o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:i, s:i, s:I, s:I, s:I, "
		      "s:o}", "name", point_name(p, defwin, name, sizeof(name)),
		      "proto", p->pt.proto == GEN_TCP ? "tcp" : "udp",
		      "payload", (int)p->pt.payload, "conns", (int)p->pt.conns,
		      "segmentation", p->pt.diff ? "diff" : "same",
		      "window", (int)p->window, "timed_frames",
		      (int)p->pt.frames, "primary_frames", (json_int_t)p->prim_frames,
		      "secondary_frames", (json_int_t)p->sec_frames,
		      "timed_payload_bytes", (json_int_t)p->timed_payload,
		      "samples", samples);
	if (!p->valid)
		return o;
	json_object_set_new(o, "summary", json_pack(
		"{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
		"s:f, s:f, s:f, s:f, s:f, s:b, s:b}",
		"qemu_fps", p->fps[RUN_QEMU], "ours_fps", p->fps[RUN_OURS],
		"lib_fps", p->fps[RUN_LIB], "qemu_gbps", p->gbps[RUN_QEMU],
		"ours_gbps", p->gbps[RUN_OURS], "lib_gbps", p->gbps[RUN_LIB],
		"qemu_cpu_ns_per_frame", p->cpu_ns[RUN_QEMU],
		"ours_cpu_ns_per_frame", p->cpu_ns[RUN_OURS],
		"lib_cpu_ns_per_frame", p->cpu_ns[RUN_LIB],
		"fps_ratio", p->fps_ratio, "fps_ratio_round_min",
		p->fps_ratio_min, "fps_ratio_round_max", p->fps_ratio_max,
		"cpu_ratio", p->cpu_ratio, "cpu_ratio_stat", p->cpu_ratio_stat,
		"qemu_cpu_stat_ns_per_frame", p->cpu_stat_ns[RUN_QEMU],
		"ours_cpu_stat_ns_per_frame", p->cpu_stat_ns[RUN_OURS],
		"goal_fps", p->goal_fps, "goal_cpu", p->goal_cpu));
	return o;
}

int report_json(const struct report *r, const char *path)
{
	json_t *root, *versions = json_object(), *points = json_array();
	unsigned met = 0, valid = 0, grid = 0, grid_met = 0;
	int ret;

	for (unsigned i = 0; i < r->nmeta; i++) {
		const char *eq = strchr(r->meta[i], '=');
		char key[64];

		if (!eq || eq - r->meta[i] >= (long)sizeof(key))
			continue;
		memcpy(key, r->meta[i], (size_t)(eq - r->meta[i]));
		key[eq - r->meta[i]] = '\0';
		json_object_set_new(versions, key, json_string(eq + 1));
	}
	json_object_set_new(versions, "cc", json_string(__VERSION__));
	for (unsigned i = 0; i < r->np; i++) {
		const struct point_result *p = &r->p[i];
		bool ok = p->valid && p->goal_fps && p->goal_cpu;

		json_array_append_new(points, point_json(p, r->env->window));
		valid += p->valid;
		met += ok;
		grid += p->window == r->env->window;
		grid_met += ok && p->window == r->env->window;
	}
	root = json_pack("{s:s, s:s, s:f, s:o, s:o, s:o, s:o, s:{s:i, s:i, "
			 "s:i, s:i, s:i}}", "bench", "compare-qemu", "started",
			 r->started, "seconds", r->seconds, "machine",
			 machine(), "versions", versions, "parameters",
			 parameters(r), "points", points, "summary", "points",
			 (int)r->np, "measured", (int)valid, "goal_met",
			 (int)met, "default_window_points", (int)grid,
			 "default_window_goal_met", (int)grid_met);
	if (!root)
		return errno = EINVAL, -1;
	ret = json_dump_file(root, path, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(root);
	return ret ? -1 : 0;
}
