/*
 * feed.c - two captures through the comparator, in timestamp order.
 *
 * Each capture is one side.  Frame numbers (1-based, as Wireshark counts)
 * are the ids given to the comparator.  When the comparator asks for a
 * checkpoint, the epoch is committed at once, as if the checkpoint had
 * completed, so that comparison goes on as it would in the proxy.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/parse.h"
#include "compare/tool/dump.h"
#include "compare/tool/feed.h"

struct ring_frame {
	uint64_t num, t;
	uint32_t caplen, len;
	uint8_t *data;
};

struct src {
	pcap_t *p;
	const char *name;
	int dlt;
	enum cmp_link link;
	size_t strip;
	bool eof;
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t n;			/* frames read */
	uint64_t t;			/* ns */
	struct ring_frame *ring;	/* last frames, for dumps */
	uint64_t dumped;		/* highest frame number dumped */
};

struct run {
	const struct pf_opts *o;
	struct pf_result *r;
	struct cmp *c;
	struct src s[2];
	uint64_t *arrival;		/* primary frame number -> ns */
	size_t narrival;
	size_t holdcap;
	struct dump dump;
	bool dumping;
};

bool pf_is_divergence(enum cmp_reason r)
{
	return r == CMP_R_PAYLOAD || r == CMP_R_LENGTH || r == CMP_R_SYN ||
	       r == CMP_R_FIN || r == CMP_R_RST;
}

/* Which link types we read, and what to strip to reach the frame. */
static bool link_of(int dlt, enum cmp_link *link, size_t *strip)
{
	*strip = 0;
	switch (dlt) {
	case DLT_EN10MB:
		*link = CMP_LINK_ETH;
		return true;
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		*link = CMP_LINK_IP;
		return true;
	case DLT_NULL:
	case DLT_LOOP:
		*link = CMP_LINK_IP;
		*strip = 4;
		return true;
	case DLT_LINUX_SLL:
		*link = CMP_LINK_IP;
		*strip = 16;
		return true;
	case DLT_LINUX_SLL2:
		*link = CMP_LINK_IP;
		*strip = 20;
		return true;
	}
	return false;
}

/* Cooked captures carry non-IP too: only IPv4/IPv6 frames are fed. */
static bool cooked_is_ip(const struct src *s, const u_char *d, size_t n)
{
	size_t at = s->dlt == DLT_LINUX_SLL ? 14 : 0;
	uint16_t proto;

	if (s->dlt != DLT_LINUX_SLL && s->dlt != DLT_LINUX_SLL2)
		return true;
	if (n < s->strip)
		return false;
	proto = get16(d + at);
	return proto == 0x0800 || proto == 0x86dd;
}

static int src_open(struct src *s, const char *path, struct pf_result *r,
		    char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];

	s->name = path;
	s->p = pcap_open_offline_with_tstamp_precision(
		path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!s->p) {
		snprintf(err, errlen, "%s: %s", path, ebuf);
		return -1;
	}
	s->dlt = pcap_datalink(s->p);
	if (!link_of(s->dlt, &s->link, &s->strip)) {
		const char *name = pcap_datalink_val_to_name(s->dlt);

		r->skipped = true;
		snprintf(r->note, sizeof(r->note),
			 "%s: link type %d (%s) is not supported "
			 "(Ethernet, raw IP, Linux cooked, BSD loopback are); "
			 "skipped", path, s->dlt, name ? name : "unknown");
	}
	return 0;
}

/* Read the next frame of S; a read error ends S with a warning. */
static void src_next(struct src *s, struct pf_result *r)
{
	int rc;

	if (s->eof)
		return;
	rc = pcap_next_ex(s->p, &s->h, &s->d);
	if (rc == 1) {
		s->n++;
		s->t = (uint64_t)s->h->ts.tv_sec * 1000000000ull +
		       (uint64_t)s->h->ts.tv_usec;
		return;
	}
	s->eof = true;
	if (rc == PCAP_ERROR && !r->note[0])
		snprintf(r->note, sizeof(r->note),
			 "%s: read error after frame %llu: %s; compared what "
			 "was read", s->name, (unsigned long long)s->n,
			 pcap_geterr(s->p));
}

