/*
 * libFuzzer harness for colo-relay's peer input: relay/proto.c (HELLO and
 * frame headers) and relay/codec.c (the decoder, zstd included), plus the
 * relay's configuration checks.
 *
 * Input: byte 0 picks the mode (b0 % 4); b0 >> 2 are its flags.
 *
 *   0  a stream from the peer.  Byte 1, low 4 bits: P plan bytes; bytes
 *      2..P+1 the chunk plan, used in a cycle (0 = all the rest, 1..127 =
 *      that many bytes, 128..255 = (b - 127) * 64); the rest is the
 *      stream.  With flags bit 0, the harness first writes the right CRCs
 *      into it where a reader would find them (the HELLO's, each header's,
 *      and a raw frame's data CRC), so that the fields behind the CRCs
 *      and zstd's decoder see arbitrary bytes.  The stream is decoded
 *      three ways: in the planned chunks (each
 *      copied to a buffer of exactly its size, so ASan sees a read past
 *      it), all at once, and byte by byte (streams up to 2 KiB).  Checks:
 *      - the three runs agree on every event (type, lengths), on the
 *        output bytes and on the error;
 *      - the events tile the stream from its start: the HELLO is its
 *        first 32 bytes and re-encodes to them; each frame is a header
 *        that an independent model of the format accepts, with the
 *        lengths the event reports; a DATA event appended exactly
 *        raw_len bytes whose CRC32C (computed bit by bit here) is the
 *        header's; without an error, the bytes left are the rest;
 *      - an error is the model's for the bytes where the failing HELLO
 *        or header starts (RLY_E_DATA only for a whole DATA frame whose
 *        header the model accepts), and it is final.
 *   1  a round trip: flags bit 0 zstd, byte 1 the level (int8), byte 2
 *      low 4 bits P plan bytes as above; the rest is data, encoded in the
 *      planned chunks (HELLO, DATA..., END), decoded in other chunks: the
 *      same bytes must come out, without error.  Then one bit of the wire
 *      bytes (chosen by the data's hash) is flipped: the decoder must
 *      fail, or give the very same bytes.
 *   2  32 bytes as a HELLO and 20 as a frame header, whole and as every
 *      prefix (flags bit 1: with their CRCs made right first; bit 0: the
 *      header of a zstd sender): the model's verdict; an accepted one
 *      re-encodes to the same bytes.
 *   3  the rest as a colo-relay configuration file: no crash; accepted
 *      means the cross-option rules hold.
 * A violated invariant prints "fuzz_relay: invariant violated: ..." and
 * aborts with __builtin_trap().
 *
 * Seeds (fuzz/seeds/fuzz_relay/) are inputs of each mode: streams made
 * by the encoder (zstd and raw, big zero chunks, every frame type),
 * garbage, another version, truncations, corrupt payloads, round trips,
 * configurations.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "relay/codec.h"
#include "relay/conf.h"
#include "relay/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_relay: invariant violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

/* memcmp that allows empty (NULL) buffers */
static bool same(const void *a, const void *b, size_t n)
{
	return !n || !memcmp(a, b, n);
}

#define CHECK(c, ...)                                                        \
	do {                                                                 \
		if (!(c))                                                    \
			fail(__VA_ARGS__);                                   \
	} while (0)

/* ---- an independent model of the format ---------------------------------------- */

/* CRC32C bit by bit (RFC 3720): not the code under test. */
static uint32_t model_crc(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

static enum rly_perr model_hello(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n && i < 4; i++)
		if (b[i] != (uint8_t)"CRLY"[i])
			return RLY_E_MAGIC;
	if (n >= 5 && b[4] != 1)
		return RLY_E_VERSION;
	if (n < 32)
		return RLY_OK;
	if (model_crc(b, 28) != get32(b + 28))
		return RLY_E_CRC;
	if (b[5] < 1 || b[5] > 2 || b[6] > 1 || b[7] > 5 || !get64(b + 8))
		return RLY_E_FIELD;
	for (int i = 20; i < 28; i++)
		if (b[i])
			return RLY_E_FIELD;
	return RLY_OK;
}

static enum rly_perr model_hdr(const uint8_t *b, size_t n, bool zstd)
{
	uint32_t raw, wire;

