/*
 * test_relay_codec.c - colo-relay's pure parts: the encoder and decoder
 * (round trips in any chunking, compression, garbage, corruption,
 * truncation, versions, bounds), the checkpoint and latency accounting,
 * and the configuration file.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "common/bytes.h"
#include "relay/codec.h"
#include "relay/conf.h"
#include "relay/stats.h"

static void watchdog(void)
{
	alarm(60);
}

TestSuite(relay_codec, .init = watchdog);
TestSuite(relay_dec_errors, .init = watchdog);
TestSuite(relay_stats, .init = watchdog);
TestSuite(relay_conf, .init = watchdog);

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)rnd_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Text-like: a few words over and over, as a guest's pages often are. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char *const w[] = { "colo ", "checkpoint ", "page ",
					 "dirty ", "0000 ", "\n" };

	for (size_t i = 0; i < n;) {
		const char *s = w[rnd() % 6];

		for (; *s && i < n; s++)
			p[i++] = (uint8_t)*s;
	}
}

static struct rly_hello hello_of(bool zstd)
{
	struct rly_hello h = {
		.role = RLY_ROLE_PRIMARY, .flags = zstd ? RLY_HF_ZSTD : 0,
		.session = 42, .pair = 7,
	};

	return h;
}

/* A stream as a relay sends it: HELLO, one DATA frame per chunk (sizes
 * in SIZES, 0-terminated), a PING between, END at the end. */
static struct buf make_stream(bool zstd, int level, const uint8_t *data,
			      const size_t *sizes)
{
	struct buf w = BUF_INIT;
	struct rly_hello h = hello_of(zstd);
	struct rly_enc e;
	size_t off = 0;

	cr_assert_eq(rly_enc_init(&e, zstd, level), 0);
	cr_assert_eq(rly_put_hello_buf(&w, &h), 0);
	for (int i = 0; sizes[i]; i++) {
		cr_assert_gt(rly_enc_data(&e, data + off, sizes[i], &w), 0);
		off += sizes[i];
		if (i == 1)
			cr_assert_eq(rly_put_ctl(&w, RLY_PING), 0);
	}
	cr_assert_eq(rly_put_ctl(&w, RLY_END), 0);
	rly_enc_free(&e);
	return w;
}

struct decoded {
	struct buf out;
	int hellos, datas, pings, ends;
	int err;	/* rly_perr, or 0 */
	size_t left;	/* bytes not decoded */
};

/* Feed WIRE to a fresh decoder in pieces of STEP bytes (0: random
 * pieces), draining events after each. */
static struct decoded decode_all(const uint8_t *wire, size_t len, size_t step)
{
	struct decoded r = { .out = BUF_INIT };
	struct rly_event ev;
	struct rly_dec d;
	size_t off = 0;
	int n;

	rly_dec_init(&d);
	while (off < len && !r.err) {
		size_t k = step ? step : 1 + rnd() % 70000;

		if (k > len - off)
			k = len - off;
		cr_assert_eq(rly_dec_append(&d, wire + off, k), 0);
		off += k;
		while ((n = rly_dec_next(&d, &r.out, &ev)) == 1) {
			r.hellos += ev.type == RLY_EV_HELLO;
			r.datas += ev.type == RLY_EV_DATA;
			r.pings += ev.type == RLY_EV_PING;
			r.ends += ev.type == RLY_EV_END;
		}
		if (n < 0)
			r.err = d.err;
	}
	r.left = rly_dec_buffered(&d);
	rly_dec_free(&d);
	return r;
}

/* ---- round trips ---------------------------------------------------------------- */

