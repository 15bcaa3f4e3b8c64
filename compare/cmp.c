/*
 * cmp.c - the comparator's front: configuration, classification of frames
 * into flows, epochs, commit, timeouts, limits and the action queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare/internal.h"

#define NS_PER_MS 1000000ull

/*
 * Defaults.  hold_timeout: how long the primary's output waits for the
 * secondary's before a checkpoint is asked for.  QEMU's colo-compare waits
 * 3 s, so every packet that only one VM sends (a timer, a random token)
 * costs the client a 3 s stall.  On recorded traffic the secondary's
 * matching output followed within 50 ms at worst (README, "Hold timeout"),
 * and a checkpoint costs about 50 ms under TCG (LAB.md): 200 ms waits out
 * four times the worst lag seen and bounds the stall at a quarter second.
 * secondary_timeout: output only the secondary sent holds nothing back
 * from the client, only memory, and a loaded primary can lag the
 * secondary by a quarter second: it waits 2 s before it counts as a
 * divergence.
 */
void cmp_config_defaults(struct cmp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = 65536;
	cfg->max_held_bytes = 64ull << 20;
	cfg->max_held_frames = 65536;
	cfg->hold_timeout_ns = 200 * NS_PER_MS;
	cfg->secondary_timeout_ns = 2000 * NS_PER_MS;
	cfg->flow_linger_ns = 30000 * NS_PER_MS;
	cfg->max_reassembly = 256;
}

int cmp_new(const struct cmp_config *cfg, struct cmp **out)
{
	struct cmp *c;
	int ret = -ENOMEM;

	*out = NULL;
	if (!cfg->max_flows || !cfg->max_held_bytes || !cfg->max_held_frames ||
	    !cfg->hold_timeout_ns || !cfg->secondary_timeout_ns ||
	    !cfg->max_reassembly)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->waitq[0].next = c->waitq[0].prev = &c->waitq[0];
	c->waitq[1].next = c->waitq[1].prev = &c->waitq[1];
	c->overflow = calloc(1, sizeof(*c->overflow));
	if (!c->overflow)
		goto out;
	c->overflow->key.kind = CMP_K_OVERFLOW;
	if (flow_table_init(c))
		goto out;
	*out = c;
	ret = 0;
out:
	if (ret) {
		free(c->overflow);
		free(c);
	}
	return ret;
}

static void deferred_free(struct cmp *c)
{
	struct deferred *d, *next;

	for (d = c->dhead; d; d = next) {
		next = d->next;
		free(d);
	}
	c->dhead = c->dtail = NULL;
}

void cmp_free(struct cmp *c)
{
	if (!c)
		return;
	flow_table_free(c);
	frag_free_all(c);
	deferred_free(c);
	free(c->act);
	free(c);
}

/* ---- actions ---------------------------------------------------------- */

void cmp_emit(struct cmp *c, const struct cmp_action *a)
{
	if (c->act_head == c->nact)
		c->act_head = c->nact = 0;
	if (c->nact == c->act_cap) {
		size_t n = c->act_cap ? c->act_cap * 2 : 64;
		struct cmp_action *p = realloc(c->act, n * sizeof(*p));

		if (!p) {
			/* A lost RELEASE leaves a frame held, never released
			 * unverified; a lost CHECKPOINT comes back as a hold
			 * timeout.  Count it as what it is. */
			c->st.checkpoint_requests[CMP_R_NOMEM]++;
			return;
		}
		c->act = p;
		c->act_cap = n;
	}
	c->act[c->nact++] = *a;
}

bool cmp_next_action(struct cmp *c, struct cmp_action *out)
{
	if (c->act_head == c->nact)
		return false;
	*out = c->act[c->act_head++];
	return true;
}

