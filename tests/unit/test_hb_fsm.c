/*
 * test_hb_fsm.c - colo-heartbeat's role state machine (hb_fsm_*) and the
 * witness's arbiter (hb_arb_*), heartbeat/fsm.c, on an injected clock:
 * the secondary (pairing, term adoption, claims, verdicts, the takeover
 * plan), the primary (protection, claims, the solo plan, fencing),
 * VM_LOST from any state, manual failover, and the arbiter's grants,
 * refusals and deferrals.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>
#include <unistd.h>

#include "heartbeat/fsm.h"
#include "heartbeat/hbmsg.h"

#define MS 1000000ULL
#define T0 (1000 * MS)
#define UP (HB_F_VM_UP | HB_F_COLO)

static void watchdog(void)
{
	alarm(30);
}

TestSuite(hb_secondary, .init = watchdog);
TestSuite(hb_primary, .init = watchdog);
TestSuite(hb_fsm, .init = watchdog);
TestSuite(hb_manual, .init = watchdog);
TestSuite(hb_arb, .init = watchdog);

/* The peer alive on every path, in ROLE/STATE with FLAGS at TERM; our VM
 * up and in COLO. */
static struct hb_view peer(uint8_t role, uint8_t state, uint8_t flags,
			   uint64_t term)
{
	struct hb_view v = {
		.peer_alive = true, .rep_alive = true, .peer_role = role,
		.peer_state = state, .peer_flags = flags, .peer_term = term,
		.vm_up = true, .vm_seen = true, .colo = true,
	};
	return v;
}

static struct hb_view silent(void)
{
	struct hb_view v = { .vm_up = true, .vm_seen = true, .colo = true };

	return v;
}

static struct hb_view a_primary(uint64_t term)
{
	return peer(HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, term);
}

static struct hb_view a_secondary(uint64_t term)
{
	return peer(HB_ROLE_SECONDARY, HB_S_SECONDARY, UP, term);
}

static void state_is(const struct hb_fsm *f, int state)
{
	cr_assert_eq(f->state, state, "state %s, want %s (%s)",
		     hb_state_name(f->state), hb_state_name(state), f->why);
}

/* A secondary at TERM that has paired with its primary. */
static void paired_secondary(struct hb_fsm *f, uint64_t term)
{
	struct hb_view v = a_primary(term);

	hb_fsm_init(f, HB_ROLE_SECONDARY, term, T0);
	cr_assert_not(hb_fsm_eval(f, &v, T0 + MS));
	cr_assert(f->paired);
	state_is(f, HB_S_SECONDARY);
}

/* A primary at TERM, paired and protected. */
static void paired_primary(struct hb_fsm *f, uint64_t term)
{
	struct hb_view v = a_secondary(term);

	hb_fsm_init(f, HB_ROLE_PRIMARY, term, T0);
	cr_assert_not(hb_fsm_eval(f, &v, T0 + MS));
	cr_assert(f->paired);
	cr_assert(f->protected_);
	state_is(f, HB_S_PRIMARY);
}

/* ---- secondary ------------------------------------------------------------- */

Test(hb_secondary, init)
{
	struct hb_fsm f;

	hb_fsm_init(&f, HB_ROLE_SECONDARY, 3, T0);
	state_is(&f, HB_S_SECONDARY);
	cr_assert_eq(f.role, HB_ROLE_SECONDARY);
	cr_assert_eq(f.term, 3);
	cr_assert_not(f.paired);
	cr_assert_eq(f.plan, HB_PLAN_NONE);
	cr_assert_eq(f.since_ns, T0);
	cr_assert_eq(f.transitions, 0);
	cr_assert_str_eq(f.why, "started as secondary");
}

Test(hb_secondary, unpaired_never_claims)
{
	struct hb_fsm f;
	struct hb_view views[] = {
		silent(), a_primary(0),
		peer(HB_ROLE_PRIMARY, HB_S_PRIMARY, 0, 0),
		peer(HB_ROLE_PRIMARY, HB_S_FENCED, UP, 0),
		peer(HB_ROLE_PRIMARY, HB_S_VM_LOST, UP, 0),
	};

	hb_fsm_init(&f, HB_ROLE_SECONDARY, 0, T0);
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		views[i].colo = false;		/* never paired */
		for (int k = 0; k < 10; k++)
			cr_assert_not(hb_fsm_eval(&f, &views[i],
						  T0 + (uint64_t)k * MS));
		state_is(&f, HB_S_SECONDARY);
		cr_assert_not(f.paired);
	}
	cr_assert_eq(f.transitions, 0);
}

Test(hb_secondary, unpaired_adopts_higher_term)
{
	struct hb_fsm f;
	struct hb_view v = a_primary(7);

	v.colo = false;
	hb_fsm_init(&f, HB_ROLE_SECONDARY, 2, T0);
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + MS));
	cr_assert_eq(f.term, 7);
	state_is(&f, HB_S_SECONDARY);
	v.peer_term = 5;		/* never down */
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 2 * MS));
	cr_assert_eq(f.term, 7);
	/* a secondary's term is not adopted */
	v = a_secondary(9);
	v.colo = false;
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 3 * MS));
	cr_assert_eq(f.term, 7);
	/* then COLO starts: paired at the adopted term, nothing else */
	v = a_primary(7);
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 4 * MS));
	state_is(&f, HB_S_SECONDARY);
	cr_assert(f.paired);
	cr_assert_eq(f.term, 7);
}

