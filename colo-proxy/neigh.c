/*
 * neigh.c - the secondary's ARP / neighbour-solicitation responder.
 *
 * References: RFC 826 (ARP), RFC 5227 (ARP probes and announcements),
 * RFC 4861 (neighbour discovery: 4.3 NS, 4.4 NA, 4.6.1 link-layer address
 * options, 6.1.2 RA validation, 7.1.1 NS validation, 7.2.4 sending a
 * solicited NA).  The NA's checksum comes from common/csum.c.
 *
 * Frames are parsed by compare/parse.c, which checks every length before
 * a header is read; the answers are written at fixed offsets into the
 * caller's buffer after its size was checked.
 */
#include <string.h>

#include "colo-proxy/neigh.h"
#include "common/csum.h"
#include "compare/parse.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_ZLEN 60		/* minimum frame, without the FCS */
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_ARP 0x0806
#define ARP_LEN 28		/* Ethernet/IPv4 ARP body */
#define IP6_HLEN 40
#define ICMP6_ND_LEN 24		/* NS/NA header up to the options */
#define NA_LEN (ICMP6_ND_LEN + 8)	/* with the target lladdr option */
#define ICMP6_RA_LEN 16
#define ND_HOPLIMIT 255

enum { ICMP6_RA = 134, ICMP6_NS = 135, ICMP6_NA = 136 };
enum { ND_OPT_SLLA = 1, ND_OPT_TLLA = 2 };
enum { NA_F_ROUTER = 0x80, NA_F_SOLICITED = 0x40, NA_F_OVERRIDE = 0x20 };


static size_t addr_len(int family)
{
	return family == 4 ? 4 : 16;
}

/* ---- the table ---- */

void neigh_init(struct neigh *n)
{
	memset(n, 0, sizeof(*n));
	memset(n->bucket, 0xff, sizeof(n->bucket));	/* NEIGH_NONE */
	n->oldest = n->newest = NEIGH_NONE;
}

/* FNV-1a over the family and the address. */
static unsigned neigh_hash(int family, const uint8_t *ip)
{
	uint32_t h = 2166136261u ^ (uint32_t)family;
	size_t i;

	for (i = 0; i < addr_len(family); i++) {
		h ^= ip[i];
		h *= 16777619u;
	}
	return h & (NEIGH_BUCKETS - 1);
}

static uint16_t entry_find(const struct neigh *n, int family,
			   const uint8_t *ip)
{
	uint16_t i = n->bucket[neigh_hash(family, ip)];

	for (; i != NEIGH_NONE; i = n->e[i].hnext)
		if (n->e[i].family == family &&
		    !memcmp(n->e[i].ip, ip, addr_len(family)))
			return i;
	return NEIGH_NONE;
}

static void chain_unlink(struct neigh *n, uint16_t i)
{
	struct neigh_entry *e = &n->e[i];
	uint16_t *p = &n->bucket[neigh_hash(e->family, e->ip)];

	while (*p != i)
		p = &n->e[*p].hnext;
	*p = e->hnext;
}

static void order_unlink(struct neigh *n, uint16_t i)
{
	struct neigh_entry *e = &n->e[i];

	if (e->older != NEIGH_NONE)
		n->e[e->older].newer = e->newer;
	else
		n->oldest = e->newer;
	if (e->newer != NEIGH_NONE)
		n->e[e->newer].older = e->older;
	else
		n->newest = e->older;
}

static void order_push_newest(struct neigh *n, uint16_t i)
{
	n->e[i].older = n->newest;
	n->e[i].newer = NEIGH_NONE;
	if (n->newest != NEIGH_NONE)
		n->e[n->newest].newer = i;
	else
		n->oldest = i;
	n->newest = i;
}

/* A free entry, or the least recently learnt one taken out of the table. */
static uint16_t entry_alloc(struct neigh *n)
{
	uint16_t i;

	if (n->used < NEIGH_MAX)
		return n->used++;
	i = n->oldest;
	chain_unlink(n, i);
	order_unlink(n, i);
	return i;
}

static bool mac_learnable(const uint8_t *mac)
{
	static const uint8_t zero[ETH_ALEN];

	return !(mac[0] & 1) && memcmp(mac, zero, ETH_ALEN) != 0;
}

/* A unicast address of a host that could be on the link. */
static bool ip_learnable(int family, const uint8_t *ip)
{
	static const uint8_t zero[15];

	if (family == 4)
		return ip[0] != 0 && ip[0] != 127 && ip[0] < 224;
	if (family != 6 || ip[0] == 0xff)
		return false;
	return memcmp(ip, zero, 15) != 0 || ip[15] > 1;	/* not :: or ::1 */
}

