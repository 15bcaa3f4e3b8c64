/*
 * primary: host A's datapath.
 *
 *   qin  (LAN -> PVM)   copy to the secondary (with its Ethernet header),
 *                       accept
 *   qout (PVM -> LAN)   copy into the held table, feed the comparator as
 *                       PRIMARY; its verdict comes from the comparator
 *   chan FRAME          SVM output: held table + comparator as SECONDARY
 *   chan CKPT_REQ       the secondary lost something: checkpoint
 *   comparator actions  RELEASE -> VERDICT_ACCEPT (window patched if asked),
 *                       DROP -> forget the copy, CHECKPOINT -> record,
 *                       dump, ask the backend
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "colo-proxy/proxy.h"
#include "common/csum.h"
#include "common/log.h"
#include "common/loop.h"
#include "compare/parse.h"

#define HELD_BUCKETS_POW2 14

static enum ckpt_reason ckpt_reason_of(enum cmp_reason r)
{
	switch (r) {
	case CMP_R_HOLD_TIMEOUT:
		return CKPT_R_HOLD_TIMEOUT;
	case CMP_R_FLOW_LIMIT:
	case CMP_R_HELD_BYTES:
	case CMP_R_HELD_FRAMES:
	case CMP_R_FRAG_LIMIT:
	case CMP_R_NOMEM:
		return CKPT_R_LIMIT;
	default:
		return CKPT_R_MISMATCH;
	}
}

/* Accept held frame H, with its window lowered when the comparator says. */
static void release(struct proxy *p, struct held *h, const struct cmp_action *a)
{
	struct pkt pk;

	/* every release is a match or a completed checkpoint: say which */
	if (a->committed)
		p->n.released_committed++;
	else
		p->n.released_matched++;
	if (!a->patch_window) {
		if (h->mangled)
			nfq_verdict_mangle(p->qout, h->nfq_id, h->data, h->len);
		else
			nfq_verdict(p->qout, h->nfq_id, VERDICT_ACCEPT);
		p->n.released++;
		return;
	}
	cmp_patch_window(h->data, h->len, CMP_LINK_IP, a->window,
			 h->csum_partial);
	if (h->csum_partial) {
		/* a changed packet is CHECKSUM_NONE to the kernel: the field
		 * must hold the complete checksum now */
		pkt_parse(h->data, h->len, CMP_LINK_IP, &pk);
		if (pk.l3 == PKT_IP && !pk.frag)
			csum_l4_fill(h->data, h->len,
				     (size_t)(pk.l4 - h->data), pk.proto);
	}
	nfq_verdict_mangle(p->qout, h->nfq_id, h->data, h->len);
	p->n.released++;
	p->n.released_patched++;
}

static void record_divergence(struct proxy *p, const struct cmp_action *a)
{
	struct proxy_div *d = &p->div[p->ndiv++ % PROXY_DIV_LOG];

	memset(d, 0, sizeof(*d));
	d->t_ms = loop_now_ms() - p->start_ms;
	d->epoch = a->epoch;
	d->reason = a->reason;
	d->side = a->side;
	d->offset = a->offset;
	d->seq = a->seq;
	cmp_key_format(&a->key, d->flow, sizeof(d->flow));
	proxy_dump_divergence(p, a, d);
	p->n.divergences++;
	log_warnx("checkpoint needed in epoch %u: %s on %s at offset %llu "
		  "(seq %u, %s output waited)%s%s", a->epoch,
		  cmp_reason_name(a->reason), d->flow,
		  (unsigned long long)a->offset, a->seq,
		  a->side == CMP_PRIMARY ? "primary" : "secondary",
		  d->dump[0] ? ", frames in " : "", d->dump);
}