/*
 * Regression (found by this suite, fixed in fsm.c): a secondary daemon
 * (re)started beside a running COLO, whose first
 * view of the primary already has colo (every daemon starts at term 1,
 * hb.c hb_fsm_init(..., 1, ...), while the primary may be at term 2 after
 * an earlier failover), is FENCED instead of adopting the term: hb_fsm_eval
 * sets paired (v->colo && v->peer_alive) before eval_secondary() runs, so
 * eval_secondary() sees "paired and the primary went on alone" and stops
 * our VM, ending the protection (heartbeat/fsm.c, hb_fsm_eval(): the
 * "f->paired = true" above the switch; eval_secondary(): the
 * "if (!f->paired)" adoption). Input: hb_fsm_init(SECONDARY, term 1), then
 * one view {peer alive, rep alive, primary, PRIMARY, VM_UP|COLO, term 2,
 * vm up, colo}. Expected SECONDARY, paired, term 2; got FENCED (plan fence).
 */
Test(hb_secondary, adopts_term_when_first_seen_in_colo)
{
	struct hb_fsm f;
	struct hb_view v = a_primary(2);

	hb_fsm_init(&f, HB_ROLE_SECONDARY, 1, T0);
	hb_fsm_eval(&f, &v, T0 + MS);
	state_is(&f, HB_S_SECONDARY);
	cr_assert_eq(f.term, 2);
	cr_assert(f.paired);
}

/* What pairs: COLO on our VM, the peer alive, in COLO, in the other role. */
struct pair_case {
	int role;		/* ours */
	bool colo, alive;
	uint8_t peer_role, peer_flags;
	bool pairs;
};

static struct pair_case pair_cases[] = {
	{ HB_ROLE_SECONDARY, true, true, HB_ROLE_PRIMARY, UP, true },
	{ HB_ROLE_SECONDARY, false, true, HB_ROLE_PRIMARY, UP, false },
	{ HB_ROLE_SECONDARY, true, false, HB_ROLE_PRIMARY, UP, false },
	{ HB_ROLE_SECONDARY, true, true, HB_ROLE_PRIMARY, HB_F_VM_UP, false },
	{ HB_ROLE_SECONDARY, true, true, HB_ROLE_SECONDARY, UP, false },
	{ HB_ROLE_PRIMARY, true, true, HB_ROLE_SECONDARY, UP, true },
	{ HB_ROLE_PRIMARY, false, true, HB_ROLE_SECONDARY, UP, false },
	{ HB_ROLE_PRIMARY, true, false, HB_ROLE_SECONDARY, UP, false },
	{ HB_ROLE_PRIMARY, true, true, HB_ROLE_SECONDARY, HB_F_VM_UP, false },
	{ HB_ROLE_PRIMARY, true, true, HB_ROLE_PRIMARY, UP, false },
};

ParameterizedTestParameters(hb_fsm, pairing)
{
	return cr_make_param_array(struct pair_case, pair_cases,
				   sizeof(pair_cases) / sizeof(pair_cases[0]));
}

ParameterizedTest(struct pair_case *c, hb_fsm, pairing)
{
	struct hb_fsm f;
	struct hb_view v = peer(c->peer_role, c->peer_role ==
				HB_ROLE_PRIMARY ? HB_S_PRIMARY :
				HB_S_SECONDARY, c->peer_flags, 1);

	v.colo = c->colo;
	v.peer_alive = c->alive;
	hb_fsm_init(&f, c->role, 1, T0);
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + MS));
	cr_assert_eq(f.paired, c->pairs, "%s: colo %d alive %d peer %s %#x",
		     hb_role_name(c->role), c->colo, c->alive,
		     hb_role_name(c->peer_role), c->peer_flags);
	state_is(&f, c->role == HB_ROLE_PRIMARY ? HB_S_PRIMARY :
		 HB_S_SECONDARY);
}

/* COLO running while the peer was never heard does not pair (a daemon
 * started beside a running COLO must not take silence for a death). */
Test(hb_secondary, colo_without_peer_does_not_pair)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	hb_fsm_init(&f, HB_ROLE_SECONDARY, 1, T0);
	for (int k = 0; k < 10; k++)
		cr_assert_not(hb_fsm_eval(&f, &v, T0 + (uint64_t)k * MS));
	state_is(&f, HB_S_SECONDARY);
	cr_assert_not(f.paired);
	hb_fsm_init(&f, HB_ROLE_PRIMARY, 1, T0);
	for (int k = 0; k < 10; k++)
		cr_assert_not(hb_fsm_eval(&f, &v, T0 + (uint64_t)k * MS));
	state_is(&f, HB_S_PRIMARY);
	cr_assert_not(f.paired);
}

Test(hb_secondary, paired_then_peer_silent_claims)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	paired_secondary(&f, 4);
	v.colo = false;		/* COLO ends with the primary: still paired */
	cr_assert(hb_fsm_eval(&f, &v, T0 + 10 * MS));
	state_is(&f, HB_S_CLAIMING);
	cr_assert_eq(f.claim_term, 5);
	cr_assert_eq(f.term, 4);
	cr_assert_eq(f.since_ns, T0 + 10 * MS);
	cr_assert_eq(f.transitions, 1);
	cr_assert_not(f.manual);
	cr_assert(f.why[0]);
}

