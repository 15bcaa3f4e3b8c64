/*
 * test_cmp_tcp.c - the comparator's TCP rules, from byte fixtures:
 * segmentation, retransmission, out-of-order, partial overlap, SYN/FIN/RST,
 * the ACK guard, the window rule, sequence wrap-around and teardown.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "tests/support/frames.h"

#define P CMP_PRIMARY
#define S CMP_SECONDARY

static struct h h;
static struct fr f;
static uint8_t data[8192];

static void setup(void)
{
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	h_init_default(&h);
}

static void teardown(void)
{
	h_fini(&h);
}

TestSuite(tcp, .init = setup, .fini = teardown);

/* A data segment of the server's stream at SEQ, acking 1000. */
static uint64_t seg(int side, uint32_t seq, const void *d, size_t n)
{
	struct fr_spec s = { .seq = seq, .ack = 1000, .flags = 0x18 };

	fr_tcp(&f, &s, d, n);
	return h_feed(&h, side, &f);
}

static uint64_t ack_only(int side, uint32_t seq, uint32_t ack, uint16_t win)
{
	struct fr_spec s = { .seq = seq, .ack = ack, .win = win };

	fr_tcp(&f, &s, NULL, 0);
	return h_feed(&h, side, &f);
}

static uint64_t ctl(int side, uint32_t seq, uint8_t flags)
{
	struct fr_spec s = { .seq = seq, .ack = 1000, .flags = flags };

	fr_tcp(&f, &s, NULL, 0);
	return h_feed(&h, side, &f);
}

Test(tcp, identical_segments_are_released_in_order)
{
	uint64_t p1 = seg(P, 5000, data, 100);
	uint64_t p2 = seg(P, 5100, data + 100, 100);

	cr_expect_eq(h_nreleased(&h), 0, "nothing before the secondary");
	seg(S, 5000, data, 100);
	cr_expect_eq(h.released[p1], 1);
	cr_expect_eq(h.released[p2], 0);
	seg(S, 5100, data + 100, 100);
	cr_expect_eq(h.released[p2], 1);
	cr_expect_eq(h.nckpt, 0);
	cr_expect_eq(h_ndropped(&h), 2);
}

