/*
 * libFuzzer harness for heartbeat/hbmsg: the heartbeat decoder and the
 * replay guard, with a fixed key and pair ("fuzz").
 *
 * Input:  byte 0 % 3 selects the mode, the rest is its data.
 *   0  the data as one datagram for hb_decode() (any length);
 *   1  72 bytes of data (zero-padded) signed with the key, so the MAC
 *      holds and the field checks are reached, then hb_decode(); with
 *      bit 7 of byte 0 set, the magic, version and pair are put in first;
 *   2  a program against one hb_sent/hb_remote (max_age 200 ms), one op
 *      byte then its argument bytes (missing bytes read as 0):
 *        op % 6 == 0  time += arg * 4 ms                       (1 byte)
 *                  1  we send: hb_sent_next() at now, hb_echo()
 *                  2  the peer sends: boot = one of 4 (arg0 % 4),
 *                     seq = arg1 | arg2 << 8 (0 -> 1), echo by arg3:
 *                     none, our seq (next_seq - 1 - arg4), another
 *                     boot of ours, or arg4 as a raw seq       (5 bytes)
 *                  3  replay message arg0 % 16 of those sent so far
 *                  4  time += (arg0 | arg1 << 8) ms            (2 bytes)
 *                  5  a burst: arg0 sends by us at now
 *      Every peer message goes through hb_encode() and hb_decode().
 *
 * Checks:
 *   - hb_decode() agrees with an independent model of the format: the
 *     error for any length, magic, version, pair and MAC, and for an
 *     authentic message the field rules; a decoded message re-encodes to
 *     the very same 104 bytes and decodes to the same fields;
 *   - hb_accept() agrees with a model built from our own record of every
 *     send (not hb_sent's ring): REPLAYED exactly for a seq of the proven
 *     boot not above its newest that was seen already (our own list of
 *     the seqs taken since the boot was proven; all up to that one count
 *     as seen) or is HB_SEQ_WINDOW or more below it, FRESH exactly when
 *     the echo is one of our
 *     seqs (still in the ring) sent at most max_age ago, else UNPROVEN;
 *     never FRESH unless that echo is ours and fresh;
 *   - the proven boot changes only on FRESH (restarts counted then),
 *     last_seq never decreases within a boot, last_fresh_ns is now after
 *     FRESH and unchanged otherwise, a REPLAYED leaves the state as it was;
 *     an UNPROVEN message of another boot becomes the candidate unless it
 *     is an older seq of the candidate's boot;
 *   - hb_echo() names the proven stream while it speaks (a new message,
 *     proven or not, within max_age, or newer than the candidate), else
 *     the candidate (or the proven stream when there is none);
 *   - hb_sent_fresh() agrees with our record for random (boot, seq).
 * A violated invariant prints "fuzz_hb: invariant violated: ..." and
 * aborts with __builtin_trap().
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/bytes.h"
#include "heartbeat/hbmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MS 1000000ULL
#define SIGNED 72
#define MAX_AGE (200 * MS)
#define OURS 0x0a0a0a0a0a0a0a0aULL
#define MAX_SENDS (4096 * 256 + 16)

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_hb: invariant violated: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	__builtin_trap();
}

#define CHECK(c, ...)                                                        \
	do {                                                                 \
		if (!(c))                                                    \
			fail(__VA_ARGS__);                                   \
	} while (0)

static uint8_t key[HB_KEY_LEN];
static uint32_t pair;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < HB_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	pair = hb_pair_id("fuzz");
	return 0;
}

/* ---- decoding --------------------------------------------------------------- */

/* What hb_decode must answer for BUF, from the format alone. */
static enum hb_decode model_decode(const uint8_t *buf, size_t len)
{
	uint8_t mac[HB_MAC_LEN];
	uint8_t type, role, flags, node, verdict;

