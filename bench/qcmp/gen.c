/*
 * gen.c - the benchmark's paired frames (see gen.h for their shape).
 *
 * Two passes over the same generator: the first only sizes the wire
 * buffers, the second writes into them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/qcmp/frame.h"
#include "bench/qcmp/gen.h"
#include "common/bytes.h"
#include "common/csum.h"

#define PATLEN 65521u		/* prime: streams of connections differ */
#define MAX_PAYLOAD 65000u
#define ETH 14u
#define IP4 20u
#define TCPH 20u
#define UDPH 8u
#define VNET_LEN 12u		/* struct virtio_net_hdr_mrg_rxbuf */
#define VM_PORT_TCP 80
#define VM_PORT_UDP 5000
#define CLIENT_PORT 20000u
#define REQUEST 100u		/* bytes the client sent first (acked) */

enum { F_FIN = 0x01, F_SYN = 0x02, F_PSH = 0x08, F_ACK = 0x10 };

static uint8_t pat[PATLEN + MAX_PAYLOAD];

/* Where a pass writes: wire == NULL sizes only. */
struct pass {
	struct gen *g;
	int side;
	struct gen_side *s;
	size_t pos;
	uint32_t n;
	uint64_t bytes;
	uint32_t ipid;
	uint8_t *scratch;	/* one frame */
};

static uint32_t isn_of(uint32_t c)
{
	/* connection 0 wraps past 2^32 after 4 KB */
	return 0xfffff000u + 0x9e3779b9u * c;
}

static uint32_t client_isn(uint32_t c)
{
	return 0x01000000u + 7u * c;
}

static uint32_t frames_of(const struct gen_point *pt, uint32_t c)
{
	return pt->frames / pt->conns + (c < pt->frames % pt->conns);
}

static const uint8_t *stream_bytes(uint32_t c, uint64_t pos)
{
	return pat + (c * 131u + pos) % PATLEN;
}

/* Ethernet and IPv4 headers for an L4 part of L4LEN bytes. */
static void put_eth_ip(uint8_t *f, uint8_t proto, uint16_t ipid,
		       size_t l4len)
{
	static const uint8_t macs[12] = { 0x52, 0x54, 0, 0, 0, 0x01,
					  0x52, 0x54, 0, 0, 0, 0x02 };
	uint8_t *ip = f + ETH;

	memcpy(f, macs, 12);
	put16(f + 12, 0x0800);
	memset(ip, 0, IP4);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP4 + l4len));
	put16(ip + 4, ipid);
	put16(ip + 6, 0x4000);		/* DF */
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, 0x0a4d0002);	/* 10.77.0.2, the VM */
	put32(ip + 16, 0x0a4d0001);	/* 10.77.0.1, the clients */
}

/* Append FRAME (LEN bytes) with its framing to the pass's side. */
static void emit(struct pass *p, const uint8_t *frame, uint32_t len,
		 uint32_t paylen)
{
	struct gen *g = p->g;
	uint8_t h[QF_HDR_MAX];
	size_t hl = qf_put_header(h, len + g->vlen, g->pt.vnet, g->vlen);

	if (p->s->wire) {
		p->s->off[p->n] = p->pos;
		memcpy(p->s->wire + p->pos, h, hl);
		memset(p->s->wire + p->pos + hl, 0, g->vlen);
		memcpy(p->s->wire + p->pos + hl + g->vlen, frame, len);
	}
	p->pos += hl + g->vlen + len;
	p->n++;
	p->bytes += paylen;
}

static void tcp_frame(struct pass *p, uint32_t c, uint8_t flags,
		      uint64_t pos, uint32_t paylen)
{
	uint8_t *f = p->scratch, *t = f + ETH + IP4;
	uint32_t opt = (flags & F_SYN) ? 4 : 0, l4 = TCPH + opt + paylen;
	uint32_t seq = isn_of(c) + (flags & F_SYN ? 0 : 1) + (uint32_t)pos;

	if (p->s->wire) {
		put_eth_ip(f, 6, (uint16_t)p->ipid, l4);
		memset(t, 0, TCPH + opt);
		put16(t, VM_PORT_TCP);
		put16(t + 2, (uint16_t)(CLIENT_PORT + c));
		put32(t + 4, seq);
		put32(t + 8, client_isn(c) + 1 + (flags & F_SYN ? 0 : REQUEST));
		t[12] = (uint8_t)(((TCPH + opt) / 4) << 4);
		t[13] = flags | F_ACK;
		put16(t + 14, 0x7210);
		if (opt) {			/* MSS 1460 */
			t[20] = 2;
			t[21] = 4;
			put16(t + 22, 1460);
		}
		memcpy(t + TCPH + opt, stream_bytes(c, pos), paylen);
		csum_l4_fill(f + ETH, IP4 + l4, IP4, 6);
	}
	p->ipid++;
	emit(p, f, ETH + IP4 + l4, paylen);
}

