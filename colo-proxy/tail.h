/*
 * tail: the secondary's own TCP output of the current epoch, kept so that
 * a takeover can send it at once.
 *
 * While protected, the SVM's output never leaves host B: it is rewritten
 * into the PVM's sequence space, sent to the primary and dropped here, and
 * the SVM's TCP counts it as sent. When host A dies, the answers the
 * clients are waiting for sit in the SVM's retransmission queue until its
 * retransmission timer fires (200 ms and more, doubling): the failover
 * would take that long after the takeover. Re-sending the tail at
 * takeover is an early retransmission of the now authoritative VM's own
 * output: segments the client already got from the PVM are identical
 * bytes at the same sequence numbers (it drops them), the rest it was
 * waiting for.
 *
 * Only the current epoch: output from before the last completed
 * checkpoint came from a state the checkpoint replaced (and may differ
 * from what the client got); the SVM's RESUME clears the tail. Only TCP:
 * a repeated UDP datagram would reach the application twice.
 *
 *   frames[]  ring, oldest first; full: the oldest is forgotten (the SVM
 *             retransmits those itself, only later). A slot keeps its
 *             buffer (up to TAIL_KEEP_CAP) for the next packet, so the
 *             SVM's output path does not allocate for every segment.
 */
#ifndef COLO_PROXY_TAIL_H
#define COLO_PROXY_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAIL_FRAMES 256
#define TAIL_BYTES (4u << 20)
#define TAIL_KEEP_CAP 4096

struct tail_frame {
	uint8_t *data;		/* an IP packet, as the queue gave it */
	uint32_t len;
	uint32_t cap;		/* of data: slots keep small buffers for reuse */
	bool csum_partial;
};

struct tail {
	struct tail_frame f[TAIL_FRAMES];
	unsigned head, n;	/* oldest at f[head] */
	size_t bytes;
	uint64_t kept, forgotten, cleared;
};

/* Keep a copy of the IP packet DATA if it is TCP (and not a bare ACK with
 * nothing to say: those carry no output). */
void tail_add(struct tail *t, const uint8_t *data, uint32_t len,
	      bool csum_partial);
void tail_clear(struct tail *t);
/* Clear and release every buffer. */
void tail_free(struct tail *t);

/* Call FN on each kept packet, oldest first, then clear. */
void tail_flush(struct tail *t,
		void (*fn)(void *arg, const struct tail_frame *f), void *arg);

#endif /* COLO_PROXY_TAIL_H */