/* The primary alive but reporting its VM gone, in several ways. */
struct peer_report {
	uint8_t state, flags;
	bool claims;
};

static struct peer_report sec_reports[] = {
	{ HB_S_PRIMARY, 0, true },
	{ HB_S_PRIMARY, HB_F_COLO, true },
	{ HB_S_PRIMARY, HB_F_COLO | HB_F_SERVING, true },
	{ HB_S_FENCED, UP, true },
	{ HB_S_VM_LOST, UP, true },
	{ HB_S_VM_LOST, 0, true },
	{ HB_S_PRIMARY, HB_F_VM_UP, false },	/* COLO off, VM up */
	{ HB_S_PRIMARY, UP, false },
	{ HB_S_PRIMARY, HB_F_ALL, false },
	{ HB_S_CLAIMING, UP, false },
	{ HB_S_FAILOVER, UP, false },
};

ParameterizedTestParameters(hb_secondary, primary_reports)
{
	return cr_make_param_array(struct peer_report, sec_reports,
				   sizeof(sec_reports) /
				   sizeof(sec_reports[0]));
}

ParameterizedTest(struct peer_report *c, hb_secondary, primary_reports)
{
	struct hb_fsm f;
	struct hb_view v;

	paired_secondary(&f, 4);
	v = peer(HB_ROLE_PRIMARY, c->state, c->flags, 4);
	cr_assert_eq(hb_fsm_eval(&f, &v, T0 + 5 * MS), c->claims,
		     "state %s flags %#x", hb_state_name(c->state), c->flags);
	state_is(&f, c->claims ? HB_S_CLAIMING : HB_S_SECONDARY);
	if (c->claims)
		cr_assert_eq(f.claim_term, 5);
}

Test(hb_secondary, peer_primary_at_higher_term_fences)
{
	struct hb_fsm f;
	struct hb_view v = a_primary(5);

	paired_secondary(&f, 4);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	state_is(&f, HB_S_FENCED);
	cr_assert_eq(f.plan, HB_PLAN_FENCE);
	cr_assert_not(f.plan_done);
	cr_assert_eq(f.term, 4);
	/* FENCED is final: nothing moves it */
	struct hb_view again[] = { silent(), a_primary(9), a_secondary(9) };
	for (size_t i = 0; i < 3; i++)
		cr_assert_not(hb_fsm_eval(&f, &again[i], T0 + 6 * MS));
	state_is(&f, HB_S_FENCED);
	cr_assert_not(hb_fsm_plan_done(&f, T0 + 7 * MS));
	cr_assert(f.plan_done);
	state_is(&f, HB_S_FENCED);
}

Test(hb_secondary, grant_takeover_then_primary)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	paired_secondary(&f, 4);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	cr_assert(hb_fsm_verdict(&f, HB_GRANT, 5, "granted", T0 + 6 * MS));
	state_is(&f, HB_S_FAILOVER);
	cr_assert_eq(f.plan, HB_PLAN_TAKEOVER);
	cr_assert_not(f.plan_done);
	cr_assert_eq(f.term, 5);
	cr_assert_str_eq(f.why, "granted");
	cr_assert_eq(f.role, HB_ROLE_SECONDARY);	/* until it is done */
	/* evaluations do not disturb a running plan */
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 7 * MS));
	state_is(&f, HB_S_FAILOVER);
	cr_assert(hb_fsm_plan_done(&f, T0 + 8 * MS));
	state_is(&f, HB_S_PRIMARY);
	cr_assert_eq(f.role, HB_ROLE_PRIMARY);
	cr_assert_not(f.paired);
	cr_assert_not(f.protected_);
	cr_assert(f.plan_done);
	cr_assert_eq(f.term, 5);
	cr_assert_eq(f.since_ns, T0 + 8 * MS);
	cr_assert_eq(f.transitions, 3);
	/* alone (our VM left COLO): a silent peer is no reason to claim */
	v.colo = false;
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 10 * MS));
	state_is(&f, HB_S_PRIMARY);
}

Test(hb_secondary, refuse_fences)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	paired_secondary(&f, 4);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	cr_assert(hb_fsm_verdict(&f, HB_REFUSE, 5, "refused", T0 + 6 * MS));
	state_is(&f, HB_S_FENCED);
	cr_assert_eq(f.plan, HB_PLAN_FENCE);
	cr_assert_eq(f.term, 4);
	cr_assert_str_eq(f.why, "refused");
}

Test(hb_secondary, defer_and_other_terms_ignored)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	paired_secondary(&f, 4);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	cr_assert_not(hb_fsm_verdict(&f, HB_DEFER, 5, "wait", T0 + 6 * MS));
	state_is(&f, HB_S_CLAIMING);
	static const uint64_t terms[] = { 0, 3, 4, 6, UINT64_MAX };
	for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++) {
		cr_assert_not(hb_fsm_verdict(&f, HB_GRANT, terms[i], "x",
					     T0 + 7 * MS));
		cr_assert_not(hb_fsm_verdict(&f, HB_REFUSE, terms[i], "x",
					     T0 + 7 * MS));
		state_is(&f, HB_S_CLAIMING);
	}
	cr_assert_eq(f.term, 4);
	cr_assert_eq(f.claim_term, 5);
	cr_assert_eq(f.transitions, 1);
	cr_assert(hb_fsm_verdict(&f, HB_GRANT, 5, "ok", T0 + 8 * MS));
	state_is(&f, HB_S_FAILOVER);
}

