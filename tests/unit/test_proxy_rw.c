/*
 * test_proxy_rw.c - the secondary's sequence rewriter: learning the offset
 * (primary hint, the peer's handshake ACK, VM- and peer-initiated
 * connections, RW_WAIT), translation with wrap-around, SACK and D-SACK
 * blocks, malformed options, IPv6 extension headers, VLAN tags, the bare
 * IP link, fragments and other protocols left alone, checksums (also
 * CHECKSUM_PARTIAL and GSO-sized), rw_reset(), expiry, LRU and the limit,
 * and truncated or garbage input read only within its bounds.
 *
 * The VM is 10.0.0.2:80 (fd00::2 for IPv6) unless said otherwise, the
 * peer 10.0.0.1:40000: frames.c's defaults for a VM-sent segment.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "colo-proxy/rewrite.h"
#include "common/csum.h"
#include "compare/parse.h"
#include "tests/support/frames.h"

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04
#define PSH 0x08
#define SEC 1000000000ull

static struct rw *rw;
static struct fr f;
static uint64_t now = 5 * SEC;
static int family = 4;			/* of the frames built */
static uint16_t vlan;			/* tag of the frames built */
/* the VM opened the connection: it is 10.0.0.2:40000 > 10.0.0.1:80 */
static bool vm_init;

static void setup(void)
{
	struct rw_config cfg;

	alarm(30);
	rw_config_defaults(&cfg);
	cr_assert_eq(rw_new(&cfg, &rw), 0);
	family = 4;
	vlan = 0;
	vm_init = false;
}

static void teardown(void)
{
	rw_free(rw);
	rw = NULL;
}

TestSuite(rw, .init = setup, .fini = teardown);
TestSuite(rw_table, .init = setup, .fini = teardown);
TestSuite(rw_input, .init = setup, .fini = teardown);

/* ---- frames and checks ------------------------------------------------------ */

static void parse(const struct fr *x, struct pkt *p)
{
	pkt_parse(x->b, x->len, CMP_LINK_ETH, p);
	cr_assert_eq(p->l3, PKT_IP, "%s", p->why ? p->why : "not IP");
}

static uint32_t seq_of(const struct fr *x)
{
	struct pkt p;

	parse(x, &p);
	return p.seq;
}

static uint32_t ack_of(const struct fr *x)
{
	struct pkt p;

	parse(x, &p);
	return p.ack;
}

