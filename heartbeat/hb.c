/*
 * hb: colo-heartbeat's daemon core (see hb.h): sockets, the view, the
 * state machine's consequences, QMP watch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "checkpoint/libvirt.h"
#include "checkpoint/qmp.h"
#include "common/ctl.h"
#include "common/log.h"
#include "common/loop.h"
#include "heartbeat/hb.h"
#include "heartbeat/hbctl.h"
#include "heartbeat/plan.h"
#include "heartbeat/sysact.h"

#define NS_PER_MS 1000000ULL

static const char *const path_names[HB_PATHS] = { "replication", "lan" };

static uint64_t timeout_ns(const struct hb *h)
{
	return h->cf.timeout_ms * NS_PER_MS;
}

/* ---- sending ------------------------------------------------------------- */

static void send_msg(struct hb *h, int fd, const struct cfg_addr *to,
		     struct hb_msg *m, const struct hb_remote *r)
{
	uint8_t wire[HB_WIRE_LEN];
	uint64_t now = loop_now_ns();

	m->pair = h->pair;
	m->node = h->self;
	m->boot = h->sent.boot;
	m->seq = hb_sent_next(&h->sent, now);
	hb_echo(r, now, timeout_ns(h), &m->echo_boot, &m->echo_seq);
	hb_encode(m, h->key, wire);
	if (sendto(fd, wire, sizeof(wire), MSG_DONTWAIT, &to->u.sa,
		   to->len) == (ssize_t)sizeof(wire))
		h->n.tx++;
	else
		h->n.tx_errors++;
}

static uint8_t my_flags(const struct hb *h)
{
	uint8_t f = 0;

	if (h->vm_up)
		f |= HB_F_VM_UP;
	if (h->colo)
		f |= HB_F_COLO;
	if (h->fsm.state == HB_S_PRIMARY)
		f |= HB_F_SERVING;
	if (h->incoming && !h->colo)
		f |= HB_F_READY;
	return f;
}

static void fill_beat(const struct hb *h, struct hb_msg *m, uint8_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->role = (uint8_t)h->fsm.role;
	m->state = (uint8_t)h->fsm.state;
	m->flags = my_flags(h);
	m->term = h->fsm.term;
}

static void send_beats(struct hb *h)
{
	struct hb_msg m;

	fill_beat(h, &m, HB_BEAT);	/* send_msg sets the rest each time */
	for (int i = 0; i < HB_PATHS; i++) {
		if (h->path[i].fd < 0)
			continue;
		m.path = (uint8_t)i;
		send_msg(h, h->path[i].fd, &h->cf.peer[i], &m, &h->rx_peer);
	}
	if (h->wfd >= 0)
		send_msg(h, h->wfd, &h->cf.witness, &m, &h->rx_witness);
}

static bool uses_witness(const struct hb *h)
{
	return h->cf.tiebreak == HB_TB_WITNESS ||
	       h->cf.tiebreak == HB_TB_WITNESS_FENCE;
}

static void send_claim(struct hb *h)
{
	struct hb_msg m;

	if (h->fsm.state != HB_S_CLAIMING || !uses_witness(h) || h->wfd < 0)
		return;
	fill_beat(h, &m, HB_CLAIM);
	m.arg = h->fsm.claim_term;
	send_msg(h, h->wfd, &h->cf.witness, &m, &h->rx_witness);
	h->n.claims_sent++;
}

/* ---- transitions --------------------------------------------------------- */

static void hook_done(void *arg, bool ok, const char *msg)
{
	struct hb *h = arg;

	if (!ok) {
		h->n.hooks_failed++;
		log_warnx("hook failed: %s", msg);
	} else {
		log_debug("hook: %s", msg);
	}
}

