/*
 * codec: one direction of a relayed connection, as bytes in and bytes out.
 * Pure: no syscalls, no clock, no logging (zstd and malloc only).
 *
 *   sender:    QEMU's bytes --read--> rly_enc_data() --> [hdr|zstd] --> peer
 *   receiver:  peer --> rly_dec_reserve/commit() --> rly_dec_next() --> QEMU
 *
 * The encoder compresses each read on its own zstd stream and flushes it
 * (ZSTD_e_flush): every frame can be decoded as soon as it arrives, so a
 * 4-byte COLO message is not held back waiting for more (the channel is
 * request/reply; holding it would stall it).  The zstd frame itself never
 * ends: history carries over from chunk to chunk.
 *
 * The decoder takes wire bytes into its input buffer and hands out one
 * event per call: the peer's HELLO first, then DATA (its raw bytes
 * appended to the caller's buffer), PING or END.  It decodes one frame per
 * call, so that the caller can stop when its output buffer is full and
 * leave the rest compressed (bounded memory: a 1 MiB chunk of zeros is a
 * few hundred bytes on the wire).  Any error is final: the decoder stays
 * in it, d->err says which.
 *
 *   rly_dec_init(&d);
 *   on readable: p = rly_dec_reserve(&d, N); n = recv(fd, p, N); rly_dec_commit(&d, n);
 *                while (room in out && (r = rly_dec_next(&d, &out, &ev)) == 1)
 *                        act on ev;
 *                r < 0: protocol error (d.err), close
 *   on EOF:      rly_dec_buffered(&d) > 0: the peer stopped mid-frame
 */
#ifndef RELAY_CODEC_H
#define RELAY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "relay/proto.h"

struct rly_enc {
	void *zc;		/* ZSTD_CCtx; NULL: raw frames */
	int level;
	uint64_t frames, raw_bytes, wire_bytes;
};

/* 0; -ENOMEM; -EINVAL for a LEVEL zstd does not have. */
int rly_enc_init(struct rly_enc *e, bool zstd, int level);
void rly_enc_free(struct rly_enc *e);

/* Append one DATA frame carrying RAW[N] (1 <= N <= RLY_RAW_MAX), flushed,
 * to OUT.  The frame's size on the wire (header included), or -ENOMEM,
 * -EINVAL (N out of range) or -EIO (zstd failed: the stream is lost).
 * On error OUT is unchanged. */
ssize_t rly_enc_data(struct rly_enc *e, const uint8_t *raw, size_t n,
		     struct buf *out);

/* Append a PING or END frame (RLY_HDR_LEN bytes): 0 or -ENOMEM. */
int rly_put_ctl(struct buf *out, enum rly_type type);

/* Append a HELLO: 0 or -ENOMEM. */
int rly_put_hello_buf(struct buf *out, const struct rly_hello *h);

enum rly_ev { RLY_EV_HELLO, RLY_EV_DATA, RLY_EV_PING, RLY_EV_END };

struct rly_event {
	enum rly_ev type;
	uint32_t raw_len;	/* DATA: bytes appended to the output */
	uint32_t wire_len;	/* bytes taken from the input */
};

struct rly_dec {
	struct buf in;		/* wire bytes not yet decoded */
	void *zd;		/* ZSTD_DCtx, once the HELLO says zstd */
	bool hello_seen;
	struct rly_hello hello;	/* the peer's, once hello_seen */
	enum rly_perr err;	/* RLY_OK until an error, then final */
	uint64_t frames, raw_bytes, wire_bytes;
};

void rly_dec_init(struct rly_dec *d);
void rly_dec_free(struct rly_dec *d);

/* Room for N more wire bytes: where to write them, or NULL (ENOMEM). */
uint8_t *rly_dec_reserve(struct rly_dec *d, size_t n);
/* N bytes were written at the place rly_dec_reserve() gave. */
void rly_dec_commit(struct rly_dec *d, size_t n);
/* Copy N bytes in: 0 or -ENOMEM. */
int rly_dec_append(struct rly_dec *d, const uint8_t *p, size_t n);

/*
 * Decode the next HELLO or frame: 1 (an event in *EV; DATA appended its
 * raw bytes to OUT), 0 (more bytes needed), -1 (error, d->err).  A HELLO
 * whose version is not ours is RLY_E_VERSION with d->hello.version set;
 * a HELLO's other checks are the caller's (role, pair, session, status).
 */
int rly_dec_next(struct rly_dec *d, struct buf *out, struct rly_event *ev);

/* Wire bytes received but not yet decoded: non-zero at the peer's EOF
 * means it stopped in the middle of a HELLO or frame. */
static inline size_t rly_dec_buffered(const struct rly_dec *d)
{
	return buf_len(&d->in);
}

#endif /* RELAY_CODEC_H */
