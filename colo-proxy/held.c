/*
 * held: copies of frames the comparator holds, by cid.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/held.h"

int held_init(struct held_table *t, size_t buckets_pow2)
{
	size_t n = (size_t)1 << buckets_pow2;

	memset(t, 0, sizeof(*t));
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->mask = n - 1;
	return 0;
}

void held_fini(struct held_table *t)
{
	struct held *h = t->head, *next;

	for (; h; h = next) {
		next = h->next;
		free(h);
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

struct held *held_add(struct held_table *t, uint64_t cid, const uint8_t *data,
		      uint32_t len)
{
	struct held *h = malloc(sizeof(*h) + len);
	size_t b = cid & t->mask;

	if (!h)
		return NULL;
	memset(h, 0, sizeof(*h));
	h->cid = cid;
	h->len = len;
	memcpy(h->data, data, len);
	h->hnext = t->buckets[b];
	t->buckets[b] = h;
	h->prev = t->tail;
	if (t->tail)
		t->tail->next = h;
	else
		t->head = h;
	t->tail = h;
	t->count++;
	t->bytes += len;
	return h;
}

struct held *held_find(const struct held_table *t, uint64_t cid)
{
	struct held *h = t->buckets[cid & t->mask];

	while (h && h->cid != cid)
		h = h->hnext;
	return h;
}

struct held *held_take(struct held_table *t, uint64_t cid)
{
	struct held **pp = &t->buckets[cid & t->mask], *h;

	while ((h = *pp) && h->cid != cid)
		pp = &h->hnext;
	if (!h)
		return NULL;
	*pp = h->hnext;
	if (h->prev)
		h->prev->next = h->next;
	else
		t->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		t->tail = h->prev;
	t->count--;
	t->bytes -= h->len;
	return h;
}

void held_free(struct held *h)
{
	free(h);
}