static void run_hook(struct hb *h, const char *prog, const char *event,
		     const char *from, uint64_t timeout_ms, sysact_done_cb *cb)
{
	char env[8][160];
	char *envp[9];

	snprintf(env[0], sizeof(env[0]), "COLO_PAIR=%s", h->cf.name);
	snprintf(env[1], sizeof(env[1]), "COLO_NODE=%s",
		 hb_node_name(h->self));
	snprintf(env[2], sizeof(env[2]), "COLO_ROLE=%s",
		 hb_role_name(h->fsm.role));
	snprintf(env[3], sizeof(env[3]), "COLO_STATE=%s",
		 hb_state_name(h->fsm.state));
	snprintf(env[4], sizeof(env[4]), "COLO_FROM=%s", from);
	snprintf(env[5], sizeof(env[5]), "COLO_TERM=%llu",
		 (unsigned long long)h->fsm.term);
	snprintf(env[6], sizeof(env[6]), "COLO_REASON=%s", h->fsm.why);
	snprintf(env[7], sizeof(env[7]), "COLO_PEER=%s",
		 hb_node_name(h->peer));
	for (int i = 0; i < 8; i++)
		envp[i] = env[i];
	envp[8] = NULL;
	h->n.hooks_run++;
	if (hooks_run(h->hooks, prog, event, envp, timeout_ms, cb, h) < 0)
		log_warnx("cannot run %s: out of memory", prog);
}

static void transition(struct hb *h, int from);

static void on_plan_done(void *arg)
{
	struct hb *h = arg;
	int from = h->fsm.state;

	if (plan_kind(h->plan) == HB_PLAN_REPROTECT) {
		/* pairing follows from the view: COLO here and at the peer */
		log_warnx("reprotect: COLO runs with the peer's VM after %.1f s",
			  (double)(loop_now_ns() - plan_started_ns(h->plan)) /
			  1e9);
		return;
	}
	if (h->fsm.state == HB_S_FAILOVER && h->fail_started_ns)
		h->last_failover_us = (loop_now_ns() - h->fail_started_ns) /
				      1000;
	/* x-colo-lost-heartbeat ended COLO: do not wait for the next poll
	 * to know it (a stale "in COLO" would pair us with nobody) */
	h->colo = false;
	if (hb_fsm_plan_done(&h->fsm, loop_now_ns()))
		transition(h, from);
}

/* A plan only ever follows a finished one (FAILOVER and FENCED are left
 * only when their plan is done), so the last can go: no callback of it
 * is outstanding. */
static void start_plan(struct hb *h, int kind)
{
	plan_free(h->plan);
	h->plan = NULL;
	if (plan_start(&h->plan, h->loop, &h->cf, h->qmp, kind, on_plan_done,
		       h) < 0)
		log_warnx("cannot start the %s plan: out of memory",
			  hb_plan_name(kind));
}

static void fence_hook_done(void *arg, bool ok, const char *msg);

/* A libvirt fence ended (OK: the peer's VM cannot serve); LAST_FENCE
 * already says how. */
static void lv_fence_outcome(struct hb *h, bool ok)
{
	h->fence_job = NULL;
	if (ok) {
		h->n.libvirt_fences++;
		log_warnx("fence (libvirt): %s", h->last_fence);
	} else {
		h->n.libvirt_fence_failures++;
		log_warnx("fence (libvirt) failed: %s", h->last_fence);
	}
	if (!h->fence_required)
		return;		/* best effort, beside the takeover */
	h->fence_required = false;
	fence_hook_done(h, ok, h->last_fence);
}

static void lv_fence_done(void *arg, enum lv_fence_result r, const char *msg)
{
	struct hb *h = arg;

	snprintf(h->last_fence, sizeof(h->last_fence), "%s: %s",
		 lv_fence_result_name(r), msg);
	lv_fence_outcome(h, r == LV_FENCE_DESTROYED ||
			    r == LV_FENCE_NOT_RUNNING);
}

/* Destroy the peer's domain through its libvirtd ([fence]). REQUIRED:
 * the claim waits for the result (mode = fence); else it runs beside the
 * takeover, for what it is worth. */
static void lv_fence(struct hb *h, bool required)
{
	if (h->fence_job)
		return;		/* one at a time; its result counts */
	log_warnx("fencing the peer through libvirt: destroy %s at %s%s",
		  h->cf.fence_domain, h->cf.fence_uri,
		  required ? "" : " (best effort, beside the takeover)");
	h->fence_required = required;
	if (lv_destroy_start(h->loop, h->cf.fence_uri, h->cf.fence_domain,
			     h->cf.fence_lv_timeout_ms, lv_fence_done, h,
			     &h->fence_job) < 0) {
		snprintf(h->last_fence, sizeof(h->last_fence),
			 "cannot start: %s", strerror(errno));
		lv_fence_outcome(h, false);
	}
}

