/*
 * tail: the SVM's TCP output of the current epoch (see tail.h).
 */
#include <stdlib.h>
#include <string.h>

#include "colo-proxy/tail.h"
#include "compare/parse.h"

static void drop_oldest(struct tail *t)
{
	struct tail_frame *f = &t->f[t->head];

	t->bytes -= f->len;
	if (f->cap > TAIL_KEEP_CAP) {
		free(f->data);
		f->data = NULL;
		f->cap = 0;
	}
	t->head = (t->head + 1) % TAIL_FRAMES;
	t->n--;
}

/* TCP with payload, SYN, FIN or RST: something the client waits for */
static bool worth_keeping(const uint8_t *data, uint32_t len)
{
	struct pkt k;

	pkt_parse(data, len, CMP_LINK_IP, &k);
	if (k.l3 != PKT_IP || k.proto != 6 || k.frag)
		return false;
	return k.paylen > 0 ||
	       (k.tcpflags & (PKT_TCP_FIN | PKT_TCP_SYN | PKT_TCP_RST));
}

void tail_add(struct tail *t, const uint8_t *data, uint32_t len,
	      bool csum_partial)
{
	struct tail_frame *f;
	uint8_t *buf;

	if (len > TAIL_BYTES || !worth_keeping(data, len))
		return;
	while (t->n == TAIL_FRAMES || t->bytes + len > TAIL_BYTES) {
		drop_oldest(t);
		t->forgotten++;
	}
	f = &t->f[(t->head + t->n) % TAIL_FRAMES];
	if (f->cap < len) {
		if (!(buf = realloc(f->data, len)))
			return;
		f->data = buf;
		f->cap = len;
	}
	memcpy(f->data, data, len);
	f->len = len;
	f->csum_partial = csum_partial;
	t->n++;
	t->bytes += len;
	t->kept++;
}

void tail_clear(struct tail *t)
{
	if (t->n)
		t->cleared++;
	while (t->n)
		drop_oldest(t);
}

void tail_flush(struct tail *t,
		void (*fn)(void *arg, const struct tail_frame *f), void *arg)
{
	for (unsigned i = 0; i < t->n; i++)
		fn(arg, &t->f[(t->head + i) % TAIL_FRAMES]);
	tail_clear(t);
}

void tail_free(struct tail *t)
{
	tail_clear(t);
	for (unsigned i = 0; i < TAIL_FRAMES; i++) {
		free(t->f[i].data);
		t->f[i].data = NULL;
		t->f[i].cap = 0;
	}
}
