/*
 * fuzz_rw.c - libFuzzer harness for the sequence rewriter (colo-proxy/
 * rewrite.c) and the checksum code under it (common/csum.c).
 *
 * The input is a small program that drives one rewriter:
 *
 *   byte 0: configuration
 *     bits 0-1  max_conns 1, 2, 4 or 64
 *     bit 2     closed_linger_ns 0 (else 2 ms)
 *     bit 3     idle_timeout_ns 5 ms (else 1 s)
 *   then records, each starting with an opcode byte; low 3 bits:
 *     0 RAW     d, len16, bytes: a frame as given; d bit 0 RW_FROM_VM,
 *               bit 1 CMP_LINK_IP, bit 2 RW_F_CSUM_PARTIAL
 *     1, 7 SEG  a TCP segment built here with a valid checksum:
 *               d (bit 0 from the VM, 1 IPv6, 2 VLAN tag, 3 IPv6
 *               extension headers, 4 CSUM_PARTIAL (the checksum field
 *               then holds the pseudo-header sum), 5 CMP_LINK_IP,
 *               6-7 which of four connections), tcpflags, seq32, ack32,
 *               optlen (cut to 40, rounded down to 4) and that many
 *               option bytes, paylen, m (bit 0 spoil the checksum,
 *               bits 4-7 cut that many bytes off the end)
 *     2 HINT    d (bits 1, 6-7 as SEG), isn32: rw_learn_pvm_isn(); with
 *               d bit 2, ts32 first: rw_learn_pvm_tsval()
 *     3 RESET   rw_reset()
 *     4 TICK    the clock moves (op >> 3) + 1 ms; rw_tick()
 *     5 REPLAY  every parked RW_WAIT packet is offered again
 *     6 PHINT   isn32: a hint for the key of parked packet op >> 3
 * Missing bytes at the end of the input read as 0.
 *
 * After every call it checks:
 *   - a packet changes only with RW_CHANGED, and then only in its TCP
 *     sequence number and timestamp TSval (from the VM) or acknowledgment
 *     number, SACK edges and timestamp TSecr (to the VM; a TSecr of 0
 *     never), the TCP checksum and, for CSUM_PARTIAL, the IPv4 header
 *     checksum; the new numbers are the old ones -/+ the offsets
 *     rw_offset() and rw_ts_offset() report;
 *   - RW_WAIT only for a SYN from the VM; RW_MALFORMED only for what
 *     pkt_parse() rejects; non-TCP, fragments: RW_PASS;
 *   - a checksum valid before a change is valid after it, an invalid one
 *     stays invalid; a CSUM_PARTIAL packet leaves with a valid one (and a
 *     valid IPv4 header checksum); checked by a sum of our own;
 *   - rw_learn_pvm_isn() returning true leaves an offset for the key;
 *     after rw_reset() every known offset is 0;
 *   - the counters add up: conns_active <= max_conns and equals created
 *     - expired - evicted; rewritten <= packets.
 * A violated invariant prints "fuzz_rw: invariant violated: ..." and
 * aborts with __builtin_trap().  With FUZZ_RW_TRACE set in the
 * environment every call and its result is printed to stderr.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/rewrite.h"
#include "common/csum.h"
#include "compare/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MS 1000000ull
#define NPARK 8
#define NKEYS 8			/* 4 connections x 2 families */
#define FRAME_MAX 4200

enum op { OP_RAW, OP_SEG, OP_HINT, OP_RESET, OP_TICK, OP_REPLAY, OP_PHINT,
	  OP_SEG2 };

struct parked {
	uint8_t *b;
	size_t len;
	enum cmp_link link;
	uint32_t flags;
};

struct run {
	struct rw *rw;
	struct rw_config cfg;
	uint64_t now;
	struct parked park[NPARK];
	int npark;
	const uint8_t *d;	/* the program */
	size_t n, at;
	bool trace;
};

__attribute__((format(printf, 2, 3)))
static void trace(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->trace)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