static void release(struct cmp *c, struct flow *f, uint64_t id,
		    uint32_t epoch, bool patch, uint16_t win)
{
	struct cmp_action a = { .type = CMP_ACT_RELEASE, .id = id,
				.epoch = epoch, .patch_window = patch,
				.window = win };

	/* not confirmed by the secondary: covered by a completed checkpoint */
	a.committed = c->committing || seq_lt(epoch, c->epoch);
	cmp_emit(c, &a);
	c->st.released++;
	c->st.released_committed += a.committed;
	if (f)
		f->st.released++;
}

void cmp_release(struct cmp *c, struct flow *f, uint64_t id, uint32_t epoch)
{
	release(c, f, id, epoch, false, 0);
}

void cmp_release_win(struct cmp *c, struct flow *f, uint64_t id,
		     uint32_t epoch, uint16_t win)
{
	release(c, f, id, epoch, true, win);
}

void cmp_drop(struct cmp *c, uint64_t id, uint32_t epoch)
{
	struct cmp_action a = { .type = CMP_ACT_DROP, .id = id, .epoch = epoch };

	cmp_emit(c, &a);
	c->st.dropped++;
}

/* Done with a frame of SIDE: a primary is released, a secondary dropped. */
void cmp_settle(struct cmp *c, struct flow *f, int side, uint64_t id,
		uint32_t epoch)
{
	if (side == CMP_PRIMARY)
		cmp_release(c, f, id, epoch);
	else
		cmp_drop(c, id, epoch);
}

static void request(struct cmp *c, const struct cmp_flow_key *k,
		    enum cmp_reason r, enum cmp_side side, uint64_t offset,
		    uint32_t seq)
{
	struct cmp_action a = { .type = CMP_ACT_CHECKPOINT, .reason = r,
				.side = side, .offset = offset, .seq = seq,
				.epoch = c->epoch };

	if (k)
		a.key = *k;
	c->st.checkpoint_requests[r]++;
	cmp_emit(c, &a);
}

/* F's output differs: ask for a checkpoint, compare F no more this epoch. */
void cmp_diverge(struct cmp *c, struct flow *f, enum cmp_reason r,
		 enum cmp_side side, uint64_t offset, uint32_t seq)
{
	if (f->diverged)
		return;
	f->diverged = true;
	f->st.divergences++;
	request(c, &f->key, r, side, offset, seq);
}

/* A limit was reached: one request per reason and epoch; F stops copying. */
void cmp_limit(struct cmp *c, struct flow *f, enum cmp_reason r)
{
	if (f)
		f->diverged = true;
	if (c->limit_fired & (1u << r))
		return;
	c->limit_fired |= 1u << r;
	request(c, f ? &f->key : NULL, r, CMP_PRIMARY, 0, 0);
}

bool cmp_hold_bytes(struct cmp *c, struct flow *f, size_t n)
{
	if (c->st.held_bytes + n > c->cfg.max_held_bytes) {
		cmp_limit(c, f, CMP_R_HELD_BYTES);
		return false;
	}
	c->st.held_bytes += n;
	if (c->st.held_bytes > c->st.held_bytes_max)
		c->st.held_bytes_max = c->st.held_bytes;
	return true;
}

void cmp_unhold_bytes(struct cmp *c, size_t n)
{
	c->st.held_bytes -= n;
}

void wait_link(struct cmp *c, struct wnode *w, struct flow *f, int side)
{
	struct wnode *q = &c->waitq[side];

	w->t = c->now;
	w->flow = f;
	w->side = (uint8_t)side;
	w->prev = q->prev;
	w->next = q;
	q->prev->next = w;
	q->prev = w;
	w->linked = true;
	if (c->st.held_frames > c->st.held_frames_max)
		c->st.held_frames_max = c->st.held_frames;
}

void wait_unlink(struct cmp *c, struct wnode *w)
{
	(void)c;
	if (!w->linked)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->linked = false;
}

/* ---- classification ---------------------------------------------------- */

static void key_l2(struct cmp_flow_key *k, const struct pkt *p)
{
	k->nvlan = p->nvlan;
	k->vlan[0] = p->vlan[0];
	k->vlan[1] = p->vlan[1];
	k->ethertype = p->ethertype;
}

