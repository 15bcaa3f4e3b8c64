/*
 * test_cmp_epoch.c - epochs, commit, hold timeout and the limits on flows,
 * held bytes and held frames.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tests/support/frames.h"

#define P CMP_PRIMARY
#define S CMP_SECONDARY
#define MS 1000000ull
#define HOLD (200 * MS)		/* the default hold timeout */
#define SHOLD (2000 * MS)	/* the default secondary timeout */

static struct h h;
static struct fr f;
static uint8_t data[4096];

static void setup(void)
{
	memset(data, 'd', sizeof(data));
	h_init_default(&h);
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(epoch, .init = setup, .fini = teardown);

static void tcp_seg(uint16_t sport, uint32_t seq, size_t n)
{
	struct fr_spec s = { .sport = sport, .seq = seq, .ack = 1, .flags = 0x18 };

	fr_tcp(&f, &s, data, n);
}

static void init_with(void (*tweak)(struct cmp_config *))
{
	struct cmp_config cfg;

	h_fini(&h);
	cmp_config_defaults(&cfg);
	tweak(&cfg);
	h_init(&h, &cfg);
}

Test(epoch, commit_releases_primaries_and_drops_secondaries)
{
	uint64_t p, s;

	tcp_seg(80, 1, 100);
	p = h_feed(&h, P, &f);
	tcp_seg(81, 1, 100);
	s = h_feed(&h, S, &f);
	cr_expect_eq(h.released[p] + h.dropped[s], 0);
	h_commit(&h);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.dropped[s], 1);
	cr_expect_eq(cmp_epoch(h.c), 1);
	cr_expect_eq(cmp_get_stats(h.c)->held_bytes, 0);
	cr_expect_eq(cmp_get_stats(h.c)->held_frames, 0);
}

Test(epoch, releases_say_whether_a_match_or_a_commit)
{
	uint64_t p1, p2, p3;

	tcp_seg(80, 1, 100);
	p1 = h_feed(&h, P, &f);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p1], 1);
	cr_expect_not(h.committed[p1], "confirmed by the secondary");
	tcp_seg(80, 101, 100);
	p2 = h_feed(&h, P, &f);
	h_commit(&h);
	cr_expect_eq(h.released[p2], 1);
	cr_expect(h.committed[p2], "covered by the checkpoint");
	/* read before the checkpoint, fed after it completed */
	tcp_seg(80, 201, 100);
	p3 = h_feed_epoch(&h, P, &f, 0);
	cr_expect(h.committed[p3]);
	cr_expect_eq(cmp_get_stats(h.c)->released_committed, 2);
	cr_expect_eq(cmp_get_stats(h.c)->released, 3);
}

Test(epoch, secondary_frames_of_a_later_epoch_wait_for_it)
{
	uint64_t p0, p1, s1;

	tcp_seg(80, 1, 100);
	p0 = h_feed(&h, P, &f);
	tcp_seg(80, 1, 100);
	s1 = h_feed_epoch(&h, S, &f, 1);	/* after the SVM's checkpoint */
	cr_expect_eq(h.released[p0], 0, "not compared across epochs");
	cr_expect_eq(cmp_get_stats(h.c)->deferred, 1);
	h_commit(&h);
	cr_expect_eq(h.released[p0], 1);
	cr_expect_eq(h.dropped[s1], 1, "fed in epoch 1: below the commit point");
	tcp_seg(80, 101, 50);
	p1 = h_feed(&h, P, &f);
	tcp_seg(80, 101, 50);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p1], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(epoch, late_frames_of_a_committed_epoch)
{
	uint64_t p, s;

	h_commit(&h);
	h_commit(&h);
	tcp_seg(80, 1, 10);
	p = h_feed_epoch(&h, P, &f, 1);
	s = h_feed_epoch(&h, S, &f, 0);
	cr_expect_eq(h.released[p], 1, "covered by the checkpoint");
	cr_expect_eq(h.dropped[s], 1);
	cr_expect_eq(cmp_get_stats(h.c)->late_released, 1);
}

Test(epoch, commit_of_several_epochs_at_once)
{
	uint64_t a, b, c2;

	tcp_seg(80, 1, 10);
	a = h_feed(&h, P, &f);
	b = h_feed_epoch(&h, P, &f, 1);
	c2 = h_feed_epoch(&h, P, &f, 3);
	cmp_commit(h.c, 1, h.now);
	h_drain(&h);
	cr_expect_eq(h.released[a], 1);
	cr_expect_eq(h.released[b], 1);
	cr_expect_eq(h.released[c2], 0, "epoch 3 is not committed");
	cr_expect_eq(cmp_epoch(h.c), 2);
}

