/*
 * loop: a plain epoll event loop, in the spirit of Redis's ae.c.
 *
 *   loop_run()
 *     while not stopped:
 *       before-sleep hook          (flush batched verdicts, write queues)
 *       epoll_wait(until the next timer)
 *       fd callbacks               (read first, then write, per fd)
 *       due timers, in deadline order, ties in creation order
 *
 * Descriptors are level-triggered and should be non-blocking. Timers run
 * on CLOCK_MONOTONIC with millisecond resolution and are kept in a binary
 * min-heap ordered by (deadline, id); a timer never fires early. Signals
 * arrive through one signalfd per loop and are dispatched like fd events.
 *
 * Everything lives in struct loop: two loops can exist side by side.
 * Signals are process-wide, though: let one loop own them, and keep the
 * process single-threaded (loop_add_signal() uses sigprocmask).
 *
 * Callbacks may add, modify and remove fds, timers and signals, and call
 * loop_stop(); they must not call loop_free(). Call loop_del_fd() before
 * closing a descriptor.
 */
#ifndef COMMON_LOOP_H
#define COMMON_LOOP_H

#include <stdint.h>

struct loop;

enum loop_event {
	LOOP_READ = 1U << 0,
	LOOP_WRITE = 1U << 1,
	LOOP_ERROR = 1U << 2, /* reported only: EPOLLERR or EPOLLHUP */
};

/* events: LOOP_READ and/or LOOP_WRITE that fired, plus LOOP_ERROR. If one
 * function is both the read and the write callback of an fd, it is called
 * once per wakeup with all bits. */
typedef void loop_fd_cb(struct loop *loop, int fd, unsigned events, void *arg);
/* id is the timer's own id, so that a periodic timer can cancel itself. */
typedef void loop_timer_cb(struct loop *loop, uint64_t id, void *arg);
typedef void loop_signal_cb(struct loop *loop, int signo, void *arg);
typedef void loop_hook_cb(struct loop *loop, void *arg);

/* Allocate a loop with its epoll descriptor: 0, -ENOMEM or -errno. */
int loop_new(struct loop **loopp);

/* Close the loop's descriptors (not the registered fds), drain its
 * signalfd and unblock the signals it blocked. NULL is allowed. */
void loop_free(struct loop *loop);

/* Watch fd for events (LOOP_READ | LOOP_WRITE, or 0 to register it
 * disabled). Either callback may be NULL. -EBADF for fd < 0, -EEXIST if
 * already registered, -EINVAL for unknown bits, or epoll's -errno. */
int loop_add_fd(struct loop *loop, int fd, unsigned events,
		loop_fd_cb *on_read, loop_fd_cb *on_write, void *arg);

/* Change the events watched on a registered fd: 0, -ENOENT or -errno. */
int loop_mod_fd(struct loop *loop, int fd, unsigned events);

/* Stop watching fd: 0 or -ENOENT. Pending events for it in the current
 * iteration are not delivered. */
int loop_del_fd(struct loop *loop, int fd);

/* Call cb after after_ms, then every every_ms if every_ms > 0 (a missed
 * period is skipped, not replayed). *idp (may be NULL) receives an id > 0
 * for loop_del_timer(). 0, -EINVAL (cb NULL) or -ENOMEM. */
int loop_add_timer(struct loop *loop, uint64_t after_ms, uint64_t every_ms,
		   loop_timer_cb *cb, void *arg, uint64_t *idp);

/* Cancel a timer: 0, or -ENOENT if it does not exist (or was a one-shot
 * that already fired). */
int loop_del_timer(struct loop *loop, uint64_t id);

/* Block signo with sigprocmask and deliver it to cb from the loop.
 * -EINVAL (bad number, SIGKILL, SIGSTOP), -EEXIST, or -errno. */
int loop_add_signal(struct loop *loop, int signo, loop_signal_cb *cb, void *arg);

/* Call cb before each wait for events; NULL removes the hook. */
void loop_set_before_sleep(struct loop *loop, loop_hook_cb *cb, void *arg);

/* Dispatch events until loop_stop(): 0, or -errno if epoll_wait fails. */
int loop_run(struct loop *loop);

/* Make loop_run() return after the current iteration. */
void loop_stop(struct loop *loop);

/* CLOCK_MONOTONIC in milliseconds: the loop's notion of now. */
uint64_t loop_now_ms(void);

/* The same clock in nanoseconds, for what needs finer timing. */
uint64_t loop_now_ns(void);

#endif /* COMMON_LOOP_H */
