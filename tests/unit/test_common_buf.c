/*
 * Criterion suite for common/buf: append, reserve, commit, consume with
 * lazy compaction, reset, free, and the overflow checks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

/* Fill p with a pattern that differs at every offset mod 251. */
static void pattern(uint8_t *p, size_t n, size_t start)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((start + i) % 251);
}

static void check_pattern(const struct buf *b, size_t start)
{
	const uint8_t *d = buf_data(b);

	for (size_t i = 0; i < buf_len(b); i++)
		cr_assert_eq(d[i], (uint8_t)((start + i) % 251), "byte %zu", i);
}

Test(buf, zeroed_is_empty)
{
	struct buf b = BUF_INIT;

	cr_assert_eq(buf_len(&b), 0);
	cr_assert_null(buf_data(&b));
	cr_assert_eq(buf_consume(&b, 10), 0);
	buf_free(&b);
	cr_assert_null(b.data);
}

Test(buf, append_and_read_back)
{
	struct buf b;
	uint8_t in[1000];

	buf_init(&b);
	pattern(in, sizeof(in), 0);
	for (size_t off = 0; off < sizeof(in); off += 100)
		cr_assert_eq(buf_append(&b, in + off, 100), 0);
	cr_assert_eq(buf_len(&b), sizeof(in));
	cr_assert_arr_eq(buf_data(&b), in, sizeof(in));
	cr_assert_geq(b.cap, sizeof(in));
	buf_free(&b);
	cr_assert_eq(buf_len(&b), 0);
	cr_assert_eq(b.cap, 0);
}

Test(buf, append_zero_bytes_allocates_nothing)
{
	struct buf b = BUF_INIT;

	cr_assert_eq(buf_append(&b, NULL, 0), 0);
	cr_assert_null(b.data);
	cr_assert_eq(buf_len(&b), 0);
}

Test(buf, consume_moves_head_only)
{
	struct buf b = BUF_INIT;
	uint8_t in[200];
	uint8_t *before;

	pattern(in, sizeof(in), 0);
	cr_assert_eq(buf_append(&b, in, sizeof(in)), 0);
	before = b.data;
	cr_assert_eq(buf_consume(&b, 50), 50);
	cr_assert_eq(buf_len(&b), 150);
	cr_assert_eq(b.data, before);
	check_pattern(&b, 50);
	cr_assert_eq(buf_consume(&b, 1000), 150, "consume is clamped to the length");
	cr_assert_eq(buf_len(&b), 0);
	cr_assert_eq(b.head, 0, "an emptied buffer restarts at offset 0");
	buf_free(&b);
}

Test(buf, reserve_compacts_instead_of_growing)
{
	struct buf b = BUF_INIT;
	uint8_t in[BUF_MIN_CAP];
	size_t cap;

	pattern(in, sizeof(in), 0);
	cr_assert_eq(buf_append(&b, in, sizeof(in)), 0);
	cap = b.cap;
	cr_assert_eq(cap, BUF_MIN_CAP);
	buf_consume(&b, 60);
	/* 4 readable bytes, 60 dead in front, 0 spare: room after compaction */
	cr_assert_eq(buf_append(&b, in, 50), 0);
	cr_assert_eq(b.cap, cap, "capacity grew although compaction sufficed");
	cr_assert_eq(b.head, 0);
	cr_assert_eq(buf_len(&b), 54);
	cr_assert_arr_eq(buf_data(&b), in + 60, 4);
	cr_assert_arr_eq(buf_data(&b) + 4, in, 50);
	buf_free(&b);
}

Test(buf, reserve_grows_and_keeps_content)
{
	struct buf b = BUF_INIT;
	uint8_t in[100];

	pattern(in, sizeof(in), 0);
	cr_assert_eq(buf_append(&b, in, sizeof(in)), 0);
	buf_consume(&b, 10);
	cr_assert_eq(buf_reserve(&b, 5000), 0);
	cr_assert_geq(buf_spare(&b), 5000);
	cr_assert_eq(buf_len(&b), 90);
	check_pattern(&b, 10);
	buf_free(&b);
}

Test(buf, commit_after_direct_write)
{
	struct buf b = BUF_INIT;

	cr_assert_eq(buf_reserve(&b, 16), 0);
	memcpy(buf_tail(&b), "hello", 5);
	buf_commit(&b, 5);
	cr_assert_eq(buf_len(&b), 5);
	cr_assert_arr_eq(buf_data(&b), "hello", 5);
	buf_commit(&b, SIZE_MAX);
	cr_assert_eq(buf_len(&b), b.cap, "commit is clamped to the spare room");
	buf_free(&b);
}

Test(buf, reset_keeps_memory)
{
	struct buf b = BUF_INIT;
	uint8_t *data;
	size_t cap;

	cr_assert_eq(buf_append(&b, "abcdef", 6), 0);
	buf_consume(&b, 2);
	data = b.data;
	cap = b.cap;
	buf_reset(&b);
	cr_assert_eq(buf_len(&b), 0);
	cr_assert_eq(b.data, data);
	cr_assert_eq(b.cap, cap);
	cr_assert_eq(buf_append(&b, "xy", 2), 0);
	cr_assert_arr_eq(buf_data(&b), "xy", 2);
	buf_free(&b);
}

Test(buf, oversize_is_enomem_and_harmless)
{
	struct buf b = BUF_INIT;

	cr_assert_eq(buf_append(&b, "abc", 3), 0);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX), -ENOMEM);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX - 2), -ENOMEM, "len + n overflows");
	cr_assert_eq(buf_reserve(&b, BUF_MAX - 2), -ENOMEM, "3 + (BUF_MAX - 2) > BUF_MAX");
	cr_assert_eq(buf_append(&b, "x", SIZE_MAX), -ENOMEM);
	cr_assert_eq(buf_len(&b), 3, "a failed call must not change the content");
	cr_assert_arr_eq(buf_data(&b), "abc", 3);
	buf_free(&b);
}

Test(buf, many_small_appends_and_consumes)
{
	struct buf b = BUF_INIT;
	uint8_t chunk[37];
	size_t written = 0, read = 0;

	for (int round = 0; round < 2000; round++) {
		pattern(chunk, sizeof(chunk), written);
		cr_assert_eq(buf_append(&b, chunk, sizeof(chunk)), 0);
		written += sizeof(chunk);
		if (round % 3 != 0) {
			check_pattern(&b, read);
			read += buf_consume(&b, 50);
		}
	}
	cr_assert_eq(buf_len(&b), written - read);
	check_pattern(&b, read);
	cr_assert_lt(b.cap, written, "consumed space was never reused");
	buf_free(&b);
}
