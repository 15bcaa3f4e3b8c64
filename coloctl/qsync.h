/*
 * qsync: blocking QMP calls for a command-line tool, on top of the
 * event-driven client (checkpoint/qmp.h) and a private loop.
 */
#ifndef COLOCTL_QSYNC_H
#define COLOCTL_QSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct loop;
struct qmp;

struct qsync {
	struct loop *loop;
	struct qmp *q;
	char path[108];
	bool done, down;
	json_t *ret;
	char err[320];
};

/* Connect to QEMU's QMP socket at PATH and negotiate capabilities:
 * 0, or -1 with the reason in ERR. */
int qsync_open(struct qsync *s, const char *path, uint64_t timeout_ms,
	       char *err, size_t errlen);

/* Run CMD with ARGS (may be NULL; not consumed). 0 with *RET (a new
 * reference, may be NULL if RET is NULL), or -1 with QEMU's error class
 * and description, or the local failure, in ERR. */
int qsync_call(struct qsync *s, const char *cmd, const json_t *args,
	       json_t **ret, char *err, size_t errlen);

void qsync_close(struct qsync *s);

#endif /* COLOCTL_QSYNC_H */
