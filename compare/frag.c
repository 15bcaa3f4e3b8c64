/*
 * frag.c - IP reassembly, per side, before comparison.
 *
 * The two VMs number their datagrams independently (IPv4 ID, IPv6
 * fragment header identification), so fragments cannot be compared one by
 * one: each side's datagram is rebuilt (RFC 791, RFC 8200 4.5) and the
 * whole datagram is compared as a message.  The first copy of a byte wins
 * on overlap.  Inconsistent fragments (a second end, a non-final fragment
 * not a multiple of 8 bytes, past 64 KB) are compared as raw frames, which
 * on real VMs means a checkpoint: when in doubt, checkpoint.
 */
#include <stdlib.h>
#include <string.h>

#include "compare/internal.h"

#define FRAG_MAX_PAYLOAD 65535u
#define FRAG_MAX_PIECES 128u

static struct frag *frag_find(struct cmp *c, int side, const struct pkt *p)
{
	struct frag *q;
	size_t n = p->family == 4 ? 4 : 16;

	for (q = c->frags[side]; q; q = q->next)
		if (q->id == p->frag_id && q->family == p->family &&
		    q->proto == p->proto && !memcmp(q->src, p->saddr, n) &&
		    !memcmp(q->dst, p->daddr, n))
			return q;
	return NULL;
}

static void frag_unlink(struct cmp *c, int side, struct frag *q)
{
	struct frag **pp = &c->frags[side];

	while (*pp != q)
		pp = &(*pp)->next;
	*pp = q->next;
	c->nfrags[side]--;
	wait_unlink(c, &q->w);
	cmp_unhold_bytes(c, q->cap);
	c->st.held_frames -= q->nids;
	free(q->data);
	free(q->map);
	free(q->ids);
	free(q);
}

static bool frag_grow(struct cmp *c, struct frag *q, uint32_t need)
{
	uint32_t cap = q->cap ? q->cap : 2048;
	uint8_t *d, *m;

	if (need <= q->cap)
		return true;
	while (cap < need)
		cap *= 2;
	if (cap > FRAG_MAX_PAYLOAD + 1)
		cap = FRAG_MAX_PAYLOAD + 1;
	if (!cmp_hold_bytes(c, NULL, cap - q->cap))
		return false;
	d = realloc(q->data, cap);
	if (d)
		q->data = d;
	m = d ? calloc(cap / 8 + 1, 1) : NULL;
	if (!m) {
		cmp_unhold_bytes(c, cap - q->cap);
		return false;
	}
	if (q->map)
		memcpy(m, q->map, q->cap / 8 + 1);
	free(q->map);
	q->map = m;
	q->cap = cap;
	return true;
}

static bool frag_add_id(struct frag *q, uint64_t id)
{
	if (q->nids == q->idcap) {
		uint32_t n = q->idcap ? q->idcap * 2 : 4;
		uint64_t *ids = realloc(q->ids, n * sizeof(*ids));

		if (!ids)
			return false;
		q->ids = ids;
		q->idcap = n;
	}
	q->ids[q->nids++] = id;
	return true;
}

/* Copy the bytes not yet present; returns false on an inconsistency. */
static bool frag_put(struct cmp *c, struct frag *q, const struct pkt *p)
{
	uint32_t off = p->frag_off, n = (uint32_t)p->l4len, i;
	uint32_t end = off + n;

	if (end > FRAG_MAX_PAYLOAD || (p->frag_more && n % 8) ||
	    (!p->frag_more && q->total && q->total != end) ||
	    (q->total && end > q->total) || q->nids >= FRAG_MAX_PIECES)
		return false;
	if (!p->frag_more)
		q->total = end;
	if (!frag_grow(c, q, end))
		return false;
	for (i = off; i < end; i++) {
		if (q->map[i / 8] & (1u << (i % 8)))
			continue;
		q->map[i / 8] |= (uint8_t)(1u << (i % 8));
		q->data[i] = p->l4[i - off];
		q->have++;
	}
	if (off == 0) {
		q->first = *p;
		q->has_first = true;
	}
	return true;
}

static struct frag *frag_new(struct cmp *c, int side, uint32_t epoch,
			     const struct pkt *p)
{
	struct frag *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->family = p->family;
	q->proto = p->proto;
	q->id = p->frag_id;
	q->epoch = epoch;
	memcpy(q->src, p->saddr, sizeof(q->src));
	memcpy(q->dst, p->daddr, sizeof(q->dst));
	q->next = c->frags[side];
	c->frags[side] = q;
	c->nfrags[side]++;
	wait_link(c, &q->w, NULL, side);
	return q;
}

/* The fragment cannot be reassembled: compare the frame as it is. */
static void frag_raw(struct cmp *c, int side, uint64_t id, uint32_t epoch,
		     const struct pkt *p)
{
	struct pkt raw = *p;

	raw.l3 = PKT_BAD;
	raw.why = "IP fragment that cannot be reassembled";
	cmp_route(c, side, &id, 1, epoch, &raw, 0);
}

void frag_input(struct cmp *c, int side, uint64_t id, uint32_t epoch,
		const struct pkt *p)
{
	struct frag *q = frag_find(c, side, p);
	struct pkt whole;

	if (!q && c->nfrags[side] >= c->cfg.max_reassembly) {
		cmp_limit(c, NULL, CMP_R_FRAG_LIMIT);
		return frag_raw(c, side, id, epoch, p);
	}
	if (!q)
		q = frag_new(c, side, epoch, p);
	if (!q || !frag_add_id(q, id)) {
		cmp_limit(c, NULL, CMP_R_NOMEM);
		return frag_raw(c, side, id, epoch, p);
	}
	c->st.held_frames++;
	if (!frag_put(c, q, p)) {
		q->nids--;
		c->st.held_frames--;
		if (!q->nids)	/* nothing of it is held: do not let it wait */
			frag_unlink(c, side, q);
		return frag_raw(c, side, id, epoch, p);
	}
	if (!q->has_first || !q->total || q->have != q->total)
		return;
	/* complete: compare the datagram as if it came in one frame */
	whole = q->first;
	whole.frag = false;
	whole.frame = q->data;
	whole.len = q->total;
	whole.l4 = q->data;
	whole.l4len = q->total;
	whole.payload = NULL;
	whole.paylen = 0;
	pkt_parse_l4(&whole);
	c->st.reassembled[side]++;
	c->st.held_frames -= q->nids;
	cmp_route(c, side, q->ids, q->nids, q->epoch, &whole, 0);
	c->st.held_frames += q->nids;
	frag_unlink(c, side, q);
}

/* Commit: release incomplete primary datagrams, drop secondary ones. */
void frag_commit(struct cmp *c)
{
	int side;
	uint32_t i;

	for (side = 0; side < 2; side++) {
		while (c->frags[side]) {
			struct frag *q = c->frags[side];

			for (i = 0; i < q->nids; i++)
				cmp_settle(c, NULL, side, q->ids[i], q->epoch);
			frag_unlink(c, side, q);
		}
	}
}

void frag_free_all(struct cmp *c)
{
	int side;

	for (side = 0; side < 2; side++)
		while (c->frags[side])
			frag_unlink(c, side, c->frags[side]);
}
