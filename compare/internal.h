/*
 * internal.h - the comparator's data structures.
 *
 *  struct cmp
 *   |-- flows: hash table of struct flow, chained, keyed by cmp_flow_key
 *   |     '-- LRU list of flows (oldest activity first)
 *   |-- waitq[side]: every held unit (frame, message, reassembly) of a
 *   |          side in arrival order; the heads decide the hold timeouts
 *   |-- deferred: copies of frames from a later epoch, in arrival order
 *   |-- frags[2]: IP reassembly queues, per side
 *   '-- actions: FIFO of struct cmp_action for the caller
 *
 *  struct flow (TCP): one direction of a connection
 *     side[P]: held frames FIFO --> [id seq_end ack] -> [..] -> ...
 *              bytes beyond `matched` --> seg -> seg (sorted, disjoint)
 *              unpaired old segments (below an unsynced anchor) and RSTs
 *     side[S]: the same for the secondary
 *     matched: first stream position not yet confirmed on both sides
 *
 *  struct flow (messages: UDP, ICMP, ARP, other): FIFO of messages per
 *  side; the heads are compared and leave together.
 */
#ifndef COLO_CMP_INTERNAL_H
#define COLO_CMP_INTERNAL_H

#include "compare/cmp.h"
#include "compare/parse.h"

