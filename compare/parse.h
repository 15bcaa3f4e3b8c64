/*
 * parse.h - frame parser of the comparator: Ethernet, 802.1Q/802.1ad,
 * ARP, IPv4, IPv6 with extension headers, fragments, TCP, UDP, ICMP(v6).
 *
 * Every length is checked before a header is read; multi-byte fields are
 * copied out with memcpy-style byte loads, never through casts.
 */
#ifndef COLO_CMP_PARSE_H
#define COLO_CMP_PARSE_H

#include "common/bytes.h"
#include "compare/cmp.h"

enum pkt_l3 { PKT_OTHER = 0, PKT_ARP, PKT_IP, PKT_BAD };

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

struct pkt {
	enum pkt_l3 l3;
	const char *why;		/* PKT_BAD: what was wrong */
	const uint8_t *frame;
	size_t len;
	uint16_t ethertype;
	uint8_t nvlan;
	uint16_t vlan[2];
	const uint8_t *net;		/* ARP body or IP header */
	size_t netlen;			/* ARP body or IP datagram length */

	/* IP */
	uint8_t family;
	uint8_t saddr[16], daddr[16];
	uint8_t proto;			/* final upper-layer protocol */
	bool frag;			/* a fragment (not a whole datagram) */
	uint32_t frag_id;
	uint32_t frag_off;		/* in bytes */
	bool frag_more;
	const uint8_t *l4;		/* upper layer (fragment data if frag) */
	size_t l4len;

	/* TCP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t tcpflags;
	uint16_t win;
	size_t win_at;			/* offset of the window field in frame */
	uint8_t wscale;			/* 0xff: no window scale option */
	const uint8_t *payload;		/* TCP/UDP payload */
	size_t paylen;
};

/* Parse FRAME; always fills *P (l3 = PKT_BAD with P->why on bad input). */
void pkt_parse(const uint8_t *frame, size_t len, enum cmp_link link,
	       struct pkt *p);

/* Parse an upper-layer header at P->l4 (also used after reassembly). */
void pkt_parse_l4(struct pkt *p);



#endif
