/*
 * test_cmp_msg.c - UDP, ICMP/ICMPv6, ARP, other ethertypes, IPv6
 * extension headers, 802.1Q, IP fragments and malformed frames.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "compare/parse.h"
#include "tests/support/frames.h"

#define P CMP_PRIMARY
#define S CMP_SECONDARY

static struct h h;
static struct fr f, g;
static uint8_t data[8192];

static void setup(void)
{
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	h_init_default(&h);
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(msg, .init = setup, .fini = teardown);

Test(msg, udp_same_payload_matches_despite_ip_id_ttl_checksum)
{
	struct fr_spec a = { .ip_id = 1, .ttl = 64 }, b = { .ip_id = 999, .ttl = 3 };
	uint64_t p;

	fr_udp(&f, &a, "hello", 5);
	fr_udp(&g, &b, "hello", 5);
	cr_assert_neq(memcmp(f.b, g.b, f.len), 0, "headers do differ");
	p = h_feed(&h, P, &f);
	cr_expect_eq(h.released[p], 0);
	h_feed(&h, S, &g);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(msg, udp_payload_and_length_differences)
{
	struct fr_spec a = { 0 };
	uint64_t p;

	fr_udp(&f, &a, "hello", 5);
	p = h_feed(&h, P, &f);
	fr_udp(&f, &a, "hellO", 5);
	h_feed(&h, S, &f);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_PAYLOAD);
	cr_expect_eq(h.ckpt[0].key.kind, CMP_K_UDP);
	cr_expect_eq(h.released[p], 0);
	h_commit(&h);
	cr_expect_eq(h.released[p], 1);

	a.sport = 1234;		/* another flow */
	fr_udp(&f, &a, "abc", 3);
	h_feed(&h, P, &f);
	fr_udp(&f, &a, "abcd", 4);
	h_feed(&h, S, &f);
	cr_assert_eq(h.nckpt, 2);
	cr_expect_eq(h.ckpt[1].reason, CMP_R_LENGTH);
}

Test(msg, udp_datagrams_pair_in_order_per_flow)
{
	struct fr_spec a = { 0 }, b = { .sport = 54 };
	uint64_t p1, p2, q1;

	fr_udp(&f, &a, "one", 3);
	p1 = h_feed(&h, P, &f);
	fr_udp(&f, &a, "two", 3);
	p2 = h_feed(&h, P, &f);
	fr_udp(&f, &b, "other", 5);
	q1 = h_feed(&h, P, &f);
	h_feed(&h, S, &f);		/* the other flow first */
	cr_expect_eq(h.released[q1], 1);
	fr_udp(&f, &a, "one", 3);
	h_feed(&h, S, &f);
	fr_udp(&f, &a, "two", 3);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p1], 1);
	cr_expect_eq(h.released[p2], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(msg, icmp_echo_v4_and_v6_compare_without_checksum)
{
	struct fr_spec v4 = { 0 }, v6 = { .family = 6 };
	uint64_t p;

	fr_icmp_echo(&f, &v4, 7, 1, data, 56);
	p = h_feed(&h, P, &f);
	f.b[14 + 20 + 2] ^= 0xff;	/* checksum only */
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1);
	fr_icmp_echo(&f, &v6, 7, 1, data, 56);
	p = h_feed(&h, P, &f);
	fr_icmp_echo(&f, &v6, 7, 2, data, 56);	/* sequence differs */
	h_feed(&h, S, &f);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].key.kind, CMP_K_ICMP);
	cr_expect_eq(h.ckpt[0].key.family, 6);
	cr_expect_eq(h.released[p], 0);
}