/* An independent check of the TCP checksum: word by word, folding. */
static bool ref_tcp_ok(const uint8_t *b, size_t len, enum cmp_link link)
{
	struct pkt p;
	uint32_t s;
	size_t i, alen;

	pkt_parse(b, len, link, &p);
	if (p.l3 != PKT_IP || p.proto != 6 || p.frag)
		return false;
	alen = p.family == 4 ? 4 : 16;
	s = 6 + (uint32_t)p.l4len;
	for (i = 0; i < alen; i += 2)
		s += (uint32_t)get16(p.saddr + i) + get16(p.daddr + i);
	for (i = 0; i < p.l4len; i++)
		s += i & 1 ? p.l4[i] : (uint32_t)p.l4[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/* Both checkers agree that the TCP checksum of X is right. */
static void expect_csum_ok(const struct fr *x)
{
	struct pkt p;

	parse(x, &p);
	cr_expect(csum_l4_ok(p.net, p.netlen, (size_t)(p.l4 - p.net), 6),
		  "csum_l4_ok");
	cr_expect(ref_tcp_ok(x->b, x->len, CMP_LINK_ETH), "reference sum");
}


static struct fr_spec spec(bool from_vm, uint8_t flags, uint32_t seq,
			   uint32_t ack)
{
	struct fr_spec s = { .family = family, .vlan = vlan, .flags = flags,
			     .seq = seq, .ack = ack, .no_wscale = true };
	bool v6 = family == 6;
	const char *vm = v6 ? "fd00::2" : "10.0.0.2";
	const char *peer = v6 ? "fd00::1" : "10.0.0.1";
	uint16_t vm_port = vm_init ? 40000 : 80;
	uint16_t peer_port = vm_init ? 80 : 40000;

	s.src = from_vm ? vm : peer;
	s.dst = from_vm ? peer : vm;
	s.sport = from_vm ? vm_port : peer_port;
	s.dport = from_vm ? peer_port : vm_port;
	return s;
}

static enum rw_result feed(enum rw_dir dir, struct fr *x, uint32_t flags)
{
	uint8_t *copy = malloc(x->len);
	enum rw_result r;

	/* an exact-size heap copy: ASan sees any read past the end */
	cr_assert(copy);
	memcpy(copy, x->b, x->len);
	r = rw_frame(rw, dir, copy, x->len, CMP_LINK_ETH, flags, now);
	if (r != RW_CHANGED)
		cr_expect_eq(memcmp(copy, x->b, x->len), 0,
			     "result %d but the packet changed", r);
	memcpy(x->b, copy, x->len);
	free(copy);
	if (r == RW_CHANGED && !(flags & RW_F_CSUM_PARTIAL))
		expect_csum_ok(x);
	return r;
}

static enum rw_result from_vm(uint8_t flags, uint32_t seq, uint32_t ack,
			      size_t n)
{
	static uint8_t data[2000];
	struct fr_spec s = spec(true, flags, seq, ack);

	fr_tcp(&f, &s, data, n);
	return feed(RW_FROM_VM, &f, 0);
}

static enum rw_result to_vm(uint8_t flags, uint32_t seq, uint32_t ack,
			    size_t n)
{
	static uint8_t data[2000];
	struct fr_spec s = spec(false, flags, seq, ack);

	fr_tcp(&f, &s, data, n);
	return feed(RW_TO_VM, &f, 0);
}

static struct rw_key key(void)
{
	struct fr_spec s = spec(true, ACK, 1, 1);
	struct rw_key k;
	struct fr x;

	fr_tcp(&x, &s, NULL, 0);
	cr_assert(rw_key_from_vm_packet(x.b, x.len, CMP_LINK_ETH, &k, NULL,
					NULL));
	return k;
}

static bool hint(uint32_t pvm_isn)
{
	struct rw_key k = key();

	return rw_learn_pvm_isn(rw, &k, pvm_isn, now);
}

static void expect_offset(uint32_t want)
{
	struct rw_key k = key();
	uint32_t off = 0xdeadbeef;

	cr_assert(rw_offset(rw, &k, &off), "offset unknown");
	cr_expect_eq(off, want, "offset %#x, want %#x", off, want);
}

/* Peer-opened handshake up to the SVM's SYN-ACK (ISN S), which must wait;
 * the client's ISN is C. */
static void open_until_wait(uint32_t c, uint32_t s)
{
	cr_assert_eq(to_vm(SYN, c, 0, 0), RW_PASS);
	cr_assert_eq(from_vm(SYN | ACK, s, c + 1, 0), RW_WAIT);
}

/* A peer-opened connection with offset S - P learnt from a hint. */
static void open_conn(uint32_t c, uint32_t s, uint32_t p)
{
	cr_assert_eq(to_vm(SYN, c, 0, 0), RW_PASS);
	cr_assert_not(hint(p));
	cr_assert_eq(from_vm(SYN | ACK, s, c + 1, 0),
		     s == p ? RW_PASS : RW_CHANGED);
	if (s != p)
		cr_assert_eq(seq_of(&f), p);
}

/* Data both ways through an open connection: the VM's seq and the
 * peer's ack are translated, the other numbers are not. */
static void expect_translated(uint32_t c, uint32_t s, uint32_t p)
{
	uint32_t i;

	for (i = 0; i < 3; i++) {
		uint32_t at = 1 + i * 1000;

		cr_expect_eq(from_vm(ACK | PSH, s + at, c + 1 + i, 1000),
			     RW_CHANGED);
		cr_expect_eq(seq_of(&f), p + at);
		cr_expect_eq(ack_of(&f), c + 1 + i, "the peer's space stays");
		cr_expect_eq(to_vm(ACK, c + 1 + i, p + at + 1000, 0),
			     RW_CHANGED);
		cr_expect_eq(ack_of(&f), s + at + 1000);
		cr_expect_eq(seq_of(&f), c + 1 + i);
	}
}

/* ---- learning the offset ------------------------------------------------------ */

Test(rw, svm_synack_then_primary_hint)
{
	struct rw_key k;
	uint32_t seq;
	uint8_t tf;

	open_until_wait(1000, 700000);
	cr_expect_not(rw_offset(rw, &(struct rw_key){ 0 }, NULL));
	/* the caller parks the SYN-ACK; the hint completes the offset */
	cr_assert(rw_key_from_vm_packet(f.b, f.len, CMP_LINK_ETH, &k, &seq,
					&tf));
	cr_expect_eq(seq, 700000);
	cr_expect_eq(tf, SYN | ACK);
	cr_assert(rw_learn_pvm_isn(rw, &k, 9000, now));
	expect_offset(700000 - 9000);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED, "the parked one");
	cr_expect_eq(seq_of(&f), 9000);
	cr_expect_eq(ack_of(&f), 1001);
	expect_translated(1000, 700000, 9000);
	cr_expect_eq(rw_get_stats(rw)->learnt_hint, 1);
	cr_expect_eq(rw_get_stats(rw)->learnt_ack, 0);
	cr_expect_eq(rw_get_stats(rw)->waits, 1);
}

Test(rw, hint_before_svm_synack)
{
	open_conn(1000, 700000, 9000);
	expect_offset(700000 - 9000);
	cr_expect_eq(rw_get_stats(rw)->waits, 0);
	cr_expect_eq(rw_get_stats(rw)->learnt_hint, 1);
	expect_translated(1000, 700000, 9000);
	/* the same hint again (the PVM retransmitted) changes nothing */
	cr_expect_not(hint(9000));
	expect_offset(700000 - 9000);
	/* nor does the SVM's retransmitted SYN-ACK */
	cr_expect_eq(from_vm(SYN | ACK, 700000, 1001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9000);
}

Test(rw, svm_synack_then_peer_handshake_ack)
{
	open_until_wait(1000, 700000);
	/* the handshake ACK acknowledges the PVM's ISN + 1 */
	cr_assert_eq(to_vm(ACK, 1001, 9001, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 700001);
	expect_offset(700000 - 9000);
	cr_expect_eq(rw_get_stats(rw)->learnt_ack, 1);
	/* the parked SYN-ACK offered again; a late hint changes nothing */
	cr_expect_eq(from_vm(SYN | ACK, 700000, 1001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9000);
	cr_expect_not(hint(9000));
	expect_translated(1000, 700000, 9000);
}

Test(rw, waits_until_the_offset_is_known)
{
	open_until_wait(1000, 700000);
	/* offered again before anything was learnt: still waiting */
	cr_expect_eq(from_vm(SYN | ACK, 700000, 1001, 0), RW_WAIT);
	/* a retransmitted client SYN teaches nothing */
	cr_expect_eq(to_vm(SYN, 1000, 0, 0), RW_PASS);
	cr_expect_eq(from_vm(SYN | ACK, 700000, 1001, 0), RW_WAIT);
	cr_expect_eq(rw_get_stats(rw)->waits, 3);
	cr_assert(hint(9000));
	cr_expect_eq(from_vm(SYN | ACK, 700000, 1001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9000);
}

Test(rw, vm_initiated_learns_from_the_peer_synack)
{
	vm_init = true;
	cr_assert_eq(from_vm(SYN, 55555, 0, 0), RW_WAIT);
	/* the peer answers the PVM's SYN (ISN 123) */
	cr_assert_eq(to_vm(SYN | ACK, 777, 124, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 55556);
	cr_expect_eq(seq_of(&f), 777);
	expect_offset(55555 - 123);
	cr_expect_eq(from_vm(SYN, 55555, 0, 0), RW_CHANGED, "parked SYN");
	cr_expect_eq(seq_of(&f), 123);
	cr_expect_eq(from_vm(ACK, 55556, 778, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 124);
	expect_translated(777, 55555, 123);
	vm_init = false;
}

Test(rw, vm_initiated_with_hint)
{
	vm_init = true;
	cr_assert_eq(from_vm(SYN, 55555, 0, 0), RW_WAIT);
	cr_assert(hint(123));
	cr_expect_eq(from_vm(SYN, 55555, 0, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 123);
	cr_expect_eq(to_vm(SYN | ACK, 777, 124, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 55556);
	expect_offset(55555 - 123);
	vm_init = false;
}

Test(rw, peer_synack_before_svm_syn_is_kept)
{
	/* the SVM lags: the peer answered the PVM's SYN (ISN 123) first */
	vm_init = true;
	cr_assert_eq(to_vm(SYN | ACK, 777, 124, 0), RW_PASS);
	cr_assert_eq(from_vm(SYN, 55555, 0, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 123);
	expect_offset(55555 - 123);
	cr_expect_eq(rw_get_stats(rw)->learnt_ack, 1);
	cr_expect_eq(rw_get_stats(rw)->waits, 0);
}

Test(rw, peer_ack_before_svm_synack_is_kept)
{
	/* with a comparator that learns ISNs the client may ACK first */
	cr_assert_eq(to_vm(SYN, 1000, 0, 0), RW_PASS);
	cr_assert_eq(to_vm(ACK, 1001, 9001, 0), RW_PASS);
	cr_assert_eq(from_vm(SYN | ACK, 700000, 1001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9000);
	cr_expect_eq(rw_get_stats(rw)->learnt_ack, 1);
}

Test(rw, equal_isns_need_no_change)
{
	open_conn(1000, 9000, 9000);
	expect_offset(0);
	cr_expect_eq(from_vm(ACK, 9001, 1001, 100), RW_PASS);
	cr_expect_eq(to_vm(ACK, 1001, 9101, 0), RW_PASS);
}

Test(rw, mid_stream_connections_have_no_entry)
{
	struct rw_key k = key();

	cr_expect_eq(from_vm(ACK, 5, 6, 10), RW_PASS);
	cr_expect_eq(to_vm(ACK, 6, 15, 0), RW_PASS);
	cr_expect_eq(to_vm(FIN | ACK, 6, 15, 0), RW_PASS);
	cr_expect_not(rw_offset(rw, &k, NULL));
	cr_expect_eq(rw_get_stats(rw)->conns_active, 0);
	cr_expect_eq(rw_get_stats(rw)->packets[RW_FROM_VM], 1);
	cr_expect_eq(rw_get_stats(rw)->packets[RW_TO_VM], 2);
}

Test(rw, new_incarnation_learns_again)
{
	open_conn(1000, 700000, 9000);
	cr_expect_eq(to_vm(RST, 1001, 0, 0), RW_PASS);
	/* same 4-tuple, a new handshake with new ISNs */
	cr_expect_eq(to_vm(SYN, 5000, 0, 0), RW_PASS);
	cr_expect_eq(from_vm(SYN | ACK, 800000, 5001, 0), RW_WAIT);
	cr_assert(hint(20000));
	cr_expect_eq(from_vm(SYN | ACK, 800000, 5001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 20000);
	expect_translated(5000, 800000, 20000);
}

Test(rw, hint_for_a_new_incarnation_waits_for_its_syn)
{
	open_conn(1000, 700000, 9000);
	cr_expect_not(hint(30000));		/* not the current one */
	expect_offset(700000 - 9000);
	expect_translated(1000, 700000, 9000);
	cr_expect_eq(from_vm(SYN | ACK, 900000, 2001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 30000);
	expect_offset(900000 - 30000);
}

/* ---- sequence wrap ------------------------------------------------------------- */

struct wrap_case {
	uint32_t c, s, p;
};

ParameterizedTestParameters(rw, wraps)
{
	static struct wrap_case w[] = {
		{ 0xfffffff0u, 0xffffff00u, 0x00000100u },
		{ 0x00000010u, 0x00000100u, 0xffffff00u },
		{ 0xffffffffu, 0xffffffffu, 0u },
		{ 0u, 0u, 0xffffffffu },
		{ 0x7fffffffu, 0x80000000u, 0x7fffffffu },
		{ 0xfffff000u, 0xfffff800u, 0xfffffc00u },
	};

	return cr_make_param_array(struct wrap_case, w,
				   sizeof(w) / sizeof(w[0]));
}

ParameterizedTest(struct wrap_case *w, rw, wraps)
{
	open_conn(w->c, w->s, w->p);
	expect_offset(w->s - w->p);
	expect_translated(w->c, w->s, w->p);
}

/* ---- SACK ---------------------------------------------------------------------- */

/*
 * A peer segment with TCP options OPT (OPTLEN bytes, a multiple of 4)
 * and no payload; the checksum is made right by the reference sum.
 */
static void peer_with_options(uint32_t seq, uint32_t ack, const uint8_t *opt,
			      size_t optlen)
{
	struct fr_spec s = spec(false, ACK, seq, ack);
	struct pkt p;
	uint8_t *t;

	cr_assert_eq(optlen % 4, 0);
	fr_tcp(&f, &s, opt, optlen);
	parse(&f, &p);
	t = f.b + (p.l4 - f.b);
	t[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	t[16] = t[17] = 0;
	cr_assert(csum_l4_fill(f.b + (p.net - f.b), p.netlen,
			       (size_t)(p.l4 - p.net), 6));
	cr_assert(ref_tcp_ok(f.b, f.len, CMP_LINK_ETH));
}


/* The options of the last frame, from byte 20 of its TCP header. */
static const uint8_t *options(void)
{
	struct pkt p;

	parse(&f, &p);
	return p.l4 + 20;
}

Test(rw, sack_blocks_are_translated)
{
	const uint32_t c = 1000, s = 0xfffff000u, p = 0x1000;
	const uint32_t off = s - p;
	uint8_t o[36] = { 1, 1, 5, 34 };	/* NOP NOP SACK, 4 blocks */
	uint32_t edges[8], i;
	const uint8_t *out;

	open_conn(c, s, p);
	/* a D-SACK block (RFC 2883) below the ack, then three above; the
	 * last one wraps around 2^32 in the SVM's space */
	edges[0] = p + 1;
	edges[1] = p + 101;
	for (i = 1; i < 4; i++) {
		edges[2 * i] = p + 1000 * i + 0x800;
		edges[2 * i + 1] = edges[2 * i] + 500;
	}
	for (i = 0; i < 8; i++)
		put32(o + 4 + 4 * i, edges[i]);
	peer_with_options(c + 1, p + 201, o, sizeof(o));
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), s + 201);
	out = options();
	cr_expect_eq(memcmp(out, o, 4), 0, "the option header stays");
	for (i = 0; i < 8; i++)
		cr_expect_eq(get32(out + 4 + 4 * i), edges[i] + off,
			     "edge %u", i);
	cr_expect_eq(rw_get_stats(rw)->sack_blocks, 4);
}

Test(rw, sack_at_odd_offsets_and_after_other_options)
{
	/* NOP, SACK of 2 blocks at offset 21, timestamps at odd offsets,
	 * then EOL: edges at odd byte offsets of the header */
	uint8_t o[32] = { 1, 5, 18 };
	const uint32_t c = 1000, s = 700000, p = 9000;
	const uint8_t *out;
	int i;

	for (i = 0; i < 4; i++)
		put32(o + 3 + 4 * i, p + 100 + 10 * (uint32_t)i);
	o[19] = 8;			/* timestamps: not sequence numbers */
	o[20] = 10;
	put32(o + 21, 0x11223344);
	put32(o + 25, 0x55667788);
	o[29] = 0;			/* EOL */
	open_conn(c, s, p);
	peer_with_options(c + 1, p + 1, o, sizeof(o));
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	out = options();
	for (i = 0; i < 4; i++)
		cr_expect_eq(get32(out + 3 + 4 * i),
			     s + 100 + 10 * (uint32_t)i);
	cr_expect_eq(memcmp(out + 19, o + 19, 13), 0, "timestamps stay");
}

/* Malformed SACK options are left alone and never read past the header. */
struct opt_case {
	const char *what;
	uint8_t o[40];
	size_t n;
	int translated;		/* SACK blocks expected translated */
};

ParameterizedTestParameters(rw, malformed_options)
{
	static struct opt_case cs[] = {
		{ "length not 2 + 8n", { 5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0 },
		  12, 0 },
		{ "length past the header", { 1, 1, 5, 34, 0, 0, 0, 1, 0, 0,
					     0, 2 }, 12, 0 },
		{ "length 1", { 1, 1, 8, 1 }, 4, 0 },
		{ "length 0 then a SACK", { 8, 0, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 },
		  12, 0 },
		{ "kind in the last byte", { 1, 1, 1, 5 }, 4, 0 },
		{ "SACK of length 2", { 1, 1, 5, 2 }, 4, 0 },
		{ "good SACK then bad one", { 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5,
					      34 }, 12, 1 },
		{ "EOL hides a SACK", { 0, 0, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 },
		  12, 0 },
		{ "unknown option skipped", { 99, 4, 0, 0, 5, 10, 0, 0, 0, 1, 0,
					      0, 0, 2, 0, 0 }, 16, 1 },
	};

	return cr_make_param_array(struct opt_case, cs,
				   sizeof(cs) / sizeof(cs[0]));
}

ParameterizedTest(struct opt_case *oc, rw, malformed_options)
{
	const uint32_t c = 1000, s = 700000, p = 9000;
	uint8_t before[40];

	open_conn(c, s, p);
	peer_with_options(c + 1, p + 1, oc->o, oc->n);
	memcpy(before, options(), oc->n);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED, "%s", oc->what);
	cr_expect_eq(ack_of(&f), s + 1);
	cr_expect_eq(rw_get_stats(rw)->sack_blocks, (uint64_t)oc->translated,
		     "%s", oc->what);
	if (!oc->translated)
		cr_expect_eq(memcmp(before, options(), oc->n), 0, "%s",
			     oc->what);
}

Test(rw, sack_from_the_vm_is_not_translated)
{
	/* the VM's SACK blocks speak of the peer's space, the same for both */
	uint8_t o[12] = { 1, 1, 5, 10, 0, 0, 0x10, 0, 0, 0, 0x20, 0 };
	struct fr_spec sp;
	struct pkt p;
	uint8_t *t;

	open_conn(1000, 700000, 9000);
	sp = spec(true, ACK, 700001, 1001);
	fr_tcp(&f, &sp, o, sizeof(o));
	parse(&f, &p);
	t = f.b + (p.l4 - f.b);
	t[12] = (uint8_t)(8 << 4);
	t[16] = t[17] = 0;
	cr_assert(csum_l4_fill(f.b + 14, f.len - 14, 20, 6));
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(memcmp(options(), o, sizeof(o)), 0);
	cr_expect_eq(rw_get_stats(rw)->sack_blocks, 0);
}

/* ---- link layers and families ------------------------------------------------------- */

Test(rw, ipv6_with_extension_headers)
{
	struct fr_spec s;
	uint8_t o[12] = { 1, 1, 5, 10 };

	family = 6;
	open_conn(1000, 700000, 9000);
	expect_translated(1000, 700000, 9000);
	s = spec(true, ACK | PSH, 700001, 1001);
	s.ipv6_exthdrs = true;
	fr_tcp(&f, &s, "hello", 5);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9001);
	s = spec(false, ACK, 1001, 9006);
	s.ipv6_exthdrs = true;
	fr_tcp(&f, &s, NULL, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 700006);
	/* SACK in a plain IPv6 segment */
	put32(o + 4, 9006);
	put32(o + 8, 9106);
	peer_with_options(1001, 9006, o, sizeof(o));
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(get32(options() + 4), 700006);
	cr_expect_eq(get32(options() + 8), 700106);
}

Test(rw, ipv6_key_differs_from_ipv4)
{
	open_conn(1000, 700000, 9000);
	family = 6;
	cr_expect_eq(from_vm(ACK, 700001, 1001, 10), RW_PASS);
	family = 4;
	cr_expect_eq(from_vm(ACK, 700001, 1001, 10), RW_CHANGED);
}

Test(rw, vlan_tagged_frames)
{
	vlan = 100;
	open_conn(1000, 700000, 9000);
	expect_translated(1000, 700000, 9000);
	vlan = 0;			/* the key has no VLAN: same conn */
	cr_expect_eq(from_vm(ACK, 700001, 1001, 10), RW_CHANGED);
}

Test(rw, qinq_tagged_frames)
{
	struct fr_spec s;

	open_conn(1000, 700000, 9000);
	s = spec(true, ACK, 700001, 1001);
	s.vlan = 10;
	s.vlan2 = 20;
	fr_tcp(&f, &s, "x", 1);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9001);
}

Test(rw, bare_ip_link)
{
	struct fr_spec s;
	uint8_t *ip;
	size_t n;

	open_conn(1000, 700000, 9000);
	s = spec(true, ACK, 700001, 1001);
	fr_tcp(&f, &s, "abc", 3);
	ip = f.b + 14;
	n = f.len - 14;
	cr_assert_eq(rw_frame(rw, RW_FROM_VM, ip, n, CMP_LINK_IP, 0, now),
		     RW_CHANGED);
	cr_expect_eq(get32(ip + 20 + 4), 9001);
	cr_expect(csum_l4_ok(ip, n, 20, 6));
	cr_expect(ref_tcp_ok(ip, n, CMP_LINK_IP));
}

/* ---- what is left alone ---------------------------------------------------------------- */

Test(rw, fragments_untouched)
{
	static struct fr frags[8];
	static uint8_t data[1500];
	struct fr_spec s;
	int n, i;

	open_conn(1000, 700000, 9000);
	for (family = 4; family <= 6; family += 2) {
		s = spec(true, ACK, 700001, 1001);
		fr_tcp(&f, &s, data, sizeof(data));
		n = fr_fragment(&f, 77, 600, frags, 8);
		cr_assert_geq(n, 3);
		for (i = 0; i < n; i++)
			cr_expect_eq(feed(RW_FROM_VM, &frags[i], 0), RW_PASS,
				     "fragment %d of IPv%d", i, family);
	}
	cr_expect_eq(rw_get_stats(rw)->rewritten[RW_FROM_VM], 1);
}

Test(rw, other_protocols_untouched)
{
	struct fr_spec s = spec(true, 0, 0, 0);

	open_conn(1000, 700000, 9000);
	fr_udp(&f, &s, "payload", 7);
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_PASS);
	cr_expect_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	fr_icmp_echo(&f, &s, 1, 2, "ping", 4);
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_PASS);
	fr_arp_reply(&f, "10.0.0.2", "10.0.0.1");
	cr_expect_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	family = 6;
	s = spec(true, 0, 0, 0);
	fr_icmp_echo(&f, &s, 1, 2, "ping", 4);
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_PASS);
	cr_expect_eq(rw_get_stats(rw)->malformed, 0);
}

Test(rw, peer_segments_without_ack_are_untouched)
{
	open_conn(1000, 700000, 9000);
	cr_expect_eq(to_vm(RST, 1001, 12345, 0), RW_PASS);
	cr_expect_eq(ack_of(&f), 12345);
}

/* ---- checksums ------------------------------------------------------------------------------ */

/* Turn the TCP checksum of F into the pseudo-header sum only. */
static void make_partial(struct fr *x)
{
	struct pkt p;
	uint8_t *ip, *t;
	uint32_t ps;

	parse(x, &p);
	ip = x->b + (p.net - x->b);
	t = x->b + (p.l4 - x->b);
	ps = 6 + (uint32_t)p.l4len;
	ps = p.family == 4 ? csum_add(ps, ip + 12, 8) : csum_add(ps, ip + 8, 32);
	t[16] = (uint8_t)((uint16_t)~csum_fold(ps) >> 8);
	t[17] = (uint8_t)~csum_fold(ps);
}

Test(rw, csum_partial_packets_get_a_full_checksum)
{
	static uint8_t data[1400];
	struct fr_spec s;

	open_conn(1000, 700000, 9000);
	s = spec(true, ACK | PSH, 700001, 1001);
	fr_tcp(&f, &s, data, sizeof(data));
	make_partial(&f);
	cr_assert_not(ref_tcp_ok(f.b, f.len, CMP_LINK_ETH));
	cr_assert_eq(feed(RW_FROM_VM, &f, RW_F_CSUM_PARTIAL), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 9001);
	expect_csum_ok(&f);
	/* IPv6 with extension headers */
	family = 6;
	open_conn(1000, 700000, 9000);
	s = spec(true, ACK | PSH, 700001, 1001);
	s.ipv6_exthdrs = true;
	fr_tcp(&f, &s, data, sizeof(data));
	make_partial(&f);
	cr_assert_eq(feed(RW_FROM_VM, &f, RW_F_CSUM_PARTIAL), RW_CHANGED);
	expect_csum_ok(&f);
	/* the peer's direction, with SACK */
	family = 4;
	{
		uint8_t o[12] = { 1, 1, 5, 10 };

		put32(o + 4, 9001);
		put32(o + 8, 9101);
		peer_with_options(1001, 9001, o, sizeof(o));
		make_partial(&f);
		cr_assert_eq(feed(RW_TO_VM, &f, RW_F_CSUM_PARTIAL),
			     RW_CHANGED);
		expect_csum_ok(&f);
		cr_expect_eq(get32(options() + 4), 700001);
	}
}

Test(rw, csum_partial_untranslated_stays_partial)
{
	struct fr_spec s = spec(true, ACK, 5, 6);
	static struct fr orig;

	fr_tcp(&f, &s, "abc", 3);
	make_partial(&f);
	orig = f;
	cr_expect_eq(feed(RW_FROM_VM, &f, RW_F_CSUM_PARTIAL), RW_PASS);
	cr_expect_eq(memcmp(orig.b, f.b, f.len), 0);
}

Test(rw, gso_sized_packets)
{
	static uint8_t data[60000];
	struct fr_spec s;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	open_conn(1000, 700000, 9000);
	for (family = 4; family <= 6; family += 2) {
		if (family == 6)
			open_conn(1000, 700000, 9000);
		s = spec(true, ACK | PSH, 700001, 1001);
		fr_tcp(&f, &s, data, sizeof(data));
		cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
		cr_expect_eq(seq_of(&f), 9001);
		fr_tcp(&f, &s, data, sizeof(data));
		make_partial(&f);
		cr_assert_eq(feed(RW_FROM_VM, &f, RW_F_CSUM_PARTIAL),
			     RW_CHANGED);
		expect_csum_ok(&f);
	}
}

Test(rw, a_bad_checksum_stays_bad)
{
	struct fr_spec s;
	struct pkt p;

	open_conn(1000, 700000, 9000);
	s = spec(true, ACK, 700001, 1001);
	fr_tcp(&f, &s, "abcd", 4);
	parse(&f, &p);
	f.b[(size_t)(p.l4 - f.b) + 17] ^= 0x40;
	cr_assert_eq(rw_frame(rw, RW_FROM_VM, f.b, f.len, CMP_LINK_ETH, 0,
			      now), RW_CHANGED);
	cr_expect_not(ref_tcp_ok(f.b, f.len, CMP_LINK_ETH),
		      "corruption is not laundered");
}

/* ---- rw_reset ------------------------------------------------------------------------------ */

Test(rw, reset_makes_offsets_zero)
{
	open_conn(1000, 700000, 9000);
	rw_reset(rw);
	expect_offset(0);
	/* the SVM now uses the PVM's numbers */
	cr_expect_eq(from_vm(ACK, 9001, 1001, 100), RW_PASS);
	cr_expect_eq(to_vm(ACK, 1001, 9101, 0), RW_PASS);
	cr_expect_eq(ack_of(&f), 9101);
	/* a SYN-ACK retransmitted after the checkpoint: no wait */
	cr_expect_eq(from_vm(SYN | ACK, 9000, 1001, 0), RW_PASS);
	cr_expect_eq(rw_get_stats(rw)->resets, 1);
	cr_expect_eq(rw_get_stats(rw)->waits, 0);
}

Test(rw, reset_forgets_a_waiting_svm_isn)
{
	struct rw_key k = key();

	open_until_wait(1000, 700000);
	rw_reset(rw);
	cr_expect_not(rw_offset(rw, &k, NULL));
	/* the SVM retransmits its SYN-ACK, now with the PVM's ISN */
	cr_expect_eq(from_vm(SYN | ACK, 9000, 1001, 0), RW_WAIT);
	cr_assert(hint(9000));
	expect_offset(0);
	cr_expect_eq(from_vm(SYN | ACK, 9000, 1001, 0), RW_PASS);
}

Test(rw, reset_keeps_a_pending_pvm_isn)
{
	cr_assert_eq(to_vm(SYN, 1000, 0, 0), RW_PASS);
	cr_assert_not(hint(9000));
	rw_reset(rw);
	cr_expect_eq(from_vm(SYN | ACK, 9000, 1001, 0), RW_PASS);
	expect_offset(0);
}

Test(rw, connections_keep_offsets_until_reset_or_close)
{
	/* takeover mode changes nothing here: the offset stays */
	open_conn(1000, 700000, 9000);
	now += 100 * SEC;
	rw_tick(rw, now);
	expect_translated(1000, 700000, 9000);
}

/* ---- the table: expiry, LRU, the limit -------------------------------------------------- */

static struct rw *rw_with(uint32_t max, uint64_t idle, uint64_t linger)
{
	struct rw_config cfg;
	struct rw *r;

	rw_config_defaults(&cfg);
	cfg.max_conns = max;
	cfg.idle_timeout_ns = idle;
	cfg.closed_linger_ns = linger;
	cr_assert_eq(rw_new(&cfg, &r), 0);
	return r;
}

Test(rw_table, config)
{
	struct rw_config cfg, bad;
	struct rw *r = NULL;

	rw_config_defaults(&cfg);
	cr_expect_eq(cfg.max_conns, 65536);
	cr_expect_eq(cfg.idle_timeout_ns, 600 * SEC);
	cr_expect_eq(cfg.closed_linger_ns, 30 * SEC);
	bad = cfg;
	bad.max_conns = 0;
	cr_expect_eq(rw_new(&bad, &r), -EINVAL);
	bad = cfg;
	bad.idle_timeout_ns = 0;
	cr_expect_eq(rw_new(&bad, &r), -EINVAL);
	cr_expect_eq(rw_new(NULL, &r), -EINVAL);
	cr_expect_null(r);
	rw_free(NULL);
}

/* Open a connection on peer port PORT with offset 1000. */
static void open_port(struct rw *r, uint16_t port)
{
	struct rw *saved = rw;
	struct fr_spec s;

	rw = r;
	s = spec(false, SYN, 1, 0);
	s.sport = port;
	fr_tcp(&f, &s, NULL, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	s = spec(true, SYN | ACK, 2000, 2);
	s.dport = port;
	fr_tcp(&f, &s, NULL, 0);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_WAIT);
	s = spec(false, ACK, 2, 1001);
	s.sport = port;
	fr_tcp(&f, &s, NULL, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	rw = saved;
}

static bool known(struct rw *r, uint16_t port)
{
	struct rw_key k = key();

	k.peer_port = port;
	return rw_offset(r, &k, NULL);
}

Test(rw_table, idle_connections_expire)
{
	struct rw *r = rw_with(16, 10 * SEC, SEC);

	open_port(r, 1);
	now += 6 * SEC;
	open_port(r, 2);
	now += 5 * SEC;
	rw_tick(r, now);
	cr_expect_not(known(r, 1));
	cr_expect(known(r, 2));
	cr_expect_eq(rw_get_stats(r)->conns_expired, 1);
	now += 5 * SEC;
	rw_tick(r, now);
	cr_expect_not(known(r, 2));
	cr_expect_eq(rw_get_stats(r)->conns_active, 0);
	cr_expect_eq(rw_get_stats(r)->conns_created, 2);
	/* a clock that went back expires nothing */
	open_port(r, 3);
	rw_tick(r, now - 5 * SEC);
	cr_expect(known(r, 3));
	rw_free(r);
}

Test(rw_table, use_keeps_a_connection_alive)
{
	struct rw *r = rw_with(16, 10 * SEC, SEC);
	struct rw *saved = rw;

	open_port(r, 1);
	now += 8 * SEC;
	rw = r;
	vm_init = false;
	{
		struct fr_spec s = spec(true, ACK, 2001, 2);

		s.dport = 1;
		fr_tcp(&f, &s, NULL, 0);
		cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	}
	rw = saved;
	now += 8 * SEC;
	rw_tick(r, now);
	cr_expect(known(r, 1));
	rw_free(r);
}

Test(rw_table, closed_connections_linger_then_go)
{
	struct rw *r = rw_with(16, 100 * SEC, 2 * SEC);
	struct rw *saved = rw;
	struct fr_spec s;

	open_port(r, 1);
	open_port(r, 2);
	rw = r;
	s = spec(false, RST, 2, 0);	/* port 1: reset by the peer */
	s.sport = 1;
	fr_tcp(&f, &s, NULL, 0);
	cr_expect_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	s = spec(true, FIN | ACK, 2001, 2);	/* port 2: FIN both ways */
	s.dport = 2;
	fr_tcp(&f, &s, NULL, 0);
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	now += SEC;
	s = spec(false, FIN | ACK, 2, 1002);
	s.sport = 2;
	fr_tcp(&f, &s, NULL, 0);
	cr_expect_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 2002, "translated while lingering");
	rw = saved;
	now += SEC;
	rw_tick(r, now);
	cr_expect_not(known(r, 1), "RST: gone after the linger");
	cr_expect(known(r, 2));
	now += SEC;
	rw_tick(r, now);
	cr_expect_not(known(r, 2));
	cr_expect_eq(rw_get_stats(r)->conns_expired, 2);
	rw_free(r);
}

Test(rw_table, limit_evicts_the_least_recently_used)
{
	struct rw *r = rw_with(3, 100 * SEC, SEC);
	struct rw_key k = key();

	open_port(r, 1);
	now++;
	open_port(r, 2);
	now++;
	open_port(r, 3);
	now++;
	k.peer_port = 1;		/* a hint touches port 1 */
	cr_expect_not(rw_learn_pvm_isn(r, &k, 1000, now));
	now++;
	open_port(r, 4);		/* evicts port 2 */
	cr_expect(known(r, 1));
	cr_expect_not(known(r, 2));
	cr_expect(known(r, 3));
	cr_expect(known(r, 4));
	cr_expect_eq(rw_get_stats(r)->conns_evicted, 1);
	cr_expect_eq(rw_get_stats(r)->conns_active, 3);
	rw_free(r);
}

Test(rw_table, limit_evicts_closed_connections_first)
{
	struct rw *r = rw_with(2, 100 * SEC, 100 * SEC);
	struct rw *saved = rw;
	struct fr_spec s;

	open_port(r, 1);
	now++;
	open_port(r, 2);
	rw = r;
	s = spec(false, RST | ACK, 2, 1001);
	s.sport = 2;
	fr_tcp(&f, &s, NULL, 0);
	cr_expect_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	rw = saved;
	now++;
	open_port(r, 3);
	cr_expect(known(r, 1), "the older open one stays");
	cr_expect_not(known(r, 2));
	rw_free(r);
}

Test(rw_table, many_connections)
{
	struct rw *r = rw_with(1000, 100 * SEC, SEC);
	uint16_t port;

	for (port = 1; port <= 1500; port++)
		open_port(r, port);
	for (port = 1; port <= 1500; port++)
		cr_assert_eq(known(r, port), port > 500, "port %u", port);
	cr_expect_eq(rw_get_stats(r)->conns_evicted, 500);
	rw_reset(r);
	for (port = 501; port <= 1500; port += 99) {
		struct rw_key k = key();
		uint32_t off = 1;

		k.peer_port = port;
		cr_assert(rw_offset(r, &k, &off));
		cr_expect_eq(off, 0);
	}
	rw_free(r);
}

/* ---- keys ---------------------------------------------------------------------------- */

Test(rw, key_from_vm_packet)
{
	struct rw_key k, k2;
	uint32_t seq;
	uint8_t tf;

	from_vm(SYN | ACK, 42, 7, 0);
	cr_assert(rw_key_from_vm_packet(f.b, f.len, CMP_LINK_ETH, &k, &seq,
					&tf));
	cr_expect_eq(k.family, 4);
	cr_expect_eq(k.vm_port, 80);
	cr_expect_eq(k.peer_port, 40000);
	cr_expect_eq(memcmp(k.vm_addr, "\x0a\x00\x00\x02", 4), 0);
	cr_expect_eq(memcmp(k.peer_addr, "\x0a\x00\x00\x01", 4), 0);
	cr_expect_eq(seq, 42);
	cr_expect_eq(tf, SYN | ACK);
	/* junk past an IPv4 address is ignored by the table */
	k2 = k;
	memset(k2.vm_addr + 4, 0xee, 12);
	cr_assert(rw_learn_pvm_isn(rw, &k2, 40, now));
	expect_offset(2);
	k2.family = 5;
	cr_expect_not(rw_learn_pvm_isn(rw, &k2, 40, now));
	cr_expect_not(rw_offset(rw, &k2, NULL));
	fr_udp(&f, &(struct fr_spec){ 0 }, "x", 1);
	cr_expect_not(rw_key_from_vm_packet(f.b, f.len, CMP_LINK_ETH, &k,
					    NULL, NULL));
}

/* ---- malformed input ---------------------------------------------------------------- */

/* Every prefix of FRAME: never read past it, never changed unless the
 * datagram is whole. */
static void every_prefix(const struct fr *x, enum rw_dir dir,
			 enum cmp_link link, size_t skip)
{
	size_t n;

	for (n = 0; n + skip <= x->len; n++) {
		uint8_t *b = malloc(n ? n : 1);
		enum rw_result r;

		cr_assert(b);
		memcpy(b, x->b + skip, n);
		r = rw_frame(rw, dir, b, n, link, 0, now);
		cr_assert(r == RW_PASS || r == RW_MALFORMED ||
			  r == RW_CHANGED || r == RW_WAIT, "length %zu", n);
		if (r != RW_CHANGED)
			cr_assert_eq(memcmp(b, x->b + skip, n), 0);
		else
			cr_assert(ref_tcp_ok(b, n, link));
		free(b);
	}
}

Test(rw_input, truncated_frames)
{
	uint8_t o[12] = { 1, 1, 5, 10, 0, 0, 0x23, 0x29, 0, 0, 0x23, 0x30 };
	struct fr_spec s;

	open_conn(1000, 700000, 9000);
	for (family = 4; family <= 6; family += 2) {
		if (family == 6)
			open_conn(1000, 700000, 9000);
		s = spec(true, ACK, 700001, 1001);
		s.ipv6_exthdrs = true;
		s.vlan = 5;
		fr_tcp(&f, &s, "data", 4);
		every_prefix(&f, RW_FROM_VM, CMP_LINK_ETH, 0);
		every_prefix(&f, RW_FROM_VM, CMP_LINK_IP, 18);
		peer_with_options(1001, 9001, o, sizeof(o));
		every_prefix(&f, RW_TO_VM, CMP_LINK_ETH, 0);
	}
	cr_expect_gt(rw_get_stats(rw)->malformed, 0);
}

Test(rw_input, lying_length_fields)
{
	struct fr_spec s;
	struct pkt p;
	size_t l4;

	open_conn(1000, 700000, 9000);
	s = spec(true, ACK, 700001, 1001);
	fr_tcp(&f, &s, "data", 4);
	parse(&f, &p);
	l4 = (size_t)(p.l4 - f.b);
	f.b[l4 + 12] = 0xf0;			/* data offset 60 > segment */
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_MALFORMED);
	f.b[l4 + 12] = 0x40;			/* 16 < 20 */
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_MALFORMED);
	f.b[l4 + 12] = 0x50;
	f.b[14 + 2] = 0x10;			/* total length 4096 */
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_MALFORMED);
	f.b[14 + 2] = 0;
	f.b[14] = 0x4f;				/* IHL 60 */
	cr_expect_eq(feed(RW_FROM_VM, &f, 0), RW_MALFORMED);
	cr_expect_eq(rw_get_stats(rw)->malformed, 4);
	cr_expect_eq(rw_frame(rw, RW_FROM_VM, NULL, 0, CMP_LINK_ETH, 0, now),
		     RW_MALFORMED);
	cr_expect_eq(rw_frame(rw, (enum rw_dir)7, f.b, f.len, CMP_LINK_ETH, 0,
			      now), RW_MALFORMED);
}

Test(rw_input, garbage)
{
	static uint8_t b[256];
	uint32_t x = 99;
	int round;

	open_conn(1000, 700000, 9000);
	for (round = 0; round < 20000; round++) {
		size_t n = (size_t)(round % 200), i;
		uint8_t *buf = malloc(n ? n : 1);

		cr_assert(buf);
		for (i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b[i] = (uint8_t)x;
		}
		/* now and then a plausible start */
		if (n > 20 && round % 3 == 0)
			b[0] = round % 2 ? 0x45 : 0x60;
		memcpy(buf, b, n);
		rw_frame(rw, (enum rw_dir)(round & 1), buf, n,
			 (enum cmp_link)(round % 3 == 0), 0, now);
		free(buf);
	}
}

/* ---- timestamps (RFC 7323) ------------------------------------------------ */

TestSuite(rw_ts, .init = setup, .fini = teardown);

/* A segment of either side with only a timestamp option (NOP NOP TS). */
static void ts_seg(bool vm_side, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint32_t tsval, uint32_t tsecr)
{
	struct fr_spec s = spec(vm_side, flags, seq, ack);
	uint8_t o[12] = { 1, 1, 8, 10 };
	struct pkt p;
	uint8_t *t;

	put32(o + 4, tsval);
	put32(o + 8, tsecr);
	fr_tcp(&f, &s, o, sizeof(o));
	parse(&f, &p);
	t = f.b + (p.l4 - f.b);
	t[12] = (uint8_t)(((20 + sizeof(o)) / 4) << 4);
	t[16] = t[17] = 0;
	cr_assert(csum_l4_fill(f.b + (p.net - f.b), p.netlen,
			       (size_t)(p.l4 - p.net), 6));
}

static uint32_t tsval_now(void)
{
	return get32(options() + 4);
}

static uint32_t tsecr_now(void)
{
	return get32(options() + 8);
}

static void ts_hint(uint32_t tsval)
{
	struct rw_key k = key();

	rw_learn_pvm_tsval(rw, &k, tsval, now);
}

/* The primary's hint carries the PVM's TSval: the SVM's SYN-ACK leaves
 * with the PVM's TSval, and the peer's echo reaches the SVM as its own
 * (Linux 6.18 drops a handshake ACK whose TSecr it never sent). */
Test(rw_ts, hint_translates_both_ways)
{
	const uint32_t c = 1000, s = 500000, p = 9000;

	ts_seg(false, SYN, c, 0, 111, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	ts_hint(7000);
	cr_assert_not(hint(p));
	ts_seg(true, SYN | ACK, s, c + 1, 7100, 111);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), p);
	cr_expect_eq(tsval_now(), 7000u);
	cr_expect_eq(tsecr_now(), 111u, "the peer's own TSval is not ours");
	ts_seg(false, ACK, c + 1, p + 1, 112, 7000);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), s + 1);
	cr_expect_eq(tsecr_now(), 7100u);
	cr_expect_eq(tsval_now(), 112u);
	cr_expect_eq(rw_get_stats(rw)->ts_learnt, 1);
}

