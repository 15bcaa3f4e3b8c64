/*
 * plan: the ordered steps of a failover plan (fsm.h's enum hb_plan), run
 * one after another on the event loop. Every step is idempotent, so a
 * step that fails is simply retried (every [failover] retry) until it
 * succeeds; the next one never starts before.
 *
 *   takeover  [the COLO channel's sockets destroyed], x-colo-lost-heartbeat,
 *             LAN port into the bridge, proxy "mode takeover" (it re-sends
 *             the SVM's pending output, which needs the way out open),
 *             announce-self
 *   solo      [the COLO channel's sockets destroyed], x-colo-lost-heartbeat,
 *             proxy "mode solo"
 *   fence     [the COLO channel's sockets destroyed], QMP stop (the proxy
 *             stays protected: it holds everything)
 *   reprotect proxy "promote" (a secondary that took over becomes the
 *             primary, keeping its connections' translations), then the
 *             COLO migration to the peer's waiting VM: capabilities x-colo
 *             and events, x-checkpoint-delay, migrate [reprotect] uri,
 *             polled until query-migrate says "colo" (a failed or
 *             cancelled migration is started again)
 *
 * x-colo-lost-heartbeat on a VM that has already left COLO is an error
 * in QEMU; the step then asks query-colo-status and counts mode "none"
 * as done. Steps with nothing configured ([proxy] control, [failover]
 * bridge) are skipped and say so.
 */
#ifndef HEARTBEAT_PLAN_H
#define HEARTBEAT_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "heartbeat/conf.h"

struct loop;
struct qmp;
struct plan;

#define PLAN_MAX_STEPS 5

struct plan_step_info {
	const char *name;
	bool done, skipped;
	unsigned attempts;
	uint64_t took_us;	/* from the plan's start to this step's end */
	char last_error[160];
};

/* DONE runs once every step has succeeded. */
int plan_start(struct plan **pp, struct loop *loop, const struct hb_conf *cf,
	       struct qmp *qmp, int kind, void (*done)(void *arg), void *arg);
/* Free P; a plan still waiting for a callback is only cancelled then, and
 * freed by that callback. */
void plan_free(struct plan *p);
bool plan_finished(const struct plan *p);

int plan_kind(const struct plan *p);
uint64_t plan_started_ns(const struct plan *p);	/* CLOCK_MONOTONIC */
unsigned plan_nsteps(const struct plan *p);
const struct plan_step_info *plan_step(const struct plan *p, unsigned i);

#endif /* HEARTBEAT_PLAN_H */