static int note_arrival(struct run *rn, uint64_t num, uint64_t t)
{
	if (num >= rn->narrival) {
		size_t n = rn->narrival ? rn->narrival * 2 : 4096;
		uint64_t *a;

		while (n <= num)
			n *= 2;
		a = realloc(rn->arrival, n * sizeof(*a));
		if (!a)
			return -ENOMEM;
		memset(a + rn->narrival, 0, (n - rn->narrival) * sizeof(*a));
		rn->arrival = a;
		rn->narrival = n;
	}
	rn->arrival[num] = t;
	return 0;
}

static void note_hold(struct run *rn, uint64_t id, uint64_t now)
{
	struct pf_result *r = rn->r;

	if (id >= rn->narrival)
		return;
	if (r->nhold == rn->holdcap) {
		size_t n = rn->holdcap ? rn->holdcap * 2 : 4096;
		uint64_t *h = realloc(r->hold_ns, n * sizeof(*h));

		if (!h)
			return;
		r->hold_ns = h;
		rn->holdcap = n;
	}
	r->hold_ns[r->nhold++] = now >= rn->arrival[id] ? now - rn->arrival[id]
							: 0;
}

/* Does FRAME belong to K's connection, in either direction? */
static bool frame_in_flow(const struct src *s, const struct ring_frame *rf,
			  const struct cmp_flow_key *k)
{
	struct pkt p;
	size_t n = k->family == 4 ? 4 : 16;

	if (rf->caplen < s->strip || !k->family)
		return !k->family;
	pkt_parse(rf->data + s->strip, rf->caplen - s->strip, s->link, &p);
	if (p.l3 != PKT_IP || p.family != k->family || p.proto != k->proto)
		return false;
	if (!memcmp(p.saddr, k->src, n) && !memcmp(p.daddr, k->dst, n))
		return true;
	return !memcmp(p.saddr, k->dst, n) && !memcmp(p.daddr, k->src, n);
}

/* Write the kept frames of the flow of EV, both sides, oldest first. */
static void dump_event(struct run *rn, const struct pf_event *ev, size_t no)
{
	char comment[512], key[160];
	unsigned n = rn->o->context;
	int side;

	cmp_key_format(&ev->key, key, sizeof(key));
	for (side = 0; side < 2; side++) {
		struct src *s = &rn->s[side];
		uint64_t first = s->n > n ? s->n - n + 1 : 1, num;

		for (num = first; num <= s->n; num++) {
			struct ring_frame *rf = &s->ring[num % n];

			if (rf->num != num || num <= s->dumped ||
			    !frame_in_flow(s, rf, &ev->key))
				continue;
			snprintf(comment, sizeof(comment),
				 "divergence #%zu: %s: %s at offset %llu "
				 "(%s frame %llu)", no, key,
				 cmp_reason_name(ev->reason),
				 (unsigned long long)ev->offset,
				 side ? "secondary" : "primary",
				 (unsigned long long)num);
			dump_frame(&rn->dump, side, rf->t, rf->data,
				   rf->caplen, rf->len, comment);
			s->dumped = num;
		}
	}
}

static void on_checkpoint(struct run *rn, const struct cmp_action *a)
{
	struct pf_result *r = rn->r;
	struct pf_event *ev;

	ev = realloc(r->ev, (r->nev + 1) * sizeof(*ev));
	if (!ev)
		return;
	r->ev = ev;
	ev = &r->ev[r->nev++];
	ev->key = a->key;
	ev->reason = a->reason;
	ev->side = a->side;
	ev->offset = a->offset;
	ev->seq = a->seq;
	ev->frame[0] = rn->s[0].n;
	ev->frame[1] = rn->s[1].n;
	if (pf_is_divergence(a->reason)) {
		r->ndiv++;
		if (rn->dumping)
			dump_event(rn, ev, r->ndiv);
	}
}

/* Take every action; a checkpoint request is answered by a commit. */
static void drain(struct run *rn, uint64_t now)
{
	struct cmp_action a;
	bool commit;

	do {
		commit = false;
		while (cmp_next_action(rn->c, &a)) {
			if (a.type == CMP_ACT_RELEASE)
				note_hold(rn, a.id, now);
			else if (a.type == CMP_ACT_CHECKPOINT) {
				on_checkpoint(rn, &a);
				commit = true;
			}
		}
		if (commit)
			cmp_commit(rn->c, cmp_epoch(rn->c), now);
	} while (commit);
}