Test(tcp, one_gso_frame_matches_mtu_frames)
{
	uint64_t big = seg(P, 1, data, 4000);
	int i;

	for (i = 0; i < 2; i++) {
		seg(S, 1 + i * 1448, data + i * 1448, 1448);
		cr_expect_eq(h.released[big], 0, "released after %d of 3", i);
	}
	seg(S, 1 + 2 * 1448, data + 2 * 1448, 4000 - 2 * 1448);
	cr_expect_eq(h.released[big], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, mtu_frames_match_one_gso_frame_on_the_secondary)
{
	uint64_t ids[3];
	int i;

	for (i = 0; i < 3; i++)
		ids[i] = seg(P, 1 + i * 1000, data + i * 1000, 1000);
	seg(S, 1, data, 3000);
	for (i = 0; i < 3; i++)
		cr_expect_eq(h.released[ids[i]], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, differing_payload_asks_for_a_checkpoint_with_the_offset)
{
	uint8_t other[300];
	uint64_t p;

	memcpy(other, data, sizeof(other));
	other[123] ^= 0x20;
	ctl(P, 99, 0x12);
	ctl(S, 99, 0x12);
	p = seg(P, 100, data, 300);
	seg(S, 100, other, 300);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_PAYLOAD);
	cr_expect_eq(h.ckpt[0].offset, 123);
	cr_expect_eq(h.ckpt[0].seq, 100 + 123);
	cr_expect_eq(h.ckpt[0].key.sport, 80);
	cr_expect_eq(h.released[p], 0, "divergent output must wait");
	h_commit(&h);
	cr_expect_eq(h.released[p], 1, "the checkpoint covers it");
}

Test(tcp, after_a_divergence_the_flow_waits_without_new_requests)
{
	uint8_t other[100];
	uint64_t p2;

	memset(other, 'x', sizeof(other));
	seg(P, 1, data, 100);
	seg(S, 1, other, 100);
	p2 = seg(P, 101, data + 100, 100);
	seg(S, 101, data + 100, 100);
	cr_expect_eq(h.nckpt, 1);
	cr_expect_eq(h.released[p2], 0);
	h_commit(&h);
	cr_expect_eq(h.released[p2], 1);
	/* resynchronised at the primary's position: compares again */
	p2 = seg(P, 201, data + 200, 50);
	seg(S, 201, data + 200, 50);
	cr_expect_eq(h.released[p2], 1);
	cr_expect_eq(h.nckpt, 1);
}

Test(tcp, retransmission_of_confirmed_bytes_is_released)
{
	uint64_t r;

	seg(P, 1, data, 500);
	seg(S, 1, data, 500);
	r = seg(P, 1, data, 500);
	cr_expect_eq(h.released[r], 1);
	r = seg(S, 101, data + 100, 200);
	cr_expect_eq(h.dropped[r], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, out_of_order_segments)
{
	uint64_t a = seg(P, 1, data, 100), b = seg(P, 101, data + 100, 100);

	seg(S, 101, data + 100, 100);
	cr_expect_eq(h_nreleased(&h), 0);
	seg(S, 1, data, 100);
	cr_expect_eq(h.released[a], 1);
	cr_expect_eq(h.released[b], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, partial_overlap_keeps_the_first_copy_and_compares_the_rest)
{
	uint64_t p = seg(P, 1, data, 1500);

	seg(S, 1, data, 1000);
	seg(S, 501, data + 500, 1000);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, overlap_with_a_difference_past_the_old_bytes_diverges)
{
	uint8_t other[1000];

	memcpy(other, data + 500, sizeof(other));
	other[700] ^= 1;		/* stream byte 1200 */
	seg(P, 1, data, 1500);
	seg(S, 1, data, 1000);
	seg(S, 501, other, 1000);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].offset, 1200);	/* no SYN: from the anchor */
}

Test(tcp, syn_ack_matches_and_opens_the_stream)
{
	uint64_t sa = ctl(P, 7777, 0x12);

	cr_expect_eq(h.released[sa], 0);
	ctl(S, 7777, 0x12);
	cr_expect_eq(h.released[sa], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, syn_with_another_sequence_diverges_without_learning)
{
	ctl(P, 7777, 0x12);
	ctl(S, 9999, 0x12);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_SYN);
}

Test(tcp, syn_against_syn_ack_diverges)
{
	ctl(P, 7777, 0x12);
	ctl(S, 7777, 0x02);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_SYN);
}

Test(tcp, learnt_offset_maps_the_secondary_sequence_space)
{
	struct cmp_config cfg;
	uint64_t p;

	h_fini(&h);
	cmp_config_defaults(&cfg);
	cfg.flags = CMP_F_LEARN_ISN;
	h_init(&h, &cfg);
	ctl(S, 0x90000000u, 0x12);	/* secondary first, another ISN */
	ctl(P, 0x10000000u, 0x12);
	seg(S, 0x90000001u, data, 200);
	p = seg(P, 0x10000001u, data, 200);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
	seg(S, 0x90000001u + 200, data, 10);
	seg(P, 0x10000001u + 200, data + 1, 10);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].offset, 200);
}

Test(tcp, fins_at_the_same_offset_close_the_stream)
{
	uint64_t fp;

	seg(P, 1, data, 10);
	seg(S, 1, data, 10);
	fp = ctl(P, 11, 0x11);
	cr_expect_eq(h.released[fp], 0);
	ctl(S, 11, 0x11);
	cr_expect_eq(h.released[fp], 1);
	cr_expect_eq(h.nckpt, 0);
	/* the ACK after the FIN is not data past the FIN */
	fp = ack_only(P, 12, 1000, 1000);
	ack_only(S, 12, 1000, 1000);
	cr_expect_eq(h.released[fp], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, fin_at_another_offset_diverges)
{
	seg(P, 1, data, 10);
	ctl(P, 11, 0x11);
	seg(S, 1, data, 5);
	ctl(S, 6, 0x11);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_FIN);
}

Test(tcp, a_byte_where_the_fin_was_is_held_until_commit)
{
	uint64_t x;

	seg(P, 1, data, 5);
	seg(S, 1, data, 5);
	ctl(P, 6, 0x11);
	ctl(S, 6, 0x11);
	x = seg(P, 6, "X", 1);		/* found by fuzz_cmp */
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_FIN);
	cr_expect_eq(h.released[x], 0, "the secondary never sent it");
	h_commit(&h);
	cr_expect_eq(h.released[x], 1);
}