/* Learn (or refresh) a pair; returns its entry or NEIGH_NONE. */
static uint16_t learn_entry(struct neigh *n, int family, const uint8_t *ip,
			    const uint8_t *mac, uint64_t now)
{
	struct neigh_entry *e;
	unsigned h;
	uint16_t i;

	if (!ip_learnable(family, ip) || !mac_learnable(mac))
		return NEIGH_NONE;
	i = entry_find(n, family, ip);
	if (i != NEIGH_NONE) {
		e = &n->e[i];
		if (memcmp(e->mac, mac, ETH_ALEN)) {
			memcpy(e->mac, mac, ETH_ALEN);
			n->st.updated++;
		}
		order_unlink(n, i);
	} else {
		i = entry_alloc(n);
		e = &n->e[i];
		memset(e, 0, sizeof(*e));
		e->family = (uint8_t)family;
		memcpy(e->ip, ip, addr_len(family));
		memcpy(e->mac, mac, ETH_ALEN);
		h = neigh_hash(family, ip);
		e->hnext = n->bucket[h];
		n->bucket[h] = i;
		n->st.learnt++;
	}
	e->seen = now;
	order_push_newest(n, i);
	return i;
}

void neigh_learn(struct neigh *n, int family, const uint8_t *ip,
		 const uint8_t mac[6], uint64_t now)
{
	learn_entry(n, family, ip, mac, now);
}

/* The entry of IP, or NULL. */
static const struct neigh_entry *entry_get(const struct neigh *n, int family,
					   const uint8_t *ip)
{
	uint16_t i;

	if (family != 4 && family != 6)
		return NULL;
	i = entry_find(n, family, ip);
	return i == NEIGH_NONE ? NULL : &n->e[i];
}

bool neigh_lookup(const struct neigh *n, int family, const uint8_t *ip,
		  uint8_t mac[6])
{
	const struct neigh_entry *e = entry_get(n, family, ip);

	if (e)
		memcpy(mac, e->mac, ETH_ALEN);
	return e != NULL;
}

/* ---- learning from frames ---- */

/* An Ethernet/IPv4 ARP body of P (request or reply, not yet checked). */
static bool arp_is_eth_ipv4(const struct pkt *p)
{
	const uint8_t *a = p->net;

	return p->netlen >= ARP_LEN && get16(a) == 1 &&
	       get16(a + 2) == 0x0800 && a[4] == ETH_ALEN && a[5] == 4;
}

/* A router advertisement that passes RFC 4861 6.1.2's checks on fields. */
static bool is_ra(const struct pkt *p)
{
	return p->family == 6 && p->proto == 58 && !p->frag &&
	       p->l4len >= ICMP6_RA_LEN && p->l4[0] == ICMP6_RA &&
	       p->l4[1] == 0 && p->net[7] == ND_HOPLIMIT &&
	       p->saddr[0] == 0xfe && (p->saddr[1] & 0xc0) == 0x80;
}

void neigh_learn_frame(struct neigh *n, const uint8_t *frame, size_t len,
		       uint64_t now)
{
	struct pkt p;
	uint16_t i;

	pkt_parse(frame, len, CMP_LINK_ETH, &p);
	if (p.l3 == PKT_ARP && arp_is_eth_ipv4(&p)) {
		learn_entry(n, 4, p.net + 14, p.net + 8, now);
	} else if (p.l3 == PKT_IP) {
		i = learn_entry(n, p.family, p.saddr, frame + ETH_ALEN, now);
		if (i != NEIGH_NONE && is_ra(&p))
			n->e[i].flags |= NEIGH_F_ROUTER;
	}
}

/* ---- answers ---- */

/* The Ethernet header of an answer: DST, SRC, the request's VLAN tags
 * (P->frame[12 .. l2 - 2], already checked by the parser), TYPE. */
static size_t put_eth(uint8_t *out, const struct pkt *p, enum cmp_link link,
		      const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	size_t tags = link == CMP_LINK_ETH ? 4 * (size_t)p->nvlan : 0;

	memcpy(out, dst, ETH_ALEN);
	memcpy(out + ETH_ALEN, src, ETH_ALEN);
	memcpy(out + 12, p->frame + 12, tags);
	put16(out + 12 + tags, type);
	return ETH_HLEN + tags;
}

static size_t answer_arp(struct neigh *n, const struct pkt *p,
			 uint8_t *out, size_t outlen)
{
	const uint8_t *a = p->net, *sha = a + 8, *spa = a + 14, *tpa = a + 24;
	static const uint8_t zero[4];
	const struct neigh_entry *e;
	const uint8_t *mac;
	size_t l2 = ETH_HLEN + 4 * (size_t)p->nvlan, need;

	if (!arp_is_eth_ipv4(p) || get16(a + 6) != 1)
		return 0;		/* not a request we could answer */
	if (!memcmp(spa, zero, 4) || !memcmp(spa, tpa, 4))
		return 0;		/* probe or announcement */
	e = entry_get(n, 4, tpa);
	if (!e) {
		n->st.unknown++;
		return 0;
	}
	mac = e->mac;
	need = l2 + ARP_LEN < ETH_ZLEN ? ETH_ZLEN : l2 + ARP_LEN;
	if (!memcmp(mac, sha, ETH_ALEN) || outlen < need)
		return 0;
	memset(out, 0, need);
	put_eth(out, p, CMP_LINK_ETH, sha, mac, ETHERTYPE_ARP);
	memcpy(out + l2, a, 6);			/* htype, ptype, hlen, plen */
	put16(out + l2 + 6, 2);			/* reply */
	memcpy(out + l2 + 8, mac, ETH_ALEN);	/* sender: the answer */
	memcpy(out + l2 + 14, tpa, 4);
	memcpy(out + l2 + 18, sha, ETH_ALEN);	/* target: the requester */
	memcpy(out + l2 + 24, spa, 4);
	n->st.arp_answered++;
	return need;
}