Test(hb_secondary, verdict_when_not_claiming_ignored)
{
	struct hb_fsm f;

	paired_secondary(&f, 4);
	cr_assert_not(hb_fsm_verdict(&f, HB_GRANT, 5, "x", T0 + 5 * MS));
	cr_assert_not(hb_fsm_verdict(&f, HB_REFUSE, 5, "x", T0 + 5 * MS));
	state_is(&f, HB_S_SECONDARY);
	cr_assert_eq(f.term, 4);
	cr_assert_not(hb_fsm_plan_done(&f, T0 + 6 * MS));
	state_is(&f, HB_S_SECONDARY);
	cr_assert_eq(f.role, HB_ROLE_SECONDARY);
}

Test(hb_secondary, peer_back_while_claiming_keeps_claim)
{
	struct hb_fsm f;
	struct hb_view v = silent();
	struct hb_view back[] = { a_primary(4), a_primary(5), a_primary(6),
				  a_secondary(4) };

	paired_secondary(&f, 4);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		cr_assert_not(hb_fsm_eval(&f, &back[i], T0 + 6 * MS));
		state_is(&f, HB_S_CLAIMING);
		cr_assert_eq(f.claim_term, 5);
	}
	cr_assert(hb_fsm_verdict(&f, HB_REFUSE, 5, "no", T0 + 7 * MS));
	state_is(&f, HB_S_FENCED);
}

/* ---- primary --------------------------------------------------------------- */

Test(hb_primary, init_unpaired)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	hb_fsm_init(&f, HB_ROLE_PRIMARY, 2, T0);
	state_is(&f, HB_S_PRIMARY);
	cr_assert_str_eq(f.why, "started as primary");
	v.colo = false;
	for (int k = 0; k < 5; k++)	/* alone: nothing to fail over */
		cr_assert_not(hb_fsm_eval(&f, &v, T0 + (uint64_t)k * MS));
	v = a_secondary(2);
	v.colo = false;
	v.rep_alive = false;
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 6 * MS));
	state_is(&f, HB_S_PRIMARY);
	cr_assert_not(f.paired);
	cr_assert_not(f.protected_);
}

/* protected_ = paired && colo && peer alive && peer is the secondary */
struct prot_case {
	bool pair_first;	/* paired by an earlier view */
	bool alive, colo;
	uint8_t role;
	bool want;
};

static struct prot_case prot_cases[] = {
	{ false, true, true, HB_ROLE_SECONDARY, true },	/* pairs now */
	{ false, true, false, HB_ROLE_SECONDARY, false },
	{ false, false, false, HB_ROLE_SECONDARY, false },
	{ false, true, true, HB_ROLE_PRIMARY, false },
	{ false, true, true, HB_ROLE_WITNESS, false },
	{ true, true, true, HB_ROLE_SECONDARY, true },
};

ParameterizedTestParameters(hb_primary, protected_computed)
{
	return cr_make_param_array(struct prot_case, prot_cases,
				   sizeof(prot_cases) / sizeof(prot_cases[0]));
}

ParameterizedTest(struct prot_case *c, hb_primary, protected_computed)
{
	struct hb_fsm f;
	struct hb_view v = peer(c->role, HB_S_SECONDARY, UP, 2);

	hb_fsm_init(&f, HB_ROLE_PRIMARY, 2, T0);
	if (c->pair_first) {
		struct hb_view p = a_secondary(2);

		hb_fsm_eval(&f, &p, T0);
	}
	v.peer_alive = c->alive;
	v.colo = c->colo;
	hb_fsm_eval(&f, &v, T0 + MS);
	cr_assert_eq(f.protected_, c->want);
	if (c->want)
		cr_assert(f.paired);
}

/* What makes a paired primary claim. */
struct prim_case {
	const char *what;
	bool alive, rep, colo;
	uint8_t state, flags;
	bool claims;
};

static struct prim_case prim_cases[] = {
	{ "all well", true, true, true, HB_S_SECONDARY, UP, false },
	{ "peer silent", false, false, true, HB_S_SECONDARY, UP, true },
	{ "peer silent, rep up?", false, true, true, HB_S_SECONDARY, UP,
	  true },
	{ "replication path down", true, false, true, HB_S_SECONDARY, UP,
	  true },
	{ "peer VM lost (no VM_UP)", true, true, true, HB_S_SECONDARY,
	  HB_F_COLO, true },
	{ "peer state VM_LOST", true, true, true, HB_S_VM_LOST, UP, true },
	{ "peer state FENCED", true, true, true, HB_S_FENCED, UP, true },
	{ "local COLO ended", true, true, false, HB_S_SECONDARY, UP, true },
	{ "peer claiming", true, true, true, HB_S_CLAIMING, UP, false },
};

ParameterizedTestParameters(hb_primary, claims)
{
	return cr_make_param_array(struct prim_case, prim_cases,
				   sizeof(prim_cases) / sizeof(prim_cases[0]));
}

