/*
 * codec: zstd streaming per direction, framed (see codec.h, proto.h).
 */
#include <errno.h>
#include <string.h>

#include <zstd.h>

#include "relay/codec.h"

/* ---- encoder ---------------------------------------------------------------- */

int rly_enc_init(struct rly_enc *e, bool zstd, int level)
{
	ZSTD_CCtx *z;

	memset(e, 0, sizeof(*e));
	e->level = level;
	if (!zstd)
		return 0;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return -EINVAL;
	z = ZSTD_createCCtx();
	if (!z)
		return -ENOMEM;
	ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, level);
	/* Levels up to 19 use windows of at most 8 MiB; above, cap them to
	 * what every decoder accepts (RLY_WINDOW_LOG). */
	if (level > 19)
		ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, RLY_WINDOW_LOG);
	e->zc = z;
	return 0;
}

void rly_enc_free(struct rly_enc *e)
{
	ZSTD_freeCCtx(e->zc);
	e->zc = NULL;
}

/* Compress RAW[N] into DST[CAP], flushed: the bytes written, or 0 if
 * zstd failed or the output did not fit (never expected: CAP has slack). */
static size_t deflate_flush(ZSTD_CCtx *z, const uint8_t *raw, size_t n,
			    uint8_t *dst, size_t cap)
{
	ZSTD_inBuffer in = { raw, n, 0 };
	ZSTD_outBuffer out = { dst, cap, 0 };
	size_t left;

	do {
		left = ZSTD_compressStream2(z, &out, &in, ZSTD_e_flush);
		if (ZSTD_isError(left))
			return 0;
	} while (left && out.pos < out.size);
	return left ? 0 : out.pos;
}

ssize_t rly_enc_data(struct rly_enc *e, const uint8_t *raw, size_t n,
		     struct buf *out)
{
	struct rly_hdr h = { .type = RLY_DATA };
	size_t cap, wire;
	uint8_t *p;

	if (!n || n > RLY_RAW_MAX)
		return -EINVAL;
	cap = e->zc ? n + (n >> 6) + 1024 : n;
	if (cap > RLY_WIRE_MAX)
		cap = RLY_WIRE_MAX;
	if (buf_reserve(out, RLY_HDR_LEN + cap) < 0)
		return -ENOMEM;
	p = buf_tail(out);
	if (e->zc) {
		wire = deflate_flush(e->zc, raw, n, p + RLY_HDR_LEN, cap);
		if (!wire)
			return -EIO;
	} else {
		memcpy(p + RLY_HDR_LEN, raw, n);
		wire = n;
	}
	h.raw_len = (uint32_t)n;
	h.wire_len = (uint32_t)wire;
	h.data_crc = rly_crc32c(0, raw, n);
	rly_put_hdr(p, &h);
	buf_commit(out, RLY_HDR_LEN + wire);
	e->frames++;
	e->raw_bytes += n;
	e->wire_bytes += RLY_HDR_LEN + wire;
	return (ssize_t)(RLY_HDR_LEN + wire);
}

int rly_put_ctl(struct buf *out, enum rly_type type)
{
	struct rly_hdr h = { .type = (uint8_t)type };
	uint8_t b[RLY_HDR_LEN];

	rly_put_hdr(b, &h);
	return buf_append(out, b, sizeof(b));
}

int rly_put_hello_buf(struct buf *out, const struct rly_hello *h)
{
	uint8_t b[RLY_HELLO_LEN];

	rly_put_hello(b, h);
	return buf_append(out, b, sizeof(b));
}

/* ---- decoder ---------------------------------------------------------------- */

void rly_dec_init(struct rly_dec *d)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->in);
}

void rly_dec_free(struct rly_dec *d)
{
	buf_free(&d->in);
	ZSTD_freeDCtx(d->zd);
	d->zd = NULL;
}

uint8_t *rly_dec_reserve(struct rly_dec *d, size_t n)
{
	return buf_reserve(&d->in, n) < 0 ? NULL : buf_tail(&d->in);
}

void rly_dec_commit(struct rly_dec *d, size_t n)
{
	buf_commit(&d->in, n);
}

int rly_dec_append(struct rly_dec *d, const uint8_t *p, size_t n)
{
	return buf_append(&d->in, p, n);
}