__attribute__((noreturn, format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_rw: invariant violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

/* ---- reading the program --------------------------------------------------- */

static uint8_t rd8(struct run *r)
{
	return r->at < r->n ? r->d[r->at++] : 0;
}

static uint32_t rd32(struct run *r)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v << 8 | rd8(r);
	return v;
}

/* ---- our own checksum, to judge csum.c and rewrite.c ------------------------ */

static uint16_t sum16(const uint8_t *b, size_t n, uint32_t s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		s += i & 1 ? b[i] : (uint32_t)b[i] << 8;
		s = (s & 0xffff) + (s >> 16);
	}
	return (uint16_t)s;
}

static uint32_t pseudo(const struct pkt *p)
{
	size_t alen = p->family == 4 ? 4 : 16;

	return sum16(p->daddr, alen, sum16(p->saddr, alen, 6 + (uint32_t)p->l4len));
}

static bool tcp_sum_ok(const struct pkt *p)
{
	return sum16(p->l4, p->l4len, pseudo(p)) == 0xffff;
}

static bool ip4_sum_ok(const struct pkt *p)
{
	return p->family != 4 ||
	       sum16(p->net, (size_t)(p->net[0] & 15) * 4, 0) == 0xffff;
}

static bool whole_tcp(const struct pkt *p)
{
	return p->l3 == PKT_IP && p->proto == 6 && !p->frag;
}

/* ---- the checks around one rw_frame() call ----------------------------------- */

static void key_of(const struct pkt *p, enum rw_dir dir, struct rw_key *k)
{
	size_t alen = p->family == 4 ? 4 : 16;
	bool out = dir == RW_FROM_VM;

	memset(k, 0, sizeof(*k));
	k->family = p->family;
	memcpy(k->vm_addr, out ? p->saddr : p->daddr, alen);
	memcpy(k->peer_addr, out ? p->daddr : p->saddr, alen);
	k->vm_port = out ? p->sport : p->dport;
	k->peer_port = out ? p->dport : p->sport;
}

/* Bytes [lo, hi) of the frame may differ. */
struct span {
	size_t lo, hi;
};

static bool in_spans(const struct span *s, int n, size_t i)
{
	int j;

	for (j = 0; j < n; j++)
		if (i >= s[j].lo && i < s[j].hi)
			return true;
	return false;
}

/* The TSval (TSOFF 0) or TSecr (4) of the first well-formed timestamp
 * option at OLD[i] moved as rewrite.c must move it. */
static void check_ts(const uint8_t *old, const uint8_t *nw, size_t i,
		     bool to_vm, uint32_t ts_off, bool *edge)
{
	size_t at = i + 2 + (to_vm ? 4 : 0);
	uint32_t was = get32(old + at), want = was;

	if (to_vm && was)
		want = was + ts_off;
	else if (!to_vm)
		want = was - ts_off;
	if (get32(nw + at) != want)
		fail("timestamp at %zu: %u, want %u (offset %u)", at,
		     get32(nw + at), want, ts_off);
	memset(edge + at, 1, 4);
}

/* Well-formed SACK edges (to the VM) moved by OFF, the first timestamp
 * option moved by TS_OFF, every other option byte kept (our own walk of
 * the RFC 2018 and 7323 options, as rewrite.c should do it). */
