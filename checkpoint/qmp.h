/*
 * qmp: a QMP client on the event loop (common/loop.h).
 *
 *   DOWN --connect--> GREETING --{"QMP"}--> CAPS --qmp_capabilities ok-->
 *   READY  (commands and events)  --EOF/error/garbage/timeout--> DOWN
 *                                          (reconnect after reconnect_ms)
 *
 * Commands are queued with a numeric id and matched to their reply by it;
 * each has its own deadline. A command's callback runs exactly once: with
 * the reply, with QEMU's error, or with a local error of class
 * "Timeout", "Disconnected" or "Protocol". Commands issued before READY
 * fail at once with "NotReady" (callers decide whether to wait).
 *
 * Anything QEMU sends that is not a well-formed QMP message (not JSON, an
 * unknown shape, a reply to no command of ours, a line over QMP_LINE_MAX)
 * is counted and closes the connection: a monitor that speaks garbage
 * cannot be trusted with checkpoints.
 *
 * Either QEMU's own -qmp unix socket (path), or a domain managed by
 * libvirt (domain, uri): then the stream goes through libvirtd
 * (checkpoint/libvirt.h) and behaves the same.
 */
#ifndef CHECKPOINT_QMP_H
#define CHECKPOINT_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct loop;
struct qmp;

struct qmp_config {
	char name[32];			/* for logs: "pvm", "svm" */
	char path[108];			/* QEMU's QMP unix socket, or */
	char domain[128];		/* a libvirt domain (set: used) */
	char uri[256];			/* ... at this libvirtd */
	uint64_t timeout_ms;		/* greeting, each command */
	uint64_t reconnect_ms;		/* 0: stay down after a loss */
	bool quiet;			/* no log lines (a CLI reports itself) */
};

struct qmp_stats {
	uint64_t connects, disconnects, connect_failures;
	uint64_t commands, replies, errors, timeouts;
	uint64_t events, garbage;
};

/* RET is the "return" value on success (borrowed, valid during the call),
 * NULL on failure with ERR_CLASS and ERR_DESC set. */
typedef void qmp_reply_cb(void *arg, json_t *ret, const char *err_class,
			  const char *err_desc);

struct qmp_events {
	void (*on_ready)(void *arg);
	/* DATA may be NULL; TS_US is QEMU's timestamp (0 if absent) */
	void (*on_event)(void *arg, const char *event, json_t *data,
			 uint64_t ts_us);
	/* the connection was lost or could not be made (every pending
	 * command has already been failed) */
	void (*on_down)(void *arg, const char *why);
	void *arg;
};

/* Start connecting to cfg->path: 0 or -errno (ERR says why). The first
 * attempt is made before this returns; failures go to on_down. */
int qmp_new(struct loop *loop, const struct qmp_config *cfg,
	    const struct qmp_events *ev, struct qmp **qp, char *err,
	    size_t errlen);

/* Close; pending commands are failed with "Disconnected". NULL is allowed. */
void qmp_free(struct qmp *q);

bool qmp_is_ready(const struct qmp *q);

/*
 * Send CMD with ARGS (an object or NULL; not consumed). CB (may be NULL)
 * is called exactly once, never from within this call: 0, or -ENOMEM.
 */
int qmp_command(struct qmp *q, const char *cmd, const json_t *args,
		qmp_reply_cb *cb, void *arg);

const struct qmp_stats *qmp_stats(const struct qmp *q);
const char *qmp_state_name(const struct qmp *q);

/* Through libvirt, the last loss was of libvirtd, not of the domain
 * (QEMU may run on: a restart of libvirtd). Always false with a socket. */
bool qmp_down_transport(const struct qmp *q);

/* What the client talks to, for messages: the socket's path, or
 * "domain NAME at URI". */
const char *qmp_target(const struct qmp_config *cfg, char *buf, size_t len);

#endif /* CHECKPOINT_QMP_H */