	if ((n >= 1 && b[0] != 0xc0) || (n >= 2 && b[1] != 0xda))
		return RLY_E_MAGIC;
	if (n < 20)
		return RLY_OK;
	if (model_crc(b, 16) != get32(b + 16))
		return RLY_E_CRC;
	raw = get32(b + 4);
	wire = get32(b + 8);
	if (b[2] < 1 || b[2] > 3 || b[3])
		return RLY_E_FIELD;
	if (b[2] != 1)
		return raw || wire || get32(b + 12) ? RLY_E_FIELD : RLY_OK;
	if (!raw || raw > (1u << 20))
		return RLY_E_FIELD;
	if (!zstd)
		return wire == raw ? RLY_OK : RLY_E_FIELD;
	return wire && wire <= (1u << 20) + (1u << 14) ? RLY_OK : RLY_E_FIELD;
}

/* ---- mode 0: a stream -------------------------------------------------------------- */

struct plan {
	const uint8_t *b;
	size_t n, i;
};

static size_t next_chunk(struct plan *p, size_t left)
{
	size_t c;

	if (!p->n)
		return left;
	c = p->b[p->i++ % p->n];
	c = !c ? left : c < 128 ? c : (c - 127) * 64;
	return c < left ? c : left;
}

#define MAX_EV 4096

struct run {
	struct rly_event ev[MAX_EV];
	size_t nev;
	struct buf out;
	enum rly_perr err;	/* the error, RLY_OK if none */
	size_t left;		/* bytes buffered at the end */
	bool hello_seen, zstd;
};

static void drain(struct rly_dec *d, struct run *r)
{
	struct rly_event ev;
	size_t before;
	int n;

	while (!r->err) {
		before = buf_len(&r->out);
		n = rly_dec_next(d, &r->out, &ev);
		if (n < 0) {
			r->err = d->err;
			CHECK(r->err > 0 && r->err < RLY_PERR_MAX,
			      "error %d out of range", r->err);
			CHECK(rly_dec_next(d, &r->out, &ev) == -1 &&
			      d->err == r->err, "an error that did not last");
			CHECK(buf_len(&r->out) == before, "output on error");
			return;
		}
		if (!n)
			return;
		CHECK(buf_len(&r->out) - before == (ev.type == RLY_EV_DATA ?
		      ev.raw_len : 0), "event %zu: %zu bytes out for raw_len "
		      "%u", r->nev, buf_len(&r->out) - before, ev.raw_len);
		if (r->nev < MAX_EV)
			r->ev[r->nev++] = ev;
	}
}

static void decode_run(const uint8_t *s, size_t n, struct plan *p,
		       struct run *r)
{
	struct rly_dec d;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->out);
	rly_dec_init(&d);
	while (off < n && !r->err && r->nev < MAX_EV) {
		size_t k = next_chunk(p, n - off);
		uint8_t *copy;

		if (!k)
			k = 1;
		copy = malloc(k);	/* exactly k: ASan sees overreads */
		if (!copy)
			abort();
		memcpy(copy, s + off, k);
		if (rly_dec_append(&d, copy, k) < 0)
			abort();
		free(copy);
		off += k;
		drain(&d, r);
	}
	r->left = rly_dec_buffered(&d);
	r->hello_seen = d.hello_seen;
	r->zstd = d.zd != NULL;
	rly_dec_free(&d);
}

static void same_runs(const struct run *a, const struct run *b,
		      const char *how)
{
	CHECK(a->err == b->err, "%s: error %d vs %d", how, a->err, b->err);
	CHECK(a->nev == b->nev, "%s: %zu vs %zu events", how, a->nev, b->nev);
	for (size_t i = 0; i < a->nev; i++)
		CHECK(a->ev[i].type == b->ev[i].type &&
		      a->ev[i].raw_len == b->ev[i].raw_len &&
		      a->ev[i].wire_len == b->ev[i].wire_len,
		      "%s: event %zu differs", how, i);
	CHECK(buf_len(&a->out) == buf_len(&b->out) &&
	      same(buf_data(&a->out), buf_data(&b->out), buf_len(&a->out)),
	      "%s: output differs", how);
}

