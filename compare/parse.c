/*
 * parse.c - frame parser for the comparator.
 *
 * References: IEEE 802.1Q (tags 0x8100, 0x88a8, 0x9100), RFC 826 (ARP),
 * RFC 791 (IPv4), RFC 8200 (IPv6 and its extension headers), RFC 4302 (AH
 * length in 4-byte units), RFC 9293 (TCP), RFC 7323 (window scale).
 */
#include <string.h>

#include "compare/parse.h"

#define ETH_HLEN 14
#define MAX_VLAN 2
#define MAX_EXT_HDRS 16

static void bad(struct pkt *p, const char *why)
{
	p->l3 = PKT_BAD;
	p->why = why;
}

static void parse_tcp_options(struct pkt *p, const uint8_t *o, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t kind = o[i];

		if (kind == 0)
			return;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
			return;		/* bad options are not compared */
		if (kind == 3 && o[i + 1] == 3)
			p->wscale = o[i + 2] > 14 ? 14 : o[i + 2];
		i += o[i + 1];
	}
}

static void parse_tcp(struct pkt *p)
{
	size_t doff;

	if (p->l4len < 20)
		return bad(p, "TCP header truncated");
	doff = (size_t)(p->l4[12] >> 4) * 4;
	if (doff < 20 || doff > p->l4len)
		return bad(p, "TCP data offset out of range");
	p->sport = get16(p->l4);
	p->dport = get16(p->l4 + 2);
	p->seq = get32(p->l4 + 4);
	p->ack = get32(p->l4 + 8);
	p->tcpflags = p->l4[13] & 0x3f;
	p->win = get16(p->l4 + 14);
	p->win_at = (size_t)(p->l4 + 14 - p->frame);
	if (p->tcpflags & PKT_TCP_SYN)
		parse_tcp_options(p, p->l4 + 20, doff - 20);
	p->payload = p->l4 + doff;
	p->paylen = p->l4len - doff;
}

static void parse_udp(struct pkt *p)
{
	size_t ulen;

	if (p->l4len < 8)
		return bad(p, "UDP header truncated");
	ulen = get16(p->l4 + 4);
	if (ulen < 8 || ulen > p->l4len)
		return bad(p, "UDP length out of range");
	p->sport = get16(p->l4);
	p->dport = get16(p->l4 + 2);
	p->payload = p->l4 + 8;
	p->paylen = ulen - 8;
}

static bool icmp_is_echo(uint8_t family, uint8_t type)
{
	if (family == 4)
		return type == 0 || type == 8 || type == 13 || type == 14;
	return type == 128 || type == 129;
}

static void parse_icmp(struct pkt *p)
{
	if (p->l4len < 4)
		return bad(p, "ICMP header truncated");
	p->sport = (uint16_t)(p->l4[0] << 8 | p->l4[1]);
	if (icmp_is_echo(p->family, p->l4[0]) && p->l4len >= 8)
		p->dport = get16(p->l4 + 4);
	p->payload = p->l4;
	p->paylen = p->l4len;
}

void pkt_parse_l4(struct pkt *p)
{
	switch (p->proto) {
	case 6:
		parse_tcp(p);
		break;
	case 17:
	case 136:		/* UDP-Lite: same header, compared alike */
		parse_udp(p);
		break;
	case 1:
		if (p->family == 4)
			parse_icmp(p);
		break;
	case 58:
		if (p->family == 6)
			parse_icmp(p);
		break;
	default:
		p->payload = p->l4;
		p->paylen = p->l4len;
	}
}

static void parse_ipv4(struct pkt *p, const uint8_t *b, size_t len)
{
	size_t ihl, tot;
	uint16_t fo;

	if (len < 20)
		return bad(p, "IPv4 header truncated");
	if (b[0] >> 4 != 4)
		return bad(p, "IPv4 version is not 4");
	ihl = (size_t)(b[0] & 0x0f) * 4;
	tot = get16(b + 2);
	if (ihl < 20 || ihl > len)
		return bad(p, "IPv4 header length out of range");
	if (tot < ihl || tot > len)
		return bad(p, "IPv4 total length out of range");
	p->l3 = PKT_IP;
	p->family = 4;
	p->net = b;
	p->netlen = tot;
	memcpy(p->saddr, b + 12, 4);
	memcpy(p->daddr, b + 16, 4);
	p->proto = b[9];
	fo = get16(b + 6);
	p->l4 = b + ihl;
	p->l4len = tot - ihl;
	if (fo & 0x3fff) {
		p->frag = true;
		p->frag_more = fo & 0x2000;
		p->frag_off = (uint32_t)(fo & 0x1fff) * 8;
		p->frag_id = get16(b + 4);
		return;
	}
	pkt_parse_l4(p);
}

