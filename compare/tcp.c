/*
 * tcp.c - one direction of a TCP connection compared as a byte stream.
 *
 * Positions: a side's sequence number minus its base.  The base is 0 (the
 * rewriter already mapped the secondary onto the primary's sequence
 * space), or with CMP_F_LEARN_ISN each side's own ISN, learnt from its SYN.
 *
 *        anchor                matched
 *   ------|========================|-------------------------->
 *         confirmed on both sides   each side's bytes beyond it wait in a
 *                                   sorted list of segments until the other
 *                                   side's bytes at `matched` arrive
 *
 * Segmentation is free on both sides: bytes are compared by position, so a
 * 64 KB GSO frame on one side matches 45 MTU frames on the other.
 * Retransmissions of confirmed bytes are not compared again.  A primary
 * frame is released once everything it carries (SYN, data, FIN) is below
 * `matched` and, with the ACK guard, once the secondary has acknowledged
 * at least as much (RFC 9293 3.10.7.4: what the client believes delivered
 * must survive a failover).  Its window is lowered to the secondary's
 * right edge, so the client never sends what the secondary could not take.
 *
 * A stream picked up in the middle (no SYN seen) is anchored at the lowest
 * position either side sent first.  Bytes below an anchor that no SYN and
 * no commit covers, and RSTs, are compared as whole segments instead
 * (position, flags and bytes), since nothing guarantees either side sent
 * them in the same pieces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/internal.h"

#define CTL_FLAGS (PKT_TCP_SYN | PKT_TCP_FIN | PKT_TCP_RST)

static struct tcp_stream *ts_of(struct flow *f)
{
	return &f->u.tcp;
}

/* Stream offset reported to the operator: 0 is the first payload byte. */
static uint64_t stream_offset(const struct tcp_stream *ts, uint32_t pos)
{
	const struct tside *p = &ts->side[CMP_PRIMARY];

	if (p->syn)
		return pos - (p->isn + 1);
	return pos - ts->anchor;
}

static void diverge(struct cmp *c, struct flow *f, enum cmp_reason r,
		    int side, uint32_t pos)
{
	struct tcp_stream *ts = ts_of(f);

	cmp_diverge(c, f, r, side, stream_offset(ts, pos),
		    pos + ts->side[CMP_PRIMARY].base);
}

/* ---- held frames ---------------------------------------------------- */

static struct tframe *tf_add(struct cmp *c, struct flow *f, int side,
			     uint64_t id, uint32_t epoch)
{
	struct tside *s = &ts_of(f)->side[side];
	struct tframe *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->epoch = epoch;
	if (s->ftail)
		s->ftail->next = t;
	else
		s->fhead = t;
	s->ftail = t;
	f->held[side]++;
	c->st.held_frames++;
	wait_link(c, &t->w, f, side);
	return t;
}

/* Unlink T (whose predecessor is PREV, NULL for the head) and free it. */
static void tf_unlink(struct cmp *c, struct flow *f, int side,
		      struct tframe *prev, struct tframe *t)
{
	struct tside *s = &ts_of(f)->side[side];

	if (prev)
		prev->next = t->next;
	else
		s->fhead = t->next;
	if (s->ftail == t)
		s->ftail = prev;
	if (t->odd)
		s->odd--;
	if (!s->fhead)
		s->top_set = false;
	wait_unlink(c, &t->w);
	f->held[side]--;
	c->st.held_frames--;
	free(t);
}

static void tf_pop(struct cmp *c, struct flow *f, int side)
{
	tf_unlink(c, f, side, NULL, ts_of(f)->side[side].fhead);
}

/* The window a primary frame may advertise: at most the secondary's. */
static void release_frame(struct cmp *c, struct flow *f, struct tframe *t)
{
	struct tside *s = &ts_of(f)->side[CMP_SECONDARY];
	uint64_t have, allow;
	unsigned sc;

	if ((c->cfg.flags & CMP_F_NO_WINDOW_RULE) || t->old ||
	    !(t->flags & PKT_TCP_ACK) || !s->has_ack) {
		cmp_release(c, f, t->id, t->epoch);
		return;
	}
	sc = t->wscale == 0xff ? 0 : t->wscale;
	have = (uint64_t)t->win << sc;
	allow = seq_lt(s->right, t->ack) ? 0 : (uint32_t)(s->right - t->ack);
	if (allow >= have) {
		cmp_release(c, f, t->id, t->epoch);
		return;
	}
	f->st.window_clamps++;
	cmp_release_win(c, f, t->id, t->epoch, (uint16_t)(allow >> sc));
}

