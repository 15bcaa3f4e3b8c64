/*
 * hbmsg: colo-heartbeat's wire format, authentication and replay guard.
 * Pure: no syscalls, no clock (time comes in), no logging.
 *
 * One UDP datagram per message, fixed layout, big-endian:
 *
 *    0  "CHB" version(1)        4  type  5 role  6 state  7 flags
 *    8  node  9 path  10 reserved(2, zero)        12 pair id (FNV-1a of name)
 *   16  boot      random per daemon start
 *   24  seq       per sender, +1 for every message it sends (any path)
 *   32  echo_boot the boot and seq of the last message the sender got
 *   40  echo_seq    from the addressee (0 if none yet)
 *   48  term      the pair's generation: +1 at every failover
 *   56  arg       CLAIM: the term claimed; VERDICT: the term decided
 *   64  verdict   VERDICT: 1 grant, 2 refuse, 3 defer  65 reserved(7, 0)
 *   72  HMAC-SHA256(key, bytes 0..71)            104 end
 *
 * Replay protection without synchronised clocks: a message proves that
 * its sender is alive *now* only if it echoes a seq that the receiver
 * sent less than max_age ago (it was written after that). Within one boot
 * each seq counts once: a seq seen before, or older than the window of
 * HB_SEQ_WINDOW up to the newest, is a replay (the window, because the
 * messages take turns on two paths and one path may deliver later than
 * the other: the newest seq came by the faster); a message of an unknown
 * boot (a restarted peer, or a recording of an old one) is believed only
 * once it echoes a fresh seq of ours, which a recording cannot do.
 */
#ifndef HEARTBEAT_HBMSG_H
#define HEARTBEAT_HBMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HB_WIRE_LEN 104
#define HB_KEY_LEN 32
#define HB_MAC_LEN 32
#define HB_VERSION 1
#define HB_SENT_RING 1024	/* our own recent sends remembered */

enum hb_type { HB_BEAT = 1, HB_CLAIM = 2, HB_VERDICT = 3, HB_TYPE_MAX };

/* Which daemon sent it. Node ids: 1 = a, 2 = b (the pair), 3 = witness. */
enum hb_role { HB_ROLE_PRIMARY = 1, HB_ROLE_SECONDARY = 2,
	       HB_ROLE_WITNESS = 3, HB_ROLE_MAX };

enum hb_flag {
	HB_F_VM_UP = 1U << 0,	/* the sender's VM answers QMP */
	HB_F_COLO = 1U << 1,	/* ... and is in COLO now */
	HB_F_SERVING = 1U << 2,	/* its VM's output reaches the LAN */
	HB_F_READY = 1U << 3,	/* its VM waits for a COLO migration
				   (-incoming, x-colo set): re-protectable */
	HB_F_ALL = (1U << 4) - 1,
};

/* GRANT: serve at the term; REFUSE: the term went to the other node
 * (final); DEFER: not yet (the other node still looks alive), ask again */
enum hb_verdict { HB_GRANT = 1, HB_REFUSE = 2, HB_DEFER = 3 };

struct hb_msg {
	uint8_t type, role, state, flags, node, path;
	uint32_t pair;
	uint64_t boot, seq, echo_boot, echo_seq, term, arg;
	uint8_t verdict;
};

enum hb_decode {
	HB_OK = 0,
	HB_BAD_LENGTH,
	HB_BAD_MAGIC,		/* not ours at all */
	HB_BAD_VERSION,
	HB_BAD_PAIR,		/* another pair's (a different key is likelier) */
	HB_BAD_MAC,		/* forged, or the wrong key */
	HB_BAD_FIELD,		/* authentic but nonsensical: a bug */
};

/* FNV-1a of the pair's name: keeps pairs sharing a network apart. */
uint32_t hb_pair_id(const char *name);

/* Serialise and sign M into OUT. */
void hb_encode(const struct hb_msg *m, const uint8_t key[HB_KEY_LEN],
	       uint8_t out[HB_WIRE_LEN]);

/* Check and parse one datagram; HB_OK fills M. */
enum hb_decode hb_decode(const uint8_t *buf, size_t len,
			 const uint8_t key[HB_KEY_LEN], uint32_t pair,
			 struct hb_msg *m);
const char *hb_decode_name(enum hb_decode d);

/* Our sends, for checking echoes: the time each recent seq was sent. */
struct hb_sent {
	uint64_t boot;
	uint64_t next_seq;			/* first is 1 */
	uint64_t t_ns[HB_SENT_RING];		/* by seq % HB_SENT_RING */
};

void hb_sent_init(struct hb_sent *s, uint64_t boot);
/* Take the next seq for a message sent at NOW. */
uint64_t hb_sent_next(struct hb_sent *s, uint64_t now_ns);
/* true if (BOOT, SEQ) is ours and was sent at most MAX_AGE_NS before NOW */
bool hb_sent_fresh(const struct hb_sent *s, uint64_t boot, uint64_t seq,
		   uint64_t now_ns, uint64_t max_age_ns);

/* What we know of one remote daemon's message stream. */
struct hb_remote {
	uint64_t boot, last_seq;	/* proven incarnation; boot 0: none */
	/* which of the HB_SEQ_WINDOW seqs up to last_seq were seen: bit i
	 * for last_seq - i. A sender's messages take turns on the paths
	 * (one seq each), and one path may deliver later than the other:
	 * a seq below the newest is new if it is in the window and unseen */
	uint64_t seen;
	uint64_t last_fresh_ns;		/* when it last proved itself */
	uint64_t last_rx_ns;		/* its last new message, proven or not */
	uint64_t cand_boot, cand_seq;	/* newest unproven other boot */
	uint64_t cand_ns;		/* ... received then */
	uint64_t restarts;		/* proven boots after the first */
};

enum hb_accept {
	HB_FRESH = 0,		/* authentic, new, and proves liveness now */
	HB_UNPROVEN,		/* authentic and new, but echoes nothing
				   fresh of ours: first contact, a restarted
				   peer's first message, or a recording */
	HB_REPLAYED,		/* a seq already seen from this boot, or
				   older than the window */
};

#define HB_SEQ_WINDOW 64

/* Judge an authentic message M from R at NOW against our sends S. */
enum hb_accept hb_accept(struct hb_remote *r, const struct hb_msg *m,
			 const struct hb_sent *s, uint64_t now_ns,
			 uint64_t max_age_ns);

/* The (boot, seq) to echo in our next message to R: its proven stream
 * while that speaks (new messages within max_age, proven or not: after a
 * partition heals, each side must echo the other's latest), else the
 * newest candidate (so that a restarted peer can prove itself). A
 * recording cannot displace a stream that speaks. */
void hb_echo(const struct hb_remote *r, uint64_t now_ns, uint64_t max_age_ns,
	     uint64_t *boot, uint64_t *seq);

const char *hb_role_name(int role);
/* "a", "b", "witness" for node ids 1, 2, 3; "-" otherwise */
const char *hb_node_name(int node);

#endif /* HEARTBEAT_HBMSG_H */