ParameterizedTest(struct prim_case *c, hb_primary, claims)
{
	struct hb_fsm f;
	struct hb_view v = peer(HB_ROLE_SECONDARY, c->state, c->flags, 3);

	paired_primary(&f, 3);
	v.peer_alive = c->alive;
	v.rep_alive = c->rep;
	v.colo = c->colo;
	cr_assert_eq(hb_fsm_eval(&f, &v, T0 + 5 * MS), c->claims, "%s",
		     c->what);
	state_is(&f, c->claims ? HB_S_CLAIMING : HB_S_PRIMARY);
	if (c->claims) {
		cr_assert_eq(f.claim_term, 4, "%s", c->what);
		cr_assert_eq(f.term, 3);
	}
}

/*
 * Regression (found by this suite, fixed; status only): a paired primary that
 * claims because the
 * replication path is down, or because the secondary reports its VM
 * gone, keeps protected_ == true through CLAIMING and FAILOVER (and
 * coloctl/hbctl report "protected": true). heartbeat/fsm.c,
 * eval_primary(): protected_ is computed from peer_alive/colo/role only,
 * before the claim, and claim()/fence() do not clear it (only VM_LOST and
 * plan_done do). Input: paired_primary(term 3), then a view with the
 * secondary alive, rep_alive false (or peer_flags without HB_F_VM_UP).
 * Expected protected_ false; got true.
 */
Test(hb_primary, not_protected_once_claiming)
{
	struct hb_fsm f;
	struct hb_view v = a_secondary(3);

	paired_primary(&f, 3);
	v.rep_alive = false;
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	state_is(&f, HB_S_CLAIMING);
	cr_assert_not(f.protected_, "claiming (replication down) yet "
		      "protected");
	paired_primary(&f, 3);
	v = a_secondary(3);
	v.peer_flags = HB_F_COLO;
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	cr_assert_not(f.protected_, "claiming (peer VM gone) yet protected");
}

Test(hb_primary, grant_solo_then_alone)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	paired_primary(&f, 3);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	cr_assert(hb_fsm_verdict(&f, HB_GRANT, 4, "granted", T0 + 6 * MS));
	state_is(&f, HB_S_FAILOVER);
	cr_assert_eq(f.plan, HB_PLAN_SOLO);
	cr_assert_eq(f.term, 4);
	cr_assert(hb_fsm_plan_done(&f, T0 + 7 * MS));
	state_is(&f, HB_S_PRIMARY);
	cr_assert_eq(f.role, HB_ROLE_PRIMARY);
	cr_assert_not(f.paired);
	cr_assert_not(f.protected_);
	cr_assert_eq(f.term, 4);
	cr_assert_eq(f.plan, HB_PLAN_SOLO);	/* kept for the record */
	cr_assert(f.plan_done);
	/* the old secondary, reappearing at the old term, changes nothing */
	v = a_secondary(3);
	v.colo = false;
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + 8 * MS));
	state_is(&f, HB_S_PRIMARY);
}

Test(hb_primary, refuse_fences)
{
	struct hb_fsm f;
	struct hb_view v = a_secondary(3);

	paired_primary(&f, 3);
	v.rep_alive = false;
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	cr_assert(hb_fsm_verdict(&f, HB_REFUSE, 4, "to node 2", T0 + 6 * MS));
	state_is(&f, HB_S_FENCED);
	cr_assert_eq(f.plan, HB_PLAN_FENCE);
}

Test(hb_primary, newer_primary_fences)
{
	struct hb_fsm f;
	struct hb_view v = a_primary(4);

	paired_primary(&f, 3);
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	state_is(&f, HB_S_FENCED);
	cr_assert_eq(f.plan, HB_PLAN_FENCE);
	cr_assert_not(f.plan_done);
	cr_assert_eq(f.term, 3);
	/* unpaired too, and before any other rule */
	hb_fsm_init(&f, HB_ROLE_PRIMARY, 3, T0);
	v.colo = false;
	v.rep_alive = false;
	cr_assert(hb_fsm_eval(&f, &v, T0 + 5 * MS));
	state_is(&f, HB_S_FENCED);
}

Test(hb_primary, peer_primary_same_or_lower_term_ignored)
{
	struct hb_fsm f;
	struct hb_view v;

	hb_fsm_init(&f, HB_ROLE_PRIMARY, 5, T0);
	for (uint64_t t = 0; t <= 5; t++) {
		v = a_primary(t);
		v.colo = false;
		cr_assert_not(hb_fsm_eval(&f, &v, T0 + t));
		state_is(&f, HB_S_PRIMARY);
	}
}

/* ---- VM_LOST ------------------------------------------------------------- */

/* Bring F, paired, to STATE. */
static void reach(struct hb_fsm *f, int state)
{
	struct hb_view v = silent();

	switch (state) {
	case HB_S_SECONDARY:
		paired_secondary(f, 1);
		break;
	case HB_S_PRIMARY:
		paired_primary(f, 1);
		break;
	case HB_S_CLAIMING:
	case HB_S_FAILOVER:
		paired_secondary(f, 1);
		cr_assert(hb_fsm_eval(f, &v, T0 + 2 * MS));
		if (state == HB_S_FAILOVER)
			cr_assert(hb_fsm_verdict(f, HB_GRANT, 2, "g",
						 T0 + 3 * MS));
		break;
	case HB_S_FENCED:
		paired_secondary(f, 1);
		v = a_primary(2);
		cr_assert(hb_fsm_eval(f, &v, T0 + 2 * MS));
		break;
	}
	state_is(f, state);
}

struct lost_case {
	int from;
	bool lost;
};

