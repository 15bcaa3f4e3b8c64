/*
 * relay: the colo-relay daemon's sockets and timers around the pure parts
 * (proto, codec, stats): one listening socket, at most one relayed
 * connection (QEMU has one migration channel), a control socket.
 *
 *   primary (host A)                          secondary (host B)
 *   QEMU -migrate tcp:LISTEN-> [local|peer] ==TCP==> [peer|local] -> QEMU -incoming
 *                              relay A    zstd frames  relay B
 *
 * A relayed connection (struct relay_sess) goes through:
 *
 *   primary:   accept QEMU -> CONNECT (the peer relay) -> HELLO (ours sent,
 *              awaiting the answer) -> UP -> DRAIN -> closed
 *   secondary: accept peer -> HELLO (awaiting the primary's) -> CONNECT
 *              (the SVM's -incoming) -> UP (our HELLO sent) -> DRAIN -> closed
 *
 * In UP each relay reads its QEMU socket into DATA frames toward the peer
 * and decodes the peer's frames toward its QEMU.  Back-pressure: a socket
 * is read only while the output buffer of the other one holds less than
 * [relay] buffer bytes, and the peer's frames are decoded only while the
 * QEMU socket's output has room; memory per connection is bounded by
 * about 2 x (buffer + a frame) + one read.
 *
 * Ends.  QEMU closing its socket, or an END from the peer, is a clean end:
 * the bytes before it are delivered, the END passed on, then both sockets
 * closed (DRAIN, bounded by [timeouts] timeout).  Anything else is a
 * fault: garbage, a wrong version or pair, a truncated stream, a peer that
 * closes without END or is silent for [timeouts] timeout, a connect or
 * handshake that takes too long.  A fault is logged, counted (stats.h),
 * and closes both sockets at once, so that both QEMUs see the channel die
 * and COLO fails over (QEMU's colo.c treats a broken channel as a failover
 * request); nothing waits without a timer.
 *
 * A new QEMU connection while one is relayed is refused (counted busy);
 * on the secondary a new peer connection is handshaken beside the live one
 * and replaces it once its HELLO is valid (the primary relay started a new
 * connection: the old one is dead from its side).
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "relay/codec.h"
#include "relay/conf.h"
#include "relay/stats.h"

struct loop;
struct ctl;

enum relay_state {
	RS_CONNECT,		/* connecting: primary to the peer relay,
				   secondary to the SVM's QEMU */
	RS_HELLO,		/* awaiting the peer's HELLO */
	RS_UP,			/* relaying */
	RS_DRAIN,		/* ending: flushing, then closing */
};

/* One socket of a relayed connection. */
struct relay_end {
	int fd;			/* -1: none */
	struct buf out;		/* bytes to write to it */
	bool connecting;
	bool eof;		/* read its EOF */
	bool wr_shut;		/* shutdown(SHUT_WR) done */
	unsigned events;	/* LOOP_* watched */
	char addr[64];		/* the other end, for logs */
};

struct relay_sess {
	struct relay *r;
	enum relay_state state;
	uint64_t id;		/* session id; 0 until known */
	struct relay_end local;	/* QEMU */
	struct relay_end peer;	/* the other relay */
	struct rly_enc enc;	/* local -> peer */
	struct rly_dec dec;	/* peer -> local */
	bool dec_full;		/* decoding paused: local.out is full */
	bool sent_end;		/* DRAIN: we sent END (else we got one) */
	bool first_read;	/* primary: QEMU's first bytes not seen yet */
	uint64_t deadline_ms;	/* CONNECT, HELLO, DRAIN; 0: none */
	uint64_t last_rx_ms, last_tx_ms;	/* peer relay */
	uint64_t since_ms;
	uint8_t refusal;	/* secondary: status to answer, then close */
};

struct relay {
	struct loop *loop;
	struct relay_conf cf;
	uint32_t pair;
	int lfd;
	uint16_t port;		/* the listening port (bound) */
	struct relay_sess *cur;		/* the relayed connection */
	struct relay_sess *pending;	/* secondary: a peer handshaking
					   beside cur, to replace it */
	uint8_t *rxbuf;		/* one read from QEMU */
	uint64_t tick_timer;
	uint64_t start_ms;
	struct ctl *ctl;
	struct rly_stats st;
	char last_fault[192];	/* the last fault's message, for status */
};

/*
 * Listen, open the control socket (if CTL), start the timer: 0, or -errno
 * with the reason in ERR (R is then stopped and may be freed).  CF is
 * copied.  Two relays may share a loop (the tests run a pair in one).
 */
int relay_start(struct relay *r, struct loop *loop,
		const struct relay_conf *cf, bool ctl, char *err,
		size_t errlen);

/* Close everything (a relayed connection is aborted), free memory. */
void relay_stop(struct relay *r);

/* The control socket's handler (status.c): common/ctl.h's protocol. */
int relay_ctl(void *arg, char *line, struct buf *out);

const char *relay_state_name(enum relay_state st);

#endif /* RELAY_RELAY_H */