/* Without a hint, the peer's handshake ACK echoes the PVM's SYN-ACK TSval:
 * both offsets come from it, across the 2^32 wrap. */
Test(rw_ts, learnt_from_the_handshake_ack)
{
	const uint32_t c = 1000, s = 500000, p = 9000;
	const uint32_t svm_ts = 5, pvm_ts = 0xfffffff0u;

	ts_seg(false, SYN, c, 0, 111, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	ts_seg(true, SYN | ACK, s, c + 1, svm_ts, 111);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_WAIT);
	ts_seg(false, ACK, c + 1, p + 1, 112, pvm_ts);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), s + 1);
	cr_expect_eq(tsecr_now(), svm_ts);
	/* the SVM's later segments leave on the PVM's clock */
	ts_seg(true, ACK, s + 1, c + 1, svm_ts + 30, 112);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(tsval_now(), pvm_ts + 30);
	cr_expect_eq(seq_of(&f), p + 1);
}

/* Only the handshake ACK teaches the offset: a later ACK echoes a later
 * TSval of the PVM.  A TSecr of 0 echoes nothing and stays 0. */
Test(rw_ts, later_echoes_do_not_teach)
{
	const uint32_t c = 1000, s = 500000, p = 9000;

	ts_seg(false, SYN, c, 0, 111, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	cr_assert_not(hint(p));		/* no timestamp in the hint */
	ts_seg(true, SYN | ACK, s, c + 1, 7100, 111);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	ts_seg(false, ACK, c + 1, p + 500, 113, 9999);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);
	cr_expect_eq(tsecr_now(), 9999u);
	cr_expect_eq(rw_get_stats(rw)->ts_learnt, 0);
}

