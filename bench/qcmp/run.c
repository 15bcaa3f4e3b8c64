/*
 * run.c - one measured run: a comparator process fed through sockets, or
 * the library alone in this process (see run.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/qcmp/frame.h"
#include "bench/qcmp/proc.h"
#include "bench/qcmp/run.h"
#include "bench/qcmp/sock.h"
#include "compare/cmp.h"

#define RBUF (1u << 20)
#define ACCEPT_MS 15000
#define GRACE_MS 20
#define SEC_ID (1ull << 63)

const char *const run_kind_names[RUN_KINDS] = { "qemu", "ours", "lib" };

enum { S_PRI = 0, S_SEC, S_OUT, S_NTF, S_MAX };

static const char *const sock_names[S_MAX] = { "pri", "sec", "out", "ntf" };

struct feeder {
	const struct gen *g;
	const struct run_env *env;
	struct run_result *res;
	pid_t pid;
	int fd[S_MAX];
	size_t sent[2];		/* wire bytes written, per side */
	uint32_t wf[2];		/* first frame not wholly written, per side */
	uint32_t received;	/* primary frames out, checked */
	uint8_t *seen;		/* per primary frame */
	uint32_t *next;		/* per connection: highest index out + 1 */
	struct qf_reader out_rd, ntf_rd;
	uint8_t *rbuf;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(struct run_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct run_result *res, const char *fmt, ...)
{
	va_list ap;

	if (!res->ok && res->error[0])
		return;			/* keep the first reason */
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	res->ok = false;
}

static void sock_path(const struct run_env *env, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", env->dir, sock_names[i]);
}

/* ---- command lines ---------------------------------------------------- */

static char *add(char **argv, int *argc, char **p, char *end,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static char *add(char **argv, int *argc, char **p, char *end,
		 const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*p, (size_t)(end - *p), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= end - *p || *argc >= 39)
		return NULL;
	argv[(*argc)++] = *p;
	argv[*argc] = NULL;
	*p += n + 1;
	return argv[*argc - 1];
}

void run_argv(const struct run_env *env, const struct gen *g,
	      enum run_kind kind, char **argv, char *buf, size_t len)
{
	char *p = buf, *end = buf + len, path[S_MAX][256];
	int argc = 0;

	argv[0] = NULL;
	for (int i = 0; i < S_MAX; i++)
		sock_path(env, i, path[i], sizeof(path[i]));
	if (kind == RUN_OURS) {
		add(argv, &argc, &p, end, "%s", env->front);
		add(argv, &argc, &p, end, "--primary-in=unix:%s", path[S_PRI]);
		add(argv, &argc, &p, end, "--secondary-in=unix:%s",
		    path[S_SEC]);
		add(argv, &argc, &p, end, "--outdev=unix:%s", path[S_OUT]);
		add(argv, &argc, &p, end, "--notify-dev=unix:%s", path[S_NTF]);
		if (g->pt.vnet)
			add(argv, &argc, &p, end, "--vnet-hdr");
		return;
	}
	add(argv, &argc, &p, end, "%s", env->qemu);
	add(argv, &argc, &p, end, "-M");
	add(argv, &argc, &p, end, "none");
	add(argv, &argc, &p, end, "-nographic");
	add(argv, &argc, &p, end, "-nodefaults");
	for (int i = 0; i < S_MAX; i++) {
		add(argv, &argc, &p, end, "-chardev");
		add(argv, &argc, &p, end, "socket,id=%s,path=%s",
		    sock_names[i], path[i]);
	}
	add(argv, &argc, &p, end, "-object");
	add(argv, &argc, &p, end, "iothread,id=iot0");
	add(argv, &argc, &p, end, "-object");
	add(argv, &argc, &p, end, "colo-compare,id=cmp0,primary_in=pri,"
	    "secondary_in=sec,outdev=out,notify_dev=ntf,iothread=iot0,"
	    "vnet_hdr_support=%s", g->pt.vnet ? "on" : "off");
}

/* ---- checking what comes out -------------------------------------------- */

