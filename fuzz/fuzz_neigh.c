/*
 * libFuzzer harness for colo-proxy/neigh: a program of learning and
 * questions against one responder.
 *
 * Input: records of an opcode byte, a big-endian 16-bit length (cut to
 * what is left) and that many bytes:
 *   op % 8 = 0  neigh_learn_frame(bytes)
 *            1  neigh_answer(bytes, Ethernet)
 *            2  neigh_answer(bytes, IP, no requester MAC)
 *            3  neigh_answer(bytes, IP, requester MAC 02:..:99)
 *            4  neigh_learn(): byte 0 bit 0 family 6 (else 4), then the
 *               address (16 bytes) and the MAC (6), zero-padded
 *            5  learn (byte 0 + 1) * 8 made-up hosts, IPv4 or IPv6 by
 *               byte 1, from a counter: fills the table, forces replacing
 *            6  neigh_answer(bytes 1.., Ethernet) into byte 0 bytes of room
 *            7  neigh_lookup() of the address as in 4
 * Every frame is copied to a buffer of exactly its size (ASan sees a read
 * past it); the clock advances by one per record.
 *
 * Checks after every record:
 *   - the table: at most NEIGH_MAX entries; the learning-order list links
 *     each used entry once, both ways; the hash chains hold each used
 *     entry once, no address twice, and neigh_lookup() finds every entry
 *     with its MAC; no stored MAC is multicast or zero;
 *   - an answer fits the room given and nothing past its length is
 *     written; it parses (compare/parse.c) as an ARP reply or an ICMPv6
 *     NA; it comes from a unicast MAC that is what the table says for the
 *     address answered, to another MAC; the request's VLAN tags are in it;
 *     an NA has hop limit 255, S and O set, a target link-layer address
 *     option with the source MAC, and a correct checksum (recomputed here);
 *     an ARP reply's target is the requester; the answered counters count
 *     exactly the answers.
 * A violated invariant prints "fuzz_neigh: invariant violated: ..." and
 * aborts with __builtin_trap().
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/neigh.h"
#include "compare/parse.h"

#define OUT_ROOM 256
#define CANARY 0xa5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_neigh: invariant violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

static const uint8_t req_mac_fixed[6] = { 0x02, 0, 0, 0, 0, 0x99 };
static struct neigh table;
static uint8_t out[OUT_ROOM + 16];

/* ---- the table ---- */

static void check_order(const struct neigh *n, uint8_t *seen)
{
	uint16_t i, prev = NEIGH_NONE;
	unsigned count = 0;

	for (i = n->oldest; i != NEIGH_NONE; i = n->e[i].newer) {
		if (i >= n->used || seen[i] || ++count > n->used)
			fail("order list: entry %u", i);
		if (n->e[i].older != prev)
			fail("order list: back link of %u", i);
		seen[i] = 1;
		prev = i;
	}
	if (count != n->used || n->newest != prev)
		fail("order list has %u of %u entries", count, n->used);
}

static bool same_addr(const struct neigh_entry *a, const struct neigh_entry *b)
{
	return a->family == b->family &&
	       !memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16);
}

static void check_chain(const struct neigh *n, uint16_t head, uint8_t *seen,
			unsigned *count)
{
	const struct neigh_entry *e;
	uint8_t mac[6];
	uint16_t i, j;

	for (i = head; i != NEIGH_NONE; i = n->e[i].hnext) {
		if (i >= n->used || seen[i] != 1 || ++*count > n->used)
			fail("hash chain: entry %u", i);
		seen[i] = 2;
		e = &n->e[i];
		if ((e->family != 4 && e->family != 6) || (e->mac[0] & 1))
			fail("entry %u: family %u, mac %02x", i, e->family,
			     e->mac[0]);
		if (!neigh_lookup(n, e->family, e->ip, mac) ||
		    memcmp(mac, e->mac, 6))
			fail("entry %u not found by lookup", i);
		for (j = e->hnext; j != NEIGH_NONE; j = n->e[j].hnext)
			if (j >= n->used || same_addr(e, &n->e[j]))
				fail("entries %u and %u: one address", i, j);
	}
}