/*
 * Walk the options of an NS (RFC 4861 4.6): every option has a non-zero
 * length within the message.  *SLLA is the source link-layer address
 * option's address, or NULL.  false if the options are malformed.
 */
static bool ns_options(const uint8_t *o, size_t len, const uint8_t **slla)
{
	size_t olen;

	*slla = NULL;
	while (len > 0) {
		if (len < 2 || o[1] == 0)
			return false;
		olen = (size_t)o[1] * 8;
		if (olen > len)
			return false;
		if (o[0] == ND_OPT_SLLA && olen == 8)
			*slla = o + 2;
		o += olen;
		len -= olen;
	}
	return true;
}

/* Write the NA for E's address to the requester at P->saddr, REQ_MAC. */
static size_t put_na(const struct neigh_entry *e, const struct pkt *p,
		     enum cmp_link link, const uint8_t *req_mac, uint8_t *out)
{
	size_t l2 = put_eth(out, p, link, req_mac, e->mac, ETHERTYPE_IPV6);
	uint8_t *ip = out + l2, *icmp = ip + IP6_HLEN;

	memset(ip, 0, IP6_HLEN + NA_LEN);
	ip[0] = 0x60;
	put16(ip + 4, NA_LEN);
	ip[6] = 58;
	ip[7] = ND_HOPLIMIT;
	memcpy(ip + 8, e->ip, 16);
	memcpy(ip + 24, p->saddr, 16);
	icmp[0] = ICMP6_NA;
	icmp[4] = NA_F_SOLICITED | NA_F_OVERRIDE;
	if (e->flags & NEIGH_F_ROUTER)
		icmp[4] |= NA_F_ROUTER;
	memcpy(icmp + 8, e->ip, 16);
	icmp[24] = ND_OPT_TLLA;
	icmp[25] = 1;
	memcpy(icmp + 26, e->mac, ETH_ALEN);
	csum_l4_fill(ip, IP6_HLEN + NA_LEN, IP6_HLEN, 58);	/* fits: true */
	return l2 + IP6_HLEN + NA_LEN;
}

static size_t answer_ns(struct neigh *n, const struct pkt *p,
			enum cmp_link link, const uint8_t *req_mac,
			uint8_t *out, size_t outlen)
{
	static const uint8_t unspec[16];
	const uint8_t *icmp = p->l4, *target = icmp + 8, *slla;
	const struct neigh_entry *e;
	size_t need = 4 * (size_t)p->nvlan + ETH_HLEN + IP6_HLEN + NA_LEN;

	if (p->proto != 58 || p->frag || p->l4len < 1 || icmp[0] != ICMP6_NS)
		return 0;
	if (p->l4len < ICMP6_ND_LEN || icmp[1] != 0 ||
	    p->net[7] != ND_HOPLIMIT || target[0] == 0xff ||
	    !ns_options(icmp + ICMP6_ND_LEN, p->l4len - ICMP6_ND_LEN, &slla)) {
		n->st.malformed++;
		return 0;
	}
	if (!memcmp(p->saddr, unspec, 16) || !memcmp(p->saddr, target, 16))
		return 0;		/* duplicate address detection */
	if (link == CMP_LINK_ETH)
		req_mac = p->frame + ETH_ALEN;
	else if (!req_mac)
		req_mac = slla;
	e = entry_get(n, 6, target);
	if (!e) {
		n->st.unknown++;
		return 0;
	}
	if (!req_mac || !memcmp(e->mac, req_mac, ETH_ALEN) || outlen < need)
		return 0;
	n->st.nd_answered++;
	return put_na(e, p, link, req_mac, out);
}

size_t neigh_answer(struct neigh *n, const uint8_t *frame, size_t len,
		    enum cmp_link link, const uint8_t *req_mac,
		    uint8_t *out, size_t outlen)
{
	struct pkt p;

	pkt_parse(frame, len, link, &p);
	if (p.l3 == PKT_BAD && p.ethertype == ETHERTYPE_ARP)
		n->st.malformed++;
	if (p.l3 == PKT_ARP && link == CMP_LINK_ETH)
		return answer_arp(n, &p, out, outlen);
	if (p.l3 == PKT_IP && p.family == 6)
		return answer_ns(n, &p, link, req_mac, out, outlen);
	return 0;
}
