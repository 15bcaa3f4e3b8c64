/*
 * frame.c - QEMU's net socket framing: push parser and header writer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/qcmp/frame.h"
#include "common/bytes.h"

enum { QF_LEN = 0, QF_VLEN, QF_DATA, QF_SKIP };

int qf_reader_init(struct qf_reader *r, bool vnet, uint32_t max)
{
	memset(r, 0, sizeof(*r));
	r->vnet = vnet;
	r->max = max ? max : QF_MAX_LEN;
	r->buf = malloc(r->max);
	return r->buf ? 0 : -ENOMEM;
}

void qf_reader_free(struct qf_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

void qf_reset(struct qf_reader *r)
{
	if (r->state != QF_LEN || r->hlen)
		r->st.truncated++;
	r->state = QF_LEN;
	r->hlen = r->have = 0;
}

/* Collect a 4-byte field; true once it is complete (value in *v). */
static bool take_field(struct qf_reader *r, const uint8_t **d, size_t *n,
		       uint32_t *v)
{
	size_t k = 4 - r->hlen;

	if (k > *n)
		k = *n;
	memcpy(r->hdr + r->hlen, *d, k);
	r->hlen += (uint32_t)k;
	*d += k;
	*n -= k;
	if (r->hlen < 4)
		return false;
	r->hlen = 0;
	*v = get32(r->hdr);
	return true;
}

/* The length fields are complete: decide what to do with the frame. */
static void frame_start(struct qf_reader *r)
{
	r->have = 0;
	if (r->len == 0) {
		r->st.empty++;		/* QEMU drops it too */
		r->state = QF_LEN;
	} else if (r->len > r->max) {
		r->st.oversized++;
		r->state = QF_SKIP;
	} else if (r->vlen > r->len) {
		r->st.bad_vnet++;
		r->state = QF_SKIP;
	} else {
		r->state = QF_DATA;
	}
}

/* Frame bytes: deliver in place when whole in D, else gather. */
static void take_data(struct qf_reader *r, const uint8_t **d, size_t *n,
		      qf_frame_cb *cb, void *arg)
{
	uint32_t want = r->len - r->have;
	size_t k = want < *n ? want : *n;
	const uint8_t *pkt = r->buf;

	if (r->state == QF_DATA) {
		if (r->have == 0 && k == want)
			pkt = *d;	/* whole in the caller's bytes */
		else
			memcpy(r->buf + r->have, *d, k);
	}
	r->have += (uint32_t)k;
	*d += k;
	*n -= k;
	if (r->have < r->len)
		return;
	if (r->state == QF_DATA) {
		r->st.frames++;
		r->st.bytes += r->len;
		cb(arg, pkt, r->len, r->vlen);
	}
	r->state = QF_LEN;
}

void qf_feed(struct qf_reader *r, const uint8_t *d, size_t n,
	     qf_frame_cb *cb, void *arg)
{
	while (n) {
		switch (r->state) {
		case QF_LEN:
			if (!take_field(r, &d, &n, &r->len))
				return;
			r->vlen = 0;
			if (r->vnet)
				r->state = QF_VLEN;
			else
				frame_start(r);
			break;
		case QF_VLEN:
			if (!take_field(r, &d, &n, &r->vlen))
				return;
			frame_start(r);
			break;
		default:
			take_data(r, &d, &n, cb, arg);
			break;
		}
	}
}

size_t qf_put_header(uint8_t *out, uint32_t len, bool vnet, uint32_t vlen)
{
	put32(out, len);
	if (!vnet)
		return 4;
	put32(out + 4, vlen);
	return 8;
}