Test(epoch, stream_resumes_at_the_primarys_position_after_commit)
{
	uint64_t p;
	uint8_t other[100];

	memset(other, 'o', sizeof(other));
	tcp_seg(80, 1, 100);
	h_feed(&h, P, &f);
	h_feed(&h, P, &f);		/* a retransmission, before commit */
	tcp_seg(80, 101, 100);
	h_feed(&h, P, &f);
	cr_expect_eq(h_nreleased(&h), 0);
	h_commit(&h);
	cr_expect_eq(h_nreleased(&h), 3);
	/* the SVM now holds the PVM's state: both go on from 201 */
	tcp_seg(80, 201, 100);
	p = h_feed(&h, P, &f);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(epoch, hold_timeout_fires_once_at_the_deadline)
{
	uint64_t p, t0;

	tcp_seg(80, 1, 100);
	p = h_feed(&h, P, &f);
	t0 = h.now;
	cr_expect_eq(cmp_next_deadline(h.c), t0 + HOLD);
	h_tick(&h, t0 + HOLD - 1);
	cr_expect_eq(h.nckpt, 0);
	h_tick(&h, t0 + HOLD);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_HOLD_TIMEOUT);
	cr_expect_eq(h.ckpt[0].side, CMP_PRIMARY);
	cr_expect_eq(h.ckpt[0].key.sport, 80);
	h_tick(&h, t0 + 500 * MS);
	cr_expect_eq(h.nckpt, 1, "one request per epoch");
	cr_expect_eq(h.released[p], 0);
	h_commit(&h);
	cr_expect_eq(h.released[p], 1);
}

Test(epoch, secondary_output_alone_times_out_later)
{
	uint64_t t0;

	tcp_seg(80, 1, 100);
	h_feed(&h, S, &f);
	t0 = h.now;
	cr_expect_eq(cmp_next_deadline(h.c), t0 + SHOLD);
	h_tick(&h, t0 + HOLD);
	cr_expect_eq(h.nckpt, 0, "a primary lagging behind is no divergence");
	h_tick(&h, t0 + SHOLD);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].side, CMP_SECONDARY);
}

Test(epoch, clock_stepping_back_is_standing_still)
{
	tcp_seg(80, 1, 100);
	h_feed(&h, P, &f);
	h_tick(&h, 5);
	cr_expect_eq(h.nckpt, 0);
}

static void two_flows(struct cmp_config *cfg)
{
	cfg->max_flows = 2;
}

Test(epoch, flow_limit_asks_for_a_checkpoint_and_forgets_nobody)
{
	uint64_t a, b, over, a2;

	init_with(two_flows);
	tcp_seg(1, 1, 10);
	a = h_feed(&h, P, &f);
	tcp_seg(2, 1, 10);
	b = h_feed(&h, P, &f);
	tcp_seg(3, 1, 10);
	over = h_feed(&h, P, &f);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_FLOW_LIMIT);
	tcp_seg(3, 1, 10);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[over], 0, "untracked: waits for the commit");
	tcp_seg(1, 1, 10);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[a], 1, "flow 1 still compared");
	tcp_seg(1, 11, 10);
	a2 = h_feed(&h, P, &f);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[a2], 1);
	cr_expect_eq(h.released[b], 0);
	h_commit(&h);
	cr_expect_eq(h.released[over], 1);
	cr_expect_eq(h.released[b], 1);
}

static void small_bytes(struct cmp_config *cfg)
{
	cfg->max_held_bytes = 1000;
}

Test(epoch, held_bytes_limit)
{
	uint64_t a, b, c2;

	init_with(small_bytes);
	tcp_seg(1, 1, 800);
	a = h_feed(&h, P, &f);
	tcp_seg(2, 1, 800);
	b = h_feed(&h, P, &f);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_HELD_BYTES);
	cr_expect_leq(cmp_get_stats(h.c)->held_bytes, 1000);
	tcp_seg(1, 1, 800);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[a], 1, "the flow within the limit goes on");
	cr_expect_eq(h.released[b], 0);
	tcp_seg(2, 1, 800);
	c2 = h_feed(&h, S, &f);
	cr_expect_eq(h.dropped[c2], 1);
	cr_expect_eq(h.released[b], 0, "not compared once over the limit");
	h_commit(&h);
	cr_expect_eq(h.released[b], 1);
	cr_expect_eq(cmp_get_stats(h.c)->held_bytes, 0);
}

static void few_frames(struct cmp_config *cfg)
{
	cfg->max_held_frames = 3;
}

Test(epoch, held_frames_limit)
{
	int i;

	init_with(few_frames);
	for (i = 0; i < 4; i++) {
		tcp_seg(80, 1 + (uint32_t)i * 10, 10);
		h_feed(&h, P, &f);
	}
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_HELD_FRAMES);
	h_commit(&h);
	cr_expect_eq(h_nreleased(&h), 4);
}

Test(epoch, bad_configuration_is_refused)
{
	struct cmp_config cfg;
	struct cmp *c;

	cmp_config_defaults(&cfg);
	cfg.hold_timeout_ns = 0;
	cr_expect_eq(cmp_new(&cfg, &c), -EINVAL);
	cr_expect_null(c);
}

Test(epoch, two_comparators_side_by_side)
{
	struct h other;
	uint64_t p;

	h_init_default(&other);
	tcp_seg(80, 1, 10);
	p = h_feed(&h, P, &f);
	h_feed(&other, S, &f);
	cr_expect_eq(h.released[p], 0, "no state shared");
	h_fini(&other);
}