static void drain_actions(struct proxy *p)
{
	struct cmp_action a;
	struct held *h;

	if (!p->cmp)
		return;
	while (cmp_next_action(p->cmp, &a)) {
		switch (a.type) {
		case CMP_ACT_RELEASE:
			h = held_take(&p->held, a.id);
			if (h)
				release(p, h, &a);
			held_free(h);
			break;
		case CMP_ACT_DROP:
			held_free(held_take(&p->held, a.id));
			break;
		case CMP_ACT_CHECKPOINT:
			record_divergence(p, &a);
			ckpt_request(&p->ck, ckpt_reason_of(a.reason),
				     a.epoch, loop_now_ns());
			break;
		case CMP_ACT_FLOW_END:
			break;
		}
	}
}

static void primary_tick(struct proxy *p, uint64_t now)
{
	if (p->legacy) {
		rw_tick(p->legacy, now);
		if (!rw_get_stats(p->legacy)->conns_active) {
			/* the last taken-over connection ended: no more copies
			 * of every packet to look it up */
			log_info("the taken-over connections have all ended");
			rw_free(p->legacy);
			p->legacy = NULL;
		}
	}
	if (!p->cmp)
		return;
	cmp_tick(p->cmp, now);
	drain_actions(p);
}

/* Feed one copy to the comparator; a copy we cannot make is dropped. */
static void compare(struct proxy *p, int side, uint32_t nfq_id, uint32_t epoch,
		    enum cmp_link link, const uint8_t *data, uint32_t len,
		    bool csum_partial, bool mangled, uint32_t flags)
{
	uint64_t cid = p->next_cid++;
	struct held *h = held_add(&p->held, cid, data, len);

	if (!h) {
		p->n.nomem_dropped++;
		if (side == CMP_PRIMARY)
			nfq_verdict(p->qout, nfq_id, VERDICT_DROP);
		ckpt_request(&p->ck, CKPT_R_LIMIT, epoch, loop_now_ns());
		return;
	}
	h->side = (uint8_t)side;
	h->nfq_id = nfq_id;
	h->epoch = epoch;
	h->link = (uint8_t)link;
	h->csum_partial = csum_partial;
	h->mangled = mangled;
	h->t_ns = loop_now_ns();
	cmp_input(p->cmp, side, cid, epoch, link, data, len, flags, h->t_ns);
	drain_actions(p);
}

/* ---- qin: toward the PVM ----------------------------------------------- */

/*
 * Rebuild the Ethernet header of a frame toward the PVM.  Netfilter's IP
 * hooks give only the source MAC (NFQA_HWADDR); the destination is the VM
 * (vm_mac, or what the PVM's own output showed; zero if neither is known:
 * the secondary then fills in its SVM's).  The bridge family gives it all.
 */
static size_t eth_header(struct proxy *p, const struct nfq_packet *pk,
			 uint8_t *out)
{
	size_t n;

	if (pk->l2hdr && pk->l2len >= 14) {
		memcpy(out, pk->l2hdr, 12);
	} else if (pk->hwsrc_len == 6) {
		memcpy(out, p->cf.vm_mac, 6);
		memcpy(out + 6, pk->hwsrc, 6);
	} else {
		return 0;
	}
	n = 12;
	if (pk->has_vlan) {
		out[n++] = (uint8_t)(pk->vlan_proto >> 8);
		out[n++] = (uint8_t)pk->vlan_proto;
		out[n++] = (uint8_t)(pk->vlan_tci >> 8);
		out[n++] = (uint8_t)pk->vlan_tci;
	}
	out[n++] = (uint8_t)(pk->hw_protocol >> 8);
	out[n++] = (uint8_t)pk->hw_protocol;
	return n;
}

static void mirror(struct proxy *p, const struct nfq_packet *pk)
{
	uint8_t eth[32];
	size_t n = eth_header(p, pk, eth);
	uint16_t fl = WIRE_F_LINK_ETH |
		      (pk->csum_partial ? WIRE_F_CSUM_PARTIAL : 0);

	if (!n || chan_send(p->chan, WIRE_FRAME, fl, 0, p->epoch, eth, n,
			    pk->payload, pk->len) < 0) {
		/* the sequence number is used up: the secondary sees a gap */
		p->n.mirror_lost++;
		return;
	}
	p->n.mirrored++;
}