static struct lost_case lost_cases[] = {
	{ HB_S_SECONDARY, true }, { HB_S_PRIMARY, true },
	{ HB_S_CLAIMING, true }, { HB_S_FAILOVER, true },
	{ HB_S_FENCED, false },
};

ParameterizedTestParameters(hb_fsm, vm_lost_from)
{
	return cr_make_param_array(struct lost_case, lost_cases,
				   sizeof(lost_cases) / sizeof(lost_cases[0]));
}

ParameterizedTest(struct lost_case *c, hb_fsm, vm_lost_from)
{
	struct hb_fsm f;
	struct hb_view v = a_secondary(1);

	reach(&f, c->from);
	v.vm_up = false;
	cr_assert_eq(hb_fsm_eval(&f, &v, T0 + 10 * MS), c->lost, "from %s",
		     hb_state_name(c->from));
	state_is(&f, c->lost ? HB_S_VM_LOST : c->from);
	if (!c->lost)
		return;
	cr_assert_not(f.protected_);
	cr_assert_eq(f.since_ns, T0 + 10 * MS);
	/* terminal: nothing leads out, not even the VM coming back */
	struct hb_view after[] = { a_secondary(1), a_primary(9), silent() };
	for (size_t i = 0; i < 3; i++) {
		cr_assert_not(hb_fsm_eval(&f, &after[i], T0 + 11 * MS));
		state_is(&f, HB_S_VM_LOST);
	}
	cr_assert_not(hb_fsm_verdict(&f, HB_GRANT, f.claim_term, "g",
				     T0 + 12 * MS));
	cr_assert_not(hb_fsm_plan_done(&f, T0 + 12 * MS));
	state_is(&f, HB_S_VM_LOST);
}

Test(hb_fsm, vm_not_yet_seen_is_not_lost)
{
	struct hb_fsm f;
	struct hb_view v = silent();

	v.vm_up = v.vm_seen = false;
	v.colo = false;
	hb_fsm_init(&f, HB_ROLE_SECONDARY, 0, T0);
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + MS));
	state_is(&f, HB_S_SECONDARY);
	hb_fsm_init(&f, HB_ROLE_PRIMARY, 0, T0);
	cr_assert_not(hb_fsm_eval(&f, &v, T0 + MS));
	state_is(&f, HB_S_PRIMARY);
}

Test(hb_fsm, names)
{
	static const char *const st[] = { "?", "secondary", "primary",
		"claiming", "failover", "fenced", "vm-lost", "?" };

	for (int s = 0; s <= HB_S_MAX; s++)
		cr_assert_str_eq(hb_state_name(s), st[s]);
	cr_assert_str_eq(hb_state_name(-1), "?");
	cr_assert_str_eq(hb_plan_name(HB_PLAN_NONE), "none");
	cr_assert_str_eq(hb_plan_name(HB_PLAN_TAKEOVER), "takeover");
	cr_assert_str_eq(hb_plan_name(HB_PLAN_SOLO), "solo");
	cr_assert_str_eq(hb_plan_name(HB_PLAN_FENCE), "fence");
	cr_assert_str_eq(hb_plan_name(99), "none");
}

/* ---- manual failover ------------------------------------------------------ */

/* The view the manual request is made in. */
enum { V_SILENT, V_PRIMARY_UP, V_PRIMARY_VM_DOWN, V_SECONDARY_UP };

static struct hb_view manual_view(int which)
{
	switch (which) {
	case V_PRIMARY_UP:
		return a_primary(1);
	case V_PRIMARY_VM_DOWN:
		return peer(HB_ROLE_PRIMARY, HB_S_PRIMARY, HB_F_COLO, 1);
	case V_SECONDARY_UP:
		return a_secondary(1);
	}
	return silent();
}

struct manual_case {
	int state;		/* reached with reach(), or 0: unpaired */
	int role;		/* for state 0 */
	int view;
	bool ok;
};

static struct manual_case manual_cases[] = {
	/* a paired secondary, only when no primary serves */
	{ HB_S_SECONDARY, 0, V_SILENT, true },
	{ HB_S_SECONDARY, 0, V_PRIMARY_VM_DOWN, true },
	{ HB_S_SECONDARY, 0, V_PRIMARY_UP, false },
	/* a paired primary goes on alone whatever the secondary does */
	{ HB_S_PRIMARY, 0, V_SECONDARY_UP, true },
	{ HB_S_PRIMARY, 0, V_SILENT, true },
	{ HB_S_CLAIMING, 0, V_SILENT, false },
	{ HB_S_FAILOVER, 0, V_SILENT, false },
	{ HB_S_FENCED, 0, V_SILENT, false },
	{ 0, HB_ROLE_PRIMARY, V_SECONDARY_UP, false },	/* unpaired */
	{ 0, HB_ROLE_PRIMARY, V_SILENT, false },
	{ 0, HB_ROLE_SECONDARY, V_SILENT, false },
	{ 0, HB_ROLE_SECONDARY, V_PRIMARY_VM_DOWN, false },
};

ParameterizedTestParameters(hb_manual, by_state)
{
	return cr_make_param_array(struct manual_case, manual_cases,
				   sizeof(manual_cases) /
				   sizeof(manual_cases[0]));
}

