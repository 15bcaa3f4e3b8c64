/*
 * frames.c - frame builders and the recording harness for the tests.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "common/bytes.h"
#include "tests/support/frames.h"

static const uint8_t vm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t client_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };



static uint32_t sum16(const uint8_t *b, size_t n, uint32_t s)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)(b[n - 1] << 8);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int fam(const struct fr_spec *s)
{
	return s->family ? s->family : 4;
}

/* Ethernet + VLAN tags; returns the offset of the network header. */
static size_t put_l2(struct fr *f, const struct fr_spec *s, uint16_t type)
{
	size_t o = 12;

	memcpy(f->b, client_mac, 6);
	memcpy(f->b + 6, vm_mac, 6);
	if (s->vlan) {
		put16(f->b + o, s->vlan2 ? 0x88a8 : 0x8100);
		put16(f->b + o + 2, s->vlan);
		o += 4;
		if (s->vlan2) {
			put16(f->b + o, 0x8100);
			put16(f->b + o + 2, s->vlan2);
			o += 4;
		}
	}
	put16(f->b + o, type);
	return o + 2;
}

static void addrs(const struct fr_spec *s, uint8_t *src, uint8_t *dst)
{
	int af = fam(s) == 4 ? AF_INET : AF_INET6;
	const char *sa = s->src ? s->src : (af == AF_INET ? "10.0.0.2" : "fd00::2");
	const char *da = s->dst ? s->dst : (af == AF_INET ? "10.0.0.1" : "fd00::1");

	cr_assert_eq(inet_pton(af, sa, src), 1);
	cr_assert_eq(inet_pton(af, da, dst), 1);
}

/*
 * IP header for an upper layer of L4LEN bytes of protocol PROTO; returns
 * the offset of the upper layer and fills the pseudo-header sum.
 */
static size_t put_ip(struct fr *f, const struct fr_spec *s, uint8_t proto,
		     size_t l4len, uint32_t *pseudo)
{
	uint8_t src[16], dst[16];
	size_t o;

	addrs(s, src, dst);
	if (fam(s) == 4) {
		uint8_t *ip;

		o = put_l2(f, s, 0x0800);
		ip = f->b + o;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + l4len));
		put16(ip + 4, s->ip_id);
		ip[8] = s->ttl ? s->ttl : 64;
		ip[9] = proto;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		put16(ip + 10, fold(sum16(ip, 20, 0)));
		*pseudo = sum16(src, 4, sum16(dst, 4, proto + (uint32_t)l4len));
		return o + 20;
	}
	{
		uint8_t *ip;
		size_t ext = s->ipv6_exthdrs ? 16 : 0;

		o = put_l2(f, s, 0x86dd);
		ip = f->b + o;
		memset(ip, 0, 40 + ext);
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)(l4len + ext));
		ip[6] = ext ? 0 : proto;	/* hop-by-hop first */
		ip[7] = s->ttl ? s->ttl : 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		if (ext) {
			ip[40] = 60;	/* hop-by-hop -> destination options */
			ip[41] = 0;	/* 8 bytes, PadN fills */
			ip[42] = 1;
			ip[43] = 4;
			ip[48] = proto;
			ip[49] = 0;
			ip[50] = 1;
			ip[51] = 4;
		}
		*pseudo = sum16(src, 16, sum16(dst, 16, proto + (uint32_t)l4len));
		return o + 40 + ext;
	}
}

void fr_tcp(struct fr *f, const struct fr_spec *s, const void *payload,
	    size_t n)
{
	uint8_t flags = s->flags ? s->flags : 0x10;
	size_t opt = (flags & 0x02) && !s->no_wscale ? 4 : 0;
	size_t hl = 20 + opt, o;
	uint32_t pseudo;
	uint8_t *t;

	memset(f->b, 0, sizeof(f->b));
	o = put_ip(f, s, 6, hl + n, &pseudo);
	t = f->b + o;
	put16(t, s->sport ? s->sport : 80);
	put16(t + 2, s->dport ? s->dport : 40000);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)((hl / 4) << 4);
	t[13] = flags;
	put16(t + 14, s->win ? s->win : 1000);
	if (opt) {
		t[20] = 1;		/* NOP, then window scale */
		t[21] = 3;
		t[22] = 3;
		t[23] = (uint8_t)(s->wscale > 0 ? s->wscale : 0);
	}
	if (n)
		memcpy(t + hl, payload, n);
	put16(t + 16, fold(sum16(t, hl + n, pseudo)));
	f->len = o + hl + n;
}

void fr_udp(struct fr *f, const struct fr_spec *s, const void *payload,
	    size_t n)
{
	uint32_t pseudo;
	size_t o;
	uint8_t *u;

	memset(f->b, 0, sizeof(f->b));
	o = put_ip(f, s, 17, 8 + n, &pseudo);
	u = f->b + o;
	put16(u, s->sport ? s->sport : 53);
	put16(u + 2, s->dport ? s->dport : 40000);
	put16(u + 4, (uint16_t)(8 + n));
	if (n)
		memcpy(u + 8, payload, n);
	put16(u + 6, fold(sum16(u, 8 + n, pseudo)));
	f->len = o + 8 + n;
}

void fr_icmp_echo(struct fr *f, const struct fr_spec *s, uint16_t id,
		  uint16_t seqno, const void *payload, size_t n)
{
	bool v6 = fam(s) == 6;
	uint32_t pseudo;
	size_t o;
	uint8_t *m;

	memset(f->b, 0, sizeof(f->b));
	o = put_ip(f, s, v6 ? 58 : 1, 8 + n, &pseudo);
	m = f->b + o;
	m[0] = v6 ? 129 : 0;
	put16(m + 4, id);
	put16(m + 6, seqno);
	if (n)
		memcpy(m + 8, payload, n);
	put16(m + 2, fold(sum16(m, 8 + n, v6 ? pseudo : 0)));
	f->len = o + 8 + n;
}