static bool ack_ok(struct cmp *c, struct flow *f, const struct tframe *t)
{
	const struct tside *s = &ts_of(f)->side[CMP_SECONDARY];

	if ((c->cfg.flags & CMP_F_NO_ACK_GUARD) || t->old ||
	    !(t->flags & PKT_TCP_ACK))
		return true;
	return s->has_ack && seq_le(t->ack, s->ack);
}

static bool frame_done(const struct tcp_stream *ts, const struct tframe *t)
{
	if (t->old)
		return t->paired;
	return ts->anchored && seq_le(t->seq_end, ts->matched);
}

/*
 * A frame is odd when it may settle while a frame held before it cannot:
 * compared by pairing (old), ending below a frame before it (typically a
 * retransmission) or, on the primary, acknowledging less than one before
 * it or nothing.  Every other frame ends and acknowledges at least as far
 * as all frames held before it, so once one of them cannot settle, no
 * later one of them can either: the walk stops there unless odd frames
 * are still ahead.  That keeps a long queue of held frames linear.
 */
static void mark_odd(struct flow *f, int side, struct tframe *t)
{
	struct tside *s = &ts_of(f)->side[side];
	bool ack = t->flags & PKT_TCP_ACK;

	if (s->top_set) {
		t->odd = t->old || seq_lt(t->seq_end, s->top_end) ||
			 (side == CMP_PRIMARY &&
			  (!ack || seq_lt(t->ack, s->top_ack)));
	} else {
		t->odd = t->old;
		s->top_end = t->seq_end;
		s->top_ack = t->ack;
		s->top_set = true;
	}
	if (seq_lt(s->top_end, t->seq_end))
		s->top_end = t->seq_end;
	if (ack && seq_lt(s->top_ack, t->ack))
		s->top_ack = t->ack;
	if (t->odd)
		s->odd++;
}

static bool may_settle(struct cmp *c, struct flow *f, int side,
		       struct tframe *t)
{
	if (!frame_done(ts_of(f), t))
		return false;
	if (side == CMP_PRIMARY && !ack_ok(c, f, t)) {
		if (!t->paired) {	/* count each frame once */
			f->st.ack_holds++;
			t->paired = true;
		}
		return false;
	}
	return true;
}

/* Sanitizer and fuzz builds: the frames the walk skipped cannot settle. */
static void selfcheck_rest(struct cmp *c, struct flow *f, int side,
			   const struct tframe *t)
{
#ifdef CMP_SELFCHECK
	for (; t; t = t->next) {
		if (frame_done(ts_of(f), t) &&
		    (side != CMP_PRIMARY || ack_ok(c, f, t))) {
			fprintf(stderr, "cmp selfcheck: a skipped frame could "
				"settle (side %d, id %llu)\n", side,
				(unsigned long long)t->id);
			abort();
		}
	}
#else
	(void)c, (void)f, (void)side, (void)t;
#endif
}

/*
 * Release (primary) or consume (secondary) every held frame that is done,
 * wherever it is in its FIFO: a frame still waiting must not hold back a
 * later one whose bytes are all confirmed.  That later one is typically a
 * retransmission: when the PVM sent a GSO frame reaching beyond what the
 * SVM's smaller congestion window let it send, the SVM waits for the
 * client's ACK, the client for that frame, and only the confirmed
 * retransmission of its first bytes breaks the circle.
 */
static void settle_side(struct cmp *c, struct flow *f, int side)
{
	struct tside *s = &ts_of(f)->side[side];
	struct tframe *t = s->fhead, *prev = NULL, *next;
	uint32_t odd_ahead = s->odd;

	for (; t; t = next) {
		next = t->next;
		if (t->odd)
			odd_ahead--;
		if (!may_settle(c, f, side, t)) {
			if (!t->odd && !odd_ahead) {
				selfcheck_rest(c, f, side, t);
				break;
			}
			prev = t;
			continue;
		}
		if (side == CMP_PRIMARY)
			release_frame(c, f, t);
		else
			cmp_drop(c, t->id, t->epoch);
		tf_unlink(c, f, side, prev, t);
	}
}

