/*
 * rewrite.c - the secondary's TCP sequence rewriter (see rewrite.h).
 *
 *   struct rw
 *    |-- buckets[mask + 1] --> rw_conn --hnext--> rw_conn --> NULL
 *    |-- lru:    head <-> conn <-> ... <-> conn      every connection,
 *    |           (most recent)        (oldest)       touched on each use
 *    |-- closed: head <-> conn <-> ... <-> conn      closed ones, in the
 *    |                                               order they closed
 *    '-- st: counters
 *
 *   rw_conn.state:  NEW ------ SVM SYN/SYN-ACK -----> SVM_ISN
 *                    |  (a PVM ISN pending: straight    |  hint, or the
 *                    |   on to KNOWN)                   |  peer's ACK
 *                    '--------------------------------> KNOWN (offset)
 *
 * Protocol facts: RFC 9293 (TCP; a SYN takes one sequence number, so the
 * peer's first ACK acknowledges ISN + 1), RFC 2018 (SACK: kind 5, length
 * 2 + 8n, edges in the data sender's sequence space), RFC 2883 (D-SACK:
 * a first block below the cumulative ack, translated alike), RFC 1624
 * (incremental checksum update).  QEMU's filter-rewriter does the same
 * job (offset from the SVM's SYN-ACK and the client's ACK); it does not
 * translate SACK blocks, nor learn from the primary.
 *
 * Connections seen without a handshake are not stored: their offset is 0,
 * so they need no entry.  Nothing here allocates per packet but a new
 * connection; a failed allocation leaves the packet unchanged.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/rewrite.h"
#include "common/csum.h"
#include "compare/parse.h"

#define RW_MAX_CONNS (1U << 24)
#define RW_MAX_BUCKETS (1U << 20)
#define RW_MIN_BUCKETS 16U
#define NS_PER_SEC 1000000000ull

enum rw_state {
	RW_S_NEW,		/* no SVM ISN (maybe a pending PVM ISN) */
	RW_S_SVM_ISN,		/* SVM ISN known, waiting for the PVM's */
	RW_S_KNOWN,		/* offset known */
};

enum {
	RW_C_FIN_VM = 1U << 0,
	RW_C_FIN_PEER = 1U << 1,
	RW_C_RST = 1U << 2,
	RW_C_CLOSED = 1U << 3,		/* on the closed list */
	RW_C_PENDING = 1U << 4,		/* pvm_isn holds a PVM ISN to use */
	RW_C_PENDING_ACK = 1U << 5,	/* ... learnt from the peer's ACK */
	RW_C_BASE = 1U << 6,		/* imported: base_off, base_ts_off */
};

struct rw_list {
	struct rw_list *prev, *next;
};

struct rw_conn {
	struct rw_key key;		/* normalised: see key_norm() */
	struct rw_conn *hnext;
	struct rw_list lru, closed;
	uint64_t last_use, closed_at;
	uint32_t svm_isn;		/* SVM_ISN, KNOWN */
	uint32_t offset;		/* KNOWN: SVM ISN - PVM ISN */
	uint32_t pvm_isn;		/* with RW_C_PENDING */
	uint32_t svm_tsval;		/* with RW_T_SVM */
	uint32_t pvm_tsval;		/* with RW_T_PVM */
	uint32_t ts_off;		/* RW_T_KNOWN: SVM TSval - PVM TSval */
	uint32_t base_off, base_ts_off;	/* RW_C_BASE: what rw_reset() restores */
	/* before the last rw_reset() (rw_undo_reset()), if saved_gen is the
	 * table's reset_gen */
	uint32_t saved_off, saved_ts_off, saved_svm_isn, saved_svm_tsval;
	uint64_t saved_gen;
	uint8_t saved_state, saved_tsflags;
	uint8_t state;			/* enum rw_state */
	uint8_t flags;			/* RW_C_* */
	uint8_t tsflags;		/* RW_T_* */
};

/* TCP timestamps (RFC 7323): the two VMs' clocks differ, so the peer's
 * TSecr (an echo of the PVM's TSval) is translated toward the SVM, and the
 * SVM's TSval away from it.  Linux rejects a handshake ACK whose TSecr is
 * not a TSval it sent (tcp_check_req), so this is not cosmetic. */
