/*
 * rewrite: the secondary's TCP sequence rewriter, as a pure library
 * (no syscalls, no clock reads, no logging; time comes in as NOW, in ns).
 *
 * The SVM's TCP stack picks its own initial sequence numbers.  For every
 * connection the rewriter learns
 *
 *      offset = SVM ISN - PVM ISN          (mod 2^32)
 *
 * and translates, in place, the IP packets that pass the secondary:
 *
 *   RW_TO_VM   (client -> SVM, mirrored or, after takeover, from the LAN)
 *              ack += offset, every SACK block edge += offset,
 *              TSecr += ts_offset
 *   RW_FROM_VM (SVM -> client, sent to the primary or, after takeover,
 *              to the LAN)
 *              seq -= offset, TSval -= ts_offset
 *
 * with ts_offset = SVM TSval - PVM TSval of the handshake (RFC 7323
 * timestamps run on each VM's own clock; Linux drops a handshake ACK whose
 * TSecr it did not send, so the echo must be translated).
 *
 * fixing the TCP checksum (see csum_l4_fill() for CSUM_PARTIAL packets).
 * Connections are keyed by (family, VM address, VM port, peer address,
 * peer port), whichever side opened them.
 *
 * Learning the offset:
 *   - the SVM's ISN comes from the SYN or SYN-ACK the SVM sends (RW_FROM_VM);
 *   - the PVM's ISN comes either from the primary (rw_learn_pvm_isn(), fed
 *     from the channel: the primary sees its PVM's SYN / SYN-ACK), or from
 *     the peer's first ACK after that SYN (RW_TO_VM: ack - 1), whichever
 *     comes first.
 * A SYN or SYN-ACK from the SVM whose offset is not known yet yields
 * RW_WAIT: the caller parks it and calls rw_frame() again after
 * rw_learn_pvm_isn() (rw_frame() then rewrites it), or gives up after a
 * short time and sends it unchanged (the comparator then sees a handshake
 * divergence and asks for a checkpoint: safe, only slower).
 *
 * A connection seen without its handshake (it existed before the proxy
 * started, or a checkpoint covered it) has offset 0.  rw_reset() (a
 * checkpoint completed: the SVM now holds the PVM's TCP state) sets every
 * offset to 0 and forgets pending handshakes' SVM ISNs.  In takeover mode
 * nothing changes here: connections keep their offsets until they close.
 *
 *     rw ──> hash (open addressing or chained) of struct rw_conn
 *              key, offset, state (NEW / SVM_ISN_KNOWN / KNOWN), fin/rst
 *              seen, last use  ──> LRU list for expiry and the limit
 *
 * Sequence arithmetic is wrap-safe throughout.  Non-TCP packets, IP
 * fragments and malformed packets are never changed (RW_PASS /
 * RW_MALFORMED).
 */
#ifndef COLO_PROXY_REWRITE_H
#define COLO_PROXY_REWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compare/cmp.h"	/* enum cmp_link */

enum rw_dir {
	RW_TO_VM = 0,		/* peer -> VM: translate ack and SACK */
	RW_FROM_VM = 1,		/* VM -> peer: translate seq */
};

enum rw_result {
	RW_PASS = 0,		/* nothing to change (offset 0, not TCP...) */
	RW_CHANGED,		/* the packet was rewritten in place */
	RW_WAIT,		/* SVM SYN/SYN-ACK, offset not known yet */
	RW_MALFORMED,		/* could not be parsed; left unchanged */
};

/* rw_frame() flags */
enum {
	/* NFQA_SKB_CSUMNOTREADY: the checksum field holds only the
	 * pseudo-header sum; a changed packet gets a full checksum. */
	RW_F_CSUM_PARTIAL = 1U << 0,
	/* Leave the checksum alone: the caller has the kernel complete it
	 * (a frame injected with VIRTIO_NET_HDR_F_NEEDS_CSUM). */
	RW_F_CSUM_LATER = 1U << 1,
};

struct rw_config {
	uint32_t max_conns;		/* tracked connections (LRU beyond) */
	uint64_t idle_timeout_ns;	/* forget idle connections */
	uint64_t closed_linger_ns;	/* keep closed ones this long */
	/* only rw_import()ed connections are translated; nothing is learnt
	 * (the primary's table after a re-protection, see rw_import()) */
	bool import_only;
};

/* A connection as seen from the VM. */
struct rw_key {
	uint8_t family;			/* 4 or 6 */
	uint8_t vm_addr[16], peer_addr[16];	/* IPv4: first 4 bytes */
	uint16_t vm_port, peer_port;
};

