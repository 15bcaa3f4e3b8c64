/*
 * chan: the proxy channel, one TCP connection between the primary's and
 * the secondary's proxy (framing in wire.h).  The primary listens and
 * accepts only its configured peer; the secondary connects and reconnects
 * after a break.  Both send HELLO first, then sequenced messages.
 *
 * Loss is made visible, never hidden: a message that cannot be queued (the
 * connection is down, or the send buffer is full) still uses up its
 * sequence number, so the receiver sees the gap; HELLO tells each side
 * where the other stands after a reconnection; a peer whose instance
 * changed (it restarted) is reported as such.  What to do about it (ask
 * for a checkpoint) is the proxy's decision.
 */
#ifndef COLO_PROXY_CHAN_H
#define COLO_PROXY_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "colo-proxy/wire.h"
#include "common/cfg.h"

struct loop;

struct chan_config {
	bool listen;			/* primary: accept; secondary: connect */
	struct cfg_addr listen_addr;
	struct cfg_addr peer;		/* accept only this address / connect */
	uint8_t role;			/* enum wire_role */
	char name[WIRE_NAME_MAX];	/* pair name, must match the peer's */
	uint64_t buffer;		/* bytes queued at most */
	uint64_t keepalive_ms, timeout_ms, reconnect_ms;
	char congestion[16];		/* TCP_CONGESTION; "" = the system's */
};

/* What a (re)connection found out. */
struct chan_up_info {
	const struct wire_hello *peer;
	bool first;			/* first connection to any peer */
	bool restarted;			/* the peer's instance changed */
	uint32_t rx_missed;		/* peer's messages we never got */
	uint32_t tx_missed;		/* our messages the peer never got */
};

struct chan_events {
	void (*on_up)(void *arg, const struct chan_up_info *info);
	void (*on_down)(void *arg, const char *why);
	/* a sequenced message; MISSED > 0 if messages before it were lost.
	 * PAYLOAD lies in the channel's own buffers, valid until the
	 * callback returns: the receiver may change it in place. */
	void (*on_msg)(void *arg, const struct wire_hdr *h, uint8_t *payload,
		       uint32_t missed);
	void *arg;
};

struct chan_stats {
	uint64_t connects, disconnects, refused, proto_errors, timeouts;
	uint64_t peer_restarts;
	uint64_t tx_msgs, tx_bytes, tx_dropped_down, tx_dropped_full;
	uint64_t tx_direct;		/* written without a copy into txb */
	uint64_t rx_msgs, rx_bytes, rx_gaps, rx_missed, tx_missed;
	uint64_t buffered, buffered_max;
};

struct chan;

/* NAME is usable as [channel] congestion: "system", or 1..15 of [a-z0-9_-]. */
bool chan_cc_name_ok(const char *name);

/*
 * Start listening (primary) or connecting (secondary).  A congestion
 * control the kernel does not have is an error here (ERR quotes it), not a
 * silent fallback at each connection.
 */
int chan_new(struct loop *loop, const struct chan_config *cfg,
	     const struct chan_events *ev, struct chan **out, char *err,
	     size_t errlen);
void chan_free(struct chan *ch);

/*
 * Queue one message: header fields from the arguments, payload the
 * concatenation of P1 (L1 bytes) and P2 (L2 bytes).  0, -ENOTCONN (down)
 * or -ENOBUFS (buffer full); in both error cases the sequence number is
 * used up all the same.  -EMSGSIZE if the payload is too long (no seq).
 */
int chan_send(struct chan *ch, uint8_t type, uint16_t flags, uint16_t aux,
	      uint32_t epoch, const void *p1, size_t l1, const void *p2,
	      size_t l2);

/* Write what is queued (from the loop's before-sleep hook). */
void chan_flush(struct chan *ch);

bool chan_is_up(const struct chan *ch);
/* "up 10.9.0.2:41234", "down (connecting to 10.9.0.1:7701)", ... */
void chan_describe(const struct chan *ch, char *buf, size_t len);
const struct chan_stats *chan_get_stats(const struct chan *ch);
/* Close the connection (tests, mode changes); a secondary reconnects. */
void chan_drop(struct chan *ch, const char *why);

#endif /* COLO_PROXY_CHAN_H */