enum {
	RW_T_SVM = 1U << 0,		/* svm_tsval: from the SVM's SYN(-ACK) */
	RW_T_PVM = 1U << 1,		/* pvm_tsval: from the primary or the
					 * peer's first TSecr */
	RW_T_KNOWN = 1U << 2,		/* ts_off is valid */
};

struct rw {
	struct rw_config cfg;
	struct rw_conn **buckets;
	uint32_t mask;
	uint64_t seed;
	struct rw_list lru, closed;
	uint64_t reset_gen;		/* rw_reset() calls */
	struct rw_stats st;
};

/* A TCP segment being translated, with writable pointers into it. */
struct rw_seg {
	struct rw_key key;
	uint8_t *ip, *tcp;
	size_t iplen;			/* IP datagram, from its header */
	size_t doff;			/* TCP header length */
	uint32_t seq, ack;
	uint8_t tcpflags;
	bool partial;			/* RW_F_CSUM_PARTIAL or _LATER: no
					 * incremental checksum updates */
	bool later;			/* RW_F_CSUM_LATER: no checksum work */
};

#define conn_of(node, member) \
	((struct rw_conn *)((char *)(node) - offsetof(struct rw_conn, member)))

/* ---- lists, keys, the table --------------------------------------------- */

static void list_init(struct rw_list *n)
{
	n->prev = n->next = n;
}

