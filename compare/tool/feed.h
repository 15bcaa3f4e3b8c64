/*
 * feed.h - run the comparator over two captures (libpcap), one per side,
 * as the proxy would: frames in timestamp order, a checkpoint request
 * followed at once by a commit of the epoch.  Used by colo-pcapcmp and by
 * the capture tests.
 */
#ifndef COLO_PCAPCMP_FEED_H
#define COLO_PCAPCMP_FEED_H

#include "compare/cmp.h"

struct pf_opts {
	struct cmp_config cfg;
	const char *dump;	/* pcapng of the frames around divergences */
	unsigned context;	/* frames per side kept for the dump */
};

struct pf_event {
	struct cmp_flow_key key;
	enum cmp_reason reason;
	enum cmp_side side;
	uint64_t offset;
	uint32_t seq;
	uint64_t frame[2];	/* frame numbers (1-based) fed last per side */
};

struct pf_result {
	bool skipped;			/* a link type we do not handle */
	char note[512];			/* why skipped, or a read warning */
	uint64_t frames[2];		/* frames fed, by side */
	uint64_t unusable[2];		/* frames without IP in a cooked capture */
	struct pf_event *ev;		/* every checkpoint request, in order */
	size_t nev;
	size_t ndiv;			/* of which divergences (not limits) */
	uint64_t held_end;		/* primary frames still held at the end */
	uint64_t *hold_ns;		/* per released primary frame: hold time */
	size_t nhold;
	bool hold_sorted;
	struct cmp_stats st;
};

/* A checkpoint reason that means the outputs differ (not a limit). */
bool pf_is_divergence(enum cmp_reason r);

/* Compare the captures; 0, or -1 with ERR filled (cannot open/read). */
int pf_run(const char *primary, const char *secondary,
	   const struct pf_opts *o, struct pf_result *r, char *err,
	   size_t errlen);

void pf_result_free(struct pf_result *r);

/* The q-quantile (0..1) of the hold times, in ns. */
uint64_t pf_hold_quantile(struct pf_result *r, double q);

#endif
