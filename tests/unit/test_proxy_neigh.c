/*
 * test_proxy_neigh.c - the secondary's neighbour responder: the table
 * (learn, refresh, replace the oldest), learning from mirrored frames, ARP
 * replies and neighbour advertisements byte by byte (the NA's checksum
 * recomputed here independently), what is never answered, and truncated
 * frames (each prefix in a buffer of its own size, so that ASan sees any
 * read past the end).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "colo-proxy/neigh.h"
#include "tests/support/frames.h"

static struct neigh *n;
static uint8_t out[256];

static const uint8_t svm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t gw_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t other_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };

static void setup(void)
{
	alarm(30);		/* a hung test fails (see test_common_loop.c) */
	n = malloc(sizeof(*n));
	cr_assert(n);
	neigh_init(n);
}

static void teardown(void)
{
	free(n);
}

TestSuite(neigh_table, .init = setup, .fini = teardown);
TestSuite(neigh_arp, .init = setup, .fini = teardown);
TestSuite(neigh_nd, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------- */



static void ip4(const char *s, uint8_t *a)
{
	cr_assert_eq(inet_pton(AF_INET, s, a), 1, "%s", s);
}

static void ip6(const char *s, uint8_t *a)
{
	cr_assert_eq(inet_pton(AF_INET6, s, a), 1, "%s", s);
}

static void learn4(const char *s, const uint8_t *mac)
{
	uint8_t a[16] = { 0 };

	ip4(s, a);
	neigh_learn(n, 4, a, mac, 1);
}

static void learn6(const char *s, const uint8_t *mac)
{
	uint8_t a[16];

	ip6(s, a);
	neigh_learn(n, 6, a, mac, 1);
}

static bool lookup4(const char *s, uint8_t *mac)
{
	uint8_t a[16] = { 0 };

	ip4(s, a);
	return neigh_lookup(n, 4, a, mac);
}

static bool lookup6(const char *s, uint8_t *mac)
{
	uint8_t a[16];

	ip6(s, a);
	return neigh_lookup(n, 6, a, mac);
}

/* The VLAN tags a test asks for: 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q),
 * with priority bits set so that a copy of only the VID would show. */
static size_t put_eth(uint8_t *b, const uint8_t *dst, const uint8_t *src,
		      int ntags, uint16_t type)
{
	size_t o = 12;

	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	if (ntags == 2) {
		put16(b + o, 0x88a8);
		put16(b + o + 2, 0xa000 | 100);
		o += 4;
	}
	if (ntags >= 1) {
		put16(b + o, 0x8100);
		put16(b + o + 2, 0x6000 | 42);
		o += 4;
	}
	put16(b + o, type);
	return o + 2;
}

/* An ARP packet from the SVM: OP, sender SPA, target TPA; padded to 60. */
static size_t arp_frame(uint8_t *b, int ntags, uint16_t op, const char *spa,
			const char *tpa)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	size_t o;

	memset(b, 0, 64);
	o = put_eth(b, bcast, svm_mac, ntags, 0x0806);
	put16(b + o, 1);
	put16(b + o + 2, 0x0800);
	b[o + 4] = 6;
	b[o + 5] = 4;
	put16(b + o + 6, op);
	memcpy(b + o + 8, svm_mac, 6);
	ip4(spa, b + o + 14);
	ip4(tpa, b + o + 24);
	return o + 28 < 60 ? 60 : o + 28;
}

/* Independent ICMPv6 checksum: the sum over the pseudo-header and the
 * message (its checksum field included) of a correct packet is 0xffff. */