static void list_del(struct rw_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

static void list_add_head(struct rw_list *h, struct rw_list *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static void list_add_tail(struct rw_list *h, struct rw_list *n)
{
	list_add_head(h->prev, n);
}

static uint64_t elapsed(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* Copy IN into OUT with the unused address bytes and padding zeroed. */
static bool key_norm(const struct rw_key *in, struct rw_key *out)
{
	size_t alen = in->family == 4 ? 4 : 16;

	if (in->family != 4 && in->family != 6)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = in->family;
	memcpy(out->vm_addr, in->vm_addr, alen);
	memcpy(out->peer_addr, in->peer_addr, alen);
	out->vm_port = in->vm_port;
	out->peer_port = in->peer_port;
	return true;
}

static bool key_eq(const struct rw_key *a, const struct rw_key *b)
{
	return a->family == b->family && a->vm_port == b->vm_port &&
	       a->peer_port == b->peer_port &&
	       !memcmp(a->vm_addr, b->vm_addr, 16) &&
	       !memcmp(a->peer_addr, b->peer_addr, 16);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

/* Keyed by rw->seed, so that peers cannot aim their ports at one chain. */
static uint32_t key_hash(const struct rw *rw, const struct rw_key *k)
{
	uint64_t h = rw->seed, w;
	int i;

	for (i = 0; i < 16; i += 8) {
		memcpy(&w, k->vm_addr + i, 8);
		h = mix(h, w);
		memcpy(&w, k->peer_addr + i, 8);
		h = mix(h, w);
	}
	h = mix(h, (uint64_t)k->family << 32 | (uint32_t)k->vm_port << 16 |
		   k->peer_port);
	return (uint32_t)(h ^ (h >> 32));
}

static struct rw_conn **bucket_of(const struct rw *rw, const struct rw_key *k)
{
	return &rw->buckets[key_hash(rw, k) & rw->mask];
}

static struct rw_conn *conn_find(const struct rw *rw, const struct rw_key *k)
{
	struct rw_conn *c;

	for (c = *bucket_of(rw, k); c; c = c->hnext)
		if (key_eq(&c->key, k))
			return c;
	return NULL;
}

static void conn_drop(struct rw *rw, struct rw_conn *c)
{
	struct rw_conn **pp = bucket_of(rw, &c->key);

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	list_del(&c->lru);
	list_del(&c->closed);
	rw->st.conns_active--;
	free(c);
}

/* Make room for one more connection: the oldest closed one goes first,
 * else the least recently used. */
static void conn_evict(struct rw *rw)
{
	if (rw->closed.next != &rw->closed)
		conn_drop(rw, conn_of(rw->closed.next, closed));
	else if (rw->lru.prev != &rw->lru)
		conn_drop(rw, conn_of(rw->lru.prev, lru));
	else
		return;
	rw->st.conns_evicted++;
}

/* A new connection in state NEW for the normalised key K, or NULL. */
static struct rw_conn *conn_new(struct rw *rw, const struct rw_key *k,
				uint64_t now)
{
	struct rw_conn *c, **b;

	if (rw->st.conns_active >= rw->cfg.max_conns)
		conn_evict(rw);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = *k;
	c->last_use = now;
	list_init(&c->closed);
	list_add_head(&rw->lru, &c->lru);
	b = bucket_of(rw, k);
	c->hnext = *b;
	*b = c;
	rw->st.conns_active++;
	rw->st.conns_created++;
	return c;
}

static void conn_touch(struct rw *rw, struct rw_conn *c, uint64_t now)
{
	c->last_use = now;
	list_del(&c->lru);
	list_add_head(&rw->lru, &c->lru);
}

/* Back to NEW for a new incarnation of the same key. */
static void conn_restart(struct rw_conn *c, bool keep_pending)
{
	list_del(&c->closed);
	/* a new incarnation: an imported base belonged to the old one */
	c->flags &= keep_pending ? (RW_C_PENDING | RW_C_PENDING_ACK) : 0;
	c->tsflags &= keep_pending ? RW_T_PVM : 0;
	c->state = RW_S_NEW;
	c->offset = 0;
	c->ts_off = 0;
	c->saved_gen = 0;
}

/* Both TSvals known: the timestamp offset follows. */
static void ts_complete(struct rw *rw, struct rw_conn *c)
{
	if ((c->tsflags & (RW_T_SVM | RW_T_PVM)) != (RW_T_SVM | RW_T_PVM) ||
	    (c->tsflags & RW_T_KNOWN))
		return;
	c->ts_off = c->svm_tsval - c->pvm_tsval;
	c->tsflags |= RW_T_KNOWN;
	rw->st.ts_learnt++;
}

static void ts_set_pvm(struct rw *rw, struct rw_conn *c, uint32_t tsval)
{
	if (c->tsflags & RW_T_KNOWN)
		return;
	c->pvm_tsval = tsval;
	c->tsflags |= RW_T_PVM;
	ts_complete(rw, c);
}

/* Record FIN (from the VM or the peer) and RST; a connection closes on
 * an RST or once both sides sent a FIN. */
static void conn_note_close(struct rw *rw, struct rw_conn *c, uint8_t tf,
			    bool from_vm, uint64_t now)
{
	if (tf & PKT_TCP_RST)
		c->flags |= RW_C_RST;
	if (tf & PKT_TCP_FIN)
		c->flags |= from_vm ? RW_C_FIN_VM : RW_C_FIN_PEER;
	if (c->flags & RW_C_CLOSED)
		return;
	if ((c->flags & RW_C_RST) ||
	    (c->flags & (RW_C_FIN_VM | RW_C_FIN_PEER)) ==
	    (RW_C_FIN_VM | RW_C_FIN_PEER)) {
		c->flags |= RW_C_CLOSED;
		c->closed_at = now;
		list_add_tail(&rw->closed, &c->closed);
	}
}

/* The offset is complete: PVM_ISN learnt from the primary or the peer. */
static void conn_complete(struct rw *rw, struct rw_conn *c, uint32_t pvm_isn,
			  bool from_ack)
{
	c->offset = c->svm_isn - pvm_isn;
	c->state = RW_S_KNOWN;
	c->flags &= (uint8_t)~(RW_C_PENDING | RW_C_PENDING_ACK);
	if (from_ack)
		rw->st.learnt_ack++;
	else
		rw->st.learnt_hint++;
}

static void conn_set_pending(struct rw_conn *c, uint32_t pvm_isn,
			     bool from_ack)
{
	c->pvm_isn = pvm_isn;
	c->flags |= RW_C_PENDING;
	if (from_ack)
		c->flags |= RW_C_PENDING_ACK;
	else
		c->flags &= (uint8_t)~RW_C_PENDING_ACK;
}

/* ---- the segment ----------------------------------------------------------- */



/*
 * Parse PKT into *S if it is a whole TCP segment.  Otherwise *R says
 * why not: RW_PASS (not TCP, not IP, a fragment) or RW_MALFORMED.
 */
static bool seg_parse(uint8_t *pkt, size_t len, enum cmp_link link,
		      enum rw_dir dir, struct rw_seg *s, enum rw_result *r)
{
	size_t alen;
	struct pkt p;

	pkt_parse(pkt, len, link, &p);
	*r = p.l3 == PKT_BAD ? RW_MALFORMED : RW_PASS;
	if (p.l3 != PKT_IP || p.proto != 6 || p.frag)
		return false;
	/* pkt_parse() proved the IP datagram and the TCP header fit */
	memset(s, 0, sizeof(*s));
	s->ip = pkt + (p.net - p.frame);
	s->iplen = p.netlen;
	s->tcp = pkt + (p.l4 - p.frame);
	s->doff = (size_t)(s->tcp[12] >> 4) * 4;
	s->seq = p.seq;
	s->ack = p.ack;
	s->tcpflags = p.tcpflags;
	alen = p.family == 4 ? 4 : 16;
	s->key.family = p.family;
	memcpy(s->key.vm_addr, dir == RW_FROM_VM ? p.saddr : p.daddr, alen);
	memcpy(s->key.peer_addr, dir == RW_FROM_VM ? p.daddr : p.saddr, alen);
	s->key.vm_port = dir == RW_FROM_VM ? p.sport : p.dport;
	s->key.peer_port = dir == RW_FROM_VM ? p.dport : p.sport;
	return true;
}

/*
 * Store V at byte OFF of the TCP header and, unless csum_l4_fill() will
 * redo the checksum, update it word by word (RFC 1624).  OFF is odd for a
 * SACK block behind a single NOP: then the 16-bit words covering it are
 * [OFF - 1, OFF + 5), still inside the header (an odd OFF is at most
 * doff - 5, as doff is a multiple of 4).
 */
static void seg_put32(struct rw_seg *s, size_t off, uint32_t v)
{
	size_t a = off & ~(size_t)1, n = off & 1 ? 6 : 4, i;
	uint8_t old[6];
	uint16_t ck;

	memcpy(old, s->tcp + a, n);
	put32(s->tcp + off, v);
	if (s->partial)
		return;
	ck = get16(s->tcp + 16);
	for (i = 0; i < n; i += 2)
		if (get16(old + i) != get16(s->tcp + a + i))
			ck = csum_replace16(ck, get16(old + i),
					    get16(s->tcp + a + i));
	put16(s->tcp + 16, ck);
}

/* Add OFF to the N SACK blocks at byte AT of the TCP header. */
static void sack_blocks(struct rw *rw, struct rw_seg *s, size_t at,
			size_t n, uint32_t off)
{
	size_t i;

	for (i = 0; i < 2 * n; i++, at += 4)
		seg_put32(s, at, get32(s->tcp + at) + off);
	rw->st.sack_blocks += n;
}

/* Walk the options; translate well-formed SACK options (RFC 2018) and
 * stop at the end of the list or at the first malformed option. */
static void sack_translate(struct rw *rw, struct rw_seg *s, uint32_t off)
{
	size_t i = 20, olen;

	while (i < s->doff) {
		uint8_t kind = s->tcp[i];

		if (kind == 0)
			return;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= s->doff)
			return;
		olen = s->tcp[i + 1];
		if (olen < 2 || olen > s->doff - i)
			return;
		if (kind == 5 && olen >= 10 && (olen - 2) % 8 == 0)
			sack_blocks(rw, s, i + 2, (olen - 2) / 8, off);
		i += olen;
	}
}

/* Byte offset in the TCP header of a well-formed timestamp option's TSval
 * (TSecr follows it), or 0. */
static size_t ts_find(const struct rw_seg *s)
{
	size_t i = 20, olen;

	while (i < s->doff) {
		uint8_t kind = s->tcp[i];

		if (kind == 0)
			return 0;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= s->doff)
			return 0;
		olen = s->tcp[i + 1];
		if (olen < 2 || olen > s->doff - i)
			return 0;
		if (kind == 8 && olen == 10)
			return i + 2;
		i += olen;
	}
	return 0;
}

/* A CSUM_PARTIAL segment leaves with a complete checksum. */
static void seg_finish(struct rw_seg *s)
{
	if (s->partial && !s->later)
		csum_l4_fill(s->ip, s->iplen, (size_t)(s->tcp - s->ip), 6);
}

/* ---- the two directions ---------------------------------------------------- */

/*
 * A SYN or SYN-ACK from the VM: its sequence number is the SVM's ISN.
 * The same ISN again (a retransmission, or the parked packet offered
 * again) keeps what was learnt; a new one starts a new handshake, which a
 * pending PVM ISN completes at once.  NULL if no entry could be made.
 */
static struct rw_conn *vm_syn(struct rw *rw, struct rw_conn *c,
			      const struct rw_seg *s, uint64_t now)
{
	size_t ts;

	if (c && c->state != RW_S_NEW && c->svm_isn == s->seq)
		return c;
	if (!c)
		c = conn_new(rw, &s->key, now);
	else if (c->state == RW_S_KNOWN || (c->flags & RW_C_CLOSED))
		conn_restart(c, true);
	if (!c)
		return NULL;
	c->svm_isn = s->seq;
	c->state = RW_S_SVM_ISN;
	if ((ts = ts_find(s)) != 0) {
		c->svm_tsval = get32(s->tcp + ts);
		c->tsflags |= RW_T_SVM;
		ts_complete(rw, c);
	}
	if (c->flags & RW_C_PENDING)
		conn_complete(rw, c, c->pvm_isn, c->flags & RW_C_PENDING_ACK);
	return c;
}

/*
 * Apply C's offsets to S: from the VM its sequence number and TSval, to the
 * VM its acknowledgement, SACK blocks and TSecr (a TSecr of 0 echoes
 * nothing and stays 0).
 */
static enum rw_result translate(struct rw *rw, struct rw_conn *c,
				struct rw_seg *s, enum rw_dir dir)
{
	bool seq = c->state == RW_S_KNOWN && c->offset;
	bool tsx = (c->tsflags & RW_T_KNOWN) && c->ts_off;
	size_t ts = tsx ? ts_find(s) : 0;
	bool changed = false;

	if (dir == RW_FROM_VM) {
		if (seq)
			seg_put32(s, 4, s->seq - c->offset);
		if (ts)
			seg_put32(s, ts, get32(s->tcp + ts) - c->ts_off);
		return seq || ts ? RW_CHANGED : RW_PASS;
	}
	if (seq && (s->tcpflags & PKT_TCP_ACK)) {
		seg_put32(s, 8, s->ack + c->offset);
		sack_translate(rw, s, c->offset);
		changed = true;
	}
	if (ts && get32(s->tcp + ts + 4)) {
		seg_put32(s, ts + 4, get32(s->tcp + ts + 4) + c->ts_off);
		changed = true;
	}
	return changed ? RW_CHANGED : RW_PASS;
}

static enum rw_result from_vm(struct rw *rw, struct rw_conn *c,
			      struct rw_seg *s, uint64_t now)
{
	if (s->tcpflags & PKT_TCP_SYN) {
		c = vm_syn(rw, c, s, now);
		if (c && c->state != RW_S_KNOWN) {
			conn_touch(rw, c, now);
			return RW_WAIT;
		}
	}
	if (!c)
		return RW_PASS;
	conn_touch(rw, c, now);
	conn_note_close(rw, c, s->tcpflags, true, now);
	return translate(rw, c, s, RW_FROM_VM);
}

/*
 * The peer's side of the handshake.  Its SYN opens an entry; its first
 * ACK after a SYN acknowledges the PVM's ISN + 1: that completes an
 * offset waiting for it, or is kept until the SVM's SYN(-ACK) comes.
 */
static struct rw_conn *peer_learn(struct rw *rw, struct rw_conn *c,
				  const struct rw_seg *s, uint64_t now)
{
	bool syn = s->tcpflags & PKT_TCP_SYN, ack = s->tcpflags & PKT_TCP_ACK;
	size_t ts;

	if (!c) {
		if (!syn)
			return NULL;	/* mid-stream: offset 0, no entry */
		c = conn_new(rw, &s->key, now);
		if (c && ack)
			conn_set_pending(c, s->ack - 1, true);
		return c;
	}
	if (syn && !ack && (c->flags & RW_C_CLOSED))
		conn_restart(c, false);
	if (!ack)
		return c;
	/* the handshake ACK (it acknowledges the PVM's SYN and nothing more)
	 * echoes the TSval of the PVM's SYN-ACK; later ones echo later TSvals */
	if (!(c->tsflags & RW_T_KNOWN) && (ts = ts_find(s)) != 0 &&
	    get32(s->tcp + ts + 4) &&
	    (c->state != RW_S_KNOWN || s->ack == c->svm_isn - c->offset + 1))
		ts_set_pvm(rw, c, get32(s->tcp + ts + 4));
	if (c->state == RW_S_SVM_ISN)
		conn_complete(rw, c, s->ack - 1, true);
	else if (c->state == RW_S_NEW && !(c->flags & RW_C_PENDING))
		conn_set_pending(c, s->ack - 1, true);
	return c;
}

static enum rw_result to_vm(struct rw *rw, struct rw_conn *c,
			    struct rw_seg *s, uint64_t now)
{
	c = peer_learn(rw, c, s, now);
	if (!c)
		return RW_PASS;
	conn_touch(rw, c, now);
	conn_note_close(rw, c, s->tcpflags, false, now);
	return translate(rw, c, s, RW_TO_VM);
}

/* An import_only table: imported connections are translated until they
 * close; a SYN on one of their keys is a new connection: forgotten. */
static enum rw_result imported_only(struct rw *rw, struct rw_conn *c,
				    struct rw_seg *s, enum rw_dir dir,
				    uint64_t now)
{
	if (!c)
		return RW_PASS;
	if (s->tcpflags & PKT_TCP_SYN) {
		conn_drop(rw, c);
		return RW_PASS;
	}
	conn_touch(rw, c, now);
	conn_note_close(rw, c, s->tcpflags, dir == RW_FROM_VM, now);
	return translate(rw, c, s, dir);
}

/* ---- the API ------------------------------------------------------------------ */

void rw_config_defaults(struct rw_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_conns = 65536;
	cfg->idle_timeout_ns = 600 * NS_PER_SEC;
	cfg->closed_linger_ns = 30 * NS_PER_SEC;
}

static uint32_t bucket_count(uint32_t max_conns)
{
	uint32_t n = RW_MIN_BUCKETS;

	while (n < max_conns && n < RW_MAX_BUCKETS)
		n <<= 1;
	return n;
}

int rw_new(const struct rw_config *cfg, struct rw **out)
{
	struct rw *rw;
	uint32_t n;

	if (!cfg || !out || !cfg->max_conns || cfg->max_conns > RW_MAX_CONNS ||
	    !cfg->idle_timeout_ns)
		return -EINVAL;
	rw = calloc(1, sizeof(*rw));
	if (!rw)
		return -ENOMEM;
	n = bucket_count(cfg->max_conns);
	rw->buckets = calloc(n, sizeof(*rw->buckets));
	if (!rw->buckets) {
		free(rw);
		return -ENOMEM;
	}
	rw->cfg = *cfg;
	rw->mask = n - 1;
	/* heap addresses vary from run to run (ASLR): a cheap, syscall-free
	 * seed; not cryptographic, enough to spread crafted ports */
	rw->seed = mix(mix(0x5eed, (uint64_t)(uintptr_t)rw),
		       (uint64_t)(uintptr_t)rw->buckets);
	list_init(&rw->lru);
	list_init(&rw->closed);
	*out = rw;
	return 0;
}

void rw_free(struct rw *rw)
{
	if (!rw)
		return;
	while (rw->lru.next != &rw->lru)
		conn_drop(rw, conn_of(rw->lru.next, lru));
	free(rw->buckets);
	free(rw);
}

enum rw_result rw_frame(struct rw *rw, enum rw_dir dir, uint8_t *pkt,
			size_t len, enum cmp_link link, uint32_t flags,
			uint64_t now)
{
	struct rw_conn *c;
	struct rw_seg s;
	enum rw_result r;

	if (dir != RW_TO_VM && dir != RW_FROM_VM) {
		rw->st.malformed++;
		return RW_MALFORMED;
	}
	rw->st.packets[dir]++;
	if (!pkt || !seg_parse(pkt, len, link, dir, &s, &r)) {
		r = pkt ? r : RW_MALFORMED;
		if (r == RW_MALFORMED)
			rw->st.malformed++;
		return r;
	}
	s.later = flags & RW_F_CSUM_LATER;
	s.partial = (flags & RW_F_CSUM_PARTIAL) || s.later;
	c = conn_find(rw, &s.key);
	if (rw->cfg.import_only)
		r = imported_only(rw, c, &s, dir, now);
	else
		r = dir == RW_FROM_VM ? from_vm(rw, c, &s, now) :
		    to_vm(rw, c, &s, now);
	if (r == RW_CHANGED) {
		seg_finish(&s);
		rw->st.rewritten[dir]++;
	} else if (r == RW_WAIT) {
		rw->st.waits++;
	}
	return r;
}

bool rw_learn_pvm_isn(struct rw *rw, const struct rw_key *key, uint32_t isn,
		      uint64_t now)
{
	struct rw_conn *c;
	struct rw_key k;

	if (!key || !key_norm(key, &k))
		return false;
	c = conn_find(rw, &k);
	if (!c)
		c = conn_new(rw, &k, now);
	if (!c)
		return false;
	conn_touch(rw, c, now);
	if (c->state == RW_S_SVM_ISN) {
		conn_complete(rw, c, isn, false);
		return true;
	}
	if (c->state == RW_S_KNOWN && isn == c->svm_isn - c->offset)
		return false;		/* the same hint again */
	conn_set_pending(c, isn, false);	/* for the SVM's SYN(-ACK) */
	return false;
}

void rw_learn_pvm_tsval(struct rw *rw, const struct rw_key *key,
			uint32_t tsval, uint64_t now)
{
	struct rw_conn *c;
	struct rw_key k;

	if (!key || !key_norm(key, &k))
		return;
	c = conn_find(rw, &k);
	if (!c)
		c = conn_new(rw, &k, now);
	if (c)
		ts_set_pvm(rw, c, tsval);
}

bool rw_key_from_vm_packet(const uint8_t *pkt, size_t len, enum cmp_link link,
			   struct rw_key *key, uint32_t *seq, uint8_t *tcpflags)
{
	struct rw_seg s;
	enum rw_result r;

	/* seg_parse() writes nothing into the packet */
	if (!pkt || !key ||
	    !seg_parse((uint8_t *)(uintptr_t)pkt, len, link, RW_FROM_VM, &s, &r))
		return false;
	*key = s.key;
	if (seq)
		*seq = s.seq;
	if (tcpflags)
		*tcpflags = s.tcpflags;
	return true;
}

bool rw_tsval_of(const uint8_t *pkt, size_t len, enum cmp_link link,
		 uint32_t *tsval)
{
	struct rw_seg s;
	enum rw_result r;
	size_t ts;

	if (!pkt || !seg_parse((uint8_t *)(uintptr_t)pkt, len, link,
			       RW_FROM_VM, &s, &r) || !(ts = ts_find(&s)))
		return false;
	*tsval = get32(s.tcp + ts);
	return true;
}

bool rw_offset(const struct rw *rw, const struct rw_key *key, uint32_t *off)
{
	const struct rw_conn *c;
	struct rw_key k;

	if (!key || !key_norm(key, &k))
		return false;
	c = conn_find(rw, &k);
	if (!c || c->state != RW_S_KNOWN)
		return false;
	if (off)
		*off = c->offset;
	return true;
}

bool rw_ts_offset(const struct rw *rw, const struct rw_key *key,
		  uint32_t *off)
{
	const struct rw_conn *c;
	struct rw_key k;

	if (!key || !key_norm(key, &k))
		return false;
	c = conn_find(rw, &k);
	if (!c || !(c->tsflags & RW_T_KNOWN))
		return false;
	if (off)
		*off = c->ts_off;
	return true;
}

/*
 * The SVM now holds the PVM's TCP state: a known offset becomes 0 (the
 * SVM's ISN is now the PVM's, so a retransmitted SYN-ACK still matches);
 * a handshake waiting for the PVM's ISN forgets the SVM's, which the SVM
 * no longer uses.  Pending PVM ISNs stay: they are the PVM's, still true.
 */
void rw_reset(struct rw *rw)
{
	struct rw_list *n;

	rw->reset_gen++;
	for (n = rw->lru.next; n != &rw->lru; n = n->next) {
		struct rw_conn *c = conn_of(n, lru);

		c->saved_gen = rw->reset_gen;
		c->saved_off = c->offset;
		c->saved_ts_off = c->ts_off;
		c->saved_svm_isn = c->svm_isn;
		c->saved_svm_tsval = c->svm_tsval;
		c->saved_state = c->state;
		c->saved_tsflags = c->tsflags;
		if (c->flags & RW_C_BASE) {
			/* the PVM's own translation to the peer's numbers */
			c->offset = c->base_off;
			c->ts_off = c->base_ts_off;
			continue;
		}
		if (c->state == RW_S_KNOWN) {
			c->svm_isn -= c->offset;
			c->offset = 0;
		} else if (c->state == RW_S_SVM_ISN) {
			c->state = RW_S_NEW;
		}
		if (c->tsflags & RW_T_KNOWN) {
			c->svm_tsval -= c->ts_off;
			c->ts_off = 0;
		} else {
			c->tsflags &= (uint8_t)~RW_T_SVM;
		}
	}
	rw->st.resets++;
}

void rw_undo_reset(struct rw *rw)
{
	struct rw_list *n;

	if (!rw->reset_gen)
		return;
	for (n = rw->lru.next; n != &rw->lru; n = n->next) {
		struct rw_conn *c = conn_of(n, lru);

		if (c->saved_gen != rw->reset_gen)
			continue;	/* new since, or restarted */
		c->offset = c->saved_off;
		c->ts_off = c->saved_ts_off;
		c->svm_isn = c->saved_svm_isn;
		c->svm_tsval = c->saved_svm_tsval;
		c->state = c->saved_state;
		c->tsflags = c->saved_tsflags;
		c->saved_gen = 0;
	}
	rw->st.undone++;
}

bool rw_import(struct rw *rw, const struct rw_key *key, uint32_t off,
	       uint32_t ts_off, uint64_t now)
{
	struct rw_conn *c;
	struct rw_key k;

	if (!key || !key_norm(key, &k))
		return false;
	c = conn_find(rw, &k);
	if (c)
		conn_restart(c, false);
	else
		c = conn_new(rw, &k, now);
	if (!c)
		return false;
	conn_touch(rw, c, now);
	c->state = RW_S_KNOWN;
	c->offset = c->base_off = off;
	c->ts_off = c->base_ts_off = ts_off;
	c->svm_isn = 0;		/* unknown: its handshake is long gone */
	c->tsflags = RW_T_KNOWN;
	c->flags |= RW_C_BASE;
	rw->st.imported++;
	return true;
}

size_t rw_export(const struct rw *rw, rw_export_cb *cb, void *arg)
{
	const struct rw_list *n;
	size_t count = 0;

	for (n = rw->lru.next; n != &rw->lru; n = n->next) {
		const struct rw_conn *c = conn_of(n, lru);
		uint32_t off = c->state == RW_S_KNOWN ? c->offset : 0;
		uint32_t ts = (c->tsflags & RW_T_KNOWN) ? c->ts_off : 0;

		if ((c->flags & RW_C_CLOSED) || (!off && !ts))
			continue;
		count++;
		if (cb)
			cb(arg, &c->key, off, ts);
	}
	return count;
}

void rw_tick(struct rw *rw, uint64_t now)
{
	while (rw->closed.next != &rw->closed) {
		struct rw_conn *c = conn_of(rw->closed.next, closed);

		if (elapsed(now, c->closed_at) < rw->cfg.closed_linger_ns)
			break;
		conn_drop(rw, c);
		rw->st.conns_expired++;
	}
	while (rw->lru.prev != &rw->lru) {
		struct rw_conn *c = conn_of(rw->lru.prev, lru);

		if (elapsed(now, c->last_use) < rw->cfg.idle_timeout_ns)
			break;
		conn_drop(rw, c);
		rw->st.conns_expired++;
	}
}

const struct rw_stats *rw_get_stats(const struct rw *rw)
{
	return &rw->st;
}