static void settle(struct cmp *c, struct flow *f)
{
	settle_side(c, f, CMP_PRIMARY);
	settle_side(c, f, CMP_SECONDARY);
}

/* ---- buffered bytes ------------------------------------------------- */

static void seg_free_list(struct cmp *c, struct tside *s)
{
	struct seg *g, *next;

	for (g = s->shead; g; g = next) {
		next = g->next;
		cmp_unhold_bytes(c, g->len);
		free(g);
	}
	s->shead = s->stail = NULL;
}

static struct seg *seg_new(const uint8_t *d, uint32_t pos, uint32_t n)
{
	struct seg *g = malloc(sizeof(*g) + n);

	if (!g)
		return NULL;
	g->next = NULL;
	g->seq = pos;
	g->len = n;
	g->off = 0;
	memcpy(g->data, d, n);
	return g;
}

/* Put [pos, pos+n) into S's sorted list, keeping bytes already there. */
static bool seg_insert(struct cmp *c, struct flow *f, int side, uint32_t pos,
		       const uint8_t *d, uint32_t n)
{
	struct tside *s = &ts_of(f)->side[side];
	struct seg **pp = &s->shead, *g;
	uint32_t end = pos + n;

	if (!s->stail || seq_le(s->stail->seq + s->stail->len, pos))
		pp = s->stail ? &s->stail->next : &s->shead;
	else
		f->st.out_of_order[side]++;
	while (seq_lt(pos, end)) {
		uint32_t gap_end = end;

		g = *pp;
		if (g && seq_le(g->seq + g->len, pos)) {	/* before us */
			pp = &g->next;
			continue;
		}
		if (g && seq_le(g->seq, pos)) {		/* overlaps start */
			pos = g->seq + g->len;
			pp = &g->next;
			continue;
		}
		if (g && seq_lt(g->seq, end))
			gap_end = g->seq;
		if (!cmp_hold_bytes(c, f, gap_end - pos))
			return false;
		g = seg_new(d + (pos - (end - n)), pos, gap_end - pos);
		if (!g) {
			cmp_unhold_bytes(c, gap_end - pos);
			cmp_limit(c, f, CMP_R_NOMEM);
			return false;
		}
		g->next = *pp;
		*pp = g;
		if (!g->next)
			s->stail = g;
		pp = &g->next;
		pos = gap_end;
	}
	return true;
}

static void seg_consume(struct cmp *c, struct tside *s, uint32_t n)
{
	struct seg *g = s->shead;

	g->off += n;
	g->seq += n;
	g->len -= n;
	cmp_unhold_bytes(c, n);
	if (g->len == 0) {
		s->shead = g->next;
		if (!s->shead)
			s->stail = NULL;
		free(g);
	}
}

static uint32_t first_diff(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint32_t i = 0;

	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/* Move `matched` forward over everything both sides agree on. */
static void advance(struct cmp *c, struct flow *f)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *p = &ts->side[CMP_PRIMARY], *s = &ts->side[CMP_SECONDARY];

	while (ts->anchored && !f->diverged) {
		struct seg *pg = p->shead, *sg = s->shead;
		uint32_t n, i;

		if (p->syn && s->syn && ts->matched == p->isn &&
		    s->isn == p->isn) {
			ts->matched++;
			continue;
		}
		if (p->fin_seen && s->fin_seen && p->fin == s->fin &&
		    ts->matched == p->fin) {
			ts->matched++;
			ts->closed = true;
			continue;
		}
		if (!pg || !sg || pg->seq != ts->matched ||
		    sg->seq != ts->matched)
			break;
		n = pg->len < sg->len ? pg->len : sg->len;
		if (memcmp(pg->data + pg->off, sg->data + sg->off, n)) {
			i = first_diff(pg->data + pg->off, sg->data + sg->off, n);
			diverge(c, f, CMP_R_PAYLOAD, CMP_PRIMARY, ts->matched + i);
			return;
		}
		ts->matched += n;
		f->st.matched += n;
		c->st.matched_bytes += n;
		seg_consume(c, p, n);
		seg_consume(c, s, n);
	}
}

/*
 * Compare new bytes of SIDE straight against the other side's buffered
 * bytes at `matched`, so that only the side that is ahead keeps a copy.
 * Returns false on a divergence.
 */
