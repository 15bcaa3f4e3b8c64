/*
 * test_common_csum.c - the Internet checksum: RFC 1071 and RFC 1624
 * vectors, odd lengths, large sums, incremental against full
 * recomputation, and csum_l4_fill()/csum_l4_ok() over IPv4/IPv6 TCP, UDP
 * and ICMPv6 packets, GSO-sized ones and CHECKSUM_PARTIAL ones.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>
#include <unistd.h>

#include "common/csum.h"
#include "tests/support/frames.h"

static void watchdog(void)
{
	alarm(30);
}

TestSuite(csum, .init = watchdog);
TestSuite(csum_l4, .init = watchdog);

/* A reference: sum 16-bit words one at a time, fold after each add. */
static uint16_t ref_sum(const uint8_t *b, size_t n, uint32_t s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		s += i & 1 ? b[i] : (uint32_t)b[i] << 8;
		s = (s & 0xffff) + (s >> 16);
	}
	return (uint16_t)s;
}

static uint32_t rng_state = 12345;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static uint16_t rd16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* ---- the sum ---------------------------------------------------------------- */

Test(csum, rfc1071_example)
{
	/* RFC 1071 section 3: the sum is ddf2, so the checksum 220d */
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03,
				     0xf4, 0xf5, 0xf6, 0xf7 };

	cr_expect_eq(csum_add(0, b, sizeof(b)), 0x2ddf0);
	cr_expect_eq(csum_fold(csum_add(0, b, sizeof(b))), 0x220d);
	/* byte-order independence: swapped input, swapped sum */
	{
		uint8_t sw[8];
		int i;

		for (i = 0; i < 8; i += 2) {
			sw[i] = b[i + 1];
			sw[i + 1] = b[i];
		}
		cr_expect_eq(csum_fold(csum_add(0, sw, 8)), 0x0d22);
	}
}

Test(csum, ipv4_header_vector)
{
	/* a well-known header whose checksum is b861 */
	uint8_t h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00,
			  0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01,
			  0xc0, 0xa8, 0x00, 0xc7 };

	cr_expect_eq(csum_fold(csum_add(0, h, 20)), 0xb861);
	wr16(h + 10, 0xb861);
	cr_expect_eq(csum_fold(csum_add(0, h, 20)), 0);
}

Test(csum, odd_lengths_pad_with_zero)
{
	static const uint8_t b[] = { 0x12, 0x34, 0x56, 0x78, 0x9a };

	cr_expect_eq(csum_add(0, b, 0), 0);
	cr_expect_eq(csum_add(0, b, 1), 0x1200);
	cr_expect_eq(csum_add(0, b, 3), 0x1234 + 0x5600);
	cr_expect_eq(csum_add(0, b, 5), 0x1234 + 0x5678 + 0x9a00);
	cr_expect_eq(csum_add(7, b, 1), 0x1207, "the initial sum is added");
}

Test(csum, chained_even_chunks_equal_one_pass)
{
	uint8_t b[1001];
	size_t i, cut;

	for (i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)rnd();
	for (cut = 0; cut <= sizeof(b); cut += 2) {
		uint32_t one = csum_add(0, b, sizeof(b));
		uint32_t two = csum_add(csum_add(0, b, cut), b + cut,
					sizeof(b) - cut);

		cr_assert_eq(csum_fold(one), csum_fold(two), "cut at %zu", cut);
	}
}

Test(csum, matches_reference_for_every_length)
{
	uint8_t b[300];
	size_t n;

	for (n = 0; n < sizeof(b); n++)
		b[n] = (uint8_t)rnd();
	for (n = 0; n <= sizeof(b); n++)
		cr_assert_eq(csum_fold(csum_add(0, b, n)),
			     (uint16_t)~ref_sum(b, n, 0), "length %zu", n);
}

Test(csum, large_sums_do_not_overflow)
{
	static uint8_t b[65536];
	uint32_t s;

	memset(b, 0xff, sizeof(b));
	s = csum_add(0xffffffffu, b, sizeof(b));
	/* 0xffff is one's-complement zero: everything folds to 0xffff */
	cr_expect_eq(csum_fold(s), 0x0000);
	memset(b, 0xfe, sizeof(b));
	b[sizeof(b) - 1] = 0x01;
	cr_expect_eq(csum_fold(csum_add(0xfffffff0u, b, sizeof(b))),
		     (uint16_t)~ref_sum(b, sizeof(b), 0xfff0 + 0xffff));
	cr_expect_eq(csum_fold(0xffffffffu), 0);
	cr_expect_eq(csum_fold(0), 0xffff);
}

