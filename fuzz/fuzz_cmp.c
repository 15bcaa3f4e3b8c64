/*
 * fuzz_cmp.c - libFuzzer harness for the comparator and its frame parser.
 *
 * The input is a small program that drives one comparator:
 *
 *   byte 0: configuration
 *     bits 0-2  CMP_F_LEARN_ISN, CMP_F_NO_WINDOW_RULE, CMP_F_NO_ACK_GUARD
 *     bit 3     tiny limits (2 flows, 600 held bytes, 4 frames, 1 datagram)
 *     bit 4     flow_linger_ns 0 (else 5 ms)
 *     bit 5     start two epochs before the 32-bit epoch wraps
 *     bit 6     end with cmp_free() and everything held (else commits)
 *   then records, each starting with an opcode byte:
 *     low nibble: what to do (enum op below)
 *     high nibble, for the frame operations:
 *       bit 4  CMP_LINK_IP (else CMP_LINK_ETH)
 *       bit 5  CMP_IN_TRUNCATED
 *       bits 6-7  epoch: 0 the current one, 1 the one after the next,
 *                 2 the next (both deferred), 3 the previous one (late)
 *     OP_P_MUT and OP_S_MUT are followed by two mutation bytes m0 m1
 *     frame operations go on with a big-endian 16-bit length and that
 *     many frame bytes (cut to what is left of the input)
 *     OP_TICK moves the clock by ((op >> 4) + 1) * 250 us
 *
 * After every call the actions are drained and checked against our own
 * book of the frames fed (side, epoch, state, what is compared):
 *   - RELEASE only of primary frames, DROP only of secondary ones, each at
 *     most once, with the epoch they were fed in, never for a later epoch;
 *     a frame of an epoch already committed is settled at once;
 *   - a commit settles every frame of its epoch and before, after which
 *     held_bytes and held_frames are 0 if nothing of a later epoch waits;
 *     held_frames is always the number of frames of this epoch waiting,
 *     held_bytes never above max_held_bytes, the released/dropped counters
 *     equal the actions;
 *   - a release before the commit is backed by the secondary: a message
 *     (UDP, ICMP, ARP, other) by an equal secondary message of the epoch;
 *     TCP, while it can be modelled (first epoch, flow opened by a SYN, no
 *     RST, no ISN learning), by equal first copies of every stream byte
 *     on both sides, and with the ACK guard by a secondary ack as high;
 *   - output that waited past its side's timeout, at a tick, has asked for
 *     a checkpoint, and cmp_next_deadline() is no later than that;
 *   - a window patch lowers the window and touches only the window and
 *     checksum, and keeps a valid checksum valid; pkt_parse() points only
 *     inside the frame.
 * A violated invariant prints "fuzz_cmp: invariant violated: ..." and
 * aborts with __builtin_trap().  Frames are named by number (id - ID_BASE,
 * from 0); with FUZZ_CMP_TRACE set in the environment every call and
 * action is printed to stderr.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/cmp.h"
#include "compare/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS_PER_US 1000ull

/*
 * 1: a HOLD_TIMEOUT checkpoint needs a frame that waited that long.  (It
 * found an empty reassembly queue left waiting after a fragment that could
 * not be reassembled; fixed in frag.c.)  -DCHECK_SPURIOUS_TIMEOUT=0 to skip.
 */
#ifndef CHECK_SPURIOUS_TIMEOUT
#define CHECK_SPURIOUS_TIMEOUT 1
#endif
#define ID_BASE 0x5eed00000000ull	/* ids above 32 bits on purpose */

enum op {
	OP_P,		/* a frame from the primary */
	OP_S,		/* from the secondary */
	OP_PS,		/* the same frame to both, primary first */
	OP_SP,		/* the same frame to both, secondary first */
	OP_P_MUT,	/* the frame to the primary, a mutant to the secondary */
	OP_S_MUT,	/* the frame to the secondary, a mutant to the primary */
	OP_COMMIT,	/* commit the current epoch */
	OP_TICK,	/* let time pass */
	OP_COMMIT_OLD,	/* commit the previous epoch again: a no-op */
	OP_COMMIT_NEXT,	/* commit the next epoch (and so the current one) */
	OP_INSPECT,	/* walk the flows, check the deadline */
	OP_MAX
};

enum id_state { ID_HELD, ID_RELEASED, ID_DROPPED };

/*
 * One frame we fed, indexed by id - ID_BASE, with what the comparator
 * compares of it: kind CMP_K_TCP, the payload at stream position seq of
 * flow key; other kinds, the message frame[at .. at + n); 0 for an IP
 * fragment, which is compared only once its datagram is whole.
 */