static void round_trip(bool zstd, int level, bool text)
{
	static const size_t sizes[] = { 1, 4, 12, 4096, 65536, 262144,
					RLY_RAW_MAX, 3, 100000, 0 };
	size_t total = 0, steps[] = { 1, 7, 4096, 0 };
	uint8_t *data;
	struct buf w;

	for (int i = 0; sizes[i]; i++)
		total += sizes[i];
	data = malloc(total);
	cr_assert_not_null(data);
	if (text)
		fill_text(data, total);
	else
		fill_random(data, total);
	w = make_stream(zstd, level, data, sizes);
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		struct decoded r;

		/* byte by byte over 2.5 MB is slow: only the start */
		size_t len = steps[s] == 1 && buf_len(&w) > 200000 ? 200000 :
			     buf_len(&w);

		r = decode_all(buf_data(&w), len, steps[s]);
		cr_expect_eq(r.err, 0, "step %zu: %s", steps[s],
			     rly_perr_name(r.err));
		cr_expect_eq(r.hellos, 1);
		if (len == buf_len(&w)) {
			cr_expect_eq(r.left, 0);
			cr_expect_eq(r.datas, 9);
			cr_expect_eq(r.pings, 1);
			cr_expect_eq(r.ends, 1);
			cr_assert_eq(buf_len(&r.out), total);
		}
		cr_expect_arr_eq(buf_data(&r.out), data, buf_len(&r.out),
				 "step %zu", steps[s]);
		buf_free(&r.out);
	}
	buf_free(&w);
	free(data);
}

Test(relay_codec, round_trip_zstd_text)
{
	round_trip(true, 1, true);
}

Test(relay_codec, round_trip_zstd_random)
{
	round_trip(true, 1, false);
}

Test(relay_codec, round_trip_raw)
{
	round_trip(false, 0, false);
}

Test(relay_codec, round_trip_other_levels)
{
	round_trip(true, -5, true);
	round_trip(true, 9, true);
	round_trip(true, 22, true);	/* window capped: still decodes */
}

/* Each frame decodes on its own as soon as it is whole: nothing waits
 * for the next chunk (the channel is request/reply). */
Test(relay_codec, every_chunk_flushed)
{
	struct rly_enc e;
	struct rly_dec d;
	struct buf w = BUF_INIT, out = BUF_INIT;
	struct rly_hello h = hello_of(true);
	struct rly_event ev;
	uint8_t msg[4] = { 0, 0, 0, 5 };

	rly_dec_init(&d);
	cr_assert_eq(rly_enc_init(&e, true, 1), 0);
	rly_put_hello_buf(&w, &h);
	cr_assert_eq(rly_dec_append(&d, buf_data(&w), buf_len(&w)), 0);
	cr_assert_eq(rly_dec_next(&d, &out, &ev), 1);
	cr_expect_eq(ev.type, RLY_EV_HELLO);
	for (int i = 0; i < 50; i++) {
		buf_reset(&w);
		msg[3] = (uint8_t)i;
		cr_assert_gt(rly_enc_data(&e, msg, sizeof(msg), &w), 0);
		cr_assert_eq(rly_dec_append(&d, buf_data(&w), buf_len(&w)), 0);
		cr_assert_eq(rly_dec_next(&d, &out, &ev), 1, "message %d", i);
		cr_expect_eq(ev.type, RLY_EV_DATA);
		cr_expect_eq(ev.raw_len, 4);
		cr_expect_eq(ev.wire_len, buf_len(&w));
		cr_assert_eq(buf_len(&out), 4);
		cr_expect_arr_eq(buf_data(&out), msg, 4);
		buf_reset(&out);
		cr_expect_eq(rly_dec_next(&d, &out, &ev), 0);
	}
	rly_enc_free(&e);
	rly_dec_free(&d);
	buf_free(&w);
	buf_free(&out);
}

Test(relay_codec, compressible_data_compresses)
{
	size_t n = 512 << 10;
	uint8_t *p = malloc(n);
	struct rly_enc e;
	struct buf w = BUF_INIT;
	ssize_t zero, text;

	cr_assert_not_null(p);
	cr_assert_eq(rly_enc_init(&e, true, 1), 0);
	memset(p, 0, n);
	zero = rly_enc_data(&e, p, n, &w);
	cr_expect(zero > 0 && (size_t)zero < n / 100, "zeros: %zd", zero);
	fill_text(p, n);
	text = rly_enc_data(&e, p, n, &w);
	cr_expect(text > 0 && (size_t)text < n / 3, "text: %zd", text);
	cr_expect_eq(e.raw_bytes, 2 * n);
	cr_expect_eq(e.wire_bytes, (uint64_t)(zero + text));
	rly_enc_free(&e);
	buf_free(&w);
	free(p);
}