static bool match_direct(struct cmp *c, struct flow *f, int side,
			 uint32_t *pos, const uint8_t **d, uint32_t *n)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side], *ot = &ts->side[!side];
	struct tside *p = &ts->side[CMP_PRIMARY];

	while (*n && !me->shead && ts->anchored && *pos == ts->matched &&
	       ot->shead && ot->shead->seq == ts->matched &&
	       !(p->syn && p->isn == ts->matched)) {
		struct seg *g = ot->shead;
		uint32_t k = g->len < *n ? g->len : *n;

		if (memcmp(g->data + g->off, *d, k)) {
			diverge(c, f, CMP_R_PAYLOAD, side, ts->matched +
				first_diff(g->data + g->off, *d, k));
			return false;
		}
		ts->matched += k;
		f->st.matched += k;
		c->st.matched_bytes += k;
		seg_consume(c, ot, k);
		*pos += k;
		*d += k;
		*n -= k;
	}
	return true;
}

/* ---- old segments and RSTs ----------------------------------------- */

static void old_unlink(struct cmp *c, struct tside *s, struct oldseg *o)
{
	struct oldseg **pp = &s->old;

	while (*pp != o)
		pp = &(*pp)->next;
	*pp = o->next;
	cmp_unhold_bytes(c, o->len);
	free(o);
}

static void old_free_list(struct cmp *c, struct tside *s)
{
	while (s->old)
		old_unlink(c, s, s->old);
}

static void old_input(struct cmp *c, struct flow *f, int side,
		      struct tframe *t, uint32_t pos, uint8_t flags,
		      const uint8_t *d, uint32_t n)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side], *ot = &ts->side[!side];
	struct oldseg *o, **tail;

	flags &= CTL_FLAGS;
	for (o = ot->old; o; o = o->next) {
		if (o->seq != pos || o->flags != flags)
			continue;
		if (o->len != n || memcmp(o->data, d, n)) {
			diverge(c, f, flags & PKT_TCP_RST ? CMP_R_RST :
				CMP_R_PAYLOAD, side, pos);
			return;
		}
		o->frame->paired = true;
		t->paired = true;
		if (flags & PKT_TCP_RST)
			ts->closed = true;
		old_unlink(c, ot, o);
		return;
	}
	if (!cmp_hold_bytes(c, f, n))
		return;
	o = malloc(sizeof(*o) + n);
	if (!o) {
		cmp_unhold_bytes(c, n);
		cmp_limit(c, f, CMP_R_NOMEM);
		return;
	}
	o->next = NULL;
	o->frame = t;
	o->seq = pos;
	o->flags = flags;
	o->len = n;
	memcpy(o->data, d, n);
	for (tail = &me->old; *tail; tail = &(*tail)->next)
		;
	*tail = o;
}

/* ---- state of a side ------------------------------------------------ */

static void reset_stream(struct cmp *c, struct flow *f)
{
	struct tcp_stream *ts = ts_of(f);
	int i;

	for (i = 0; i < 2; i++) {
		seg_free_list(c, &ts->side[i]);
		old_free_list(c, &ts->side[i]);
	}
	tcp_init(f);
}

/* A new stream: nothing seen, window scales unknown. */
void tcp_init(struct flow *f)
{
	struct tcp_stream *ts = ts_of(f);

	memset(ts, 0, sizeof(*ts));
	ts->side[0].wscale = ts->side[1].wscale = 0xff;
}

/* The reverse stream's base on SIDE, to turn an ack into a position. */
static uint32_t ack_base(struct cmp *c, struct flow *f, int side)
{
	struct cmp_flow_key k = f->key;
	struct flow *r;

	if (!(c->cfg.flags & CMP_F_LEARN_ISN))
		return 0;
	memcpy(k.src, f->key.dst, sizeof(k.src));
	memcpy(k.dst, f->key.src, sizeof(k.dst));
	k.sport = f->key.dport;
	k.dport = f->key.sport;
	r = flow_find(c, &k);
	if (!r || r->key.kind != CMP_K_TCP || !r->u.tcp.side[side].based)
		return 0;
	return r->u.tcp.side[side].base;
}

