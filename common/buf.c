/*
 * buf: growable byte buffer with lazy compaction. See buf.h.
 */
#include "common/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->cap = 0;
	b->head = 0;
	b->tail = 0;
}

/* Move the readable bytes to offset 0, reclaiming consumed space. */
static void buf_compact(struct buf *b)
{
	size_t len = buf_len(b);

	if (b->head == 0)
		return;
	if (len > 0)
		memmove(b->data, b->data + b->head, len);
	b->head = 0;
	b->tail = len;
}

/* Smallest doubling of the current capacity that holds need bytes. */
static size_t buf_grow_cap(size_t cap, size_t need)
{
	size_t c = cap ? cap : BUF_MIN_CAP;

	while (c < need) {
		if (c > BUF_MAX / 2)
			return BUF_MAX;
		c *= 2;
	}
	return c < BUF_MAX ? c : BUF_MAX;
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t len = buf_len(b);
	size_t need, cap;
	uint8_t *p;

	if (buf_spare(b) >= n)
		return 0;
	if (n > BUF_MAX - len)
		return -ENOMEM;
	need = len + n;
	if (b->cap >= need) {
		buf_compact(b);
		return 0;
	}
	cap = buf_grow_cap(b->cap, need);
	buf_compact(b);
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int ret;

	if (n == 0)
		return 0;
	ret = buf_reserve(b, n);
	if (ret < 0)
		return ret;
	memcpy(b->data + b->tail, p, n);
	b->tail += n;
	return 0;
}

void buf_commit(struct buf *b, size_t n)
{
	if (n > buf_spare(b))
		n = buf_spare(b);
	b->tail += n;
}

size_t buf_consume(struct buf *b, size_t n)
{
	size_t len = buf_len(b);

	if (n >= len) {
		b->head = 0;
		b->tail = 0;
		return len;
	}
	b->head += n;
	return n;
}

void buf_reset(struct buf *b)
{
	b->head = 0;
	b->tail = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}