static void fence_peer(struct hb *h)
{
	if (!h->cf.fence_hook[0]) {
		h->fenced_term = h->fsm.claim_term;
		lv_fence(h, true);
		return;
	}
	log_warnx("fencing the peer: %s fence", h->cf.fence_hook);
	run_hook(h, h->cf.fence_hook, "fence", hb_state_name(h->fsm.state),
		 h->cf.fence_timeout_ms, fence_hook_done);
}

static void fence_retry(struct loop *loop, uint64_t id, void *arg)
{
	struct hb *h = arg;

	(void)loop;
	(void)id;
	if (h->fsm.state == HB_S_CLAIMING)
		fence_peer(h);
}

static void grant(struct hb *h, const char *why)
{
	int from = h->fsm.state;

	if (hb_fsm_verdict(&h->fsm, HB_GRANT, h->fsm.claim_term, why,
			   loop_now_ns()))
		transition(h, from);
}

static void fence_hook_done(void *arg, bool ok, const char *msg)
{
	struct hb *h = arg;

	if (h->fsm.state != HB_S_CLAIMING)
		return;
	if (ok) {
		grant(h, h->cf.fence_hook[0] ? "the peer is fenced (fence hook)"
					     : "the peer's VM is fenced "
					       "(libvirt)");
		return;
	}
	if (h->cf.fence_hook[0])
		h->n.hooks_failed++;
	log_warnx("%s failed (%s): not taking over; again in %llu ms",
		  h->cf.fence_hook[0] ? "fence hook" : "fence (libvirt)", msg,
		  (unsigned long long)h->cf.retry_ms);
	loop_add_timer(h->loop, h->cf.retry_ms, 0, fence_retry, h, NULL);
}

/* The tie-breaker's part once CLAIMING starts. */
static void start_claim(struct hb *h)
{
	h->fail_started_ns = loop_now_ns();
	switch (h->cf.tiebreak) {
	case HB_TB_NONE:
		grant(h, "no tie-breaker configured (mode = none)");
		break;
	case HB_TB_FENCE:
		fence_peer(h);
		break;
	default:
		send_claim(h);
	}
}

static void transition(struct hb *h, int from)
{
	const struct hb_fsm *f = &h->fsm;

	log_warnx("state %s -> %s (term %llu): %s", hb_state_name(from),
		  hb_state_name(f->state), (unsigned long long)f->term, f->why);
	if (h->cf.hook[0])
		run_hook(h, h->cf.hook, hb_state_name(f->state),
			 hb_state_name(from), h->cf.hook_timeout_ms, hook_done);
	switch (f->state) {
	case HB_S_CLAIMING:
		start_claim(h);
		break;
	case HB_S_FAILOVER:
		h->n.failovers++;
		start_plan(h, f->plan);
		/* the peer's VM must not serve beside ours: destroy it if its
		 * libvirtd answers (unless the claim has just done so) */
		if (h->cf.fence_domain[0] && !(h->fenced_term &&
					       h->fenced_term == f->term))
			lv_fence(h, false);
		break;
	case HB_S_FENCED:
		h->n.fences++;
		start_plan(h, HB_PLAN_FENCE);
		break;
	case HB_S_VM_LOST:
		h->n.vm_lost++;
		break;
	case HB_S_PRIMARY:
		if (h->last_failover_us)
			log_warnx("failover took %.1f ms from the decision to "
				  "the last step", h->last_failover_us / 1000.0);
		break;
	}
	send_beats(h);	/* tell the peer and the witness at once */
}

/* ---- the view ------------------------------------------------------------ */

static void refresh_paths(struct hb *h, uint64_t now)
{
	for (int i = 0; i < HB_PATHS; i++) {
		struct hb_path *p = &h->path[i];
		bool up = p->fd >= 0 && p->last_fresh_ns &&
			  now - p->last_fresh_ns <= timeout_ns(h);

		if (up == p->up)
			continue;
		p->up = up;
		if (up) {
			p->ups++;
			log_info("path %s: up", path_names[i]);
		} else {
			p->downs++;
			log_warnx("path %s: down (nothing fresh for %llu ms)",
				  path_names[i],
				  (unsigned long long)h->cf.timeout_ms);
		}
	}
}

static void build_view(struct hb *h, struct hb_view *v, uint64_t now)
{
	memset(v, 0, sizeof(*v));
	refresh_paths(h, now);
	for (int i = 0; i < HB_PATHS; i++)
		v->peer_alive |= h->path[i].up;
	v->rep_alive = h->path[0].up;
	v->peer_role = h->peer_msg.role;
	v->peer_state = h->peer_msg.state;
	v->peer_flags = h->peer_msg.flags;
	v->peer_term = h->peer_msg.term;
	v->vm_up = h->vm_up;
	v->vm_seen = h->vm_seen;
	v->colo = h->colo;
}

