/*
 * qmp_msg: the QEMU Machine Protocol's messages, without any I/O.
 *
 * QEMU writes one JSON object per line ("...}\r\n"; strings never hold a
 * raw newline), of four kinds (docs/interop/qmp-spec):
 *
 *   {"QMP": {"version": ..., "capabilities": [...]}}          greeting
 *   {"return": VALUE, "id": ID}                               success
 *   {"error": {"class": C, "desc": D}, "id": ID}              failure
 *   {"event": NAME, "data": {...}, "timestamp":
 *       {"seconds": S, "microseconds": U}}                     event
 *
 * qmp_split() cuts a byte stream into lines, qmp_msg_parse() classifies a
 * line with jansson and checks every field it hands out, qmp_cmd_line()
 * builds {"execute": CMD, "arguments": ARGS, "id": N}\r\n.
 */
#ifndef CHECKPOINT_QMP_MSG_H
#define CHECKPOINT_QMP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A line longer than this is a protocol error (QEMU's replies to the
 * commands used here are a few KB; query-qmp-schema is the giant). */
#define QMP_LINE_MAX (4U << 20)

enum qmp_msg_type {
	QMP_MSG_GREETING = 0,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
};

struct qmp_msg {
	enum qmp_msg_type type;
	json_t *root;		/* owns everything below */
	bool has_id;
	uint64_t id;		/* RETURN/ERROR: our numeric id */
	json_t *ret;		/* RETURN: the value (borrowed) */
	const char *err_class;	/* ERROR */
	const char *err_desc;	/* ERROR */
	const char *event;	/* EVENT: name */
	json_t *data;		/* EVENT: data object or NULL (borrowed) */
	uint64_t ts_us;		/* EVENT: QEMU's timestamp, 0 if absent */
};

/*
 * Parse one line (without its newline) into *m: 0, or -EBADMSG with the
 * reason in ERR (not JSON, not an object, no known key, a field of the
 * wrong type). On success the caller frees m with qmp_msg_free().
 */
int qmp_msg_parse(const char *line, size_t len, struct qmp_msg *m, char *err,
		  size_t errlen);

void qmp_msg_free(struct qmp_msg *m);

/*
 * Hand every complete line in DATA[0..LEN) to CB (without "\r\n"); the
 * number of bytes consumed, or -EMSGSIZE when a line reaches QMP_LINE_MAX
 * without its newline. Empty lines are skipped. CB returns false to stop
 * early (the line it saw counts as consumed).
 */
typedef bool qmp_line_cb(void *arg, const char *line, size_t len);
long qmp_split(const char *data, size_t len, qmp_line_cb *cb, void *arg);

/*
 * The command line for CMD with ARGS (an object, or NULL) and ID, as a
 * malloc'd NUL-terminated string ending in "\r\n"; NULL on ENOMEM or if
 * ARGS is not an object. ARGS is not consumed.
 */
char *qmp_cmd_line(const char *cmd, const json_t *args, uint64_t id);

/* x-checkpoint-delay is a uint32 of milliseconds; the largest value means
 * "no periodic checkpoints" (LAB.md). */
#define QMP_CHECKPOINT_DELAY_OFF 4294967295ULL

/* {"x-checkpoint-delay": PERIOD_MS, or QMP_CHECKPOINT_DELAY_OFF for 0}:
 * the arguments of migrate-set-parameters that set QEMU's checkpoint
 * period (and, in the COLO state, start a checkpoint). NULL on ENOMEM. */
json_t *qmp_checkpoint_delay_args(uint64_t period_ms);

#endif /* CHECKPOINT_QMP_MSG_H */