Test(msg, arp_replies_compare_by_body_not_padding)
{
	uint64_t p;

	fr_arp_reply(&f, "10.0.0.2", "10.0.0.1");
	p = h_feed(&h, P, &f);
	f.b[59] = 0xee;			/* Ethernet padding */
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(msg, other_ethertype_compares_the_whole_frame)
{
	uint64_t p;

	memset(f.b, 0, 64);
	f.b[12] = 0x88;
	f.b[13] = 0xcc;			/* LLDP */
	f.len = 64;
	p = h_feed(&h, P, &f);
	f.b[40] = 1;
	h_feed(&h, S, &f);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].key.kind, CMP_K_ETH);
	cr_expect_eq(h.ckpt[0].key.ethertype, 0x88cc);
	cr_expect_eq(h.released[p], 0);
}

Test(msg, vlan_tags_separate_flows)
{
	struct fr_spec a = { .vlan = 100 }, b = { .vlan = 200 };
	uint64_t p;

	fr_udp(&f, &a, "x", 1);
	p = h_feed(&h, P, &f);
	fr_udp(&f, &b, "x", 1);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 0, "vlan 200 is another flow");
	fr_udp(&f, &a, "x", 1);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1);
}

Test(msg, tcp_over_ipv6_with_extension_headers_and_qinq)
{
	struct fr_spec a = { .family = 6, .ipv6_exthdrs = true, .vlan = 10,
			     .vlan2 = 20, .seq = 1, .flags = 0x18, .ack = 1 };
	struct pkt pk;
	uint64_t p;

	fr_tcp(&f, &a, data, 100);
	pkt_parse(f.b, f.len, CMP_LINK_ETH, &pk);
	cr_assert_eq(pk.l3, PKT_IP);
	cr_expect_eq(pk.proto, 6);
	cr_expect_eq(pk.nvlan, 2);
	cr_expect_eq(pk.vlan[1], 20);
	cr_expect_eq(pk.paylen, 100);
	p = h_feed(&h, P, &f);
	a.ipv6_exthdrs = false;		/* the secondary's path has none */
	fr_tcp(&f, &a, data, 100);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

static void fragments_match(int family)
{
	static struct fr whole, pf[16], sf[16];
	struct fr_spec a = { .family = family };
	int np, ns, i;
	uint64_t ids[16];

	fr_udp(&whole, &a, data, 4000);
	np = fr_fragment(&whole, 1111, 1480, pf, 16);
	ns = fr_fragment(&whole, 2222, 1000, sf, 16);
	cr_assert(np == 3 && ns == 5);
	for (i = 0; i < np; i++)
		ids[i] = h_feed(&h, P, &pf[i]);
	for (i = ns - 1; i >= 0; i--)	/* reversed: order does not matter */
		h_feed(&h, S, &sf[i]);
	for (i = 0; i < np; i++)
		cr_expect_eq(h.released[ids[i]], 1, "fragment %d", i);
	cr_expect_eq(h_ndropped(&h), ns);
	cr_expect_eq(h.nckpt, 0);
	cr_expect_eq(cmp_get_stats(h.c)->reassembled[0], 1);
}

Test(msg, ipv4_fragments_reassembled_and_compared_whole)
{
	fragments_match(4);
}

Test(msg, ipv6_fragments_reassembled_and_compared_whole)
{
	fragments_match(6);
}

Test(msg, fragmented_datagrams_that_differ_diverge)
{
	static struct fr whole, pf[8], sf[8];
	struct fr_spec a = { 0 };
	int n, i;

	fr_udp(&whole, &a, data, 3000);
	n = fr_fragment(&whole, 1, 1480, pf, 8);
	for (i = 0; i < n; i++)
		h_feed(&h, P, &pf[i]);
	data[2500] ^= 1;
	fr_udp(&whole, &a, data, 3000);
	n = fr_fragment(&whole, 2, 1480, sf, 8);
	for (i = 0; i < n; i++)
		h_feed(&h, S, &sf[i]);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_PAYLOAD);
	cr_expect_eq(h_nreleased(&h), 0);
	h_commit(&h);
	cr_expect_eq(h_nreleased(&h), n);
}

