/*
 * secondary: host B's datapath.
 *
 *   chan FRAME   mirrored input: learn neighbours, write into the tap port
 *                on br0 (the SVM receives it as if from the LAN)
 *   qin  (-> SVM)  rewrite ack/SACK into the SVM's sequence space, accept
 *   qout (SVM ->)  protected: rewrite seq into the PVM's space, send to
 *                  the primary, drop here; handshakes whose offset is not
 *                  known yet are parked until the primary's ISN arrives
 *                  takeover:  rewrite seq, accept (to the LAN)
 *   tap read     the SVM's ARP requests: answered from what was learnt
 *   chan ISN     the PVM's ISN of a connection: completes an offset
 *   chan EPOCH   a checkpoint completed: offsets back to zero (with the
 *                QMP backend the SVM's own STOP/RESUME do it, on time)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "colo-proxy/proxy.h"
#include "common/log.h"
#include "common/loop.h"
#include "compare/parse.h"

struct parked {
	struct parked *next;
	struct rw_key key;
	uint64_t t_ns;
	uint32_t epoch;
	bool csum_partial;
	uint32_t len;
	uint8_t data[];
};

static void ask_checkpoint(struct proxy *p, enum ckpt_reason r)
{
	chan_send(p->chan, WIRE_CKPT_REQ, 0, (uint16_t)r, p->epoch, NULL, 0,
		  NULL, 0);
}

static void send_frame(struct proxy *p, const uint8_t *data, uint32_t len,
		       uint32_t epoch, uint16_t flags)
{
	if (chan_send(p->chan, WIRE_FRAME, flags, 0, epoch, data, len, NULL,
		      0) == 0)
		p->n.sent_to_primary++;
	else
		p->n.send_failed++;
}

/* ---- parked handshakes ------------------------------------------------------ */

static void park(struct proxy *p, const uint8_t *data, uint32_t len,
		 bool csum_partial)
{
	struct parked *e = malloc(sizeof(*e) + len), **pp;
	uint32_t seq;
	uint8_t fl;

	if (!e) {
		p->n.nomem_dropped++;
		return;
	}
	memset(e, 0, sizeof(*e));
	rw_key_from_vm_packet(data, len, CMP_LINK_IP, &e->key, &seq, &fl);
	e->t_ns = loop_now_ns();
	e->epoch = p->epoch;
	e->csum_partial = csum_partial;
	e->len = len;
	memcpy(e->data, data, len);
	for (pp = &p->parked; *pp; pp = &(*pp)->next)
		;
	*pp = e;
	p->nparked++;
	p->n.parked++;
}

/* Send parked handshakes whose offset is now known, or, with FORCE, all of
 * them (untranslated after their wait, or when the rewriter was reset). */
static void unpark(struct proxy *p, bool force, uint64_t now)
{
	uint64_t wait = p->cf.learn_timeout_ms * 1000000u;
	struct parked **pp = &p->parked, *e;
	uint32_t off;

	while ((e = *pp)) {
		bool known = rw_offset(p->rw, &e->key, &off);
		bool expired = force || now - e->t_ns >= wait;
		enum rw_result r = RW_WAIT;

		if (known)
			r = rw_frame(p->rw, RW_FROM_VM, e->data, e->len,
				     CMP_LINK_IP, e->csum_partial ?
				     RW_F_CSUM_PARTIAL : 0, now);
		if (r == RW_WAIT && !expired) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		p->nparked--;
		if (p->mode == MODE_PROTECTED) {
			if (r == RW_WAIT)
				p->n.parked_unrewritten++;
			send_frame(p, e->data, e->len, e->epoch, r == RW_WAIT ?
				   WIRE_F_UNREWRITTEN : 0);
			if (r != RW_WAIT && e->epoch == p->epoch)
				tail_add(&p->tail, e->data, e->len,
					 e->csum_partial);
		}
		free(e);
	}
}