/* Wrap-safe sequence arithmetic (RFC 1982 style, QEMU's after()). */
static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool seq_le(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline uint32_t seq_max(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? b : a;
}

static inline uint32_t seq_min(uint32_t a, uint32_t b)
{
	return seq_lt(a, b) ? a : b;
}

struct flow;

/* Anything that waits: linked into cmp.waitq[side] in arrival order. */
struct wnode {
	struct wnode *prev, *next;
	uint64_t t;
	struct flow *flow;
	uint8_t side;
	bool linked;
};

/* A held TCP frame. */
struct tframe {
	struct tframe *next;
	struct wnode w;
	uint64_t id;
	uint32_t epoch;
	uint32_t seq_end;	/* stream position after SYN, data, FIN */
	uint32_t ack;		/* in the reverse stream's coordinates */
	uint16_t win;
	uint8_t wscale;		/* 0 for SYN frames, else the side's */
	uint8_t flags;		/* PKT_TCP_* */
	bool paired;		/* an old segment or RST matched the other side */
	bool old;		/* compared by pairing, not by position */
	bool odd;		/* may settle before a frame ahead of it */
};

/* Buffered stream bytes of one side, beyond matched. */
struct seg {
	struct seg *next;
	uint32_t seq;		/* position of data[off] */
	uint32_t len;		/* bytes left from data[off] */
	uint32_t off;
	uint8_t data[];
};

/* An old segment or a RST, compared by (position, flags, bytes). */
struct oldseg {
	struct oldseg *next;
	struct tframe *frame;
	uint32_t seq;
	uint8_t flags;
	uint32_t len;
	uint8_t data[];
};

struct tside {
	struct tframe *fhead, *ftail;	/* held frames */
	uint32_t odd;			/* held frames marked odd */
	uint32_t top_end, top_ack;	/* highest seq_end, ack held since */
	bool top_set;			/* ... the list was last empty */
	struct seg *shead, *stail;	/* buffered bytes */
	struct oldseg *old;		/* unpaired old segments and RSTs */
	uint32_t base;			/* sequence of stream position 0 */
	uint32_t isn;			/* SYN position, if syn */
	uint32_t first;			/* first position seen, if seen */
	uint32_t hi;			/* highest position used, SYN/FIN too */
	uint32_t dend;			/* end of the highest data sent */
	uint32_t fin;			/* FIN position, if fin */
	uint32_t ack;			/* highest ack, if has_ack */
	uint32_t right;			/* ack + window in bytes */
	uint8_t wscale;			/* 0xff: unknown */
	uint8_t synflags;
	uint32_t isn_seq;		/* raw sequence of the SYN */
	bool based, syn, seen, fin_seen, has_ack, rst;
	bool first_seen_set, dend_set;
};

struct tcp_stream {
	struct tside side[2];
	uint32_t matched;		/* valid once anchored */
	uint32_t anchor;
	bool anchored;
	bool covered;			/* all below anchor is confirmed */
	bool closed;			/* FIN confirmed or RST paired */
};

/* A message: UDP datagram, ICMP message, ARP body, other frame. */
struct msg {
	struct msg *next;
	struct wnode w;
	uint32_t epoch;
	uint32_t nids;
	uint64_t id;			/* nids == 1 */
	uint64_t *ids;			/* nids > 1 (reassembled fragments) */
	uint32_t len;
	uint32_t origlen;		/* truncated frames: the wire length */
	uint8_t data[];
};

struct msg_flow {
	struct msg *head[2], *tail[2];
	uint64_t count[2];		/* messages seen, for offsets */
};

struct flow {
	struct cmp_flow_key key;
	struct flow *hnext;
	struct flow *lprev, *lnext;	/* LRU */
	uint64_t last;
	bool diverged;			/* this epoch: compare no more */
	uint32_t held[2];		/* units held, by side */
	struct cmp_flow_stats st;
	union {
		struct tcp_stream tcp;
		struct msg_flow msg;
	} u;
};

/* IP reassembly of one datagram on one side. */
struct frag {
	struct frag *next;
	struct wnode w;
	uint8_t family, proto;
	uint8_t src[16], dst[16];
	uint32_t id;
	uint32_t epoch;
	uint32_t total;			/* datagram payload length, once known */
	uint32_t have;			/* bytes covered */
	uint32_t cap;
	uint8_t *data;
	uint8_t *map;			/* one bit per 8-byte block */
	uint64_t *ids;
	uint32_t nids, idcap;
	struct pkt first;		/* header info of the offset-0 fragment */
	bool has_first;
	bool bad;
};

struct deferred {
	struct deferred *next;
	uint64_t id;
	uint32_t epoch;
	uint8_t side;
	uint8_t link;
	uint32_t flags;
	size_t len;
	uint8_t data[];
};

struct cmp {
	struct cmp_config cfg;
	struct cmp_stats st;
	uint32_t epoch;
	uint64_t now;

	struct flow **table;
	uint32_t nbuckets;
	struct flow *lru_head, *lru_tail;
	struct flow *overflow;		/* CMP_K_OVERFLOW */

	struct wnode waitq[2];		/* sentinels, by side */
	bool timeout_fired;		/* this epoch */
	bool committing;		/* inside cmp_commit(): releases are commits */
	uint32_t limit_fired;		/* bit per reason, this epoch */

	struct deferred *dhead, *dtail;
	struct frag *frags[2];
	uint32_t nfrags[2];

	struct cmp_action *act;
	size_t nact, act_head, act_cap;
};

/* cmp.c: shared services */
void cmp_emit(struct cmp *c, const struct cmp_action *a);
void cmp_release(struct cmp *c, struct flow *f, uint64_t id, uint32_t epoch);
void cmp_drop(struct cmp *c, uint64_t id, uint32_t epoch);
void cmp_settle(struct cmp *c, struct flow *f, int side, uint64_t id,
		uint32_t epoch);
void cmp_release_win(struct cmp *c, struct flow *f, uint64_t id,
		     uint32_t epoch, uint16_t win);
void cmp_diverge(struct cmp *c, struct flow *f, enum cmp_reason r,
		 enum cmp_side side, uint64_t offset, uint32_t seq);
void cmp_limit(struct cmp *c, struct flow *f, enum cmp_reason r);
bool cmp_hold_bytes(struct cmp *c, struct flow *f, size_t n);
void cmp_unhold_bytes(struct cmp *c, size_t n);
void wait_link(struct cmp *c, struct wnode *w, struct flow *f, int side);
void wait_unlink(struct cmp *c, struct wnode *w);

/* flow.c */
int flow_table_init(struct cmp *c);
void flow_table_free(struct cmp *c);
struct flow *flow_get(struct cmp *c, const struct cmp_flow_key *k,
		      bool *created);
struct flow *flow_find(struct cmp *c, const struct cmp_flow_key *k);
void flow_touch(struct cmp *c, struct flow *f);
void flow_retire(struct cmp *c, struct flow *f);
bool flow_idle(const struct flow *f);
void flow_gc(struct cmp *c, bool after_commit);

/* tcp.c */
void tcp_input(struct cmp *c, struct flow *f, int side, uint64_t id,
	       uint32_t epoch, const struct pkt *p);
void tcp_commit(struct cmp *c, struct flow *f);
void tcp_free(struct cmp *c, struct flow *f);
void tcp_init(struct flow *f);

/* msg.c */
void msg_input(struct cmp *c, struct flow *f, int side, uint32_t epoch,
	       const uint64_t *ids, uint32_t nids, const uint8_t *data,
	       size_t len, size_t origlen);
void msg_commit(struct cmp *c, struct flow *f);
void msg_free(struct cmp *c, struct flow *f);

/* frag.c */
void frag_input(struct cmp *c, int side, uint64_t id, uint32_t epoch,
		const struct pkt *p);
void frag_commit(struct cmp *c);
void frag_free_all(struct cmp *c);

/* cmp.c: classify and route a parsed datagram (also after reassembly) */
void cmp_route(struct cmp *c, int side, const uint64_t *ids, uint32_t nids,
	       uint32_t epoch, const struct pkt *p, uint32_t flags);

#endif
