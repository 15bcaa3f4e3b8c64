/*
 * held: the proxy's copies of frames the comparator is holding, by the id
 * the proxy gave them (cid).  A primary frame's copy is what gets sent back
 * with its verdict when the window must be patched, and what a divergence
 * dump shows; a secondary frame's copy only serves the dump.
 *
 *   buckets[cid & mask] -> held -> held ...   (chained, unordered)
 *   every held frame is also on a FIFO list in arrival order (for dumps
 *   and for releasing everything in order on a mode change)
 */
#ifndef COLO_PROXY_HELD_H
#define COLO_PROXY_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct held {
	struct held *hnext;		/* bucket chain */
	struct held *prev, *next;	/* arrival order */
	uint64_t cid;
	uint64_t t_ns;			/* when it was read */
	uint32_t nfq_id;		/* primary: the kernel's packet id */
	uint32_t epoch;
	uint8_t side;			/* 0 primary, 1 secondary */
	uint8_t link;			/* enum cmp_link */
	bool csum_partial;
	bool mangled;			/* data differs from the queued packet */
	uint32_t len;
	uint8_t data[];
};

struct held_table {
	struct held **buckets;
	size_t mask;
	struct held *head, *tail;	/* oldest first */
	uint64_t count, bytes;
};

int held_init(struct held_table *t, size_t buckets_pow2);
void held_fini(struct held_table *t);

/* Copy LEN bytes of DATA and file them under CID; NULL on ENOMEM. */
struct held *held_add(struct held_table *t, uint64_t cid, const uint8_t *data,
		      uint32_t len);
struct held *held_find(const struct held_table *t, uint64_t cid);
/* Unlink and return (the caller frees with held_free), or NULL. */
struct held *held_take(struct held_table *t, uint64_t cid);
void held_free(struct held *h);

#endif /* COLO_PROXY_HELD_H */