Test(relay_codec, random_data_barely_grows)
{
	size_t n = RLY_RAW_MAX;
	uint8_t *p = malloc(n);
	struct rly_enc e;
	struct buf w = BUF_INIT;
	ssize_t got;

	cr_assert_not_null(p);
	fill_random(p, n);
	cr_assert_eq(rly_enc_init(&e, true, 1), 0);
	got = rly_enc_data(&e, p, n, &w);
	cr_expect(got > 0 && (size_t)got <= RLY_HDR_LEN + RLY_WIRE_MAX);
	cr_expect((size_t)got < n + n / 256 + 64, "%zd bytes", got);
	rly_enc_free(&e);
	buf_free(&w);
	free(p);
}

Test(relay_codec, encoder_bounds)
{
	struct rly_enc e;
	struct buf w = BUF_INIT;
	uint8_t b[1] = { 0 };

	cr_assert_eq(rly_enc_init(&e, true, 1), 0);
	cr_expect_eq(rly_enc_data(&e, b, 0, &w), -EINVAL);
	cr_expect_eq(rly_enc_data(&e, b, RLY_RAW_MAX + 1, &w), -EINVAL);
	cr_expect_eq(buf_len(&w), 0);
	rly_enc_free(&e);
	cr_expect_eq(rly_enc_init(&e, true, 1000), -EINVAL);
}

/* One frame per call, whatever is buffered: the caller can stop when its
 * output is full, and 4 MiB of zeros stay a few hundred bytes meanwhile. */
Test(relay_codec, one_frame_per_call)
{
	static const size_t sizes[] = { RLY_RAW_MAX, RLY_RAW_MAX, RLY_RAW_MAX,
					RLY_RAW_MAX, 0 };
	uint8_t *zeros = calloc(4, RLY_RAW_MAX);
	struct buf w, out = BUF_INIT;
	struct rly_event ev;
	struct rly_dec d;

	cr_assert_not_null(zeros);
	w = make_stream(true, 1, zeros, sizes);
	cr_expect_lt(buf_len(&w), 4096);
	rly_dec_init(&d);
	cr_assert_eq(rly_dec_append(&d, buf_data(&w), buf_len(&w)), 0);
	cr_assert_eq(rly_dec_next(&d, &out, &ev), 1);		/* HELLO */
	cr_assert_eq(rly_dec_next(&d, &out, &ev), 1);
	cr_expect_eq(ev.type, RLY_EV_DATA);
	cr_expect_eq(buf_len(&out), RLY_RAW_MAX);
	cr_expect_gt(rly_dec_buffered(&d), 0);
	rly_dec_free(&d);
	buf_free(&w);
	buf_free(&out);
	free(zeros);
}

/* ---- errors ------------------------------------------------------------------------- */

/* A good zstd stream with one DATA frame of N text bytes, and where its
 * frame starts. */
static struct buf one_frame(size_t n, bool zstd, size_t *frame_at)
{
	size_t sz[2] = { n, 0 };
	uint8_t *p = malloc(n);
	struct buf w;

	cr_assert_not_null(p);
	fill_text(p, n);
	w = make_stream(zstd, 1, p, sz);
	*frame_at = RLY_HELLO_LEN;
	free(p);
	return w;
}

Test(relay_dec_errors, garbage_at_first_byte)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct decoded r = decode_all((const uint8_t *)http, 1, 1);

	cr_expect_eq(r.err, RLY_E_MAGIC);
	buf_free(&r.out);
	r = decode_all((const uint8_t *)"CRLX", 4, 1);
	cr_expect_eq(r.err, RLY_E_MAGIC);
	buf_free(&r.out);
}

Test(relay_dec_errors, other_version_named)
{
	struct rly_hello h = hello_of(true);
	struct rly_event ev;
	struct buf out = BUF_INIT;
	struct rly_dec d;
	uint8_t b[RLY_HELLO_LEN];

	rly_put_hello(b, &h);
	b[4] = 9;
	rly_dec_init(&d);
	cr_assert_eq(rly_dec_append(&d, b, 5), 0);
	cr_expect_eq(rly_dec_next(&d, &out, &ev), -1);
	cr_expect_eq(d.err, RLY_E_VERSION);
	cr_expect_eq(d.hello.version, 9);
	/* the error is final */
	cr_assert_eq(rly_dec_append(&d, b + 5, sizeof(b) - 5), 0);
	cr_expect_eq(rly_dec_next(&d, &out, &ev), -1);
	cr_expect_eq(d.err, RLY_E_VERSION);
	rly_dec_free(&d);
}

