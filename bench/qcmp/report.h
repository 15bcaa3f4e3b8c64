/*
 * report.h - the benchmark's results: per point the raw samples of every
 * round and their medians, written as JSON (jansson) and as a Markdown
 * table.
 */
#ifndef BENCH_QCMP_REPORT_H
#define BENCH_QCMP_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "bench/qcmp/gen.h"
#include "bench/qcmp/run.h"

#define GOAL_FPS 5.0		/* ours >= 5x QEMU's frames/s */
#define GOAL_CPU 0.2		/* ours <= 1/5 of QEMU's CPU per frame */

struct sample {
	struct run_result r;
	unsigned round;
	unsigned order;		/* 0: ran first in its round */
};

struct point_result {
	struct gen_point pt;
	uint32_t window;	/* primary frames in flight (run.h) */
	uint64_t prim_frames, sec_frames, timed_payload;
	struct sample *s[RUN_KINDS];
	unsigned n[RUN_KINDS];
	/* medians over the valid samples */
	bool valid;		/* every run of the point passed its checks */
	double fps[RUN_KINDS], gbps[RUN_KINDS], cpu_ns[RUN_KINDS];
	double cpu_stat_ns[RUN_KINDS];	/* from /proc/PID/stat ticks, summed
					   over the rounds (10 ms steps) */
	double fps_ratio, cpu_ratio;	/* ours / QEMU */
	double cpu_ratio_stat;		/* the same from cpu_stat_ns */
	unsigned long long ticks[RUN_KINDS];	/* their sum */
	double fps_ratio_min, fps_ratio_max;	/* per round */
	bool goal_fps, goal_cpu;
	unsigned long long notify[RUN_KINDS], reordered[RUN_KINDS];
};

struct report {
	struct point_result *p;
	unsigned np;
	unsigned rounds;
	const struct run_env *env;
	uint32_t frames;
	const char **meta;	/* "key=value" */
	unsigned nmeta;
	const char *started;	/* ISO 8601 */
	double seconds;
};

/* P's name, with its window when it is not DEFAULT_WINDOW. */
const char *point_name(const struct point_result *p, uint32_t default_window,
		       char *buf, size_t len);

/* Medians, ratios and goals of P from its samples. */
void report_summarise(struct point_result *p);

/* The Markdown table (with its heading lines) to FP. */
void report_markdown(const struct report *r, FILE *fp);

/* Everything as JSON to PATH: 0 or -1 (errno set). */
int report_json(const struct report *r, const char *path);

#endif