struct fed {
	uint8_t side;
	uint8_t state;		/* enum id_state */
	uint8_t link;
	uint8_t kind;		/* enum cmp_kind, or 0 */
	uint8_t tflags;		/* TCP flags */
	uint32_t epoch;
	uint32_t seq;		/* TCP: position of the first payload byte */
	uint32_t ack;		/* TCP */
	uint64_t since;		/* when its epoch was current and it was fed */
	uint8_t *frame;		/* our copy */
	size_t len;
	size_t at, n;		/* the bytes compared */
	struct cmp_flow_key key;	/* TCP */
};

/*
 *  struct run
 *   |-- c: the comparator under test
 *   |-- ids[0 .. nids): every frame fed, in id order
 *   '-- mirrors: epoch, clock, counts, checkpoint asked this epoch
 */
struct run {
	struct cmp *c;
	struct cmp_config cfg;
	struct fed *ids;
	size_t nids, cap;
	uint32_t epoch;		/* what cmp_epoch() must say */
	uint64_t now;
	uint64_t released, dropped;
	uint64_t held_now;	/* HELD ids of the current epoch */
	uint64_t commits;	/* since the start (after the wrap set-up) */
	bool ckpt_now;		/* a checkpoint was asked this epoch */
	bool no_tcp_oracle;	/* a flow went to the overflow flow */
	struct cmp_flow_key *ended;	/* keys of FLOW_END actions */
	size_t nended, capended;
	bool trace;		/* FUZZ_CMP_TRACE set: print calls, actions */
};

static bool seq_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