ParameterizedTest(struct manual_case *c, hb_manual, by_state)
{
	struct hb_fsm f;
	struct hb_view v = manual_view(c->view);
	char err[256] = "";
	int before;
	uint64_t term;

	if (c->state)
		reach(&f, c->state);
	else
		hb_fsm_init(&f, c->role, 1, T0);
	before = f.state;
	term = f.term;
	cr_assert_eq(hb_fsm_manual(&f, &v, T0 + 20 * MS, err, sizeof(err)),
		     c->ok, "%s, view %d: %s", hb_state_name(before), c->view,
		     err);
	if (c->ok) {
		state_is(&f, HB_S_CLAIMING);
		cr_assert(f.manual);
		cr_assert_eq(f.claim_term, term + 1);
		cr_assert_eq(f.since_ns, T0 + 20 * MS);
	} else {
		cr_assert_eq(f.state, before);
		cr_assert(err[0], "refused without a reason");
	}
}

Test(hb_manual, vm_lost_refused)
{
	struct hb_fsm f;
	struct hb_view v = silent();
	char err[256] = "";

	paired_secondary(&f, 1);
	v.vm_up = false;
	cr_assert(hb_fsm_eval(&f, &v, T0 + 2 * MS));
	cr_assert_not(hb_fsm_manual(&f, &v, T0 + 3 * MS, err, sizeof(err)));
	cr_assert(err[0]);
	state_is(&f, HB_S_VM_LOST);
}

Test(hb_manual, granted_manual_claim_runs_and_clears)
{
	struct hb_fsm f;
	struct hb_view v = a_secondary(6);
	char err[256];

	paired_primary(&f, 6);
	cr_assert(hb_fsm_manual(&f, &v, T0 + 2 * MS, err, sizeof(err)));
	cr_assert_eq(f.claim_term, 7);
	cr_assert(hb_fsm_verdict(&f, HB_GRANT, 7, "g", T0 + 3 * MS));
	cr_assert_eq(f.plan, HB_PLAN_SOLO);
	cr_assert(hb_fsm_plan_done(&f, T0 + 4 * MS));
	cr_assert_not(f.manual);
	cr_assert_eq(f.term, 7);
	/* now unpaired: a second manual failover means nothing */
	cr_assert_not(hb_fsm_manual(&f, &v, T0 + 5 * MS, err, sizeof(err)));
}

/* ---- the arbiter ----------------------------------------------------------- */

#define TMO (500 * MS)

static int claim(struct hb_arbiter *a, int node, uint8_t role, uint64_t term,
		 uint64_t now)
{
	char why[128] = "";
	int v = hb_arb_claim(a, node, role, term, now, why, sizeof(why));

	cr_assert(why[0], "a verdict without a reason");
	return v;
}

/* A witness that has heard both nodes: 1 primary, 2 secondary, term 3. */
static void arb_pair(struct hb_arbiter *a, uint64_t now)
{
	hb_arb_init(a, TMO, now - 10 * TMO);
	hb_arb_beat(a, 1, HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, 3, now);
	hb_arb_beat(a, 2, HB_ROLE_SECONDARY, HB_S_SECONDARY, UP, 3, now);
	cr_assert_eq(a->term, 3);
	cr_assert_eq(a->holder, 1);
}

Test(hb_arb, primary_claim_granted)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	arb_pair(&a, t);
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 4, t + MS), HB_GRANT);
	cr_assert_eq(a.term, 4);
	cr_assert_eq(a.holder, 1);
	cr_assert_eq(a.grants, 1);
	/* the holder asking again (a lost verdict) */
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 4, t + 2 * MS), HB_GRANT);
	cr_assert_eq(a.refusals, 0);
	/* the other node, for that term or an older one */
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 10 * TMO),
		     HB_REFUSE);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 3, t + 10 * TMO),
		     HB_REFUSE);
	cr_assert_eq(claim(&a, 2, HB_ROLE_PRIMARY, 1, t + 10 * TMO),
		     HB_REFUSE);
	cr_assert_eq(a.refusals, 3);
	cr_assert_eq(a.holder, 1);
	cr_assert_eq(a.term, 4);
	/* the holder's claim for an older term is refused too */
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 3, t + 3 * MS), HB_REFUSE);
}

Test(hb_arb, secondary_deferred_while_primary_beats)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	arb_pair(&a, t);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 1), HB_DEFER);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + TMO - 1),
		     HB_DEFER);
	cr_assert_eq(a.deferrals, 2);
	cr_assert_eq(a.term, 3);
	/* the primary beats on: still deferred */
	hb_arb_beat(&a, 1, HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, 3, t + TMO - 1);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + TMO + 5),
		     HB_DEFER);
	/* silent for exactly the timeout: granted */
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 2 * TMO - 1),
		     HB_GRANT);
	cr_assert_eq(a.term, 4);
	cr_assert_eq(a.holder, 2);
	cr_assert_eq(a.grants, 1);
	cr_assert_eq(a.deferrals, 3);
	cr_assert_eq(a.refusals, 0);
	/* and the primary, back, cannot have that term */
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 4, t + 2 * TMO),
		     HB_REFUSE);
	/* but may claim the next one */
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 5, t + 2 * TMO),
		     HB_GRANT);
}

struct gone_case {
	uint8_t state, flags;
	bool at_once;
};

static struct gone_case gone_cases[] = {
	{ HB_S_PRIMARY, UP, false },
	{ HB_S_PRIMARY, HB_F_VM_UP, false },
	{ HB_S_PRIMARY, 0, true },
	{ HB_S_PRIMARY, HB_F_COLO | HB_F_SERVING, true },
	{ HB_S_FENCED, UP, true },
	{ HB_S_VM_LOST, UP, true },
	{ HB_S_CLAIMING, UP, false },
};

