/*
 * frames.h - byte fixtures for the comparator tests: build real Ethernet,
 * 802.1Q, IPv4/IPv6, TCP, UDP, ICMP and ARP frames with valid checksums,
 * and a harness that feeds a comparator and records its actions.
 */
#ifndef COLO_TEST_FRAMES_H
#define COLO_TEST_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compare/cmp.h"

#define FR_MAX 70000

struct fr {
	uint8_t b[FR_MAX];
	size_t len;
};

/* What to build; zero means a sensible default (see frames.c). */
struct fr_spec {
	int family;		/* 4 (default) or 6 */
	uint16_t vlan;		/* 0: untagged */
	uint16_t vlan2;		/* inner tag, with vlan */
	const char *src, *dst;	/* addresses; defaults 10.0.0.2 > 10.0.0.1 */
	uint8_t ttl;
	uint16_t ip_id;
	uint16_t sport, dport;	/* defaults 80 > 40000 */
	uint32_t seq, ack;
	uint8_t flags;		/* TCP flags; 0 = ACK */
	uint16_t win;		/* default 1000 */
	int wscale;		/* SYN: window scale option if >= 0 ... */
	bool no_wscale;		/* ... unless this */
	bool ipv6_exthdrs;	/* add hop-by-hop and destination options */
};

/* TCP segment carrying PAYLOAD (may be NULL with n 0). */
void fr_tcp(struct fr *f, const struct fr_spec *s, const void *payload,
	    size_t n);
void fr_udp(struct fr *f, const struct fr_spec *s, const void *payload,
	    size_t n);
/* ICMP echo reply (v4 type 0, v6 type 129) with id and sequence. */
void fr_icmp_echo(struct fr *f, const struct fr_spec *s, uint16_t id,
		  uint16_t seqno, const void *payload, size_t n);
void fr_arp_reply(struct fr *f, const char *sender_ip, const char *target_ip);

/*
 * Split the IP datagram of WHOLE (no VLAN) into fragments of at most MTU
 * payload bytes each with identification ID; returns the count.
 */
int fr_fragment(const struct fr *whole, uint32_t id, size_t mtu,
		struct fr *out, int max);

/* Internet checksum verification of a built TCP frame (IPv4/IPv6). */
bool fr_tcp_csum_ok(const struct fr *f);

/* ---- a comparator with its actions recorded ---- */

#define H_MAX_IDS 4096

struct h {
	struct cmp *c;
	uint64_t now;
	uint64_t next_id;
	int released[H_MAX_IDS];	/* times released, by id */
	bool committed[H_MAX_IDS];	/* ... by a commit, not a match */
	int dropped[H_MAX_IDS];
	uint16_t window[H_MAX_IDS];	/* patch_window value, + 1 */
	struct cmp_action ckpt[64];
	int nckpt;
	int nflow_end;
	struct cmp_flow_stats last_end;
};

void h_init(struct h *h, const struct cmp_config *cfg);
void h_init_default(struct h *h);
void h_fini(struct h *h);
/* Feed F on SIDE in the current epoch; returns the id used. */
uint64_t h_feed(struct h *h, int side, const struct fr *f);
uint64_t h_feed_epoch(struct h *h, int side, const struct fr *f,
		      uint32_t epoch);
void h_commit(struct h *h);
void h_tick(struct h *h, uint64_t now);
void h_drain(struct h *h);
/* Count of primary ids released / secondary dropped so far. */
int h_nreleased(const struct h *h);
int h_ndropped(const struct h *h);

#endif