/* Why a re-protection cannot start now (NULL: it can). */
static const char *reprotect_blocker(const struct hb *h,
				     const struct hb_view *v)
{
	if (h->fsm.state != HB_S_PRIMARY)
		return "this node is not the primary";
	if (h->fsm.paired)
		return "already paired: COLO runs with the peer";
	if (h->plan && !plan_finished(h->plan))
		return "a plan is under way (see coloctl heartbeat)";
	if (!v->peer_alive)
		return "the peer is silent on every path";
	if (v->peer_role != HB_ROLE_SECONDARY ||
	    v->peer_state != HB_S_SECONDARY)
		return "the peer is not a secondary (start its colo-heartbeat "
		       "with role = secondary)";
	if (v->peer_term != h->fsm.term)
		return "the peer has not adopted our term yet";
	if (!(v->peer_flags & HB_F_READY))
		return "the peer's VM is not waiting for a COLO migration "
		       "(start its QEMU with -incoming, and its colo-proxy as "
		       "secondary)";
	return NULL;
}

static void start_reprotect(struct hb *h)
{
	h->reprotect_ms = loop_now_ms();
	h->n.reprotects++;
	log_warnx("reprotect: pairing with the peer's VM at %s",
		  h->cf.reprotect_uri);
	start_plan(h, HB_PLAN_REPROTECT);
}

bool hb_reprotect(struct hb *h, char *err, size_t errlen)
{
	struct hb_view v;
	const char *why;

	build_view(h, &v, loop_now_ns());
	if ((why = reprotect_blocker(h, &v)) != NULL) {
		snprintf(err, errlen, "cannot re-protect: %s", why);
		return false;
	}
	if (!h->cf.reprotect_uri[0]) {
		snprintf(err, errlen, "cannot re-protect: no [reprotect] uri "
			 "(nor [failover] colo_port to make one of)");
		return false;
	}
	start_reprotect(h);
	return true;
}

/* Our VM waits for a COLO migration (-incoming): turn COLO on in it, so
 * that the peer can re-protect (HB_F_READY). */
static void on_incoming_caps(void *arg, json_t *ret, const char *ecls,
			     const char *edesc)
{
	struct hb *h = arg;

	(void)ret;
	if (ecls) {
		log_warnx("VM: migrate-set-capabilities x-colo: %s: %s", ecls,
			  edesc ? edesc : "");
		return;
	}
	if (!h->incoming)
		log_info("VM: waiting for a COLO migration (x-colo set)");
	h->incoming = true;
}

static void on_run_status(void *arg, json_t *ret, const char *ecls,
			  const char *edesc)
{
	struct hb *h = arg;
	const char *st = json_string_value(json_object_get(ret, "status"));

	(void)edesc;
	if (ecls || !st)
		return;
	if (strcmp(st, "inmigrate") != 0) {
		h->incoming = false;
		return;
	}
	if (!h->incoming)
		qmp_command(h->qmp, "migrate-set-capabilities", json_pack(
			    "{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities",
			    "capability", "x-colo", "state", 1, "capability",
			    "events", "state", 1), on_incoming_caps, h);
}

static void evaluate(struct hb *h)
{
	uint64_t now = loop_now_ns();
	struct hb_view v;
	int from = h->fsm.state;

	if (h->self == 3)
		return;
	build_view(h, &v, now);
	if (hb_fsm_eval(&h->fsm, &v, now)) {
		transition(h, from);
		return;
	}
	/* [reprotect] auto: at most one start per 10 s (a plan retries its
	 * own steps; this only restarts one that ended without pairing) */
	if (h->cf.reprotect_auto && h->cf.reprotect_uri[0] &&
	    !reprotect_blocker(h, &v) &&
	    (!h->reprotect_ms || loop_now_ms() - h->reprotect_ms >= 10000))
		start_reprotect(h);
}

/* ---- receiving ----------------------------------------------------------- */

static void reclaim(struct loop *loop, uint64_t id, void *arg)
{
	struct hb *h = arg;

	(void)loop;
	(void)id;
	h->reclaim_timer = 0;
	send_claim(h);
}

