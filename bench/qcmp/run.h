/*
 * run.h - one measured run of a comparator on a point's frames.
 *
 *   RUN_QEMU  QEMU's colo-compare, standalone (-M none, an iothread, the
 *             colo-compare object, unix socket chardevs connecting to us)
 *   RUN_OURS  cmp_front, our comparator behind the same sockets
 *   RUN_LIB   the compare/ library alone, in this process, on the same
 *             frames (no sockets, no framing)
 *
 * A process run: listen on primary_in, secondary_in, outdev and
 * notify_dev, start the comparator, accept its four connections, then
 * feed three phases (handshakes, timed data, FINs), each until every
 * primary frame of the phase came out of outdev. At most `window` primary
 * frames are in flight (fed, not out yet); the secondary is fed up to what
 * goes with the primary frames fed (gen.h, sec_upto); writes alternate
 * between the two sides, `batch` frames at most each. Every frame out is
 * identified and compared byte for byte with the one fed; a frame out
 * twice, altered or unknown, or a stall, fails the run.
 */
#ifndef BENCH_QCMP_RUN_H
#define BENCH_QCMP_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/qcmp/gen.h"

enum run_kind { RUN_QEMU = 0, RUN_OURS = 1, RUN_LIB = 2, RUN_KINDS };

extern const char *const run_kind_names[RUN_KINDS];

struct run_env {
	const char *qemu;	/* qemu-system-x86_64 */
	const char *front;	/* cmp_front */
	const char *dir;	/* sockets and logs */
	uint32_t window;	/* primary frames in flight */
	uint32_t batch;		/* frames per write */
	unsigned stall_ms;	/* no frame out for this long: failed */
};

struct run_result {
	bool ok;
	char error[512];
	uint64_t elapsed_ns;	/* the timed phase, first write to last out */
	uint64_t frames;	/* primary frames of the timed phase */
	uint64_t cpu_ns;	/* comparator CPU in it: schedstat, all threads */
	uint64_t cpu_ticks;	/* the same from /proc/PID/stat utime+stime */
	uint64_t driver_cpu_ns;	/* this process's CPU in it */
	uint32_t threads;	/* the comparator's threads */
	uint64_t in_frames;	/* primary frames fed, all phases */
	uint64_t out_frames;	/* ... and out of outdev (or released) */
	uint64_t sec_frames;
	uint64_t bad, dup, altered, reordered;
	uint64_t notify;	/* DO_CHECKPOINT messages (checkpoint requests) */
	uint64_t startup_ns;	/* start to four connections */
	char counters[4096];	/* cmp_front's counters (JSON), RUN_OURS */
};

/* Run KIND on G; the outcome is in *RES (res->ok, res->error). */
void run_one(const struct run_env *env, const struct gen *g,
	     enum run_kind kind, struct run_result *res);

/* The command line of KIND's comparator process, for the record:
 * a NULL-terminated vector in ARGV (at most 40 entries) whose strings
 * live in BUF. */
void run_argv(const struct run_env *env, const struct gen *g,
	      enum run_kind kind, char **argv, char *buf, size_t len);

#endif