static uint16_t icmp6_sum(const uint8_t *ip6hdr, const uint8_t *icmp,
			  size_t len)
{
	uint32_t s = 58 + (uint32_t)len;
	size_t i;

	for (i = 8; i < 40; i += 2)
		s += get16(ip6hdr + i);
	for (i = 0; i + 1 < len; i += 2)
		s += get16(icmp + i);
	if (len & 1)
		s += (uint32_t)icmp[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

struct ns_spec {
	const char *src, *target;
	int ntags;
	bool ip_link;		/* bare IPv6 packet */
	bool slla;		/* source link-layer address option */
	uint8_t hlim;		/* 0: 255 */
	uint8_t code;
	uint8_t type;		/* 0: NS */
	bool bad_opt;		/* an option of length 0 */
	bool hbh;		/* a hop-by-hop header before ICMPv6 */
};

/* A neighbour solicitation from the SVM, to the solicited-node group. */
static size_t ns_frame(uint8_t *b, const struct ns_spec *s)
{
	uint8_t mcast_mac[6] = { 0x33, 0x33, 0xff };
	uint8_t *ip, *icmp, target[16];
	size_t o = 0, ilen = 24 + (s->slla || s->bad_opt ? 8 : 0);
	size_t ext = s->hbh ? 8 : 0;

	ip6(s->target, target);
	memcpy(mcast_mac + 3, target + 13, 3);
	memset(b, 0, 128);
	if (!s->ip_link)
		o = put_eth(b, mcast_mac, svm_mac, s->ntags, 0x86dd);
	ip = b + o;
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)(ext + ilen));
	ip[6] = s->hbh ? 0 : 58;
	ip[7] = s->hlim ? s->hlim : 255;
	ip6(s->src, ip + 8);
	ip6("ff02::1:ff00:0", ip + 24);
	memcpy(ip + 37, target + 13, 3);
	if (s->hbh) {
		ip[40] = 58;		/* next header; length 0: 8 bytes */
		ip[42] = 1;		/* PadN, 4 bytes */
		ip[43] = 4;
	}
	icmp = ip + 40 + ext;
	icmp[0] = s->type ? s->type : 135;
	icmp[1] = s->code;
	memcpy(icmp + 8, target, 16);
	if (s->slla) {
		icmp[24] = 1;
		icmp[25] = 1;
		memcpy(icmp + 26, svm_mac, 6);
	} else if (s->bad_opt) {
		icmp[24] = 1;
	}
	put16(icmp + 2, (uint16_t)~icmp6_sum(ip, icmp, ilen));
	return o + 40 + ext + ilen;
}

static size_t answer(const uint8_t *f, size_t len, enum cmp_link link,
		     const uint8_t *req_mac)
{
	memset(out, 0xee, sizeof(out));
	return neigh_answer(n, f, len, link, req_mac, out, sizeof(out));
}

/* ---- the table ------------------------------------------------------------ */

Test(neigh_table, learn_and_lookup)
{
	uint8_t mac[6];

	learn4("10.0.0.1", gw_mac);
	learn6("fe80::1", other_mac);
	cr_assert(lookup4("10.0.0.1", mac));
	cr_expect_arr_eq(mac, gw_mac, 6);
	cr_assert(lookup6("fe80::1", mac));
	cr_expect_arr_eq(mac, other_mac, 6);
	cr_expect_not(lookup4("10.0.0.3", mac));
	cr_expect_not(lookup6("fe80::2", mac));
	cr_expect_not(neigh_lookup(n, 5, (const uint8_t *)"0123456789abcdef",
				   mac));
	cr_expect_eq(n->st.learnt, 2);
}

Test(neigh_table, families_do_not_mix)
{
	uint8_t a[16] = { 10, 0, 0, 1 }, mac[6];

	neigh_learn(n, 4, a, gw_mac, 1);
	cr_expect_not(neigh_lookup(n, 6, a, mac));
}

Test(neigh_table, relearn_updates_in_place)
{
	uint8_t mac[6];

	learn4("10.0.0.1", gw_mac);
	learn4("10.0.0.1", gw_mac);
	cr_expect_eq(n->st.learnt, 1);
	cr_expect_eq(n->st.updated, 0);
	learn4("10.0.0.1", other_mac);
	cr_expect_eq(n->st.learnt, 1);
	cr_expect_eq(n->st.updated, 1);
	cr_assert(lookup4("10.0.0.1", mac));
	cr_expect_arr_eq(mac, other_mac, 6);
	cr_expect_eq(n->used, 1);
}

static void learn_nth(unsigned i, uint64_t now)
{
	uint8_t a[16] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
			  (uint8_t)i };
	uint8_t mac[6] = { 0x02, 0, 0, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
			   (uint8_t)i };

	neigh_learn(n, 4, a, mac, now);
}

static bool has_nth(unsigned i)
{
	uint8_t a[16] = { 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
			  (uint8_t)i };
	uint8_t mac[6];

	return neigh_lookup(n, 4, a, mac) && mac[5] == (uint8_t)i;
}