static void on_witness_msg(struct hb *h, const struct hb_msg *m)
{
	int from = h->fsm.state;

	h->witness_last_ns = loop_now_ns();
	if (m->type != HB_VERDICT)
		return;
	if (m->verdict == HB_GRANT)
		h->n.grants++;
	else if (m->verdict == HB_REFUSE)
		h->n.refusals++;
	else
		h->n.deferrals++;
	snprintf(h->last_verdict, sizeof(h->last_verdict), "%s for term %llu",
		 m->verdict == HB_GRANT ? "granted" : m->verdict == HB_REFUSE ?
		 "refused" : "deferred", (unsigned long long)m->arg);
	if (h->fsm.state != HB_S_CLAIMING || m->arg != h->fsm.claim_term)
		return;
	if (m->verdict == HB_DEFER) {
		if (h->n.deferrals == 1 || log_getverbose() > 1)
			log_info("witness: term %llu deferred (the peer still "
				 "looks alive to it); asking again",
				 (unsigned long long)m->arg);
		/* the peer's last word may be on its way to the witness: ask
		 * again soon rather than a whole interval later */
		if (!h->reclaim_timer &&
		    loop_add_timer(h->loop, 10, 0, reclaim, h,
				   &h->reclaim_timer) < 0)
			h->reclaim_timer = 0;
		return;
	}
	if (m->verdict == HB_GRANT && h->cf.tiebreak == HB_TB_WITNESS_FENCE) {
		fence_peer(h);
		return;
	}
	if (hb_fsm_verdict(&h->fsm, m->verdict, m->arg, m->verdict == HB_GRANT ?
			   "the witness granted the term" :
			   "the witness gave the term to the peer",
			   loop_now_ns()))
		transition(h, from);
}

/* The witness: record beats, answer claims. */
static void witness_msg(struct hb *h, const struct hb_msg *m,
			const struct sockaddr *from, socklen_t flen)
{
	struct cfg_addr to = { .len = flen };
	struct hb_msg r;
	char why[128];

	memcpy(&to.u, from, flen);
	hb_arb_beat(&h->arb, m->node, m->role, m->state, m->flags, m->term,
		    loop_now_ns());
	memset(&r, 0, sizeof(r));
	r.role = HB_ROLE_WITNESS;
	r.state = HB_S_PRIMARY;
	r.term = h->arb.term;
	if (m->type == HB_CLAIM) {
		r.type = HB_VERDICT;
		r.arg = m->arg;
		r.verdict = (uint8_t)hb_arb_claim(&h->arb, m->node, m->role,
						  m->arg, loop_now_ns(), why,
						  sizeof(why));
		if (r.verdict != HB_DEFER || h->arb.deferrals == 1 ||
		    log_getverbose() > 1)
			log_warnx("claim by node %s for term %llu: %s (%s)",
				  hb_node_name(m->node),
				  (unsigned long long)m->arg,
				  r.verdict == HB_GRANT ? "granted" :
				  r.verdict == HB_REFUSE ? "refused" :
				  "deferred", why);
		h->n.verdicts_sent++;
	} else {
		r.type = HB_BEAT;
	}
	send_msg(h, h->wfd, &to, &r, &h->rx_node[m->node]);
}

static struct hb_remote *remote_of(struct hb *h, uint8_t node)
{
	if (h->self == 3)
		return node <= 2 ? &h->rx_node[node] : NULL;
	if (node == h->peer)
		return &h->rx_peer;
	return node == 3 ? &h->rx_witness : NULL;
}

static void count_decode(struct hb *h, enum hb_decode d)
{
	if (d == HB_BAD_MAC)
		h->n.rx_forged++;
	else if (d == HB_BAD_PAIR)
		h->n.rx_other_pair++;
	else
		h->n.rx_malformed++;
	log_debug("datagram dropped: %s", hb_decode_name(d));
}