static void check_options(const uint8_t *old, const uint8_t *nw, size_t doff,
			  uint32_t off, bool to_vm, uint32_t ts_off)
{
	bool edge[60] = { false };	/* doff <= 60 */
	size_t i = 20, j, olen;
	bool ts_seen = false;

	while (i < doff && old[i] != 0) {
		if (old[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || old[i + 1] < 2 || old[i + 1] > doff - i)
			break;
		olen = old[i + 1];
		if (old[i] == 8 && olen == 10 && !ts_seen) {
			ts_seen = true;
			check_ts(old, nw, i, to_vm, ts_off, edge);
		}
		for (j = i + 2; to_vm && old[i] == 5 && olen >= 10 &&
		     (olen - 2) % 8 == 0 && j < i + olen; j += 4) {
			if (get32(nw + j) != get32(old + j) + off)
				fail("SACK edge at %zu: %u, want %u + %u", j,
				     get32(nw + j), get32(old + j), off);
			memset(edge + j, 1, 4);
		}
		i += olen;
	}
	for (i = 20; i < doff; i++)
		if (!edge[i] && old[i] != nw[i])
			fail("option byte %zu changed outside a SACK edge or "
			     "a timestamp", i);
}

/* A change was made: is it the one asked for? */
static void check_change(struct run *r, enum rw_dir dir, const struct pkt *p,
			 const uint8_t *old, const uint8_t *nw, size_t len,
			 uint32_t flags)
{
	size_t l4 = (size_t)(p->l4 - p->frame), net = (size_t)(p->net - p->frame);
	size_t doff = (size_t)(p->l4[12] >> 4) * 4, i;
	bool partial = flags & RW_F_CSUM_PARTIAL;
	struct span s[4] = { { l4 + 16, l4 + 18 } };
	struct rw_key k;
	uint32_t off = 0, ts_off = 0;
	bool to_vm = dir == RW_TO_VM;

	if (!whole_tcp(p))
		fail("RW_CHANGED for a packet that is not a whole TCP segment");
	if (partial && p->family == 4)		/* csum_l4_fill() redoes it */
		s[1] = (struct span){ net + 10, net + 12 };
	key_of(p, dir, &k);
	rw_offset(r->rw, &k, &off);
	rw_ts_offset(r->rw, &k, &ts_off);
	if (!off && !ts_off)
		fail("RW_CHANGED without a non-zero offset");
	if (!to_vm) {
		s[2] = (struct span){ l4 + 4, l4 + 8 };
		if (get32(nw + l4 + 4) != p->seq - off)
			fail("seq %u became %u, offset %u", p->seq,
			     get32(nw + l4 + 4), off);
	} else {
		uint32_t want = p->tcpflags & PKT_TCP_ACK ? p->ack + off :
			p->ack;

		s[2] = (struct span){ l4 + 8, l4 + 12 };
		if (get32(nw + l4 + 8) != want)
			fail("ack %u became %u, offset %u", p->ack,
			     get32(nw + l4 + 8), off);
	}
	s[3] = (struct span){ l4 + 20, l4 + doff };
	check_options(old + l4, nw + l4, doff,
		      to_vm && (p->tcpflags & PKT_TCP_ACK) ? off : 0, to_vm,
		      ts_off);
	for (i = 0; i < len; i++)
		if (old[i] != nw[i] && !in_spans(s, 4, i))
			fail("byte %zu changed", i);
}

/* Checksums after a change, judged by our own sum. */
static void check_sums(const struct pkt *before, const uint8_t *nw,
		       size_t len, enum cmp_link link, uint32_t flags)
{
	struct pkt q;
	bool was_ok = tcp_sum_ok(before);

	pkt_parse(nw, len, link, &q);
	if (!whole_tcp(&q))
		fail("a changed packet no longer parses as TCP");
	if (flags & RW_F_CSUM_PARTIAL) {
		if (!tcp_sum_ok(&q) || !ip4_sum_ok(&q))
			fail("CSUM_PARTIAL packet left without a full checksum");
		if (!csum_l4_ok(q.net, q.netlen, (size_t)(q.l4 - q.net), 6))
			fail("csum_l4_ok() disagrees with our sum");
	} else if (tcp_sum_ok(&q) != was_ok) {
		fail("checksum was %s, is %s after the change",
		     was_ok ? "valid" : "invalid", was_ok ? "invalid" : "valid");
	}
}

static void check_stats(const struct run *r)
{
	const struct rw_stats *st = rw_get_stats(r->rw);
	int d;

	if (st->conns_active > r->cfg.max_conns)
		fail("%llu connections, limit %u",
		     (unsigned long long)st->conns_active, r->cfg.max_conns);
	if (st->conns_created - st->conns_expired - st->conns_evicted !=
	    st->conns_active)
		fail("created %llu - expired %llu - evicted %llu != active %llu",
		     (unsigned long long)st->conns_created,
		     (unsigned long long)st->conns_expired,
		     (unsigned long long)st->conns_evicted,
		     (unsigned long long)st->conns_active);
	for (d = 0; d < 2; d++)
		if (st->rewritten[d] > st->packets[d])
			fail("rewritten > packets");
}

static void park(struct run *r, const uint8_t *b, size_t len,
		 enum cmp_link link, uint32_t flags)
{
	struct parked *p;

	if (r->npark == NPARK) {
		free(r->park[0].b);
		memmove(r->park, r->park + 1, sizeof(r->park[0]) * (NPARK - 1));
		r->npark--;
	}
	p = &r->park[r->npark++];
	p->b = malloc(len ? len : 1);
	if (!p->b)
		abort();
	memcpy(p->b, b, len);
	p->len = len;
	p->link = link;
	p->flags = flags;
}

/*
 * rw_frame() on an exact-size heap copy of FRAME (so ASan sees any read
 * past it), with every check.  Returns the result.
 */
static enum rw_result frame(struct run *r, enum rw_dir dir, const uint8_t *fr,
			    size_t len, enum cmp_link link, uint32_t flags)
{
	uint8_t *b = malloc(len ? len : 1);
	enum rw_result res;
	struct pkt p;

	if (!b)
		abort();
	memcpy(b, fr, len);
	pkt_parse(fr, len, link, &p);
	res = rw_frame(r->rw, dir, b, len, link, flags, r->now);
	trace(r, "rw_frame %s len %zu%s%s: %s%s, seq %u ack %u flags %#x -> %d",
	      dir == RW_FROM_VM ? "from-vm" : "to-vm", len,
	      link == CMP_LINK_IP ? " ip" : "", flags ? " partial" : "",
	      p.l3 == PKT_BAD ? "bad: " : whole_tcp(&p) ? "tcp" : "other",
	      p.l3 == PKT_BAD ? p.why : "", p.seq, p.ack, p.tcpflags, res);
	switch (res) {
	case RW_CHANGED:
		check_change(r, dir, &p, fr, b, len, flags);
		check_sums(&p, b, len, link, flags);
		break;
	case RW_WAIT:
		if (dir != RW_FROM_VM || !whole_tcp(&p) ||
		    !(p.tcpflags & PKT_TCP_SYN))
			fail("RW_WAIT for something else than a SYN from the VM");
		break;
	case RW_MALFORMED:
		if (p.l3 != PKT_BAD)
			fail("RW_MALFORMED for a frame pkt_parse() accepts");
		break;
	case RW_PASS:
		if (p.l3 == PKT_BAD)
			fail("RW_PASS for a frame pkt_parse() rejects");
		break;
	default:
		fail("result %d", res);
	}
	if (res != RW_CHANGED && memcmp(b, fr, len))
		fail("packet changed with result %d", res);
	if (res == RW_WAIT)
		park(r, fr, len, link, flags);
	free(b);
	check_stats(r);
	return res;
}

/* ---- the operations ------------------------------------------------------ */



/* Connection D (bits 1, 6-7) as a key. */
static void conn_key(uint8_t d, struct rw_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = d & 2 ? 6 : 4;
	if (k->family == 4) {
		memcpy(k->vm_addr, "\x0a\x00\x00\x02", 4);
		memcpy(k->peer_addr, "\x0a\x00\x00\x01", 4);
	} else {
		k->vm_addr[0] = k->peer_addr[0] = 0xfd;
		k->vm_addr[15] = 2;
		k->peer_addr[15] = 1;
	}
	k->vm_port = (d >> 6) == 3 ? 40001 : 80;
	k->peer_port = (uint16_t)(40000 + (d >> 6));
}

/* The IP header for an L4 of L4LEN bytes; returns the L4 offset. */
static size_t build_ip(uint8_t *b, uint8_t d, const struct rw_key *k,
		       size_t l4len)
{
	bool v6 = d & 2, from_vm = d & 1, ext = v6 && (d & 8);
	const uint8_t *src = from_vm ? k->vm_addr : k->peer_addr;
	const uint8_t *dst = from_vm ? k->peer_addr : k->vm_addr;

	if (!v6) {
		memset(b, 0, 20);
		b[0] = 0x45;
		put16(b + 2, (uint16_t)(20 + l4len));
		b[8] = 64;
		b[9] = 6;
		memcpy(b + 12, src, 4);
		memcpy(b + 16, dst, 4);
		put16(b + 10, (uint16_t)~sum16(b, 20, 0));
		return 20;
	}
	memset(b, 0, 40 + (ext ? 16 : 0));
	b[0] = 0x60;
	put16(b + 4, (uint16_t)(l4len + (ext ? 16 : 0)));
	b[6] = ext ? 0 : 6;
	b[7] = 64;
	memcpy(b + 8, src, 16);
	memcpy(b + 24, dst, 16);
	if (!ext)
		return 40;
	b[40] = 60;		/* hop-by-hop, PadN, then destination options */
	b[42] = 1;
	b[43] = 4;
	b[48] = 6;
	b[50] = 1;
	b[51] = 4;
	return 56;
}

/* Build the SEG record's segment into B; returns its length. */
static size_t build_seg(struct run *r, uint8_t *b, uint8_t d)
{
	uint8_t tf = rd8(r), optlen, paylen, m, *t, opt[40];
	uint32_t seq = rd32(r), ack = rd32(r);
	size_t o = 0, l4, hl, i;
	struct rw_key k;
	struct pkt p;

	conn_key(d, &k);
	if (!(d & 0x20)) {
		memcpy(b, "\x52\x54\x00\x12\x34\x56\x02\x00\x00\x00\x00\x01", 12);
		if (d & 4) {
			put16(b + 12, 0x8100);
			put16(b + 14, 42);
			o = 4;
		}
		put16(b + 12 + o, d & 2 ? 0x86dd : 0x0800);
		o += 14;
	}
	optlen = rd8(r);
	optlen = (uint8_t)((optlen > 40 ? 40 : optlen) & ~3);
	hl = 20 + optlen;
	for (i = 0; i < optlen; i++)
		opt[i] = rd8(r);
	paylen = rd8(r);
	m = rd8(r);
	l4 = o + build_ip(b + o, d, &k, hl + paylen);
	t = b + l4;
	memcpy(t + 20, opt, optlen);
	put16(t, d & 1 ? k.vm_port : k.peer_port);
	put16(t + 2, d & 1 ? k.peer_port : k.vm_port);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((hl / 4) << 4);
	t[13] = tf;
	put16(t + 14, 1000);
	put16(t + 16, 0);
	put16(t + 18, 0);
	for (i = 0; i < paylen; i++)
		t[hl + i] = (uint8_t)(i * 7);
	pkt_parse(b, l4 + hl + paylen, d & 0x20 ? CMP_LINK_IP : CMP_LINK_ETH,
		  &p);
	if (!whole_tcp(&p))
		fail("the harness built a segment that does not parse");
	if (d & 0x10)		/* CHECKSUM_PARTIAL: pseudo-header sum only */
		put16(t + 16, sum16(t, 0, pseudo(&p)));
	else
		put16(t + 16, (uint16_t)~sum16(t, hl + paylen, pseudo(&p)));
	if (m & 1)
		t[16] ^= 0x5a;
	return l4 + hl + paylen - (size_t)(m >> 4);	/* >= 34 bytes cut by <= 15 */
}

static void op_seg(struct run *r)
{
	static uint8_t b[FRAME_MAX];
	uint8_t d = rd8(r);
	size_t len = build_seg(r, b, d);

	frame(r, d & 1 ? RW_FROM_VM : RW_TO_VM, b, len,
	      d & 0x20 ? CMP_LINK_IP : CMP_LINK_ETH,
	      d & 0x10 ? RW_F_CSUM_PARTIAL : 0);
}

static void op_raw(struct run *r)
{
	uint8_t d = rd8(r);
	size_t len = (size_t)rd8(r) << 8;
	enum cmp_link link = d & 2 ? CMP_LINK_IP : CMP_LINK_ETH;
	struct rw_key k;
	struct pkt p;

	len |= rd8(r);
	if (len > r->n - r->at)
		len = r->n - r->at;
	pkt_parse(r->d + r->at, len, link, &p);
	if (rw_key_from_vm_packet(r->d + r->at, len, link, &k, NULL, NULL) !=
	    whole_tcp(&p))
		fail("rw_key_from_vm_packet() and pkt_parse() disagree");
	frame(r, d & 1 ? RW_FROM_VM : RW_TO_VM, r->d + r->at, len, link,
	      d & 4 ? RW_F_CSUM_PARTIAL : 0);
	r->at += len;
}

static void learn(struct run *r, const struct rw_key *k, uint32_t isn)
{
	bool done = rw_learn_pvm_isn(r->rw, k, isn, r->now);

	trace(r, "rw_learn_pvm_isn family %u port %u/%u isn %u -> %d",
	      k->family, k->vm_port, k->peer_port, isn, done);
	if (done && !rw_offset(r->rw, k, NULL))
		fail("rw_learn_pvm_isn() true, but no offset");
	check_stats(r);
}

static void op_hint(struct run *r)
{
	uint8_t d = rd8(r);
	struct rw_key k;

	conn_key(d, &k);
	if (d & 4) {
		uint32_t ts = rd32(r);

		rw_learn_pvm_tsval(r->rw, &k, ts, r->now);
		trace(r, "rw_learn_pvm_tsval port %u/%u ts %u", k.vm_port,
		      k.peer_port, ts);
	}
	learn(r, &k, rd32(r));
}

static void op_phint(struct run *r, uint8_t op)
{
	uint32_t isn = rd32(r);
	struct parked *p;
	struct rw_key k;

	if (!r->npark)
		return;
	p = &r->park[(op >> 3) % r->npark];
	if (!rw_key_from_vm_packet(p->b, p->len, p->link, &k, NULL, NULL))
		fail("a parked packet has no key");
	learn(r, &k, isn);
}

static void op_replay(struct run *r)
{
	struct parked p[NPARK];
	int i, n = r->npark;

	/* frame() parks what waits again */
	memcpy(p, r->park, sizeof(p));
	r->npark = 0;
	for (i = 0; i < n; i++) {
		frame(r, RW_FROM_VM, p[i].b, p[i].len, p[i].link, p[i].flags);
		free(p[i].b);
	}
}

/* After rw_reset() every offset we can name is 0. */
static void op_reset(struct run *r)
{
	struct rw_key k;
	uint32_t off;
	int i;

	rw_reset(r->rw);
	trace(r, "rw_reset");
	for (i = 0; i < NKEYS; i++) {
		conn_key((uint8_t)((i & 1) << 1 | (i >> 1) << 6), &k);
		if (rw_offset(r->rw, &k, &off) && off)
			fail("offset %u after rw_reset()", off);
		if (rw_ts_offset(r->rw, &k, &off) && off)
			fail("timestamp offset %u after rw_reset()", off);
	}
	for (i = 0; i < r->npark; i++) {
		struct parked *p = &r->park[i];

		if (rw_key_from_vm_packet(p->b, p->len, p->link, &k, NULL,
					  NULL) &&
		    rw_offset(r->rw, &k, &off) && off)
			fail("offset %u after rw_reset()", off);
	}
}

static void configure(struct rw_config *cfg, uint8_t b)
{
	static const uint32_t max[4] = { 1, 2, 4, 64 };

	rw_config_defaults(cfg);
	cfg->max_conns = max[b & 3];
	cfg->closed_linger_ns = b & 4 ? 0 : 2 * MS;
	cfg->idle_timeout_ns = b & 8 ? 5 * MS : 1000 * MS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run r;
	int i;

	if (size < 1)
		return 0;
	memset(&r, 0, sizeof(r));
	r.d = data;
	r.n = size;
	r.at = 1;
	r.now = 1000 * MS;
	r.trace = getenv("FUZZ_RW_TRACE") != NULL;
	configure(&r.cfg, data[0]);
	if (rw_new(&r.cfg, &r.rw))
		fail("rw_new() refused a valid configuration");
	while (r.at < r.n) {
		uint8_t op = rd8(&r);

		r.now += 1000;
		switch (op & 7) {
		case OP_RAW:
			op_raw(&r);
			break;
		case OP_SEG:
		case OP_SEG2:
			op_seg(&r);
			break;
		case OP_HINT:
			op_hint(&r);
			break;
		case OP_RESET:
			op_reset(&r);
			break;
		case OP_TICK:
			r.now += (uint64_t)((op >> 3) + 1) * MS;
			rw_tick(r.rw, r.now);
			trace(&r, "rw_tick %llu: %llu connections",
			      (unsigned long long)r.now,
			      (unsigned long long)rw_get_stats(r.rw)->conns_active);
			check_stats(&r);
			break;
		case OP_REPLAY:
			op_replay(&r);
			break;
		case OP_PHINT:
			op_phint(&r, op);
			break;
		}
	}
	rw_free(r.rw);
	for (i = 0; i < r.npark; i++)
		free(r.park[i].b);
	return 0;
}