Test(neigh_table, full_table_replaces_the_oldest)
{
	unsigned i;

	for (i = 0; i < NEIGH_MAX; i++)
		learn_nth(i, i);
	for (i = 0; i < NEIGH_MAX; i++)
		cr_assert(has_nth(i), "entry %u", i);
	learn_nth(0, 5000);		/* refreshed: 1 is now the oldest */
	learn_nth(NEIGH_MAX, 5001);
	cr_expect(has_nth(0));
	cr_expect_not(has_nth(1));
	cr_expect(has_nth(NEIGH_MAX));
	learn_nth(NEIGH_MAX + 1, 5002);
	cr_expect_not(has_nth(2));
	cr_expect(has_nth(3));
	cr_expect_eq(n->used, NEIGH_MAX);
	cr_expect_eq(n->st.learnt, NEIGH_MAX + 2);
}

Test(neigh_table, churn_keeps_the_newest)
{
	unsigned i;

	for (i = 0; i < 5 * NEIGH_MAX; i++)
		learn_nth(i, i);
	for (i = 4 * NEIGH_MAX; i < 5 * NEIGH_MAX; i++)
		cr_assert(has_nth(i), "entry %u", i);
	cr_expect_not(has_nth(4 * NEIGH_MAX - 1));
}

Test(neigh_table, never_learnt)
{
	static const uint8_t mcast_mac[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
	static const uint8_t zero_mac[6];
	static const char *const v4[] = {
		"0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.1",
		"239.1.2.3", "255.255.255.255",
	};
	static const char *const v6[] = { "::", "::1", "ff02::1", "ff05::2" };
	uint8_t mac[6];
	size_t i;

	learn4("10.0.0.1", mcast_mac);
	learn4("10.0.0.2", zero_mac);
	for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
		learn4(v4[i], gw_mac);
	for (i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		learn6(v6[i], gw_mac);
	cr_expect_eq(n->st.learnt, 0);
	cr_expect_not(lookup4("10.0.0.1", mac));
	learn6("::2", gw_mac);		/* a unicast address after all */
	cr_expect(lookup6("::2", mac));
}

Test(neigh_table, learn_from_frames)
{
	struct fr_spec s4 = { .src = "10.1.1.7", .dst = "10.0.0.2",
			      .vlan = 42 };
	struct fr_spec s6 = { .family = 6, .src = "2001:db8::7",
			      .dst = "2001:db8::2", .ipv6_exthdrs = true };
	static struct fr f;
	uint8_t mac[6];

	fr_tcp(&f, &s4, "x", 1);
	neigh_learn_frame(n, f.b, f.len, 1);
	cr_assert(lookup4("10.1.1.7", mac));
	cr_expect_arr_eq(mac, f.b + 6, 6, "the frame's source MAC");
	fr_udp(&f, &s6, "y", 1);
	neigh_learn_frame(n, f.b, f.len, 1);
	cr_assert(lookup6("2001:db8::7", mac));
	cr_expect_arr_eq(mac, f.b + 6, 6);
	fr_arp_reply(&f, "10.0.0.9", "10.0.0.2");
	neigh_learn_frame(n, f.b, f.len, 1);
	cr_assert(lookup4("10.0.0.9", mac));
	cr_expect_arr_eq(mac, f.b + 22, 6, "the ARP sender's MAC");
	cr_expect_eq(n->st.learnt, 3);
}

Test(neigh_table, truncated_frames_learn_nothing)
{
	struct fr_spec s6 = { .family = 6, .src = "2001:db8::7", .vlan = 3,
			      .vlan2 = 4 };
	static struct fr f;
	uint8_t *copy;
	size_t len;

	fr_tcp(&f, &s6, "abc", 3);
	for (len = 0; len < f.len; len++) {
		copy = malloc(len ? len : 1);
		memcpy(copy, f.b, len);
		neigh_learn_frame(n, copy, len, 1);
		free(copy);
	}
	cr_expect_eq(n->st.learnt, 0);
	neigh_learn_frame(n, f.b, f.len, 1);
	cr_expect_eq(n->st.learnt, 1);
}

/* ---- ARP -------------------------------------------------------------------- */

static void check_arp_reply(size_t len, size_t l2, const uint8_t *tags)
{
	uint8_t a[4];
	size_t i;

	cr_assert_eq(len, 60);
	cr_expect_arr_eq(out, svm_mac, 6, "to the requester");
	cr_expect_arr_eq(out + 6, gw_mac, 6, "from the answer");
	if (l2 > 14)
		cr_expect_arr_eq(out + 12, tags, l2 - 14, "tags copied");
	cr_expect_eq(get16(out + l2 - 2), 0x0806);
	cr_expect_eq(get16(out + l2), 1);
	cr_expect_eq(get16(out + l2 + 2), 0x0800);
	cr_expect_eq(out[l2 + 4], 6);
	cr_expect_eq(out[l2 + 5], 4);
	cr_expect_eq(get16(out + l2 + 6), 2, "a reply");
	cr_expect_arr_eq(out + l2 + 8, gw_mac, 6);
	ip4("10.0.0.1", a);
	cr_expect_arr_eq(out + l2 + 14, a, 4);
	cr_expect_arr_eq(out + l2 + 18, svm_mac, 6);
	ip4("10.0.0.2", a);
	cr_expect_arr_eq(out + l2 + 24, a, 4);
	for (i = l2 + 28; i < 60; i++)
		cr_expect_eq(out[i], 0, "padding at %zu", i);
	cr_expect_eq(out[60], 0xee, "nothing written past the answer");
}

Test(neigh_arp, reply_fields)
{
	uint8_t f[64];
	size_t len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");

	learn4("10.0.0.1", gw_mac);
	check_arp_reply(answer(f, len, CMP_LINK_ETH, NULL), 14, NULL);
	cr_expect_eq(n->st.arp_answered, 1);
}

Test(neigh_arp, reply_copies_vlan_tags)
{
	uint8_t f[64];
	size_t len;
	int ntags;

	learn4("10.0.0.1", gw_mac);
	for (ntags = 1; ntags <= 2; ntags++) {
		len = arp_frame(f, ntags, 1, "10.0.0.2", "10.0.0.1");
		check_arp_reply(answer(f, len, CMP_LINK_ETH, NULL),
				14 + 4 * (size_t)ntags, f + 12);
	}
}

Test(neigh_arp, unknown_target)
{
	uint8_t f[64];
	size_t len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");

	learn4("10.0.0.3", gw_mac);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0);
	cr_expect_eq(n->st.unknown, 1);
	cr_expect_eq(out[0], 0xee, "nothing written");
}

Test(neigh_arp, not_answered)
{
	uint8_t f[64];
	size_t len;

	learn4("10.0.0.1", gw_mac);
	learn4("10.0.0.2", gw_mac);
	len = arp_frame(f, 0, 2, "10.0.0.2", "10.0.0.1");
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "a reply");
	len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.2");
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "gratuitous");
	len = arp_frame(f, 0, 1, "0.0.0.0", "10.0.0.1");
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "a probe");
	len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");
	f[15] = 6;			/* hardware type IEEE 802 */
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0);
	len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");
	f[19] = 16;			/* protocol address length */
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0);
	len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");
	cr_expect_eq(answer(f, len, CMP_LINK_IP, NULL), 0, "IP link");
	cr_expect_eq(n->st.arp_answered, 0);
	cr_expect_eq(n->st.unknown, 0);
}