/* A checkpoint: the SVM runs on the PVM's clock, the offset becomes 0. */
Test(rw_ts, reset_zeroes_the_timestamp_offset)
{
	const uint32_t c = 1000, s = 500000, p = 9000;

	ts_seg(false, SYN, c, 0, 111, 0);
	feed(RW_TO_VM, &f, 0);
	ts_hint(7000);
	hint(p);
	ts_seg(true, SYN | ACK, s, c + 1, 7100, 111);
	cr_assert_eq(feed(RW_FROM_VM, &f, 0), RW_CHANGED);
	ts_seg(false, ACK, c + 1, p + 1, 112, 0);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_CHANGED);	/* the ack */
	cr_expect_eq(tsecr_now(), 0u);
	rw_reset(rw);
	ts_seg(false, ACK, c + 1, p + 1, 113, 7005);
	cr_assert_eq(feed(RW_TO_VM, &f, 0), RW_PASS);
	cr_expect_eq(tsecr_now(), 7005u);
}

/* ---- re-protection: rw_export, rw_import, import_only ---------------------------- */

struct exported {
	unsigned n;
	struct rw_key key;
	uint32_t off, ts_off;
};

static void collect(void *arg, const struct rw_key *k, uint32_t off,
		    uint32_t ts_off)
{
	struct exported *e = arg;

	e->n++;
	e->key = *k;
	e->off = off;
	e->ts_off = ts_off;
}

