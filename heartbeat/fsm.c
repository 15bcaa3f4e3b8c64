/*
 * fsm: the role state machine and the witness's arbiter (see fsm.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "heartbeat/fsm.h"
#include "heartbeat/hbmsg.h"

static bool go(struct hb_fsm *f, int state, uint64_t now, const char *fmt,
	       ...) __attribute__((format(printf, 4, 5)));

static bool go(struct hb_fsm *f, int state, uint64_t now, const char *fmt,
	       ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	f->state = state;
	f->since_ns = now;
	f->transitions++;
	return true;
}

void hb_fsm_init(struct hb_fsm *f, int role, uint64_t term, uint64_t now_ns)
{
	memset(f, 0, sizeof(*f));
	f->role = role;
	f->term = term;
	f->state = role == HB_ROLE_PRIMARY ? HB_S_PRIMARY : HB_S_SECONDARY;
	f->since_ns = now_ns;
	snprintf(f->why, sizeof(f->why), "started as %s", hb_role_name(role));
}

static bool claim(struct hb_fsm *f, uint64_t now, const char *why)
{
	f->protected_ = false;
	f->claim_term = f->term + 1;
	return go(f, HB_S_CLAIMING, now, "%s", why);
}

static bool fence(struct hb_fsm *f, uint64_t now, const char *why)
{
	f->protected_ = false;
	f->plan = HB_PLAN_FENCE;
	f->plan_done = false;
	return go(f, HB_S_FENCED, now, "%s", why);
}

static bool peer_gone(const struct hb_view *v)
{
	return !(v->peer_flags & HB_F_VM_UP) ||
	       v->peer_state == HB_S_FENCED || v->peer_state == HB_S_VM_LOST;
}

static bool eval_secondary(struct hb_fsm *f, const struct hb_view *v,
			   uint64_t now)
{
	char why[128];

	if (v->peer_alive && v->peer_role == HB_ROLE_PRIMARY &&
	    v->peer_term > f->term) {
		if (!f->paired) {	/* joining a primary: adopt its term */
			f->term = v->peer_term;
			return false;
		}
		snprintf(why, sizeof(why), "the primary went on alone at term "
			 "%llu: we no longer shadow it",
			 (unsigned long long)v->peer_term);
		return fence(f, now, why);
	}
	if (!f->paired)
		return false;	/* nothing to take over yet */
	if (!v->peer_alive)
		return claim(f, now, "the primary is silent on every path");
	if (v->peer_role == HB_ROLE_PRIMARY && peer_gone(v))
		return claim(f, now, "the primary reports its VM gone");
	return false;
}

static bool eval_primary(struct hb_fsm *f, const struct hb_view *v,
			 uint64_t now)
{
	char why[128];

	if (v->peer_alive && v->peer_role == HB_ROLE_PRIMARY &&
	    v->peer_term > f->term) {
		snprintf(why, sizeof(why), "the peer serves at term %llu, we "
			 "are at %llu", (unsigned long long)v->peer_term,
			 (unsigned long long)f->term);
		return fence(f, now, why);
	}
	f->protected_ = f->paired && v->colo && v->peer_alive &&
			v->peer_role == HB_ROLE_SECONDARY;
	if (!f->paired)
		return false;
	if (!v->peer_alive)
		return claim(f, now, "the secondary is silent on every path");
	if (!v->rep_alive)
		return claim(f, now, "the replication link is down (the "
			     "secondary is alive on another path)");
	if (peer_gone(v))
		return claim(f, now, "the secondary reports its VM gone");
	if (!v->colo)
		return claim(f, now, "COLO ended on our VM");
	return false;
}

bool hb_fsm_eval(struct hb_fsm *f, const struct hb_view *v, uint64_t now_ns)
{
	if (f->state == HB_S_VM_LOST)
		return false;
	if (v->vm_seen && !v->vm_up && f->state != HB_S_FENCED) {
		f->protected_ = false;
		return go(f, HB_S_VM_LOST, now_ns, "our VM is lost (its QMP "
			  "connection, or QEMU shutting down)");
	}
	/* a secondary joining (or rejoining after a restart) a primary that
	 * is at a later term: adopt it before pairing, or the term would
	 * read as the primary having gone on without us */
	if (f->state == HB_S_SECONDARY && !f->paired && v->peer_alive &&
	    v->peer_role == HB_ROLE_PRIMARY && v->peer_term > f->term)
		f->term = v->peer_term;
	/* paired: COLO runs and the peer is there to be lost; a daemon that
	 * starts beside a running COLO without ever hearing its peer must not
	 * take silence for a death */
	if (!f->paired && v->colo && v->peer_alive &&
	    (v->peer_flags & HB_F_COLO) &&
	    ((f->state == HB_S_SECONDARY && v->peer_role == HB_ROLE_PRIMARY) ||
	     (f->state == HB_S_PRIMARY && v->peer_role == HB_ROLE_SECONDARY)))
		f->paired = true;
	switch (f->state) {
	case HB_S_SECONDARY:
		return eval_secondary(f, v, now_ns);
	case HB_S_PRIMARY:
		return eval_primary(f, v, now_ns);
	}
	return false;
}

bool hb_fsm_verdict(struct hb_fsm *f, int verdict, uint64_t term,
		    const char *why, uint64_t now_ns)
{
	if (f->state != HB_S_CLAIMING || term != f->claim_term ||
	    verdict == HB_DEFER)
		return false;
	if (verdict != HB_GRANT)
		return fence(f, now_ns, why);
	f->term = term;
	f->plan = f->role == HB_ROLE_PRIMARY ? HB_PLAN_SOLO : HB_PLAN_TAKEOVER;
	f->plan_done = false;
	return go(f, HB_S_FAILOVER, now_ns, "%s", why);
}