static void on_out(void *arg, const uint8_t *pkt, uint32_t len, uint32_t vlen)
{
	struct feeder *f = arg;
	struct run_result *res = f->res;
	const uint8_t *ref;
	uint32_t c, rl;
	long idx;

	if (vlen != f->g->vlen) {
		res->bad++;
		return;
	}
	idx = gen_identify(f->g, pkt + vlen, len - vlen, &c);
	if (idx < 0) {
		res->bad++;
		return;
	}
	if (f->seen[idx]) {
		res->dup++;
		return;
	}
	f->seen[idx] = 1;
	ref = gen_frame(f->g, 0, (uint32_t)idx, &rl);
	if (rl != len - vlen || memcmp(ref, pkt + vlen, rl))
		res->altered++;
	if ((uint32_t)idx + 1 < f->next[c])
		res->reordered++;
	else
		f->next[c] = (uint32_t)idx + 1;
	f->received++;
}

static void on_ntf(void *arg, const uint8_t *pkt, uint32_t len, uint32_t vlen)
{
	struct feeder *f = arg;

	(void)pkt;
	(void)len;
	(void)vlen;
	f->res->notify++;
}

/* Read what is there on outdev and notify_dev: true if anything was. */
static bool drain_out(struct feeder *f)
{
	bool any = false;

	for (int i = S_OUT; i <= S_NTF; i++) {
		ssize_t n = read(f->fd[i], f->rbuf, RBUF);

		if (n > 0) {
			any = true;
			qf_feed(i == S_OUT ? &f->out_rd : &f->ntf_rd, f->rbuf,
				(size_t)n, i == S_OUT ? on_out : on_ntf, f);
		} else if (n == 0) {
			fail(f->res, "%s: the comparator closed it",
			     sock_names[i]);
		}
	}
	return any;
}

/* ---- feeding -------------------------------------------------------------- */

/* Write SIDE's frames up to frame LIMIT, BATCH frames at most: progress? */
static bool feed_side(struct feeder *f, int side, uint32_t limit)
{
	const struct gen_side *s = &f->g->side[side];
	uint32_t upto = f->wf[side] + f->env->batch;
	size_t end;
	ssize_t w;

	if (upto > limit)
		upto = limit;
	end = s->off[upto];
	if (f->sent[side] >= end)
		return false;
	w = write(f->fd[side], s->wire + f->sent[side], end - f->sent[side]);
	if (w <= 0) {
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			fail(f->res, "%s: %s", sock_names[side],
			     strerror(errno));
		return false;
	}
	f->sent[side] += (size_t)w;
	while (f->wf[side] < s->n && s->off[f->wf[side] + 1] <= f->sent[side])
		f->wf[side]++;
	return true;
}

static void wait_io(struct feeder *f, uint32_t plim, uint32_t slim)
{
	struct pollfd p[S_MAX];
	const struct gen *g = f->g;

	for (int i = 0; i < S_MAX; i++) {
		p[i].fd = f->fd[i];
		p[i].events = i >= S_OUT ? POLLIN : 0;
		p[i].revents = 0;
	}
	if (f->sent[0] < g->side[0].off[plim])
		p[S_PRI].events = POLLOUT;
	if (f->sent[1] < g->side[1].off[slim])
		p[S_SEC].events = POLLOUT;
	poll(p, S_MAX, 100);
}

/* Feed until primary frame TO is out (all before it too). */
static bool phase(struct feeder *f, uint32_t to)
{
	const struct gen *g = f->g;
	uint64_t last = mono_ns();
	uint32_t seen = f->received;

	while (f->received < to && f->res->ok) {
		uint32_t plim = f->received + f->env->window;
		bool progress;

		if (plim > to)
			plim = to;
		progress = feed_side(f, 0, plim);
		progress |= feed_side(f, 1, g->sec_upto[plim]);
		progress |= drain_out(f);
		if (f->res->bad || f->res->dup || f->res->altered)
			fail(f->res, "outdev: %llu unknown, %llu duplicate, "
			     "%llu altered frames", (unsigned long long)
			     f->res->bad, (unsigned long long)f->res->dup,
			     (unsigned long long)f->res->altered);
		if (f->received != seen) {
			seen = f->received;
			last = mono_ns();
		} else if (mono_ns() - last > f->env->stall_ms * 1000000ull) {
			fail(f->res, "stalled: %u of %u primary frames out, "
			     "none for %u ms", f->received, to,
			     f->env->stall_ms);
		} else if (!proc_alive(f->pid)) {
			fail(f->res, "the comparator exited");
		}
		if (!progress)
			wait_io(f, plim, g->sec_upto[plim]);
	}
	return f->res->ok;
}

/* ---- process ---------------------------------------------------------------- */

