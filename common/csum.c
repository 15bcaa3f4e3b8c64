/*
 * csum.c - the Internet checksum.
 *
 * References: RFC 1071 (computing the checksum; the one's-complement sum
 * is byte-order independent and may be deferred: carries are folded back
 * at the end), RFC 1624 (incremental update, eqn. 3: HC' = ~(~HC + ~m +
 * m')), RFC 768 / RFC 9293 / RFC 8200 section 8.1 (UDP, TCP and the IPv6
 * pseudo-header), RFC 4443 (ICMPv6 uses the pseudo-header), RFC 791
 * (IPv4 header checksum).
 *
 * Limits: the IPv6 pseudo-header uses the destination of the fixed header;
 * a Routing header's final destination is not looked for (VM traffic does
 * not carry one).  The callers pass whole datagrams, never fragments.
 */
#include "common/csum.h"

#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

/* Add the carries of a 64-bit sum back in until it fits 32 bits. */
static uint32_t fold64(uint64_t s)
{
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint32_t csum_add(uint32_t sum, const uint8_t *data, size_t len)
{
	uint64_t s = sum;
	size_t i;

	/* 64 KiB of 16-bit words stays far below 2^64: fold once */
	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)data[i] << 8 | data[i + 1];
	if (len & 1)
		s += (uint32_t)data[len - 1] << 8;
	return fold64(s);
}

uint16_t csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t csum_replace16(uint16_t ck, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint32_t)(uint16_t)~ck + (uint16_t)~old + new_;

	return csum_fold(s);
}

uint16_t csum_replace32(uint16_t ck, uint32_t old, uint32_t new_)
{
	uint32_t s = (uint32_t)(uint16_t)~ck;

	s += (uint16_t)~(old >> 16) + (uint16_t)~old;
	s += (new_ >> 16) + (new_ & 0xffff);
	return csum_fold(s);
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

/* Where an upper layer of PKT starts and ends, and its pseudo-header. */
struct l4_span {
	size_t l4, end;		/* [l4, end) within the packet */
	uint8_t family;
	uint32_t pseudo;	/* pseudo-header sum, unfolded */
	size_t ck;		/* offset of the checksum field */
};

/* The IP datagram length of PKT from its header, 0 if it does not fit. */
static size_t ip_datagram_len(const uint8_t *pkt, size_t len,
			      uint8_t *family)
{
	size_t n;

	if (len < 20)
		return 0;
	*family = pkt[0] >> 4;
	if (*family == 4) {
		if ((size_t)(pkt[0] & 0x0f) * 4 < 20)
			return 0;
		n = rd16(pkt + 2);
		return n >= (size_t)(pkt[0] & 0x0f) * 4 ? n : 0;
	}
	if (*family == 6 && len >= 40)
		return 40 + (size_t)rd16(pkt + 4);
	return 0;
}

/* Offset of the checksum field in an upper-layer header, 0 if PROTO has
 * none we handle or its header does not fit in N bytes. */
static size_t l4_csum_at(uint8_t family, uint8_t proto, size_t n)
{
	if (proto == PROTO_TCP && n >= 20)
		return 16;
	if (proto == PROTO_UDP && n >= 8)
		return 6;
	if (proto == PROTO_ICMPV6 && family == 6 && n >= 4)
		return 2;
	return 0;
}

static bool l4_span_of(const uint8_t *pkt, size_t len, size_t l4,
		       uint8_t proto, struct l4_span *sp)
{
	size_t end = ip_datagram_len(pkt, len, &sp->family), hl, at, n;

	if (!end || end > len)
		return false;
	hl = sp->family == 4 ? (size_t)(pkt[0] & 0x0f) * 4 : 40;
	if (l4 < hl || l4 > end)
		return false;
	n = end - l4;
	at = l4_csum_at(sp->family, proto, n);
	if (!at)
		return false;
	sp->l4 = l4;
	sp->end = end;
	sp->ck = l4 + at;
	/* RFC 9293 3.1 / RFC 8200 8.1: addresses, protocol, L4 length */
	if (sp->family == 4)
		sp->pseudo = csum_add(proto + (uint32_t)n, pkt + 12, 8);
	else
		sp->pseudo = csum_add(proto + (uint32_t)n, pkt + 8, 32);
	return true;
}

static void ipv4_header_fill(uint8_t *pkt)
{
	size_t hl = (size_t)(pkt[0] & 0x0f) * 4;

	wr16(pkt + 10, 0);
	wr16(pkt + 10, csum_fold(csum_add(0, pkt, hl)));
}

bool csum_l4_fill(uint8_t *pkt, size_t len, size_t l4, uint8_t proto)
{
	struct l4_span sp;
	uint16_t ck;

	if (!pkt || !l4_span_of(pkt, len, l4, proto, &sp))
		return false;
	wr16(pkt + sp.ck, 0);
	ck = csum_fold(csum_add(sp.pseudo, pkt + sp.l4, sp.end - sp.l4));
	if (ck == 0 && proto == PROTO_UDP)
		ck = 0xffff;		/* RFC 768: 0 means "no checksum" */
	wr16(pkt + sp.ck, ck);
	if (sp.family == 4)
		ipv4_header_fill(pkt);
	return true;
}

bool csum_l4_ok(const uint8_t *pkt, size_t len, size_t l4, uint8_t proto)
{
	struct l4_span sp;

	if (!pkt || !l4_span_of(pkt, len, l4, proto, &sp))
		return false;
	/* RFC 768: an IPv4 UDP checksum of 0 was not computed; IPv6 forbids
	 * it (RFC 8200 8.1) */
	if (proto == PROTO_UDP && rd16(pkt + sp.ck) == 0)
		return sp.family == 4;
	return csum_fold(csum_add(sp.pseudo, pkt + sp.l4, sp.end - sp.l4)) == 0;
}