bool hb_fsm_plan_done(struct hb_fsm *f, uint64_t now_ns)
{
	f->plan_done = true;
	if (f->state != HB_S_FAILOVER)
		return false;
	f->role = HB_ROLE_PRIMARY;
	f->paired = false;
	f->protected_ = false;
	f->manual = false;
	return go(f, HB_S_PRIMARY, now_ns, "%s done: serving alone at term "
		  "%llu", hb_plan_name(f->plan), (unsigned long long)f->term);
}

bool hb_fsm_manual(struct hb_fsm *f, const struct hb_view *v, uint64_t now_ns,
		   char *err, size_t len)
{
	if (f->state == HB_S_CLAIMING || f->state == HB_S_FAILOVER) {
		snprintf(err, len, "a failover is already under way (%s)",
			 hb_state_name(f->state));
		return false;
	}
	if ((f->state != HB_S_SECONDARY && f->state != HB_S_PRIMARY) ||
	    !f->paired) {
		snprintf(err, len, "nothing to fail over: %s%s",
			 hb_state_name(f->state),
			 f->state == HB_S_PRIMARY ? " and not protected" :
			 f->state == HB_S_SECONDARY ? " and not paired" : "");
		return false;
	}
	if (f->state == HB_S_SECONDARY && v->peer_alive &&
	    (v->peer_flags & HB_F_VM_UP)) {
		snprintf(err, len, "the primary is alive and serving: a "
			 "takeover now would make two; fail over on the "
			 "primary (it goes on alone) or stop it first");
		return false;
	}
	f->manual = true;
	return claim(f, now_ns, "failover asked for by hand");
}

const char *hb_state_name(int state)
{
	static const char *const names[] = {
		[HB_S_SECONDARY] = "secondary", [HB_S_PRIMARY] = "primary",
		[HB_S_CLAIMING] = "claiming", [HB_S_FAILOVER] = "failover",
		[HB_S_FENCED] = "fenced", [HB_S_VM_LOST] = "vm-lost",
	};

	return state > 0 && state < HB_S_MAX ? names[state] : "?";
}

const char *hb_plan_name(int plan)
{
	switch (plan) {
	case HB_PLAN_TAKEOVER: return "takeover";
	case HB_PLAN_SOLO: return "solo";
	case HB_PLAN_FENCE: return "fence";
	case HB_PLAN_REPROTECT: return "reprotect";
	}
	return "none";
}

/* ---- the witness -------------------------------------------------------- */

void hb_arb_init(struct hb_arbiter *a, uint64_t timeout_ns, uint64_t now_ns)
{
	memset(a, 0, sizeof(*a));
	a->timeout_ns = timeout_ns;
	a->start_ns = now_ns;
}

void hb_arb_beat(struct hb_arbiter *a, int node, uint8_t role, uint8_t state,
		 uint8_t flags, uint64_t term, uint64_t now_ns)
{
	if (node < 1 || node > HB_ARB_NODES)
		return;
	a->node[node].seen = true;
	a->node[node].last_ns = now_ns;
	a->node[node].role = role;
	a->node[node].state = state;
	a->node[node].flags = flags;
	a->node[node].term = term;
	if (term > a->term && role == HB_ROLE_PRIMARY) {
		a->term = term;
		a->holder = node;
	}
}

static bool arb_other_gone(const struct hb_arbiter *a, int other,
			   uint64_t now, char *why, size_t len)
{
	uint64_t since = a->node[other].seen ? a->node[other].last_ns :
			 a->start_ns;

	if (now - since >= a->timeout_ns) {
		snprintf(why, len, "node %s silent for %llu ms%s",
			 hb_node_name(other),
			 (unsigned long long)((now - since) / 1000000),
			 a->node[other].seen ? "" : " (never heard)");
		return true;
	}
	if (!a->node[other].seen) {
		snprintf(why, len, "the witness started %llu ms ago: node %s "
			 "may still be alive", (unsigned long long)((now - since)
			 / 1000000), hb_node_name(other));
		return false;
	}
	if (!(a->node[other].flags & HB_F_VM_UP) ||
	    a->node[other].state == HB_S_FENCED ||
	    a->node[other].state == HB_S_VM_LOST) {
		snprintf(why, len, "node %s reports its VM gone (%s)",
			 hb_node_name(other),
			 hb_state_name(a->node[other].state));
		return true;
	}
	snprintf(why, len, "node %s is alive and serving", hb_node_name(other));
	return false;
}

int hb_arb_claim(struct hb_arbiter *a, int node, uint8_t role, uint64_t term,
		 uint64_t now_ns, char *why, size_t len)
{
	int other = node == 1 ? 2 : 1;

	if (node < 1 || node > HB_ARB_NODES) {
		snprintf(why, len, "node %d is not in the pair", node);
		a->refusals++;
		return HB_REFUSE;
	}
	if (term <= a->term) {
		if (term == a->term && a->holder == node) {
			snprintf(why, len, "term %llu is already yours",
				 (unsigned long long)term);
			return HB_GRANT;
		}
		snprintf(why, len, "term %llu was decided for node %s",
			 (unsigned long long)a->term, hb_node_name(a->holder));
		a->refusals++;
		return HB_REFUSE;
	}
	if (role == HB_ROLE_PRIMARY)
		snprintf(why, len, "the primary keeps serving");
	else if (!arb_other_gone(a, other, now_ns, why, len)) {
		a->deferrals++;
		return HB_DEFER;
	}
	a->term = term;
	a->holder = node;
	a->grants++;
	return HB_GRANT;
}