static bool ipv6_ext_len(uint8_t nh, const uint8_t *h, size_t left,
			 size_t *hlen)
{
	if (left < 8)
		return false;
	switch (nh) {
	case 0:		/* hop-by-hop */
	case 43:	/* routing */
	case 60:	/* destination options */
	case 135:	/* mobility */
	case 139:	/* HIP */
	case 140:	/* shim6 */
		*hlen = ((size_t)h[1] + 1) * 8;
		break;
	case 51:	/* AH, RFC 4302: 4-byte units, minus 2 */
		*hlen = ((size_t)h[1] + 2) * 4;
		break;
	default:
		return false;
	}
	return *hlen <= left;
}

static void parse_ipv6(struct pkt *p, const uint8_t *b, size_t len)
{
	size_t plen, off = 40, hlen;
	uint8_t nh;
	int i;

	if (len < 40)
		return bad(p, "IPv6 header truncated");
	if (b[0] >> 4 != 6)
		return bad(p, "IPv6 version is not 6");
	plen = get16(b + 4);
	if (plen == 0)
		return bad(p, "IPv6 jumbogram or empty payload length");
	if (40 + plen > len)
		return bad(p, "IPv6 payload length out of range");
	p->l3 = PKT_IP;
	p->family = 6;
	p->net = b;
	p->netlen = 40 + plen;
	memcpy(p->saddr, b + 8, 16);
	memcpy(p->daddr, b + 24, 16);
	nh = b[6];
	for (i = 0; i < MAX_EXT_HDRS; i++) {
		if (nh == 44) {		/* fragment header, 8 bytes */
			uint16_t fo;

			if (p->netlen - off < 8)
				return bad(p, "IPv6 fragment header truncated");
			fo = get16(b + off + 2);
			p->frag_id = get32(b + off + 4);
			p->frag_off = (uint32_t)(fo & 0xfff8);
			p->frag_more = fo & 1;
			/* an atomic fragment (RFC 6946) is a whole datagram */
			p->frag = p->frag_off || p->frag_more;
			nh = b[off];
			off += 8;
			continue;
		}
		if (!ipv6_ext_len(nh, b + off, p->netlen - off, &hlen))
			break;
		nh = b[off];
		off += hlen;
	}
	if (i == MAX_EXT_HDRS)
		return bad(p, "IPv6 extension header chain too long");
	p->proto = nh;
	p->l4 = b + off;
	p->l4len = p->netlen - off;
	if (!p->frag)
		pkt_parse_l4(p);
}

static void parse_arp(struct pkt *p, const uint8_t *b, size_t len)
{
	size_t body;

	if (len < 8)
		return bad(p, "ARP header truncated");
	body = 8 + 2 * ((size_t)b[4] + b[5]);
	if (body > len)
		return bad(p, "ARP addresses truncated");
	p->l3 = PKT_ARP;
	p->net = b;
	p->netlen = body;
}

static void parse_net(struct pkt *p, uint16_t type, const uint8_t *b,
		      size_t len)
{
	p->ethertype = type;
	if (type == 0x0800)
		parse_ipv4(p, b, len);
	else if (type == 0x86dd)
		parse_ipv6(p, b, len);
	else if (type == 0x0806)
		parse_arp(p, b, len);
	else
		p->l3 = PKT_OTHER;
}

void pkt_parse(const uint8_t *frame, size_t len, enum cmp_link link,
	       struct pkt *p)
{
	size_t off = 12;
	uint16_t type;

	memset(p, 0, sizeof(*p));
	p->frame = frame;
	p->len = len;
	p->wscale = 0xff;
	if (link == CMP_LINK_IP) {
		if (len < 1)
			return bad(p, "empty packet");
		type = (frame[0] >> 4) == 6 ? 0x86dd : 0x0800;
		return parse_net(p, type, frame, len);
	}
	if (len < ETH_HLEN)
		return bad(p, "Ethernet header truncated");
	type = get16(frame + off);
	while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
		if (p->nvlan == MAX_VLAN) {
			p->l3 = PKT_OTHER;	/* deeper stacks: whole frame */
			p->ethertype = type;
			return;
		}
		if (len < off + 6)
			return bad(p, "802.1Q tag truncated");
		p->vlan[p->nvlan++] = get16(frame + off + 2) & 0x0fff;
		off += 4;
		type = get16(frame + off);
	}
	off += 2;
	if (type < 0x0600) {		/* 802.3 length: LLC, whole frame */
		p->l3 = PKT_OTHER;
		p->ethertype = type;
		return;
	}
	parse_net(p, type, frame + off, len - off);
}
