/*
 * stats: counters, checkpoints from the traffic, codec times (stats.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relay/stats.h"

const char *rly_fault_name(enum rly_fault f)
{
	static const char *const names[RLY_F_MAX] = {
#define X(n) [RLY_F_##n] = #n,
		RLY_FAULTS(X)
#undef X
	};

	return (unsigned)f < RLY_F_MAX ? names[f] : "?";
}

enum rly_fault rly_fault_of(enum rly_perr e)
{
	switch (e) {
	case RLY_E_MAGIC:
		return RLY_F_garbage;
	case RLY_E_VERSION:
		return RLY_F_version;
	case RLY_E_DATA:
		return RLY_F_corrupt;
	case RLY_E_NOMEM:
		return RLY_F_nomem;
	default:
		return RLY_F_header;
	}
}

int rly_stats_init(struct rly_stats *s, size_t history, uint64_t min_bytes)
{
	memset(s, 0, sizeof(*s));
	if (!history)
		history = 1;
	s->hist = calloc(history, sizeof(*s->hist));
	if (!s->hist)
		return -ENOMEM;
	s->cap = history;
	s->min_bytes = min_bytes;
	return 0;
}

void rly_stats_free(struct rly_stats *s)
{
	free(s->hist);
	s->hist = NULL;
	s->cap = 0;
}

/* The reverse direction spoke at NOW: the open checkpoint ends. */
static void close_ckpt(struct rly_stats *s, uint64_t now)
{
	s->open = false;
	if (s->cur.raw_bytes < s->min_bytes) {
		s->small_exchanges++;
		return;
	}
	s->cur.end_ns = now;
	s->cur.seq = s->nrec;
	s->hist[s->nrec % s->cap] = s->cur;
	s->nrec++;
}

void rly_stats_chunk(struct rly_stats *s, enum rly_dir dir, uint64_t raw,
		     uint64_t wire, uint64_t codec_ns, uint64_t now)
{
	struct rly_dir_stats *d = &s->dir[dir];

	d->lat[d->chunks % RLY_LAT_RING] = codec_ns;
	d->chunks++;
	d->raw_bytes += raw;
	d->wire_bytes += wire;
	d->codec_ns += codec_ns;
	if (codec_ns > d->codec_max_ns)
		d->codec_max_ns = codec_ns;
	if (dir == RLY_REV) {
		if (s->open)
			close_ckpt(s, now);
		return;
	}
	if (!s->open) {
		memset(&s->cur, 0, sizeof(s->cur));
		s->cur.start_ns = now;
		s->open = true;
	}
	s->cur.last_ns = now;
	s->cur.raw_bytes += raw;
	s->cur.wire_bytes += wire;
	s->cur.chunks++;
	s->cur.codec_ns += codec_ns;
}

void rly_stats_conn_end(struct rly_stats *s)
{
	if (s->open)
		s->unfinished++;
	s->open = false;
}

size_t rly_stats_kept(const struct rly_stats *s)
{
	return s->nrec < s->cap ? (size_t)s->nrec : s->cap;
}

const struct rly_ckpt *rly_stats_ckpt(const struct rly_stats *s, size_t i)
{
	size_t kept = rly_stats_kept(s);

	if (i >= kept)
		return NULL;
	return &s->hist[(s->nrec - kept + i) % s->cap];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t rly_stats_pct(const struct rly_stats *s, enum rly_dir dir,
		       unsigned pct)
{
	const struct rly_dir_stats *d = &s->dir[dir];
	size_t n = d->chunks < RLY_LAT_RING ? (size_t)d->chunks : RLY_LAT_RING;
	uint64_t v[RLY_LAT_RING];
	size_t i;

	if (!n)
		return 0;
	memcpy(v, d->lat, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_u64);
	if (pct > 100)
		pct = 100;
	/* nearest rank: the smallest value with pct% at or below it */
	i = (n * pct + 99) / 100;
	return v[i ? i - 1 : 0];
}
