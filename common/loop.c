/*
 * loop: epoll event loop with a timer heap and signalfd. See loop.h.
 *
 *   struct loop
 *   +-- epfd ------------- epoll, level-triggered
 *   +-- fds[fd] ---------- indexed by descriptor number, grown on demand
 *   |                      { used, events, on_read, on_write, arg }
 *   +-- timers[] --------- binary min-heap on (when, id):
 *   |                                 [0]
 *   |                           [1]         [2]
 *   |                        [3]   [4]   [5]   [6]      child of i: 2i+1, 2i+2
 *   +-- sigfd, sigs[signo] one signalfd for every routed signal
 *   +-- before_sleep hook
 */
#include "common/loop.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64
#define LOOP_MIN_SLOTS 16

struct loop_fd {
	bool used;
	bool in_epoll; /* false while events == 0, so HUP cannot spin */
	unsigned events;
	loop_fd_cb *on_read;
	loop_fd_cb *on_write;
	void *arg;
};

struct loop_timer {
	uint64_t id;
	uint64_t when;  /* deadline, loop_now_ms() */
	uint64_t every; /* period, 0 for a one-shot */
	loop_timer_cb *cb;
	void *arg;
};

struct loop_sig {
	loop_signal_cb *cb;
	void *arg;
};

struct loop {
	int epfd;
	bool stop;
	struct loop_fd *fds;
	size_t nfds;
	struct loop_timer *timers;
	size_t ntimers;
	size_t timers_cap;
	uint64_t next_id;
	int sigfd;
	sigset_t sigmask;  /* signals routed through sigfd */
	sigset_t sigowned; /* those this loop blocked; unblocked by loop_free */
	struct loop_sig sigs[NSIG];
	loop_hook_cb *before_sleep;
	void *before_sleep_arg;
};

uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(void)
{
	return loop_now_ns() / 1000000;
}

int loop_new(struct loop **loopp)
{
	struct loop *l;
	int ret;

	*loopp = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->sigfd = -1;
	l->next_id = 1;
	sigemptyset(&l->sigmask);
	sigemptyset(&l->sigowned);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		ret = -errno;
		goto out;
	}
	*loopp = l;
	l = NULL;
	ret = 0;
out:
	free(l);
	return ret;
}

void loop_free(struct loop *l)
{
	struct signalfd_siginfo si;

	if (!l)
		return;
	if (l->sigfd >= 0) {
		/* consume what is pending, so unblocking cannot kill us */
		while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(l->sigfd);
		sigprocmask(SIG_UNBLOCK, &l->sigowned, NULL);
	}
	close(l->epfd);
	free(l->fds);
	free(l->timers);
	free(l);
}

/* ---- descriptors ---------------------------------------------------------- */

static struct loop_fd *fd_entry(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].used)
		return NULL;
	return &l->fds[fd];
}