static void udp_frame(struct pass *p, uint32_t c, uint32_t index)
{
	uint8_t *f = p->scratch, *u = f + ETH + IP4;
	uint32_t paylen = p->g->pt.payload, l4 = UDPH + paylen;

	if (p->s->wire) {
		put_eth_ip(f, 17, (uint16_t)p->ipid, l4);
		put16(u, VM_PORT_UDP);
		put16(u + 2, (uint16_t)(CLIENT_PORT + c));
		put16(u + 4, (uint16_t)l4);
		put16(u + 6, 0);
		put32(u + UDPH, index);
		memcpy(u + UDPH + 4, stream_bytes(c, (uint64_t)index * paylen),
		       paylen - 4);
		csum_l4_fill(f + ETH, IP4 + l4, IP4, 17);
	}
	p->ipid++;
	emit(p, f, ETH + IP4 + l4, paylen);
}

/*
 * The secondary's segments that go with primary data frame J of C: those
 * that cover its bytes. The stream of N frames of P bytes is cut as
 * s0 = [0, h), si = [h + (i-1)P, min(h + iP, NP)) for i = 1..N, h = P/2:
 * frame 0 brings s0 and s1, frame J > 0 brings s(J+1), the last one sN.
 */
static void diff_segments(struct pass *p, uint32_t c, uint32_t j)
{
	uint64_t pl = p->g->pt.payload, h = pl / 2;
	uint64_t end = frames_of(&p->g->pt, c) * pl;

	if (j == 0)
		tcp_frame(p, c, F_PSH, 0, (uint32_t)h);
	tcp_frame(p, c, F_PSH, h + j * pl,
		  (uint32_t)((h + (j + 1) * pl < end ? h + (j + 1) * pl : end) -
			     (h + j * pl)));
}

static void mark(struct pass *p, uint32_t k)
{
	if (p->side == 1 && p->s->wire)
		p->g->sec_upto[k] = p->n;
}

/* One side, all three phases. */
static void run_pass(struct pass *p)
{
	const struct gen_point *pt = &p->g->pt;
	bool tcp = pt->proto == GEN_TCP;
	uint32_t k = 0, c;

	mark(p, k);
	for (c = 0; c < pt->conns; c++, mark(p, ++k)) {
		if (tcp)
			tcp_frame(p, c, F_SYN, 0, 0);
		else
			udp_frame(p, c, k);
	}
	for (uint32_t d = 0; d < pt->frames; d++, mark(p, ++k)) {
		uint32_t j = d / pt->conns;

		c = d % pt->conns;
		if (!tcp)
			udp_frame(p, c, k);
		else if (p->side == 0 || !pt->diff)
			tcp_frame(p, c, F_PSH, (uint64_t)j * pt->payload,
				  pt->payload);
		else
			diff_segments(p, c, j);
	}
	for (c = 0; tcp && c < pt->conns; c++, mark(p, ++k))
		tcp_frame(p, c, F_FIN,
			  (uint64_t)frames_of(pt, c) * pt->payload, 0);
}

static int side_build(struct gen *g, int side, uint8_t *scratch)
{
	struct gen_side *s = &g->side[side];
	struct pass p = { .g = g, .side = side, .s = s, .scratch = scratch };

	run_pass(&p);			/* size */
	s->wire = malloc(p.pos ? p.pos : 1);
	s->off = malloc((p.n + 1) * sizeof(*s->off));
	if (!s->wire || !s->off)
		return -ENOMEM;
	s->n = p.n;
	p = (struct pass){ .g = g, .side = side, .s = s, .scratch = scratch };
	run_pass(&p);			/* fill */
	s->off[p.n] = p.pos;
	s->bytes = p.bytes;
	return 0;
}