struct rw_stats {
	uint64_t packets[2];		/* by enum rw_dir */
	uint64_t rewritten[2];
	uint64_t sack_blocks;		/* SACK edges translated (pairs) */
	uint64_t learnt_hint;		/* offsets learnt from the primary */
	uint64_t learnt_ack;		/* offsets learnt from the peer's ACK */
	uint64_t ts_learnt;		/* timestamp offsets learnt */
	uint64_t waits;			/* RW_WAIT answers */
	uint64_t malformed;
	uint64_t resets;		/* rw_reset() calls */
	uint64_t imported;		/* rw_import() calls */
	uint64_t undone;		/* rw_undo_reset() calls */
	uint64_t conns_active, conns_created, conns_expired, conns_evicted;
};

struct rw;

/* Fill *cfg with defaults: 65536 connections, 10 min idle, 30 s linger. */
void rw_config_defaults(struct rw_config *cfg);

/* 0, -EINVAL (bad config) or -ENOMEM. */
int rw_new(const struct rw_config *cfg, struct rw **out);
void rw_free(struct rw *rw);

/*
 * Translate PKT (LEN bytes; LINK says whether it starts with an Ethernet
 * header, VLAN tags allowed, or with the IP header) in place.  FLAGS: RW_F_*.
 */
enum rw_result rw_frame(struct rw *rw, enum rw_dir dir, uint8_t *pkt,
			size_t len, enum cmp_link link, uint32_t flags,
			uint64_t now);

/*
 * The primary reports its PVM's ISN for connection KEY (from the SYN or
 * SYN-ACK its PVM sent).  Returns true if this completed an offset (a
 * parked RW_WAIT packet of KEY can now be rewritten).
 */
bool rw_learn_pvm_isn(struct rw *rw, const struct rw_key *key, uint32_t isn,
		      uint64_t now);

/*
 * The primary reports the TCP timestamp (TSval) its PVM put in the SYN or
 * SYN-ACK of KEY's connection: with the SVM's, it gives the timestamp
 * offset (the peer's TSecr, an echo of the PVM's TSval, is translated
 * toward the SVM; the SVM's TSval away from it).  Call it before
 * rw_learn_pvm_isn() for the same handshake.
 */
void rw_learn_pvm_tsval(struct rw *rw, const struct rw_key *key,
			uint32_t tsval, uint64_t now);

/* Fill *key from a VM-sent TCP packet (for parking RW_WAIT packets and for
 * ISN hints on the primary).  false if PKT is not a whole TCP segment. */
bool rw_key_from_vm_packet(const uint8_t *pkt, size_t len, enum cmp_link link,
			   struct rw_key *key, uint32_t *seq, uint8_t *tcpflags);

/* The TSval of PKT's timestamp option (a whole TCP segment); false if it
 * has none. */
bool rw_tsval_of(const uint8_t *pkt, size_t len, enum cmp_link link,
		 uint32_t *tsval);

/* The offset of KEY's connection; false if unknown. */
bool rw_offset(const struct rw *rw, const struct rw_key *key, uint32_t *off);

/* The timestamp offset of KEY's connection; false if unknown. */
bool rw_ts_offset(const struct rw *rw, const struct rw_key *key,
		  uint32_t *off);

/* A checkpoint completed: every offset becomes 0 (its base, if imported). */
void rw_reset(struct rw *rw);

/* The checkpoint the last rw_reset() was for never completed (the primary
 * died during it, and the SVM goes on from its own state): connections
 * get back what they had before it; those new since are left alone. */
void rw_undo_reset(struct rw *rw);

/*
 * Re-protection.  After a takeover the serving VM (the old SVM) keeps
 * talking to its peers through the offsets of the connections that were
 * younger than the last checkpoint: they translate its numbers into the
 * ones the peers know (the old PVM's).  When that VM becomes the primary of
 * a new pair, these translations move with it:
 *   - the new primary keeps them in an import_only table (its PVM's
 *     output is translated before comparison, input toward it after the
 *     mirror copy: the pair compares in the peers' numbers);
 *   - the new secondary imports them as base offsets: rw_reset() restores
 *     a base instead of 0, since after a checkpoint the SVM holds the
 *     PVM's state, whose translation is the base.
 * rw_import() sets KEY's connection to offset OFF, timestamp offset
 * TS_OFF, as its base (replacing what was known of KEY).  false: bad key or
 * no memory.
 */
bool rw_import(struct rw *rw, const struct rw_key *key, uint32_t off,
	       uint32_t ts_off, uint64_t now);

/* Call CB for each open connection with a non-zero offset (sequence or
 * timestamp); returns how many. CB may be NULL (count only). */
typedef void rw_export_cb(void *arg, const struct rw_key *key, uint32_t off,
			  uint32_t ts_off);
size_t rw_export(const struct rw *rw, rw_export_cb *cb, void *arg);

/* Expire idle and closed connections. */
void rw_tick(struct rw *rw, uint64_t now);

const struct rw_stats *rw_get_stats(const struct rw *rw);

#endif /* COLO_PROXY_REWRITE_H */
