/*
 * proxy: start-up, tear-down, the loop's hooks and mode changes shared by
 * both roles.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ctl.h"
#include "colo-proxy/proxy.h"
#include "common/log.h"
#include "common/loop.h"

#define TICK_MS 5
#define KSTATS_MS 500

/* The kernel's counters for one queue: any new drop is a loss. */
static uint64_t kstats_loss(struct nfq *q, struct nfq_kstats *last)
{
	struct nfq_kstats k;
	uint64_t lost;

	if (!q || nfq_read_kstats(q, &k) < 0)
		return 0;
	lost = (k.queue_dropped - last->queue_dropped) +
	       (k.user_dropped - last->user_dropped);
	*last = k;
	return lost;
}

static void on_tick(struct loop *loop, uint64_t id, void *arg)
{
	struct proxy *p = arg;
	uint64_t now = loop_now_ns(), ms = now / 1000000u, lost;

	(void)loop;
	(void)id;
	if (ms - p->last_kstats_ms >= KSTATS_MS) {
		p->last_kstats_ms = ms;
		lost = kstats_loss(p->qin, &p->kin) + kstats_loss(p->qout, &p->kout);
		if (lost) {
			p->n.queue_loss += lost;
			log_warnx("the kernel dropped %llu queued packets (queue "
				  "full or netlink delivery failed)",
				  (unsigned long long)lost);
			p->role->ask_checkpoint(p, CKPT_R_QUEUE_LOSS);
		}
	}
	p->role->tick(p, now);
}

static void before_sleep(struct loop *loop, void *arg)
{
	struct proxy *p = arg;

	(void)loop;
	/* verdicts before the channel: the PVM sees its input before the SVM
	 * does.  The other order (tried for latency, no gain measured) made
	 * tests/e2e/libvirt-colo.sh fail in about half of its runs: SYN-ACKs
	 * held until the hold timeout, and once an increment acknowledged
	 * twice across the failover (issue 3's note) */
	if (p->qin && nfq_flush(p->qin) < 0)
		log_warn("queue %d: sending verdicts", p->cf.queue_in);
	if (p->qout && nfq_flush(p->qout) < 0)
		log_warn("queue %d: sending verdicts", p->cf.queue_out);
	chan_flush(p->chan);
}

void proxy_learn_vm_mac(struct proxy *p, const struct nfq_packet *pk)
{
	if (p->cf.has_vm_mac || pk->hwsrc_len != 6)
		return;
	memcpy(p->cf.vm_mac, pk->hwsrc, 6);
	p->cf.has_vm_mac = true;
}

static void on_qin_io(struct loop *loop, int fd, unsigned ev, void *arg)
{
	struct proxy *p = arg;

	(void)loop;
	(void)fd;
	(void)ev;
	nfq_receive(p->qin, p->role->on_qin, p);
}

static void on_qout_io(struct loop *loop, int fd, unsigned ev, void *arg)
{
	struct proxy *p = arg;

	(void)loop;
	(void)fd;
	(void)ev;
	nfq_receive(p->qout, p->role->on_qout, p);
}

/* ---- checkpoint backend events -------------------------------------------- */

/*
 * Secondary: a STOP or RESUME of our SVM that happened (QEMU's clock)
 * before the primary's EPOCH message moved our epoch on (got_epoch) was
 * reported late (libvirt's events can trail the channel by many ms): that
 * checkpoint is already accounted for. Counted again, our epoch would run
 * one ahead of the primary's for good, and every SVM frame would wait for
 * an epoch the PVM never reaches (each answer held to its hold timeout).
 */
static bool accounted(struct proxy *p, const char *what)
{
	uint64_t t = p->ck.event_rt_us;

	if (p->cf.role != ROLE_SECONDARY || !t || !p->caught_up_rt_us ||
	    t > p->caught_up_rt_us)
		return false;
	p->n.late_events++;
	log_info("our SVM's %s (%.3f ms before the primary's epoch message "
		 "moved us to epoch %u) came late: already accounted for",
		 what, (double)(p->caught_up_rt_us - t) / 1000.0, p->epoch);
	return true;
}