Test(tcp, data_beyond_the_other_sides_fin_diverges)
{
	ctl(P, 1, 0x11);
	seg(S, 1, data, 10);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_FIN);
}

Test(tcp, rst_on_both_sides_is_released)
{
	uint64_t r;

	seg(P, 1, data, 10);
	seg(S, 1, data, 10);
	r = ctl(P, 11, 0x04);
	cr_expect_eq(h.released[r], 0);
	ctl(S, 11, 0x04);
	cr_expect_eq(h.released[r], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, rst_only_on_the_primary_times_out)
{
	uint64_t r;

	seg(P, 1, data, 10);
	seg(S, 1, data, 10);
	r = ctl(P, 11, 0x04);
	seg(S, 11, data + 10, 10);
	h_tick(&h, h.now + 300000000ull);
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].reason, CMP_R_HOLD_TIMEOUT);
	cr_expect_eq(h.released[r], 0);
	h_commit(&h);
	cr_expect_eq(h.released[r], 1);
}

Test(tcp, ack_guard_holds_a_primary_ack_until_the_secondary_acks)
{
	uint64_t a;

	ack_only(S, 1, 400, 1000);
	a = ack_only(P, 1, 500, 1000);
	cr_expect_eq(h.released[a], 0, "secondary has acked only 400");
	ack_only(S, 1, 500, 1000);
	cr_expect_eq(h.released[a], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, ack_guard_off)
{
	struct cmp_config cfg;
	uint64_t a;

	h_fini(&h);
	cmp_config_defaults(&cfg);
	cfg.flags = CMP_F_NO_ACK_GUARD;
	h_init(&h, &cfg);
	ack_only(S, 1, 400, 1000);
	a = ack_only(P, 1, 500, 1000);
	cr_expect_eq(h.released[a], 1);
}

Test(tcp, window_is_clamped_to_the_secondarys_right_edge)
{
	uint64_t a;

	ack_only(S, 1, 500, 300);
	a = ack_only(P, 1, 500, 1000);
	cr_assert_eq(h.released[a], 1);
	cr_expect_eq(h.window[a], 300 + 1, "patched to the secondary's 300");
	a = ack_only(P, 1, 500, 200);
	cr_expect_eq(h.window[a], 0, "a smaller window is left alone");
}

Test(tcp, window_rule_uses_each_sides_scale)
{
	struct fr_spec s = { .seq = 1, .ack = 1000, .flags = 0x12,
			     .wscale = 7 };
	uint64_t a;

	fr_tcp(&f, &s, NULL, 0);
	h_feed(&h, P, &f);
	s.wscale = 5;
	fr_tcp(&f, &s, NULL, 0);
	h_feed(&h, S, &f);
	ack_only(S, 2, 1000, 100);	/* 100 << 5 = 3200 bytes */
	a = ack_only(P, 2, 1000, 100);	/* 100 << 7 = 12800 bytes */
	cr_assert_eq(h.released[a], 1);
	cr_expect_eq(h.window[a], 3200 / 128 + 1);
}

Test(tcp, patched_window_keeps_a_valid_checksum)
{
	struct fr_spec s = { .seq = 1, .ack = 2, .win = 5000 };

	fr_tcp(&f, &s, data, 33);
	cr_assert(fr_tcp_csum_ok(&f));
	cr_assert(cmp_patch_window(f.b, f.len, CMP_LINK_ETH, 1234, false));
	cr_expect_eq(f.b[14 + 20 + 14] << 8 | f.b[14 + 20 + 15], 1234);
	cr_expect(fr_tcp_csum_ok(&f));
	cr_assert(cmp_patch_window(f.b, f.len, CMP_LINK_ETH, 77, true));
	cr_expect_not(fr_tcp_csum_ok(&f), "partial: checksum left for the kernel");
}

Test(tcp, mid_stream_anchor_is_the_lowest_first_position)
{
	uint64_t p;

	p = seg(P, 1101, data + 100, 100);	/* primary lost 1001..1100 */
	seg(S, 1001, data, 100);
	seg(S, 1101, data + 100, 100);
	cr_expect_eq(h.released[p], 0, "1001..1100 not confirmed yet");
	p = seg(P, 1001, data, 100);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, old_segment_below_an_unsynced_anchor_is_compared_whole)
{
	uint64_t p;

	seg(P, 2001, data, 100);
	seg(S, 2001, data, 100);
	p = seg(P, 1001, data + 500, 100);	/* before anything seen */
	cr_expect_eq(h.released[p], 0, "never confirmed: must be paired");
	seg(S, 1001, data + 500, 100);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, new_connection_on_the_same_ports_starts_afresh)
{
	uint64_t p;

	ctl(P, 100, 0x12);
	ctl(S, 100, 0x12);
	ctl(P, 101, 0x11);
	ctl(S, 101, 0x11);
	p = ctl(P, 90000, 0x12);
	ctl(S, 90000, 0x12);
	cr_expect_eq(h.released[p], 1);
	p = seg(P, 90001, data, 10);
	seg(S, 90001, data, 10);
	cr_expect_eq(h.released[p], 1);
	cr_expect_eq(h.nckpt, 0);
}

Test(tcp, closed_flow_retires_after_linger_with_its_stats)
{
	seg(P, 1, data, 10);
	seg(S, 1, data, 10);
	ctl(P, 11, 0x11);
	ctl(S, 11, 0x11);
	h_tick(&h, h.now + 1000000ull);
	cr_expect_eq(h.nflow_end, 0, "lingers");
	h_tick(&h, h.now + 60ull * 1000000000ull);
	cr_assert_eq(h.nflow_end, 1);
	cr_expect_eq(h.last_end.matched, 10);
	cr_expect_eq(h.last_end.released, 2);
	cr_expect_eq(cmp_get_stats(h.c)->flows_active, 0);
}

/* Sequence wrap-around: streams that cross 2^32 at various points. */
struct wrap_case {
	uint32_t isn;
	int diff_at;		/* -1: identical */
};

ParameterizedTestParameters(tcp, wraps)
{
	static struct wrap_case cases[] = {
		{ 0xffffff00u, -1 }, { 0xffffffffu, -1 }, { 0xfffff000u, 3000 },
		{ 0x7fffff00u, -1 }, { 0xfffffe00u, 511 }, { 0, 10 },
	};
	return cr_make_param_array(struct wrap_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct wrap_case *w, tcp, wraps)
{
	static uint8_t other[6000];
	uint64_t ids[6];
	int i;

	memcpy(other, data, sizeof(other));
	if (w->diff_at >= 0)
		other[w->diff_at] ^= 0x55;
	ctl(P, w->isn, 0x12);
	ctl(S, w->isn, 0x12);
	for (i = 0; i < 6; i++)
		ids[i] = seg(P, w->isn + 1 + i * 1000, data + i * 1000, 1000);
	seg(S, w->isn + 1, other, 2500);
	seg(S, w->isn + 1 + 2500, other + 2500, 3500);
	if (w->diff_at < 0) {
		cr_expect_eq(h.nckpt, 0);
		for (i = 0; i < 6; i++)
			cr_expect_eq(h.released[ids[i]], 1);
		return;
	}
	cr_assert_eq(h.nckpt, 1);
	cr_expect_eq(h.ckpt[0].offset, (uint64_t)w->diff_at);
	cr_expect_eq(h.ckpt[0].seq, w->isn + 1 + (uint32_t)w->diff_at);
	for (i = 0; i < 6; i++)
		cr_expect_eq(h.released[ids[i]], i < w->diff_at / 1000,
			     "segment %d", i);
}

/*
 * The PVM sent more in one GSO frame than the SVM's smaller congestion
 * window let it send; the SVM waits for the client's ACK, the client for
 * that frame.  The PVM's retransmission of confirmed bytes must go out
 * although the big frame before it is still held (seen in the namespace
 * lab: a stream stalled until its hold timeout).
 */
Test(tcp, confirmed_retransmission_passes_a_held_frame)
{
	uint64_t big, r, tail;

	big = seg(P, 1, data, 4000);		/* beyond what S sent */
	seg(S, 1, data, 2500);
	cr_expect_eq(h.released[big], 0);
	r = seg(P, 1, data, 1448);		/* its retransmission */
	cr_expect_eq(h.released[r], 1, "confirmed retransmission held");
	cr_expect_eq(h.released[big], 0);
	tail = seg(S, 2501, data + 2500, 1500);	/* S catches up */
	cr_expect_eq(h.released[big], 1);
	cr_expect_eq(h.dropped[tail], 1);
	cr_expect_eq(h.nckpt, 0);
}

/* Likewise on the secondary: its confirmed retransmission is consumed
 * at once, not left to wait (and time out) behind a frame still held. */
Test(tcp, secondary_retransmission_passes_a_held_frame)
{
	uint64_t big, r;

	big = seg(S, 1, data, 4000);
	seg(P, 1, data, 2500);
	r = seg(S, 1, data, 1448);
	cr_expect_eq(h.dropped[r], 1);
	cr_expect_eq(h.dropped[big], 0);
	cr_expect_eq(h.nckpt, 0);
}

/*
 * The walk over held frames stops at the first one that cannot settle
 * unless a frame that may settle out of order (a retransmission, a lower
 * ACK) is still behind it.  Here two retransmissions wait behind a frame
 * that cannot go yet: both must still go.
 */
Test(tcp, retransmissions_behind_a_waiting_frame_all_settle)
{
	uint64_t f1, f2, f3, r1, r2;

	f1 = seg(P, 1, data, 1448);
	f2 = seg(P, 1449, data + 1448, 1448);
	f3 = seg(P, 2897, data + 2896, 1448);
	r1 = seg(P, 1, data, 1448);
	r2 = seg(P, 1449, data + 1448, 1448);
	seg(S, 1, data, 2896);
	cr_expect_eq(h.released[f1], 1);
	cr_expect_eq(h.released[f2], 1);
	cr_expect_eq(h.released[r1], 1, "retransmission behind f3 held");
	cr_expect_eq(h.released[r2], 1, "retransmission behind f3 held");
	cr_expect_eq(h.released[f3], 0);
	seg(S, 2897, data + 2896, 1448);
	cr_expect_eq(h.released[f3], 1);
	cr_expect_eq(h.nckpt, 0);
}

/* A primary frame acknowledging less than one before it is not held
 * back by that one's ACK guard. */
Test(tcp, a_lower_ack_passes_an_ack_held_frame)
{
	struct fr_spec s1 = { .seq = 1, .ack = 1000, .flags = 0x18 };
	struct fr_spec s2 = { .seq = 101, .ack = 900, .flags = 0x18 };
	struct fr_spec sv = { .seq = 1, .ack = 950, .flags = 0x18 };
	uint64_t a, b;

	fr_tcp(&f, &s1, data, 100);
	a = h_feed(&h, P, &f);
	fr_tcp(&f, &s2, data + 100, 100);
	b = h_feed(&h, P, &f);
	fr_tcp(&f, &sv, data, 200);
	h_feed(&h, S, &f);
	cr_expect_eq(h.released[a], 0, "secondary has acked only 950");
	cr_expect_eq(h.released[b], 1, "held behind an ACK-held frame");
	ack_only(S, 201, 1000, 1000);
	cr_expect_eq(h.released[a], 1);
	cr_expect_eq(h.nckpt, 0);
}

/* Thousands of frames held on one connection: all released, in order,
 * once the secondary's one big frame confirms them. */
Test(tcp, thousands_of_held_frames_settle)
{
	uint64_t first = 0, id = 0;
	uint32_t i, n = 3000;

	for (i = 0; i < n; i++) {
		id = seg(P, 1 + i * 2, data + (i * 2) % 4096, 2);
		if (i == 0)
			first = id;
	}
	cr_assert_lt(id, H_MAX_IDS);
	cr_expect_eq(h_nreleased(&h), 0);
	for (i = 0; i < n; i += 1000) {
		uint32_t k;

		for (k = 0; k < 1000; k++)
			memcpy(data + 4096 + k * 2,
			       data + ((i + k) * 2) % 4096, 2);
		seg(S, 1 + i * 2, data + 4096, 2000);
		cr_expect_eq(h_nreleased(&h), (int)(i + 1000));
	}
	for (id = first; id < first + n; id++)
		cr_expect_eq(h.released[id], 1, "frame %llu",
			     (unsigned long long)id);
	cr_expect_eq(h.nckpt, 0);
}