/* ---- qout: from the SVM ------------------------------------------------------ */

/* ICMPv6 neighbour and multicast listener discovery (130-137, 143) from
 * the SVM: answered or kept here, never compared (the primary lets its
 * PVM's pass: see rules_ipt.c). */
static bool neighbour_discovery(struct proxy *p, const struct nfq_packet *pk)
{
	uint8_t ans[256];
	struct pkt k;
	size_t n;

	if (!p->cf.pass_nd || pk->hw_protocol != 0x86dd)
		return false;
	pkt_parse(pk->payload, pk->len, CMP_LINK_IP, &k);
	if (k.l3 != PKT_IP || k.proto != 58 || k.frag || k.l4len < 4 ||
	    ((k.l4[0] < 130 || k.l4[0] > 137) && k.l4[0] != 143))
		return false;
	n = neigh_answer(p->neigh, pk->payload, pk->len, CMP_LINK_IP,
			 pk->hwsrc_len == 6 ? pk->hwsrc : NULL, ans,
			 sizeof(ans));
	if (n && inject_frame(p->inj, ans, n, false) == 0)
		p->n.neigh_answered++;
	p->n.nd_dropped++;
	return true;
}

static void out_protected(struct proxy *p, const struct nfq_packet *pk,
			  uint8_t *data)
{
	enum rw_result r;
	uint16_t fl = pk->truncated ? WIRE_F_TRUNCATED : 0;

	r = rw_frame(p->rw, RW_FROM_VM, data, pk->len, CMP_LINK_IP,
		     pk->csum_partial ? RW_F_CSUM_PARTIAL : 0, loop_now_ns());
	if (r == RW_WAIT) {
		park(p, data, pk->len, pk->csum_partial);
		return;
	}
	if (r == RW_CHANGED)
		p->n.rewritten_out++;
	send_frame(p, data, pk->len, p->epoch, fl);
	tail_add(&p->tail, data, pk->len, pk->csum_partial);
}

static void on_qout(struct nfq *q, const struct nfq_packet *pk, void *arg)
{
	struct proxy *p = arg;
	uint8_t *data = p->frame;
	enum rw_result r;

	p->n.out_packets++;
	proxy_learn_vm_mac(p, pk);
	if (pk->lost_before) {
		p->n.queue_loss += pk->lost_before;
		ask_checkpoint(p, CKPT_R_QUEUE_LOSS);
	}
	memcpy(data, pk->payload, pk->len);
	if (p->mode == MODE_TAKEOVER) {
		r = rw_frame(p->rw, RW_FROM_VM, data, pk->len, CMP_LINK_IP,
			     pk->csum_partial ? RW_F_CSUM_PARTIAL : 0,
			     loop_now_ns());
		if (r == RW_CHANGED)
			nfq_verdict_mangle(q, pk->id, data, pk->len);
		else
			nfq_verdict(q, pk->id, VERDICT_ACCEPT);
		p->n.takeover_released++;
		return;
	}
	/* protected: the SVM's output never leaves this host */
	nfq_verdict(q, pk->id, VERDICT_DROP);
	if (!neighbour_discovery(p, pk))
		out_protected(p, pk, data);
}

/* ---- qin: toward the SVM -------------------------------------------------- */

static void on_qin(struct nfq *q, const struct nfq_packet *pk, void *arg)
{
	struct proxy *p = arg;
	uint8_t *data = p->frame;
	enum rw_result r;

	p->n.in_packets++;
	if (pk->lost_before) {
		/* the SVM missed input the PVM got */
		p->n.queue_loss += pk->lost_before;
		ask_checkpoint(p, CKPT_R_QUEUE_LOSS);
	}
	memcpy(data, pk->payload, pk->len);
	r = rw_frame(p->rw, RW_TO_VM, data, pk->len, CMP_LINK_IP,
		     pk->csum_partial ? RW_F_CSUM_PARTIAL : 0, loop_now_ns());
	if (r == RW_CHANGED) {
		nfq_verdict_mangle(q, pk->id, data, pk->len);
		p->n.rewritten_in++;
	} else {
		nfq_verdict(q, pk->id, VERDICT_ACCEPT);
	}
	if (p->nparked)
		unpark(p, false, loop_now_ns());
}