static void ev_begin(void *arg)
{
	struct proxy *p = arg;

	if (p->cf.role == ROLE_SECONDARY && p->colo_over)
		return;		/* QEMU stopping its VM at a failover */
	if (accounted(p, "STOP"))
		return;
	log_debug("checkpoint of epoch %u begins", p->epoch);
	if (p->role->begin)
		p->role->begin(p);
}

static void ev_complete(void *arg)
{
	struct proxy *p = arg;

	if (p->cf.role == ROLE_SECONDARY && p->colo_over) {
		/* QEMU's secondary resumes its VM when COLO ends (a failover):
		 * from its own state, not from a checkpoint of the PVM. Its
		 * connections keep their translation: no commit, no reset. */
		log_warnx("the SVM resumed after COLO ended: its own state, "
			  "not a checkpoint; sequence offsets kept");
		return;
	}
	if (accounted(p, "RESUME")) {
		p->ckpt_open = false;
		return;
	}
	p->n.commits++;
	log_debug("epoch %u committed", p->epoch);
	if (p->role->commit)
		p->role->commit(p, p->epoch);
}

/* COLO started or ended in our QEMU (checkpoint backend). */
static void ev_colo(void *arg, bool active, const char *why)
{
	struct proxy *p = arg;

	if (p->cf.role == ROLE_SECONDARY) {
		p->colo_over = !active;
		if (!active && p->ckpt_open && p->rw) {
			/* the checkpoint that began never completed: the SVM
			 * goes on from its own state, with its own offsets */
			log_warnx("COLO ended during a checkpoint: the SVM keeps "
				  "its own state; sequence offsets restored");
			rw_undo_reset(p->rw);
		}
		p->ckpt_open = false;
	}
	if (p->cf.role == ROLE_SECONDARY && !active &&
	    p->mode == MODE_PROTECTED) {
		/* QEMU's primary finds a dead secondary only when it next
		 * tries a checkpoint: ask for one now; and if our SVM's QEMU
		 * is gone, say so: then no takeover can come from here, and
		 * the primary may release what it holds */
		bool gone = p->ck.colo_end == CKPT_END_VM_GONE;

		log_warnx("COLO ended here (%s): asking the primary for a "
			  "checkpoint so that its QEMU finds out%s", why,
			  gone ? " (reason svm_lost: our SVM is gone)" : "");
		p->role->ask_checkpoint(p, gone ? CKPT_R_SVM_LOST :
					CKPT_R_SECONDARY);
		return;
	}
	if (!p->cf.follow_colo || p->cf.role != ROLE_PRIMARY) {
		log_warnx("COLO %s (%s): mode stays %s", active ? "started" :
			  "ended", why, proxy_mode_name(p->mode));
		return;
	}
	if (active) {
		p->colo_lost = p->peer_vm_lost = false;
		if (p->mode == MODE_SOLO) {
			/* the PVM is stopped; the RESUME that follows commits
			 * what it sent so far: the initial migration is the
			 * first checkpoint */
			p->colo_start = true;
			proxy_set_mode(p, MODE_PROTECTED, NULL, 0);
			p->colo_start = false;
		}
		return;
	}
	if (p->mode != MODE_PROTECTED)
		return;
	if (p->ck.colo_end == CKPT_END_REQUEST || p->peer_vm_lost) {
		log_warnx("COLO ended (%s)%s: the PVM runs alone, going solo",
			  why, p->ck.colo_end == CKPT_END_REQUEST ?
			  ", a failover asked of the PVM" :
			  " and the secondary said its VM is gone");
		proxy_set_mode(p, MODE_SOLO, NULL, 0);
	} else {
		/* Releasing now could let out output that the SVM never
		 * confirmed while the SVM takes over (a fence's SIGTERM also
		 * ends COLO in a PVM that still holds answers): it waits for
		 * a decision. */
		p->colo_lost = true;
		p->n.colo_lost++;
		log_warnx("COLO ended (%s): held output stays held until the "
			  "secondary says its VM is gone, a failover is asked of "
			  "the PVM, or the heartbeat or `coloctl mode solo` "
			  "decides (the secondary may be taking over)", why);
	}
}

