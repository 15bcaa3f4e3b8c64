/*
 * hb: the colo-heartbeat daemon: its sockets, timers, QMP watch and
 * control socket around the pure parts (hbmsg, fsm) and the plan runner.
 *
 *   every interval    a BEAT to the peer on each path, and to the witness;
 *                     a CLAIM to the witness while claiming
 *   every tick        (interval/4, at most 10 ms) the view is rebuilt
 *                     and the state machine re-evaluated
 *   each datagram     decoded, authenticated, checked for replay; a fresh
 *                     one refreshes its path and the peer's view
 *   QMP (own socket)  up/down, COLO mode (query-colo-status, MIGRATION,
 *                     COLO_EXIT): the VM's part of the view
 *
 * As the witness it only answers: BEATs update the arbiter, CLAIMs get a
 * VERDICT.
 */
#ifndef HEARTBEAT_HB_H
#define HEARTBEAT_HB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heartbeat/conf.h"
#include "heartbeat/fsm.h"
#include "heartbeat/hbmsg.h"

struct loop;
struct qmp;
struct ctl;
struct plan;
struct hooks;
struct lv_job;

/* Every counter once: the struct and the control socket's names. */
#define HB_COUNTERS(X)                                                      \
	X(tx) X(tx_errors) X(rx)                                            \
	X(rx_fresh) X(rx_unproven) X(rx_replayed)                           \
	X(rx_late)		/* new, below the newest seq: by the slower path */ \
	X(rx_forged)		/* bad MAC */                                \
	X(rx_malformed)		/* length, magic, version, field */          \
	X(rx_other_pair) X(rx_unexpected)                                   \
	X(claims_sent) X(grants) X(refusals) X(deferrals)                   \
	X(verdicts_sent)	/* witness */                                \
	X(failovers) X(fences) X(vm_lost) X(reprotects)                     \
	X(hooks_run) X(hooks_failed)                                        \
	X(libvirt_fences)	/* the peer's domain destroyed (or down) */  \
	X(libvirt_fence_failures)

struct hb_counters {
#define X(n) uint64_t n;
	HB_COUNTERS(X)
#undef X
};

struct hb_path {
	int fd;
	bool up;
	uint64_t last_fresh_ns;
	uint64_t rx_fresh, ups, downs;
};

struct hb {
	struct loop *loop;
	struct hb_conf cf;
	uint8_t key[HB_KEY_LEN];
	uint8_t self, peer;		/* node ids */
	uint32_t pair;
	struct hb_sent sent;
	struct hb_path path[HB_PATHS];
	int wfd;			/* socket toward/of the witness */
	struct hb_remote rx_peer, rx_witness, rx_node[3];
	struct hb_msg peer_msg;		/* the peer's last fresh BEAT */
	bool peer_seen;
	uint64_t witness_last_ns;	/* its last fresh message */
	struct hb_fsm fsm;
	struct hb_arbiter arb;
	struct qmp *qmp;
	bool vm_up, vm_seen, colo;
	/* COLO events seen, and their count when the query-colo-status in
	 * flight (one at a time) went out: an answer overtaken by an event
	 * is stale */
	uint64_t colo_events, colo_events_asked;
	bool colo_asking;
	bool incoming;			/* our VM waits for COLO, x-colo set */
	uint64_t reprotect_ms;		/* the last re-protection started */
	struct plan *plan;		/* the current or last one */
	struct hooks *hooks;
	struct ctl *ctl;
	uint64_t beat_timer, tick_timer, reclaim_timer, colo_poll_ms;
	uint64_t vm_grace_timer;	/* libvirtd lost, the VM taken as up */
	uint64_t fail_started_ns;	/* CLAIMING began */
	uint64_t last_failover_us;	/* CLAIMING -> plan done */
	char last_verdict[128];
	struct lv_job *fence_job;	/* [fence] libvirt under way */
	bool fence_required;		/* ... the takeover waits for it */
	uint64_t fenced_term;		/* the claim it fenced for */
	char last_fence[400];		/* its last result */
	struct hb_counters n;
};

/* Open sockets, QMP, control socket, timers: 0, or -1 with ERR. */
int hb_start(struct hb *h, struct loop *loop, const struct hb_conf *cf,
	     const uint8_t key[HB_KEY_LEN], char *err, size_t errlen);
void hb_stop(struct hb *h);

/* The control socket's failover: false with the reason in ERR. */
bool hb_fail_by_hand(struct hb *h, char *err, size_t errlen);

/* Re-protection (coloctl reprotect, or [reprotect] auto): the primary
 * serving alone pairs with the peer's waiting secondary. false with the
 * reason in ERR. */
bool hb_reprotect(struct hb *h, char *err, size_t errlen);

#endif /* HEARTBEAT_HB_H */
