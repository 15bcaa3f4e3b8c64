/*
 * dump: on a divergence, write the frames of that flow that are still held
 * (both sides) to a pcapng file that Wireshark opens: interface 0 is the
 * primary, 1 the secondary, and each frame carries the divergence as its
 * comment.  At most dump_max files per run; the rest are counted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "colo-proxy/proxy.h"
#include "common/log.h"
#include "compare/parse.h"
#include "compare/tool/dump.h"

#define LINKTYPE_ETHERNET 1

static bool frame_in_flow(const struct held *h, const struct cmp_flow_key *k)
{
	struct pkt p;
	size_t alen;

	pkt_parse(h->data, h->len, (enum cmp_link)h->link, &p);
	if (p.l3 != PKT_IP || p.family != k->family || p.proto != k->proto)
		return false;
	alen = p.family == 4 ? 4 : 16;
	if (memcmp(p.saddr, k->src, alen) || memcmp(p.daddr, k->dst, alen))
		return false;
	if ((k->kind == CMP_K_TCP || k->kind == CMP_K_UDP) && !p.frag)
		return p.sport == k->sport && p.dport == k->dport;
	return true;
}

/* Write H (an IP packet) behind an Ethernet header: VM -> peer. */
static void dump_ip(struct proxy *p, struct dump *dp, const struct held *h,
		    const char *comment)
{
	uint8_t *f = p->frame;
	uint32_t n = h->len > sizeof(p->frame) - 14 ?
		     (uint32_t)sizeof(p->frame) - 14 : h->len;

	memset(f, 0, 12);
	memcpy(f + 6, p->cf.vm_mac, 6);
	f[12] = h->len && (h->data[0] >> 4) == 6 ? 0x86 : 0x08;
	f[13] = f[12] == 0x86 ? 0xdd : 0x00;
	memcpy(f + 14, h->data, n);
	dump_frame(dp, h->side, h->t_ns, f, n + 14, h->len + 14, comment);
}

void proxy_dump_divergence(struct proxy *p, const struct cmp_action *a,
			   struct proxy_div *d)
{
	char comment[256];
	struct dump dp;
	struct held *h;
	int r;

	if (!p->cf.dump_dir[0] || a->key.family == 0)
		return;
	if (p->n.dumps_written >= (uint64_t)p->cf.dump_max) {
		p->n.dumps_skipped++;
		return;
	}
	snprintf(d->dump, sizeof(d->dump), "%s/%s-e%u-%llu.pcapng",
		 p->cf.dump_dir, p->cf.name, a->epoch,
		 (unsigned long long)p->ndiv);
	/* Ethernet, not raw IP: libpcap rejects pcapng files with several
	 * raw-IP interfaces ("a type 101 different from the first") */
	r = dump_open(&dp, d->dump, LINKTYPE_ETHERNET, LINKTYPE_ETHERNET);
	if (r < 0) {
		log_warnx("divergence dump %s: %s", d->dump, strerror(-r));
		d->dump[0] = '\0';
		p->n.dumps_skipped++;
		return;
	}
	snprintf(comment, sizeof(comment), "colo divergence: %s on %s at "
		 "offset %llu (seq %u), epoch %u", cmp_reason_name(a->reason),
		 d->flow, (unsigned long long)a->offset, a->seq, a->epoch);
	for (h = p->held.head; h; h = h->next)
		if (h->link == CMP_LINK_IP && frame_in_flow(h, &a->key))
			dump_ip(p, &dp, h, comment);
	if (dump_close(&dp) < 0)
		p->n.dumps_skipped++;
	else
		p->n.dumps_written++;
}
