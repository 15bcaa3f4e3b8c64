/*
 * ckpt: the checkpoint backend interface of the proxy.
 *
 * The proxy decides *that* a checkpoint is needed; a backend makes QEMU
 * take it (QMP: checkpoint/backend_qmp.c; libvirt: issue 8) and reports
 * back:
 *
 *    proxy                         backend                  QEMU
 *      | request(reason) ----------> |  x-checkpoint-delay --> |
 *      |                             | <------------- STOP ----|
 *      | <------------- on_begin     |                         |
 *      | <------------- on_complete  | <----------- RESUME ----|
 *      |   (epoch committed: release held primary output of it,
 *      |    drop secondary output, reset the rewriter)
 *      | <------------- on_colo      | <-- MIGRATION / COLO_EXIT
 *
 *   state:   IDLE --request--> ASKED --STOP--> RUNNING --RESUME--> IDLE
 *                  IDLE --STOP (QEMU's own timer)--> RUNNING
 *
 * A request while ASKED is merged into the coming checkpoint. A request
 * while RUNNING is covered when it concerns output of the epoch that is
 * ending (that output is in the state being saved); any other is kept and
 * issued once the running checkpoint completes: when in doubt, checkpoint.
 *
 * The "none" backend takes no checkpoint at all: a divergence stays held
 * (nothing divergent is ever released), and each request is counted and
 * logged. Every checkpoint's reason and durations are recorded here,
 * since QEMU keeps no such counters.
 */
#ifndef CHECKPOINT_CKPT_H
#define CHECKPOINT_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

enum ckpt_reason {
	CKPT_R_MISMATCH = 0,	/* the outputs differ */
	CKPT_R_HOLD_TIMEOUT,	/* output waited too long for its twin */
	CKPT_R_LIMIT,		/* held frames/bytes/flows limit, queue full */
	CKPT_R_CHANNEL,		/* proxy channel gap, break or peer restart */
	CKPT_R_QUEUE_LOSS,	/* a netfilter queue lost packets */
	CKPT_R_SECONDARY,	/* the secondary asked (its own loss) */
	CKPT_R_PERIODIC,	/* QEMU's own timer (x-checkpoint-delay) */
	CKPT_R_MANUAL,		/* control socket */
	CKPT_R_RESYNC,		/* protection (re)starts: the secondary must
				   get our state before it can confirm */
	CKPT_R_SVM_LOST,	/* the secondary asked: its VM's QEMU is gone
				   (no takeover can come from it) */
	CKPT_R_MAX
};

enum ckpt_backend_kind { CKPT_NONE = 0, CKPT_QMP = 1, CKPT_LIBVIRT = 2 };

enum ckpt_state { CKPT_IDLE = 0, CKPT_ASKED, CKPT_RUNNING };

/* How COLO ended in our QEMU (on_colo with ACTIVE false) */
enum ckpt_colo_end {
	CKPT_END_ERROR = 0,	/* COLO_EXIT reason error, migration failed or
				   cancelled: the peer died, took over, or we
				   are being shut down; we cannot tell which */
	CKPT_END_REQUEST,	/* a failover asked of this QEMU
				   (x-colo-lost-heartbeat): someone decided */
	CKPT_END_VM_GONE,	/* our QMP connection was lost: the VM's QEMU
				   (or its monitor) went away */
};

struct ckpt_config {
	int kind;			/* enum ckpt_backend_kind */
	bool primary;			/* asks QEMU for checkpoints */
	char qmp[108];			/* QMP unix socket of the local VM */
	char lv_uri[256];		/* CKPT_LIBVIRT: libvirtd's URI */
	char lv_domain[128];		/* ... and the local VM's domain */
	uint64_t timeout_ms;		/* per QMP command */
	uint64_t reconnect_ms;
	uint64_t period_ms;		/* QEMU's periodic checkpoints; 0: off */
	uint64_t retry_ms;		/* after QEMU rejected a request */
};

struct ckpt_events {
	void (*on_begin)(void *arg);		/* the local VM stopped */
	void (*on_complete)(void *arg);		/* ... and resumed */
	/* COLO started (ACTIVE true) or ended (how: ckpt.colo_end; it may
	 * be told twice, the second time CKPT_END_REQUEST, when a failover
	 * request follows an error); WHY for the log */
	void (*on_colo)(void *arg, bool active, const char *why);
	void *arg;
};

