/*
 * names.c - names for reasons and kinds, flow keys as text, and the
 * window patch applied to a released frame.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/csum.h"
#include "compare/parse.h"

static const char *const reason_names[CMP_R_MAX] = {
	[CMP_R_NONE] = "none",
	[CMP_R_PAYLOAD] = "payload",
	[CMP_R_LENGTH] = "length",
	[CMP_R_SYN] = "syn",
	[CMP_R_FIN] = "fin",
	[CMP_R_RST] = "rst",
	[CMP_R_HOLD_TIMEOUT] = "hold-timeout",
	[CMP_R_FLOW_LIMIT] = "flow-limit",
	[CMP_R_HELD_BYTES] = "held-bytes",
	[CMP_R_HELD_FRAMES] = "held-frames",
	[CMP_R_FRAG_LIMIT] = "frag-limit",
	[CMP_R_NOMEM] = "out-of-memory",
};

const char *cmp_reason_name(enum cmp_reason r)
{
	if ((unsigned)r >= CMP_R_MAX)
		return "unknown";
	return reason_names[r];
}

const char *cmp_kind_name(enum cmp_kind k)
{
	switch (k) {
	case CMP_K_TCP: return "tcp";
	case CMP_K_UDP: return "udp";
	case CMP_K_ICMP: return "icmp";
	case CMP_K_IP: return "ip";
	case CMP_K_ARP: return "arp";
	case CMP_K_ETH: return "eth";
	case CMP_K_RAW: return "raw";
	case CMP_K_OVERFLOW: return "overflow";
	}
	return "unknown";
}

static void addr(char *out, size_t n, int family, const uint8_t *a)
{
	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, out, (socklen_t)n))
		snprintf(out, n, "?");
}

char *cmp_key_format(const struct cmp_flow_key *k, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], v[32] = "";
	const char *kind = cmp_kind_name(k->kind);
	bool ports = k->kind == CMP_K_TCP || k->kind == CMP_K_UDP;

	if (k->nvlan == 1)
		snprintf(v, sizeof(v), " vlan %u", k->vlan[0]);
	else if (k->nvlan == 2)
		snprintf(v, sizeof(v), " vlan %u.%u", k->vlan[0], k->vlan[1]);
	if (k->family) {
		addr(s, sizeof(s), k->family, k->src);
		addr(d, sizeof(d), k->family, k->dst);
	}
	if (ports && k->family == 6)
		snprintf(buf, len, "%s [%s]:%u > [%s]:%u%s", kind, s, k->sport,
			 d, k->dport, v);
	else if (ports)
		snprintf(buf, len, "%s %s:%u > %s:%u%s", kind, s, k->sport, d,
			 k->dport, v);
	else if (k->kind == CMP_K_ICMP)
		snprintf(buf, len, "icmp%s %s > %s type %u code %u id %u%s",
			 k->family == 6 ? "6" : "", s, d, k->sport >> 8,
			 k->sport & 0xff, k->dport, v);
	else if (k->family)
		snprintf(buf, len, "ip proto %u %s > %s%s", k->proto, s, d, v);
	else
		snprintf(buf, len, "%s ethertype 0x%04x%s", kind, k->ethertype,
			 v);
	return buf;
}

bool cmp_patch_window(uint8_t *frame, size_t len, enum cmp_link link,
		      uint16_t window, bool csum_partial)
{
	struct pkt p;
	uint8_t *w, *ck;
	uint16_t old;

	pkt_parse(frame, len, link, &p);
	if (p.l3 != PKT_IP || p.proto != 6 || p.frag || !p.win_at)
		return false;
	w = frame + p.win_at;
	old = get16(w);
	w[0] = (uint8_t)(window >> 8);
	w[1] = (uint8_t)window;
	if (!csum_partial) {
		uint16_t hc;

		ck = w + 2;		/* checksum follows the window */
		hc = csum_replace16(get16(ck), old, window);
		ck[0] = (uint8_t)(hc >> 8);
		ck[1] = (uint8_t)hc;
	}
	return true;
}