/* Update what SIDE has said: SYN, ack, window, highest position, FIN. */
static void note(struct flow *f, int side, const struct pkt *p, uint32_t pos,
		 uint32_t end, uint32_t ack)
{
	struct tside *me = &ts_of(f)->side[side];

	if ((p->tcpflags & PKT_TCP_SYN) && !me->syn) {
		me->syn = true;
		me->isn = pos;
		me->isn_seq = p->seq;
		me->synflags = p->tcpflags & (PKT_TCP_SYN | PKT_TCP_ACK);
		me->wscale = p->wscale == 0xff ? 0 : p->wscale;
	}
	if (p->tcpflags & PKT_TCP_ACK) {
		unsigned sc = (p->tcpflags & PKT_TCP_SYN) ? 0 :
			      (me->wscale == 0xff ? 0 : me->wscale);

		if (!me->has_ack || seq_lt(me->ack, ack))
			me->ack = ack;
		me->has_ack = true;
		me->right = ack + (uint32_t)((uint64_t)p->win << sc);
	}
	if (p->tcpflags & PKT_TCP_RST)
		me->rst = true;
	if (!me->seen || seq_lt(me->hi, end))
		me->hi = end;
	me->seen = true;
}

static void anchor(struct tcp_stream *ts, int side, uint32_t pos, bool syn)
{
	struct tside *me = &ts->side[side], *ot = &ts->side[!side];

	if (ts->anchored)
		return;
	if (syn) {
		ts->anchored = ts->covered = true;
		ts->anchor = ts->matched = pos;
		return;
	}
	if (!me->first_seen_set || seq_lt(pos, me->first))
		me->first = pos;
	me->first_seen_set = true;
	if (!ot->first_seen_set)
		return;
	ts->anchored = true;
	ts->anchor = ts->matched = seq_min(me->first, ot->first);
}

/* Checks on a FIN or on data against the other side's FIN. */
static bool fin_ok(struct cmp *c, struct flow *f, int side, bool fin,
		   uint32_t dstart, uint32_t dend)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side], *ot = &ts->side[!side];

	if (dend != dstart && ot->fin_seen && seq_lt(ot->fin, dend)) {
		diverge(c, f, CMP_R_FIN, side, ot->fin);	/* data after FIN */
		return false;
	}
	if (!fin)
		return true;
	if ((me->fin_seen && me->fin != dend) ||
	    (ot->fin_seen && ot->fin != dend) ||
	    (ot->seen && ot->dend_set && seq_lt(dend, ot->dend))) {
		diverge(c, f, CMP_R_FIN, side, dend);
		return false;
	}
	me->fin_seen = true;
	me->fin = dend;
	return true;
}

static bool syn_ok(struct cmp *c, struct flow *f, int side)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side], *ot = &ts->side[!side];

	if (!ot->syn || (ot->isn == me->isn && ot->synflags == me->synflags))
		return true;
	diverge(c, f, CMP_R_SYN, side, me->isn);
	return false;
}

/* ---- input ------------------------------------------------------------ */

static void set_base(struct cmp *c, struct flow *f, int side,
		     const struct pkt *p)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side], *ot = &ts->side[!side];

	if (me->syn && (p->tcpflags & PKT_TCP_SYN) && p->seq != me->isn_seq &&
	    flow_idle(f))
		reset_stream(c, f);	/* a new connection on the same ports */
	if (me->based)
		return;
	me->based = true;
	if (!(c->cfg.flags & CMP_F_LEARN_ISN))
		me->base = 0;
	else if (p->tcpflags & PKT_TCP_SYN)
		me->base = p->seq;
	else
		me->base = ot->based ? ot->base : 0;
}