Test(rw, export_lists_translated_open_connections)
{
	struct exported e = { 0 };
	struct rw_key k = key();

	open_conn(1000, 5000, 9000);
	cr_assert_eq(rw_export(rw, collect, &e), 1);
	cr_expect_eq(e.n, 1);
	cr_expect_eq(e.off, 5000u - 9000u);
	cr_expect_eq(memcmp(&e.key, &k, sizeof(k)), 0);
	/* once a checkpoint made the SVM the PVM, there is nothing to move */
	rw_reset(rw);
	cr_expect_eq(rw_export(rw, NULL, NULL), 0);
}

Test(rw, export_skips_closed_connections)
{
	open_conn(1000, 5000, 9000);
	cr_assert_eq(from_vm(ACK | RST, 5001, 1001, 0), RW_CHANGED);
	cr_expect_eq(rw_export(rw, NULL, NULL), 0);
}

/* The new secondary: an imported base survives checkpoints. */
Test(rw, imported_base_survives_reset)
{
	struct rw_key k = key();
	uint32_t off;

	cr_assert(rw_import(rw, &k, 4000, 0, now));
	expect_offset(4000);
	/* translated both ways with the base, without any handshake */
	cr_expect_eq(from_vm(ACK | PSH, 7001, 1001, 100), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 3001u);
	cr_expect_eq(to_vm(ACK, 1001, 3101, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 7101u);
	rw_reset(rw);
	cr_assert(rw_offset(rw, &k, &off));
	cr_expect_eq(off, 4000u, "a checkpoint restores the base, not 0");
	cr_expect_eq(from_vm(ACK, 7101, 1001, 0), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 3101u);
	cr_expect_eq(rw_get_stats(rw)->imported, 1);
}

Test(rw, new_incarnation_drops_the_base)
{
	struct rw_key k = key();

	cr_assert(rw_import(rw, &k, 4000, 0, now));
	/* the same 4-tuple opened again: a new handshake, a new offset */
	open_conn(20000, 50000, 60000);
	expect_offset(50000u - 60000u);
	rw_reset(rw);
	expect_offset(0);
}

/* The new primary: only imported connections are touched. */
Test(rw_table, import_only_translates_imported_and_learns_nothing)
{
	struct rw_config cfg;
	struct rw_key k = key();

	rw_free(rw);
	rw_config_defaults(&cfg);
	cfg.import_only = true;
	cr_assert_eq(rw_new(&cfg, &rw), 0);
	/* a handshake is not learnt */
	cr_expect_eq(to_vm(SYN, 1000, 0, 0), RW_PASS);
	cr_expect_eq(from_vm(SYN | ACK, 5000, 1001, 0), RW_PASS);
	cr_expect_eq(to_vm(ACK, 1001, 5001, 0), RW_PASS);
	cr_expect_eq(rw_get_stats(rw)->conns_active, 0);
	/* an imported connection is translated */
	cr_assert(rw_import(rw, &k, 4000, 0, now));
	cr_expect_eq(from_vm(ACK | PSH, 7001, 1001, 10), RW_CHANGED);
	cr_expect_eq(seq_of(&f), 3001u);
	cr_expect_eq(to_vm(ACK, 1001, 3011, 0), RW_CHANGED);
	cr_expect_eq(ack_of(&f), 7011u);
	/* a SYN on its key is a new connection: forgotten, untouched */
	cr_expect_eq(to_vm(SYN, 90000, 0, 0), RW_PASS);
	cr_expect_eq(rw_get_stats(rw)->conns_active, 0);
	cr_expect_eq(from_vm(ACK, 7011, 1001, 0), RW_PASS);
}

Test(rw_input, import_rejects_a_bad_key)
{
	struct rw_key k = key();

	k.family = 5;
	cr_expect_not(rw_import(rw, &k, 1, 0, now));
	cr_expect_not(rw_import(rw, NULL, 1, 0, now));
}

/* A checkpoint began (offsets reset) but never completed: the SVM goes on
 * from its own state, so its offsets come back. */
Test(rw, undo_reset_restores_the_offsets)
{
	open_conn(1000, 5000, 9000);
	rw_reset(rw);
	expect_offset(0);
	rw_undo_reset(rw);
	expect_offset(5000u - 9000u);
	expect_translated(1000, 5000, 9000);
	cr_expect_eq(rw_get_stats(rw)->undone, 1);
}

Test(rw, undo_reset_leaves_newer_connections_alone)
{
	open_conn(1000, 5000, 9000);
	rw_reset(rw);
	vm_init = true;		/* another 4-tuple, opened after the reset */
	open_conn(3000, 70000, 80000);
	rw_undo_reset(rw);
	expect_offset(70000u - 80000u);
	vm_init = false;
	expect_offset(5000u - 9000u);
}

Test(rw, undo_without_reset_changes_nothing)
{
	open_conn(1000, 5000, 9000);
	rw_undo_reset(rw);
	expect_offset(5000u - 9000u);
}
