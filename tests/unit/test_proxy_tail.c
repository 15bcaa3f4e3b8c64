/*
 * test_proxy_tail: the secondary's kept output for takeover (tail.c):
 * what is kept (TCP with payload, SYN, FIN, RST; not bare ACKs, not UDP,
 * not fragments), order, the ring's bounds, clearing.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "colo-proxy/tail.h"
#include "compare/parse.h"
#include "tests/support/frames.h"

static struct tail t;

static void fini(void)
{
	tail_free(&t);
}

TestSuite(proxy_tail, .fini = fini);

static struct fr fr;

/* an IPv4 TCP packet (the Ethernet header skipped) with FLAGS, SEQ and
 * PAYLOAD bytes; points into the shared fixture buffer */
static uint8_t *tcp4(uint8_t flags, uint32_t seq, size_t payload,
		     uint32_t *len)
{
	static const uint8_t data[1500];
	struct fr_spec sp = { .flags = flags, .seq = seq };

	fr_tcp(&fr, &sp, payload ? data : NULL, payload);
	*len = (uint32_t)fr.len - 14;
	return fr.b + 14;
}

struct seen {
	unsigned n;
	uint32_t len[TAIL_FRAMES];
	uint8_t first[TAIL_FRAMES][64];
};

static void collect(void *arg, const struct tail_frame *f)
{
	struct seen *s = arg;

	s->len[s->n] = f->len;
	memcpy(s->first[s->n], f->data, f->len < 64 ? f->len : 64);
	s->n++;
}

Test(proxy_tail, keeps_what_a_client_waits_for)
{
	struct seen s = { 0 };
	uint8_t *p;
	uint32_t n;

	p = tcp4(PKT_TCP_ACK, 1, 0, &n);			/* bare ACK */
	tail_add(&t, p, n, false);
	cr_assert_eq(t.n, 0);
	p = tcp4(PKT_TCP_ACK | PKT_TCP_PSH, 1, 100, &n);
	tail_add(&t, p, n, false);
	p = tcp4(PKT_TCP_SYN | PKT_TCP_ACK, 1, 0, &n);
	tail_add(&t, p, n, false);
	p = tcp4(PKT_TCP_FIN | PKT_TCP_ACK, 1, 0, &n);
	tail_add(&t, p, n, false);
	p = tcp4(PKT_TCP_RST, 1, 0, &n);
	tail_add(&t, p, n, true);
	cr_assert_eq(t.n, 4);
	cr_assert_eq(t.f[(t.head + 3) % TAIL_FRAMES].csum_partial, true);
	tail_flush(&t, collect, &s);
	cr_assert_eq(s.n, 4);
	cr_assert_eq(t.n, 0, "a flush empties the tail");
	cr_assert_eq(t.bytes, 0);
}

Test(proxy_tail, not_udp_nor_garbage)
{
	uint8_t junk[40] = { 0x45 };
	struct fr_spec sp = { 0 };

	fr_udp(&fr, &sp, "hello", 5);
	tail_add(&t, fr.b + 14, (uint32_t)fr.len - 14, false);
	tail_add(&t, junk, sizeof(junk), false);
	tail_add(&t, junk, 0, false);
	cr_assert_eq(t.n, 0);
}

Test(proxy_tail, oldest_first_and_bounded)
{
	struct seen s = { 0 };
	uint32_t n;

	for (uint32_t i = 0; i < TAIL_FRAMES + 10; i++) {
		uint8_t *p = tcp4(PKT_TCP_ACK, 1000 + i, 10, &n);

		tail_add(&t, p, n, false);
	}
	cr_assert_eq(t.n, TAIL_FRAMES);
	cr_assert_eq(t.forgotten, 10);
	tail_flush(&t, collect, &s);
	cr_assert_eq(s.n, TAIL_FRAMES);
	/* the survivors are the newest, in order: seq 1010 first */
	cr_assert_eq(s.first[0][24] << 24 | s.first[0][25] << 16 |
		     s.first[0][26] << 8 | s.first[0][27], 1010u);
}

Test(proxy_tail, clear_forgets_the_epoch)
{
	uint8_t *p;
	uint32_t n;

	p = tcp4(PKT_TCP_ACK, 1, 500, &n);
	tail_add(&t, p, n, false);
	tail_clear(&t);
	cr_assert_eq(t.n, 0);
	cr_assert_eq(t.bytes, 0);
	cr_assert_eq(t.cleared, 1);
	p = tcp4(PKT_TCP_ACK, 2, 20, &n);
	tail_add(&t, p, n, false);
	cr_assert_eq(t.n, 1, "slots are reused after a clear");
	cr_assert_eq(t.bytes, n);
}
