/*
 * libFuzzer harness for colo-proxy/wire: arbitrary bytes as a proxy
 * channel stream, cut into chunks the input chooses, through the decoder.
 *
 * Input:  byte 0      low 4 bits: P, the number of plan bytes
 *         bytes 1..P  the chunk plan, used in a cycle: 0 = all the rest,
 *                     1..127 = that many bytes, 128..255 = (b - 127) * 64
 *         the rest    the stream
 *
 * The stream is decoded three ways: with wire_dec_push() in the planned
 * chunks, with wire_dec_feed()/wire_dec_next() in the same chunks, and
 * with wire_dec_push() given everything at once.  Each chunk is copied to
 * a buffer of exactly its size, so ASan sees a read past it.  Checks:
 *   - the decoded messages tile the stream from its start, and each one
 *     re-encodes (wire_put_hdr) to exactly its header bytes, with its
 *     payload byte for byte; a HELLO or ISN payload either re-encodes to
 *     the same bytes or is refused with WIRE_E_PAYLOAD;
 *   - the three runs agree on the message count and on the error;
 *   - an error is the one wire_get_hdr() gives for the bytes where the
 *     failing header starts (or, when fewer than 24 bytes were there,
 *     a magic or version error seen in the bytes that were);
 *   - without an error, every byte was taken and the decoder holds
 *     exactly the bytes after the last message, less than one message;
 *   - push never reports more bytes used than given, returns 0 only when
 *     it took everything; feed takes nothing while a message waits;
 *   - any 20 bytes as header fields: put then get gives them back, or
 *     the type or length error wire_len_ok() predicts.
 * A violated invariant prints "fuzz_wire: invariant violated: ..." and
 * aborts with __builtin_trap().
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_wire: invariant violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

struct plan {
	const uint8_t *b;
	size_t n, i;
};

static size_t next_chunk(struct plan *p, size_t left)
{
	size_t c = 0;

	if (p->n) {
		c = p->b[p->i++ % p->n];
		c = c < 128 ? c : (c - 127) * 64;
	}
	return c == 0 || c > left ? left : c;
}

/* What one decoding saw. */
struct run {
	const uint8_t *s;	/* the whole stream */
	size_t len;
	size_t off;		/* end of the last message */
	int nmsg;
	enum wire_err err;
};

static void check_fixed_payload(const struct wire_hdr *h, const uint8_t *p)
{
	uint8_t again[WIRE_ISN_LEN > WIRE_HELLO_LEN ? WIRE_ISN_LEN :
		      WIRE_HELLO_LEN];
	struct wire_hello hello;
	struct wire_isn isn;
	enum wire_err e;

	if (h->type == WIRE_HELLO) {
		e = wire_get_hello(p, h->len, &hello);
		if (e == WIRE_OK) {
			wire_put_hello(again, &hello);
			if (memcmp(again, p, WIRE_HELLO_LEN))
				fail("HELLO does not re-encode");
			if (!memchr(hello.name, 0, sizeof(hello.name)))
				fail("HELLO name not terminated");
		}
	} else if (h->type == WIRE_ISN) {
		e = wire_get_isn(p, h->len, &isn);
		if (e == WIRE_OK) {
			wire_put_isn(again, &isn);
			if (memcmp(again, p, WIRE_ISN_LEN))
				fail("ISN does not re-encode");
		}
	} else {
		return;
	}
	if (e != WIRE_OK && e != WIRE_E_PAYLOAD)
		fail("fixed payload of the right length: %s", wire_err_name(e));
}

/* A message came out: it must be the next one in the stream. */
static void got_msg(struct run *r, const struct wire_hdr *h,
		    const uint8_t *payload)
{
	uint8_t hb[WIRE_HDR_LEN];

	if (h->len > WIRE_MAX_PAYLOAD || !wire_len_ok(h->type, h->len))
		fail("message %d: bad length %u handed out", r->nmsg,
		     (unsigned)h->len);
	if (r->len - r->off < WIRE_HDR_LEN + (size_t)h->len)
		fail("message %d runs past the stream", r->nmsg);
	if (h->version != WIRE_VERSION)
		fail("message %d: version %u", r->nmsg, h->version);
	wire_put_hdr(hb, h);
	if (memcmp(hb, r->s + r->off, WIRE_HDR_LEN))
		fail("message %d: header does not re-encode", r->nmsg);
	if (h->len && memcmp(payload, r->s + r->off + WIRE_HDR_LEN, h->len))
		fail("message %d: payload differs", r->nmsg);
	check_fixed_payload(h, payload);
	r->off += WIRE_HDR_LEN + h->len;
	r->nmsg++;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, b, n);
	return c;
}

/* Push one chunk; false once the decoder failed. */
static bool push_chunk(struct wire_dec *d, struct run *r, const uint8_t *c,
		       size_t n)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t at, used;
	int ret;

	for (at = 0; at < n; at += used) {
		ret = wire_dec_push(d, c + at, n - at, &used, &h, &payload);
		if (ret < 0) {
			if (used != 0)
				fail("push used %zu on an error", used);
			return false;
		}
		if (used > n - at)
			fail("push used %zu of %zu", used, n - at);
		if (ret == 0 && used != n - at)
			fail("push returned 0 with bytes left");
		if (ret == 1)
			got_msg(r, &h, payload);
		else if (ret != 0)
			fail("push returned %d", ret);
	}
	return true;
}

