/*
 * cmp_bench.c - the comparator library alone, on paired frames, against a
 * baseline measured in the same run: a plain memcmp of the two frames of
 * each pair (the least any comparison must do).
 *
 *   build/bench/cmp_bench [seconds per point, default 0.5]
 *
 * Prints a Markdown table: frames/s (pairs), ns per pair, payload Gbit/s,
 * and the comparator's cost as a multiple of the baseline's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bytes.h"
#include "compare/cmp.h"

#define MAXF 66000

struct work {
	const char *name;
	int udp;
	size_t payload;		/* primary frame payload */
	size_t spayload;	/* secondary frame payload (segmentation) */
	unsigned conns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}



/* Ethernet + IPv4 + TCP/UDP frame; returns its length. */
static size_t build(uint8_t *f, int udp, unsigned conn, uint32_t seq,
		    const uint8_t *pay, size_t n)
{
	size_t l4 = udp ? 8 : 20;
	uint8_t *ip = f + 14, *t = f + 34;

	memset(f, 0, 14 + 20 + l4);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (unsigned)(20 + l4 + n));
	ip[8] = 64;
	ip[9] = udp ? 17 : 6;
	put32(ip + 12, 0x0a000002);
	put32(ip + 16, 0x0a000001);
	put16(t, 80);
	put16(t + 2, 10000 + conn);
	if (udp) {
		put16(t + 4, (unsigned)(8 + n));
	} else {
		put32(t + 4, seq);
		put32(t + 8, 1);
		t[12] = 0x50;
		t[13] = 0x10;
		put16(t + 14, 65535);
	}
	memcpy(t + l4, pay, n);
	return 14 + 20 + l4 + n;
}

static uint8_t pay[MAXF];
static uint8_t pf[MAXF], sf[MAXF];

/* Returns pairs/s; *bytes gets payload bytes per pair on average. */
static double run_cmp(const struct work *w, double secs, double *bytes)
{
	struct cmp_config cfg;
	struct cmp *c;
	struct cmp_action a;
	uint32_t *seq = calloc(w->conns, sizeof(*seq));
	uint64_t t0 = now_ns(), pairs = 0, id = 0, released = 0, fed = 0;
	double el;

	cmp_config_defaults(&cfg);
	if (!seq || cmp_new(&cfg, &c))
		exit(1);
	do {
		for (unsigned k = 0; k < 1024; k++) {
			unsigned conn = (unsigned)(pairs % w->conns);
			size_t plen = build(pf, w->udp, conn, seq[conn], pay,
					    w->payload);
			size_t off;

			cmp_input(c, CMP_PRIMARY, ++id, 0, CMP_LINK_ETH, pf,
				  plen, 0, pairs);
			fed++;
			for (off = 0; off < w->payload; off += w->spayload) {
				size_t n = w->payload - off < w->spayload ?
					   w->payload - off : w->spayload;
				size_t slen = build(sf, w->udp, conn,
						    seq[conn] + (uint32_t)off,
						    pay + off, n);

				cmp_input(c, CMP_SECONDARY, ++id, 0,
					  CMP_LINK_ETH, sf, slen, 0, pairs);
			}
			seq[conn] += (uint32_t)w->payload;
			while (cmp_next_action(c, &a))
				released += a.type == CMP_ACT_RELEASE;
			pairs++;
		}
	} while ((el = (double)(now_ns() - t0) / 1e9) < secs);
	if (released != fed) {
		fprintf(stderr, "%s: %llu fed, %llu released\n", w->name,
			(unsigned long long)fed, (unsigned long long)released);
		exit(1);
	}
	cmp_free(c);
	free(seq);
	*bytes = (double)w->payload;
	return (double)pairs / el;
}

static double run_baseline(const struct work *w, double secs)
{
	uint64_t t0 = now_ns(), pairs = 0;
	volatile int sink = 0;
	double el;

	do {
		for (unsigned k = 0; k < 1024; k++) {
			size_t plen = build(pf, w->udp, (unsigned)(pairs % w->conns),
					    (uint32_t)pairs, pay, w->payload);
			size_t slen = build(sf, w->udp, (unsigned)(pairs % w->conns),
					    (uint32_t)pairs, pay, w->payload);

			sink += memcmp(pf, sf, plen < slen ? plen : slen);
			pairs++;
		}
	} while ((el = (double)(now_ns() - t0) / 1e9) < secs);
	(void)sink;
	return (double)pairs / el;
}

int main(int argc, char **argv)
{
	static const struct work works[] = {
		{ "tcp 1448 B, 1 conn", 0, 1448, 1448, 1 },
		{ "tcp 1448 B, 256 conns", 0, 1448, 1448, 256 },
		{ "tcp 64 B, 1024 conns", 0, 64, 64, 1024 },
		{ "tcp 64 KB GSO vs 1448 B", 0, 65000, 1448, 16 },
		{ "udp 64 B, 16 flows", 1, 64, 64, 16 },
		{ "udp 512 B, 1 flow", 1, 512, 512, 1 },
	};
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	size_t i;

	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "cmp_bench: \"%s\" is not a duration in "
			"seconds (0-60]\n", argv[1]);
		return 2;
	}
	for (i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 31 + 7);
	printf("| workload | pairs/s | ns/pair | payload Gbit/s | "
	       "baseline (memcmp) ns/pair | cost vs baseline |\n");
	printf("|---|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < sizeof(works) / sizeof(works[0]); i++) {
		const struct work *w = &works[i];
		double bytes, rate = run_cmp(w, secs, &bytes);
		double base = run_baseline(w, secs);

		printf("| %s | %.0f | %.0f | %.2f | %.0f | %.1fx |\n", w->name,
		       rate, 1e9 / rate, rate * bytes * 8 / 1e9, 1e9 / base,
		       base / rate);
	}
	return 0;
}