/*
 * Translate PK with the taken-over connections' offsets (p->legacy) into
 * p->frame: true if it changed (p->frame then holds it, checksum complete).
 */
static bool legacy_translate(struct proxy *p, const struct nfq_packet *pk,
			     enum rw_dir dir)
{
	if (!p->legacy || pk->truncated || pk->len > sizeof(p->frame))
		return false;
	memcpy(p->frame, pk->payload, pk->len);
	return rw_frame(p->legacy, dir, p->frame, pk->len, CMP_LINK_IP,
			pk->csum_partial ? RW_F_CSUM_PARTIAL : 0,
			loop_now_ns()) == RW_CHANGED;
}

/* Accept PK toward the PVM, in its own numbers if it took over. */
static void accept_in(struct proxy *p, struct nfq *q,
		      const struct nfq_packet *pk)
{
	if (legacy_translate(p, pk, RW_TO_VM)) {
		p->n.legacy_in++;
		nfq_verdict_mangle(q, pk->id, p->frame, pk->len);
		return;
	}
	nfq_verdict(q, pk->id, VERDICT_ACCEPT);
}

static void on_qin(struct nfq *q, const struct nfq_packet *pk, void *arg)
{
	struct proxy *p = arg;

	p->n.in_packets++;
	if (pk->lost_before) {
		/* lost before the PVM saw them: both VMs missed them */
		p->n.queue_loss += pk->lost_before;
	}
	if (p->mode != MODE_PROTECTED) {
		accept_in(p, q, pk);
		return;
	}
	if (pk->truncated) {
		/* a copy the secondary cannot get whole: neither VM gets it */
		p->n.truncated_dropped++;
		nfq_verdict(q, pk->id, VERDICT_DROP);
		return;
	}
	/* the secondary gets the peer's numbers: its rewriter's base
	 * offsets translate them for the SVM (rw_import()) */
	mirror(p, pk);
	accept_in(p, q, pk);
}

/* ---- qout: from the PVM -------------------------------------------------- */

/* The PVM opened or answered a connection: tell the secondary its ISN. */
static void send_isn(struct proxy *p, const struct nfq_packet *pk)
{
	struct wire_isn m = { 0 };
	struct rw_key k;
	uint8_t buf[WIRE_ISN_LEN], fl;
	uint32_t seq;

	if (!rw_key_from_vm_packet(pk->payload, pk->len, CMP_LINK_IP, &k, &seq,
				   &fl) || !(fl & PKT_TCP_SYN))
		return;
	m.family = k.family;
	memcpy(m.vm_addr, k.vm_addr, 16);
	memcpy(m.peer_addr, k.peer_addr, 16);
	m.vm_port = k.vm_port;
	m.peer_port = k.peer_port;
	m.isn = seq;
	if (rw_tsval_of(pk->payload, pk->len, CMP_LINK_IP, &m.tsval))
		m.flags = WIRE_ISN_F_TS;
	wire_put_isn(buf, &m);
	if (chan_send(p->chan, WIRE_ISN, 0, 0, p->epoch, buf, sizeof(buf),
		      NULL, 0) == 0)
		p->n.isn_sent++;
}