static void compare_frame(struct cmp *c, struct flow *f, int side,
			  struct tframe *t, const struct pkt *p, uint32_t pos,
			  bool resyn)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side];
	bool syn = p->tcpflags & PKT_TCP_SYN, fin = p->tcpflags & PKT_TCP_FIN;
	uint32_t dstart = pos + syn, n = (uint32_t)p->paylen;
	uint32_t dend = dstart + n;
	const uint8_t *d = p->payload;

	anchor(ts, side, syn ? pos : dstart, syn);
	if ((p->tcpflags & PKT_TCP_RST) ||
	    (ts->anchored && !ts->covered && seq_lt(pos, ts->anchor)) ||
	    resyn) {
		t->old = true;
		old_input(c, f, side, t, pos, p->tcpflags, d, n);
		return;
	}
	if (syn && !syn_ok(c, f, side))
		return;
	if (!fin_ok(c, f, side, fin, dstart, dend))
		return;
	if (n && (!me->dend_set || seq_lt(me->dend, dend))) {
		me->dend = dend;
		me->dend_set = true;
	}
	if (ts->anchored && seq_lt(dstart, ts->matched)) {
		uint32_t skip = ts->matched - dstart;

		if (n)
			f->st.retrans[side]++;
		if (skip >= n)
			return;
		dstart += skip;
		d += skip;
		n -= skip;
	}
	if (n && !match_direct(c, f, side, &dstart, &d, &n))
		return;
	if (n && !seg_insert(c, f, side, dstart, d, n))
		return;
}

void tcp_input(struct cmp *c, struct flow *f, int side, uint64_t id,
	       uint32_t epoch, const struct pkt *p)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *me = &ts->side[side];
	struct tframe *t;
	uint32_t pos, end, ack = 0;
	bool syn = p->tcpflags & PKT_TCP_SYN, fin = p->tcpflags & PKT_TCP_FIN;
	bool resyn;

	f->st.frames[side]++;
	f->st.bytes[side] += p->paylen;
	set_base(c, f, side, p);
	pos = p->seq - me->base;
	end = pos + syn + (uint32_t)p->paylen + fin;
	resyn = syn && me->syn && pos != me->isn;
	if (p->tcpflags & PKT_TCP_ACK)
		ack = p->ack - ack_base(c, f, side);
	note(f, side, p, pos, end, ack);
	if (f->diverged && side == CMP_SECONDARY) {
		cmp_drop(c, id, epoch);
		return;
	}
	t = tf_add(c, f, side, id, epoch);
	if (!t) {
		cmp_limit(c, f, CMP_R_NOMEM);
		return;
	}
	t->seq_end = end;
	t->flags = p->tcpflags;
	t->win = p->win;
	t->wscale = syn ? 0 : me->wscale;
	t->ack = ack;
	if (f->diverged) {
		t->old = true;		/* held until the epoch is committed */
		mark_odd(f, side, t);
		return;
	}
	compare_frame(c, f, side, t, p, pos, resyn);
	/* The frame that showed the divergence waits for the commit even if
	 * its positions look confirmed: a byte where the FIN was lies below
	 * `matched`, yet the secondary never sent it (found by fuzz_cmp). */
	if (f->diverged)
		t->old = true;
	mark_odd(f, side, t);
	advance(c, f);
	settle(c, f);
}

/* ---- commit ------------------------------------------------------------ */

static void flush_frames(struct cmp *c, struct flow *f, int side, bool emit)
{
	struct tside *s = &ts_of(f)->side[side];

	while (s->fhead) {
		struct tframe *t = s->fhead;

		if (emit)
			cmp_settle(c, f, side, t->id, t->epoch);
		tf_pop(c, f, side);
	}
	seg_free_list(c, s);
	old_free_list(c, s);
}

/*
 * The epoch is committed: the secondary now holds the primary's TCP state,
 * so the stream is confirmed up to everything the primary sent, and the
 * secondary's side takes the primary's values (offsets become zero).
 */
void tcp_commit(struct cmp *c, struct flow *f)
{
	struct tcp_stream *ts = ts_of(f);
	struct tside *p = &ts->side[CMP_PRIMARY], *s = &ts->side[CMP_SECONDARY];

	flush_frames(c, f, CMP_PRIMARY, true);
	flush_frames(c, f, CMP_SECONDARY, true);
	f->diverged = false;
	if (!p->seen) {
		seg_free_list(c, s);
		memset(s, 0, sizeof(*s));
		s->wscale = 0xff;
		return;
	}
	if (!ts->anchored || seq_lt(ts->matched, p->hi))
		ts->matched = p->hi;
	if (!ts->anchored)
		ts->anchor = p->hi;
	ts->anchored = ts->covered = true;
	if (p->fin_seen || p->rst)
		ts->closed = true;
	p->rst = false;
	*s = *p;
}

void tcp_free(struct cmp *c, struct flow *f)
{
	flush_frames(c, f, CMP_PRIMARY, false);
	flush_frames(c, f, CMP_SECONDARY, false);
}