Test(msg, incomplete_datagram_times_out)
{
	static struct fr whole, pf[8];
	struct fr_spec a = { 0 };

	fr_udp(&whole, &a, data, 3000);
	fr_fragment(&whole, 1, 1480, pf, 8);
	h_feed(&h, P, &pf[0]);
	h_feed(&h, S, &pf[0]);
	cr_expect_eq(cmp_next_deadline(h.c), h.now - 1000 + 200000000ull);
	h_tick(&h, h.now + 200000000ull);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_HOLD_TIMEOUT);
	h_commit(&h);
	cr_expect_eq(h_nreleased(&h), 1);
	cr_expect_eq(cmp_get_stats(h.c)->held_bytes, 0);
}

Test(msg, unreassemblable_fragment_leaves_nothing_waiting)
{
	struct fr_spec a = { 0 };
	uint64_t p;

	fr_udp(&f, &a, data, 12);	/* 20 bytes of UDP after the header */
	f.b[14 + 6] = 0x20;		/* MF with 20 bytes: not a multiple of 8 */
	p = h_feed(&h, P, &f);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1, "compared as a raw frame");
	cr_expect_eq(cmp_get_stats(h.c)->held_frames, 0);
	cr_expect_eq(cmp_next_deadline(h.c) > h.now + 1000000000ull, true,
		     "no hold deadline left behind");
	h_tick(&h, h.now + 300000000ull);
	cr_expect_eq(h.nckpt, 0, "found by fuzz_cmp: a spurious timeout");
}

Test(msg, malformed_frames_compare_as_raw_frames)
{
	struct fr_spec a = { .seq = 1 };
	uint64_t p;

	fr_tcp(&f, &a, data, 10);
	f.b[14 + 20 + 12] = 0xf0;	/* TCP data offset 60 > segment */
	p = h_feed(&h, P, &f);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(cmp_get_stats(h.c)->malformed[0], 1);
	f.b[14 + 20 + 4] ^= 1;
	p = h_feed(&h, P, &f);
	f.b[14 + 20 + 4] ^= 3;
	h_feed(&h, S, &f);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].key.kind, CMP_K_RAW);
	cr_expect_eq(h.released[p], 0);
}

Test(msg, parser_rejects_bad_lengths_with_a_reason)
{
	static const struct { size_t cut; const char *why; } cuts[] = {
		{ 10, "Ethernet header truncated" },
		{ 14 + 19, "IPv4 header truncated" },
		{ 14 + 30, "IPv4 total length out of range" },
	};
	struct fr_spec a = { 0 };
	struct pkt pk;
	size_t i;

	fr_udp(&f, &a, data, 100);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		pkt_parse(f.b, cuts[i].cut, CMP_LINK_ETH, &pk);
		cr_expect_eq(pk.l3, PKT_BAD);
		cr_expect_str_eq(pk.why, cuts[i].why);
	}
	f.b[14] = 0x4f;			/* IHL 60 bytes: fits, but > total */
	f.b[14 + 2] = 0;
	f.b[14 + 3] = 40;
	pkt_parse(f.b, f.len, CMP_LINK_ETH, &pk);
	cr_expect_eq(pk.l3, PKT_BAD);
	pkt_parse(f.b + 14, 0, CMP_LINK_IP, &pk);
	cr_expect_eq(pk.l3, PKT_BAD);
}

Test(msg, raw_ip_link)
{
	struct fr_spec a = { 0 };
	uint64_t p;

	fr_udp(&f, &a, "q", 1);
	h.now += 1;
	cr_assert_eq(cmp_input(h.c, P, 1, 0, CMP_LINK_IP, f.b + 14, f.len - 14,
			       0, h.now), 0);
	cr_assert_eq(cmp_input(h.c, S, 2, 0, CMP_LINK_IP, f.b + 14, f.len - 14,
			       0, h.now), 0);
	h_drain(&h);
	p = 1;
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(cmp_input(h.c, 7, 3, 0, CMP_LINK_IP, f.b, f.len, 0, 0),
		     -EINVAL);
}