static int listen_all(const struct run_env *env, int *lfd)
{
	char spec[300], err[256], path[256];
	struct ep ep;

	for (int i = 0; i < S_MAX; i++) {
		sock_path(env, i, path, sizeof(path));
		snprintf(spec, sizeof(spec), "unix:%s", path);
		if (ep_parse(spec, &ep, err, sizeof(err)) ||
		    (lfd[i] = ep_listen(&ep)) < 0)
			return -1;
	}
	return 0;
}

static bool accept_all(struct feeder *f, const int *lfd)
{
	uint64_t t0 = mono_ns();
	int got = 0;

	while (got < S_MAX) {
		struct pollfd p[S_MAX];

		for (int i = 0; i < S_MAX; i++)
			p[i] = (struct pollfd){ f->fd[i] < 0 ? lfd[i] : -1,
						POLLIN, 0 };
		poll(p, S_MAX, 50);
		for (int i = 0; i < S_MAX; i++) {
			if (f->fd[i] >= 0 || !(p[i].revents & POLLIN))
				continue;
			f->fd[i] = ep_accept(lfd[i]);
			got += f->fd[i] >= 0;
		}
		if (!proc_alive(f->pid)) {
			fail(f->res, "the comparator exited at start");
			return false;
		}
		if (mono_ns() - t0 > ACCEPT_MS * 1000000ull) {
			fail(f->res, "the comparator did not connect");
			return false;
		}
	}
	f->res->startup_ns = mono_ns() - t0;
	return true;
}

static void grace(struct feeder *f)
{
	uint64_t t0 = mono_ns();

	while (mono_ns() - t0 < GRACE_MS * 1000000ull) {
		if (!drain_out(f))
			poll(NULL, 0, 2);
	}
	if (f->res->bad || f->res->dup)
		fail(f->res, "outdev: %llu unknown or duplicate frames at the "
		     "end", (unsigned long long)(f->res->bad + f->res->dup));
}

/* The three phases; the middle one measured. */
static void feed_all(struct feeder *f)
{
	const struct gen *g = f->g;
	struct cpu_sample c0, c1;
	uint64_t t0, d0;

	if (!phase(f, g->warm))
		return;
	if (proc_cpu(f->pid, &c0)) {
		fail(f->res, "cannot read /proc/%d", (int)f->pid);
		return;
	}
	d0 = self_cpu_ns();
	t0 = mono_ns();
	if (!phase(f, g->data))
		return;
	f->res->elapsed_ns = mono_ns() - t0;
	f->res->driver_cpu_ns = self_cpu_ns() - d0;
	if (proc_cpu(f->pid, &c1)) {
		fail(f->res, "cannot read /proc/%d", (int)f->pid);
		return;
	}
	f->res->cpu_ns = c1.sched_ns - c0.sched_ns;
	f->res->cpu_ticks = c1.ticks - c0.ticks;
	f->res->threads = c1.threads;
	f->res->frames = g->data - g->warm;
	if (phase(f, g->side[0].n))
		grace(f);
}

static void read_counters(const char *path, struct run_result *res)
{
	FILE *fp = fopen(path, "r");
	size_t n = 0;

	if (fp) {
		n = fread(res->counters, 1, sizeof(res->counters) - 1, fp);
		fclose(fp);
	}
	res->counters[n] = '\0';
	while (n && (res->counters[n - 1] == '\n'))
		res->counters[--n] = '\0';
}

static void spawn_and_feed(struct feeder *f, enum run_kind kind,
			   const int *lfd)
{
	char *argv[40], buf[4096], out[300], err[300];

	snprintf(out, sizeof(out), "%s/%s.out", f->env->dir,
		 run_kind_names[kind]);
	snprintf(err, sizeof(err), "%s/%s.log", f->env->dir,
		 run_kind_names[kind]);
	run_argv(f->env, f->g, kind, argv, buf, sizeof(buf));
	f->pid = proc_spawn(argv, out, err);
	if (f->pid < 0) {
		fail(f->res, "cannot start %s: %s", argv[0],
		     strerror((int)-f->pid));
		return;
	}
	if (accept_all(f, lfd))
		feed_all(f);
	if (!proc_stop(f->pid, 3000, NULL) && kind == RUN_OURS)
		fail(f->res, "cmp_front did not exit cleanly (see %s)", err);
	if (kind == RUN_OURS)
		read_counters(out, f->res);
	if (!f->res->ok)
		fprintf(stderr, "cmp_vs_qemu: %s run failed: %s (log: %s)\n",
			run_kind_names[kind], f->res->error, err);
}