/* ---- incremental updates -------------------------------------------------- */

Test(csum, rfc1624_example)
{
	/* RFC 1624 section 4: eqn. 3 gives 0000 where eqn. 2 gave ffff */
	cr_expect_eq(csum_replace16(0xdd2f, 0x5555, 0x3285), 0x0000);
}

Test(csum, replace16_agrees_with_full_recompute)
{
	uint8_t b[64];
	int round;

	for (round = 0; round < 2000; round++) {
		size_t at = (rnd() % 31) * 2;
		uint16_t ck, old, nw;
		size_t i;

		for (i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rnd();
		/* (all-zero data is left out: eqn. 3 then gives +0 where a
		 * full sum gives -0, RFC 1624 section 3; a pseudo-header
		 * always holds a protocol number, so no TCP/UDP sum is 0) */
		if (round % 5 == 0)
			memset(b, 0xff, sizeof(b));
		wr16(b + 62, 0);
		wr16(b + 62, csum_fold(csum_add(0, b, sizeof(b))));
		old = rd16(b + at);
		nw = round % 7 ? (uint16_t)rnd() : old;
		wr16(b + at, nw);
		ck = csum_replace16(rd16(b + 62), old, nw);
		wr16(b + 62, ck);
		cr_assert_eq(csum_fold(csum_add(0, b, sizeof(b))), 0,
			     "round %d: the sum still verifies", round);
	}
}

Test(csum, replace32_agrees_with_full_recompute)
{
	uint8_t b[40];
	int round;

	for (round = 0; round < 2000; round++) {
		size_t at = (rnd() % 9) * 4, i;
		uint32_t old, nw;
		uint16_t full;

		for (i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rnd();
		wr16(b + 38, 0);
		wr16(b + 38, csum_fold(csum_add(0, b, sizeof(b))));
		old = (uint32_t)rd16(b + at) << 16 | rd16(b + at + 2);
		nw = round & 1 ? old + (uint32_t)round * 0x10001u : rnd();
		wr16(b + at, (uint16_t)(nw >> 16));
		wr16(b + at + 2, (uint16_t)nw);
		wr16(b + 38, csum_replace32(rd16(b + 38), old, nw));
		cr_assert_eq(csum_fold(csum_add(0, b, sizeof(b))), 0,
			     "round %d", round);
		/* the same value a full recompute gives, up to +0/-0 */
		full = rd16(b + 38);
		wr16(b + 38, 0);
		wr16(b + 38, csum_fold(csum_add(0, b, sizeof(b))));
		cr_assert(full == rd16(b + 38) ||
			  (full | rd16(b + 38)) == 0xffff, "round %d", round);
	}
}

/* ---- csum_l4_fill / csum_l4_ok ---------------------------------------------- */

struct l4case {
	int family;
	uint8_t proto;
	bool ext;
	size_t payload;
};

static size_t build(struct fr *f, const struct l4case *c, size_t *l4)
{
	static uint8_t data[60000];
	struct fr_spec s = { .family = c->family, .ipv6_exthdrs = c->ext,
			     .seq = 0x01020304, .ack = 0xa0b0c0d0 };
	size_t i;

	for (i = 0; i < c->payload; i++)
		data[i] = (uint8_t)(i * 31 + i / 257);
	if (c->proto == 6)
		fr_tcp(f, &s, data, c->payload);
	else if (c->proto == 17)
		fr_udp(f, &s, data, c->payload);
	else
		fr_icmp_echo(f, &s, 7, 9, data, c->payload);
	*l4 = c->family == 4 ? 20 : 40 + (c->ext ? 16 : 0);
	return 14;		/* the IP header follows Ethernet */
}

static size_t ck_at(uint8_t proto)
{
	return proto == 6 ? 16 : proto == 17 ? 6 : 2;
}

ParameterizedTestParameters(csum_l4, fill_matches_builder)
{
	static struct l4case cases[] = {
		{ 4, 6, false, 0 }, { 4, 6, false, 1 }, { 4, 6, false, 1001 },
		{ 6, 6, false, 0 }, { 6, 6, false, 333 }, { 6, 6, true, 64 },
		{ 4, 17, false, 0 }, { 4, 17, false, 7 }, { 6, 17, false, 512 },
		{ 6, 17, true, 3 }, { 6, 58, false, 56 }, { 6, 58, true, 5 },
		{ 4, 6, false, 60000 }, { 6, 6, false, 60000 },
		{ 4, 17, false, 60000 },
	};

	return cr_make_param_array(struct l4case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

/* The builder's checksum (tests/support/frames.c) is the reference. */
ParameterizedTest(struct l4case *c, csum_l4, fill_matches_builder)
{
	static struct fr f;
	size_t l4, net = build(&f, c, &l4);
	uint8_t *ip = f.b + net, *ck;
	size_t iplen = f.len - net;
	uint16_t want;

	ck = ip + l4 + ck_at(c->proto);
	want = rd16(ck);
	cr_assert(csum_l4_ok(ip, iplen, l4, c->proto));
	wr16(ck, (uint16_t)(want ^ 0x0101));
	cr_expect_not(csum_l4_ok(ip, iplen, l4, c->proto));
	cr_assert(csum_l4_fill(ip, iplen, l4, c->proto));
	cr_expect_eq(rd16(ck), want, "family %d proto %u payload %zu",
		     c->family, c->proto, c->payload);
	cr_expect(csum_l4_ok(ip, iplen, l4, c->proto));
	if (c->proto == 6 && !c->ext)
		cr_expect(fr_tcp_csum_ok(&f));
	/* a flipped payload bit is caught */
	if (c->payload) {
		f.b[f.len - 1] ^= 0x10;
		cr_expect_not(csum_l4_ok(ip, iplen, l4, c->proto));
	}
}

/* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, folded, not
 * complemented (what the kernel leaves for the device to finish). */
static void make_partial(uint8_t *ip, size_t l4, size_t l4len, uint8_t proto)
{
	bool v6 = (ip[0] >> 4) == 6;
	uint32_t ps = proto + (uint32_t)l4len;

	ps = v6 ? csum_add(ps, ip + 8, 32) : csum_add(ps, ip + 12, 8);
	wr16(ip + l4 + ck_at(proto), (uint16_t)~csum_fold(ps));
}

ParameterizedTestParameters(csum_l4, partial_gets_full_checksum)
{
	static struct l4case cases[] = {
		{ 4, 6, false, 100 }, { 6, 6, true, 100 },
		{ 4, 6, false, 60000 }, { 6, 6, false, 60000 },
		{ 4, 17, false, 60 }, { 6, 17, false, 61 },
	};

	return cr_make_param_array(struct l4case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct l4case *c, csum_l4, partial_gets_full_checksum)
{
	static struct fr f;
	size_t l4, net = build(&f, c, &l4);
	uint8_t *ip = f.b + net;
	size_t iplen = f.len - net;
	uint16_t want = rd16(ip + l4 + ck_at(c->proto));

	make_partial(ip, l4, iplen - l4, c->proto);
	cr_assert_not(csum_l4_ok(ip, iplen, l4, c->proto));
	cr_assert(csum_l4_fill(ip, iplen, l4, c->proto));
	cr_expect_eq(rd16(ip + l4 + ck_at(c->proto)), want);
	cr_expect(csum_l4_ok(ip, iplen, l4, c->proto));
}

Test(csum_l4, fill_refreshes_the_ipv4_header_checksum)
{
	static struct fr f;
	struct l4case c = { 4, 6, false, 10 };
	size_t l4, net = build(&f, &c, &l4);
	uint8_t *ip = f.b + net;
	uint16_t want = rd16(ip + 10);

	wr16(ip + 10, 0x1234);
	cr_assert(csum_l4_fill(ip, f.len - net, l4, 6));
	cr_expect_eq(rd16(ip + 10), want);
	cr_expect_eq(csum_fold(csum_add(0, ip, 20)), 0);
}

Test(csum_l4, udp_zero_result_is_stored_as_ffff)
{
	static struct fr f;
	struct l4case c = { 4, 17, false, 2 };
	size_t l4, net = build(&f, &c, &l4);
	uint8_t *ip = f.b + net, *u = ip + l4;

	/* a payload word equal to the checksum makes the sum all ones */
	wr16(u + 8, 0);
	cr_assert(csum_l4_fill(ip, f.len - net, l4, 17));
	wr16(u + 8, rd16(u + 6));
	cr_assert(csum_l4_fill(ip, f.len - net, l4, 17));
	cr_expect_eq(rd16(u + 6), 0xffff);
	cr_expect(csum_l4_ok(ip, f.len - net, l4, 17));
}

Test(csum_l4, udp_zero_checksum_means_none_over_ipv4_only)
{
	static struct fr f;
	struct l4case c4 = { 4, 17, false, 9 }, c6 = { 6, 17, false, 9 };
	size_t l4, net = build(&f, &c4, &l4);

	wr16(f.b + net + l4 + 6, 0);
	cr_expect(csum_l4_ok(f.b + net, f.len - net, l4, 17));
	net = build(&f, &c6, &l4);
	wr16(f.b + net + l4 + 6, 0);
	cr_expect_not(csum_l4_ok(f.b + net, f.len - net, l4, 17));
}

Test(csum_l4, tcp_checksum_ffff_and_0000_both_verify)
{
	static struct fr f;
	struct l4case c = { 4, 6, false, 2 };
	size_t l4, net = build(&f, &c, &l4);
	uint8_t *ip = f.b + net, *t = ip + l4;

	/* force the computed checksum to 0000, then store ffff: -0 == +0 */
	wr16(t + 20, 0);
	cr_assert(csum_l4_fill(ip, f.len - net, l4, 6));
	wr16(t + 20, rd16(t + 16));
	cr_assert(csum_l4_fill(ip, f.len - net, l4, 6));
	cr_expect_eq(rd16(t + 16), 0x0000);
	cr_expect(csum_l4_ok(ip, f.len - net, l4, 6));
	wr16(t + 16, 0xffff);
	cr_expect(csum_l4_ok(ip, f.len - net, l4, 6));
}

/* Refusals: false, and not one byte changed. */
static void expect_refused(uint8_t *ip, size_t len, size_t l4, uint8_t proto)
{
	uint8_t copy[128];

	cr_assert_leq(len, sizeof(copy));
	memcpy(copy, ip, len);
	cr_expect_not(csum_l4_fill(ip, len, l4, proto), "len %zu l4 %zu "
		      "proto %u", len, l4, proto);
	cr_expect_not(csum_l4_ok(ip, len, l4, proto));
	cr_expect_eq(memcmp(copy, ip, len), 0, "changed nothing");
}

Test(csum_l4, refuses_what_does_not_fit)
{
	static struct fr f;
	struct l4case c4 = { 4, 6, false, 8 }, c6 = { 6, 58, false, 8 };
	size_t l4, net = build(&f, &c4, &l4), n = f.len - net;
	uint8_t *ip = f.b + net;

	expect_refused(ip, n, l4, 1);			/* ICMPv4: no */
	expect_refused(ip, n, l4, 58);			/* ICMPv6 in v4 */
	expect_refused(ip, n, l4, 132);			/* SCTP: no */
	expect_refused(ip, n - 1, l4, 6);		/* cut short */
	expect_refused(ip, 19, l4, 6);
	expect_refused(ip, 0, 0, 6);
	expect_refused(ip, n, 16, 6);			/* inside the header */
	expect_refused(ip, n, n + 1, 6);		/* past the end */
	expect_refused(ip, n, n - 19, 6);		/* TCP header short */
	expect_refused(ip, n, n - 7, 17);		/* UDP header short */
	ip[0] = 0x44;					/* IHL 16 bytes */
	expect_refused(ip, n, l4, 6);
	ip[0] = 0x75;					/* version 7 */
	expect_refused(ip, n, l4, 6);
	ip[0] = 0x45;
	wr16(ip + 2, 19);				/* total < IHL */
	expect_refused(ip, n, l4, 6);

	net = build(&f, &c6, &l4);
	n = f.len - net;
	ip = f.b + net;
	expect_refused(ip, n - 1, l4, 58);
	expect_refused(ip, 39, l4, 58);
	expect_refused(ip, n, n - 3, 58);		/* ICMPv6 header short */
	cr_expect_not(csum_l4_fill(NULL, 0, 0, 6));
}

Test(csum_l4, l4_length_comes_from_the_ip_header)
{
	static struct fr f;
	struct l4case c = { 4, 6, false, 6 };
	size_t l4, net = build(&f, &c, &l4);
	uint8_t *ip = f.b + net;
	uint16_t want = rd16(ip + l4 + 16);

	/* Ethernet padding after the datagram is not summed */
	memset(f.b + f.len, 0xab, 20);
	wr16(ip + l4 + 16, 0);
	cr_assert(csum_l4_fill(ip, f.len - net + 20, l4, 6));
	cr_expect_eq(rd16(ip + l4 + 16), want);
}
