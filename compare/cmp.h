/*
 * cmp.h - the COLO output comparator, as a pure library.
 *
 * The comparator is fed the frames that the primary VM (PVM) and the
 * secondary VM (SVM) send, tagged with the epoch in which they were read
 * and with the caller's id.  It answers with actions:
 *
 *   CMP_ACT_RELEASE     a primary frame may go to the client (NF_ACCEPT)
 *   CMP_ACT_DROP        the comparator is done with a secondary frame
 *   CMP_ACT_CHECKPOINT  the SVM is no longer a valid replica (or a limit was
 *                       reached): ask for a checkpoint; carries the reason,
 *                       the connection and the byte offset
 *   CMP_ACT_FLOW_END    a flow was retired; carries its statistics
 *
 * No syscalls, no clock reads, no logging: time comes in as an argument
 * (nanoseconds on any monotonic clock), results go out through
 * cmp_next_action().  Several comparators may live side by side.
 *
 * Guarantee: a primary frame is released only when the secondary produced
 * the same output in the same epoch, or when the epoch it belongs to is
 * committed (a checkpoint completed).  Everything else ends in a checkpoint
 * request, never in a silent release.  See DESIGN.md, "The comparator".
 */
#ifndef COLO_CMP_H
#define COLO_CMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cmp_side { CMP_PRIMARY = 0, CMP_SECONDARY = 1 };

/* What the frame starts with. */
enum cmp_link {
	CMP_LINK_ETH = 0,	/* Ethernet II, optionally 802.1Q/802.1ad tagged */
	CMP_LINK_IP = 1,	/* a bare IPv4 or IPv6 packet */
};

/* Flags for cmp_input(). */
enum {
	/* The frame was cut short by a capture's snap length: compare the
	 * bytes present and the length as one opaque message (tools only). */
	CMP_IN_TRUNCATED = 1U << 0,
};

/* Flags for struct cmp_config. */
enum {
	/* Learn each TCP stream's sequence offset from the two sides'
	 * handshakes instead of expecting the secondary's sequence space to
	 * be mapped onto the primary's already (by the rewriter). */
	CMP_F_LEARN_ISN = 1U << 0,
	/* Do not clamp the primary's advertised window to the secondary's. */
	CMP_F_NO_WINDOW_RULE = 1U << 1,
	/* Do not hold primary ACKs for the secondary's (ACK guard off). */
	CMP_F_NO_ACK_GUARD = 1U << 2,
};

enum cmp_reason {
	CMP_R_NONE = 0,
	CMP_R_PAYLOAD,		/* bytes differ */
	CMP_R_LENGTH,		/* a message's length differs */
	CMP_R_SYN,		/* handshake differs (sequence or flags) */
	CMP_R_FIN,		/* stream ends at different offsets */
	CMP_R_RST,		/* one side reset, the other went on */
	CMP_R_HOLD_TIMEOUT,	/* output waited longer than hold_timeout */
	CMP_R_FLOW_LIMIT,	/* max_flows reached */
	CMP_R_HELD_BYTES,	/* max_held_bytes reached */
	CMP_R_HELD_FRAMES,	/* max_held_frames reached */
	CMP_R_FRAG_LIMIT,	/* fragment reassembly limits reached */
	CMP_R_NOMEM,		/* an allocation failed */
	CMP_R_MAX
};

enum cmp_action_type {
	CMP_ACT_RELEASE = 1,
	CMP_ACT_DROP,
	CMP_ACT_CHECKPOINT,
	CMP_ACT_FLOW_END,
};

/* What a flow is. */
enum cmp_kind {
	CMP_K_TCP = 1,		/* byte stream, one direction */
	CMP_K_UDP,		/* datagrams by payload */
	CMP_K_ICMP,		/* ICMP and ICMPv6 by message, checksum excluded */
	CMP_K_IP,		/* other IP protocols by IP payload */
	CMP_K_ARP,		/* ARP by ARP body */
	CMP_K_ETH,		/* other ethertypes by whole frame */
	CMP_K_RAW,		/* unparsable or truncated frames, whole frame */
	CMP_K_OVERFLOW,		/* frames past a limit: held until commit */
};

/*
 * A directed flow.  Always zero-initialised, so that it can be hashed and
 * compared as bytes.  Addresses are IPv4-mapped-free: IPv4 uses the first
 * 4 bytes.  For ICMP, sport is type << 8 | code and dport the echo id.
 */
struct cmp_flow_key {
	uint8_t kind;		/* enum cmp_kind */
	uint8_t family;		/* 4, 6, or 0 when not IP */
	uint8_t proto;		/* IP protocol */
	uint8_t nvlan;
	uint16_t vlan[2];	/* outer first, 12-bit ids */
	uint16_t ethertype;	/* innermost */
	uint16_t sport, dport;
	uint8_t src[16], dst[16];
};

struct cmp_flow_stats {
	uint64_t frames[2];	/* fed, by side */
	uint64_t bytes[2];	/* L4 payload fed, by side */
	uint64_t matched;	/* payload bytes confirmed equal */
	uint64_t released;	/* primary frames released */
	uint64_t retrans[2];	/* segments wholly below the confirmed point */
	uint64_t out_of_order[2];
	uint64_t window_clamps;	/* primary windows lowered to the secondary's */
	uint64_t ack_holds;	/* primary frames that waited for the ACK guard */
	uint64_t divergences;
};

