/*
 * fsm: colo-heartbeat's role state machine and the witness's arbiter.
 * Pure: the daemon observes (struct hb_view) and acts on what changed.
 *
 *                 peer lost / its VM lost / manual
 *   SECONDARY ─────────────────────────────────┐
 *      │  the primary went on alone (higher term) │
 *      └──────────────> FENCED <──── refused ──── CLAIMING ── granted ──> FAILOVER
 *                          ^                       ^   (tie-breaker)       │ plan:
 *   PRIMARY ── a newer ────┘                       │                       │ takeover
 *   (protected│alone)  primary                     │                       │ or solo
 *      │  protected and: peer lost, replication    │                       v
 *      └──  link down, its VM lost, COLO ended, ───┘        PRIMARY (alone, term+1)
 *           manual
 *   any state ── the local VM's QMP lost ──> VM_LOST
 *
 * The term numbers the pair's generations: a failover happens at term+1,
 * and only the node the tie-breaker granted that term to may serve in it.
 * FENCED and VM_LOST end this daemon's part: re-protection restarts it.
 */
#ifndef HEARTBEAT_FSM_H
#define HEARTBEAT_FSM_H

#include <stdbool.h>
#include <stdint.h>

enum hb_state {
	HB_S_SECONDARY = 1,	/* standby: our VM shadows the primary's */
	HB_S_PRIMARY,		/* our VM serves (protected or alone) */
	HB_S_CLAIMING,		/* the peer is gone: asking the tie-breaker */
	HB_S_FAILOVER,		/* granted: the plan's actions are running */
	HB_S_FENCED,		/* must not serve: our VM is stopped */
	HB_S_VM_LOST,		/* our VM is gone */
	HB_S_MAX
};

enum hb_plan {
	HB_PLAN_NONE = 0,
	HB_PLAN_TAKEOVER,	/* secondary: lost-heartbeat, bridge joins the
				   LAN, proxy takeover, announce-self */
	HB_PLAN_SOLO,		/* primary: lost-heartbeat, proxy solo */
	HB_PLAN_FENCE,		/* stop our VM */
	HB_PLAN_REPROTECT,	/* primary alone: proxy promote, COLO
				   migration to the peer's waiting VM */
};

/* What the daemon sees at one moment. peer_* describe the peer's last
 * fresh message and are meaningful only when peer_alive. */
struct hb_view {
	bool peer_alive;	/* fresh on some path within the timeout */
	bool rep_alive;		/* ... on the replication path */
	uint8_t peer_role, peer_state, peer_flags;
	uint64_t peer_term;
	bool vm_up;		/* our VM's QMP is connected */
	bool vm_seen;		/* ... was connected once */
	bool colo;		/* our VM is in COLO */
};

struct hb_fsm {
	int state;		/* enum hb_state */
	int role;		/* HB_ROLE_PRIMARY / HB_ROLE_SECONDARY */
	uint64_t term;
	bool paired;		/* COLO ran on both sides (as primary and
				   secondary) while the peer was alive, since
				   the last role change: there is something
				   to fail over (primary: output is held) */
	bool protected_;	/* primary: paired and the peer is with us */
	int plan;		/* enum hb_plan, while FAILOVER or FENCED */
	bool plan_done;
	uint64_t claim_term;	/* while CLAIMING */
	bool manual;		/* the claim was asked for by hand */
	char why[128];		/* the reason for the last transition */
	uint64_t since_ns;	/* of the current state */
	uint64_t transitions;
};

void hb_fsm_init(struct hb_fsm *f, int role, uint64_t term, uint64_t now_ns);

/* Re-evaluate against V: true if the state changed (see f->why). */
bool hb_fsm_eval(struct hb_fsm *f, const struct hb_view *v, uint64_t now_ns);

/* The tie-breaker's answer (enum hb_verdict) about TERM; ignored unless
 * CLAIMING that term. A claim is never withdrawn: once asked, the term
 * may have been granted, so only a grant or a refusal ends CLAIMING. */
bool hb_fsm_verdict(struct hb_fsm *f, int verdict, uint64_t term,
		    const char *why, uint64_t now_ns);

/* The current plan's actions have all completed. */
bool hb_fsm_plan_done(struct hb_fsm *f, uint64_t now_ns);

/* Fail over by hand (the tie-breaker still decides); false (ERR) where
 * that means nothing, or where the secondary would make a second server
 * (V: the primary is alive with its VM). */
bool hb_fsm_manual(struct hb_fsm *f, const struct hb_view *v, uint64_t now_ns,
		   char *err, size_t len);

const char *hb_state_name(int state);
const char *hb_plan_name(int plan);

/* ---- the witness -------------------------------------------------------- */

#define HB_ARB_NODES 2	/* node ids 1 and 2 */

struct hb_arbiter {
	uint64_t timeout_ns;	/* silence after which a node is gone */
	uint64_t start_ns;	/* grants to a secondary wait one timeout */
	uint64_t term;		/* the highest term decided or seen */
	int holder;		/* node granted (or seen primary at) term */
	struct {
		bool seen;
		uint64_t last_ns;
		uint8_t role, state, flags;
		uint64_t term;
	} node[HB_ARB_NODES + 1];
	uint64_t grants, refusals, deferrals;
};

void hb_arb_init(struct hb_arbiter *a, uint64_t timeout_ns, uint64_t now_ns);

/* A fresh heartbeat from NODE (1 or 2). */
void hb_arb_beat(struct hb_arbiter *a, int node, uint8_t role, uint8_t state,
		 uint8_t flags, uint64_t term, uint64_t now_ns);

/*
 * NODE, in ROLE, claims TERM: an enum hb_verdict. Granted at most once
 * per term (a repeated claim by the holder is granted again); refused if
 * the term (or a later one) went to the other node. A primary is granted
 * otherwise; a secondary only once the primary has been silent for the
 * timeout (counted from the witness's own start too) or reports its VM
 * lost or itself fenced, deferred until then. WHY says which.
 */
int hb_arb_claim(struct hb_arbiter *a, int node, uint8_t role, uint64_t term,
		  uint64_t now_ns, char *why, size_t len);

#endif /* HEARTBEAT_FSM_H */