static void handle(struct hb *h, int pi, const uint8_t *buf, size_t len,
		   const struct sockaddr *from, socklen_t flen)
{
	struct hb_remote *r;
	struct hb_msg m;
	enum hb_decode d = hb_decode(buf, len, h->key, h->pair, &m);
	enum hb_accept a;
	bool late;

	h->n.rx++;
	if (d != HB_OK) {
		count_decode(h, d);
		return;
	}
	if (!(r = remote_of(h, m.node))) {
		h->n.rx_unexpected++;
		return;
	}
	late = r->boot && m.boot == r->boot && m.seq < r->last_seq;
	a = hb_accept(r, &m, &h->sent, loop_now_ns(), timeout_ns(h));
	if (a == HB_REPLAYED) {
		h->n.rx_replayed++;
		return;
	}
	if (late)
		h->n.rx_late++;
	if (a == HB_UNPROVEN) {
		h->n.rx_unproven++;
		if (h->self == 3 && m.type == HB_BEAT)
			witness_msg(h, &m, from, flen);	/* let it prove */
		return;
	}
	h->n.rx_fresh++;
	if (h->self == 3) {
		witness_msg(h, &m, from, flen);
		return;
	}
	if (m.node == 3) {
		on_witness_msg(h, &m);
		return;
	}
	if (pi >= 0) {
		h->path[pi].last_fresh_ns = loop_now_ns();
		h->path[pi].rx_fresh++;
	}
	if (m.type == HB_BEAT) {
		h->peer_msg = m;
		h->peer_seen = true;
	}
	evaluate(h);
}

static void on_readable(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct hb *h = arg;
	struct sockaddr_storage ss;
	uint8_t buf[512];
	socklen_t sl;
	ssize_t n;
	int pi = -1;

	(void)loop;
	(void)events;
	for (int i = 0; i < HB_PATHS; i++)
		if (h->path[i].fd == fd)
			pi = i;
	for (int k = 0; k < 64; k++) {
		sl = sizeof(ss);
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&ss, &sl);
		if (n < 0)
			return;
		handle(h, pi, buf, (size_t)n, (struct sockaddr *)&ss, sl);
	}
}

/* ---- timers -------------------------------------------------------------- */

static void on_beat(struct loop *loop, uint64_t id, void *arg)
{
	struct hb *h = arg;

	(void)loop;
	(void)id;
	send_beats(h);
	send_claim(h);
}

static void on_colo_status(void *arg, json_t *ret, const char *ecls,
			   const char *edesc)
{
	struct hb *h = arg;
	const char *mode = json_string_value(json_object_get(ret, "mode"));

	(void)edesc;
	h->colo_asking = false;
	if (ecls || !mode)
		return;
	/* QEMU may send a COLO event between computing its answer and
	 * sending it: the event is the newer word (an answer "none" read
	 * just before COLO started would read as COLO ended) */
	if (h->colo_events != h->colo_events_asked)
		return;
	h->colo = strcmp(mode, "none") != 0;
	evaluate(h);
}

static void ask_colo_status(struct hb *h)
{
	if (h->colo_asking)
		return;
	h->colo_events_asked = h->colo_events;
	h->colo_asking = qmp_command(h->qmp, "query-colo-status", NULL,
				     on_colo_status, h) == 0;
}

/* FENCED: our VM must stay stopped. QEMU may resume it on its own (the
 * secondary's COLO thread does when the primary closes the channel), so
 * the stop is checked once a second and repeated. */
static void on_fenced_status(void *arg, json_t *ret, const char *ecls,
			     const char *edesc)
{
	struct hb *h = arg;
	json_t *running = json_object_get(ret, "running");

	(void)edesc;
	if (ecls || !json_is_true(running) || h->fsm.state != HB_S_FENCED ||
	    (h->plan && !h->fsm.plan_done))
		return;
	h->n.fences++;
	log_warnx("fenced, yet our VM runs again: stopping it again");
	h->fsm.plan_done = false;
	start_plan(h, HB_PLAN_FENCE);
}

static void on_tick(struct loop *loop, uint64_t id, void *arg)
{
	struct hb *h = arg;
	uint64_t now = loop_now_ms();

	(void)loop;
	(void)id;
	evaluate(h);
	/* the COLO mode once a second, in case an event was missed */
	if (qmp_is_ready(h->qmp) && now - h->colo_poll_ms >= 1000) {
		h->colo_poll_ms = now;
		ask_colo_status(h);
		if (h->fsm.state == HB_S_FENCED)
			qmp_command(h->qmp, "query-status", NULL,
				    on_fenced_status, h);
		else if (h->fsm.state == HB_S_SECONDARY && !h->fsm.paired &&
			 !h->colo)
			qmp_command(h->qmp, "query-status", NULL,
				    on_run_status, h);
	}
}

/* ---- QMP ----------------------------------------------------------------- */