static struct flow *flow_for(struct cmp *c, const struct cmp_flow_key *k)
{
	bool created;
	struct flow *f = flow_get(c, k, &created);

	if (!f) {
		cmp_limit(c, NULL, CMP_R_FLOW_LIMIT);
		return c->overflow;
	}
	flow_touch(c, f);
	return f;
}

/* ICMP and reassembled TCP: everything but the checksum field. */
static void route_sans_csum(struct cmp *c, struct flow *f, int side,
			    const uint64_t *ids, uint32_t nids, uint32_t epoch,
			    const uint8_t *d, size_t n, size_t csum_at)
{
	uint8_t small[2048], *buf = small;

	if (n > sizeof(small)) {
		buf = malloc(n);
		if (!buf) {
			cmp_limit(c, f, CMP_R_NOMEM);
			msg_input(c, f, side, epoch, ids, nids, NULL, 0, 0);
			return;
		}
	}
	memcpy(buf, d, n);
	if (n >= csum_at + 2)
		buf[csum_at] = buf[csum_at + 1] = 0;
	msg_input(c, f, side, epoch, ids, nids, buf, n, n);
	if (buf != small)
		free(buf);
}

static void route_other(struct cmp *c, int side, const uint64_t *ids,
			uint32_t nids, uint32_t epoch, const struct pkt *p,
			uint8_t kind)
{
	struct cmp_flow_key k;
	const uint8_t *d = p->frame;
	size_t n = p->len;
	struct flow *f;

	memset(&k, 0, sizeof(k));
	k.kind = kind;
	key_l2(&k, p);
	if (kind == CMP_K_ARP) {
		size_t al = p->net[5];	/* protocol address length */

		k.sport = get16(p->net + 6);	/* operation */
		if (al <= 16) {
			memcpy(k.src, p->net + 8 + p->net[4], al);
			memcpy(k.dst, p->net + 8 + 2 * p->net[4] + al, al);
		}
		d = p->net;
		n = p->netlen;
	} else if (kind == CMP_K_ETH && p->len >= 12) {
		memcpy(k.dst, p->frame, 6);
		memcpy(k.src, p->frame + 6, 6);
	}
	f = flow_for(c, &k);
	msg_input(c, f, side, epoch, ids, nids, d, n, n);
}

void cmp_route(struct cmp *c, int side, const uint64_t *ids, uint32_t nids,
	       uint32_t epoch, const struct pkt *p, uint32_t flags)
{
	struct cmp_flow_key k;
	struct flow *f;
	size_t alen;

	if (p->l3 == PKT_BAD || (flags & CMP_IN_TRUNCATED)) {
		c->st.malformed[side] += p->l3 == PKT_BAD;
		return route_other(c, side, ids, nids, epoch, p, CMP_K_RAW);
	}
	if (p->l3 == PKT_OTHER)
		return route_other(c, side, ids, nids, epoch, p, CMP_K_ETH);
	if (p->l3 == PKT_ARP)
		return route_other(c, side, ids, nids, epoch, p, CMP_K_ARP);

	memset(&k, 0, sizeof(k));
	key_l2(&k, p);
	alen = p->family == 4 ? 4 : 16;
	k.family = p->family;
	k.proto = p->proto;
	memcpy(k.src, p->saddr, alen);
	memcpy(k.dst, p->daddr, alen);
	switch (p->proto) {
	case 6:
		k.kind = nids == 1 ? CMP_K_TCP : CMP_K_IP;
		break;
	case 17:
	case 136:
		k.kind = CMP_K_UDP;
		break;
	case 1:
	case 58:
		k.kind = p->payload ? CMP_K_ICMP : CMP_K_IP;
		break;
	default:
		k.kind = CMP_K_IP;
	}
	if (k.kind != CMP_K_IP) {
		k.sport = p->sport;
		k.dport = p->dport;
	}
	f = flow_for(c, &k);
	if (f->key.kind == CMP_K_TCP)
		tcp_input(c, f, side, ids[0], epoch, p);
	else if (k.kind == CMP_K_UDP)
		msg_input(c, f, side, epoch, ids, nids, p->payload, p->paylen,
			  p->paylen);
	else if (k.kind == CMP_K_ICMP)
		route_sans_csum(c, f, side, ids, nids, epoch, p->l4, p->l4len, 2);
	else if (p->proto == 6)
		route_sans_csum(c, f, side, ids, nids, epoch, p->l4, p->l4len, 16);
	else
		msg_input(c, f, side, epoch, ids, nids, p->l4, p->l4len,
			  p->l4len);
}

