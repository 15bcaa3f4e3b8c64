/*
 * nfq_parse: the pure half of nfq (see nfq.h): kernel messages and the
 * /proc counters, parsed without I/O so that tests and fuzzers drive them
 * directly.
 *
 * A packet message (net/netfilter/nfnetlink_queue.c,
 * nfqnl_build_packet_message()) is an nlmsghdr, an nfgenmsg and
 * attributes; every attribute's length is checked against what remains
 * before it is read, and fixed-size ones against their size, and fields
 * are copied out with memcpy (the payload attribute follows 4-byte
 * alignment only).
 */
#include "colo-proxy/nfq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

static uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

static uint16_t get_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return ntohs(v);
}

/* Walk the attributes in [p, p+len): calls FN for each with its type and
 * payload; false if an attribute overruns or FN refuses one. */
typedef bool nfq_attr_fn(uint16_t type, const uint8_t *data, uint16_t len,
			 void *arg);

static bool walk_attrs(const uint8_t *p, size_t len, nfq_attr_fn *fn,
		       void *arg)
{
	while (len >= NLA_HDRLEN) {
		uint16_t alen, type;
		size_t step;

		memcpy(&alen, p, sizeof(alen));
		memcpy(&type, p + 2, sizeof(type));
		if (alen < NLA_HDRLEN || alen > len)
			return false;
		if (!fn(type & NLA_TYPE_MASK, p + NLA_HDRLEN,
			(uint16_t)(alen - NLA_HDRLEN), arg))
			return false;
		step = NLA_ALIGN(alen);
		if (step >= len)
			return true;
		p += step;
		len -= step;
	}
	return true;		/* fewer than NLA_HDRLEN bytes: padding */
}

static bool vlan_attr(uint16_t type, const uint8_t *d, uint16_t len, void *arg)
{
	struct nfq_packet *p = arg;

	if (type == NFQA_VLAN_PROTO || type == NFQA_VLAN_TCI) {
		if (len < 2)
			return false;
		if (type == NFQA_VLAN_PROTO)
			p->vlan_proto = get_be16(d);
		else
			p->vlan_tci = get_be16(d);
	}
	return true;
}

struct parse_ctx {
	struct nfq_packet *p;
	bool have_hdr, have_cap;
	uint32_t skb_info;
};

/* Attributes holding one __be32, with where it goes. */
static uint32_t *u32_field(struct parse_ctx *c, uint16_t type)
{
	switch (type) {
	case NFQA_MARK:			return &c->p->mark;
	case NFQA_IFINDEX_INDEV:	return &c->p->indev;
	case NFQA_IFINDEX_OUTDEV:	return &c->p->outdev;
	case NFQA_IFINDEX_PHYSINDEV:	return &c->p->physindev;
	case NFQA_IFINDEX_PHYSOUTDEV:	return &c->p->physoutdev;
	case NFQA_CAP_LEN:		return &c->p->orig_len;
	case NFQA_SKB_INFO:		return &c->skb_info;
	default:			return NULL;
	}
}

static bool packet_attr(uint16_t type, const uint8_t *d, uint16_t len,
			void *arg)
{
	struct parse_ctx *c = arg;
	struct nfq_packet *p = c->p;
	uint32_t *u32 = u32_field(c, type);

	if (u32) {
		if (len < 4)
			return false;
		*u32 = get_be32(d);
		c->have_cap |= type == NFQA_CAP_LEN;
		return true;
	}
	switch (type) {
	case NFQA_PACKET_HDR:	/* be32 id, be16 hw_protocol, u8 hook */
		if (len < 7)
			return false;
		p->id = get_be32(d);
		p->hw_protocol = get_be16(d + 4);
		p->hook = d[6];
		c->have_hdr = true;
		return true;
	case NFQA_PAYLOAD:
		p->payload = d;
		p->len = len;
		return true;
	case NFQA_L2HDR:
		p->l2hdr = d;
		p->l2len = len;
		return true;
	case NFQA_HWADDR: {	/* be16 hw_addrlen, u16 pad, u8 hw_addr[8] */
		uint16_t alen;

		if (len < 12)
			return false;
		alen = get_be16(d);
		if (alen > sizeof(p->hwsrc))
			return false;
		memcpy(p->hwsrc, d + 4, alen);
		p->hwsrc_len = (uint8_t)alen;
		return true;
	}
	case NFQA_VLAN:
		p->has_vlan = true;
		return walk_attrs(d, len, vlan_attr, p);
	default:
		return true;	/* timestamps, uid, ct...: not needed */
	}
}

int nfq_parse(const uint8_t *msg, size_t len, struct nfq_packet *p)
{
	struct nlmsghdr nlh;
	struct parse_ctx c = { .p = p };
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));

	memset(p, 0, sizeof(*p));
	if (len < NLMSG_HDRLEN)
		return -EINVAL;
	memcpy(&nlh, msg, sizeof(nlh));
	if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len)
		return -EINVAL;
	if (nlh.nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
		return 0;
	len = nlh.nlmsg_len;
	if (len < off)
		return -EINVAL;
	p->family = msg[NLMSG_HDRLEN];	/* nfgenmsg.nfgen_family */
	if (!walk_attrs(msg + off, len - off, packet_attr, &c) || !c.have_hdr)
		goto bad;
	if (!c.have_cap || p->orig_len < p->len)
		p->orig_len = p->len;
	p->truncated = p->orig_len > p->len;
	p->csum_partial = c.skb_info & NFQA_SKB_CSUMNOTREADY;
	p->gso = c.skb_info & NFQA_SKB_GSO;
	return 1;
bad:
	memset(p, 0, sizeof(*p));
	return -EINVAL;
}

/* One line per bound queue (nfqnl_seq_show): queue_num peer_portid
 * queue_total copy_mode copy_range queue_dropped user_dropped id_sequence 1 */
int nfq_parse_kstats(const char *text, size_t len, uint16_t queue_num,
		     struct nfq_kstats *out)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		unsigned long long v[8];
		char line[256], *s, *e;
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
		int i;

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			s = line;
			for (i = 0; i < 8; i++) {
				while (*s == ' ' || *s == '\t')
					s++;
				if (*s < '0' || *s > '9')
					break;
				errno = 0;
				v[i] = strtoull(s, &e, 10);
				if (errno || v[i] > UINT32_MAX)
					break;
				s = e;
			}
			if (i == 8 && v[0] == queue_num) {
				out->queue_total = (uint32_t)v[2];
				out->queue_dropped = v[5];
				out->user_dropped = v[6];
				out->id_sequence = (uint32_t)v[7];
				return 0;
			}
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return -ENOENT;
}
