/*
 * Criterion suite for common/loop, on real descriptors: pipes, eventfds,
 * CLOCK_MONOTONIC timers and signals raised at ourselves through signalfd.
 * Timers are checked by order and by fired / not fired, never by how long
 * anything took; a "not fired" timer is due minutes after the test ends.
 * Criterion runs each test in its own process, so blocking signals is safe.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/loop.h"

#define NEVER_MS (10 * 60 * 1000)
#define MAX_LOG 512

/* What the callbacks saw, in order. */
struct log {
	int n;
	int what[MAX_LOG];
};

static void log_push(struct log *lg, int what)
{
	cr_assert_lt(lg->n, MAX_LOG);
	lg->what[lg->n++] = what;
}

static struct loop *new_loop(void)
{
	struct loop *l = NULL;

	cr_assert_eq(loop_new(&l), 0);
	cr_assert_not_null(l);
	return l;
}

static void stop_cb(struct loop *l, uint64_t id, void *arg)
{
	(void)id;
	if (arg)
		log_push(arg, -1);
	loop_stop(l);
}

/* Each timer logs its tag: arg points at a struct tagged. */
struct tagged {
	struct log *lg;
	int tag;
};

static void tag_cb(struct loop *l, uint64_t id, void *arg)
{
	struct tagged *t = arg;

	(void)l;
	(void)id;
	log_push(t->lg, t->tag);
}

/* A hung test must fail rather than hang the run: SIGALRM's default action
 * kills the test's process and Criterion reports a crash. (Criterion's own
 * .timeout intermittently leaks in its runner under LeakSanitizer.) */
static void watchdog(void)
{
	alarm(30);
}

TestSuite(loop_timer, .init = watchdog);
TestSuite(loop_fd, .init = watchdog);
TestSuite(loop_sched, .init = watchdog);
TestSuite(loop_signal, .init = watchdog);

/* ---- timers --------------------------------------------------------------- */

Test(loop_timer, fire_in_deadline_order)
{
	struct loop *l = new_loop();
	struct log lg = { 0 };
	struct tagged t[3] = { { &lg, 30 }, { &lg, 10 }, { &lg, 20 } };
	uint64_t start = loop_now_ms();

	for (int i = 0; i < 3; i++)
		cr_assert_eq(loop_add_timer(l, (uint64_t)t[i].tag, 0, tag_cb, &t[i], NULL), 0);
	cr_assert_eq(loop_add_timer(l, 40, 0, stop_cb, NULL, NULL), 0);
	/* deadlines are creation time + delay: meaningless if creating took 10ms */
	if (loop_now_ms() - start >= 10)
		cr_skip_test("descheduled while creating the timers");
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(lg.n, 3);
	cr_assert_eq(lg.what[0], 10);
	cr_assert_eq(lg.what[1], 20);
	cr_assert_eq(lg.what[2], 30);
	loop_free(l);
}