static void keep_for_dump(struct run *rn, struct src *s)
{
	struct ring_frame *rf;
	uint8_t *d;

	if (!rn->dumping)
		return;
	rf = &s->ring[s->n % rn->o->context];
	d = realloc(rf->data, s->h->caplen ? s->h->caplen : 1);
	if (!d)
		return;
	rf->data = d;
	memcpy(d, s->d, s->h->caplen);
	rf->num = s->n;
	rf->t = s->t;
	rf->caplen = s->h->caplen;
	rf->len = s->h->len;
}

static void feed_one(struct run *rn, int side)
{
	struct src *s = &rn->s[side];
	const u_char *d = s->d;
	size_t n = s->h->caplen;
	uint32_t flags = s->h->caplen < s->h->len ? CMP_IN_TRUNCATED : 0;

	keep_for_dump(rn, s);
	if (cmp_next_deadline(rn->c) <= s->t) {
		cmp_tick(rn->c, s->t);
		drain(rn, s->t);
	}
	if (!cooked_is_ip(s, d, n) || n < s->strip) {
		rn->r->unusable[side]++;
		return;
	}
	if (side == CMP_PRIMARY && note_arrival(rn, s->n, s->t))
		return;
	rn->r->frames[side]++;
	cmp_input(rn->c, side, s->n, cmp_epoch(rn->c), s->link, d + s->strip,
		  n - s->strip, flags, s->t);
	drain(rn, s->t);
}

static void run_loop(struct run *rn)
{
	struct src *p = &rn->s[0], *s = &rn->s[1];

	src_next(p, rn->r);
	src_next(s, rn->r);
	while (!p->eof || !s->eof) {
		int side = s->eof || (!p->eof && p->t <= s->t) ? 0 : 1;

		feed_one(rn, side);
		src_next(&rn->s[side], rn->r);
	}
}

static void run_free(struct run *rn)
{
	int side;
	unsigned i;

	for (side = 0; side < 2; side++) {
		if (rn->s[side].p)
			pcap_close(rn->s[side].p);
		for (i = 0; rn->s[side].ring && i < rn->o->context; i++)
			free(rn->s[side].ring[i].data);
		free(rn->s[side].ring);
	}
	free(rn->arrival);
	cmp_free(rn->c);
}

int pf_run(const char *primary, const char *secondary,
	   const struct pf_opts *o, struct pf_result *r, char *err,
	   size_t errlen)
{
	struct run rn = { .o = o, .r = r };
	int ret = -1, side;

	memset(r, 0, sizeof(*r));
	if (src_open(&rn.s[0], primary, r, err, errlen) ||
	    src_open(&rn.s[1], secondary, r, err, errlen))
		goto out;
	if (r->skipped) {
		ret = 0;
		goto out;
	}
	if (cmp_new(&o->cfg, &rn.c)) {
		snprintf(err, errlen, "comparator: bad configuration");
		goto out;
	}
	if (o->dump && o->context) {
		for (side = 0; side < 2; side++) {
			rn.s[side].ring = calloc(o->context, sizeof(struct ring_frame));
			if (!rn.s[side].ring) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
		}
		if (dump_open(&rn.dump, o->dump, rn.s[0].dlt, rn.s[1].dlt)) {
			snprintf(err, errlen, "%s: %s", o->dump, strerror(errno));
			goto out;
		}
		rn.dumping = true;
	}
	run_loop(&rn);
	r->st = *cmp_get_stats(rn.c);
	r->held_end = r->frames[0] - r->st.released;
	if (rn.dumping && dump_close(&rn.dump)) {
		snprintf(err, errlen, "%s: write failed", o->dump);
		goto out;
	}
	ret = 0;
out:
	if (rn.dumping && ret)
		dump_close(&rn.dump);
	run_free(&rn);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t pf_hold_quantile(struct pf_result *r, double q)
{
	size_t i;

	if (!r->nhold)
		return 0;
	if (!r->hold_sorted)
		qsort(r->hold_ns, r->nhold, sizeof(*r->hold_ns), cmp_u64);
	r->hold_sorted = true;
	i = (size_t)(q * (double)(r->nhold - 1) + 0.5);
	return r->hold_ns[i < r->nhold ? i : r->nhold - 1];
}

void pf_result_free(struct pf_result *r)
{
	free(r->ev);
	free(r->hold_ns);
	memset(r, 0, sizeof(*r));
}