/* Garbage after a good HELLO: at the first header, by its first bytes. */
Test(relay_dec_errors, garbage_after_hello)
{
	size_t at;
	struct buf w = one_frame(1000, true, &at);
	struct decoded r;

	memcpy((uint8_t *)buf_data(&w) + at, "\x16\x03\x01", 3);
	r = decode_all(buf_data(&w), at + 1, 1);
	cr_expect_eq(r.err, RLY_E_MAGIC);
	cr_expect_eq(r.hellos, 1);
	cr_expect_eq(buf_len(&r.out), 0);
	buf_free(&r.out);
	buf_free(&w);
}

/* Every single byte of a frame flipped: caught before any output, or
 * (a zstd header bit that changes nothing) the very same bytes out. */
Test(relay_dec_errors, any_flipped_byte_caught)
{
	for (int zstd = 0; zstd < 2; zstd++) {
		size_t at, changed_nothing = 0;
		struct buf w = one_frame(3000, zstd, &at);
		size_t end = buf_len(&w) - RLY_HDR_LEN;	/* before END */
		struct decoded good = decode_all(buf_data(&w), buf_len(&w), 0);
		const uint8_t *plain = buf_data(&good.out);

		for (size_t i = at; i < end; i++) {
			struct buf c = BUF_INIT;
			struct decoded r;

			buf_append(&c, buf_data(&w), buf_len(&w));
			((uint8_t *)buf_data(&c))[i] ^= 0x10;
			r = decode_all(buf_data(&c), buf_len(&c), 0);
			if (r.err) {
				cr_expect_eq(r.datas, 0);
				cr_expect_eq(buf_len(&r.out), 0);
			} else {
				cr_expect(zstd, "raw byte %zu not caught", i);
				cr_expect_eq(buf_len(&r.out), 3000);
				cr_expect_arr_eq(buf_data(&r.out), plain, 3000,
						 "byte %zu", i);
				changed_nothing++;
			}
			buf_free(&r.out);
			buf_free(&c);
		}
		cr_expect_lt(changed_nothing, 8);
		buf_free(&good.out);
		buf_free(&w);
	}
}

/* A valid zstd payload and header whose raw_len or crc does not match. */
Test(relay_dec_errors, length_and_crc_checked)
{
	size_t at;
	struct buf w = one_frame(3000, true, &at);
	uint8_t *f;
	struct decoded r;
	static const int64_t deltas[] = { -1, +1 };

	for (int i = 0; i < 2; i++) {
		struct buf c = BUF_INIT;

		buf_append(&c, buf_data(&w), buf_len(&w));
		f = (uint8_t *)buf_data(&c) + at;
		put32(f + 4, (uint32_t)(get32(f + 4) + deltas[i]));
		put32(f + 16, rly_crc32c(0, f, 16));
		r = decode_all(buf_data(&c), buf_len(&c), 0);
		cr_expect_eq(r.err, RLY_E_DATA, "raw_len %+lld",
			     (long long)deltas[i]);
		buf_free(&r.out);
		buf_free(&c);
	}
	f = (uint8_t *)buf_data(&w) + at;
	put32(f + 12, get32(f + 12) ^ 1);
	put32(f + 16, rly_crc32c(0, f, 16));
	r = decode_all(buf_data(&w), buf_len(&w), 0);
	cr_expect_eq(r.err, RLY_E_DATA);
	buf_free(&r.out);
	buf_free(&w);
}

/* Cut anywhere: no error, no partial output of the cut frame, and bytes
 * left over that tell the caller the stream stopped mid-frame. */