/* The events against the stream and the model (see the top). */
static void check_tiling(const uint8_t *s, size_t n, const struct run *r)
{
	const uint8_t *out = buf_data(&r->out);
	size_t off = 0, o = 0, have;
	bool zstd = n >= 7 && (s[6] & 1);

	for (size_t i = 0; i < r->nev; i++) {
		const struct rly_event *ev = &r->ev[i];

		if (i == 0) {
			uint8_t re[RLY_HELLO_LEN];
			struct rly_hello h;

			CHECK(ev->type == RLY_EV_HELLO && ev->wire_len == 32,
			      "the first event is not the HELLO");
			CHECK(model_hello(s, 32) == RLY_OK, "HELLO accepted "
			      "that the model refuses");
			CHECK(rly_get_hello(s, 32, &h) == RLY_OK, "get_hello");
			rly_put_hello(re, &h);
			CHECK(!memcmp(re, s, 32), "HELLO re-encodes differently");
			off = 32;
			continue;
		}
		CHECK(ev->type != RLY_EV_HELLO, "a second HELLO event");
		CHECK(model_hdr(s + off, n - off, zstd) == RLY_OK,
		      "frame %zu at %zu accepted, the model refuses", i, off);
		CHECK(ev->wire_len == 20 + get32(s + off + 8) &&
		      ev->raw_len == get32(s + off + 4) &&
		      s[off + 2] == (ev->type == RLY_EV_DATA ? 1 :
				     ev->type == RLY_EV_PING ? 2 : 3),
		      "frame %zu: event does not match its header", i);
		if (ev->type == RLY_EV_DATA)
			CHECK(model_crc(&out[o], ev->raw_len) ==
			      get32(s + off + 12), "frame %zu: data crc", i);
		o += ev->raw_len;
		off += ev->wire_len;
	}
	CHECK(o == buf_len(&r->out), "output is not the events' bytes");
	have = n - off;
	if (!r->err) {
		CHECK(r->left == have, "%zu bytes left, %zu not decoded",
		      r->left, have);
		return;
	}
	if (!r->nev) {
		CHECK(model_hello(s, have < 32 ? have : 32) == r->err,
		      "HELLO error %d, the model says %d", r->err,
		      model_hello(s, have < 32 ? have : 32));
		return;
	}
	if (r->err == RLY_E_DATA) {
		CHECK(model_hdr(s + off, have, zstd) == RLY_OK && have >= 20 &&
		      s[off + 2] == 1 && have >= 20 + get32(s + off + 8),
		      "a data error without a whole DATA frame");
		return;
	}
	CHECK(model_hdr(s + off, have < 20 ? have : 20, zstd) == r->err,
	      "header error %d at %zu, the model says %d", r->err, off,
	      model_hdr(s + off, have < 20 ? have : 20, zstd));
}

/* Write the right CRCs where a reader finds them: the HELLO's, then each
 * header's along the frames (and a raw DATA frame's data CRC). */
static void fix_crcs(uint8_t *s, size_t n)
{
	size_t off = 32;
	bool zstd = n >= 7 && (s[6] & 1);

	if (n < 32)
		return;
	put32(s + 28, model_crc(s, 28));
	while (n - off >= 20) {
		uint32_t wire = get32(s + off + 8);

		if (!zstd && s[off + 2] == 1 && wire <= n - off - 20)
			put32(s + off + 12, model_crc(s + off + 20, wire));
		put32(s + off + 16, model_crc(s + off, 16));
		if (wire > n - off - 20)
			break;
		off += 20 + wire;
	}
}

static void mode_stream(unsigned flags, const uint8_t *in, size_t n)
{
	static uint8_t copy[1 << 16];
	const uint8_t *d = in;
	static struct run planned, whole, bytes;
	struct plan p = { 0 }, none = { 0 }, one;
	static const uint8_t b1 = 1;

	if (n < 1)
		return;
	p.n = d[0] & 15;
	if (1 + p.n > n)
		return;
	p.b = d + 1;
	d += 1 + p.n;
	n -= 1 + p.n;
	if ((flags & 1) && n <= sizeof(copy)) {
		memcpy(copy, d, n);
		fix_crcs(copy, n);
		d = copy;
	}
	decode_run(d, n, &p, &planned);
	decode_run(d, n, &none, &whole);
	same_runs(&planned, &whole, "planned vs whole");
	if (n <= 2048) {
		one.b = &b1;
		one.n = 1;
		one.i = 0;
		decode_run(d, n, &one, &bytes);
		same_runs(&bytes, &whole, "bytewise vs whole");
		buf_free(&bytes.out);
	}
	if (whole.nev < MAX_EV)
		check_tiling(d, n, &whole);
	buf_free(&planned.out);
	buf_free(&whole.out);
}

/* ---- mode 1: round trip --------------------------------------------------------------- */

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n--)
		h = (h ^ *p++) * 1099511628211ULL;
	return h;
}