/* End a [vm] libvirt_grace under way: true if one was. */
static bool vm_grace_stop(struct hb *h)
{
	if (!h->vm_grace_timer)
		return false;
	loop_del_timer(h->loop, h->vm_grace_timer);
	h->vm_grace_timer = 0;
	return true;
}

static void vm_ready(void *arg)
{
	struct hb *h = arg;

	if (!h->vm_seen)
		log_info("VM: QMP connected (%s)", h->cf.vm_domain[0] ?
			 h->cf.vm_domain : h->cf.qmp);
	if (vm_grace_stop(h))
		log_warnx("VM: libvirtd reached again, the VM still runs");
	h->vm_up = h->vm_seen = true;
	ask_colo_status(h);
}

/* Our VM is gone (or going): said in every heartbeat from now on. */
static void vm_lost(struct hb *h)
{
	vm_grace_stop(h);
	h->vm_up = false;
	h->incoming = false;
	evaluate(h);
}

/* A SHUTDOWN event's DATA: QEMU exits at the host's request (a signal,
 * QMP quit, its UI, a host error), not at its guest's. */
static bool host_shutdown(const json_t *data)
{
	const char *why = json_string_value(json_object_get(data, "reason"));

	return why && !json_is_true(json_object_get(data, "guest")) &&
	       !strncmp(why, "host-", 5);
}

static void vm_event(void *arg, const char *event, json_t *data,
		     uint64_t ts_us)
{
	struct hb *h = arg;
	const char *s = json_string_value(json_object_get(data, "status"));

	(void)ts_us;
	if (!strcmp(event, "COLO_EXIT")) {
		log_warnx("VM: COLO_EXIT (mode %s, reason %s)",
			  json_string_value(json_object_get(data, "mode")),
			  json_string_value(json_object_get(data, "reason")));
		h->colo = false;
		h->colo_events++;
	} else if (!strcmp(event, "MIGRATION") && s && !strcmp(s, "colo")) {
		h->colo = true;
		h->colo_events++;
	} else if (!strcmp(event, "SHUTDOWN") && host_shutdown(data)) {
		/* SIGTERM (an operator's stop, libvirt's destroy), QMP quit:
		 * QEMU exits. It cancels COLO on its way out (COLO_EXIT,
		 * reason error), which must not read as a replication
		 * failure that we would survive alone: our VM is lost now,
		 * and the peer takes over. (A guest's own power-off is left
		 * to COLO, which powers both VMs off.) */
		log_warnx("VM: QEMU is shutting down (reason %s): our VM is "
			  "taken for lost", json_string_value(json_object_get(
				  data, "reason")));
		vm_lost(h);
		return;
	} else {
		return;
	}
	evaluate(h);
}

static void vm_grace_over(struct loop *loop, uint64_t id, void *arg)
{
	struct hb *h = arg;

	(void)loop, (void)id;
	h->vm_grace_timer = 0;
	if (qmp_is_ready(h->qmp))
		return;
	log_warnx("VM: libvirtd still out of reach after %llu ms: the VM is "
		  "taken for lost", (unsigned long long)h->cf.vm_grace_ms);
	vm_lost(h);
}

static void vm_down(void *arg, const char *why)
{
	struct hb *h = arg;

	/* Through libvirt, losing libvirtd (restarted, upgraded) says
	 * nothing about QEMU: the VM is taken for up while the client
	 * reconnects, for [vm] libvirt_grace. The domain stopping ends
	 * it at once. */
	if (h->vm_up && qmp_down_transport(h->qmp) && h->cf.vm_grace_ms) {
		if (!h->vm_grace_timer) {
			log_warnx("VM: %s; the VM is taken for up for %llu ms "
				  "while reconnecting", why,
				  (unsigned long long)h->cf.vm_grace_ms);
			loop_add_timer(h->loop, h->cf.vm_grace_ms, 0,
				       vm_grace_over, h, &h->vm_grace_timer);
		}
		return;
	}
	if (h->vm_up)
		log_warnx("VM: QMP lost: %s", why);
	vm_lost(h);
}

bool hb_fail_by_hand(struct hb *h, char *err, size_t errlen)
{
	uint64_t now = loop_now_ns();
	int from = h->fsm.state;
	struct hb_view v;

	build_view(h, &v, now);
	if (!hb_fsm_manual(&h->fsm, &v, now, err, errlen))
		return false;
	transition(h, from);
	return true;
}