/* ---- input, epochs ------------------------------------------------------ */

static void process(struct cmp *c, int side, uint64_t id, uint32_t epoch,
		    enum cmp_link link, const uint8_t *frame, size_t len,
		    uint32_t flags)
{
	struct pkt p;

	if (c->st.held_frames >= c->cfg.max_held_frames)
		cmp_limit(c, NULL, CMP_R_HELD_FRAMES);
	pkt_parse(frame, len, link, &p);
	if (flags & CMP_IN_TRUNCATED)
		c->st.truncated[side]++;
	if (p.l3 == PKT_IP && p.frag && !(flags & CMP_IN_TRUNCATED))
		frag_input(c, side, id, epoch, &p);
	else
		cmp_route(c, side, &id, 1, epoch, &p, flags);
}

static void defer(struct cmp *c, int side, uint64_t id, uint32_t epoch,
		  enum cmp_link link, const uint8_t *frame, size_t len,
		  uint32_t flags)
{
	struct deferred *d;

	if (!cmp_hold_bytes(c, NULL, len))
		len = 0;	/* kept by id: goes to the overflow flow */
	d = malloc(sizeof(*d) + len);
	if (!d) {
		cmp_unhold_bytes(c, len);
		cmp_limit(c, NULL, CMP_R_NOMEM);
		return;
	}
	d->next = NULL;
	d->id = id;
	d->epoch = epoch;
	d->side = (uint8_t)side;
	d->link = (uint8_t)link;
	d->flags = flags;
	d->len = len;
	memcpy(d->data, frame, len);
	if (c->dtail)
		c->dtail->next = d;
	else
		c->dhead = d;
	c->dtail = d;
	c->st.deferred++;
}

int cmp_input(struct cmp *c, enum cmp_side side, uint64_t id, uint32_t epoch,
	      enum cmp_link link, const uint8_t *frame, size_t len,
	      uint32_t flags, uint64_t now)
{
	if ((side != CMP_PRIMARY && side != CMP_SECONDARY) ||
	    (link != CMP_LINK_ETH && link != CMP_LINK_IP) || (!frame && len))
		return -EINVAL;
	if (now > c->now)
		c->now = now;
	c->st.frames_in[side]++;
	if (seq_lt(epoch, c->epoch)) {
		/* read before a checkpoint that has completed: covered */
		c->st.late_released += side == CMP_PRIMARY;
		cmp_settle(c, NULL, side, id, epoch);
		return 0;
	}
	if (epoch != c->epoch)
		defer(c, side, id, epoch, link, frame, len, flags);
	else
		process(c, side, id, epoch, link, frame, len, flags);
	return 0;
}

