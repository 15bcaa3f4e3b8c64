/*
 * flow.c - the comparator's flow table: a chained hash table keyed by the
 * directed flow key, and an LRU list used to retire closed, idle flows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compare/internal.h"

/* FNV-1a over the key bytes, then a final mix. */
static uint32_t key_hash(const struct cmp_flow_key *k)
{
	const uint8_t *b = (const uint8_t *)k;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < sizeof(*k); i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

int flow_table_init(struct cmp *c)
{
	uint32_t n = 64;

	while (n < c->cfg.max_flows && n < (1u << 20))
		n <<= 1;
	c->table = calloc(n, sizeof(*c->table));
	if (!c->table)
		return -ENOMEM;
	c->nbuckets = n;
	return 0;
}

static void lru_unlink(struct cmp *c, struct flow *f)
{
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		c->lru_head = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		c->lru_tail = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_append(struct cmp *c, struct flow *f)
{
	f->lprev = c->lru_tail;
	f->lnext = NULL;
	if (c->lru_tail)
		c->lru_tail->lnext = f;
	else
		c->lru_head = f;
	c->lru_tail = f;
}

void flow_touch(struct cmp *c, struct flow *f)
{
	f->last = c->now;
	if (f == c->overflow || c->lru_tail == f)
		return;
	lru_unlink(c, f);
	lru_append(c, f);
}

static void flow_free_state(struct cmp *c, struct flow *f)
{
	if (f->key.kind == CMP_K_TCP)
		tcp_free(c, f);
	else
		msg_free(c, f);
}

/* The flow for K, or NULL. */
struct flow *flow_find(struct cmp *c, const struct cmp_flow_key *k)
{
	struct flow *f = c->table[key_hash(k) & (c->nbuckets - 1)];

	while (f && memcmp(&f->key, k, sizeof(*k)))
		f = f->hnext;
	return f;
}

/*
 * Find the flow for K, creating it if there is room.  When the table is
 * full, NULL is returned and the caller uses the overflow flow.
 */
struct flow *flow_get(struct cmp *c, const struct cmp_flow_key *k,
		      bool *created)
{
	uint32_t b = key_hash(k) & (c->nbuckets - 1);
	struct flow *f = flow_find(c, k);

	*created = false;
	if (f)
		return f;
	if (c->st.flows_active >= c->cfg.max_flows)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->key = *k;
	if (k->kind == CMP_K_TCP)
		tcp_init(f);
	f->hnext = c->table[b];
	c->table[b] = f;
	f->last = c->now;
	lru_append(c, f);
	c->st.flows_active++;
	c->st.flows_created++;
	*created = true;
	return f;
}

/* Remove F from the table and free it; it must hold nothing. */
void flow_retire(struct cmp *c, struct flow *f)
{
	struct flow **pp = &c->table[key_hash(&f->key) & (c->nbuckets - 1)];
	struct cmp_action a = { .type = CMP_ACT_FLOW_END };

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	lru_unlink(c, f);
	a.key = f->key;
	a.stats = f->st;
	a.epoch = c->epoch;
	cmp_emit(c, &a);
	flow_free_state(c, f);
	free(f);
	c->st.flows_active--;
	c->st.flows_retired++;
}

bool flow_idle(const struct flow *f)
{
	return f->held[0] == 0 && f->held[1] == 0;
}

static bool flow_done(const struct flow *f)
{
	if (!flow_idle(f))
		return false;
	if (f->key.kind == CMP_K_TCP)
		return f->u.tcp.closed;
	return true;		/* message flows keep no state between pairs */
}

/*
 * Retire flows that are finished and idle for flow_linger_ns.  After a
 * commit every stream is synchronised, so when the table is nearly full any
 * idle flow may go: its next frames rebuild it.
 */
void flow_gc(struct cmp *c, bool after_commit)
{
	struct flow *f = c->lru_head, *next;
	uint64_t high = (uint64_t)c->cfg.max_flows * 7 / 8;
	unsigned budget = after_commit ? UINT32_MAX : 64;

	for (; f && budget; f = next, budget--) {
		next = f->lnext;
		if (c->now - f->last < c->cfg.flow_linger_ns &&
		    !(after_commit && c->st.flows_active > high))
			break;
		if (flow_done(f) ||
		    (after_commit && c->st.flows_active > high && flow_idle(f)))
			flow_retire(c, f);
	}
}

void flow_table_free(struct cmp *c)
{
	struct flow *f, *next;

	for (f = c->lru_head; f; f = next) {
		next = f->lnext;
		flow_free_state(c, f);
		free(f);
	}
	if (c->overflow) {
		flow_free_state(c, c->overflow);
		free(c->overflow);
	}
	free(c->table);
	c->table = NULL;
	c->lru_head = c->lru_tail = NULL;
}