/* The bridge floods the SVM's ARP requests to our port: answer them. */
static void on_tap(struct loop *loop, int fd, unsigned ev, void *arg)
{
	struct proxy *p = arg;
	uint8_t ans[256];
	ssize_t n;
	size_t m;

	(void)loop;
	(void)fd;
	(void)ev;
	for (int i = 0; i < 64; i++) {
		n = inject_read(p->inj, p->frame, sizeof(p->frame));
		if (n <= 0)
			return;
		if (p->mode != MODE_PROTECTED)
			continue;
		m = neigh_answer(p->neigh, p->frame, (size_t)n, CMP_LINK_ETH,
				 NULL, ans, sizeof(ans));
		if (m && inject_frame(p->inj, ans, m, false) == 0)
			p->n.neigh_answered++;
	}
}

/* ---- channel ------------------------------------------------------------- */

/* An ISN or LEGACY payload: false (counted) if it does not parse. */
static bool get_conn(struct proxy *p, const struct wire_hdr *h,
		     const uint8_t *payload, struct wire_isn *m,
		     struct rw_key *k)
{
	if (wire_get_isn(payload, h->len, m) != WIRE_OK) {
		p->n.malformed_channel++;
		return false;
	}
	memset(k, 0, sizeof(*k));
	k->family = m->family;
	memcpy(k->vm_addr, m->vm_addr, 16);
	memcpy(k->peer_addr, m->peer_addr, 16);
	k->vm_port = m->vm_port;
	k->peer_port = m->peer_port;
	return true;
}

/* The primary took this connection over in an earlier pair: its offsets
 * are our base (see rw_import()). */
static void got_legacy(struct proxy *p, const struct wire_hdr *h,
		       const uint8_t *payload)
{
	struct wire_isn m;
	struct rw_key k;

	if (!get_conn(p, h, payload, &m, &k))
		return;
	if (rw_import(p->rw, &k, m.isn, m.tsval, loop_now_ns()))
		p->n.legacy_received++;
	else
		p->n.nomem_dropped++;
}

static void got_isn(struct proxy *p, const struct wire_hdr *h,
		    const uint8_t *payload)
{
	struct wire_isn m;
	struct rw_key k;

	if (!get_conn(p, h, payload, &m, &k))
		return;
	p->n.isn_received++;
	if (m.flags & WIRE_ISN_F_TS)
		rw_learn_pvm_tsval(p->rw, &k, m.tsval, loop_now_ns());
	if (rw_learn_pvm_isn(p->rw, &k, m.isn, loop_now_ns()) && p->nparked)
		unpark(p, false, loop_now_ns());
}

/* A frame toward the PVM, mirrored: rewritten and injected where it lies
 * in the channel's buffer (no copy of a 64 KiB super-packet). */
static void got_mirror(struct proxy *p, const struct wire_hdr *h,
		       uint8_t *frame)
{
	if (!(h->flags & WIRE_F_LINK_ETH) || h->len < 14) {
		p->n.malformed_channel++;
		return;
	}
	if (p->mode != MODE_PROTECTED)
		return;
	neigh_learn_frame(p->neigh, frame, h->len, loop_now_ns());
	/* addressed to our SVM (same MAC as the PVM, but the primary may not
	 * have known it) */
	if (p->cf.has_vm_mac)
		memcpy(frame, p->cf.vm_mac, 6);
	/* translated here, not in a queue after the injection (the rules let
	 * the injection port's frames pass): one queue pass and one checksum
	 * less per frame; the kernel completes the checksum (NEEDS_CSUM) */
	if (rw_frame(p->rw, RW_TO_VM, frame, h->len, CMP_LINK_ETH,
		     RW_F_CSUM_LATER, loop_now_ns()) == RW_CHANGED)
		p->n.rewritten_in++;
	if (inject_frame(p->inj, frame, h->len, true) == 0)
		p->n.injected++;
	else
		p->n.inject_failed++;
	if (p->nparked)
		unpark(p, false, loop_now_ns());
}

