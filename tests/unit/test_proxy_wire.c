/*
 * test_proxy_wire.c - the proxy channel's framing: CRC32C vectors, the
 * header's byte layout, every error class, the fixed payloads, and the
 * incremental decoder fed byte by byte, in odd chunks and all at once.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "colo-proxy/wire.h"

/* A hung test fails instead of hanging the run (see test_common_loop.c). */
static void watchdog(void)
{
	alarm(30);
}

TestSuite(wire_crc, .init = watchdog);
TestSuite(wire_hdr, .init = watchdog);
TestSuite(wire_payload, .init = watchdog);
TestSuite(wire_dec, .init = watchdog);

/* ---- helpers ---------------------------------------------------------------- */

static struct wire_hdr hdr_of(unsigned type, uint32_t len)
{
	struct wire_hdr h = {
		.type = (uint8_t)type, .flags = 0x0102, .aux = 0x0304,
		.len = len, .seq = 0x05060708, .epoch = 0x090a0b0c,
	};

	return h;
}

/* Recompute the crc of a header after a test changed a field. */
static void fix_crc(uint8_t *b)
{
	uint32_t c = wire_crc32c(0, b, 20);

	b[20] = (uint8_t)(c >> 24);
	b[21] = (uint8_t)(c >> 16);
	b[22] = (uint8_t)(c >> 8);
	b[23] = (uint8_t)c;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 31 + seed + i / 253);
}

/* ---- CRC32C ------------------------------------------------------------------ */