Test(relay_dec_errors, truncation_is_visible)
{
	size_t at;
	struct buf w = one_frame(5000, true, &at);
	size_t data_end = buf_len(&w) - RLY_HDR_LEN;
	struct rly_event ev;

	for (size_t cut = 1; cut < data_end; cut += 37) {
		struct buf out = BUF_INIT;
		struct rly_dec d;
		int n;

		rly_dec_init(&d);
		cr_assert_eq(rly_dec_append(&d, buf_data(&w), cut), 0);
		while ((n = rly_dec_next(&d, &out, &ev)) == 1)
			;
		cr_expect_eq(n, 0, "cut %zu", cut);
		cr_expect_eq(buf_len(&out), 0);
		cr_expect_eq(rly_dec_buffered(&d) > 0, cut != RLY_HELLO_LEN,
			     "cut %zu", cut);
		rly_dec_free(&d);
		buf_free(&out);
	}
	buf_free(&w);
}

/* A peer cannot make the decoder allocate a window beyond 8 MiB. */
Test(relay_dec_errors, big_window_refused)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	struct rly_hello h = hello_of(true);
	struct rly_hdr hdr = { .type = RLY_DATA };
	uint8_t raw[1000], comp[2000];
	ZSTD_inBuffer in = { raw, sizeof(raw), 0 };
	ZSTD_outBuffer out = { comp, sizeof(comp), 0 };
	struct buf w = BUF_INIT;
	uint8_t hb[RLY_HDR_LEN];
	struct decoded r;

	fill_text(raw, sizeof(raw));
	ZSTD_CCtx_setParameter(z, ZSTD_c_windowLog, 27);
	cr_assert_eq(ZSTD_compressStream2(z, &out, &in, ZSTD_e_flush), 0);
	ZSTD_freeCCtx(z);
	hdr.raw_len = sizeof(raw);
	hdr.wire_len = (uint32_t)out.pos;
	hdr.data_crc = rly_crc32c(0, raw, sizeof(raw));
	rly_put_hdr(hb, &hdr);
	rly_put_hello_buf(&w, &h);
	buf_append(&w, hb, sizeof(hb));
	buf_append(&w, comp, out.pos);
	r = decode_all(buf_data(&w), buf_len(&w), 0);
	cr_expect_eq(r.err, RLY_E_DATA);
	buf_free(&r.out);
	buf_free(&w);
}

/* A raw-mode decoder refuses a compressed frame and the reverse: the
 * HELLO's flag decides, per direction. */
Test(relay_dec_errors, mode_follows_hello)
{
	size_t at;
	struct buf w = one_frame(3000, true, &at);
	struct decoded r;

	/* the HELLO says raw, the frame is zstd: wire_len != raw_len */
	((uint8_t *)buf_data(&w))[6] = 0;
	put32((uint8_t *)buf_data(&w) + 28,
	      rly_crc32c(0, buf_data(&w), 28));
	r = decode_all(buf_data(&w), buf_len(&w), 0);
	cr_expect_eq(r.err, RLY_E_FIELD);
	buf_free(&r.out);
	buf_free(&w);
}

/* ---- stats ------------------------------------------------------------------------- */

#define MS 1000000ULL

Test(relay_stats, checkpoint_is_forward_until_reverse)
{
	struct rly_stats s;
	const struct rly_ckpt *c;

	cr_assert_eq(rly_stats_init(&s, 8, 64), 0);
	/* initial migration: three chunks, then the secondary's first word */
	rly_stats_chunk(&s, RLY_FWD, 100000, 20000, 5000, 10 * MS);
	rly_stats_chunk(&s, RLY_FWD, 100000, 20000, 7000, 11 * MS);
	rly_stats_chunk(&s, RLY_FWD, 50000, 10000, 3000, 12 * MS);
	cr_expect_eq(rly_stats_kept(&s), 0);
	rly_stats_chunk(&s, RLY_REV, 4, 28, 100, 15 * MS);
	cr_assert_eq(rly_stats_kept(&s), 1);
	c = rly_stats_ckpt(&s, 0);
	cr_expect_eq(c->seq, 0);
	cr_expect_eq(c->raw_bytes, 250000);
	cr_expect_eq(c->wire_bytes, 50000);
	cr_expect_eq(c->chunks, 3);
	cr_expect_eq(c->codec_ns, 15000);
	cr_expect_eq(c->start_ns, 10 * MS);
	cr_expect_eq(c->last_ns, 12 * MS);
	cr_expect_eq(c->end_ns, 15 * MS);
	/* more reverse words close nothing */
	rly_stats_chunk(&s, RLY_REV, 4, 28, 100, 16 * MS);
	cr_expect_eq(rly_stats_kept(&s), 1);
	/* COLO's 4-byte request and its reply: a small exchange */
	rly_stats_chunk(&s, RLY_FWD, 4, 28, 100, 20 * MS);
	rly_stats_chunk(&s, RLY_REV, 4, 28, 100, 21 * MS);
	cr_expect_eq(rly_stats_kept(&s), 1);
	cr_expect_eq(s.small_exchanges, 1);
	/* the checkpoint proper */
	rly_stats_chunk(&s, RLY_FWD, 374000, 22000, 100, 22 * MS);
	rly_stats_chunk(&s, RLY_REV, 4, 28, 100, 30 * MS);
	cr_assert_eq(rly_stats_kept(&s), 2);
	c = rly_stats_ckpt(&s, 1);
	cr_expect_eq(c->seq, 1);
	cr_expect_eq(c->raw_bytes, 374000);
	cr_expect_eq(c->end_ns - c->start_ns, 8 * MS);
	cr_expect_eq(s.dir[RLY_FWD].raw_bytes, 250000 + 4 + 374000);
	cr_expect_eq(s.dir[RLY_REV].chunks, 4);
	cr_expect_null(rly_stats_ckpt(&s, 2));
	rly_stats_free(&s);
}