	if (len >= 4 && memcmp(buf, "CHB", 3))
		return HB_BAD_MAGIC;
	if (len != HB_WIRE_LEN)
		return HB_BAD_LENGTH;
	if (buf[3] != HB_VERSION)
		return HB_BAD_VERSION;
	if (get32(buf + 12) != pair)
		return HB_BAD_PAIR;
	crypto_auth_hmacsha256(mac, buf, SIGNED, key);
	if (sodium_memcmp(mac, buf + SIGNED, HB_MAC_LEN))
		return HB_BAD_MAC;
	type = buf[4];
	role = buf[5];
	flags = buf[7];
	node = buf[8];
	verdict = buf[64];
	if (type < 1 || type > 3 || role < 1 || role > 3 || flags > HB_F_ALL ||
	    node < 1 || node > 3 || !get64(buf + 16) || !get64(buf + 24))
		return HB_BAD_FIELD;
	if (type == HB_VERDICT ? verdict < 1 || verdict > 3 : verdict != 0)
		return HB_BAD_FIELD;
	for (int i = 65; i < SIGNED; i++)
		if (buf[i])
			return HB_BAD_FIELD;
	if (buf[10] || buf[11])
		return HB_BAD_FIELD;
	return HB_OK;
}

static void check_decode(const uint8_t *buf, size_t len)
{
	struct hb_msg m, m2;
	uint8_t *copy = malloc(len ? len : 1), re[HB_WIRE_LEN];
	enum hb_decode d, want;

	if (!copy)
		return;
	memcpy(copy, buf, len);		/* exactly LEN: ASan sees overreads */
	d = hb_decode(copy, len, key, pair, &m);
	want = model_decode(buf, len);
	CHECK(d == want, "decode of %zu bytes: %s, the model says %s", len,
	      hb_decode_name(d), hb_decode_name(want));
	CHECK(strcmp(hb_decode_name(d), "?"), "decode result %d unnamed", d);
	if (d == HB_OK) {
		CHECK(m.pair == pair, "decoded pair");
		hb_encode(&m, key, re);
		CHECK(!memcmp(re, buf, HB_WIRE_LEN), "re-encode differs");
		CHECK(hb_decode(re, HB_WIRE_LEN, key, pair, &m2) == HB_OK,
		      "re-encoded message refused");
		/* hb_decode() clears M first: padding compares equal too */
		CHECK(!memcmp(&m, &m2, sizeof(m)), "re-decoded fields differ");
	}
	free(copy);
}

/* ---- the replay guard --------------------------------------------------- */

static const uint64_t peer_boots[4] = {
	0xb1b1b1b1b1b1b1b1ULL, 0xb2b2b2b2b2b2b2b2ULL, 1, UINT64_MAX,
};

struct prog {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t byte(struct prog *g)
{
	return g->i < g->n ? g->p[g->i++] : 0;
}

struct world {
	struct hb_sent s;
	struct hb_remote r;
	uint64_t now;
	uint64_t *sent_at;		/* by seq: our own record */
	uint64_t nsent;
	uint8_t wires[16][HB_WIRE_LEN];	/* peer messages, for replays */
	unsigned nwires;
	/* our record of the proven boot's seqs: all up to floor, and those
	 * taken since (unsorted) */
	uint64_t seen_boot, floor;
	uint64_t *seen;
	size_t nseen;
};

#define MAX_SEEN (4096 * 4)

static bool model_seen(const struct world *w, uint64_t seq)
{
	if (seq <= w->floor)
		return true;
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == seq)
			return true;
	return false;
}

static bool model_replayed(const struct world *w,
			   const struct hb_remote *before, uint64_t boot,
			   uint64_t seq)
{
	if (!before->boot || boot != before->boot || seq > before->last_seq)
		return false;
	return before->last_seq - seq >= HB_SEQ_WINDOW || model_seen(w, seq);
}

/* Is (BOOT, SEQ) one of ours sent at most MAX_AGE before now, and still
 * within the ring hb_sent keeps? */
static bool model_fresh(const struct world *w, uint64_t boot, uint64_t seq)
{
	uint64_t t;

	if (boot != OURS || seq == 0 || seq > w->nsent)
		return false;
	if (w->nsent + 1 - seq > HB_SENT_RING)
		return false;
	t = w->sent_at[seq];
	return w->now >= t && w->now - t <= MAX_AGE;
}

static void check_echo(const struct world *w)
{
	const struct hb_remote *r = &w->r;
	uint64_t b, q;
	/* the proven stream while it speaks: a new message of it (proven
	 * or not) within max_age, or more recent than the candidate */
	bool speaks = r->boot && (w->now - r->last_rx_ns <= MAX_AGE ||
				  r->last_rx_ns >= r->cand_ns);

	hb_echo(r, w->now, MAX_AGE, &b, &q);
	if (speaks || !r->cand_boot)
		CHECK(b == r->boot && q == r->last_seq,
		      "echo while the proven stream %s",
		      speaks ? "speaks" : "is silent, no candidate");
	else
		CHECK(b == r->cand_boot && q == r->cand_seq,
		      "echo of the candidate");
}