void proxy_peer_vm_lost(struct proxy *p)
{
	/* colo_lost is only set with follow_colo */
	bool solo = p->colo_lost && p->mode == MODE_PROTECTED;

	p->peer_vm_lost = true;
	p->colo_lost = false;
	log_warnx("the secondary says its VM's QEMU is gone: no takeover can "
		  "come from it%s", solo ? "; going solo" : "");
	if (solo)
		proxy_set_mode(p, MODE_SOLO, NULL, 0);
}

/* ---- start / stop -------------------------------------------------------- */

void proxy_rules_spec(const struct proxy_conf *c, struct rules_spec *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", c->name);
	s->backend = c->firewall == FW_NFT ? RULES_NFT :
		     c->firewall == FW_IPTABLES_LEGACY ? RULES_IPTABLES_LEGACY :
		     RULES_AUTO;
	s->ipv6 = c->ipv6;
	snprintf(s->q[0].port, sizeof(s->q[0].port), "%s", c->vm_port);
	s->q[0].dir = RULES_PHYSDEV_OUT;	/* toward the VM */
	s->q[0].queue_num = (uint16_t)c->queue_in;
	s->q[0].pass_nd = c->pass_nd;
	/* the secondary translates mirrored frames before it injects them */
	if (c->role == ROLE_SECONDARY)
		snprintf(s->q[0].skip_from, sizeof(s->q[0].skip_from), "%s",
			 c->inject_port);
	snprintf(s->q[1].port, sizeof(s->q[1].port), "%s", c->vm_port);
	s->q[1].dir = RULES_PHYSDEV_IN;		/* from the VM */
	s->q[1].queue_num = (uint16_t)c->queue_out;
	/* The secondary answers its SVM's neighbour solicitations itself, so
	 * it must see them; the primary lets them pass (see README). */
	s->q[1].pass_nd = c->pass_nd && c->role == ROLE_PRIMARY;
	s->nq = 2;
}

static int open_queue(struct proxy *p, int num, struct nfq **q, char *err,
		      size_t errlen)
{
	struct nfq_config qc;

	nfq_config_defaults(&qc, (uint16_t)num);
	qc.queue_maxlen = (uint32_t)p->cf.queue_maxlen;
	qc.rcvbuf = (uint32_t)p->cf.rcvbuf;
	qc.gso = true;
	return nfq_open(q, &qc, err, errlen);
}

static int start_channel(struct proxy *p, char *err, size_t errlen)
{
	struct chan_config cc = { 0 };
	struct chan_events ev;

	cc.listen = p->cf.role == ROLE_PRIMARY;
	cc.listen_addr = p->cf.listen;
	cc.peer = p->cf.peer;
	cc.role = cc.listen ? WIRE_ROLE_PRIMARY : WIRE_ROLE_SECONDARY;
	snprintf(cc.name, sizeof(cc.name), "%s", p->cf.name);
	cc.buffer = p->cf.chan_buffer;
	cc.keepalive_ms = p->cf.keepalive_ms;
	cc.timeout_ms = p->cf.chan_timeout_ms;
	cc.reconnect_ms = p->cf.reconnect_ms;
	if (strcmp(p->cf.chan_cc, "system") != 0)
		snprintf(cc.congestion, sizeof(cc.congestion), "%s",
			 p->cf.chan_cc);
	ev = *p->role->chan;
	ev.arg = p;
	return chan_new(p->loop, &cc, &ev, &p->chan, err, errlen);
}