ParameterizedTestParameters(hb_arb, primary_reports_vm_gone)
{
	return cr_make_param_array(struct gone_case, gone_cases,
				   sizeof(gone_cases) / sizeof(gone_cases[0]));
}

ParameterizedTest(struct gone_case *c, hb_arb, primary_reports_vm_gone)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	arb_pair(&a, t);
	hb_arb_beat(&a, 1, HB_ROLE_PRIMARY, c->state, c->flags, 3, t + MS);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 2 * MS),
		     c->at_once ? HB_GRANT : HB_DEFER, "state %s flags %#x",
		     hb_state_name(c->state), c->flags);
}

/* A freshly started witness that never heard the primary defers a
 * secondary for one timeout (the primary may be alive and serving). Its
 * never-set flags (0) must not read as "VM gone". */
Test(hb_arb, fresh_witness_defers_secondary_one_timeout)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	hb_arb_init(&a, TMO, t);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 1, t + MS), HB_DEFER,
		     "granted before hearing the primary or waiting");
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 1, t + TMO - 1),
		     HB_DEFER);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 1, t + TMO), HB_GRANT);
}

/* The same, with the claimer known and the other never heard. */
Test(hb_arb, fresh_witness_defers_secondary_heard_only_claimer)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	hb_arb_init(&a, TMO, t);
	hb_arb_beat(&a, 2, HB_ROLE_SECONDARY, HB_S_SECONDARY, UP, 3, t + MS);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 2 * MS),
		     HB_DEFER);
}

Test(hb_arb, fresh_witness_waits_out_the_timeout)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	hb_arb_init(&a, TMO, t);
	cr_assert_eq(claim(&a, 2, HB_ROLE_SECONDARY, 1, t + TMO), HB_GRANT);
	cr_assert_eq(a.holder, 2);
	hb_arb_init(&a, TMO, t);	/* a primary needs no wait */
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 1, t), HB_GRANT);
}

Test(hb_arb, beats_update_term_and_holder)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	hb_arb_init(&a, TMO, t);
	cr_assert_eq(a.term, 0);
	cr_assert_eq(a.holder, 0);
	hb_arb_beat(&a, 2, HB_ROLE_SECONDARY, HB_S_SECONDARY, UP, 9, t);
	cr_assert_eq(a.term, 0);		/* a secondary's term: no */
	cr_assert(a.node[2].seen);
	cr_assert_eq(a.node[2].last_ns, t);
	cr_assert_eq(a.node[2].term, 9);
	cr_assert_eq(a.node[2].flags, UP);
	hb_arb_beat(&a, 1, HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, 5, t + 1);
	cr_assert_eq(a.term, 5);
	cr_assert_eq(a.holder, 1);
	hb_arb_beat(&a, 2, HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, 4, t + 2);
	cr_assert_eq(a.term, 5);		/* lower: no */
	cr_assert_eq(a.holder, 1);
	hb_arb_beat(&a, 2, HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, 7, t + 3);
	cr_assert_eq(a.term, 7);
	cr_assert_eq(a.holder, 2);
	/* node 1 cannot claim what node 2 was seen serving */
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 7, t + 4), HB_REFUSE);
	cr_assert_eq(claim(&a, 2, HB_ROLE_PRIMARY, 7, t + 4), HB_GRANT);
	cr_assert_eq(claim(&a, 1, HB_ROLE_PRIMARY, 8, t + 5), HB_GRANT);
}

Test(hb_arb, nodes_outside_the_pair)
{
	struct hb_arbiter a, before;
	uint64_t t = 100 * TMO;
	static const int bad[] = { 0, 3, -1, 255, 1 << 20 };

	arb_pair(&a, t);
	before = a;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hb_arb_beat(&a, bad[i], HB_ROLE_PRIMARY, HB_S_PRIMARY, UP, 99,
			    t + 1);
		cr_assert_eq(memcmp(&a, &before, sizeof(a)), 0, "beat %d",
			     bad[i]);
		cr_assert_eq(claim(&a, bad[i], HB_ROLE_PRIMARY, 99, t + 2),
			     HB_REFUSE, "claim %d", bad[i]);
		cr_assert_eq(a.refusals, i + 1);
		cr_assert_eq(a.term, 3);
		cr_assert_eq(a.holder, 1);
		before.refusals = a.refusals;
	}
	cr_assert_eq(a.grants, 0);
	cr_assert_eq(a.deferrals, 0);
}

Test(hb_arb, counters)
{
	struct hb_arbiter a;
	uint64_t t = 100 * TMO;

	arb_pair(&a, t);
	claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 1);		/* defer */
	claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 2);		/* defer */
	claim(&a, 1, HB_ROLE_PRIMARY, 4, t + 3);		/* grant */
	claim(&a, 2, HB_ROLE_SECONDARY, 4, t + 4);		/* refuse */
	claim(&a, 0, HB_ROLE_SECONDARY, 9, t + 5);		/* refuse */
	claim(&a, 2, HB_ROLE_SECONDARY, 5, t + 10 * TMO);	/* grant */
	cr_assert_eq(a.deferrals, 2);
	cr_assert_eq(a.grants, 2);
	cr_assert_eq(a.refusals, 2);
}