/* QEMU's clock for its events' timestamps (see accounted() in proxy.c) */
static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Offsets back to zero: the SVM holds (or is getting) the PVM's state. */
static void offsets_reset(struct proxy *p)
{
	rw_reset(p->rw);
	unpark(p, true, loop_now_ns());
}

/*
 * The primary committed EPOCH. Watching our own SVM (QMP backend), its
 * STOP/RESUME already moved us on at the right instant, and this message
 * only catches up a secondary that missed a resume or has not heard of
 * it yet (libvirt relays QEMU's events late: the resume that follows is
 * then not counted twice, see accounted() in proxy.c); without QMP it is
 * our only clock, a few milliseconds late.
 */
static void got_epoch(struct proxy *p, uint32_t epoch)
{
	if (wire_seq_diff(epoch + 1, p->epoch) <= 0)
		return;
	if (p->cf.backend != CKPT_NONE)
		log_warnx("epoch %u committed by the primary, but our SVM has "
			  "resumed only into epoch %u: catching up", epoch,
			  p->epoch);
	p->epoch = epoch + 1;
	p->caught_up_rt_us = realtime_us();
	offsets_reset(p);
	tail_clear(&p->tail);
	p->n.commits++;
	log_debug("epoch %u committed by the primary: sequence offsets reset",
		  epoch);
}

static void chan_msg(void *arg, const struct wire_hdr *h, uint8_t *payload,
		     uint32_t missed)
{
	struct proxy *p = arg;

	if (missed)
		ask_checkpoint(p, CKPT_R_CHANNEL);
	switch (h->type) {
	case WIRE_FRAME:
		got_mirror(p, h, payload);
		break;
	case WIRE_LEGACY:
		got_legacy(p, h, payload);
		break;
	case WIRE_ISN:
		got_isn(p, h, payload);
		break;
	case WIRE_EPOCH:
		got_epoch(p, h->epoch);
		break;
	default:
		p->n.malformed_channel++;
		break;
	}
}

static void chan_up(void *arg, const struct chan_up_info *info)
{
	struct proxy *p = arg;

	/* our epoch follows the primary's until we watch the SVM ourselves */
	if (wire_seq_diff(info->peer->epoch, p->epoch) > 0) {
		p->epoch = info->peer->epoch;
		p->caught_up_rt_us = realtime_us();
	}
	/* a restarted primary lost what it held and what was in flight; only
	 * we can tell (to it, this is a first connection) */
	if (info->restarted || info->rx_missed || info->tx_missed) {
		log_warnx("channel: %s%u of the primary's and %u of our messages "
			  "lost: asking for a checkpoint",
			  info->restarted ? "the primary restarted; " : "",
			  info->rx_missed, info->tx_missed);
		ask_checkpoint(p, CKPT_R_CHANNEL);
	}
}

static void chan_down(void *arg, const char *why)
{
	(void)arg;
	(void)why;
}

static const struct chan_events secondary_chan_events = {
	.on_up = chan_up, .on_down = chan_down, .on_msg = chan_msg,
};

/* ---- set-up, modes, ticks -------------------------------------------------- */

