/*
 * stats: colo-relay's counters, checkpoint sizes and added latency.
 * Pure: time comes in as an argument (CLOCK_MONOTONIC nanoseconds).
 *
 * Directions are named after the COLO channel, the same on both relays:
 *   forward  primary QEMU -> secondary QEMU (the migration, checkpoints)
 *   reverse  secondary QEMU -> primary QEMU (COLO's replies)
 * On the primary relay forward bytes are compressed, on the secondary
 * decompressed; raw bytes are what QEMU wrote or reads, wire bytes what
 * crossed between the relays (frame headers included).
 *
 * Checkpoints are seen in the traffic alone: the channel is request/reply.
 * A checkpoint is the forward bytes since the reverse direction last
 * carried data, ended when the reverse direction speaks again:
 *
 *   forward:  |= chunk = chunk = chunk =|                  |= chunk ...
 *   reverse:                             |= reply =|
 *             ^ start (first chunk)      ^ end: recorded (raw, wire,
 *                                          chunks, send and total time)
 *
 * QEMU's COLO exchange (migration/colo.c) per checkpoint is
 *   -> CHECKPOINT_REQUEST (4 bytes)           <- CHECKPOINT_REPLY
 *   -> VMSTATE_SEND, RAM, VMSTATE_SIZE, device state
 *                                             <- VMSTATE_RECEIVED, LOADED
 * so each checkpoint is one small exchange and one large one; exchanges
 * of fewer than min_bytes forward bytes are counted (small_exchanges), not
 * recorded.  The initial migration is the first record: it ends when the
 * secondary's COLO sends its first message (CHECKPOINT_READY).
 *
 * The last HISTORY records are kept in a ring:
 *
 *   hist[0 .. cap-1]:  [ seq 8 ][ seq 9 ][ seq 2 ] ... [ seq 7 ]
 *                                 ^ next write = nrec % cap
 */
#ifndef RELAY_STATS_H
#define RELAY_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/proto.h"

enum rly_dir { RLY_FWD = 0, RLY_REV = 1 };

/* Each fault once: what ended a relayed connection (or refused one). */
#define RLY_FAULTS(X)                                                       \
	X(garbage)		/* not a relay: bad HELLO or frame magic */  \
	X(version)		/* a relay of another protocol version */    \
	X(header)		/* HELLO or frame header: crc, field */      \
	X(corrupt)		/* payload: zstd error, length, data crc */  \
	X(pair)			/* the peer belongs to another pair */       \
	X(role)			/* the peer is not the other role */         \
	X(refused)		/* the peer relay answered with a refusal */ \
	X(truncated)		/* the peer closed in the middle of a frame */ \
	X(peer_closed)		/* the peer closed without END */            \
	X(peer_reset)		/* a socket error toward the peer relay */   \
	X(local_reset)		/* a socket error toward QEMU */             \
	X(connect_failed)	/* the peer relay or QEMU refused, unreachable */ \
	X(connect_timeout)                                                  \
	X(handshake_timeout)	/* no HELLO in time */                       \
	X(idle_timeout)		/* nothing from the peer relay in time */    \
	X(drain_timeout)	/* an ending connection did not finish */    \
	X(busy)			/* a connection refused: one is relayed */   \
	X(nomem)		/* out of memory, codec set-up */

enum rly_fault {
#define X(n) RLY_F_##n,
	RLY_FAULTS(X)
#undef X
	RLY_F_MAX
};

/* Other counters. */
#define RLY_COUNTERS(X)                                                     \
	X(accepted)		/* connections accepted on listen */         \
	X(sessions)		/* relayed connections that came up */       \
	X(sessions_ended)	/* ... and ended cleanly (END) */            \
	X(sessions_failed)	/* connections ended by a fault */           \
	X(replaced)		/* secondary: a live one replaced by a new */ \
	X(pings_sent) X(pings_received)                                      \
	X(ends_sent) X(ends_received)

#define RLY_LAT_RING 1024	/* codec times kept per direction */

struct rly_dir_stats {
	uint64_t chunks;	/* DATA frames */
	uint64_t raw_bytes, wire_bytes;
	uint64_t codec_ns, codec_max_ns;	/* compress or decompress */
	uint64_t lat[RLY_LAT_RING];		/* the last codec times */
	uint64_t buffered_max;	/* largest output buffer toward its
				   destination */
};

struct rly_ckpt {
	uint64_t seq;		/* 0: the first recorded */
	uint64_t start_ns;	/* first forward chunk */
	uint64_t last_ns;	/* last forward chunk */
	uint64_t end_ns;	/* the reverse direction spoke */
	uint64_t raw_bytes, wire_bytes, chunks;
	uint64_t codec_ns;	/* codec time of its chunks */
};

struct rly_stats {
	uint64_t faults[RLY_F_MAX];
#define X(n) uint64_t n;
	RLY_COUNTERS(X)
#undef X
	struct rly_dir_stats dir[2];
	/* checkpoints */
	uint64_t min_bytes;
	bool open;		/* forward bytes since the last reply */
	struct rly_ckpt cur;
	struct rly_ckpt *hist;
	size_t cap;
	uint64_t nrec;		/* records made, all time */
	uint64_t small_exchanges;
	uint64_t unfinished;	/* open when their connection ended */
};

const char *rly_fault_name(enum rly_fault f);
/* The fault a protocol error counts as. */
enum rly_fault rly_fault_of(enum rly_perr e);

/* Keep the last HISTORY (>= 1) checkpoints, those of at least MIN_BYTES
 * forward bytes: 0 or -ENOMEM.  All counters start at zero. */
int rly_stats_init(struct rly_stats *s, size_t history, uint64_t min_bytes);
void rly_stats_free(struct rly_stats *s);

/* A DATA chunk crossed in direction DIR at NOW: RAW bytes for QEMU, WIRE
 * between the relays, CODEC_NS spent compressing or decompressing it. */
void rly_stats_chunk(struct rly_stats *s, enum rly_dir dir, uint64_t raw,
		     uint64_t wire, uint64_t codec_ns, uint64_t now);

/* The relayed connection ended: a checkpoint still open is dropped. */
void rly_stats_conn_end(struct rly_stats *s);

/* Record I (0 = oldest kept .. rly_stats_kept() - 1), or NULL. */
const struct rly_ckpt *rly_stats_ckpt(const struct rly_stats *s, size_t i);
size_t rly_stats_kept(const struct rly_stats *s);

/* The PCT-th percentile (0..100) of the last codec times of DIR, in ns
 * (0 when none). */
uint64_t rly_stats_pct(const struct rly_stats *s, enum rly_dir dir,
		       unsigned pct);

#endif /* RELAY_STATS_H */