/* Feed one chunk the way colo-proxy/chan.c does; false on an error. */
static bool feed_chunk(struct wire_dec *d, struct run *r, const uint8_t *c,
		       size_t n)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t at, took;
	int ret;

	for (at = 0; at < n; at += took) {
		took = wire_dec_feed(d, c + at, n - at);
		if (took > n - at)
			fail("feed took %zu of %zu", took, n - at);
		if (d->ready && wire_dec_feed(d, c + at + took, n - at - took))
			fail("feed took bytes while a message waits");
		while ((ret = wire_dec_next(d, &h, &payload)) == 1)
			got_msg(r, &h, payload);
		if (ret < 0)
			return false;
		if (took == 0)
			fail("feed took nothing, no message, no error");
	}
	return true;
}

/* Decode R's stream in the planned chunks; FEED: with feed/next. */
static void decode(struct run *r, struct plan plan, bool feed)
{
	struct wire_dec d;
	size_t off = 0, n;
	uint8_t *c;
	bool ok = true;

	if (wire_dec_init(&d))
		abort();
	while (ok && off < r->len) {
		n = next_chunk(&plan, r->len - off);
		c = dup_bytes(r->s + off, n);
		ok = feed ? feed_chunk(&d, r, c, n) : push_chunk(&d, r, c, n);
		free(c);
		off += n;
	}
	r->err = d.err;
	if (ok != (d.err == WIRE_OK))
		fail("error state and return value disagree");
	if (ok && d.have != r->len - r->off)
		fail("decoder holds %zu bytes, the tail is %zu", d.have,
		     r->len - r->off);
	if (d.have > WIRE_HDR_LEN + WIRE_MAX_PAYLOAD)
		fail("decoder holds %zu bytes", d.have);
	if (d.messages != (uint64_t)r->nmsg)
		fail("messages counter");
	wire_dec_free(&d);
}

/* The error must be what the bytes at the failing header say. */
static void check_error(const struct run *r)
{
	size_t left = r->len - r->off;
	struct wire_hdr h;

	if (r->err == WIRE_OK)
		return;
	if (left >= WIRE_HDR_LEN) {
		if (wire_get_hdr(r->s + r->off, &h) != r->err)
			fail("decoder says %s, wire_get_hdr %s",
			     wire_err_name(r->err),
			     wire_err_name(wire_get_hdr(r->s + r->off, &h)));
	} else if (r->err != WIRE_E_MAGIC && r->err != WIRE_E_VERSION) {
		fail("%s with only %zu header bytes", wire_err_name(r->err),
		     left);
	}
}

/* Any header fields: put, get, compare. */
static void check_fields(const uint8_t *b, size_t n)
{
	struct wire_hdr h, back;
	uint8_t hb[WIRE_HDR_LEN];
	enum wire_err e, want;

	if (n < 20)
		return;
	memset(&h, 0, sizeof(h));
	h.type = b[0];
	h.flags = (uint16_t)(b[1] << 8 | b[2]);
	h.aux = (uint16_t)(b[3] << 8 | b[4]);
	memcpy(&h.len, b + 5, 4);
	if (b[9] & 1)
		h.len %= WIRE_MAX_PAYLOAD + 2;	/* near the limit often */
	memcpy(&h.seq, b + 10, 4);
	memcpy(&h.epoch, b + 14, 4);
	wire_put_hdr(hb, &h);
	e = wire_get_hdr(hb, &back);
	want = h.type == 0 || h.type >= WIRE_TYPE_MAX ? WIRE_E_TYPE :
	       !wire_len_ok(h.type, h.len) ? WIRE_E_LENGTH : WIRE_OK;
	if (e != want)
		fail("fields: got %s, want %s", wire_err_name(e),
		     wire_err_name(want));
	if (e == WIRE_OK && (back.type != h.type || back.flags != h.flags ||
			     back.aux != h.aux || back.len != h.len ||
			     back.seq != h.seq || back.epoch != h.epoch))
		fail("fields do not come back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan plan = { 0 }, whole = { 0 };
	struct run a = { 0 }, b, c;

	if (size < 1)
		return 0;
	plan.n = data[0] & 0x0f;
	if (plan.n > size - 1)
		plan.n = size - 1;
	plan.b = data + 1;
	a.s = data + 1 + plan.n;
	a.len = size - 1 - plan.n;
	b = c = a;
	decode(&a, plan, false);
	decode(&b, plan, true);
	decode(&c, whole, false);
	if (a.nmsg != b.nmsg || a.nmsg != c.nmsg || a.err != b.err ||
	    a.err != c.err)
		fail("runs disagree: push %d %s, feed %d %s, whole %d %s",
		     a.nmsg, wire_err_name(a.err), b.nmsg,
		     wire_err_name(b.err), c.nmsg, wire_err_name(c.err));
	check_error(&a);
	check_fields(a.s, a.len);
	return 0;
}