static void on_qout(struct nfq *q, const struct nfq_packet *pk, void *arg)
{
	struct proxy *p = arg;
	const uint8_t *data;
	bool mangled;

	p->n.out_packets++;
	proxy_learn_vm_mac(p, pk);
	if (pk->lost_before) {
		/* PVM output that never reached us was dropped: it never left,
		 * but the comparator's view of the streams has a hole */
		p->n.queue_loss += pk->lost_before;
		ckpt_request(&p->ck, CKPT_R_QUEUE_LOSS, CKPT_ANY_EPOCH,
			     loop_now_ns());
	}
	/* a taken-over connection: compared and released in the peer's
	 * numbers, as the secondary translates its SVM's output */
	mangled = legacy_translate(p, pk, RW_FROM_VM);
	if (mangled)
		p->n.legacy_out++;
	data = mangled ? p->frame : pk->payload;
	if (p->mode != MODE_PROTECTED) {
		if (mangled)
			nfq_verdict_mangle(q, pk->id, data, pk->len);
		else
			nfq_verdict(q, pk->id, VERDICT_ACCEPT);
		p->n.released_unprotected++;
		return;
	}
	send_isn(p, pk);
	compare(p, CMP_PRIMARY, pk->id, p->epoch, CMP_LINK_IP, data, pk->len,
		pk->csum_partial && !mangled, mangled,
		pk->truncated ? CMP_IN_TRUNCATED : 0);
}

/* ---- channel ------------------------------------------------------------- */

static void send_legacy(void *arg, const struct rw_key *k, uint32_t off,
			uint32_t ts_off)
{
	struct proxy *p = arg;
	struct wire_isn m = { 0 };
	uint8_t buf[WIRE_ISN_LEN];

	m.family = k->family;
	memcpy(m.vm_addr, k->vm_addr, 16);
	memcpy(m.peer_addr, k->peer_addr, 16);
	m.vm_port = k->vm_port;
	m.peer_port = k->peer_port;
	m.isn = off;
	m.tsval = ts_off;
	m.flags = WIRE_ISN_F_TS;
	wire_put_isn(buf, &m);
	if (chan_send(p->chan, WIRE_LEGACY, 0, 0, p->epoch, buf, sizeof(buf),
		      NULL, 0) == 0)
		p->n.legacy_sent++;
}

static void chan_up(void *arg, const struct chan_up_info *info)
{
	struct proxy *p = arg;

	/* before any mirrored frame: the secondary's base offsets */
	if (p->legacy && rw_export(p->legacy, send_legacy, p))
		log_info("channel up: the translations of %llu taken-over "
			 "connections sent to the secondary",
			 (unsigned long long)rw_export(p->legacy, NULL, NULL));
	if (info->first)
		return;
	if (info->restarted || info->rx_missed || info->tx_missed) {
		log_warnx("channel: %s%u of the secondary's and %u of our "
			  "messages lost: the secondary may have missed input",
			  info->restarted ? "the secondary restarted; " : "",
			  info->rx_missed, info->tx_missed);
		ckpt_request(&p->ck, CKPT_R_CHANNEL, CKPT_ANY_EPOCH,
			     loop_now_ns());
	}
}

static void chan_down(void *arg, const char *why)
{
	(void)arg;
	log_warnx("channel down (%s): output stays held until the secondary "
		  "is back, a checkpoint, or solo mode", why);
}

static void chan_msg(void *arg, const struct wire_hdr *h, uint8_t *payload,
		     uint32_t missed)
{
	struct proxy *p = arg;

	if (missed)
		ckpt_request(&p->ck, CKPT_R_CHANNEL, CKPT_ANY_EPOCH,
			     loop_now_ns());
	switch (h->type) {
	case WIRE_FRAME:
		p->n.secondary_frames++;
		if (p->mode != MODE_PROTECTED || !p->cmp)
			return;
		compare(p, CMP_SECONDARY, 0, h->epoch,
			h->flags & WIRE_F_LINK_ETH ? CMP_LINK_ETH : CMP_LINK_IP,
			payload, h->len, false, false,
			h->flags & WIRE_F_TRUNCATED ? CMP_IN_TRUNCATED : 0);
		break;
	case WIRE_CKPT_REQ:
		if (h->aux == CKPT_R_SVM_LOST)
			proxy_peer_vm_lost(p);
		ckpt_request(&p->ck, h->aux < CKPT_R_MAX ?
			     (enum ckpt_reason)h->aux : CKPT_R_SECONDARY,
			     CKPT_ANY_EPOCH, loop_now_ns());
		break;
	default:
		p->n.malformed_channel++;
		break;
	}
}

