/*
 * msg.c - flows compared message by message: UDP datagrams, ICMP messages,
 * ARP bodies, other IP protocols, other ethertypes and raw frames.
 *
 * Each side's messages wait in FIFO order; the two heads are compared and
 * leave together, so the n-th primary message of a flow is compared with
 * the n-th secondary one.  A difference asks for a checkpoint; the flow
 * then holds its primary messages until the epoch is committed.
 */
#include <stdlib.h>
#include <string.h>

#include "compare/internal.h"

static void emit_ids(struct cmp *c, struct flow *f, int side,
		     const uint64_t *ids, uint32_t nids, uint32_t epoch)
{
	uint32_t i;

	for (i = 0; i < nids; i++)
		cmp_settle(c, f, side, ids[i], epoch);
}

static void msg_dispose(struct cmp *c, struct flow *f, int side, struct msg *m,
			bool emit)
{
	wait_unlink(c, &m->w);
	cmp_unhold_bytes(c, m->len);
	f->held[side]--;
	if (c->st.held_frames >= m->nids)
		c->st.held_frames -= m->nids;
	if (emit)
		emit_ids(c, f, side, m->nids == 1 ? &m->id : m->ids, m->nids,
			 m->epoch);
	free(m->ids);
	free(m);
}

static struct msg *msg_new(struct cmp *c, struct flow *f, int side,
			   uint32_t epoch, const uint64_t *ids, uint32_t nids,
			   const uint8_t *data, size_t len, size_t origlen)
{
	struct msg *m = calloc(1, sizeof(*m) + len);

	if (!m)
		return NULL;
	if (nids > 1) {
		m->ids = malloc(nids * sizeof(*ids));
		if (!m->ids) {
			free(m);
			return NULL;
		}
		memcpy(m->ids, ids, nids * sizeof(*ids));
	} else {
		m->id = ids[0];
	}
	m->nids = nids;
	m->epoch = epoch;
	m->len = (uint32_t)len;
	m->origlen = (uint32_t)origlen;
	if (len)
		memcpy(m->data, data, len);
	return m;
}

static void msg_enqueue(struct cmp *c, struct flow *f, int side, struct msg *m)
{
	struct msg_flow *mf = &f->u.msg;

	if (mf->tail[side])
		mf->tail[side]->next = m;
	else
		mf->head[side] = m;
	mf->tail[side] = m;
	f->held[side]++;
	c->st.held_frames += m->nids;
	wait_link(c, &m->w, f, side);
}

/* Hold a primary message by id only (diverged flow): data is not needed. */
static void hold_blind(struct cmp *c, struct flow *f, int side, uint32_t epoch,
		       const uint64_t *ids, uint32_t nids)
{
	struct msg *m;

	if (side == CMP_SECONDARY) {
		emit_ids(c, f, side, ids, nids, epoch);
		return;
	}
	m = msg_new(c, f, side, epoch, ids, nids, NULL, 0, 0);
	if (!m) {
		/* cannot even hold: the id is lost to us, so is the frame */
		cmp_limit(c, f, CMP_R_NOMEM);
		return;
	}
	msg_enqueue(c, f, side, m);
}

void msg_input(struct cmp *c, struct flow *f, int side, uint32_t epoch,
	       const uint64_t *ids, uint32_t nids, const uint8_t *data,
	       size_t len, size_t origlen)
{
	struct msg_flow *mf = &f->u.msg;
	int other = !side;
	struct msg *o = mf->head[other], *m;

	f->st.frames[side] += nids;
	f->st.bytes[side] += len;
	mf->count[side]++;
	if (f->diverged || f->key.kind == CMP_K_OVERFLOW)
		return hold_blind(c, f, side, epoch, ids, nids);
	if (o) {
		bool same = o->len == len && o->origlen == origlen &&
			    memcmp(o->data, data, len) == 0;

		if (same) {
			f->st.matched += len;
			c->st.matched_bytes += len;
			mf->head[other] = o->next;
			if (!o->next)
				mf->tail[other] = NULL;
			msg_dispose(c, f, other, o, true);
			emit_ids(c, f, side, ids, nids, epoch);
			return;
		}
		cmp_diverge(c, f, o->len == len ? CMP_R_PAYLOAD : CMP_R_LENGTH,
			    CMP_PRIMARY, mf->count[side] - 1, 0);
		return hold_blind(c, f, side, epoch, ids, nids);
	}
	if (!cmp_hold_bytes(c, f, len))
		return hold_blind(c, f, side, epoch, ids, nids);
	m = msg_new(c, f, side, epoch, ids, nids, data, len, origlen);
	if (!m) {
		cmp_unhold_bytes(c, len);
		cmp_limit(c, f, CMP_R_NOMEM);
		return hold_blind(c, f, side, epoch, ids, nids);
	}
	msg_enqueue(c, f, side, m);
}

static void msg_flush(struct cmp *c, struct flow *f, bool emit)
{
	struct msg_flow *mf = &f->u.msg;
	struct msg *m, *next;
	int side;

	for (side = 0; side < 2; side++) {
		for (m = mf->head[side]; m; m = next) {
			next = m->next;
			msg_dispose(c, f, side, m, emit);
		}
		mf->head[side] = mf->tail[side] = NULL;
	}
}

/* The epoch is committed: release primaries, drop secondaries. */
void msg_commit(struct cmp *c, struct flow *f)
{
	msg_flush(c, f, true);
	f->diverged = false;
}

void msg_free(struct cmp *c, struct flow *f)
{
	msg_flush(c, f, false);
}
