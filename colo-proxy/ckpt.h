/*
 * ckpt: the checkpoint backend interface of the proxy.
 *
 * The proxy decides *that* a checkpoint is needed; a backend makes QEMU
 * take it (QMP, libvirt: issue 4/8) and reports back:
 *
 *    proxy                         backend                  QEMU
 *      | request(reason) ----------> |  x-checkpoint-delay --> |
 *      |                             | <------------- STOP ----|
 *      | <--------- on_begin(epoch)  |                         |
 *      | <------ on_complete(epoch)  | <----------- RESUME ----|
 *      |   (epoch committed: release held primary output of it,
 *      |    drop secondary output, reset the rewriter)
 *      | <------ on_failover(why)    | <--------- COLO_EXIT ---|
 *
 * A backend merges requests: while one checkpoint is asked for or running
 * a new request only raises the count of merged ones.  The "none" backend
 * takes no checkpoint at all: a divergence stays held (nothing divergent
 * is ever released), and each request is counted and logged.
 */
#ifndef COLO_PROXY_CKPT_H
#define COLO_PROXY_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ckpt_reason {
	CKPT_R_MISMATCH = 0,	/* the outputs differ */
	CKPT_R_HOLD_TIMEOUT,	/* output waited too long for its twin */
	CKPT_R_LIMIT,		/* held frames/bytes/flows limit, queue full */
	CKPT_R_CHANNEL,		/* proxy channel gap, break or peer restart */
	CKPT_R_QUEUE_LOSS,	/* a netfilter queue lost packets */
	CKPT_R_SECONDARY,	/* the secondary asked (its own loss) */
	CKPT_R_PERIODIC,
	CKPT_R_MANUAL,		/* control socket */
	CKPT_R_MAX
};

enum ckpt_backend_kind { CKPT_NONE = 0 };

struct ckpt_events {
	void (*on_begin)(void *arg, uint32_t epoch);
	void (*on_complete)(void *arg, uint32_t epoch);
	void (*on_failover)(void *arg, const char *why);
	void *arg;
};

struct ckpt_ops {
	const char *name;
	/* Ask for a checkpoint: 0, or -errno (the backend cannot take one) */
	int (*request)(void *ctx, enum ckpt_reason reason);
	/* One line describing the backend's state, into BUF. */
	void (*describe)(void *ctx, char *buf, size_t len);
	void (*free)(void *ctx);
};

struct ckpt {
	const struct ckpt_ops *ops;
	void *ctx;
	struct ckpt_events ev;
	/* counted here, for every backend */
	uint64_t requests[CKPT_R_MAX];	/* reasons that asked */
	uint64_t issued;		/* requests passed to the backend */
	uint64_t merged;		/* asked while one was pending */
	uint64_t completed;
	bool pending;			/* asked, not completed yet */
	uint64_t pending_since_ns;
	enum ckpt_reason pending_reason;
	uint64_t last_duration_ns;
};

const char *ckpt_reason_name(enum ckpt_reason r);
extern const char *const ckpt_backend_names[];

/* Set up backend KIND with the proxy's event callbacks: 0 or -errno. */
int ckpt_init(struct ckpt *c, int kind, const struct ckpt_events *ev);
void ckpt_fini(struct ckpt *c);

/* Count REASON and, unless one is pending, ask the backend. */
void ckpt_request(struct ckpt *c, enum ckpt_reason reason, uint64_t now_ns);

/* Backends call these (they forward to the proxy's events). */
void ckpt_begun(struct ckpt *c, uint32_t epoch);
void ckpt_completed(struct ckpt *c, uint32_t epoch, uint64_t now_ns);

#endif /* COLO_PROXY_CKPT_H */
