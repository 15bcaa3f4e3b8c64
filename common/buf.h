/*
 * buf: a growable byte buffer, written at the tail, consumed at the head.
 *
 *   data
 *   |<-- consumed -->|<------ readable ------>|<------ spare ------>|
 *   0              head                     tail                  cap
 *
 * buf_consume() only moves head; the dead space in front is reclaimed
 * lazily, by buf_reserve(), when the spare room at the tail is too small
 * (memmove of the readable bytes to offset 0), or at once when the buffer
 * becomes empty. Sizes are checked for overflow and capped at BUF_MAX;
 * allocation failures are -ENOMEM and leave the buffer as it was.
 *
 * A zeroed struct buf (BUF_INIT, or buf_init()) is a valid empty buffer.
 * Pointers from buf_data() and buf_tail() are valid until the next call
 * that may grow or compact: buf_reserve(), buf_append().
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

/* No single buffer grows beyond this: 1 GiB. */
#define BUF_MAX ((size_t)1 << 30)
/* First allocation, in bytes. */
#define BUF_MIN_CAP 64

struct buf {
	uint8_t *data;
	size_t cap;
	size_t head; /* first readable byte */
	size_t tail; /* one past the last readable byte */
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* Make b an empty buffer that owns no memory. */
void buf_init(struct buf *b);

/* Ensure at least n bytes of spare room after the tail: 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);

/* Copy n bytes from p to the tail: 0 or -ENOMEM (nothing appended). */
int buf_append(struct buf *b, const void *p, size_t n);

/* Mark n bytes written directly at buf_tail() as readable;
 * n must not exceed buf_spare() (it is clamped to it). */
void buf_commit(struct buf *b, size_t n);

/* Drop up to n bytes from the head; returns how many were dropped. */
size_t buf_consume(struct buf *b, size_t n);

/* Drop all bytes, keep the memory. */
void buf_reset(struct buf *b);

/* Release the memory; b is then an empty buffer again. */
void buf_free(struct buf *b);

/* Readable bytes (NULL when the buffer has never allocated). */
static inline const uint8_t *buf_data(const struct buf *b)
{
	return b->data ? b->data + b->head : NULL;
}

/* Number of readable bytes. */
static inline size_t buf_len(const struct buf *b)
{
	return b->tail - b->head;
}

/* Where the next bytes go: buf_spare() bytes may be written here. */
static inline uint8_t *buf_tail(struct buf *b)
{
	return b->data ? b->data + b->tail : NULL;
}

/* Spare room after the tail. */
static inline size_t buf_spare(const struct buf *b)
{
	return b->cap - b->tail;
}

#endif /* COMMON_BUF_H */