static int fail(struct rly_dec *d, enum rly_perr e)
{
	d->err = e;
	return -1;
}

static int take_hello(struct rly_dec *d, struct rly_event *ev)
{
	size_t len = buf_len(&d->in);
	enum rly_perr e;

	e = rly_get_hello(buf_data(&d->in), len < RLY_HELLO_LEN ? len :
			  RLY_HELLO_LEN, &d->hello);
	if (e != RLY_OK)
		return fail(d, e);
	if (len < RLY_HELLO_LEN)
		return 0;
	if (d->hello.flags & RLY_HF_ZSTD) {
		d->zd = ZSTD_createDCtx();
		if (!d->zd || ZSTD_isError(ZSTD_DCtx_setParameter(d->zd,
				ZSTD_d_windowLogMax, RLY_WINDOW_LOG)))
			return fail(d, RLY_E_NOMEM);
	}
	buf_consume(&d->in, RLY_HELLO_LEN);
	d->hello_seen = true;
	ev->type = RLY_EV_HELLO;
	ev->raw_len = 0;
	ev->wire_len = RLY_HELLO_LEN;
	return 1;
}

/* Decompress SRC[N] into DST, which has room for exactly RAW + 1 bytes:
 * true if it gave exactly RAW bytes and took all of SRC.  The spare byte
 * catches a chunk that decodes to more than it claims. */
static bool inflate_exact(ZSTD_DCtx *z, const uint8_t *src, size_t n,
			  uint8_t *dst, size_t raw)
{
	ZSTD_inBuffer in = { src, n, 0 };
	ZSTD_outBuffer out = { dst, raw + 1, 0 };
	size_t r, in_was, out_was;

	for (;;) {
		in_was = in.pos;
		out_was = out.pos;
		r = ZSTD_decompressStream(z, &out, &in);
		if (ZSTD_isError(r))
			return false;
		if (out.pos == out.size)
			return false;		/* more than RAW */
		if (in.pos == in.size && out.pos == out_was)
			break;			/* all taken, all flushed */
		if (in.pos == in_was && out.pos == out_was)
			return false;		/* no progress */
	}
	return out.pos == raw;
}

/* The payload of a DATA frame whose header H is valid and whose bytes
 * are all in the input buffer. */
static int take_data(struct rly_dec *d, const struct rly_hdr *h,
		     struct buf *out)
{
	const uint8_t *src = buf_data(&d->in) + RLY_HDR_LEN;
	uint8_t *dst;

	if (buf_reserve(out, (size_t)h->raw_len + 1) < 0)
		return fail(d, RLY_E_NOMEM);
	dst = buf_tail(out);
	if (d->zd) {
		if (!inflate_exact(d->zd, src, h->wire_len, dst, h->raw_len))
			return fail(d, RLY_E_DATA);
	} else {
		memcpy(dst, src, h->raw_len);
	}
	if (rly_crc32c(0, dst, h->raw_len) != h->data_crc)
		return fail(d, RLY_E_DATA);
	buf_commit(out, h->raw_len);
	return 0;
}

int rly_dec_next(struct rly_dec *d, struct buf *out, struct rly_event *ev)
{
	size_t len = buf_len(&d->in), total;
	struct rly_hdr h;
	enum rly_perr e;

	if (d->err)
		return -1;
	if (!d->hello_seen)
		return len ? take_hello(d, ev) : 0;
	if (!len)
		return 0;
	e = rly_get_hdr(buf_data(&d->in), len < RLY_HDR_LEN ? len :
			RLY_HDR_LEN, d->zd != NULL, &h);
	if (e != RLY_OK)
		return fail(d, e);
	if (len < RLY_HDR_LEN)
		return 0;
	total = RLY_HDR_LEN + (size_t)h.wire_len;
	if (len < total)
		return 0;
	if (h.type == RLY_DATA && take_data(d, &h, out) < 0)
		return -1;
	buf_consume(&d->in, total);
	d->frames++;
	d->raw_bytes += h.raw_len;
	d->wire_bytes += total;
	ev->type = h.type == RLY_DATA ? RLY_EV_DATA :
		   h.type == RLY_PING ? RLY_EV_PING : RLY_EV_END;
	ev->raw_len = h.raw_len;
	ev->wire_len = (uint32_t)total;
	return 1;
}