Test(neigh_arp, never_the_requesters_own_mac)
{
	uint8_t f[64];
	size_t len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");

	learn4("10.0.0.1", svm_mac);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0);
}

Test(neigh_arp, small_output_buffer)
{
	uint8_t f[64], small[59];
	size_t len = arp_frame(f, 0, 1, "10.0.0.2", "10.0.0.1");

	learn4("10.0.0.1", gw_mac);
	cr_expect_eq(neigh_answer(n, f, len, CMP_LINK_ETH, NULL, small,
				  sizeof(small)), 0);
}

Test(neigh_arp, truncated_requests)
{
	uint8_t f[64], *copy;
	size_t len = arp_frame(f, 1, 1, "10.0.0.2", "10.0.0.1"), cut, got;

	learn4("10.0.0.1", gw_mac);
	for (cut = 0; cut <= len; cut++) {
		copy = malloc(cut ? cut : 1);
		memcpy(copy, f, cut);
		got = answer(copy, cut, CMP_LINK_ETH, NULL);
		free(copy);
		cr_expect_eq(got, cut >= 18 + 28 ? 60 : 0, "cut %zu", cut);
	}
	cr_expect_gt(n->st.malformed, 0, "a cut ARP body is malformed");
}

/* ---- neighbour discovery ----------------------------------------------------- */