static void ckpt_config_of(const struct proxy_conf *cf, struct ckpt_config *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->kind = cf->backend;
	cc->primary = cf->role == ROLE_PRIMARY;
	snprintf(cc->qmp, sizeof(cc->qmp), "%s", cf->qmp);
	snprintf(cc->lv_uri, sizeof(cc->lv_uri), "%s", cf->lv_uri);
	snprintf(cc->lv_domain, sizeof(cc->lv_domain), "%s", cf->lv_domain);
	cc->timeout_ms = cf->qmp_timeout_ms;
	cc->reconnect_ms = cf->qmp_reconnect_ms;
	cc->period_ms = cf->ckpt_period_ms;
	cc->retry_ms = cf->ckpt_retry_ms;
}

int proxy_start(struct proxy *p, struct loop *loop, const struct proxy_conf *cf,
		char *err, size_t errlen)
{
	struct ckpt_events ev = { ev_begin, ev_complete, ev_colo, p };
	struct ckpt_config cc;
	int r;

	memset(p, 0, offsetof(struct proxy, frame));
	p->cf = *cf;
	p->loop = loop;
	p->mode = cf->mode;
	p->role = cf->role == ROLE_PRIMARY ? &primary_role : &secondary_role;
	p->start_ms = loop_now_ms();
	r = ctl_open(loop, cf->control, proxy_ctl, p, &p->ctl, err, errlen);
	if (r < 0)
		return r;
	ckpt_config_of(cf, &cc);
	r = ckpt_init(&p->ck, loop, &cc, &ev, p->epoch, err, errlen);
	if (r < 0)
		goto fail;
	r = p->role->start(p, err, errlen);
	if (r < 0)
		goto fail;
	if ((r = open_queue(p, cf->queue_in, &p->qin, err, errlen)) < 0 ||
	    (r = open_queue(p, cf->queue_out, &p->qout, err, errlen)) < 0)
		goto fail;
	loop_add_fd(loop, nfq_fd(p->qin), LOOP_READ, on_qin_io, NULL, p);
	loop_add_fd(loop, nfq_fd(p->qout), LOOP_READ, on_qout_io, NULL, p);
	nfq_read_kstats(p->qin, &p->kin);
	nfq_read_kstats(p->qout, &p->kout);
	proxy_rules_spec(cf, &p->rules);
	r = rules_apply(&p->rules, err, errlen);
	if (r < 0)
		goto fail;
	p->rules_on = true;
	log_info("netfilter rules installed (%s): %s %s -> queue %d, "
		 "from %s -> queue %d", rules_backend_name(p->rules.backend),
		 "toward", cf->vm_port, cf->queue_in, cf->vm_port, cf->queue_out);
	r = start_channel(p, err, errlen);
	if (r < 0)
		goto fail;
	r = loop_add_timer(loop, TICK_MS, TICK_MS, on_tick, p, &p->tick_timer);
	if (r < 0)
		goto fail;
	loop_set_before_sleep(loop, before_sleep, p);
	return 0;
fail:
	proxy_stop(p);
	return r;
}

void proxy_stop(struct proxy *p)
{
	char err[512];

	loop_set_before_sleep(p->loop, NULL, NULL);
	if (p->tick_timer)
		loop_del_timer(p->loop, p->tick_timer);
	p->tick_timer = 0;
	if (p->rules_on && rules_remove(&p->rules, err, sizeof(err)) < 0)
		log_warnx("removing the netfilter rules: %s", err);
	p->rules_on = false;
	if (p->role)
		p->role->stop(p);
	if (p->qin) {
		loop_del_fd(p->loop, nfq_fd(p->qin));
		nfq_close(p->qin);
	}
	if (p->qout) {
		loop_del_fd(p->loop, nfq_fd(p->qout));
		nfq_close(p->qout);
	}
	p->qin = p->qout = NULL;
	chan_free(p->chan);
	p->chan = NULL;
	ckpt_fini(&p->ck);
	ctl_close(p->ctl);
	p->ctl = NULL;
}

