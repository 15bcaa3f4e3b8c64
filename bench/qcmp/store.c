/*
 * store.c - held primary frames by id, and output buffers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/qcmp/store.h"

#define NONE UINT32_MAX

void held_init(struct held_tab *t)
{
	memset(t, 0, sizeof(*t));
	t->free_head = NONE;
}

void held_fini(struct held_tab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->v[i].data);
	free(t->v);
	held_init(t);
}

static int grow(struct held_tab *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 1024;
	struct held *v;

	if (cap <= t->cap)
		return -ENOMEM;
	v = realloc(t->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + t->cap, 0, (cap - t->cap) * sizeof(*v));
	t->v = v;
	t->cap = cap;
	return 0;
}

/* A free entry's index, or NONE. */
static uint32_t take(struct held_tab *t)
{
	uint32_t i = t->free_head;

	if (i != NONE) {
		t->free_head = t->v[i].next_free;
		return i;
	}
	if (t->n == t->cap && grow(t))
		return NONE;
	return t->n++;
}

int held_put(struct held_tab *t, const uint8_t *pkt, uint32_t len,
	     uint32_t vlen, uint64_t *id)
{
	uint32_t i = take(t);
	struct held *h;

	if (i == NONE)
		return -ENOMEM;
	h = &t->v[i];
	if (h->cap < len) {
		uint8_t *d = realloc(h->data, len);

		if (!d) {
			h->next_free = t->free_head;
			t->free_head = i;
			return -ENOMEM;
		}
		h->data = d;
		h->cap = len;
	}
	memcpy(h->data, pkt, len);
	h->len = len;
	h->vlen = vlen;
	h->gen++;			/* odd: in use */
	t->inuse++;
	*id = (uint64_t)h->gen << 32 | i;
	return 0;
}

struct held *held_get(struct held_tab *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	struct held *h;

	if (i >= t->n)
		return NULL;
	h = &t->v[i];
	if (!(h->gen & 1) || h->gen != (uint32_t)(id >> 32))
		return NULL;
	return h;
}

void held_free(struct held_tab *t, uint64_t id)
{
	struct held *h = held_get(t, id);
	uint32_t i = (uint32_t)id;

	if (!h)
		return;
	h->gen++;			/* even: free */
	h->next_free = t->free_head;
	t->free_head = i;
	t->inuse--;
}

int obuf_add(struct obuf *b, const void *d, size_t n)
{
	if (b->head && b->head == b->len)
		b->head = b->len = 0;
	if (b->len + n > b->cap && b->head) {	/* compact first */
		memmove(b->data, b->data + b->head, b->len - b->head);
		b->len -= b->head;
		b->head = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, d, n);
	b->len += n;
	return 0;
}

long obuf_flush(struct obuf *b, int fd)
{
	long total = 0;

	while (b->head < b->len) {
		ssize_t w = write(fd, b->data + b->head, b->len - b->head);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		b->head += (size_t)w;
		total += w;
	}
	if (b->head == b->len)
		b->head = b->len = 0;
	return total;
}

void obuf_clear(struct obuf *b)
{
	b->head = b->len = 0;
}

void obuf_fini(struct obuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