/* Make room for slot fd in the table. */
static int fd_table_grow(struct loop *l, int fd)
{
	size_t n = l->nfds ? l->nfds : LOOP_MIN_SLOTS;
	struct loop_fd *p;

	if ((size_t)fd < l->nfds)
		return 0;
	while (n <= (size_t)fd) {
		if (n > SIZE_MAX / 2 / sizeof(*p))
			return -ENOMEM;
		n *= 2;
	}
	p = reallocarray(l->fds, n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(p + l->nfds, 0, (n - l->nfds) * sizeof(*p));
	l->fds = p;
	l->nfds = n;
	return 0;
}

/* Bring epoll in line with events for fd; f->in_epoll is updated. */
static int fd_sync(struct loop *l, int fd, struct loop_fd *f, unsigned events)
{
	struct epoll_event ev = { .events = 0, .data.fd = fd };
	int op;

	if (events & LOOP_READ)
		ev.events |= EPOLLIN;
	if (events & LOOP_WRITE)
		ev.events |= EPOLLOUT;
	if (events == 0 && !f->in_epoll)
		return 0;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else
		op = f->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
		return -errno;
	f->in_epoll = events != 0;
	return 0;
}

int loop_add_fd(struct loop *l, int fd, unsigned events,
		loop_fd_cb *on_read, loop_fd_cb *on_write, void *arg)
{
	struct loop_fd f = { .used = true, .events = events, .on_read = on_read,
			     .on_write = on_write, .arg = arg };
	int ret;

	if (fd < 0)
		return -EBADF;
	if (events & ~(unsigned)(LOOP_READ | LOOP_WRITE))
		return -EINVAL;
	if (fd_entry(l, fd))
		return -EEXIST;
	ret = fd_table_grow(l, fd);
	if (ret < 0)
		return ret;
	ret = fd_sync(l, fd, &f, events);
	if (ret < 0)
		return ret;
	l->fds[fd] = f;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, unsigned events)
{
	struct loop_fd *f = fd_entry(l, fd);
	int ret;

	if (!f)
		return -ENOENT;
	if (events & ~(unsigned)(LOOP_READ | LOOP_WRITE))
		return -EINVAL;
	/* unchanged: no system call (the proxy channel asks at every flush) */
	if (events == f->events && f->in_epoll == (events != 0))
		return 0;
	ret = fd_sync(l, fd, f, events);
	if (ret < 0)
		return ret;
	f->events = events;
	return 0;
}

int loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd *f = fd_entry(l, fd);

	if (!f)
		return -ENOENT;
	/* EBADF/ENOENT: closed already, and epoll forgot it by itself */
	if (f->in_epoll)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	memset(f, 0, sizeof(*f));
	return 0;
}

/* Deliver one epoll event; callbacks may change the table under us. */
static void fd_dispatch(struct loop *l, const struct epoll_event *ev)
{
	int fd = ev->data.fd;
	unsigned got = 0;
	struct loop_fd *f;
	loop_fd_cb *read_cb = NULL;

	if (ev->events & EPOLLIN)
		got |= LOOP_READ;
	if (ev->events & EPOLLOUT)
		got |= LOOP_WRITE;
	if (ev->events & (EPOLLERR | EPOLLHUP))
		got |= LOOP_READ | LOOP_WRITE | LOOP_ERROR;

	f = fd_entry(l, fd);
	if (f && (f->events & got & LOOP_READ) && f->on_read) {
		read_cb = f->on_read;
		f->on_read(l, fd, got & (f->events | LOOP_ERROR), f->arg);
	}
	f = fd_entry(l, fd);
	if (f && (f->events & got & LOOP_WRITE) && f->on_write &&
	    f->on_write != read_cb)
		f->on_write(l, fd, got & (f->events | LOOP_ERROR), f->arg);
}

/* ---- timers --------------------------------------------------------------- */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void timer_swap(struct loop *l, size_t i, size_t j)
{
	struct loop_timer t = l->timers[i];

	l->timers[i] = l->timers[j];
	l->timers[j] = t;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0 && timer_before(&l->timers[i], &l->timers[(i - 1) / 2])) {
		timer_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t min = i, c = 2 * i + 1;

		if (c < l->ntimers && timer_before(&l->timers[c], &l->timers[min]))
			min = c;
		if (c + 1 < l->ntimers && timer_before(&l->timers[c + 1], &l->timers[min]))
			min = c + 1;
		if (min == i)
			return;
		timer_swap(l, i, min);
		i = min;
	}
}

/* Insert t; capacity must already be there. */
static void heap_push(struct loop *l, const struct loop_timer *t)
{
	l->timers[l->ntimers] = *t;
	heap_up(l, l->ntimers++);
}