/* Feed frames that waited for the epoch now current; settle older ones. */
static void undefer(struct cmp *c)
{
	struct deferred *d = c->dhead, *keep = NULL, *ktail = NULL, *next;

	c->dhead = c->dtail = NULL;
	for (; d; d = next) {
		next = d->next;
		d->next = NULL;
		if (seq_lt(c->epoch, d->epoch)) {
			if (ktail)
				ktail->next = d;
			else
				keep = d;
			ktail = d;
			continue;
		}
		cmp_unhold_bytes(c, d->len);
		if (seq_lt(d->epoch, c->epoch))
			cmp_settle(c, NULL, d->side, d->id, d->epoch);
		else if (!d->len)
			msg_input(c, c->overflow, d->side, d->epoch, &d->id, 1,
				  NULL, 0, 0);
		else
			process(c, d->side, d->id, d->epoch, d->link, d->data,
				d->len, d->flags);
		free(d);
	}
	/* frames of later epochs still wait, behind any deferred just now */
	if (keep) {
		ktail->next = c->dhead;
		if (!c->dhead)
			c->dtail = ktail;
		c->dhead = keep;
	}
}

uint32_t cmp_epoch(const struct cmp *c)
{
	return c->epoch;
}

void cmp_commit(struct cmp *c, uint32_t epoch, uint64_t now)
{
	struct flow *f;

	if (now > c->now)
		c->now = now;
	if (seq_lt(epoch, c->epoch))
		return;			/* committed already */
	c->committing = true;
	for (f = c->lru_head; f; f = f->lnext) {
		if (f->key.kind == CMP_K_TCP)
			tcp_commit(c, f);
		else
			msg_commit(c, f);
	}
	msg_commit(c, c->overflow);
	frag_commit(c);
	c->committing = false;
	c->epoch = epoch + 1;
	c->timeout_fired = false;
	c->limit_fired = 0;
	c->st.commits++;
	undefer(c);
	flow_gc(c, true);
}

/* ---- time ----------------------------------------------------------------- */

static void timeout_key(const struct wnode *w, struct cmp_flow_key *k)
{
	const struct frag *q;

	if (w->flow) {
		*k = w->flow->key;
		return;
	}
	q = (const struct frag *)((const char *)w - offsetof(struct frag, w));
	memset(k, 0, sizeof(*k));
	k->kind = CMP_K_IP;
	k->family = q->family;
	k->proto = q->proto;
	memcpy(k->src, q->src, sizeof(k->src));
	memcpy(k->dst, q->dst, sizeof(k->dst));
}

static uint64_t side_timeout(const struct cmp *c, int side)
{
	return side == CMP_PRIMARY ? c->cfg.hold_timeout_ns
				   : c->cfg.secondary_timeout_ns;
}

/* When the oldest unit of SIDE times out, or UINT64_MAX. */
static uint64_t side_deadline(const struct cmp *c, int side)
{
	const struct wnode *w = c->waitq[side].next;

	if (c->timeout_fired || w == &c->waitq[side])
		return UINT64_MAX;
	return w->t + side_timeout(c, side);
}

void cmp_tick(struct cmp *c, uint64_t now)
{
	int side;

	if (now > c->now)
		c->now = now;
	for (side = 0; side < 2; side++) {
		struct cmp_flow_key k;

		if (side_deadline(c, side) > c->now)
			continue;
		timeout_key(c->waitq[side].next, &k);
		c->timeout_fired = true;
		request(c, &k, CMP_R_HOLD_TIMEOUT, side, 0, 0);
	}
	flow_gc(c, false);
}

uint64_t cmp_next_deadline(const struct cmp *c)
{
	uint64_t t = side_deadline(c, CMP_PRIMARY);

	if (side_deadline(c, CMP_SECONDARY) < t)
		t = side_deadline(c, CMP_SECONDARY);
	if (c->lru_head && c->lru_head->last + c->cfg.flow_linger_ns < t)
		t = c->lru_head->last + c->cfg.flow_linger_ns;
	return t;
}

const struct cmp_stats *cmp_get_stats(const struct cmp *c)
{
	return &c->st;
}

void cmp_foreach_flow(const struct cmp *c,
		      void (*fn)(const struct cmp_flow_key *,
				 const struct cmp_flow_stats *, void *),
		      void *arg)
{
	const struct flow *f;

	for (f = c->lru_head; f; f = f->lnext)
		fn(&f->key, &f->st, arg);
}