static void we_send(struct world *w)
{
	uint64_t seq;

	if (w->nsent + 1 >= MAX_SENDS)
		return;
	seq = hb_sent_next(&w->s, w->now);
	CHECK(seq == w->nsent + 1, "seq %llu after %llu sends",
	      (unsigned long long)seq, (unsigned long long)w->nsent);
	w->sent_at[seq] = w->now;
	w->nsent = seq;
	check_echo(w);
}

static void deliver(struct world *w, const uint8_t wire[HB_WIRE_LEN])
{
	struct hb_msg m;
	struct hb_remote before = w->r;
	enum hb_accept a, want;
	bool fresh;

	CHECK(hb_decode(wire, HB_WIRE_LEN, key, pair, &m) == HB_OK,
	      "an encoded message refused");
	fresh = model_fresh(w, m.echo_boot, m.echo_seq);
	CHECK(hb_sent_fresh(&w->s, m.echo_boot, m.echo_seq, w->now, MAX_AGE)
	      == fresh, "hb_sent_fresh(seq %llu) disagrees with our record",
	      (unsigned long long)m.echo_seq);
	if (model_replayed(w, &before, m.boot, m.seq))
		want = HB_REPLAYED;
	else
		want = fresh ? HB_FRESH : HB_UNPROVEN;
	a = hb_accept(&w->r, &m, &w->s, w->now, MAX_AGE);
	CHECK(a == want, "accept %d, the model says %d (boot %llx seq %llu, "
	      "proven %llx last %llu)", a, want, (unsigned long long)m.boot,
	      (unsigned long long)m.seq, (unsigned long long)before.boot,
	      (unsigned long long)before.last_seq);
	if (a == HB_FRESH)
		CHECK(m.echo_boot == OURS && fresh, "FRESH without a fresh echo");
	switch (a) {
	case HB_REPLAYED:
		CHECK(!memcmp(&before, &w->r, sizeof(before)),
		      "a replay changed the state");
		break;
	case HB_FRESH:
		CHECK(w->r.boot == m.boot, "FRESH but not the proven stream");
		CHECK(w->r.last_seq == (before.boot == m.boot &&
					before.last_seq > m.seq ?
					before.last_seq : m.seq),
		      "FRESH: the proven stream's newest is not the max");
		CHECK(w->r.last_fresh_ns == w->now, "last_fresh_ns");
		CHECK(w->r.restarts == before.restarts +
		      (before.boot && before.boot != m.boot),
		      "restarts %llu -> %llu",
		      (unsigned long long)before.restarts,
		      (unsigned long long)w->r.restarts);
		break;
	case HB_UNPROVEN:
		CHECK(w->r.boot == before.boot, "the proven boot changed "
		      "without proof");
		CHECK(w->r.last_fresh_ns == before.last_fresh_ns,
		      "last_fresh_ns moved without proof");
		CHECK(w->r.restarts == before.restarts, "restarts moved");
		if (m.boot == before.boot && before.boot) {
			CHECK(w->r.last_seq == (before.last_seq > m.seq ?
						before.last_seq : m.seq),
			      "last_seq not the newest");
			CHECK(w->r.cand_boot == before.cand_boot &&
			      w->r.cand_seq == before.cand_seq,
			      "the proven stream changed the candidate");
			break;
		}
		CHECK(w->r.last_seq == before.last_seq,
		      "last_seq of the proven boot changed");
		/* the newest unproven message of another boot */
		if (m.boot != before.cand_boot || m.seq > before.cand_seq)
			CHECK(w->r.cand_boot == m.boot &&
			      w->r.cand_seq == m.seq, "candidate not taken");
		else
			CHECK(w->r.cand_boot == before.cand_boot &&
			      w->r.cand_seq == before.cand_seq,
			      "an older seq replaced the candidate");
		break;
	}
	if (w->r.boot == before.boot)
		CHECK(w->r.last_seq >= before.last_seq, "last_seq went down");
	/* our record: a boot proven now has seen everything up to m.seq */
	if (w->r.boot && w->r.boot != w->seen_boot) {
		w->seen_boot = w->r.boot;
		w->floor = w->r.last_seq;
		w->nseen = 0;
	} else if (a != HB_REPLAYED && m.boot == w->r.boot &&
		   w->nseen < MAX_SEEN) {
		w->seen[w->nseen++] = m.seq;
	}
	check_echo(w);
}

