/*
 * store.h - what the front end keeps: the primary frames the comparator
 * holds (by id), and bytes waiting for a socket.
 *
 *   struct held_tab
 *     v[]: [data len vlen gen] [..free..] [data ...] ...
 *     free list threaded through the free entries (LIFO, cache-warm)
 *     id = gen << 32 | index: a stale or unknown id is refused
 */
#ifndef BENCH_QCMP_STORE_H
#define BENCH_QCMP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct held {
	uint8_t *data;		/* vnet header + frame */
	uint32_t len, vlen;
	uint32_t cap;
	uint32_t gen;		/* odd while in use */
	uint32_t next_free;
};

struct held_tab {
	struct held *v;
	uint32_t n, cap;
	uint32_t free_head;	/* UINT32_MAX: none */
	uint64_t inuse;
};

void held_init(struct held_tab *t);
void held_fini(struct held_tab *t);

/* Copy a frame in: 0 with its id in *ID, or -ENOMEM. */
int held_put(struct held_tab *t, const uint8_t *pkt, uint32_t len,
	     uint32_t vlen, uint64_t *id);

/* The frame of ID, or NULL for an id not in use. */
struct held *held_get(struct held_tab *t, uint64_t id);

/* Done with the frame of ID (from held_get()). */
void held_free(struct held_tab *t, uint64_t id);

/* Bytes for a socket; data[head, len) is pending. */
struct obuf {
	uint8_t *data;
	size_t head, len, cap;
};

static inline size_t obuf_pending(const struct obuf *b)
{
	return b->len - b->head;
}

/* Append N bytes: 0 or -ENOMEM. */
int obuf_add(struct obuf *b, const void *d, size_t n);

/* Write what is pending to FD (non-blocking): bytes written, or -errno
 * (not -EAGAIN: that returns 0). */
long obuf_flush(struct obuf *b, int fd);

void obuf_clear(struct obuf *b);
void obuf_fini(struct obuf *b);

#endif