static const struct chan_events primary_chan_events = {
	.on_up = chan_up, .on_down = chan_down, .on_msg = chan_msg,
};

/* ---- set-up, modes, commits ----------------------------------------------- */

static int new_comparator(struct proxy *p)
{
	struct cmp_config cc;

	cmp_config_defaults(&cc);
	cc.hold_timeout_ns = p->cf.hold_timeout_ms * 1000000u;
	cc.secondary_timeout_ns = p->cf.secondary_timeout_ms * 1000000u;
	cc.max_flows = (uint32_t)p->cf.max_flows;
	cc.max_held_bytes = p->cf.max_held_bytes;
	cc.max_held_frames = (uint32_t)p->cf.max_held_frames;
	if (!p->cf.window_rule)
		cc.flags |= CMP_F_NO_WINDOW_RULE;
	if (!p->cf.ack_guard)
		cc.flags |= CMP_F_NO_ACK_GUARD;
	return cmp_new(&cc, &p->cmp);
}

static int primary_start(struct proxy *p, char *err, size_t errlen)
{
	int r = held_init(&p->held, HELD_BUCKETS_POW2);

	if (r == 0 && p->mode == MODE_PROTECTED)
		r = new_comparator(p);
	if (r < 0)
		snprintf(err, errlen, "comparator: %s", strerror(-r));
	return r;
}

static void primary_stop(struct proxy *p)
{
	rw_free(p->legacy);
	p->legacy = NULL;
	cmp_free(p->cmp);
	p->cmp = NULL;
	held_fini(&p->held);
}

/* Solo: everything held goes out now (the operator or the heartbeat
 * decided that the secondary is gone), and nothing is compared. */
static void release_all(struct proxy *p)
{
	struct held *h;

	while ((h = p->held.head)) {
		held_take(&p->held, h->cid);
		if (h->side == CMP_PRIMARY) {
			if (h->mangled)
				nfq_verdict_mangle(p->qout, h->nfq_id, h->data,
						   h->len);
			else
				nfq_verdict(p->qout, h->nfq_id, VERDICT_ACCEPT);
			p->n.released_unprotected++;
		}
		held_free(h);
	}
	cmp_free(p->cmp);
	p->cmp = NULL;
}

static void primary_set_mode(struct proxy *p, int mode)
{
	if (mode == MODE_SOLO) {
		release_all(p);
		ckpt_cancel(&p->ck);
		return;
	}
	if (new_comparator(p) < 0) {
		log_warnx("no memory for a comparator: staying solo");
		return;
	}
	if (p->colo_start) {
		log_info("protected: COLO started, output is compared from now");
		return;
	}
	log_warnx("protected again: the secondary must be resynchronised by a "
		  "checkpoint before its output can confirm ours");
	ckpt_request(&p->ck, CKPT_R_RESYNC, CKPT_ANY_EPOCH, loop_now_ns());
}

static void primary_commit(struct proxy *p, uint32_t epoch)
{
	/* frames the PVM sent before it stopped belong to the ending epoch */
	if (p->qout)
		nfq_receive(p->qout, on_qout, p);
	p->epoch = epoch + 1;
	if (p->cmp) {
		cmp_commit(p->cmp, epoch, loop_now_ns());
		drain_actions(p);
	}
	chan_send(p->chan, WIRE_EPOCH, 0, 0, epoch, NULL, 0, NULL, 0);
}

static void primary_ask_checkpoint(struct proxy *p, enum ckpt_reason r)
{
	ckpt_request(&p->ck, r, CKPT_ANY_EPOCH, loop_now_ns());
}

const struct proxy_role_ops primary_role = {
	.start = primary_start,
	.stop = primary_stop,
	.tick = primary_tick,
	.set_mode = primary_set_mode,
	.commit = primary_commit,
	.ask_checkpoint = primary_ask_checkpoint,
	.on_qin = on_qin,
	.on_qout = on_qout,
	.chan = &primary_chan_events,
};