static void run_proc(const struct run_env *env, const struct gen *g,
		     enum run_kind kind, struct run_result *res)
{
	struct feeder f = { .g = g, .env = env, .res = res };
	int lfd[S_MAX];

	for (int i = 0; i < S_MAX; i++)
		f.fd[i] = lfd[i] = -1;
	f.seen = calloc(g->side[0].n, 1);
	f.next = calloc(g->pt.conns, sizeof(*f.next));
	f.rbuf = malloc(RBUF);
	if (!f.seen || !f.next || !f.rbuf ||
	    qf_reader_init(&f.out_rd, g->pt.vnet, 0) ||
	    qf_reader_init(&f.ntf_rd, false, 0))
		fail(res, "out of memory");
	else if (listen_all(env, lfd))
		fail(res, "cannot listen in %s: %s", env->dir, strerror(errno));
	else
		spawn_and_feed(&f, kind, lfd);
	res->out_frames = f.received;
	for (int i = 0; i < S_MAX; i++) {
		char path[256];

		if (f.fd[i] >= 0)
			close(f.fd[i]);
		if (lfd[i] >= 0)
			close(lfd[i]);
		sock_path(env, i, path, sizeof(path));
		unlink(path);
	}
	qf_reader_free(&f.out_rd);
	qf_reader_free(&f.ntf_rd);
	free(f.seen);
	free(f.next);
	free(f.rbuf);
}

/* ---- the library alone ------------------------------------------------------- */

/* Feed primary frames [from, to) and their secondary frames, in lockstep;
 * count releases. */
static void lib_feed(struct cmp *c, const struct gen *g, uint32_t from,
		     uint32_t to, uint8_t *seen, struct run_result *res)
{
	struct cmp_action a;
	uint64_t now = mono_ns();

	for (uint32_t k = from; k < to; k++) {
		const uint8_t *fr;
		uint32_t len;

		if (!(k & 63))
			now = mono_ns();
		fr = gen_frame(g, 0, k, &len);
		cmp_input(c, CMP_PRIMARY, k, 0, CMP_LINK_ETH, fr, len, 0, now);
		for (uint32_t s = g->sec_upto[k]; s < g->sec_upto[k + 1]; s++) {
			fr = gen_frame(g, 1, s, &len);
			cmp_input(c, CMP_SECONDARY, SEC_ID | s, 0, CMP_LINK_ETH,
				  fr, len, 0, now);
		}
		while (cmp_next_action(c, &a)) {
			if (a.type != CMP_ACT_RELEASE)
				continue;
			if (a.id >= g->side[0].n || seen[a.id]++)
				res->dup++;
			else
				res->out_frames++;
		}
	}
	if (res->out_frames != to)
		fail(res, "library: %llu of %u primary frames released",
		     (unsigned long long)res->out_frames, to);
}

static void run_lib(const struct gen *g, struct run_result *res)
{
	struct cmp_config cfg;
	struct cmp *c;
	struct timespec ts;
	uint8_t *seen = calloc(g->side[0].n, 1);
	uint64_t t0, c0;

	cmp_config_defaults(&cfg);
	if (!seen || cmp_new(&cfg, &c)) {
		free(seen);
		fail(res, "out of memory");
		return;
	}
	lib_feed(c, g, 0, g->warm, seen, res);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	c0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	t0 = mono_ns();
	if (res->ok)
		lib_feed(c, g, g->warm, g->data, seen, res);
	res->elapsed_ns = mono_ns() - t0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	res->cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull +
		      (uint64_t)ts.tv_nsec - c0;
	res->frames = g->data - g->warm;
	res->threads = 1;
	if (res->ok)
		lib_feed(c, g, g->data, g->side[0].n, seen, res);
	cmp_free(c);
	free(seen);
}

void run_one(const struct run_env *env, const struct gen *g,
	     enum run_kind kind, struct run_result *res)
{
	memset(res, 0, sizeof(*res));
	res->ok = true;
	res->in_frames = g->side[0].n;
	res->sec_frames = g->side[1].n;
	if (kind == RUN_LIB)
		run_lib(g, res);
	else
		run_proc(env, g, kind, res);
	if (res->ok && res->out_frames != res->in_frames)
		fail(res, "%llu primary frames in, %llu out",
		     (unsigned long long)res->in_frames,
		     (unsigned long long)res->out_frames);
}