/* Check an NA for TARGET to DST (MAC TO) from the entry (MAC FROM), with
 * L2 bytes of Ethernet header; returns the ICMPv6 flags. */
static uint8_t check_na(size_t len, size_t l2, const char *dst,
			const uint8_t *to, const char *target)
{
	const uint8_t *ip = out + l2, *icmp = ip + 40;
	uint8_t a[16];

	cr_assert_eq(len, l2 + 40 + 32);
	cr_expect_arr_eq(out, to, 6);
	cr_expect_arr_eq(out + 6, gw_mac, 6);
	cr_expect_eq(get16(out + l2 - 2), 0x86dd);
	cr_expect_eq(ip[0], 0x60);
	cr_expect_eq(ip[1] | ip[2] | ip[3], 0, "no class or flow label");
	cr_expect_eq(get16(ip + 4), 32);
	cr_expect_eq(ip[6], 58);
	cr_expect_eq(ip[7], 255, "hop limit 255 (RFC 4861 7.1.2)");
	ip6(target, a);
	cr_expect_arr_eq(ip + 8, a, 16, "from the target address");
	cr_expect_arr_eq(icmp + 8, a, 16);
	ip6(dst, a);
	cr_expect_arr_eq(ip + 24, a, 16, "to the solicitation's source");
	cr_expect_eq(icmp[0], 136);
	cr_expect_eq(icmp[1], 0);
	cr_expect_eq(icmp[5] | icmp[6] | icmp[7], 0, "reserved");
	cr_expect_eq(icmp[4] & 0x1f, 0, "reserved");
	cr_expect_eq(icmp[24], 2, "target link-layer address option");
	cr_expect_eq(icmp[25], 1);
	cr_expect_arr_eq(icmp + 26, gw_mac, 6);
	cr_expect_eq(icmp6_sum(ip, icmp, 32), 0xffff, "checksum");
	cr_expect_eq(out[len], 0xee, "nothing written past the answer");
	return icmp[4];
}

Test(neigh_nd, na_fields_and_checksum)
{
	struct ns_spec s = { .src = "2001:db8::2", .target = "2001:db8::1",
			     .slla = true };
	uint8_t f[128];
	size_t len = ns_frame(f, &s);

	learn6("2001:db8::1", gw_mac);
	cr_expect_eq(check_na(answer(f, len, CMP_LINK_ETH, NULL), 14,
			      "2001:db8::2", svm_mac, "2001:db8::1"),
		     0x60, "solicited and override, not a router");
	cr_expect_eq(n->st.nd_answered, 1);
}

Test(neigh_nd, na_copies_vlan_tags)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1" };
	uint8_t f[128];
	size_t len, l2;

	learn6("fe80::1", gw_mac);
	for (s.ntags = 1; s.ntags <= 2; s.ntags++) {
		len = ns_frame(f, &s);
		l2 = 14 + 4 * (size_t)s.ntags;
		check_na(answer(f, len, CMP_LINK_ETH, NULL), l2, "fe80::2",
			 svm_mac, "fe80::1");
		cr_expect_arr_eq(out + 12, f + 12, l2 - 14);
	}
}

Test(neigh_nd, behind_an_extension_header)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1",
			     .hbh = true };
	uint8_t f[128];
	size_t len = ns_frame(f, &s);

	learn6("fe80::1", gw_mac);
	check_na(answer(f, len, CMP_LINK_ETH, NULL), 14, "fe80::2", svm_mac,
		 "fe80::1");
}

Test(neigh_nd, ip_link_with_hwaddr)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1",
			     .ip_link = true };
	uint8_t f[128];
	size_t len = ns_frame(f, &s);

	learn6("fe80::1", gw_mac);
	check_na(answer(f, len, CMP_LINK_IP, other_mac), 14, "fe80::2",
		 other_mac, "fe80::1");
	cr_expect_eq(answer(f, len, CMP_LINK_IP, NULL), 0,
		     "no hwaddr, no option: nowhere to send it");
}

Test(neigh_nd, ip_link_from_the_source_option)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1",
			     .ip_link = true, .slla = true };
	uint8_t f[128];
	size_t len = ns_frame(f, &s);

	learn6("fe80::1", gw_mac);
	check_na(answer(f, len, CMP_LINK_IP, NULL), 14, "fe80::2", svm_mac,
		 "fe80::1");
}