Test(relay_stats, ring_keeps_the_last)
{
	struct rly_stats s;

	cr_assert_eq(rly_stats_init(&s, 4, 0), 0);
	for (uint64_t i = 0; i < 10; i++) {
		rly_stats_chunk(&s, RLY_FWD, 100 + i, 10, 1, i * 10 * MS);
		rly_stats_chunk(&s, RLY_REV, 4, 24, 1, i * 10 * MS + MS);
	}
	cr_expect_eq(s.nrec, 10);
	cr_assert_eq(rly_stats_kept(&s), 4);
	for (size_t i = 0; i < 4; i++) {
		cr_expect_eq(rly_stats_ckpt(&s, i)->seq, 6 + i);
		cr_expect_eq(rly_stats_ckpt(&s, i)->raw_bytes, 106 + i);
	}
	rly_stats_free(&s);
}

Test(relay_stats, unfinished_when_the_connection_ends)
{
	struct rly_stats s;

	cr_assert_eq(rly_stats_init(&s, 4, 0), 0);
	rly_stats_chunk(&s, RLY_FWD, 100, 10, 1, MS);
	rly_stats_conn_end(&s);
	rly_stats_conn_end(&s);
	cr_expect_eq(s.unfinished, 1);
	rly_stats_chunk(&s, RLY_REV, 4, 24, 1, 2 * MS);
	cr_expect_eq(rly_stats_kept(&s), 0);
	rly_stats_free(&s);
}

Test(relay_stats, percentiles)
{
	struct rly_stats s;

	cr_assert_eq(rly_stats_init(&s, 1, 0), 0);
	cr_expect_eq(rly_stats_pct(&s, RLY_FWD, 50), 0);
	for (uint64_t i = 1; i <= 100; i++)
		rly_stats_chunk(&s, RLY_FWD, 1, 1, i * 10, i);
	cr_expect_eq(rly_stats_pct(&s, RLY_FWD, 50), 500);
	cr_expect_eq(rly_stats_pct(&s, RLY_FWD, 99), 990);
	cr_expect_eq(rly_stats_pct(&s, RLY_FWD, 100), 1000);
	cr_expect_eq(rly_stats_pct(&s, RLY_FWD, 0), 10);
	cr_expect_eq(s.dir[RLY_FWD].codec_max_ns, 1000);
	cr_expect_eq(s.dir[RLY_FWD].codec_ns, 50500);
	/* only the last RLY_LAT_RING count */
	for (int i = 0; i < RLY_LAT_RING; i++)
		rly_stats_chunk(&s, RLY_FWD, 1, 1, 7, 1000);
	cr_expect_eq(rly_stats_pct(&s, RLY_FWD, 99), 7);
	cr_expect_eq(s.dir[RLY_FWD].codec_max_ns, 1000);
	rly_stats_free(&s);
}