/* ---- start / stop -------------------------------------------------------- */

static int udp_socket(struct hb *h, const struct cfg_addr *local, char *err,
		      size_t errlen, const char *what)
{
	int fd = socket(local->u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0);
	int prio = 6;	/* TC_PRIO_INTERACTIVE */

	if (fd < 0 || bind(fd, &local->u.sa, local->len) < 0) {
		snprintf(err, errlen, "%s: bind: %s", what, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio));
	if (loop_add_fd(h->loop, fd, LOOP_READ, on_readable, NULL, h) < 0) {
		close(fd);
		snprintf(err, errlen, "%s: event loop", what);
		return -1;
	}
	return fd;
}

static int start_node(struct hb *h, char *err, size_t errlen)
{
	struct qmp_config qc = { .timeout_ms = h->cf.qmp_timeout_ms,
				 .reconnect_ms = 200 };
	struct qmp_events ev = { vm_ready, vm_event, vm_down, h };
	uint64_t tick = h->cf.interval_ms / 4;

	for (int i = 0; i < HB_PATHS; i++)
		if (h->cf.local[i].len &&
		    (h->path[i].fd = udp_socket(h, &h->cf.local[i], err,
						errlen, path_names[i])) < 0)
			return -1;
	if (uses_witness(h))
		h->wfd = h->path[h->path[1].fd >= 0 ? 1 : 0].fd;
	snprintf(qc.name, sizeof(qc.name), "vm");
	snprintf(qc.path, sizeof(qc.path), "%s", h->cf.qmp);
	snprintf(qc.uri, sizeof(qc.uri), "%s", h->cf.vm_uri);
	snprintf(qc.domain, sizeof(qc.domain), "%s", h->cf.vm_domain);
	if (qmp_new(h->loop, &qc, &ev, &h->qmp, err, errlen) < 0)
		return -1;
	if (hooks_new(h->loop, &h->hooks) < 0) {
		snprintf(err, errlen, "cannot watch hook programs (SIGCHLD)");
		return -1;
	}
	hb_fsm_init(&h->fsm, h->cf.role == 0 ? HB_ROLE_PRIMARY :
		    HB_ROLE_SECONDARY, 1, loop_now_ns());
	loop_add_timer(h->loop, h->cf.interval_ms, h->cf.interval_ms, on_beat,
		       h, &h->beat_timer);
	tick = tick < 1 ? 1 : tick > 10 ? 10 : tick;
	loop_add_timer(h->loop, tick, tick, on_tick, h, &h->tick_timer);
	send_beats(h);
	return 0;
}

int hb_start(struct hb *h, struct loop *loop, const struct hb_conf *cf,
	     const uint8_t key[HB_KEY_LEN], char *err, size_t errlen)
{
	uint64_t boot = 0;

	memset(h, 0, sizeof(*h));
	h->loop = loop;
	h->cf = *cf;
	memcpy(h->key, key, HB_KEY_LEN);
	h->pair = hb_pair_id(cf->name);
	h->self = (uint8_t)(cf->node + 1);
	h->peer = h->self == 1 ? 2 : 1;
	h->path[0].fd = h->path[1].fd = h->wfd = -1;
	while (!boot)
		randombytes_buf(&boot, sizeof(boot));
	hb_sent_init(&h->sent, boot);
	if (h->self == 3) {
		hb_arb_init(&h->arb, timeout_ns(h), loop_now_ns());
		if ((h->wfd = udp_socket(h, &cf->witness_listen, err, errlen,
					 "witness")) < 0)
			return -1;
	} else if (start_node(h, err, errlen) < 0) {
		return -1;
	}
	return ctl_open(loop, cf->control, hbctl_handle, h, &h->ctl, err,
			errlen) < 0 ? -1 : 0;
}

void hb_stop(struct hb *h)
{
	qmp_free(h->qmp);	/* before the plans: it fails their commands */
	h->qmp = NULL;
	lv_job_cancel(h->fence_job);
	h->fence_job = NULL;
	plan_free(h->plan);
	hooks_free(h->hooks);
	ctl_close(h->ctl);
	for (int i = 0; i < HB_PATHS; i++)
		if (h->path[i].fd >= 0)
			close(h->path[i].fd);
	if (h->self == 3 && h->wfd >= 0)
		close(h->wfd);
	sodium_memzero(h->key, sizeof(h->key));
}