void fr_arp_reply(struct fr *f, const char *sender_ip, const char *target_ip)
{
	struct fr_spec s = { 0 };
	size_t o;
	uint8_t *a;

	memset(f->b, 0, sizeof(f->b));
	o = put_l2(f, &s, 0x0806);
	a = f->b + o;
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 2);
	memcpy(a + 8, vm_mac, 6);
	cr_assert_eq(inet_pton(AF_INET, sender_ip, a + 14), 1);
	memcpy(a + 18, client_mac, 6);
	cr_assert_eq(inet_pton(AF_INET, target_ip, a + 24), 1);
	f->len = 60;		/* padded to the Ethernet minimum */
}

int fr_fragment(const struct fr *whole, uint32_t id, size_t mtu,
		struct fr *out, int max)
{
	const uint8_t *ip = whole->b + 14;
	bool v6 = (ip[0] >> 4) == 6;
	size_t hl = v6 ? 40 : (size_t)(ip[0] & 15) * 4;
	size_t plen = whole->len - 14 - hl, off;
	int n = 0;

	mtu &= ~(size_t)7;
	for (off = 0; off < plen && n < max; off += mtu, n++) {
		size_t len = plen - off < mtu ? plen - off : mtu;
		bool more = off + len < plen;
		struct fr *f = &out[n];
		uint8_t *h = f->b + 14;

		memcpy(f->b, whole->b, 14 + hl);
		if (v6) {
			h[6] = 44;
			put16(h + 4, (uint16_t)(8 + len));
			h[40] = ip[6];
			h[41] = 0;
			put16(h + 42, (uint16_t)(off | more));
			put32(h + 44, id);
			memcpy(h + 48, ip + hl + off, len);
			f->len = 14 + 48 + len;
		} else {
			put16(h + 2, (uint16_t)(hl + len));
			put16(h + 4, (uint16_t)id);
			put16(h + 6, (uint16_t)((more ? 0x2000 : 0) | off / 8));
			put16(h + 10, 0);
			put16(h + 10, fold(sum16(h, hl, 0)));
			memcpy(h + hl, ip + hl + off, len);
			f->len = 14 + hl + len;
		}
	}
	return n;
}

bool fr_tcp_csum_ok(const struct fr *f)
{
	const uint8_t *ip = f->b + 14;
	bool v6 = (ip[0] >> 4) == 6;
	size_t hl = v6 ? 40 : 20;
	size_t l4 = f->len - 14 - hl;
	uint32_t pseudo = v6 ? sum16(ip + 8, 32, 6 + (uint32_t)l4)
			     : sum16(ip + 12, 8, 6 + (uint32_t)l4);

	return fold(sum16(ip + hl, l4, pseudo)) == 0;
}

/* ---- harness ---- */

void h_init(struct h *h, const struct cmp_config *cfg)
{
	memset(h, 0, sizeof(*h));
	h->now = 1000000000ull;
	h->next_id = 1;
	cr_assert_eq(cmp_new(cfg, &h->c), 0);
}

void h_init_default(struct h *h)
{
	struct cmp_config cfg;

	cmp_config_defaults(&cfg);
	h_init(h, &cfg);
}

void h_fini(struct h *h)
{
	cmp_free(h->c);
	h->c = NULL;
}

void h_drain(struct h *h)
{
	struct cmp_action a;

	while (cmp_next_action(h->c, &a)) {
		switch (a.type) {
		case CMP_ACT_RELEASE:
			cr_assert_lt(a.id, H_MAX_IDS);
			h->released[a.id]++;
			h->committed[a.id] = a.committed;
			cr_assert_eq(h->released[a.id], 1,
				     "id %llu released twice",
				     (unsigned long long)a.id);
			if (a.patch_window)
				h->window[a.id] = (uint16_t)(a.window + 1);
			break;
		case CMP_ACT_DROP:
			cr_assert_lt(a.id, H_MAX_IDS);
			h->dropped[a.id]++;
			cr_assert_eq(h->dropped[a.id], 1);
			break;
		case CMP_ACT_CHECKPOINT:
			cr_assert_lt(h->nckpt, 64);
			h->ckpt[h->nckpt++] = a;
			break;
		case CMP_ACT_FLOW_END:
			h->nflow_end++;
			h->last_end = a.stats;
			break;
		}
	}
}

uint64_t h_feed_epoch(struct h *h, int side, const struct fr *f,
		      uint32_t epoch)
{
	uint64_t id = h->next_id++;

	cr_assert_lt(id, H_MAX_IDS);
	h->now += 1000;
	cr_assert_eq(cmp_input(h->c, side, id, epoch, CMP_LINK_ETH, f->b,
			       f->len, 0, h->now), 0);
	h_drain(h);
	return id;
}

uint64_t h_feed(struct h *h, int side, const struct fr *f)
{
	return h_feed_epoch(h, side, f, cmp_epoch(h->c));
}

void h_commit(struct h *h)
{
	cmp_commit(h->c, cmp_epoch(h->c), h->now);
	h_drain(h);
}

void h_tick(struct h *h, uint64_t now)
{
	h->now = now;
	cmp_tick(h->c, now);
	h_drain(h);
}

int h_nreleased(const struct h *h)
{
	int i, n = 0;

	for (i = 0; i < H_MAX_IDS; i++)
		n += h->released[i];
	return n;
}

int h_ndropped(const struct h *h)
{
	int i, n = 0;

	for (i = 0; i < H_MAX_IDS; i++)
		n += h->dropped[i];
	return n;
}