Test(relay_stats, fault_names)
{
	for (int f = 0; f < RLY_F_MAX; f++)
		cr_expect_str_neq(rly_fault_name(f), "?");
	cr_expect_eq(rly_fault_of(RLY_E_MAGIC), RLY_F_garbage);
	cr_expect_eq(rly_fault_of(RLY_E_VERSION), RLY_F_version);
	cr_expect_eq(rly_fault_of(RLY_E_CRC), RLY_F_header);
	cr_expect_eq(rly_fault_of(RLY_E_FIELD), RLY_F_header);
	cr_expect_eq(rly_fault_of(RLY_E_DATA), RLY_F_corrupt);
}

/* ---- configuration ------------------------------------------------------------------ */

static bool parse(const char *text, struct relay_conf *c, char *err)
{
	return relay_conf_parse(c, text, strlen(text), err, 256);
}

Test(relay_conf, minimal_and_defaults)
{
	struct relay_conf c;
	char err[256];

	cr_assert(parse("[relay]\nrole = primary\nlisten = 127.0.0.1:8890\n"
			"connect = 10.99.0.2:8890\n", &c, err), "%s", err);
	cr_expect_eq(c.role, RELAY_PRIMARY);
	cr_expect_str_eq(c.name, "colo");
	cr_expect_str_eq(c.control, "/run/colo-relay/colo.sock");
	cr_expect(c.compress);
	cr_expect_eq(c.level, 1);
	cr_expect_eq(c.chunk, 256 << 10);
	cr_expect_eq(c.buffer, 4 << 20);
	cr_expect_eq(c.connect_ms, 3000);
	cr_expect_eq(c.keepalive_ms, 1000);
	cr_expect_eq(c.timeout_ms, 5000);
	cr_expect_eq(c.history, 64);
	cr_expect_eq(c.checkpoint_min, 64);
}

Test(relay_conf, everything)
{
	struct relay_conf c;
	char err[256];

	cr_assert(parse("[relay]\nname = pair0\nrole = secondary\n"
			"listen = [::]:8890\nconnect = 127.0.0.1:8888\n"
			"control = /tmp/x.sock\nchunk = 64k\nbuffer = 1M\n"
			"[compression]\nenabled = no\nlevel = -7\n"
			"[timeouts]\nconnect = 500ms\nkeepalive = 200ms\n"
			"timeout = 2s\n[stats]\nhistory = 10\n"
			"checkpoint_min = 0\n", &c, err), "%s", err);
	cr_expect_eq(c.role, RELAY_SECONDARY);
	cr_expect_eq(c.listen.u.sa.sa_family, AF_INET6);
	cr_expect_str_eq(c.control, "/tmp/x.sock");
	cr_expect_not(c.compress);
	cr_expect_eq(c.level, -7);
	cr_expect_eq(c.chunk, 64 << 10);
	cr_expect_eq(c.timeout_ms, 2000);
	cr_expect_eq(c.history, 10);
	cr_expect_eq(c.checkpoint_min, 0);
}

/* Errors name the line and quote the value. */
Test(relay_conf, errors_quote_line_and_value)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "[relay]\nrole = primry\n",
		  "line 2: role: \"primry\" is not one of: primary, secondary" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1\n"
		  "connect = 1.2.3.4:5\n",
		  "line 3: [relay] listen: \"127.0.0.1\" needs a port" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:0\n",
		  "line 4: [relay] connect: \"1.2.3.4:0\" needs a port" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:5\n[timeouts]\nkeepalive = 3s\n",
		  "line 6: [timeouts] keepalive: \"3s\" must be at most half" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:5\nname = a b\n",
		  "line 5: [relay] name: \"a b\" must be letters" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:5\n[compression]\nlevel = 23\n",
		  "line 6: level: \"23\"" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:5\nchunk = 2M\n",
		  "line 5: chunk: \"2M\"" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n",
		  "connect" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:5\n[timeouts]\ntimeout = 2s\n",
		  "line 6: [timeouts] timeout: \"2s\" must be above" },
		{ "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		  "connect = 1.2.3.4:5\n[relai]\n", "line 5: " },
	};
	struct relay_conf c;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		cr_expect_not(parse(cases[i].text, &c, err), "case %zu", i);
		cr_expect(strstr(err, cases[i].want) != NULL,
			  "case %zu: \"%s\" lacks \"%s\"", i, err,
			  cases[i].want);
	}
}