static void heap_remove(struct loop *l, size_t i)
{
	l->ntimers--;
	if (i == l->ntimers)
		return;
	l->timers[i] = l->timers[l->ntimers];
	heap_down(l, i);
	heap_up(l, i);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

int loop_add_timer(struct loop *l, uint64_t after_ms, uint64_t every_ms,
		   loop_timer_cb *cb, void *arg, uint64_t *idp)
{
	struct loop_timer t = { .id = l->next_id, .every = every_ms, .cb = cb,
				.arg = arg };

	if (!cb)
		return -EINVAL;
	if (l->ntimers == l->timers_cap) {
		size_t cap = l->timers_cap ? l->timers_cap * 2 : LOOP_MIN_SLOTS;
		struct loop_timer *p = reallocarray(l->timers, cap, sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->timers = p;
		l->timers_cap = cap;
	}
	t.when = add_sat(loop_now_ms(), after_ms);
	heap_push(l, &t);
	l->next_id++;
	if (idp)
		*idp = t.id;
	return 0;
}

int loop_del_timer(struct loop *l, uint64_t id)
{
	for (size_t i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			heap_remove(l, i);
			return 0;
		}
	}
	return -ENOENT;
}

/* Fire the timers due now. Timers created during this pass (ids above
 * last_id) wait for the next one, so a timer re-adding itself with a zero
 * delay cannot starve the descriptors. */
static void timers_dispatch(struct loop *l)
{
	uint64_t now = loop_now_ms();
	uint64_t last_id = l->next_id - 1;

	while (l->ntimers > 0) {
		struct loop_timer t = l->timers[0];

		if (t.when > now || t.id > last_id)
			return;
		heap_remove(l, 0);
		if (t.every) {
			struct loop_timer next = t;

			next.when = add_sat(t.when, t.every);
			if (next.when <= now)
				next.when = add_sat(now, t.every);
			heap_push(l, &next); /* the slot just freed */
		}
		t.cb(l, t.id, t.arg);
	}
}

/* epoll_wait timeout: until the earliest deadline, -1 without timers. */
static int timers_timeout(struct loop *l)
{
	uint64_t now, when;

	if (l->ntimers == 0)
		return -1;
	now = loop_now_ms();
	when = l->timers[0].when;
	if (when <= now)
		return 0;
	return when - now > INT_MAX ? INT_MAX : (int)(when - now);
}

/* ---- signals -------------------------------------------------------------- */

static void sigfd_read(struct loop *l, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int signo = (int)si.ssi_signo;

		if (signo > 0 && signo < NSIG && l->sigs[signo].cb)
			l->sigs[signo].cb(l, signo, l->sigs[signo].arg);
	}
}

int loop_add_signal(struct loop *l, int signo, loop_signal_cb *cb, void *arg)
{
	sigset_t one, old, mask;
	bool we_blocked;
	int fd, ret;

	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP || !cb)
		return -EINVAL;
	if (l->sigs[signo].cb)
		return -EEXIST;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, &old) < 0)
		return -errno;
	we_blocked = !sigismember(&old, signo);
	mask = l->sigmask;
	sigaddset(&mask, signo);
	fd = signalfd(l->sigfd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (l->sigfd < 0) {
		ret = loop_add_fd(l, fd, LOOP_READ, sigfd_read, NULL, NULL);
		if (ret < 0) {
			close(fd);
			goto out;
		}
		l->sigfd = fd;
	}
	l->sigmask = mask;
	if (we_blocked)
		sigaddset(&l->sigowned, signo);
	l->sigs[signo].cb = cb;
	l->sigs[signo].arg = arg;
	ret = 0;
out:
	if (ret < 0 && we_blocked)
		sigprocmask(SIG_UNBLOCK, &one, NULL);
	return ret;
}

/* ---- running -------------------------------------------------------------- */

void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg)
{
	l->before_sleep = cb;
	l->before_sleep_arg = arg;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

/* One iteration: hook, wait, fd events, timers. */
static int loop_once(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n;

	if (l->before_sleep)
		l->before_sleep(l, l->before_sleep_arg);
	if (l->stop)
		return 0;
	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timers_timeout(l));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		fd_dispatch(l, &evs[i]);
	timers_dispatch(l);
	return 0;
}

int loop_run(struct loop *l)
{
	int ret = 0;

	l->stop = false;
	while (!l->stop && ret == 0)
		ret = loop_once(l);
	return ret;
}