static void pattern_init(void)
{
	static bool done;
	uint32_t x = 0x12345678;

	if (done)
		return;
	done = true;
	for (size_t i = 0; i < PATLEN; i++) {
		x = x * 1103515245u + 12345u;
		pat[i] = (uint8_t)(x >> 16);
	}
	/* periodic: a copy that runs past PATLEN reads on in the stream */
	memcpy(pat + PATLEN, pat, sizeof(pat) - PATLEN);
}

int gen_build(const struct gen_point *pt, struct gen *g)
{
	uint8_t *scratch;
	uint32_t nprim;
	int r = -ENOMEM;

	memset(g, 0, sizeof(*g));
	if (pt->payload < 8 || pt->payload > MAX_PAYLOAD || !pt->conns ||
	    pt->conns > 60000 || pt->frames < pt->conns ||
	    pt->frames > 50000000 || (pt->diff && pt->proto != GEN_TCP))
		return -EINVAL;
	pattern_init();
	g->pt = *pt;
	g->hdr = pt->vnet ? 8 : 4;
	g->vlen = pt->vnet ? VNET_LEN : 0;
	g->warm = pt->conns;
	g->data = pt->conns + pt->frames;
	nprim = g->data + (pt->proto == GEN_TCP ? pt->conns : 0);
	g->timed_payload = (uint64_t)pt->frames * pt->payload;
	scratch = malloc(ETH + IP4 + TCPH + 4 + MAX_PAYLOAD);
	g->sec_upto = calloc(nprim + 1, sizeof(*g->sec_upto));
	if (!scratch || !g->sec_upto)
		goto out;
	if ((r = side_build(g, 0, scratch)) || (r = side_build(g, 1, scratch)))
		goto out;
	r = g->side[0].n == nprim ? 0 : -EINVAL;
out:
	free(scratch);
	if (r)
		gen_free(g);
	return r;
}

void gen_free(struct gen *g)
{
	for (int i = 0; i < 2; i++) {
		free(g->side[i].wire);
		free(g->side[i].off);
	}
	free(g->sec_upto);
	memset(g, 0, sizeof(*g));
}

static long identify_tcp(const struct gen *g, const uint8_t *t, size_t l4len,
			 uint32_t c)
{
	uint32_t seq = get32(t + 4), off, j, pl = g->pt.payload;
	uint8_t flags = t[13];

	(void)l4len;
	if (flags & F_SYN)
		return seq == isn_of(c) ? (long)c : -1;
	off = seq - isn_of(c) - 1;
	if (flags & F_FIN)
		return off == (uint64_t)frames_of(&g->pt, c) * pl ?
		       (long)(g->data + c) : -1;
	if (off % pl)
		return -1;
	j = off / pl;
	if (j >= frames_of(&g->pt, c))
		return -1;
	return (long)g->warm + c + (long)j * g->pt.conns;
}

long gen_identify(const struct gen *g, const uint8_t *f, uint32_t len,
		  uint32_t *conn)
{
	const uint8_t *ip = f + ETH, *l4;
	uint32_t c, ihl;
	long idx;

	if (len < ETH + IP4 + UDPH + 4 || get16(f + 12) != 0x0800)
		return -1;
	ihl = (ip[0] & 15u) * 4;
	if (ihl < IP4 || len < ETH + ihl + TCPH)
		return -1;
	l4 = ip + ihl;
	c = get16(l4 + 2) - CLIENT_PORT;
	if (c >= g->pt.conns)
		return -1;
	if (g->pt.proto == GEN_TCP && ip[9] == 6)
		idx = identify_tcp(g, l4, len - ETH - ihl, c);
	else if (g->pt.proto == GEN_UDP && ip[9] == 17)
		idx = get32(l4 + UDPH);
	else
		return -1;
	if (idx < 0 || idx >= (long)g->side[0].n)
		return -1;
	*conn = c;
	return idx;
}

const char *gen_point_name(const struct gen_point *pt, char *buf, size_t len)
{
	snprintf(buf, len, "%s %u B, %u %s%s", pt->proto == GEN_TCP ?
		 "tcp" : "udp", pt->payload, pt->conns,
		 pt->proto == GEN_TCP ? (pt->conns > 1 ? "conns" : "conn") :
		 (pt->conns > 1 ? "flows" : "flow"),
		 pt->proto != GEN_TCP ? "" : pt->diff ? ", diff seg" :
		 ", same seg");
	return buf;
}