static void mode_round_trip(unsigned flags, const uint8_t *d, size_t n)
{
	static struct run got, flipped;
	struct rly_hello h = { .role = RLY_ROLE_SECONDARY, .session = 9,
			       .pair = 1 };
	struct plan p = { 0 }, other = { 0 };
	struct buf w = BUF_INIT;
	struct rly_enc e;
	bool zstd = flags & 1;
	int level;
	size_t off = 0, bit;
	uint8_t pb[2] = { 200, 3 };

	if (n < 2)
		return;
	level = (int8_t)d[0] % 20;
	p.n = d[1] & 15;
	if (2 + p.n > n)
		return;
	p.b = d + 2;
	d += 2 + p.n;
	n -= 2 + p.n;
	h.flags = zstd ? RLY_HF_ZSTD : 0;
	if (rly_enc_init(&e, zstd, level) < 0)
		abort();
	if (rly_put_hello_buf(&w, &h) < 0)
		abort();
	while (off < n) {
		size_t k = next_chunk(&p, n - off);

		k = k ? k : 1;
		CHECK(rly_enc_data(&e, d + off, k, &w) > 0, "encode %zu", k);
		off += k;
	}
	if (rly_put_ctl(&w, RLY_END) < 0)
		abort();
	rly_enc_free(&e);
	other.b = pb;
	other.n = 2;
	decode_run(buf_data(&w), buf_len(&w), &other, &got);
	CHECK(!got.err, "round trip: error %d", got.err);
	CHECK(got.left == 0, "round trip: %zu bytes left", got.left);
	CHECK(buf_len(&got.out) == n && same(buf_data(&got.out), d, n),
	      "round trip: other bytes out");
	CHECK(got.nev >= 2 && got.ev[got.nev - 1].type == RLY_EV_END,
	      "round trip: no END");
	bit = (size_t)(fnv64(d, n) % (buf_len(&w) * 8));
	((uint8_t *)buf_data(&w))[bit / 8] ^= (uint8_t)(1u << bit % 8);
	decode_run(buf_data(&w), buf_len(&w), &other, &flipped);
	if (!flipped.err)
		CHECK(same(buf_data(&flipped.out), d,
			   buf_len(&flipped.out) < n ? buf_len(&flipped.out) :
			   n), "bit %zu flipped: other bytes out, no error",
		      bit);
	buf_free(&got.out);
	buf_free(&flipped.out);
	buf_free(&w);
}

/* ---- mode 2: fields ------------------------------------------------------------------- */

static void mode_fields(unsigned flags, const uint8_t *d, size_t n)
{
	uint8_t b[RLY_HELLO_LEN] = { 0 }, re[RLY_HELLO_LEN];
	struct rly_hello h;
	struct rly_hdr hd;
	bool zstd = flags & 1;

	memcpy(b, d, n < sizeof(b) ? n : sizeof(b));
	if (flags & 2)
		put32(b + 28, model_crc(b, 28));
	for (size_t k = 0; k <= RLY_HELLO_LEN; k++) {
		enum rly_perr e = rly_get_hello(b, k, &h);

		CHECK(e == model_hello(b, k), "hello prefix %zu: %d vs %d", k,
		      e, model_hello(b, k));
	}
	if (rly_get_hello(b, sizeof(b), &h) == RLY_OK) {
		rly_put_hello(re, &h);
		CHECK(!memcmp(re, b, sizeof(b)), "HELLO re-encodes differently");
	}
	memset(b, 0, sizeof(b));
	if (n > 32)
		memcpy(b, d + 32, n - 32 < RLY_HDR_LEN ? n - 32 : RLY_HDR_LEN);
	if (flags & 2)
		put32(b + 16, model_crc(b, 16));
	for (size_t k = 0; k <= RLY_HDR_LEN; k++)
		CHECK(rly_get_hdr(b, k, zstd, &hd) == model_hdr(b, k, zstd),
		      "header prefix %zu", k);
	if (rly_get_hdr(b, RLY_HDR_LEN, zstd, &hd) == RLY_OK) {
		rly_put_hdr(re, &hd);
		CHECK(!memcmp(re, b, RLY_HDR_LEN), "header re-encodes "
		      "differently");
	}
}

/* ---- mode 3: configuration ---------------------------------------------------------- */

static void mode_conf(const uint8_t *d, size_t n)
{
	struct relay_conf c;
	char err[512];

	if (!relay_conf_parse(&c, (const char *)d, n, err, sizeof(err))) {
		CHECK(err[0], "refused without a message");
		return;
	}
	CHECK(c.control[0] && c.connect.has_port && c.listen.has_port &&
	      c.timeout_ms >= 2 * c.keepalive_ms && c.buffer >= c.chunk &&
	      c.connect_ms < c.timeout_ms &&
	      c.chunk <= RLY_RAW_MAX, "accepted a configuration that breaks "
	      "the rules");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		mode_stream(data[0] >> 2, data + 1, size - 1);
		break;
	case 1:
		mode_round_trip(data[0] >> 2, data + 1, size - 1);
		break;
	case 2:
		mode_fields(data[0] >> 2, data + 1, size - 1);
		break;
	case 3:
		mode_conf(data + 1, size - 1);
		break;
	}
	return 0;
}