Test(wire_crc, check_value)
{
	cr_expect_eq(wire_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(wire_crc32c(0, "", 0), 0);
}

/* RFC 3720 appendix B.4 */
Test(wire_crc, rfc3720_vectors)
{
	uint8_t b[32];
	int i;

	memset(b, 0, sizeof(b));
	cr_expect_eq(wire_crc32c(0, b, 32), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	cr_expect_eq(wire_crc32c(0, b, 32), 0x62a8ab43u);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	cr_expect_eq(wire_crc32c(0, b, 32), 0x46dd794eu);
	for (i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	cr_expect_eq(wire_crc32c(0, b, 32), 0x113fdb5cu);
}

Test(wire_crc, continues)
{
	uint8_t b[100];
	size_t cut;

	fill(b, sizeof(b), 1);
	for (cut = 0; cut <= sizeof(b); cut++)
		cr_expect_eq(wire_crc32c(wire_crc32c(0, b, cut), b + cut,
					 sizeof(b) - cut),
			     wire_crc32c(0, b, sizeof(b)));
}

/* ---- header ------------------------------------------------------------------ */

Test(wire_hdr, layout_is_big_endian)
{
	static const uint8_t want[20] = {
		0xc0, 0x1e, 1, WIRE_FRAME, 0x01, 0x02, 0x03, 0x04,
		0, 0, 0x01, 0x00, 0x05, 0x06, 0x07, 0x08,
		0x09, 0x0a, 0x0b, 0x0c,
	};
	struct wire_hdr h = hdr_of(WIRE_FRAME, 256);
	uint8_t b[WIRE_HDR_LEN];
	uint32_t c;

	h.version = 0;			/* ignored: WIRE_VERSION is written */
	wire_put_hdr(b, &h);
	cr_expect_arr_eq(b, want, 20);
	c = wire_crc32c(0, want, 20);
	cr_expect_eq(b[20], (uint8_t)(c >> 24));
	cr_expect_eq(b[23], (uint8_t)c);
}

Test(wire_hdr, round_trip_every_type)
{
	static const uint32_t lens[WIRE_TYPE_MAX] = {
		[WIRE_HELLO] = WIRE_HELLO_LEN, [WIRE_FRAME] = 1500,
		[WIRE_ISN] = WIRE_ISN_LEN, [WIRE_LEGACY] = WIRE_ISN_LEN,
	};
	struct wire_hdr h, back;
	uint8_t b[WIRE_HDR_LEN];
	unsigned t;

	for (t = WIRE_HELLO; t < WIRE_TYPE_MAX; t++) {
		h = hdr_of(t, lens[t]);
		wire_put_hdr(b, &h);
		cr_assert_eq(wire_get_hdr(b, &back), WIRE_OK, "type %u", t);
		cr_expect_eq(back.version, WIRE_VERSION);
		cr_expect_eq(back.type, t);
		cr_expect_eq(back.flags, h.flags);
		cr_expect_eq(back.aux, h.aux);
		cr_expect_eq(back.len, h.len);
		cr_expect_eq(back.seq, h.seq);
		cr_expect_eq(back.epoch, h.epoch);
	}
}

Test(wire_hdr, bad_magic_and_version)
{
	struct wire_hdr h = hdr_of(WIRE_KEEPALIVE, 0), back;
	uint8_t b[WIRE_HDR_LEN];

	wire_put_hdr(b, &h);
	b[0] ^= 0x80;
	fix_crc(b);
	cr_expect_eq(wire_get_hdr(b, &back), WIRE_E_MAGIC);
	wire_put_hdr(b, &h);
	b[1] = 0x1f;
	fix_crc(b);
	cr_expect_eq(wire_get_hdr(b, &back), WIRE_E_MAGIC);
	wire_put_hdr(b, &h);
	b[2] = 2;
	fix_crc(b);
	cr_expect_eq(wire_get_hdr(b, &back), WIRE_E_VERSION);
	b[0] = 0;			/* magic is checked first */
	cr_expect_eq(wire_get_hdr(b, &back), WIRE_E_MAGIC);
}

Test(wire_hdr, every_flipped_bit_is_caught)
{
	struct wire_hdr h = hdr_of(WIRE_FRAME, 77), back;
	uint8_t b[WIRE_HDR_LEN];
	int byte, bit;

	for (byte = 0; byte < WIRE_HDR_LEN; byte++) {
		for (bit = 0; bit < 8; bit++) {
			wire_put_hdr(b, &h);
			b[byte] ^= (uint8_t)(1 << bit);
			cr_assert_neq(wire_get_hdr(b, &back), WIRE_OK,
				      "byte %d bit %d", byte, bit);
			if (byte >= 3)
				cr_expect_eq(wire_get_hdr(b, &back),
					     WIRE_E_CRC);
		}
	}
}

Test(wire_hdr, bad_type)
{
	static const unsigned bad[] = { 0, WIRE_TYPE_MAX, 200, 255 };
	struct wire_hdr h = hdr_of(WIRE_KEEPALIVE, 0), back;
	uint8_t b[WIRE_HDR_LEN];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h.type = (uint8_t)bad[i];
		wire_put_hdr(b, &h);
		cr_expect_eq(wire_get_hdr(b, &back), WIRE_E_TYPE, "type %u",
			     bad[i]);
	}
}

struct len_case {
	unsigned type;
	uint32_t len;
	bool ok;
};

ParameterizedTestParameters(wire_hdr, lengths)
{
	static struct len_case cases[] = {
		{ WIRE_HELLO, WIRE_HELLO_LEN, true },
		{ WIRE_HELLO, WIRE_HELLO_LEN - 1, false },
		{ WIRE_HELLO, WIRE_HELLO_LEN + 1, false },
		{ WIRE_HELLO, 0, false },
		{ WIRE_ISN, WIRE_ISN_LEN, true },
		{ WIRE_ISN, WIRE_ISN_LEN - 1, false },
		{ WIRE_ISN, WIRE_ISN_LEN + 1, false },
		{ WIRE_ISN, 0, false },
		{ WIRE_LEGACY, WIRE_ISN_LEN, true },
		{ WIRE_LEGACY, WIRE_ISN_LEN - 1, false },
		{ WIRE_LEGACY, 0, false },
		{ WIRE_FRAME, 0, false },
		{ WIRE_FRAME, 1, true },
		{ WIRE_FRAME, WIRE_MAX_PAYLOAD, true },
		{ WIRE_FRAME, WIRE_MAX_PAYLOAD + 1, false },
		{ WIRE_FRAME, 0x80000000u, false },
		{ WIRE_FRAME, 0xffffffffu, false },
		{ WIRE_KEEPALIVE, 0, true },
		{ WIRE_KEEPALIVE, 1, false },
		{ WIRE_EPOCH, 0, true },
		{ WIRE_EPOCH, 4, false },
		{ WIRE_CKPT_REQ, 0, true },
		{ WIRE_CKPT_REQ, 0xffffffffu, false },
	};

	return cr_make_param_array(struct len_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct len_case *c, wire_hdr, lengths)
{
	struct wire_hdr h = hdr_of(c->type, c->len), back;
	uint8_t b[WIRE_HDR_LEN];

	wire_put_hdr(b, &h);
	cr_expect_eq(wire_len_ok(c->type, c->len), c->ok);
	cr_expect_eq(wire_get_hdr(b, &back), c->ok ? WIRE_OK : WIRE_E_LENGTH,
		     "%s len %u", wire_type_name(c->type), (unsigned)c->len);
}

Test(wire_hdr, names)
{
	int e;

	for (e = WIRE_OK; e <= WIRE_E_PAYLOAD; e++)
		cr_expect_str_neq(wire_err_name(e), "unknown error");
	cr_expect_str_eq(wire_err_name(WIRE_E_CRC), "header crc mismatch");
	cr_expect_str_eq(wire_err_name(99), "unknown error");
	cr_expect_str_eq(wire_type_name(WIRE_HELLO), "HELLO");
	cr_expect_str_eq(wire_type_name(WIRE_KEEPALIVE), "KEEPALIVE");
	cr_expect_str_eq(wire_type_name(WIRE_LEGACY), "LEGACY");
	cr_expect_str_eq(wire_type_name(0), "?");
	cr_expect_str_eq(wire_type_name(WIRE_TYPE_MAX), "?");
	cr_expect_str_eq(wire_type_name(1000), "?");
}

Test(wire_hdr, seq_diff_wraps)
{
	cr_expect_eq(wire_seq_diff(5, 3), 2);
	cr_expect_eq(wire_seq_diff(3, 5), -2);
	cr_expect_eq(wire_seq_diff(0, 0xffffffffu), 1);
	cr_expect_eq(wire_seq_diff(0xffffffffu, 0), -1);
	cr_expect_eq(wire_seq_diff(2, 0xfffffffeu), 4);
	cr_expect_eq(wire_seq_diff(0x7fffffffu, 0), INT32_MAX);
	cr_expect_eq(wire_seq_diff(0x80000000u, 0), INT32_MIN);
}

/* ---- HELLO and ISN ------------------------------------------------------- */

static struct wire_hello hello_sample(void)
{
	struct wire_hello m = {
		.role = WIRE_ROLE_SECONDARY, .next_seq = 0xfffffff0u,
		.rx_seq = 7, .epoch = 0x01020304, .instance = 0x1122334455667788ull,
	};

	strcpy(m.name, "pair-a");
	return m;
}

Test(wire_payload, hello_round_trip)
{
	struct wire_hello m = hello_sample(), back;
	uint8_t b[WIRE_HELLO_LEN];

	memset(b, 0xee, sizeof(b));
	wire_put_hello(b, &m);
	cr_expect_eq(b[0], WIRE_ROLE_SECONDARY);
	cr_expect_eq(b[16], 0x11);
	cr_expect_eq(b[23], 0x88);
	cr_expect_str_eq((char *)b + 24, "pair-a");
	cr_expect_eq(b[55], 0);
	cr_assert_eq(wire_get_hello(b, sizeof(b), &back), WIRE_OK);
	cr_expect_eq(back.role, m.role);
	cr_expect_eq(back.next_seq, m.next_seq);
	cr_expect_eq(back.rx_seq, m.rx_seq);
	cr_expect_eq(back.epoch, m.epoch);
	cr_expect_eq(back.instance, m.instance);
	cr_expect_str_eq(back.name, "pair-a");
}

Test(wire_payload, hello_long_name_is_cut_to_31)
{
	struct wire_hello m = hello_sample(), back;
	uint8_t b[WIRE_HELLO_LEN];

	memset(m.name, 'x', sizeof(m.name));	/* no NUL at all */
	wire_put_hello(b, &m);
	cr_assert_eq(wire_get_hello(b, sizeof(b), &back), WIRE_OK);
	cr_expect_eq(strlen(back.name), WIRE_NAME_MAX - 1);
}

Test(wire_payload, hello_errors)
{
	struct wire_hello m = hello_sample(), back;
	uint8_t b[WIRE_HELLO_LEN];

	wire_put_hello(b, &m);
	cr_expect_eq(wire_get_hello(b, WIRE_HELLO_LEN - 1, &back),
		     WIRE_E_LENGTH);
	cr_expect_eq(wire_get_hello(b, WIRE_HELLO_LEN + 1, &back),
		     WIRE_E_LENGTH);
	b[0] = 0;
	cr_expect_eq(wire_get_hello(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	b[0] = 3;
	cr_expect_eq(wire_get_hello(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	wire_put_hello(b, &m);
	b[2] = 1;			/* reserved */
	cr_expect_eq(wire_get_hello(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	wire_put_hello(b, &m);
	memset(b + 24, 'n', WIRE_NAME_MAX);	/* not terminated */
	cr_expect_eq(wire_get_hello(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	wire_put_hello(b, &m);
	b[40] = 'z';			/* junk after the NUL */
	cr_expect_eq(wire_get_hello(b, sizeof(b), &back), WIRE_E_PAYLOAD);
}

static struct wire_isn isn_sample(int family)
{
	struct wire_isn m = {
		.family = (uint8_t)family, .vm_port = 80, .peer_port = 40000,
		.isn = 0xdeadbeef,
	};

	fill(m.vm_addr, 16, 3);
	fill(m.peer_addr, 16, 9);
	return m;
}

Test(wire_payload, isn_round_trip_ipv6)
{
	struct wire_isn m = isn_sample(6), back;
	uint8_t b[WIRE_ISN_LEN];

	wire_put_isn(b, &m);
	cr_expect_eq(b[0], 6);
	cr_expect_eq(b[4], 0);
	cr_expect_eq(b[5], 80);
	cr_expect_eq(b[8], 0xde);
	cr_assert_eq(wire_get_isn(b, sizeof(b), &back), WIRE_OK);
	cr_expect_eq(back.family, 6);
	cr_expect_eq(back.vm_port, 80);
	cr_expect_eq(back.peer_port, 40000);
	cr_expect_eq(back.isn, 0xdeadbeefu);
	cr_expect_arr_eq(back.vm_addr, m.vm_addr, 16);
	cr_expect_arr_eq(back.peer_addr, m.peer_addr, 16);
}

Test(wire_payload, isn_ipv4_uses_four_bytes)
{
	struct wire_isn m = isn_sample(4), back;
	uint8_t b[WIRE_ISN_LEN], zero[12] = { 0 };

	wire_put_isn(b, &m);		/* junk past 4 bytes is not sent */
	cr_expect_arr_eq(b + 16, zero, 12);
	cr_expect_arr_eq(b + 32, zero, 12);
	cr_assert_eq(wire_get_isn(b, sizeof(b), &back), WIRE_OK);
	cr_expect_arr_eq(back.vm_addr, m.vm_addr, 4);
	cr_expect_arr_eq(back.vm_addr + 4, zero, 12);
	cr_expect_arr_eq(back.peer_addr, m.peer_addr, 4);
	cr_expect_arr_eq(back.peer_addr + 4, zero, 12);
}

Test(wire_payload, isn_errors)
{
	struct wire_isn m = isn_sample(4), back;
	uint8_t b[WIRE_ISN_LEN];

	wire_put_isn(b, &m);
	cr_expect_eq(wire_get_isn(b, WIRE_ISN_LEN - 1, &back), WIRE_E_LENGTH);
	cr_expect_eq(wire_get_isn(b, 40, &back), WIRE_E_LENGTH);
	b[0] = 5;
	cr_expect_eq(wire_get_isn(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	b[0] = 0;
	cr_expect_eq(wire_get_isn(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	wire_put_isn(b, &m);
	b[3] = 1;
	cr_expect_eq(wire_get_isn(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	wire_put_isn(b, &m);
	b[20] = 1;			/* IPv4 vm_addr padding */
	cr_expect_eq(wire_get_isn(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	wire_put_isn(b, &m);
	b[43] = 1;			/* IPv4 peer_addr padding */
	cr_expect_eq(wire_get_isn(b, sizeof(b), &back), WIRE_E_PAYLOAD);
	b[0] = 6;			/* fine as IPv6 */
	cr_expect_eq(wire_get_isn(b, sizeof(b), &back), WIRE_OK);
}

/* ---- decoder ------------------------------------------------------------------ */

#define STREAM_MAX (4 * (WIRE_HDR_LEN + WIRE_MAX_PAYLOAD))

static struct wire_dec dec;
static uint8_t *stream;
static size_t stream_len;
static struct wire_hdr sent[16];
static uint8_t *sent_payload[16];
static int nsent;

static void dec_setup(void)
{
	watchdog();
	cr_assert_eq(wire_dec_init(&dec), 0);
	stream = malloc(STREAM_MAX);
	cr_assert(stream);
	stream_len = 0;
	nsent = 0;
}

static void dec_teardown(void)
{
	wire_dec_free(&dec);
	free(stream);
}

TestSuite(wire_stream, .init = dec_setup, .fini = dec_teardown);

/* Add a message to the stream; the payload is a pattern by message. */
static void send_msg(unsigned type, uint32_t len)
{
	struct wire_hdr h = hdr_of(type, len);

	cr_assert_lt(nsent, 16);
	h.seq = (uint32_t)nsent;
	sent[nsent] = h;
	sent_payload[nsent] = stream + stream_len + WIRE_HDR_LEN;
	wire_put_hdr(stream + stream_len, &h);
	fill(stream + stream_len + WIRE_HDR_LEN, len, (unsigned)nsent);
	stream_len += WIRE_HDR_LEN + len;
	nsent++;
}

static void check_msg(int got, const struct wire_hdr *h,
		      const uint8_t *payload)
{
	cr_assert_lt(got, nsent);
	cr_assert_eq(h->type, sent[got].type);
	cr_assert_eq(h->seq, sent[got].seq);
	cr_assert_eq(h->len, sent[got].len);
	cr_assert_eq(memcmp(payload, sent_payload[got], h->len), 0,
		     "payload of message %d", got);
}

/* wire_dec_push() over one chunk; returns the messages decoded. */
static int push_chunk(const uint8_t *b, size_t n, int got)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t at, used;
	int r;

	for (at = 0; at < n; at += used) {
		r = wire_dec_push(&dec, b + at, n - at, &used, &h, &payload);
		cr_assert_geq(r, 0, "error %s", wire_err_name(dec.err));
		cr_assert_leq(used, n - at);
		if (r == 0) {
			cr_assert_eq(used, n - at, "0 takes it all");
			continue;
		}
		check_msg(got++, &h, payload);
	}
	return got;
}

/* wire_dec_feed() and wire_dec_next() over one chunk, as chan.c does. */
static int feed_chunk(const uint8_t *b, size_t n, int got)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t at, took;
	int r;

	for (at = 0; at < n; at += took) {
		took = wire_dec_feed(&dec, b + at, n - at);
		cr_assert_gt(took, 0);
		cr_assert_leq(took, n - at);
		cr_assert_eq(wire_dec_feed(&dec, b + at + took, n - at - took) != 0,
			     false, "nothing while a message waits");
		while ((r = wire_dec_next(&dec, &h, &payload)) == 1)
			check_msg(got++, &h, payload);
		cr_assert_eq(r, 0, "error %s", wire_err_name(dec.err));
	}
	return got;
}

/*
 * Decode the stream in chunks of CHUNK bytes (each chunk in a fresh
 * buffer, so that the decoder cannot rely on earlier chunks staying put)
 * with push (FEED false) or feed/next; check every message against what
 * was sent.  Returns the messages decoded.
 */
static int decode_all(size_t chunk, bool feed)
{
	uint8_t *tmp = malloc(chunk);
	size_t off = 0, n;
	int got = 0;

	cr_assert(tmp);
	while (off < stream_len) {
		n = stream_len - off < chunk ? stream_len - off : chunk;
		memcpy(tmp, stream + off, n);
		off += n;
		got = feed ? feed_chunk(tmp, n, got) : push_chunk(tmp, n, got);
	}
	free(tmp);
	cr_expect_eq(dec.have, 0, "nothing left half-done");
	return got;
}

static int push_all(size_t chunk)
{
	return decode_all(chunk, false);
}

static void mixed_stream(void)
{
	send_msg(WIRE_HELLO, WIRE_HELLO_LEN);
	send_msg(WIRE_KEEPALIVE, 0);
	send_msg(WIRE_FRAME, 1);
	send_msg(WIRE_FRAME, 1514);
	send_msg(WIRE_ISN, WIRE_ISN_LEN);
	send_msg(WIRE_EPOCH, 0);
	send_msg(WIRE_FRAME, 60);
	send_msg(WIRE_CKPT_REQ, 0);
}

ParameterizedTestParameters(wire_stream, chunked)
{
	static size_t chunks[] = { 1, 2, 3, 7, 23, 24, 25, 80, 1000, 4096,
				   1 << 20 };

	return cr_make_param_array(size_t, chunks,
				   sizeof(chunks) / sizeof(chunks[0]));
}

ParameterizedTest(size_t *chunk, wire_stream, chunked)
{
	mixed_stream();
	cr_expect_eq(decode_all(*chunk, false), nsent, "chunk %zu", *chunk);
	cr_expect_eq(dec.messages, (uint64_t)nsent);
	cr_expect_eq(dec.bytes, stream_len);
	cr_expect_eq(dec.err, WIRE_OK);
	cr_expect_eq(decode_all(*chunk, true), nsent, "feed/next");
	cr_expect_eq(dec.messages, 2 * (uint64_t)nsent);
	cr_expect_eq(dec.bytes, 2 * stream_len);
}

Test(wire_stream, whole_message_is_not_copied)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t used;

	send_msg(WIRE_FRAME, 100);
	cr_assert_eq(wire_dec_push(&dec, stream, stream_len, &used, &h,
				   &payload), 1);
	cr_expect_eq(used, stream_len);
	cr_expect_eq(payload, stream + WIRE_HDR_LEN);
}

Test(wire_stream, two_messages_in_one_chunk)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t used;

	send_msg(WIRE_FRAME, 10);
	send_msg(WIRE_KEEPALIVE, 0);
	cr_assert_eq(wire_dec_push(&dec, stream, stream_len, &used, &h,
				   &payload), 1);
	cr_expect_eq(used, WIRE_HDR_LEN + 10);
	cr_expect_eq(h.type, WIRE_FRAME);
	cr_assert_eq(wire_dec_push(&dec, stream + used, stream_len - used,
				   &used, &h, &payload), 1);
	cr_expect_eq(used, WIRE_HDR_LEN);
	cr_expect_eq(h.type, WIRE_KEEPALIVE);
	cr_expect_eq(h.seq, 1);
	cr_expect_eq(wire_dec_push(&dec, stream, 0, &used, &h, &payload), 0);
	cr_expect_eq(used, 0);
}

Test(wire_stream, split_then_rest_with_next)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t used;

	send_msg(WIRE_FRAME, 300);
	send_msg(WIRE_FRAME, 5);
	cr_assert_eq(wire_dec_push(&dec, stream, 30, &used, &h, &payload), 0);
	cr_expect_eq(used, 30);
	cr_assert_eq(wire_dec_push(&dec, stream + 30, stream_len - 30, &used,
				   &h, &payload), 1);
	cr_expect_eq(used, WIRE_HDR_LEN + 300 - 30, "stops at the end");
	cr_expect_eq(h.len, 300);
	cr_expect_eq(memcmp(payload, sent_payload[0], 300), 0);
}

Test(wire_stream, max_payloads)
{
	send_msg(WIRE_FRAME, WIRE_MAX_PAYLOAD);
	send_msg(WIRE_KEEPALIVE, 0);
	send_msg(WIRE_FRAME, WIRE_MAX_PAYLOAD);
	cr_expect_eq(push_all(stream_len), 3);
	cr_expect_eq(push_all(1), 3, "byte by byte");
	cr_expect_eq(push_all(WIRE_MAX_PAYLOAD), 3);
	cr_expect_eq(decode_all(stream_len, true), 3, "feed/next");
	cr_expect_eq(decode_all(1000, true), 3, "feed/next");
	cr_expect_eq(dec.messages, 15);
}

/* Feed a stream with a bad header after a good message: the good one is
 * delivered whatever the chunking, then the error, then nothing more. */
static void expect_error_after_one(enum wire_err want, size_t chunk)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t off = 0, used, n;
	int r, got = 0;

	wire_dec_free(&dec);
	cr_assert_eq(wire_dec_init(&dec), 0);
	do {
		n = stream_len - off < chunk ? stream_len - off : chunk;
		r = wire_dec_push(&dec, stream + off, n, &used, &h, &payload);
		off += used;
		got += r == 1;
	} while (r >= 0 && off < stream_len);
	cr_expect_eq(got, 1, "chunk %zu", chunk);
	cr_expect_eq(r, -1, "chunk %zu", chunk);
	cr_expect_eq(dec.err, want, "chunk %zu: %s", chunk,
		     wire_err_name(dec.err));
	cr_expect_eq(used, 0);
	cr_expect_eq(wire_dec_push(&dec, stream, stream_len, &used, &h,
				   &payload), -1, "stays in error");
	cr_expect_eq(used, 0);
	cr_expect_eq(wire_dec_feed(&dec, stream, stream_len), 0);
	cr_expect_eq(wire_dec_next(&dec, &h, &payload), -1);
}

/* The same through wire_dec_feed() / wire_dec_next(). */
static void expect_error_after_one_feed(enum wire_err want, size_t chunk)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t off = 0, n;
	int r, got = 0;

	wire_dec_free(&dec);
	cr_assert_eq(wire_dec_init(&dec), 0);
	do {
		n = stream_len - off < chunk ? stream_len - off : chunk;
		off += wire_dec_feed(&dec, stream + off, n);
		while ((r = wire_dec_next(&dec, &h, &payload)) == 1)
			got++;
	} while (r >= 0 && off < stream_len);
	cr_expect_eq(got, 1, "chunk %zu", chunk);
	cr_expect_eq(r, -1, "chunk %zu", chunk);
	cr_expect_eq(dec.err, want, "chunk %zu: %s", chunk,
		     wire_err_name(dec.err));
	cr_expect_eq(wire_dec_feed(&dec, stream, stream_len), 0);
}

static void check_error_all_chunks(enum wire_err want)
{
	static const size_t chunks[] = { 1, 5, 24, 1000, 1 << 20 };
	size_t i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		expect_error_after_one(want, chunks[i]);
		expect_error_after_one_feed(want, chunks[i]);
	}
}

/* The second message's header at SECOND, mutated by the test. */
static uint8_t *two_messages(void)
{
	send_msg(WIRE_FRAME, 40);
	send_msg(WIRE_FRAME, 40);
	return stream + WIRE_HDR_LEN + 40;
}

Test(wire_stream, error_magic)
{
	uint8_t *b = two_messages();

	b[1] = 0;
	fix_crc(b);
	check_error_all_chunks(WIRE_E_MAGIC);
}

Test(wire_stream, error_version)
{
	uint8_t *b = two_messages();

	b[2] = 0;
	fix_crc(b);
	check_error_all_chunks(WIRE_E_VERSION);
}

Test(wire_stream, error_crc)
{
	uint8_t *b = two_messages();

	b[15] ^= 1;
	check_error_all_chunks(WIRE_E_CRC);
}

Test(wire_stream, error_type)
{
	uint8_t *b = two_messages();

	b[3] = WIRE_TYPE_MAX;
	fix_crc(b);
	check_error_all_chunks(WIRE_E_TYPE);
}

Test(wire_stream, error_length)
{
	uint8_t *b = two_messages();

	b[8] = 0x7f;			/* ~2 GB: never waited for */
	fix_crc(b);
	check_error_all_chunks(WIRE_E_LENGTH);
}

Test(wire_stream, error_length_for_type)
{
	uint8_t *b = two_messages();

	b[3] = WIRE_KEEPALIVE;		/* with 40 bytes of payload */
	fix_crc(b);
	check_error_all_chunks(WIRE_E_LENGTH);
}

Test(wire_stream, garbage_fails_at_the_first_byte)
{
	static const uint8_t junk[] = "GET / HTTP/1.1\r\n";
	const uint8_t *payload;
	struct wire_hdr h;
	size_t used;

	cr_expect_eq(wire_dec_push(&dec, junk, 1, &used, &h, &payload), -1);
	cr_expect_eq(dec.err, WIRE_E_MAGIC);
}

Test(wire_stream, bad_version_fails_at_the_third_byte)
{
	static const uint8_t b[] = { 0xc0, 0x1e, 0x02 };
	const uint8_t *payload;
	struct wire_hdr h;
	size_t used;

	cr_expect_eq(wire_dec_push(&dec, b, 2, &used, &h, &payload), 0);
	cr_expect_eq(used, 2);
	cr_expect_eq(wire_dec_push(&dec, b + 2, 1, &used, &h, &payload), -1);
	cr_expect_eq(dec.err, WIRE_E_VERSION);
}

Test(wire_stream, header_only_message_byte_by_byte)
{
	send_msg(WIRE_KEEPALIVE, 0);
	send_msg(WIRE_EPOCH, 0);
	cr_expect_eq(push_all(1), 2);
	cr_expect_eq(decode_all(1, true), 2);
}

Test(wire_stream, feed_stops_at_the_end_of_a_message)
{
	const uint8_t *payload;
	struct wire_hdr h;

	send_msg(WIRE_FRAME, 10);
	send_msg(WIRE_FRAME, 20);
	cr_expect_eq(wire_dec_feed(&dec, stream, stream_len), WIRE_HDR_LEN + 10);
	cr_expect_eq(wire_dec_feed(&dec, stream + WIRE_HDR_LEN + 10, 5), 0);
	cr_assert_eq(wire_dec_next(&dec, &h, &payload), 1);
	cr_expect_eq(h.len, 10);
	cr_expect_eq(wire_dec_next(&dec, &h, &payload), 0);
}

Test(wire_stream, push_after_feed_hands_out_the_waiting_message)
{
	const uint8_t *payload;
	struct wire_hdr h;
	size_t used;

	send_msg(WIRE_FRAME, 10);
	send_msg(WIRE_FRAME, 20);
	cr_assert_eq(wire_dec_feed(&dec, stream, stream_len), WIRE_HDR_LEN + 10);
	cr_assert_eq(wire_dec_push(&dec, stream + WIRE_HDR_LEN + 10,
				   stream_len - WIRE_HDR_LEN - 10, &used, &h,
				   &payload), 1);
	cr_expect_eq(used, 0);
	cr_expect_eq(h.len, 10);
	cr_assert_eq(wire_dec_push(&dec, stream + WIRE_HDR_LEN + 10,
				   stream_len - WIRE_HDR_LEN - 10, &used, &h,
				   &payload), 1);
	cr_expect_eq(h.len, 20);
	cr_expect_eq(payload, stream + 2 * WIRE_HDR_LEN + 10, "no copy");
}

/* The ISN message carries the PVM's TCP timestamp when it had one. */
Test(wire_isn, timestamp_round_trip)
{
	struct wire_isn m = { .family = 4, .vm_port = 80, .peer_port = 4000,
			      .isn = 0xfffffff0u, .flags = WIRE_ISN_F_TS,
			      .tsval = 0x80000001u }, back;
	uint8_t buf[WIRE_ISN_LEN];

	m.vm_addr[0] = 10;
	m.peer_addr[0] = 10;
	m.peer_addr[3] = 2;
	wire_put_isn(buf, &m);
	cr_assert_eq(wire_get_isn(buf, sizeof(buf), &back), WIRE_OK);
	cr_assert_eq(back.flags, WIRE_ISN_F_TS);
	cr_assert_eq(back.tsval, 0x80000001u);
	cr_assert_eq(back.isn, 0xfffffff0u);
	buf[1] = 0;		/* no flag: a non-zero tsval is malformed */
	cr_assert_eq(wire_get_isn(buf, sizeof(buf), &back), WIRE_E_PAYLOAD);
	buf[1] = 2;		/* unknown flag */
	cr_assert_eq(wire_get_isn(buf, sizeof(buf), &back), WIRE_E_PAYLOAD);
}