static void peer_sends(struct world *w, struct prog *g)
{
	struct hb_msg m = {
		.type = HB_BEAT, .role = HB_ROLE_PRIMARY, .flags = HB_F_VM_UP,
		.node = 1, .pair = pair, .term = 1,
	};
	uint8_t b = byte(g), how, arg;

	m.boot = peer_boots[b % 4];
	m.type = (uint8_t)(1 + (b >> 2) % 3);
	m.verdict = m.type == HB_VERDICT ? HB_GRANT : 0;
	m.seq = byte(g);
	m.seq |= (uint64_t)byte(g) << 8;
	if (!m.seq)
		m.seq = 1;
	how = byte(g);
	arg = byte(g);
	switch (how % 4) {
	case 0:
		break;
	case 1:
		m.echo_boot = OURS;
		m.echo_seq = w->nsent >= arg ? w->nsent - arg : 0;
		break;
	case 2:
		m.echo_boot = OURS + 1;
		m.echo_seq = w->nsent;
		break;
	case 3:
		m.echo_boot = OURS;
		m.echo_seq = (uint64_t)arg << (how >> 5);
		break;
	}
	hb_encode(&m, key, w->wires[w->nwires % 16]);
	deliver(w, w->wires[w->nwires % 16]);
	w->nwires++;
}

static void run_program(const uint8_t *p, size_t n)
{
	static uint64_t *sent_at;
	struct world w;
	struct prog g = { p, n, 0 };

	static uint64_t *seen;

	if (!sent_at && !(sent_at = calloc(MAX_SENDS, sizeof(*sent_at))))
		abort();
	if (!seen && !(seen = calloc(MAX_SEEN, sizeof(*seen))))
		abort();
	memset(&w, 0, sizeof(w));
	w.sent_at = sent_at;
	w.seen = seen;
	hb_sent_init(&w.s, OURS);
	w.now = 1000 * MS;
	check_echo(&w);
	while (g.i < g.n) {
		uint8_t op = byte(&g), a0, a1;

		switch (op % 6) {
		case 0:
			w.now += (uint64_t)byte(&g) * 4 * MS;
			break;
		case 1:
			we_send(&w);
			break;
		case 2:
			peer_sends(&w, &g);
			break;
		case 3:
			a0 = byte(&g);
			if (w.nwires)
				deliver(&w, w.wires[a0 % 16 % (w.nwires < 16 ?
							       w.nwires : 16)]);
			break;
		case 4:
			a0 = byte(&g);
			a1 = byte(&g);
			w.now += (uint64_t)(a0 | a1 << 8) * MS;
			break;
		case 5:
			a0 = byte(&g);
			for (unsigned k = 0; k < a0; k++)
				we_send(&w);
			break;
		}
		/* hb_sent_fresh against our record, for a probe */
		if (w.nsent) {
			uint64_t q = w.nsent - op % (w.nsent < 200 ? w.nsent : 200);

			CHECK(hb_sent_fresh(&w.s, OURS, q, w.now, MAX_AGE) ==
			      model_fresh(&w, OURS, q), "hb_sent_fresh(%llu)",
			      (unsigned long long)q);
			CHECK(!hb_sent_fresh(&w.s, OURS, w.nsent + 1, w.now,
					     MAX_AGE), "a future seq is fresh");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[HB_WIRE_LEN];

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		check_decode(data + 1, size - 1);
		break;
	case 1:
		memset(buf, 0, sizeof(buf));
		memcpy(buf, data + 1, size - 1 < SIGNED ? size - 1 : SIGNED);
		if (data[0] & 0x80) {	/* our header, to reach the fields */
			memcpy(buf, "CHB\x01", 4);
			put32(buf + 12, pair);
		}
		crypto_auth_hmacsha256(buf + SIGNED, buf, SIGNED, key);
		check_decode(buf, sizeof(buf));
		break;
	case 2:
		run_program(data + 1, size - 1);
		break;
	}
	return 0;
}
