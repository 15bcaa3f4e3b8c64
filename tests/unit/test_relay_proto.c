/*
 * test_relay_proto.c - colo-relay's wire format: CRC32C vectors, the
 * HELLO's and the frame header's byte layout, every error class, checked
 * on whole headers and on every prefix (as bytes arrive), and the pair id.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "relay/proto.h"

/* A hung test fails instead of hanging the run (see test_common_loop.c). */
static void watchdog(void)
{
	alarm(30);
}

TestSuite(relay_crc, .init = watchdog);
TestSuite(relay_hello, .init = watchdog);
TestSuite(relay_hdr, .init = watchdog);

static const struct rly_hello good_hello = {
	.role = RLY_ROLE_PRIMARY, .flags = RLY_HF_ZSTD, .status = RLY_ST_READY,
	.session = 0x0102030405060708ULL, .pair = 0xa1b2c3d4,
};

static void fix_hello_crc(uint8_t *b)
{
	put32(b + 28, rly_crc32c(0, b, 28));
}

static void fix_hdr_crc(uint8_t *b)
{
	put32(b + 16, rly_crc32c(0, b, 16));
}

/* ---- CRC32C --------------------------------------------------------------- */

Test(relay_crc, check_value)
{
	cr_expect_eq(rly_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(rly_crc32c(0, "", 0), 0);
}

/* RFC 3720, appendix B.4 */
Test(relay_crc, rfc3720_vectors)
{
	uint8_t b[32];

	memset(b, 0, sizeof(b));
	cr_expect_eq(rly_crc32c(0, b, 32), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	cr_expect_eq(rly_crc32c(0, b, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	cr_expect_eq(rly_crc32c(0, b, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	cr_expect_eq(rly_crc32c(0, b, 32), 0x113fdb5cu);
}

/* Any split, any alignment: the same CRC as in one go. */
Test(relay_crc, continues_across_splits)
{
	uint8_t b[300];
	uint32_t whole;

	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 7 + 3);
	whole = rly_crc32c(0, b, sizeof(b));
	for (size_t cut = 0; cut <= sizeof(b); cut += 13)
		cr_expect_eq(rly_crc32c(rly_crc32c(0, b, cut), b + cut,
					sizeof(b) - cut), whole, "cut %zu", cut);
	for (size_t off = 1; off < 9; off++)
		cr_expect_eq(rly_crc32c(0, b + off, 100),
			     rly_crc32c(rly_crc32c(0, b + off, 50),
					b + off + 50, 50));
}

Test(relay_crc, pair_id_is_fnv1a)
{
	cr_expect_eq(rly_pair_id(""), 0x811c9dc5u);
	cr_expect_eq(rly_pair_id("a"), 0xe40c292cu);
	cr_expect_eq(rly_pair_id("foobar"), 0xbf9cf968u);
	cr_expect_neq(rly_pair_id("pair0"), rly_pair_id("pair1"));
}

/* ---- HELLO ------------------------------------------------------------------- */

Test(relay_hello, layout)
{
	uint8_t b[RLY_HELLO_LEN];
	static const uint8_t want[28] = {
		'C', 'R', 'L', 'Y', RLY_VERSION, 1, 1, 0,
		1, 2, 3, 4, 5, 6, 7, 8, 0xa1, 0xb2, 0xc3, 0xd4,
	};

	rly_put_hello(b, &good_hello);
	cr_assert_arr_eq(b, want, sizeof(want));
	cr_expect_eq(get32(b + 28), rly_crc32c(0, b, 28));
}

Test(relay_hello, round_trip)
{
	uint8_t b[RLY_HELLO_LEN];
	struct rly_hello h, in = good_hello;

	in.version = 77;	/* ignored: ours is written */
	in.role = RLY_ROLE_SECONDARY;
	in.status = RLY_ST_TARGET;
	rly_put_hello(b, &in);
	memset(&h, 0, sizeof(h));
	cr_assert_eq(rly_get_hello(b, sizeof(b), &h), RLY_OK);
	cr_expect_eq(h.version, RLY_VERSION);
	cr_expect_eq(h.role, RLY_ROLE_SECONDARY);
	cr_expect_eq(h.flags, RLY_HF_ZSTD);
	cr_expect_eq(h.status, RLY_ST_TARGET);
	cr_expect_eq(h.session, good_hello.session);
	cr_expect_eq(h.pair, good_hello.pair);
}

/* Every prefix of a good HELLO is "more, please"; no field is filled. */
Test(relay_hello, prefixes_wait)
{
	uint8_t b[RLY_HELLO_LEN];
	struct rly_hello h;

	rly_put_hello(b, &good_hello);
	for (size_t n = 0; n < sizeof(b); n++)
		cr_expect_eq(rly_get_hello(b, n, &h), RLY_OK, "prefix %zu", n);
}

/* Garbage is refused at its first wrong byte, a version at byte 5,
 * before the rest arrives. */
Test(relay_hello, garbage_and_version_at_once)
{
	uint8_t b[RLY_HELLO_LEN];
	struct rly_hello h;

	for (int i = 0; i < 4; i++) {
		rly_put_hello(b, &good_hello);
		b[i] ^= 0x20;
		cr_expect_eq(rly_get_hello(b, (size_t)i + 1, &h), RLY_E_MAGIC,
			     "byte %d", i);
		cr_expect_eq(rly_get_hello(b, sizeof(b), &h), RLY_E_MAGIC);
	}
	memcpy(b, "GET / HTTP/1.0\r\n\r\n", 18);
	cr_expect_eq(rly_get_hello(b, 1, &h), RLY_E_MAGIC);
	rly_put_hello(b, &good_hello);
	b[4] = 2;
	memset(&h, 0, sizeof(h));
	cr_expect_eq(rly_get_hello(b, 5, &h), RLY_E_VERSION);
	cr_expect_eq(h.version, 2);
	/* another version's rest (crc included) is not looked at */
	cr_expect_eq(rly_get_hello(b, sizeof(b), &h), RLY_E_VERSION);
}

Test(relay_hello, crc_checked)
{
	uint8_t b[RLY_HELLO_LEN];
	struct rly_hello h;

	for (int i = 5; i < RLY_HELLO_LEN; i++) {
		rly_put_hello(b, &good_hello);
		b[i] ^= 0x01;
		cr_expect_eq(rly_get_hello(b, sizeof(b), &h), RLY_E_CRC,
			     "byte %d", i);
	}
}

Test(relay_hello, fields_checked)
{
	static const struct { int off; uint8_t v; } bad[] = {
		{ 5, 0 }, { 5, 3 },		/* role */
		{ 6, 2 }, { 6, 0x80 },		/* flags */
		{ 7, RLY_ST_MAX },		/* status */
		{ 20, 1 }, { 27, 0x40 },	/* reserved */
	};
	uint8_t b[RLY_HELLO_LEN];
	struct rly_hello h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rly_put_hello(b, &good_hello);
		b[bad[i].off] = bad[i].v;
		fix_hello_crc(b);
		cr_expect_eq(rly_get_hello(b, sizeof(b), &h), RLY_E_FIELD,
			     "case %zu", i);
	}
	rly_put_hello(b, &good_hello);
	memset(b + 8, 0, 8);		/* session 0 */
	fix_hello_crc(b);
	cr_expect_eq(rly_get_hello(b, sizeof(b), &h), RLY_E_FIELD);
}

Test(relay_hello, names)
{
	for (unsigned s = 0; s < RLY_ST_MAX; s++)
		cr_expect_str_neq(rly_status_name(s), "?");
	cr_expect_str_eq(rly_status_name(RLY_ST_MAX), "?");
	for (int e = 0; e < RLY_PERR_MAX; e++)
		cr_expect_str_neq(rly_perr_name(e), "?");
	cr_expect_str_eq(rly_type_name(0), "?");
	cr_expect_str_eq(rly_type_name(RLY_END), "end");
}

/* ---- frame header -------------------------------------------------------------- */

Test(relay_hdr, layout)
{
	struct rly_hdr h = { .type = RLY_DATA, .raw_len = 0x10203,
			     .wire_len = 0x405, .data_crc = 0xdeadbeef };
	static const uint8_t want[16] = {
		0xc0, 0xda, RLY_DATA, 0, 0, 1, 2, 3, 0, 0, 4, 5,
		0xde, 0xad, 0xbe, 0xef,
	};
	uint8_t b[RLY_HDR_LEN];

	rly_put_hdr(b, &h);
	cr_assert_arr_eq(b, want, sizeof(want));
	cr_expect_eq(get32(b + 16), rly_crc32c(0, b, 16));
}

Test(relay_hdr, round_trip_every_type)
{
	struct rly_hdr in[] = {
		{ .type = RLY_DATA, .raw_len = 1, .wire_len = 9, .data_crc = 7 },
		{ .type = RLY_DATA, .raw_len = RLY_RAW_MAX,
		  .wire_len = RLY_WIRE_MAX },
		{ .type = RLY_PING }, { .type = RLY_END },
	}, out;
	uint8_t b[RLY_HDR_LEN];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		rly_put_hdr(b, &in[i]);
		for (size_t n = 0; n < RLY_HDR_LEN; n++)
			cr_expect_eq(rly_get_hdr(b, n, true, &out), RLY_OK);
		memset(&out, 0xff, sizeof(out));
		cr_assert_eq(rly_get_hdr(b, sizeof(b), true, &out), RLY_OK,
			     "case %zu", i);
		cr_expect_eq(out.type, in[i].type);
		cr_expect_eq(out.flags, 0);
		cr_expect_eq(out.raw_len, in[i].raw_len);
		cr_expect_eq(out.wire_len, in[i].wire_len);
		cr_expect_eq(out.data_crc, in[i].data_crc);
	}
}

Test(relay_hdr, magic_at_first_byte)
{
	struct rly_hdr h = { .type = RLY_PING }, out;
	uint8_t b[RLY_HDR_LEN];

	rly_put_hdr(b, &h);
	b[0] = 'G';
	cr_expect_eq(rly_get_hdr(b, 1, true, &out), RLY_E_MAGIC);
	rly_put_hdr(b, &h);
	b[1] ^= 1;
	cr_expect_eq(rly_get_hdr(b, 1, true, &out), RLY_OK);
	cr_expect_eq(rly_get_hdr(b, 2, true, &out), RLY_E_MAGIC);
}

Test(relay_hdr, crc_checked)
{
	struct rly_hdr h = { .type = RLY_DATA, .raw_len = 10, .wire_len = 10 },
		       out;
	uint8_t b[RLY_HDR_LEN];

	for (int i = 2; i < RLY_HDR_LEN; i++) {
		rly_put_hdr(b, &h);
		b[i] ^= 0x80;
		cr_expect_eq(rly_get_hdr(b, sizeof(b), false, &out), RLY_E_CRC,
			     "byte %d", i);
	}
}

/* Lengths the type does not allow, unknown types and flags, even with a
 * right crc: a length is never believed before it is checked. */
Test(relay_hdr, fields_checked)
{
	static const struct {
		uint8_t type, flags;
		uint32_t raw, wire, crc;
		bool zstd;
	} bad[] = {
		{ 0, 0, 0, 0, 0, true },
		{ RLY_TYPE_MAX, 0, 0, 0, 0, true },
		{ RLY_PING, 1, 0, 0, 0, true },
		{ RLY_PING, 0, 1, 0, 0, true },
		{ RLY_END, 0, 0, 1, 0, true },
		{ RLY_END, 0, 0, 0, 1, true },
		{ RLY_DATA, 0, 0, 1, 0, true },
		{ RLY_DATA, 0, RLY_RAW_MAX + 1, 10, 0, true },
		{ RLY_DATA, 0, 10, 0, 0, true },
		{ RLY_DATA, 0, 10, RLY_WIRE_MAX + 1, 0, true },
		{ RLY_DATA, 0, 10, 11, 0, false },	/* raw: wire == raw */
		{ RLY_DATA, 0, 0xffffffff, 0xffffffff, 0, false },
	};
	struct rly_hdr out;
	uint8_t b[RLY_HDR_LEN];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put16(b, RLY_HDR_MAGIC);
		b[2] = bad[i].type;
		b[3] = bad[i].flags;
		put32(b + 4, bad[i].raw);
		put32(b + 8, bad[i].wire);
		put32(b + 12, bad[i].crc);
		fix_hdr_crc(b);
		cr_expect_eq(rly_get_hdr(b, sizeof(b), bad[i].zstd, &out),
			     RLY_E_FIELD, "case %zu", i);
	}
}