__attribute__((noreturn, format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_cmp: invariant violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

static uint8_t *dup_bytes(const uint8_t *d, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, d, n);
	return p;
}

/* ---- the frame parser ------------------------------------------------ */

static bool inside(const uint8_t *lo, size_t lolen, const uint8_t *p,
		   size_t n)
{
	return p >= lo && n <= lolen && (size_t)(p - lo) <= lolen - n;
}

/* Everything pkt_parse() points at lies inside the frame, nested. */
static void check_parse(const struct pkt *p, const uint8_t *f, size_t len)
{
	if (p->l3 == PKT_BAD && !p->why)
		fail("parse: PKT_BAD without a reason");
	if (p->nvlan > 2 || (p->wscale != 0xff && p->wscale > 14))
		fail("parse: nvlan %u wscale %u", p->nvlan, p->wscale);
	if (p->l3 == PKT_ARP && (!inside(f, len, p->net, p->netlen) ||
				 p->netlen < 8))
		fail("parse: ARP body outside the frame");
	if (p->l3 != PKT_IP)
		return;
	if (p->family != 4 && p->family != 6)
		fail("parse: family %u", p->family);
	if (!inside(f, len, p->net, p->netlen) ||
	    !inside(p->net, p->netlen, p->l4, p->l4len))
		fail("parse: IP datagram or upper layer outside the frame");
	if (p->payload && !inside(p->l4, p->l4len, p->payload, p->paylen))
		fail("parse: payload outside the upper layer");
	if (p->win_at && (p->proto != 6 || p->win_at + 4 > len))
		fail("parse: TCP window at %zu of %zu", p->win_at, len);
}

static void span(struct fed *e, const struct pkt *p, const uint8_t *d,
		 size_t n)
{
	e->at = d ? (size_t)(d - p->frame) : 0;
	e->n = d ? n : 0;
}

static void tcp_key(struct fed *e, const struct pkt *p)
{
	struct cmp_flow_key *k = &e->key;
	size_t alen = p->family == 4 ? 4 : 16;

	k->kind = CMP_K_TCP;
	k->family = p->family;
	k->proto = p->proto;
	k->nvlan = p->nvlan;
	k->vlan[0] = p->vlan[0];
	k->vlan[1] = p->vlan[1];
	k->ethertype = p->ethertype;
	k->sport = p->sport;
	k->dport = p->dport;
	memcpy(k->src, p->saddr, alen);
	memcpy(k->dst, p->daddr, alen);
}

/* What the comparator compares of a frame (cmp.c, cmp_route()). */
static void describe(struct fed *e, const struct pkt *p, uint32_t flags)
{
	span(e, p, p->frame, p->len);
	if (p->l3 == PKT_BAD || (flags & CMP_IN_TRUNCATED)) {
		e->kind = CMP_K_RAW;
	} else if (p->l3 == PKT_OTHER) {
		e->kind = CMP_K_ETH;
	} else if (p->l3 == PKT_ARP) {
		e->kind = CMP_K_ARP;
		span(e, p, p->net, p->netlen);
	} else if (p->frag) {
		e->kind = 0;
	} else if (p->proto == 6) {
		e->kind = CMP_K_TCP;
		e->tflags = p->tcpflags;
		e->seq = p->seq + !!(p->tcpflags & PKT_TCP_SYN);
		e->ack = p->ack;
		tcp_key(e, p);
		span(e, p, p->payload, p->paylen);
	} else if (p->proto == 17 || p->proto == 136) {
		e->kind = CMP_K_UDP;
		span(e, p, p->payload, p->paylen);
	} else {
		e->kind = (p->proto == 1 || p->proto == 58) && p->payload ?
			  CMP_K_ICMP : CMP_K_IP;
		span(e, p, p->l4, p->l4len);
	}
}

/* Sum of two 16-bit words in one's complement, modulo 0xffff. */
static uint32_t oc_pair(const uint8_t *w)
{
	return ((uint32_t)get16(w) + get16(w + 2)) % 0xffff;
}

/*
 * cmp_patch_window() on a copy: it patches exactly the TCP frames, changes
 * only the window (and the checksum unless CSUM_PARTIAL), and keeps a
 * valid checksum valid (window + checksum constant, one's complement).
 * Returns the window the frame carried, or -1 if it is not patchable.
 */
static long check_patch(const uint8_t *f, size_t len, enum cmp_link link,
			uint16_t win, bool partial)
{
	struct pkt p;
	uint8_t *copy = dup_bytes(f, len);
	size_t i, w;
	bool ok, want;
	long old = -1;

	pkt_parse(f, len, link, &p);
	want = p.l3 == PKT_IP && p.proto == 6 && !p.frag && p.win_at;
	ok = cmp_patch_window(copy, len, link, win, partial);
	if (ok != want)
		fail("patch: returned %d for a frame it should %spatch", ok,
		     want ? "" : "not ");
	w = ok ? p.win_at : len;
	for (i = 0; i < len; i++)
		if (copy[i] != f[i] && (i < w || i >= w + (partial ? 2 : 4)))
			fail("patch: byte %zu changed (window at %zu)", i, w);
	if (ok) {
		old = get16(f + w);
		if (get16(copy + w) != win)
			fail("patch: window not written");
		if (!partial && oc_pair(copy + w) != oc_pair(f + w))
			fail("patch: checksum no longer matches");
	}
	free(copy);
	return old;
}

/* ---- bookkeeping ------------------------------------------------------ */

static struct fed *fed_of(struct run *r, uint64_t id, const char *what)
{
	if (id < ID_BASE || id - ID_BASE >= r->nids)
		fail("%s of id %llu, never fed", what, (unsigned long long)id);
	return &r->ids[id - ID_BASE];
}

static void settle_id(struct run *r, struct fed *e, enum id_state to)
{
	e->state = (uint8_t)to;
	if (e->epoch == r->epoch)
		r->held_now--;
}

/* The same message, the ICMP checksum aside. */
static bool same_msg(const struct fed *a, const struct fed *b)
{
	const uint8_t *x = a->frame + a->at, *y = b->frame + b->at;
	size_t i;

	if (a->kind != b->kind || a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (x[i] != y[i] && !(a->kind == CMP_K_ICMP && (i == 2 || i == 3)))
			return false;
	return true;
}

/* A message released before its commit: the secondary sent it too. */
static void msg_oracle(const struct run *r, const struct fed *e)
{
	size_t i;

	for (i = 0; i < r->nids; i++) {
		const struct fed *g = &r->ids[i];

		if (g->side != CMP_SECONDARY || g->epoch != e->epoch)
			continue;
		if (!g->kind || same_msg(e, g))
			return;		/* a fragment: it may be the match */
	}
	fail("RELEASE of id %llu unverified: no secondary %s message of "
	     "epoch %u is the same", (unsigned long long)(e - r->ids),
	     cmp_kind_name((enum cmp_kind)e->kind), e->epoch);
}

static bool same_flow(const struct fed *a, const struct fed *b)
{
	return b->kind == CMP_K_TCP && !memcmp(&a->key, &b->key, sizeof(a->key));
}

/*
 * Whether the first-copy model below holds for E's flow: no commit yet,
 * no ISN learning, the flow opened by a SYN (so no segment is compared
 * by pairing), one ISN, no RST, never retired, no overflow.  Sets *ISN.
 */
static bool tcp_modelled(const struct run *r, const struct fed *e,
			 uint32_t *isn)
{
	bool first = true;
	size_t i;

	if (r->commits || r->no_tcp_oracle ||
	    (r->cfg.flags & CMP_F_LEARN_ISN))
		return false;
	for (i = 0; i < r->nended; i++)
		if (!memcmp(&r->ended[i], &e->key, sizeof(e->key)))
			return false;
	for (i = 0; i < r->nids; i++) {
		const struct fed *g = &r->ids[i];

		if (g->epoch != e->epoch || !same_flow(e, g))
			continue;
		if (first && !(g->tflags & PKT_TCP_SYN))
			return false;
		if (first)
			*isn = g->seq - 1;
		first = false;
		if ((g->tflags & PKT_TCP_RST) ||
		    ((g->tflags & PKT_TCP_SYN) && g->seq - 1 != *isn))
			return false;
	}
	return true;
}

/* Each side's first copy of the bytes of E, -1 where it sent none. */
static void first_copies(const struct run *r, const struct fed *e, int side,
			 int16_t *out)
{
	size_t i, j;

	for (j = 0; j < e->n; j++)
		out[j] = -1;
	for (i = 0; i < r->nids; i++) {
		const struct fed *g = &r->ids[i];

		if (g->side != side || g->epoch != e->epoch || !same_flow(e, g))
			continue;
		for (j = 0; j < g->n; j++) {
			uint32_t d = g->seq + (uint32_t)j - e->seq;

			if (d < e->n && out[d] < 0)
				out[d] = g->frame[g->at + j];
		}
	}
}

/* The ACK guard: the secondary acknowledged at least as much. */
static void ack_oracle(const struct run *r, const struct fed *e)
{
	size_t i;

	if (!(e->tflags & PKT_TCP_ACK) || (r->cfg.flags & CMP_F_NO_ACK_GUARD))
		return;
	for (i = 0; i < r->nids; i++) {
		const struct fed *g = &r->ids[i];

		if (g->side == CMP_SECONDARY && g->epoch == e->epoch &&
		    same_flow(e, g) && (g->tflags & PKT_TCP_ACK) &&
		    !seq_before(g->ack, e->ack))
			return;
	}
	fail("RELEASE of id %llu: ack %u, the secondary acknowledged less",
	     (unsigned long long)(e - r->ids), e->ack);
}

/*
 * A TCP frame released before its commit: every byte it carries past the
 * SYN was confirmed, i.e. the first copy the secondary sent of it in this
 * epoch equals the primary's first copy (overlaps keep the first copy);
 * and its ack passed the ACK guard.
 */
static void tcp_oracle(const struct run *r, const struct fed *e)
{
	int16_t *pc, *sc;
	uint32_t isn;
	size_t j;

	if (!tcp_modelled(r, e, &isn))
		return;
	ack_oracle(r, e);
	if (!e->n)
		return;
	pc = malloc(e->n * sizeof(*pc));
	sc = malloc(e->n * sizeof(*sc));
	if (!pc || !sc)
		abort();
	first_copies(r, e, CMP_PRIMARY, pc);
	first_copies(r, e, CMP_SECONDARY, sc);
	for (j = 0; j < e->n; j++) {
		if (seq_before(e->seq + (uint32_t)j, isn + 1))
			continue;
		if (sc[j] != pc[j])
			fail("RELEASE of id %llu unverified: stream byte at seq "
			     "%u is %d on the primary, %d on the secondary",
			     (unsigned long long)(e - r->ids),
			     e->seq + (uint32_t)j, pc[j], sc[j]);
	}
	free(pc);
	free(sc);
}

static void on_release(struct run *r, const struct cmp_action *a)
{
	struct fed *e = fed_of(r, a->id, "RELEASE");
	long old;

	if (e->side != CMP_PRIMARY)
		fail("RELEASE of secondary id %llu", (unsigned long long)(a->id - ID_BASE));
	if (e->state != ID_HELD)
		fail("RELEASE of id %llu already %s", (unsigned long long)(a->id - ID_BASE),
		     e->state == ID_RELEASED ? "released" : "dropped");
	if (a->epoch != e->epoch)
		fail("RELEASE of id %llu with epoch %u, fed in %u",
		     (unsigned long long)(a->id - ID_BASE), a->epoch, e->epoch);
	if (seq_before(r->epoch, e->epoch))
		fail("RELEASE of id %llu of future epoch %u (current %u)",
		     (unsigned long long)(a->id - ID_BASE), e->epoch, r->epoch);
	/* before its epoch is committed, only with the secondary's output */
	if (e->epoch == r->epoch && e->kind == CMP_K_TCP)
		tcp_oracle(r, e);
	else if (e->epoch == r->epoch && e->kind)
		msg_oracle(r, e);
	if (a->patch_window) {
		if (e->kind != CMP_K_TCP || (e->tflags & PKT_TCP_RST))
			fail("RELEASE with patch_window of a non-TCP frame");
		old = check_patch(e->frame, e->len, (enum cmp_link)e->link,
				  a->window, false);
		if (old >= 0 && a->window >= old)
			fail("RELEASE raises the window %ld to %u", old,
			     a->window);
	}
	settle_id(r, e, ID_RELEASED);
	r->released++;
}

static void on_drop(struct run *r, const struct cmp_action *a)
{
	struct fed *e = fed_of(r, a->id, "DROP");

	if (e->side != CMP_SECONDARY)
		fail("DROP of primary id %llu", (unsigned long long)(a->id - ID_BASE));
	if (e->state != ID_HELD)
		fail("DROP of id %llu already %s", (unsigned long long)(a->id - ID_BASE),
		     e->state == ID_RELEASED ? "released" : "dropped");
	if (a->epoch != e->epoch)
		fail("DROP of id %llu with epoch %u, fed in %u",
		     (unsigned long long)(a->id - ID_BASE), a->epoch, e->epoch);
	if (seq_before(r->epoch, e->epoch))
		fail("DROP of id %llu of future epoch %u (current %u)",
		     (unsigned long long)(a->id - ID_BASE), e->epoch, r->epoch);
	settle_id(r, e, ID_DROPPED);
	r->dropped++;
}

static void on_key(const struct cmp_flow_key *k)
{
	char buf[160];

	cmp_key_format(k, buf, sizeof(buf));
	if (!memchr(buf, 0, sizeof(buf)))
		fail("cmp_key_format: no terminator");
	/* a short buffer must be cut, not overrun */
	cmp_key_format(k, buf, 8);
	cmp_kind_name((enum cmp_kind)k->kind);
}

/*
 * A hold timeout is asked for only when some output of that side waited
 * its timeout: any frame, fragments included (their wait starts no later
 * than their reassembly queue's or datagram's).
 */
static void check_timeout(const struct run *r, const struct cmp_action *a)
{
	uint64_t limit = a->side == CMP_PRIMARY ? r->cfg.hold_timeout_ns :
			 r->cfg.secondary_timeout_ns;
	size_t i;

	if (!CHECK_SPURIOUS_TIMEOUT)
		return;
	for (i = 0; i < r->nids; i++) {
		const struct fed *e = &r->ids[i];

		if (e->state == ID_HELD && e->epoch == r->epoch &&
		    e->side == a->side && e->since + limit <= r->now)
			return;
	}
	fail("HOLD_TIMEOUT checkpoint on the %s side, but none of its "
	     "frames waited that long",
	     a->side == CMP_PRIMARY ? "primary" : "secondary");
}

static void note_end(struct run *r, const struct cmp_flow_key *k)
{
	if (r->nended == r->capended) {
		size_t n = r->capended ? r->capended * 2 : 16;
		struct cmp_flow_key *p = realloc(r->ended, n * sizeof(*p));

		if (!p)
			abort();
		r->ended = p;
		r->capended = n;
	}
	r->ended[r->nended++] = *k;
}

static void trace_action(const struct cmp_action *a)
{
	char key[160];

	switch (a->type) {
	case CMP_ACT_RELEASE:
	case CMP_ACT_DROP:
		fprintf(stderr, "  -> %s %llu epoch %u",
			a->type == CMP_ACT_RELEASE ? "RELEASE" : "DROP",
			(unsigned long long)(a->id - ID_BASE), a->epoch);
		if (a->patch_window)
			fprintf(stderr, " window %u", a->window);
		fputc('\n', stderr);
		break;
	case CMP_ACT_CHECKPOINT:
		fprintf(stderr, "  -> CHECKPOINT %s %s side %d offset %llu\n",
			cmp_reason_name(a->reason),
			cmp_key_format(&a->key, key, sizeof(key)), a->side,
			(unsigned long long)a->offset);
		break;
	default:
		fprintf(stderr, "  -> FLOW_END %s\n",
			cmp_key_format(&a->key, key, sizeof(key)));
	}
}

static void drain(struct run *r)
{
	const struct cmp_stats *st = cmp_get_stats(r->c);
	struct cmp_action a;

	while (cmp_next_action(r->c, &a)) {
		if (r->trace)
			trace_action(&a);
		switch (a.type) {
		case CMP_ACT_RELEASE:
			on_release(r, &a);
			break;
		case CMP_ACT_DROP:
			on_drop(r, &a);
			break;
		case CMP_ACT_CHECKPOINT:
			if (a.reason <= CMP_R_NONE || a.reason >= CMP_R_MAX ||
			    a.epoch != r->epoch)
				fail("CHECKPOINT reason %d epoch %u (now %u)",
				     a.reason, a.epoch, r->epoch);
			cmp_reason_name(a.reason);
			on_key(&a.key);
			if (a.reason == CMP_R_HOLD_TIMEOUT)
				check_timeout(r, &a);
			r->ckpt_now = true;
			if (a.reason == CMP_R_FLOW_LIMIT || a.reason == CMP_R_NOMEM)
				r->no_tcp_oracle = true;
			break;
		case CMP_ACT_FLOW_END:
			on_key(&a.key);
			note_end(r, &a.key);
			break;
		default:
			fail("action type %d", a.type);
		}
	}
	if (cmp_epoch(r->c) != r->epoch)
		fail("cmp_epoch %u, expected %u", cmp_epoch(r->c), r->epoch);
	if (st->released != r->released || st->dropped != r->dropped)
		fail("stats released %llu dropped %llu, actions %llu %llu",
		     (unsigned long long)st->released,
		     (unsigned long long)st->dropped,
		     (unsigned long long)r->released,
		     (unsigned long long)r->dropped);
	if (st->held_bytes > r->cfg.max_held_bytes)
		fail("held_bytes %llu over the limit",
		     (unsigned long long)st->held_bytes);
	if (st->held_frames != r->held_now)
		fail("held_frames %llu, but %llu frames of this epoch wait",
		     (unsigned long long)st->held_frames,
		     (unsigned long long)r->held_now);
	if (st->flows_active > r->cfg.max_flows)
		fail("flows_active %llu over the limit",
		     (unsigned long long)st->flows_active);
}

/* ---- operations ------------------------------------------------------- */

static void feed(struct run *r, enum cmp_side side, uint32_t epoch,
		 enum cmp_link link, uint32_t flags, const uint8_t *f,
		 size_t len)
{
	struct fed *e;
	struct pkt p;
	uint64_t id;
	uint16_t win;

	if (r->nids == r->cap) {
		size_t n = r->cap ? r->cap * 2 : 64;
		struct fed *ids = realloc(r->ids, n * sizeof(*ids));

		if (!ids)
			abort();
		r->ids = ids;
		r->cap = n;
	}
	pkt_parse(f, len, link, &p);
	check_parse(&p, f, len);
	win = (uint16_t)(len ? f[len - 1] << 8 | f[0] : 0);
	check_patch(f, len, link, win, true);
	check_patch(f, len, link, win, false);

	id = ID_BASE + r->nids;
	e = &r->ids[r->nids++];
	memset(e, 0, sizeof(*e));
	e->side = (uint8_t)side;
	e->state = ID_HELD;
	e->link = (uint8_t)link;
	describe(e, &p, flags);
	e->epoch = epoch;
	r->now += NS_PER_US;
	e->since = r->now;
	e->frame = dup_bytes(f, len);
	e->len = len;
	if (epoch == r->epoch)
		r->held_now++;
	if (r->trace)
		fprintf(stderr, "input %llu %s epoch %u %s%s len %zu %s\n",
			(unsigned long long)(id - ID_BASE),
			side == CMP_PRIMARY ? "primary" : "secondary", epoch,
			link == CMP_LINK_IP ? "ip" : "eth",
			flags & CMP_IN_TRUNCATED ? " truncated" : "", len,
			cmp_kind_name((enum cmp_kind)e->kind));
	if (cmp_input(r->c, side, id, epoch, link, f, len, flags, r->now))
		fail("cmp_input refused a valid call");
	drain(r);
	/* a frame of a committed epoch is settled at once */
	if (seq_before(epoch, r->epoch) && e->state == ID_HELD)
		fail("late id %llu (epoch %u, current %u) still held",
		     (unsigned long long)id, epoch, r->epoch);
}

/* Add DELTA to the sequence number of a TCP frame; false if not TCP. */
static bool shift_seq(uint8_t *f, size_t len, enum cmp_link link,
		      uint32_t delta)
{
	struct pkt p;
	uint8_t *s;
	uint32_t seq;

	pkt_parse(f, len, link, &p);
	if (p.l3 != PKT_IP || p.proto != 6 || !p.win_at)
		return false;
	s = f + p.win_at - 10;		/* the window is 10 bytes after it */
	seq = get32(s) + delta;
	s[0] = (uint8_t)(seq >> 24);
	s[1] = (uint8_t)(seq >> 16);
	s[2] = (uint8_t)(seq >> 8);
	s[3] = (uint8_t)seq;
	return true;
}

/*
 * Change a copy of F (room for LEN + 1 bytes) as M0 M1 say; returns its
 * new length.  M0 & 3: 0 flip a bit, 1 cut short, 2 shift the TCP
 * sequence number by (int8_t)M1 (else flip), 3 append M1.
 */
static size_t mutate(uint8_t *f, size_t len, enum cmp_link link, uint8_t m0,
		     uint8_t m1)
{
	size_t pos = len ? ((size_t)(m0 >> 2) << 8 | m1) % len : 0;

	switch (m0 & 3) {
	case 1:
		return pos;
	case 2:
		if (shift_seq(f, len, link, (uint32_t)(int8_t)(m1 | 1)))
			return len;
		break;
	case 3:
		f[len] = m1;
		return len + 1;
	}
	if (len)
		f[pos] ^= 0x01;
	return len;
}

/* Both sides, the first one unchanged, the other as MUT says. */
static void feed_pair(struct run *r, enum cmp_side first, bool mut,
		      uint8_t m0, uint8_t m1, uint32_t epoch,
		      enum cmp_link link, uint32_t flags, const uint8_t *f,
		      size_t len)
{
	uint8_t *copy = malloc(len + 1);
	size_t n = len;

	if (!copy)
		abort();
	if (len)
		memcpy(copy, f, len);
	if (mut)
		n = mutate(copy, len, link, m0, m1);
	feed(r, first, epoch, link, flags, f, len);
	feed(r, (enum cmp_side)!first, epoch, link, flags, copy, n);
	free(copy);
}

/* After a commit of EPOCH: all of it settled; nothing waiting, nothing held. */
static void check_committed(struct run *r, uint32_t epoch)
{
	const struct cmp_stats *st = cmp_get_stats(r->c);
	bool waiting = false;
	size_t i;

	for (i = 0; i < r->nids; i++) {
		const struct fed *e = &r->ids[i];

		if (e->state != ID_HELD)
			continue;
		if (!seq_before(epoch, e->epoch))
			fail("id %llu (%s, epoch %u) not settled by the commit "
			     "of epoch %u", (unsigned long long)i,
			     e->side == CMP_PRIMARY ? "primary" : "secondary",
			     e->epoch, epoch);
		waiting = true;
	}
	if (!waiting && (st->held_bytes || st->held_frames))
		fail("nothing waits after the commit of epoch %u, yet "
		     "held_bytes %llu held_frames %llu", epoch,
		     (unsigned long long)st->held_bytes,
		     (unsigned long long)st->held_frames);
}

/* The new epoch's frames: deferred ones start waiting now. */
static void enter_epoch(struct run *r, uint32_t epoch)
{
	size_t i;

	r->epoch = epoch;
	r->held_now = 0;
	r->ckpt_now = false;
	for (i = 0; i < r->nids; i++) {
		struct fed *e = &r->ids[i];

		if (e->epoch != epoch)
			continue;
		e->since = r->now;
		if (e->state == ID_HELD)
			r->held_now++;
	}
}

static void commit(struct run *r, uint32_t epoch)
{
	bool noop = seq_before(epoch, r->epoch);

	r->now += NS_PER_US;
	if (r->trace)
		fprintf(stderr, "commit %u (current %u)\n", epoch, r->epoch);
	cmp_commit(r->c, epoch, r->now);
	if (noop) {
		drain(r);
		return;
	}
	/* actions of the commit itself and of the frames that waited for
	 * the new epoch come out together */
	r->commits++;
	enter_epoch(r, epoch + 1);
	drain(r);
	check_committed(r, epoch);
}

/*
 * When the oldest frame of SIDE and this epoch still waiting times out, or
 * UINT64_MAX.  IP fragments are left out: a datagram starts waiting for
 * the other side when it is whole, which we do not model (the reassembly
 * queue has a hold timer of its own, from its first fragment).
 */
static uint64_t wait_deadline(const struct run *r, int side)
{
	uint64_t t = UINT64_MAX;
	size_t i;

	for (i = 0; i < r->nids; i++) {
		const struct fed *e = &r->ids[i];

		if (e->state == ID_HELD && e->epoch == r->epoch && e->kind &&
		    e->side == side && e->since < t)
			t = e->since;
	}
	if (t == UINT64_MAX)
		return t;
	return t + (side == CMP_PRIMARY ? r->cfg.hold_timeout_ns :
		    r->cfg.secondary_timeout_ns);
}

/* Output that waited past its side's timeout has asked for a checkpoint. */
static void tick(struct run *r, uint64_t dt)
{
	int side;

	r->now += dt;
	if (r->trace)
		fprintf(stderr, "tick to %llu us\n",
			(unsigned long long)(r->now / NS_PER_US));
	cmp_tick(r->c, r->now);
	drain(r);
	for (side = 0; side < 2 && !r->ckpt_now; side++)
		if (wait_deadline(r, side) <= r->now)
			fail("%s output waits since before %llu, now %llu, "
			     "no checkpoint asked",
			     side == CMP_PRIMARY ? "primary" : "secondary",
			     (unsigned long long)wait_deadline(r, side),
			     (unsigned long long)r->now);
}

static void count_flow(const struct cmp_flow_key *k,
		       const struct cmp_flow_stats *s, void *arg)
{
	(void)s;
	on_key(k);
	++*(uint64_t *)arg;
}

static void inspect(struct run *r)
{
	const struct cmp_stats *st = cmp_get_stats(r->c);
	uint64_t n = 0, t = wait_deadline(r, CMP_PRIMARY);

	if (wait_deadline(r, CMP_SECONDARY) < t)
		t = wait_deadline(r, CMP_SECONDARY);
	cmp_foreach_flow(r->c, count_flow, &n);
	if (n != st->flows_active)
		fail("%llu flows walked, flows_active %llu",
		     (unsigned long long)n,
		     (unsigned long long)st->flows_active);
	if (!r->ckpt_now && cmp_next_deadline(r->c) > t)
		fail("deadline %llu later than the oldest wait's timeout %llu",
		     (unsigned long long)cmp_next_deadline(r->c),
		     (unsigned long long)t);
}

/* ---- the program ------------------------------------------------------ */

static void configure(struct cmp_config *cfg, uint8_t b)
{
	cmp_config_defaults(cfg);
	cfg->flags = b & 7;
	cfg->max_flows = 8;
	cfg->max_held_bytes = 64 << 10;
	cfg->max_held_frames = 256;
	cfg->max_reassembly = 4;
	cfg->hold_timeout_ns = 1000 * NS_PER_US;
	cfg->secondary_timeout_ns = 3000 * NS_PER_US;
	cfg->flow_linger_ns = b & 0x10 ? 0 : 5000 * NS_PER_US;
	if (b & 0x08) {
		cfg->max_flows = 2;
		cfg->max_held_bytes = 600;
		cfg->max_held_frames = 4;
		cfg->max_reassembly = 1;
	}
}

static uint32_t frame_epoch(const struct run *r, uint8_t op)
{
	switch (op >> 6) {
	case 1:
		return r->epoch + 2;
	case 2:
		return r->epoch + 1;
	case 3:
		return r->epoch - 1;
	default:
		return r->epoch;
	}
}

/* Run the record at D (N bytes left); returns the bytes it used. */
static size_t step(struct run *r, const uint8_t *d, size_t n)
{
	uint8_t op = d[0], m0 = 0, m1 = 0;
	unsigned kind = op & 0x0f;
	enum cmp_link link = op & 0x10 ? CMP_LINK_IP : CMP_LINK_ETH;
	uint32_t flags = op & 0x20 ? CMP_IN_TRUNCATED : 0;
	size_t at = 1, len;

	if (kind >= OP_MAX)
		kind -= OP_MAX;		/* 11-15: more frame operations */
	switch (kind) {
	case OP_COMMIT:
		commit(r, r->epoch);
		return at;
	case OP_COMMIT_OLD:
		commit(r, r->epoch - 1);
		return at;
	case OP_COMMIT_NEXT:
		commit(r, r->epoch + 1);
		return at;
	case OP_TICK:
		tick(r, (uint64_t)((op >> 4) + 1) * 250 * NS_PER_US);
		return at;
	case OP_INSPECT:
		inspect(r);
		return at;
	}
	if (kind == OP_P_MUT || kind == OP_S_MUT) {
		m0 = at < n ? d[at] : 0;
		m1 = at + 1 < n ? d[at + 1] : 0;
		at += 2;
	}
	len = at + 1 < n ? (size_t)d[at] << 8 | d[at + 1] : 0;
	at += 2;
	if (at > n)
		at = n;
	if (len > n - at)
		len = n - at;
	d += at;
	switch (kind) {
	case OP_P:
	case OP_S:
		feed(r, kind == OP_P ? CMP_PRIMARY : CMP_SECONDARY,
		     frame_epoch(r, op), link, flags, d, len);
		break;
	case OP_PS:
	case OP_SP:
		feed_pair(r, kind == OP_PS ? CMP_PRIMARY : CMP_SECONDARY,
			  false, 0, 0, frame_epoch(r, op), link, flags, d, len);
		break;
	default:
		feed_pair(r, kind == OP_P_MUT ? CMP_PRIMARY : CMP_SECONDARY,
			  true, m0, m1, frame_epoch(r, op), link, flags, d, len);
	}
	return at + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r;
	size_t i;

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	r.trace = getenv("FUZZ_CMP_TRACE") != NULL;
	configure(&r.cfg, data[0]);
	if (cmp_new(&r.cfg, &r.c))
		fail("cmp_new refused a valid configuration");
	if (data[0] & 0x20) {
		/* two jumps of under 2^31 bring the epoch to 0xfffffffe */
		commit(&r, 0x7ffffffe);
		commit(&r, 0xfffffffd);
		r.commits = 0;
	}
	for (i = 1; i < size;)
		i += step(&r, data + i, size - i);
	/* the end: frames are at most two epochs ahead, so three commits
	 * settle everything; or cmp_free() with everything still held */
	if (!(data[0] & 0x40)) {
		commit(&r, r.epoch);
		commit(&r, r.epoch);
		commit(&r, r.epoch);
		check_committed(&r, r.epoch - 1);
		if (cmp_get_stats(r.c)->held_bytes ||
		    cmp_get_stats(r.c)->held_frames)
			fail("held_bytes or held_frames left at the end");
	}
	cmp_free(r.c);
	for (i = 0; i < r.nids; i++)
		free(r.ids[i].frame);
	free(r.ids);
	free(r.ended);
	return 0;
}