static void check_table(const struct neigh *n)
{
	static uint8_t seen[NEIGH_MAX];
	unsigned b, count = 0;

	if (n->used > NEIGH_MAX)
		fail("%u entries", n->used);
	memset(seen, 0, sizeof(seen));
	check_order(n, seen);
	for (b = 0; b < NEIGH_BUCKETS; b++)
		check_chain(n, n->bucket[b], seen, &count);
	if (count != n->used)
		fail("hash chains hold %u of %u entries", count, n->used);
}

/* ---- answers ---- */

static uint16_t get16b(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* Independent ICMPv6 checksum check: the sum comes out 0xffff. */
static bool icmp6_ok(const uint8_t *ip, const uint8_t *icmp, size_t len)
{
	uint32_t s = 58 + (uint32_t)len;
	size_t i;

	for (i = 8; i < 40; i += 2)
		s += get16b(ip + i);
	for (i = 0; i + 1 < len; i += 2)
		s += get16b(icmp + i);
	if (len & 1)
		s += (uint32_t)icmp[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

/* The table's MAC for an address must be the answer's source. */
static void check_source(int family, const uint8_t *ip)
{
	uint8_t mac[6];

	if (!neigh_lookup(&table, family, ip, mac) || memcmp(mac, out + 6, 6))
		fail("answer's MAC is not the table's");
}

static void check_arp_reply(const struct pkt *p, size_t len)
{
	const uint8_t *a = p->net;

	if (len != (p->netlen + (size_t)(a - out) < 60 ? 60 :
		    p->netlen + (size_t)(a - out)))
		fail("ARP reply of %zu bytes", len);
	if (p->netlen != 28 || get16b(a) != 1 || get16b(a + 2) != 0x0800 ||
	    get16b(a + 6) != 2)
		fail("ARP reply fields");
	if (memcmp(a + 8, out + 6, 6) || memcmp(a + 18, out, 6))
		fail("ARP reply addresses");
	check_source(4, a + 14);
}

static void check_na(const struct pkt *p)
{
	const uint8_t *ip = p->net, *icmp = p->l4;

	if (p->family != 6 || p->proto != 58 || p->l4len != 32 ||
	    p->l4 != ip + 40 || ip[7] != 255)
		fail("NA: not ICMPv6 with hop limit 255 and 32 bytes");
	if (icmp[0] != 136 || icmp[1] != 0 || (icmp[4] & 0x60) != 0x60 ||
	    (icmp[4] & 0x1f))
		fail("NA: type, code or flags");
	if (memcmp(icmp + 8, ip + 8, 16) || icmp[24] != 2 || icmp[25] != 1 ||
	    memcmp(icmp + 26, out + 6, 6))
		fail("NA: target or its option");
	if (!icmp6_ok(ip, icmp, 32))
		fail("NA: checksum");
	check_source(6, ip + 8);
}

static void check_answer(const uint8_t *req, size_t reqlen, int link,
			 size_t len, size_t room)
{
	static const uint8_t zero[6];
	struct pkt p, q;
	size_t i;

	for (i = len; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail("byte %zu written past the answer (%zu)", i, len);
	if (!len)
		return;
	if (len > room)
		fail("answer of %zu bytes in %zu", len, room);
	pkt_parse(out, len, CMP_LINK_ETH, &p);
	if ((out[6] & 1) || !memcmp(out + 6, zero, 6) ||
	    !memcmp(out, out + 6, 6))
		fail("answer's MAC addresses");
	if (link == CMP_LINK_ETH) {
		pkt_parse(req, reqlen, CMP_LINK_ETH, &q);
		if (p.nvlan != q.nvlan || memcmp(out + 12, req + 12,
						 4 * (size_t)p.nvlan))
			fail("VLAN tags not copied");
	} else if (p.nvlan) {
		fail("VLAN tags from nowhere");
	}
	if (p.l3 == PKT_ARP)
		check_arp_reply(&p, len);
	else if (p.l3 == PKT_IP)
		check_na(&p);
	else
		fail("answer does not parse: %s", p.why ? p.why : "other");
}

static void answer(const uint8_t *b, size_t n, int link, const uint8_t *mac,
		   size_t room)
{
	uint64_t before = table.st.arp_answered + table.st.nd_answered;
	uint8_t *req = malloc(n ? n : 1);
	size_t len;

	if (!req)
		abort();
	memcpy(req, b, n);
	memset(out, CANARY, sizeof(out));
	len = neigh_answer(&table, req, n, link, mac, out, room);
	check_answer(req, n, link, len, room);
	if (table.st.arp_answered + table.st.nd_answered != before + !!len)
		fail("answered counters");
	free(req);
}

/* ---- learning ---- */

static void learn_frame(const uint8_t *b, size_t n, uint64_t now)
{
	uint8_t *f = malloc(n ? n : 1);

	if (!f)
		abort();
	memcpy(f, b, n);
	neigh_learn_frame(&table, f, n, now);
	free(f);
}

/* Address and MAC from up to 23 bytes, zero-padded. */
static void addr_of(const uint8_t *b, size_t n, int *family, uint8_t *ip,
		    uint8_t *mac)
{
	uint8_t buf[23] = { 0 };

	memcpy(buf, b, n < sizeof(buf) ? n : sizeof(buf));
	*family = buf[0] & 1 ? 6 : 4;
	memcpy(ip, buf + 1, 16);
	if (*family == 4)
		memset(ip + 4, 0, 12);
	memcpy(mac, buf + 17, 6);
}

static void learn_many(const uint8_t *b, size_t n, uint64_t now)
{
	static uint32_t counter;
	unsigned count = ((n ? b[0] : 0) + 1u) * 8, i;
	int family = n > 1 && (b[1] & 1) ? 6 : 4;
	uint8_t ip[16] = { 10 }, mac[6] = { 0x02 };

	if (family == 6)
		ip[0] = 0x20;
	for (i = 0; i < count; i++, counter++) {
		memcpy(ip + 1, &counter, 3);
		memcpy(mac + 2, &counter, 4);
		neigh_learn(&table, family, ip, mac, now);
	}
}

static void run_record(uint8_t op, const uint8_t *b, size_t n, uint64_t now)
{
	uint8_t ip[16], mac[6];
	int family;

	switch (op % 8) {
	case 0:
		learn_frame(b, n, now);
		break;
	case 1:
		answer(b, n, CMP_LINK_ETH, NULL, OUT_ROOM);
		break;
	case 2:
		answer(b, n, CMP_LINK_IP, NULL, OUT_ROOM);
		break;
	case 3:
		answer(b, n, CMP_LINK_IP, req_mac_fixed, OUT_ROOM);
		break;
	case 4:
		addr_of(b, n, &family, ip, mac);
		neigh_learn(&table, family, ip, mac, now);
		break;
	case 5:
		learn_many(b, n, now);
		break;
	case 6:
		if (n)
			answer(b + 1, n - 1, CMP_LINK_ETH, NULL, b[0]);
		break;
	case 7:
		addr_of(b, n, &family, ip, mac);
		neigh_lookup(&table, family, ip, mac);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t now = 0;
	size_t off = 0, n;
	uint8_t op;

	neigh_init(&table);
	while (off + 3 <= size) {
		op = data[off];
		n = get16b(data + off + 1);
		off += 3;
		if (n > size - off)
			n = size - off;
		run_record(op, data + off, n, ++now);
		off += n;
		check_table(&table);
	}
	return 0;
}