Test(neigh_nd, router_flag_from_an_advertisement)
{
	struct fr_spec s = { .family = 6, .src = "fe80::1", .dst = "ff02::1" };
	struct ns_spec ns = { .src = "fe80::2", .target = "fe80::1" };
	static struct fr ra;
	uint8_t f[128], *ip, *icmp;
	size_t len;

	/* an echo turned into a 16-byte RA with hop limit 255 */
	fr_icmp_echo(&ra, &s, 1, 1, "12345678", 8);
	ip = ra.b + 14;
	icmp = ip + 40;
	ip[7] = 255;
	icmp[0] = 134;
	memcpy(ra.b + 6, gw_mac, 6);
	neigh_learn_frame(n, ra.b, ra.len, 1);
	len = ns_frame(f, &ns);
	cr_expect_eq(check_na(answer(f, len, CMP_LINK_ETH, NULL), 14,
			      "fe80::2", svm_mac, "fe80::1"),
		     0xe0, "router, solicited, override");
}

Test(neigh_nd, unknown_target)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1" };
	uint8_t f[128];
	size_t len = ns_frame(f, &s);

	learn6("fe80::3", gw_mac);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0);
	cr_expect_eq(n->st.unknown, 1);
	cr_expect_eq(out[0], 0xee);
}

Test(neigh_nd, not_answered)
{
	struct ns_spec base = { .src = "fe80::2", .target = "fe80::1" }, s;
	uint8_t f[128];
	size_t len;

	learn6("fe80::1", gw_mac);
	learn6("fe80::2", gw_mac);
	s = base;
	s.src = "::";
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "DAD");
	s = base;
	s.src = "fe80::1";
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "own address");
	s = base;
	s.type = 136;
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "an NA");
	s.type = 128;
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "an echo");
	cr_expect_eq(n->st.malformed, 0);
	cr_expect_eq(n->st.nd_answered, 0);
}

Test(neigh_nd, invalid_solicitations)
{
	struct ns_spec base = { .src = "fe80::2", .target = "fe80::1" }, s;
	uint8_t f[128];
	size_t len;

	learn6("fe80::1", gw_mac);
	learn6("ff02::1", gw_mac);	/* refused anyway */
	s = base;
	s.hlim = 254;
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "hop limit");
	s = base;
	s.code = 1;
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "code");
	s = base;
	s.bad_opt = true;
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "option len 0");
	s = base;
	s.slla = true;
	len = ns_frame(f, &s);
	f[14 + 40 + 25] = 2;		/* option runs past the message */
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "option long");
	s = base;
	s.target = "ff02::1";
	len = ns_frame(f, &s);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0, "multicast");
	cr_expect_eq(n->st.malformed, 5);
	cr_expect_eq(n->st.nd_answered, 0);
}

Test(neigh_nd, never_the_requesters_own_mac)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1" };
	uint8_t f[128];
	size_t len = ns_frame(f, &s);

	learn6("fe80::1", svm_mac);
	cr_expect_eq(answer(f, len, CMP_LINK_ETH, NULL), 0);
}

Test(neigh_nd, small_output_buffer)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1",
			     .ntags = 2 };
	uint8_t f[128], small[94];
	size_t len = ns_frame(f, &s);

	learn6("fe80::1", gw_mac);
	cr_expect_eq(neigh_answer(n, f, len, CMP_LINK_ETH, NULL, small, 93),
		     0);
	cr_expect_eq(neigh_answer(n, f, len, CMP_LINK_ETH, NULL, small, 94),
		     94);
}

Test(neigh_nd, truncated_solicitations)
{
	struct ns_spec s = { .src = "fe80::2", .target = "fe80::1",
			     .slla = true, .ntags = 1 };
	uint8_t f[128], *copy;
	size_t len = ns_frame(f, &s), cut, got;
	int link;

	learn6("fe80::1", gw_mac);
	for (link = 0; link < 2; link++) {
		s.ip_link = link;
		len = ns_frame(f, &s);
		for (cut = 0; cut <= len; cut++) {
			copy = malloc(cut ? cut : 1);
			memcpy(copy, f, cut);
			got = answer(copy, cut, link ? CMP_LINK_IP :
				     CMP_LINK_ETH, NULL);
			free(copy);
			cr_expect_eq(got != 0, cut == len, "cut %zu", cut);
		}
	}
}