struct cmp_action {
	enum cmp_action_type type;
	uint64_t id;		/* RELEASE, DROP */
	uint32_t epoch;		/* the frame's epoch; CHECKPOINT: current */
	bool patch_window;	/* RELEASE: rewrite the TCP window field */
	uint16_t window;	/* ... to this raw (unscaled) value */
	bool committed;		/* RELEASE: covered by a completed checkpoint,
				   not confirmed by the secondary */
	enum cmp_reason reason;	/* CHECKPOINT */
	enum cmp_side side;	/* CHECKPOINT: the side whose output waited */
	uint64_t offset;	/* CHECKPOINT: stream byte offset, or message no. */
	uint32_t seq;		/* CHECKPOINT (TCP): primary sequence number */
	struct cmp_flow_key key;	/* CHECKPOINT, FLOW_END */
	struct cmp_flow_stats stats;	/* FLOW_END */
};

struct cmp_config {
	uint32_t max_flows;		/* tracked flows */
	uint64_t max_held_bytes;	/* bytes copied and waiting */
	uint32_t max_held_frames;	/* frames waiting, both sides */
	uint64_t hold_timeout_ns;	/* primary output's longest wait */
	uint64_t secondary_timeout_ns;	/* secondary output's longest wait */
	uint64_t flow_linger_ns;	/* keep closed, idle flows this long */
	uint32_t max_reassembly;	/* IP datagrams in reassembly, per side */
	uint32_t flags;			/* CMP_F_* */
};

struct cmp_stats {
	uint64_t frames_in[2];
	uint64_t released;
	uint64_t released_committed;	/* ... by a checkpoint, not a match */
	uint64_t dropped;
	uint64_t late_released;		/* primary frames of a committed epoch */
	uint64_t deferred;		/* frames of a later epoch, waited */
	uint64_t commits;
	uint64_t checkpoint_requests[CMP_R_MAX];
	uint64_t malformed[2];		/* compared as raw frames */
	uint64_t truncated[2];
	uint64_t reassembled[2];
	uint64_t flows_created;
	uint64_t flows_retired;
	uint64_t flows_active;
	uint64_t held_bytes, held_bytes_max;
	uint64_t held_frames, held_frames_max;
	uint64_t matched_bytes;
};

struct cmp;

/* Fill *cfg with the defaults (see cmp.c for the reasons behind each). */
void cmp_config_defaults(struct cmp_config *cfg);

/* Create a comparator; 0 or -EINVAL (bad config) or -ENOMEM. */
int cmp_new(const struct cmp_config *cfg, struct cmp **out);

/* Free it, with everything still held (no actions are produced). */
void cmp_free(struct cmp *c);

/*
 * Feed one frame read from SIDE in EPOCH, owned by the caller and not kept.
 * ID is the caller's handle, returned in RELEASE/DROP.  NOW is in ns on a
 * monotonic clock (a clock that steps back is treated as standing still).
 * Returns 0; -EINVAL for a bad side or link.  Out of memory is reported as
 * a CMP_R_NOMEM checkpoint request, and the frame is held until commit.
 */
int cmp_input(struct cmp *c, enum cmp_side side, uint64_t id, uint32_t epoch,
	      enum cmp_link link, const uint8_t *frame, size_t len,
	      uint32_t flags, uint64_t now);

/*
 * A checkpoint completed: EPOCH (and all before it) is committed.  Held
 * primary frames of those epochs are released, secondary frames dropped,
 * every stream is resynchronised at the primary's position, and frames
 * that waited for EPOCH + 1 are compared.
 */
void cmp_commit(struct cmp *c, uint32_t epoch, uint64_t now);

/* Let time pass: hold timeouts, retiring closed flows. */
void cmp_tick(struct cmp *c, uint64_t now);

/* When cmp_tick() next has work to do, or UINT64_MAX. */
uint64_t cmp_next_deadline(const struct cmp *c);

/* Take the next action; false when there is none. */
bool cmp_next_action(struct cmp *c, struct cmp_action *out);

/* The epoch being compared now. */
uint32_t cmp_epoch(const struct cmp *c);

const struct cmp_stats *cmp_get_stats(const struct cmp *c);

/* Call FN for every tracked flow. */
void cmp_foreach_flow(const struct cmp *c,
		      void (*fn)(const struct cmp_flow_key *,
				 const struct cmp_flow_stats *, void *),
		      void *arg);

const char *cmp_reason_name(enum cmp_reason r);
const char *cmp_kind_name(enum cmp_kind k);

/* "tcp 10.0.0.2:80 > 10.0.0.1:4123 vlan 100" into BUF; returns BUF. */
char *cmp_key_format(const struct cmp_flow_key *k, char *buf, size_t len);

/*
 * Rewrite the TCP window of FRAME (a RELEASE with patch_window).  With
 * CSUM_PARTIAL (NFQA_SKB_CSUMNOTREADY) the checksum is left alone, since
 * the kernel completes it later; otherwise it is updated (RFC 1624).
 * Returns false if FRAME is not a TCP frame that can be patched.
 */
bool cmp_patch_window(uint8_t *frame, size_t len, enum cmp_link link,
		      uint16_t window, bool csum_partial);

#endif