Test(loop_timer, equal_deadlines_fire_in_creation_order)
{
	struct loop *l = new_loop();
	struct log lg = { 0 };
	struct tagged t[20];

	for (int i = 0; i < 20; i++) {
		t[i] = (struct tagged){ &lg, i };
		cr_assert_eq(loop_add_timer(l, 0, 0, tag_cb, &t[i], NULL), 0);
	}
	cr_assert_eq(loop_add_timer(l, 1, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(lg.n, 20);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(lg.what[i], i);
	loop_free(l);
}

/* Create N timers with random delays and cancel a random half, in random
 * order. Retried until creation fits in one clock millisecond: then every
 * deadline is exactly start + delay and the firing order is known. */
enum { HEAP_N = 300 };

struct heap_case {
	struct loop *l;
	struct log lg;
	struct tagged t[HEAP_N];
	unsigned delay[HEAP_N];
	bool cancelled[HEAP_N];
};

static bool heap_case_build(struct heap_case *hc)
{
	uint64_t id[HEAP_N], start;

	memset(hc, 0, sizeof(*hc));
	hc->l = new_loop();
	start = loop_now_ms();
	for (int i = 0; i < HEAP_N; i++) {
		hc->t[i] = (struct tagged){ &hc->lg, i };
		hc->delay[i] = (unsigned)(rand() % 40);
		cr_assert_eq(loop_add_timer(hc->l, hc->delay[i], 0, tag_cb, &hc->t[i], &id[i]), 0);
	}
	for (int k = 0; k < HEAP_N / 2; k++) {
		int i = rand() % HEAP_N;

		cr_assert_eq(loop_del_timer(hc->l, id[i]), hc->cancelled[i] ? -ENOENT : 0);
		hc->cancelled[i] = true;
	}
	cr_assert_eq(loop_add_timer(hc->l, 50, 0, stop_cb, NULL, NULL), 0);
	if (loop_now_ms() == start)
		return true;
	loop_free(hc->l);
	return false;
}

Test(loop_timer, heap_order_with_random_cancels)
{
	static struct heap_case hc;
	int tries = 0, want = 0;

	srand(7);
	while (!heap_case_build(&hc))
		if (++tries == 20)
			cr_skip_test("clock ticked during every attempt");
	cr_assert_eq(loop_run(hc.l), 0);
	/* expected: by delay, then by creation */
	for (unsigned d = 0; d < 40; d++) {
		for (int i = 0; i < HEAP_N; i++) {
			if (hc.cancelled[i] || hc.delay[i] != d)
				continue;
			cr_assert_lt(want, hc.lg.n, "timer %d never fired", i);
			cr_assert_eq(hc.lg.what[want], i, "position %d: timer %d (%u ms), "
				     "expected %d (%u ms)", want, hc.lg.what[want],
				     hc.delay[hc.lg.what[want]], i, d);
			want++;
		}
	}
	cr_assert_eq(hc.lg.n, want, "cancelled timers fired");
	loop_free(hc.l);
}

Test(loop_timer, cancelled_timer_does_not_fire)
{
	struct loop *l = new_loop();
	struct log lg = { 0 };
	struct tagged t = { &lg, 1 };
	uint64_t id = 0;

	cr_assert_eq(loop_add_timer(l, 0, 0, tag_cb, &t, &id), 0);
	cr_assert_gt(id, 0);
	cr_assert_eq(loop_del_timer(l, id), 0);
	cr_assert_eq(loop_add_timer(l, 5, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(lg.n, 0);
	cr_assert_eq(loop_del_timer(l, id), -ENOENT);
	loop_free(l);
}

struct canceller {
	struct loop *l;
	uint64_t victim;
	int ret;
};

static void cancel_cb(struct loop *l, uint64_t id, void *arg)
{
	struct canceller *c = arg;

	(void)id;
	c->ret = loop_del_timer(l, c->victim);
}

/* Even when both are due in the same pass, the victim is gone by the
 * time its turn comes. */
Test(loop_timer, cancel_from_another_timer)
{
	struct loop *l = new_loop();
	struct log lg = { 0 };
	struct tagged t = { &lg, 1 };
	struct canceller c = { .ret = 1 };

	/* created first with the shorter delay: it always runs first */
	cr_assert_eq(loop_add_timer(l, 2, 0, cancel_cb, &c, NULL), 0);
	cr_assert_eq(loop_add_timer(l, 10, 0, tag_cb, &t, &c.victim), 0);
	cr_assert_eq(loop_add_timer(l, 20, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(lg.n, 0, "cancelled timer fired");
	loop_free(l);
}

struct periodic {
	int count;
	int del_ret;
};

static void periodic_cb(struct loop *l, uint64_t id, void *arg)
{
	struct periodic *p = arg;

	if (++p->count == 3) {
		p->del_ret = loop_del_timer(l, id);
		cr_assert_eq(loop_add_timer(l, 20, 0, stop_cb, NULL, NULL), 0);
	}
}

Test(loop_timer, periodic_repeats_until_cancelled_by_itself)
{
	struct loop *l = new_loop();
	struct periodic p = { 0, 1 };

	cr_assert_eq(loop_add_timer(l, 0, 1, periodic_cb, &p, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(p.del_ret, 0);
	cr_assert_eq(p.count, 3, "fired %d times", p.count);
	loop_free(l);
}

static void oneshot_self_del_cb(struct loop *l, uint64_t id, void *arg)
{
	*(int *)arg = loop_del_timer(l, id);
	loop_stop(l);
}

Test(loop_timer, oneshot_is_gone_inside_its_callback)
{
	struct loop *l = new_loop();
	int ret = 1;

	cr_assert_eq(loop_add_timer(l, 0, 0, oneshot_self_del_cb, &ret, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(ret, -ENOENT);
	loop_free(l);
}

Test(loop_timer, far_deadline_does_not_fire_and_saturates)
{
	struct loop *l = new_loop();
	struct log lg = { 0 };
	struct tagged a = { &lg, 1 }, b = { &lg, 2 };
	uint64_t id;

	cr_assert_eq(loop_add_timer(l, NEVER_MS, 0, tag_cb, &a, NULL), 0);
	cr_assert_eq(loop_add_timer(l, UINT64_MAX, 0, tag_cb, &b, &id), 0);
	cr_assert_eq(loop_add_timer(l, 1, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(lg.n, 0);
	cr_assert_eq(loop_del_timer(l, id), 0);
	loop_free(l);
}

Test(loop_timer, null_callback_is_einval)
{
	struct loop *l = new_loop();

	cr_assert_eq(loop_add_timer(l, 0, 0, NULL, NULL, NULL), -EINVAL);
	loop_free(l);
}

/* ---- descriptors ---------------------------------------------------------- */

struct pipe_reader {
	int calls;
	unsigned events;
	char got[16];
	ssize_t n;
};

static void pipe_read_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	struct pipe_reader *r = arg;

	r->calls++;
	r->events = events;
	r->n = read(fd, r->got, sizeof(r->got));
	loop_stop(l);
}

static void write_pipe_cb(struct loop *l, uint64_t id, void *arg)
{
	(void)l;
	(void)id;
	cr_assert_eq(write(*(int *)arg, "ping", 4), 4);
}

Test(loop_fd, pipe_becomes_readable)
{
	struct loop *l = new_loop();
	struct pipe_reader r = { 0 };
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(loop_add_fd(l, p[0], LOOP_READ, pipe_read_cb, NULL, &r), 0);
	cr_assert_eq(loop_add_timer(l, 1, 0, write_pipe_cb, &p[1], NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.events, LOOP_READ);
	cr_assert_eq(r.n, 4);
	cr_assert_arr_eq(r.got, "ping", 4);
	cr_assert_eq(loop_del_fd(l, p[0]), 0);
	cr_assert_eq(loop_del_fd(l, p[0]), -ENOENT);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

Test(loop_fd, hangup_is_reported_to_the_reader)
{
	struct loop *l = new_loop();
	struct pipe_reader r = { 0 };
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(loop_add_fd(l, p[0], LOOP_READ, pipe_read_cb, NULL, &r), 0);
	close(p[1]);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert(r.events & LOOP_READ);
	cr_assert(r.events & LOOP_ERROR);
	cr_assert_eq(r.n, 0, "EOF expected");
	loop_free(l);
	close(p[0]);
}

static void eventfd_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	uint64_t v = 0;

	(void)events;
	cr_assert_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	*(uint64_t *)arg += v;
	loop_stop(l);
}

Test(loop_fd, eventfd_counter)
{
	struct loop *l = new_loop();
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t one = 1, total = 0;

	cr_assert_geq(efd, 0);
	cr_assert_eq(loop_add_fd(l, efd, LOOP_READ, eventfd_cb, NULL, &total), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(write(efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(total, 3);
	loop_free(l);
	close(efd);
}

struct writer {
	int calls;
	int fd;
};

/* Writable at once; switches itself off after the third call. */
static void writable_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	struct writer *w = arg;

	cr_assert_eq(events, LOOP_WRITE);
	if (++w->calls % 3 == 0)
		cr_assert_eq(loop_mod_fd(l, fd, 0), 0);
}

Test(loop_fd, write_interest_can_be_switched_off)
{
	struct loop *l = new_loop();
	struct writer w = { 0 };
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	cr_assert_eq(loop_add_fd(l, efd, LOOP_WRITE, NULL, writable_cb, &w), 0);
	cr_assert_eq(loop_add_timer(l, 20, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(w.calls, 3, "called %d times", w.calls);
	/* disabled but registered: adding again is refused, modifying works */
	cr_assert_eq(loop_add_fd(l, efd, LOOP_READ, NULL, NULL, NULL), -EEXIST);
	cr_assert_eq(loop_mod_fd(l, efd, LOOP_WRITE), 0);
	cr_assert_eq(loop_add_timer(l, 20, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(w.calls, 6, "called %d times after re-enabling", w.calls);
	loop_free(l);
	close(efd);
}

struct both {
	int calls;
	unsigned events;
};

static void both_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	struct both *b = arg;

	(void)fd;
	b->calls++;
	b->events = events;
	loop_stop(l);
}

Test(loop_fd, one_callback_for_both_is_called_once)
{
	struct loop *l = new_loop();
	struct both b = { 0 };
	int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);

	cr_assert_eq(loop_add_fd(l, efd, LOOP_READ | LOOP_WRITE, both_cb, both_cb, &b), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(b.calls, 1);
	cr_assert_eq(b.events, LOOP_READ | LOOP_WRITE);
	loop_free(l);
	close(efd);
}

struct pair {
	int calls;
	int ends[2]; /* read ends of both pipes */
};

/* Whichever of the two ready pipes is dispatched first removes the other:
 * its already-collected event must not be delivered. */
static void remove_other_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	struct pair *pr = arg;

	(void)events;
	pr->calls++;
	cr_assert_eq(loop_del_fd(l, fd == pr->ends[0] ? pr->ends[1] : pr->ends[0]), 0);
	cr_assert_eq(loop_del_fd(l, fd), 0);
	loop_stop(l);
}

Test(loop_fd, removed_fd_gets_no_pending_event)
{
	struct loop *l = new_loop();
	struct pair pr = { 0 };
	int a[2], b[2];

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	pr.ends[0] = a[0];
	pr.ends[1] = b[0];
	cr_assert_eq(write(a[1], "x", 1), 1);
	cr_assert_eq(write(b[1], "y", 1), 1);
	cr_assert_eq(loop_add_fd(l, a[0], LOOP_READ, remove_other_cb, NULL, &pr), 0);
	cr_assert_eq(loop_add_fd(l, b[0], LOOP_READ, remove_other_cb, NULL, &pr), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(pr.calls, 1);
	loop_free(l);
}

Test(loop_fd, registration_errors)
{
	struct loop *l = new_loop();
	int p[2], closed;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(loop_add_fd(l, -1, LOOP_READ, NULL, NULL, NULL), -EBADF);
	cr_assert_eq(loop_add_fd(l, p[0], 1U << 7, NULL, NULL, NULL), -EINVAL);
	cr_assert_eq(loop_mod_fd(l, p[0], LOOP_READ), -ENOENT);
	cr_assert_eq(loop_del_fd(l, p[0]), -ENOENT);
	closed = dup(p[0]);
	close(closed);
	cr_assert_eq(loop_add_fd(l, closed, LOOP_READ, NULL, NULL, NULL), -EBADF);
	cr_assert_eq(loop_mod_fd(l, closed, LOOP_READ), -ENOENT, "failed add left a trace");
	cr_assert_eq(loop_add_fd(l, p[0], LOOP_READ, NULL, NULL, NULL), 0);
	cr_assert_eq(loop_add_fd(l, p[0], LOOP_READ, NULL, NULL, NULL), -EEXIST);
	cr_assert_eq(loop_mod_fd(l, p[0], 1U << 7), -EINVAL);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

Test(loop_fd, high_descriptor_numbers_grow_the_table)
{
	struct loop *l = new_loop();
	struct pipe_reader r = { 0 };
	int p[2], hi;

	cr_assert_eq(pipe(p), 0);
	hi = dup2(p[0], 900);
	cr_assert_eq(hi, 900);
	cr_assert_eq(loop_add_fd(l, hi, LOOP_READ, pipe_read_cb, NULL, &r), 0);
	cr_assert_eq(write(p[1], "hi", 2), 2);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.n, 2);
	loop_free(l);
}

struct grower {
	int reads, writes;
	int high;
};

static void grow_read_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	struct grower *g = arg;

	(void)fd;
	(void)events;
	g->reads++;
	/* a descriptor far beyond the table: it is reallocated under us */
	cr_assert_eq(loop_add_fd(l, g->high, 0, NULL, NULL, NULL), 0);
}

static void grow_write_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)fd;
	(void)events;
	((struct grower *)arg)->writes++;
	loop_stop(l);
}

Test(loop_fd, table_growth_inside_a_callback)
{
	struct loop *l = new_loop();
	struct grower g = { 0 };
	int efd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);

	g.high = dup2(efd, 1000);
	cr_assert_eq(g.high, 1000);
	cr_assert_eq(loop_add_fd(l, efd, LOOP_READ | LOOP_WRITE, grow_read_cb, grow_write_cb, &g),
		     0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(g.reads, 1);
	cr_assert_eq(g.writes, 1, "the write callback was lost after the table moved");
	loop_free(l);
	close(efd);
	close(g.high);
}

/* ---- scheduling ----------------------------------------------------------- */

struct rearm {
	int spins;
	int iterations;      /* before-sleep hook calls */
	int last_iteration;  /* at the previous fire */
	bool same_pass;
};

static void rearm_cb(struct loop *l, uint64_t id, void *arg)
{
	struct rearm *r = arg;

	(void)id;
	if (r->spins++ > 0 && r->iterations == r->last_iteration)
		r->same_pass = true;
	r->last_iteration = r->iterations;
	cr_assert_eq(loop_add_timer(l, 0, 0, rearm_cb, arg, NULL), 0);
}

static void count_hook(struct loop *l, void *arg)
{
	(void)l;
	((struct rearm *)arg)->iterations++;
}

/* A timer that re-adds itself with no delay runs once per iteration, never
 * twice in one pass, so the readable pipe is still served. */
Test(loop_sched, zero_delay_timer_does_not_starve_fds)
{
	struct loop *l = new_loop();
	struct pipe_reader r = { 0 };
	struct rearm re = { 0 };
	int p[2];

	cr_assert_eq(pipe(p), 0);
	loop_set_before_sleep(l, count_hook, &re);
	cr_assert_eq(loop_add_timer(l, 0, 0, rearm_cb, &re, NULL), 0);
	cr_assert_eq(loop_add_timer(l, 5, 0, write_pipe_cb, &p[1], NULL), 0);
	cr_assert_eq(loop_add_fd(l, p[0], LOOP_READ, pipe_read_cb, NULL, &r), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_gt(re.spins, 1);
	cr_assert_not(re.same_pass, "a timer created in a pass fired in that pass");
	loop_free(l);
}

static void count_only_hook(struct loop *l, void *arg)
{
	(void)l;
	++*(int *)arg;
}

static void never_cb(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)fd;
	(void)events;
	(void)arg;
	cr_assert_fail("callback of a disabled fd was called");
}

/* A disabled fd that is writable (eventfd) or hung up (pipe) must not wake
 * the loop: during one quiet 20 ms timer the loop iterates a handful of
 * times, not thousands. */
Test(loop_sched, disabled_fd_does_not_wake_the_loop)
{
	struct loop *l = new_loop();
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), p[2], iterations = 0;

	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	cr_assert_eq(loop_add_fd(l, efd, LOOP_WRITE, NULL, never_cb, NULL), 0);
	cr_assert_eq(loop_mod_fd(l, efd, 0), 0);
	cr_assert_eq(loop_add_fd(l, p[0], 0, never_cb, never_cb, NULL), 0);
	loop_set_before_sleep(l, count_only_hook, &iterations);
	cr_assert_eq(loop_add_timer(l, 20, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_lt(iterations, 100, "%d iterations: the loop is spinning", iterations);
	loop_free(l);
	close(efd);
	close(p[0]);
}

struct hook_state {
	struct log lg;
	bool timer_fired;
};

static void mark_cb(struct loop *l, uint64_t id, void *arg)
{
	struct hook_state *h = arg;

	(void)l;
	(void)id;
	h->timer_fired = true;
	log_push(&h->lg, 1);
}

/* The hook runs before every wait: first with nothing done, then after
 * the timer's iteration, where it would flush what the timer queued. */
static void hook_cb(struct loop *l, void *arg)
{
	struct hook_state *h = arg;

	log_push(&h->lg, 0);
	if (h->timer_fired)
		loop_stop(l);
}

Test(loop_sched, before_sleep_runs_before_each_wait)
{
	struct loop *l = new_loop();
	struct hook_state h = { 0 };

	loop_set_before_sleep(l, hook_cb, &h);
	cr_assert_eq(loop_add_timer(l, 1, 0, mark_cb, &h, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_geq(h.lg.n, 3);
	cr_assert_eq(h.lg.what[0], 0, "hook first");
	cr_assert_eq(h.lg.what[h.lg.n - 2], 1, "then the timer");
	cr_assert_eq(h.lg.what[h.lg.n - 1], 0, "then the hook again");
	loop_free(l);
}

Test(loop_sched, two_loops_are_independent)
{
	struct loop *a = new_loop(), *b = new_loop();
	struct log la = { 0 }, lb = { 0 };
	struct tagged ta = { &la, 1 }, tb = { &lb, 2 };

	cr_assert_eq(loop_add_timer(a, 0, 0, tag_cb, &ta, NULL), 0);
	cr_assert_eq(loop_add_timer(b, 0, 0, tag_cb, &tb, NULL), 0);
	cr_assert_eq(loop_add_timer(a, 2, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_add_timer(b, NEVER_MS, 0, stop_cb, NULL, NULL), 0);
	cr_assert_eq(loop_run(a), 0);
	cr_assert_eq(la.n, 1);
	cr_assert_eq(lb.n, 0, "loop b ran without loop_run(b)");
	loop_free(a);
	loop_free(b);
}

/* ---- signals -------------------------------------------------------------- */

struct sigrec {
	struct log lg;
	int stop_after;
};

static void sig_cb(struct loop *l, int signo, void *arg)
{
	struct sigrec *s = arg;

	log_push(&s->lg, signo);
	if (s->lg.n == s->stop_after)
		loop_stop(l);
}

static bool is_blocked(int signo)
{
	sigset_t cur;

	cr_assert_eq(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
	return sigismember(&cur, signo);
}

Test(loop_signal, raised_before_run_is_delivered)
{
	struct loop *l = new_loop();
	struct sigrec s = { .stop_after = 1 };

	cr_assert_eq(loop_add_signal(l, SIGUSR1, sig_cb, &s), 0);
	cr_assert(is_blocked(SIGUSR1));
	cr_assert_eq(raise(SIGUSR1), 0); /* blocked: pending until the loop reads it */
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(s.lg.n, 1);
	cr_assert_eq(s.lg.what[0], SIGUSR1);
	loop_free(l);
	cr_assert_not(is_blocked(SIGUSR1), "loop_free must unblock what it blocked");
}

static void kill_self_cb(struct loop *l, uint64_t id, void *arg)
{
	(void)l;
	(void)id;
	cr_assert_eq(kill(getpid(), *(int *)arg), 0);
}

/* SIGUSR2 (sent by a timer) triggers SIGUSR1, which stops the loop:
 * causal, so the order cannot depend on how signalfd dequeues. */
static void chain_cb(struct loop *l, int signo, void *arg)
{
	struct sigrec *s = arg;

	log_push(&s->lg, signo);
	if (signo == SIGUSR2)
		cr_assert_eq(kill(getpid(), SIGUSR1), 0);
	else
		loop_stop(l);
}

Test(loop_signal, routed_by_number)
{
	struct loop *l = new_loop();
	struct sigrec usr = { 0 }, hup = { .stop_after = 1 };
	int usr2 = SIGUSR2;

	cr_assert_eq(loop_add_signal(l, SIGUSR1, chain_cb, &usr), 0);
	cr_assert_eq(loop_add_signal(l, SIGUSR2, chain_cb, &usr), 0);
	cr_assert_eq(loop_add_signal(l, SIGHUP, sig_cb, &hup), 0);
	cr_assert_eq(loop_add_timer(l, 1, 0, kill_self_cb, &usr2, NULL), 0);
	cr_assert_eq(loop_run(l), 0);
	cr_assert_eq(usr.lg.n, 2);
	cr_assert_eq(usr.lg.what[0], SIGUSR2);
	cr_assert_eq(usr.lg.what[1], SIGUSR1);
	cr_assert_eq(hup.lg.n, 0, "SIGHUP was never sent");
	loop_free(l);
}

Test(loop_signal, already_blocked_stays_blocked)
{
	struct loop *l = new_loop();
	struct sigrec s = { .stop_after = 1 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &set, NULL), 0);
	cr_assert_eq(loop_add_signal(l, SIGUSR2, sig_cb, &s), 0);
	loop_free(l);
	cr_assert(is_blocked(SIGUSR2));
}

Test(loop_signal, pending_signal_is_drained_by_free)
{
	struct loop *l = new_loop();
	struct sigrec s = { .stop_after = 1 };

	cr_assert_eq(loop_add_signal(l, SIGTERM, sig_cb, &s), 0);
	cr_assert_eq(raise(SIGTERM), 0);
	loop_free(l); /* would die of SIGTERM if it unblocked before draining */
	cr_assert_not(is_blocked(SIGTERM));
	cr_assert_eq(s.lg.n, 0);
}

Test(loop_signal, failure_leaves_the_signal_unblocked)
{
	struct loop *l = new_loop();
	struct sigrec s = { 0 };
	struct rlimit saved, none;
	int lowest = dup(0);

	/* no descriptor left: the signalfd cannot be created */
	cr_assert_geq(lowest, 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	none = saved;
	none.rlim_cur = (rlim_t)lowest;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
	cr_assert_eq(loop_add_signal(l, SIGUSR1, sig_cb, &s), -EMFILE);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	cr_assert_not(is_blocked(SIGUSR1), "blocked although registration failed");
	cr_assert_eq(loop_add_signal(l, SIGUSR1, sig_cb, &s), 0, "a failure must leave no trace");
	loop_free(l);
}

Test(loop_signal, registration_errors)
{
	struct loop *l = new_loop();
	struct sigrec s = { 0 };

	cr_assert_eq(loop_add_signal(l, SIGKILL, sig_cb, &s), -EINVAL);
	cr_assert_eq(loop_add_signal(l, SIGSTOP, sig_cb, &s), -EINVAL);
	cr_assert_eq(loop_add_signal(l, 0, sig_cb, &s), -EINVAL);
	cr_assert_eq(loop_add_signal(l, NSIG, sig_cb, &s), -EINVAL);
	cr_assert_eq(loop_add_signal(l, SIGUSR1, NULL, &s), -EINVAL);
	cr_assert_not(is_blocked(SIGUSR1), "a refused signal must not stay blocked");
	cr_assert_eq(loop_add_signal(l, SIGUSR1, sig_cb, &s), 0);
	cr_assert_eq(loop_add_signal(l, SIGUSR1, sig_cb, &s), -EEXIST);
	loop_free(l);
}