struct ckpt_ops {
	const char *name;
	/* Ask for a checkpoint: 0, or -errno (the backend cannot take one
	 * now; it may retry on its own) */
	int (*request)(void *ctx, enum ckpt_reason reason);
	/* One line describing the backend's state, into BUF. */
	void (*describe)(void *ctx, char *buf, size_t len);
	void (*free)(void *ctx);
};

/* The last CKPT_HISTORY checkpoints, for percentiles and the log. */
#define CKPT_HISTORY 1024

struct ckpt_record {
	uint64_t stop_us;		/* STOP -> RESUME: the VM paused */
	uint64_t wait_us;		/* first request -> RESUME (0: QEMU's) */
	uint32_t epoch;			/* the epoch it committed */
	uint16_t merged;		/* requests it answered beyond the first */
	uint8_t reason;			/* enum ckpt_reason of the first */
};

struct ckpt {
	const struct ckpt_ops *ops;
	void *ctx;
	struct ckpt_events ev;
	enum ckpt_state state;
	bool again;			/* issue another after this one */
	enum ckpt_reason again_reason;
	uint32_t epoch;			/* current epoch (frames being read) */
	/* QEMU's own time (CLOCK_REALTIME us, 0 if unknown) of the STOP or
	 * RESUME being reported, for on_begin/on_complete: an event can reach
	 * us late (libvirt), after the peer already told us about it */
	uint64_t event_rt_us;
	enum ckpt_colo_end colo_end;	/* of the last on_colo(false) */
	/* counted here, for every backend */
	uint64_t requests[CKPT_R_MAX];	/* reasons that asked */
	uint64_t completed_by[CKPT_R_MAX];	/* by first reason */
	uint64_t issued;		/* requests passed to the backend */
	uint64_t merged;		/* asked while one was asked for */
	uint64_t covered;		/* asked about a saving epoch */
	uint64_t refused;		/* the backend could not take one */
	uint64_t completed;
	uint64_t unrequested;		/* begun by QEMU itself */
	uint64_t asked_ns, begun_ns;
	enum ckpt_reason reason;	/* of the one asked/running */
	uint16_t nmerged;
	struct ckpt_record hist[CKPT_HISTORY];
	uint64_t nhist;
};

const char *ckpt_reason_name(enum ckpt_reason r);
const char *ckpt_state_name(enum ckpt_state s);
extern const char *const ckpt_backend_names[];

/* Set up the backend with the proxy's event callbacks, starting at EPOCH:
 * 0 or -errno with ERR. */
int ckpt_init(struct ckpt *c, struct loop *loop, const struct ckpt_config *cfg,
	      const struct ckpt_events *ev, uint32_t epoch, char *err,
	      size_t errlen);
void ckpt_fini(struct ckpt *c);

/* Count REASON and ask the backend unless a checkpoint is asked for or
 * running (see the state picture). EPOCH is the epoch of the output
 * concerned, or CKPT_ANY_EPOCH. */
#define CKPT_ANY_EPOCH UINT64_MAX
void ckpt_request(struct ckpt *c, enum ckpt_reason reason, uint64_t epoch,
		  uint64_t now_ns);

/* Forget an asked-for checkpoint (solo mode: nothing to protect). */
void ckpt_cancel(struct ckpt *c);

/* Backends call these; they forward to the proxy's events. */
void ckpt_begun(struct ckpt *c, uint64_t now_ns);
/* The epoch being read is committed: c->epoch advances. */
void ckpt_completed(struct ckpt *c, uint64_t now_ns);
void ckpt_colo(struct ckpt *c, bool active, enum ckpt_colo_end end,
	       const char *why);
/* A request failed in the backend: back to IDLE, counted. */
void ckpt_refused(struct ckpt *c);

/* p-th percentile (0..100) of the recorded STOP->RESUME or
 * request->RESUME times in microseconds; 0 without records. */
uint64_t ckpt_percentile(const struct ckpt *c, bool wait, unsigned p);

/* The QMP backend (checkpoint/backend_qmp.c). */
int ckpt_qmp_new(struct ckpt *c, struct loop *loop,
		 const struct ckpt_config *cfg, char *err, size_t errlen);

#endif /* CHECKPOINT_CKPT_H */