static int secondary_start(struct proxy *p, char *err, size_t errlen)
{
	struct rw_config rc;
	int r;

	rw_config_defaults(&rc);
	rc.max_conns = (uint32_t)p->cf.rw_max_conns;
	r = rw_new(&rc, &p->rw);
	if (r < 0) {
		snprintf(err, errlen, "rewriter: %s", strerror(-r));
		return r;
	}
	p->neigh = malloc(sizeof(*p->neigh));
	p->inj = malloc(sizeof(*p->inj));
	if (!p->neigh || !p->inj) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	neigh_init(p->neigh);
	r = inject_open(p->inj, p->cf.inject_port, p->cf.bridge,
			p->cf.inject_mtu, err, errlen);
	if (r < 0)
		return r;
	return loop_add_fd(p->loop, p->inj->fd, LOOP_READ, on_tap, NULL, p);
}

static void secondary_stop(struct proxy *p)
{
	struct parked *e;

	if (p->inj && p->inj->fd >= 0) {
		loop_del_fd(p->loop, p->inj->fd);
		inject_close(p->inj);
	}
	while ((e = p->parked)) {
		p->parked = e->next;
		free(e);
	}
	p->nparked = 0;
	tail_free(&p->tail);
	rw_free(p->rw);
	p->rw = NULL;
	free(p->neigh);
	free(p->inj);
	p->neigh = NULL;
	p->inj = NULL;
}

/* One kept packet of the SVM to the LAN, through the inject port. */
static void resend(void *arg, const struct tail_frame *f)
{
	struct proxy *p = arg;
	uint8_t *fr = p->frame, mac[6];
	int fam = f->data[0] >> 4;

	if ((fam != 4 && fam != 6) || f->len + 14 > sizeof(p->frame) ||
	    !p->cf.has_vm_mac ||
	    !neigh_lookup(p->neigh, fam, f->data + (fam == 4 ? 16 : 24), mac)) {
		p->n.takeover_unresolved++;
		return;
	}
	memcpy(fr, mac, 6);
	memcpy(fr + 6, p->cf.vm_mac, 6);
	fr[12] = fam == 4 ? 0x08 : 0x86;
	fr[13] = fam == 4 ? 0x00 : 0xdd;
	memcpy(fr + 14, f->data, f->len);
	if (inject_frame(p->inj, fr, f->len + 14, f->csum_partial) == 0)
		p->n.takeover_resent++;
	else
		p->n.inject_failed++;
}

static void secondary_set_mode(struct proxy *p, int mode)
{
	(void)mode;
	/* takeover: the primary is gone; parked handshakes would only have
	 * gone to it (the SVM will retransmit them to the client) */
	unpark(p, true, loop_now_ns());
	/* what the clients wait for, now rather than at the SVM's next
	 * retransmission (see tail.h) */
	tail_flush(&p->tail, resend, p);
	log_warnx("takeover: the SVM's output now leaves this host (%llu "
		  "packets of this epoch sent again at once); existing "
		  "connections keep their sequence translation",
		  (unsigned long long)p->n.takeover_resent);
}

/* The SVM stopped for a checkpoint: what it receives from now on reaches
 * the PVM's state, where the offsets are zero. */
static void secondary_begin(struct proxy *p)
{
	p->ckpt_open = true;
	offsets_reset(p);
}

/* The SVM resumed: its output from now on belongs to the next epoch. */
static void secondary_commit(struct proxy *p, uint32_t epoch)
{
	p->ckpt_open = false;
	p->epoch = epoch + 1;
	offsets_reset(p);
	tail_clear(&p->tail);	/* that output's state was replaced */
}

static void secondary_tick(struct proxy *p, uint64_t now)
{
	if (p->nparked)
		unpark(p, false, now);
	rw_tick(p->rw, now);
}

const struct proxy_role_ops secondary_role = {
	.start = secondary_start,
	.stop = secondary_stop,
	.tick = secondary_tick,
	.set_mode = secondary_set_mode,
	.begin = secondary_begin,
	.commit = secondary_commit,
	.ask_checkpoint = ask_checkpoint,
	.on_qin = on_qin,
	.on_qout = on_qout,
	.chan = &secondary_chan_events,
};
