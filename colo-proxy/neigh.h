/*
 * neigh: the secondary's neighbour responder (pure).
 *
 * The proxy mirrors IP packets only (netfilter's IP hooks see no ARP), and
 * the SVM's own ARP requests and IPv6 neighbour solicitations never reach
 * the LAN while the pair is protected.  So the secondary answers them
 * itself, from what it learnt: the source IP and MAC of every frame
 * mirrored to it (those are the hosts the SVM talks to).
 *
 *   neigh_learn(ip, mac)   from each mirrored frame (Ethernet + IP)
 *   neigh_answer(request)  ARP request or ICMPv6 NS from the SVM ->
 *                          ARP reply / NA (solicited, override) built
 *                          into a caller buffer, or nothing if unknown
 *
 * Bounded: a fixed-size table, least recently learnt replaced first.
 * Learning and lookup cost O(1): a hash on the address, and a list in the
 * order of learning whose head is the entry to replace.
 *
 *   bucket[hash(ip)] -> e[i] -hnext-> e[j] -hnext-> NEIGH_NONE
 *   oldest -> e[k] <-older/newer-> ... <-older/newer-> e[m] <- newest
 *
 * What is never learnt: a multicast, broadcast or zero MAC; an unspecified,
 * broadcast, multicast or loopback IP.  Which entries are routers is learnt
 * from the router advertisements mirrored to the secondary, so that an NA
 * never tells the SVM that its default router is not one (RFC 4861 7.2.5).
 */
#ifndef COLO_PROXY_NEIGH_H
#define COLO_PROXY_NEIGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compare/cmp.h"	/* enum cmp_link */

#define NEIGH_MAX 1024
#define NEIGH_BUCKETS 2048		/* a power of two */
#define NEIGH_NONE 0xffffu		/* no entry (list and chain ends) */

enum { NEIGH_F_ROUTER = 1U << 0 };	/* IPv6: a router (R flag in NAs) */

struct neigh_entry {
	uint8_t family;			/* 4 or 6; 0: free */
	uint8_t flags;			/* NEIGH_F_* */
	uint8_t ip[16];			/* IPv4: the first 4 bytes */
	uint8_t mac[6];
	uint16_t hnext;			/* next in the hash chain */
	uint16_t older, newer;		/* the learning-order list */
	uint64_t seen;			/* caller's clock, ns */
};

/* learnt: new entries; updated: an entry's MAC changed; unknown: a
 * request for an address not in the table; malformed: an ARP packet cut
 * short, or a solicitation that fails RFC 4861 7.1.1. */
struct neigh_stats {
	uint64_t learnt, updated, arp_answered, nd_answered, unknown, malformed;
};

struct neigh {
	struct neigh_entry e[NEIGH_MAX];
	uint16_t bucket[NEIGH_BUCKETS];	/* first entry of each chain */
	uint16_t oldest, newest;	/* learning order, NEIGH_NONE if empty */
	uint16_t used;			/* entries in use (e[0..used-1]) */
	struct neigh_stats st;
};

void neigh_init(struct neigh *n);

/* Learn from a mirrored Ethernet frame (VLAN tags allowed): an IP packet's
 * source MAC and source IP, or an ARP packet's sender addresses.  An IPv6
 * router advertisement marks its source as a router.  Other frames, and
 * frames that do not parse, are ignored. */
void neigh_learn_frame(struct neigh *n, const uint8_t *frame, size_t len,
		       uint64_t now);

/* Learn one pair directly (e.g. a static entry for a gateway that never
 * sends to the VM); a pair that may not be learnt (see above) is ignored.
 * Learning an address again refreshes it and moves it to the newest.
 * IP is 4 bytes for family 4, 16 for family 6. */
void neigh_learn(struct neigh *n, int family, const uint8_t *ip,
		 const uint8_t mac[6], uint64_t now);

/* Look up IP (4 bytes for family 4, 16 for 6): true with *mac filled. */
bool neigh_lookup(const struct neigh *n, int family, const uint8_t *ip,
		  uint8_t mac[6]);

/*
 * FRAME, from the SVM, is an ARP request or an ICMPv6 neighbour
 * solicitation for an address we know: write the answer (an Ethernet frame
 * addressed to the SVM) into OUT (at least 128 bytes) and return its
 * length; 0 if FRAME is not such a request or the address is unknown.
 * LINK: CMP_LINK_ETH (VLAN tags allowed, copied to the answer), or
 * CMP_LINK_IP for an IPv6 packet as netfilter queues it, with REQ_MAC the
 * requester's MAC (NFQA_HWADDR; NULL: the NS's source link-layer address
 * option).
 *
 * Answered: ARP requests (RFC 826; Ethernet/IPv4 only) and neighbour
 * solicitations (RFC 4861 7.1.1: hop limit 255, code 0, valid option
 * lengths; the checksum is not verified, as netfilter may hand the packet
 * over with a partial one).  Never answered: ARP replies, gratuitous ARP
 * and ARP probes (sender IP 0 or equal to the target, RFC 5227), DAD
 * solicitations (source ::), solicitations from the target address or
 * for a multicast one, and a question whose answer would be the
 * requester's own MAC.  The NA sets S and O, R for a learnt router, and
 * carries a target link-layer address option; the ARP reply is padded to
 * the 60-byte Ethernet minimum.
 */
size_t neigh_answer(struct neigh *n, const uint8_t *frame, size_t len,
		    enum cmp_link link, const uint8_t *req_mac,
		    uint8_t *out, size_t outlen);

#endif /* COLO_PROXY_NEIGH_H */
