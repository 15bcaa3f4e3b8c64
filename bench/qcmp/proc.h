/*
 * proc.h - the comparator processes of the benchmark: started with their
 * output in files, stopped, and their CPU time read from /proc.
 */
#ifndef BENCH_QCMP_PROC_H
#define BENCH_QCMP_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cpu_sample {
	uint64_t sched_ns;	/* sum of /proc/PID/task/.../schedstat field 1 */
	uint64_t ticks;		/* /proc/PID/stat utime + stime */
	uint32_t threads;
};

/* Start ARGV[0] with stdin from /dev/null, stdout to OUT and stderr to
 * ERR (paths, or NULL for /dev/null): pid, or -errno. */
pid_t proc_spawn(char *const argv[], const char *out, const char *err);

/* SIGTERM, then SIGKILL after TIMEOUT_MS; true if it exited with 0. */
bool proc_stop(pid_t pid, unsigned timeout_ms, int *status);

/* Still running (not a zombie we reaped)? */
bool proc_alive(pid_t pid);

/* CPU used so far by every thread of PID: 0 or -errno. */
int proc_cpu(pid_t pid, struct cpu_sample *s);

/* The ticks of /proc/PID/stat per second. */
long proc_hz(void);

#endif