static void import_one(void *arg, const struct rw_key *k, uint32_t off,
		       uint32_t ts_off)
{
	rw_import(arg, k, off, ts_off, loop_now_ns());
}

/*
 * Secondary (takeover) -> primary (solo), in place: the queues stay bound
 * throughout; the rules are re-applied for the primary (the secondary's
 * injection-port exception goes); the rewriter's translations move to an
 * import_only table; the channel listens; the backend watches QEMU as a
 * primary, so that follow_colo turns protected when COLO starts.
 */
bool proxy_promote(struct proxy *p, char *err, size_t errlen)
{
	struct ckpt_events ev = { ev_begin, ev_complete, ev_colo, p };
	struct proxy_conf cf = p->cf;
	struct ckpt_config cc;
	struct rules_spec rs;
	struct rw_config rc;
	struct rw *legacy;
	size_t n;

	if (p->cf.role == ROLE_PRIMARY)
		return true;
	if (p->mode != MODE_TAKEOVER) {
		snprintf(err, errlen, "only a secondary that took over can "
			 "become the primary (mode is %s)",
			 proxy_mode_name(p->mode));
		return false;
	}
	if (!cf.listen.len || !cf.listen.has_port) {
		snprintf(err, errlen, "[channel] listen is not set: the "
			 "address:port the new secondary will connect to");
		return false;
	}
	rw_config_defaults(&rc);
	rc.max_conns = (uint32_t)cf.rw_max_conns;
	rc.import_only = true;
	if (rw_new(&rc, &legacy) < 0) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	n = rw_export(p->rw, import_one, legacy);
	cf.role = ROLE_PRIMARY;
	cf.mode = MODE_SOLO;
	proxy_rules_spec(&cf, &rs);
	if (rules_apply(&rs, err, errlen) < 0) {
		rw_free(legacy);
		return false;
	}
	p->rules = rs;
	p->role->stop(p);
	chan_free(p->chan);
	p->chan = NULL;
	ckpt_fini(&p->ck);
	p->cf = cf;
	p->mode = MODE_SOLO;
	p->role = &primary_role;
	ckpt_config_of(&cf, &cc);
	if (ckpt_init(&p->ck, p->loop, &cc, &ev, p->epoch, err, errlen) < 0 ||
	    p->role->start(p, err, errlen) < 0 ||
	    start_channel(p, err, errlen) < 0) {
		/* half a primary: solo, its VM still served; say how out */
		rw_free(legacy);
		log_warnx("promotion failed half-way: %s; restart this proxy "
			  "as a primary", err);
		return false;
	}
	p->legacy = legacy;
	p->n.promotions++;
	p->n.mode_changes++;
	log_warnx("promoted: secondary (takeover) -> primary (solo until COLO "
		  "starts); %zu taken-over connections keep their "
		  "translation", n);
	return true;
}

bool proxy_set_mode(struct proxy *p, int mode, char *err, size_t errlen)
{
	if (mode == p->mode)
		return true;
	if (p->cf.role == ROLE_PRIMARY && mode == MODE_TAKEOVER) {
		snprintf(err, errlen, "mode \"takeover\" is for the secondary");
		return false;
	}
	if (p->cf.role == ROLE_SECONDARY && mode != MODE_TAKEOVER) {
		snprintf(err, errlen, "the secondary can only go from "
			 "\"protected\" to \"takeover\"; after a takeover, "
			 "\"promote\" makes it the primary of a new pair");
		return false;
	}
	log_warnx("mode %s -> %s", proxy_mode_name(p->mode),
		  proxy_mode_name(mode));
	p->n.mode_changes++;
	p->role->set_mode(p, mode);
	p->mode = mode;
	return true;
}
