/*
 * Criterion suite for colo-proxy/nfq: the parser on hand-built kernel
 * messages, the /proc counters parser, and real queues.
 *
 * A real-queue test starts with unshare(CLONE_NEWNET) (Criterion runs each
 * test in its own process), brings lo up and adds iptables-legacy rules in
 * that namespace only: nothing reaches the host's rules or traffic, and
 * everything vanishes with the process.  UDP tests use lo; the TCP tests
 * build veth pairs to child processes in namespaces of their own:
 *
 *   OUTPUT:   [this: sender child, queue] q1 ==veth== r0 [receiver]
 *   FORWARD:  [sender] s0 ==veth== q0 [this: router, queue] q1 ==veth== r0
 *             [receiver]
 *
 * The checksum question (what must the TCP checksum field hold once the
 * proxy changes a packet that came with NFQA_SKB_CSUMNOTREADY?) is
 * answered by the tcp_* tests: the complete checksum.  A changed packet is
 * CHECKSUM_NONE to the kernel; a packet that is not GSO leaves as it is,
 * and a pseudo-header sum fails at the receiver (InCsumErrors), so even
 * the SYN never gets through.  GSO super-packets are re-segmented in
 * software, which rewrites the checksum of each segment (tcp4_gso_segment
 * on a skb that is not CHECKSUM_PARTIAL), so for them the field does not
 * matter -- but the proxy cannot tell which path a packet takes: always
 * store the complete checksum (csum_l4_fill).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include "colo-proxy/nfq.h"
#include "common/csum.h"

/* ---- building kernel messages ------------------------------------------ */

struct mb {
	uint8_t *buf;		/* heap, exactly sized copies go to the parser */
	size_t len, nest;
};

static void mb_start(struct mb *m, uint16_t type, uint8_t family)
{
	struct nlmsghdr nlh = { .nlmsg_type = type, .nlmsg_seq = 1 };
	struct nfgenmsg g = { .nfgen_family = family, .version = 0,
			      .res_id = htons(3) };

	m->buf = calloc(1, 70000);
	cr_assert_not_null(m->buf);
	memcpy(m->buf, &nlh, sizeof(nlh));
	memcpy(m->buf + NLMSG_HDRLEN, &g, sizeof(g));
	m->len = NLMSG_HDRLEN + sizeof(g);
}

static void mb_attr(struct mb *m, uint16_t type, const void *data,
		    uint16_t len)
{
	uint16_t alen = (uint16_t)(NLA_HDRLEN + len);

	memcpy(m->buf + m->len, &alen, 2);
	memcpy(m->buf + m->len + 2, &type, 2);
	if (len)
		memcpy(m->buf + m->len + NLA_HDRLEN, data, len);
	m->len += NLA_ALIGN(alen);
}

static void mb_u32(struct mb *m, uint16_t type, uint32_t v)
{
	v = htonl(v);
	mb_attr(m, type, &v, 4);
}

static void mb_nest_start(struct mb *m, uint16_t type)
{
	m->nest = m->len;
	mb_attr(m, type | NLA_F_NESTED, NULL, 0);
}

static void mb_nest_end(struct mb *m)
{
	uint16_t alen = (uint16_t)(m->len - m->nest);

	memcpy(m->buf + m->nest, &alen, 2);
}

/* Finish: set nlmsg_len, return a heap copy of exactly the message. */
static uint8_t *mb_end(struct mb *m, size_t *len)
{
	uint32_t l = (uint32_t)m->len;
	uint8_t *copy = malloc(m->len);

	memcpy(m->buf, &l, 4);
	memcpy(copy, m->buf, m->len);
	free(m->buf);
	*len = m->len;
	return copy;
}

static void mb_pkthdr(struct mb *m, uint32_t id, uint16_t proto, uint8_t hook)
{
	uint8_t h[7];
	uint32_t bid = htonl(id);
	uint16_t bp = htons(proto);

	memcpy(h, &bid, 4);
	memcpy(h + 4, &bp, 2);
	h[6] = hook;
	mb_attr(m, NFQA_PACKET_HDR, h, 7);
}

#define PKT_TYPE ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)

static const uint8_t payload60[60] = { 0x45, 0, 0, 60, [9] = 17,
				       [20] = 0xde, [21] = 0xad };

/* A packet message with every attribute the kernel may send. */
static uint8_t *full_message(size_t *len)
{
	struct mb m;
	uint8_t hw[12] = { 0, 6, 0, 0, 0x52, 0x54, 0, 0x12, 0x34, 0x56 };
	uint8_t l2[14] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0 };
	uint8_t ts[16] = { 0 };
	uint16_t vp = htons(0x8100), vt = htons(42);

	mb_start(&m, PKT_TYPE, AF_BRIDGE);
	mb_pkthdr(&m, 77, 0x0800, 1);
	mb_u32(&m, NFQA_MARK, 0xabcd);
	mb_attr(&m, NFQA_TIMESTAMP, ts, sizeof(ts));
	mb_u32(&m, NFQA_IFINDEX_INDEV, 4);
	mb_u32(&m, NFQA_IFINDEX_OUTDEV, 5);
	mb_u32(&m, NFQA_IFINDEX_PHYSINDEV, 6);
	mb_u32(&m, NFQA_IFINDEX_PHYSOUTDEV, 7);
	mb_attr(&m, NFQA_HWADDR, hw, sizeof(hw));
	mb_u32(&m, NFQA_UID, 1000);
	mb_u32(&m, NFQA_GID, 1000);
	mb_nest_start(&m, NFQA_VLAN);
	mb_attr(&m, NFQA_VLAN_PROTO, &vp, 2);
	mb_attr(&m, NFQA_VLAN_TCI, &vt, 2);
	mb_nest_end(&m);
	mb_attr(&m, NFQA_L2HDR, l2, sizeof(l2));
	mb_u32(&m, NFQA_CAP_LEN, 1500);
	mb_u32(&m, NFQA_SKB_INFO, NFQA_SKB_CSUMNOTREADY | NFQA_SKB_GSO);
	mb_attr(&m, NFQA_PAYLOAD, payload60, sizeof(payload60));
	return mb_end(&m, len);
}

TestSuite(nfq_parse);

Test(nfq_parse, every_attribute)
{
	size_t len;
	uint8_t *msg = full_message(&len);
	struct nfq_packet p;

	cr_assert_eq(nfq_parse(msg, len, &p), 1);
	cr_expect_eq(p.id, 77);
	cr_expect_eq(p.hw_protocol, 0x0800);
	cr_expect_eq(p.hook, 1);
	cr_expect_eq(p.family, AF_BRIDGE);
	cr_expect_eq(p.len, 60);
	cr_assert_not_null(p.payload);
	cr_expect_eq(memcmp(p.payload, payload60, 60), 0);
	cr_expect_eq(p.orig_len, 1500);
	cr_expect(p.truncated);
	cr_expect(p.csum_partial);
	cr_expect(p.gso);
	cr_expect_eq(p.indev, 4);
	cr_expect_eq(p.outdev, 5);
	cr_expect_eq(p.physindev, 6);
	cr_expect_eq(p.physoutdev, 7);
	cr_expect_eq(p.mark, 0xabcd);
	cr_expect_eq(p.l2len, 14);
	cr_expect_eq(p.l2hdr[12], 0x08);
	cr_expect_eq(p.hwsrc_len, 6);
	cr_expect_eq(p.hwsrc[0], 0x52);
	cr_expect_eq(p.hwsrc[5], 0x56);
	cr_expect(p.has_vlan);
	cr_expect_eq(p.vlan_proto, 0x8100);
	cr_expect_eq(p.vlan_tci, 42);
	cr_expect_eq(p.lost_before, 0);
	free(msg);
}

Test(nfq_parse, minimal_packet)
{
	struct mb m;
	size_t len;
	uint8_t *msg;
	struct nfq_packet p;

	mb_start(&m, PKT_TYPE, AF_INET);
	mb_pkthdr(&m, 1, 0x86dd, 3);
	msg = mb_end(&m, &len);
	cr_assert_eq(nfq_parse(msg, len, &p), 1);
	cr_expect_eq(p.id, 1);
	cr_expect_eq(p.family, AF_INET);
	cr_expect_null(p.payload);
	cr_expect_eq(p.len, 0);
	cr_expect_eq(p.orig_len, 0);
	cr_expect_not(p.truncated);
	cr_expect_not(p.csum_partial);
	cr_expect_not(p.has_vlan);
	cr_expect_null(p.l2hdr);
	cr_expect_eq(p.hwsrc_len, 0);
	free(msg);
}

Test(nfq_parse, whole_packet_without_cap_len)
{
	struct mb m;
	size_t len;
	uint8_t *msg;
	struct nfq_packet p;

	mb_start(&m, PKT_TYPE, AF_INET);
	mb_pkthdr(&m, 9, 0x0800, 3);
	mb_attr(&m, NFQA_PAYLOAD, payload60, 59);	/* odd: padded */
	mb_u32(&m, NFQA_MARK, 5);			/* after the padding */
	msg = mb_end(&m, &len);
	cr_assert_eq(nfq_parse(msg, len, &p), 1);
	cr_expect_eq(p.len, 59);
	cr_expect_eq(p.orig_len, 59);
	cr_expect_not(p.truncated);
	cr_expect_eq(p.mark, 5);
	free(msg);
}

Test(nfq_parse, unaligned_buffer)
{
	size_t len;
	uint8_t *msg = full_message(&len);
	uint8_t *odd = malloc(len + 1);
	struct nfq_packet p;

	memcpy(odd + 1, msg, len);
	cr_assert_eq(nfq_parse(odd + 1, len, &p), 1);	/* UBSan watches */
	cr_expect_eq(p.id, 77);
	cr_expect_eq(p.outdev, 5);
	free(odd);
	free(msg);
}

Test(nfq_parse, not_a_packet)
{
	struct nlmsghdr h = { .nlmsg_len = NLMSG_HDRLEN };
	uint8_t err[NLMSG_HDRLEN + sizeof(struct nlmsgerr)] = { 0 };
	uint16_t types[] = { NLMSG_DONE, NLMSG_NOOP,
			     (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG,
			     (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT,
			     (NFNL_SUBSYS_ULOG << 8) | NFQNL_MSG_PACKET };
	struct nfq_packet p;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		h.nlmsg_type = types[i];
		cr_expect_eq(nfq_parse((uint8_t *)&h, sizeof(h), &p), 0,
			     "type 0x%x", types[i]);
	}
	h.nlmsg_type = NLMSG_ERROR;
	h.nlmsg_len = sizeof(err);
	memcpy(err, &h, sizeof(h));
	cr_expect_eq(nfq_parse(err, sizeof(err), &p), 0);
}

/* Build a packet message whose attribute TYPE carries LEN bytes. */
static int parse_with_attr(uint16_t type, const void *data, uint16_t len)
{
	struct mb m;
	size_t n;
	uint8_t *msg;
	struct nfq_packet p;
	int r;

	mb_start(&m, PKT_TYPE, AF_INET);
	mb_pkthdr(&m, 2, 0x0800, 3);
	mb_attr(&m, type, data, len);
	msg = mb_end(&m, &n);
	r = nfq_parse(msg, n, &p);
	free(msg);
	return r;
}

Test(nfq_parse, short_fixed_attributes)
{
	static const uint16_t u32s[] = {
		NFQA_MARK, NFQA_IFINDEX_INDEV, NFQA_IFINDEX_OUTDEV,
		NFQA_IFINDEX_PHYSINDEV, NFQA_IFINDEX_PHYSOUTDEV,
		NFQA_CAP_LEN, NFQA_SKB_INFO };
	uint8_t zero[16] = { 0 };
	uint8_t hw[12] = { 0, 9 };	/* hw_addrlen 9 > 8 */
	size_t i;

	for (i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
		cr_expect_eq(parse_with_attr(u32s[i], zero, 3), -EINVAL,
			     "attr %u", u32s[i]);
		cr_expect_eq(parse_with_attr(u32s[i], zero, 4), 1);
	}
	cr_expect_eq(parse_with_attr(NFQA_HWADDR, zero, 11), -EINVAL);
	cr_expect_eq(parse_with_attr(NFQA_HWADDR, zero, 12), 1);
	cr_expect_eq(parse_with_attr(NFQA_HWADDR, hw, 12), -EINVAL);
	cr_expect_eq(parse_with_attr(NFQA_PAYLOAD, zero, 0), 1);
	cr_expect_eq(parse_with_attr(NFQA_L2HDR, zero, 0), 1);
	cr_expect_eq(parse_with_attr(200, zero, 1), 1);	/* unknown: skipped */
}

Test(nfq_parse, short_packet_header_and_vlan)
{
	struct mb m;
	size_t n;
	uint8_t *msg, h[6] = { 0 };
	uint16_t v = 0;
	struct nfq_packet p;

	mb_start(&m, PKT_TYPE, AF_INET);
	mb_attr(&m, NFQA_PACKET_HDR, h, 6);
	msg = mb_end(&m, &n);
	cr_expect_eq(nfq_parse(msg, n, &p), -EINVAL);
	free(msg);

	mb_start(&m, PKT_TYPE, AF_INET);	/* no packet header at all */
	mb_u32(&m, NFQA_MARK, 1);
	msg = mb_end(&m, &n);
	cr_expect_eq(nfq_parse(msg, n, &p), -EINVAL);
	free(msg);

	mb_start(&m, PKT_TYPE, AF_INET);	/* a VLAN TCI of one byte */
	mb_pkthdr(&m, 1, 0x0800, 3);
	mb_nest_start(&m, NFQA_VLAN);
	mb_attr(&m, NFQA_VLAN_TCI, &v, 1);
	mb_nest_end(&m);
	msg = mb_end(&m, &n);
	cr_expect_eq(nfq_parse(msg, n, &p), -EINVAL);
	free(msg);
}

Test(nfq_parse, bad_lengths)
{
	size_t len, cut;
	uint8_t *msg = full_message(&len);
	struct nfq_packet p;
	uint32_t l;
	uint16_t alen;

	cr_expect_eq(nfq_parse(msg, 10, &p), -EINVAL);
	l = (uint32_t)len + 4;				/* longer than given */
	memcpy(msg, &l, 4);
	cr_expect_eq(nfq_parse(msg, len, &p), -EINVAL);
	l = 8;						/* shorter than a header */
	memcpy(msg, &l, 4);
	cr_expect_eq(nfq_parse(msg, len, &p), -EINVAL);
	l = NLMSG_HDRLEN + 2;				/* nfgenmsg cut */
	memcpy(msg, &l, 4);
	cr_expect_eq(nfq_parse(msg, len, &p), -EINVAL);
	l = (uint32_t)len;
	memcpy(msg, &l, 4);
	alen = 2;					/* attribute < header */
	memcpy(msg + NLMSG_HDRLEN + 4, &alen, 2);
	cr_expect_eq(nfq_parse(msg, len, &p), -EINVAL);
	alen = 0xfff0;					/* attribute overruns */
	memcpy(msg + NLMSG_HDRLEN + 4, &alen, 2);
	cr_expect_eq(nfq_parse(msg, len, &p), -EINVAL);
	free(msg);

	/* every prefix, as its own exactly-sized buffer (ASan checks reads),
	 * both claiming the full length and claiming just the prefix */
	msg = full_message(&len);
	for (cut = 0; cut < len; cut++) {
		uint8_t *b = malloc(cut ? cut : 1);
		int r;

		memcpy(b, msg, cut);
		cr_expect_eq(nfq_parse(b, cut, &p), -EINVAL, "cut %zu", cut);
		if (cut >= 4) {
			l = (uint32_t)cut;
			memcpy(b, &l, 4);
			r = nfq_parse(b, cut, &p);
			cr_expect(r == -EINVAL || r == 1, "cut %zu: %d", cut, r);
			if (r == 1)
				cr_expect_leq(p.len, cut);
		}
		free(b);
	}
	free(msg);
}

/* ---- /proc counters ----------------------------------------------------- */

TestSuite(nfq_kstats);

static const char kstats_text[] =
	"    0  12345     3 2 65531     0     0       17  1\n"
	"    7 4294967295  4096 2 65531 123456 99 4294967295  1\n"
	"   42   8888     0 2  1500    10    20      300  1\n";

Test(nfq_kstats, finds_each_queue)
{
	struct nfq_kstats k;

	cr_assert_eq(nfq_parse_kstats(kstats_text, strlen(kstats_text), 0, &k),
		     0);
	cr_expect_eq(k.queue_total, 3);
	cr_expect_eq(k.queue_dropped, 0);
	cr_expect_eq(k.id_sequence, 17);
	cr_assert_eq(nfq_parse_kstats(kstats_text, strlen(kstats_text), 7, &k),
		     0);
	cr_expect_eq(k.queue_total, 4096);
	cr_expect_eq(k.queue_dropped, 123456);
	cr_expect_eq(k.user_dropped, 99);
	cr_expect_eq(k.id_sequence, 4294967295u);
	cr_assert_eq(nfq_parse_kstats(kstats_text, strlen(kstats_text), 42,
				      &k), 0);
	cr_expect_eq(k.queue_total, 0);
	cr_expect_eq(k.queue_dropped, 10);
	cr_expect_eq(k.user_dropped, 20);
	cr_expect_eq(k.id_sequence, 300);
}

Test(nfq_kstats, absent_or_garbage)
{
	static const char junk[] =
		"\n\n   5 x 1 2 3 4 5 6 1\n"
		"5 1 2 3\n"
		"5 1 2 3 4 5 6 99999999999 1\n"
		"  -5 1 2 3 4 5 6 7 1\n";
	struct nfq_kstats k;
	char last[] = "    9  1  2 2 100  3  4  5";	/* no newline, no "1" */

	cr_expect_eq(nfq_parse_kstats(kstats_text, strlen(kstats_text), 8, &k),
		     -ENOENT);
	cr_expect_eq(nfq_parse_kstats("", 0, 0, &k), -ENOENT);
	cr_expect_eq(nfq_parse_kstats(junk, strlen(junk), 5, &k), -ENOENT);
	cr_assert_eq(nfq_parse_kstats(last, strlen(last), 9, &k), 0);
	cr_expect_eq(k.id_sequence, 5);
	/* the length bounds the text: the last number cut to "" */
	cr_expect_eq(nfq_parse_kstats(last, strlen(last) - 2, 9, &k), -ENOENT);
}

/* ---- real queues: common helpers ---------------------------------------- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "command failed (%d): %s", st, cmd);
}

static void enter_netns(void)
{
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	sh("ip link set lo up");
}

static struct nfq *open_queue(const struct nfq_config *cfg)
{
	struct nfq *q = NULL;
	char err[256] = "";
	int r = nfq_open(&q, cfg, err, sizeof(err));

	cr_assert_eq(r, 0, "nfq_open: %d %s", r, err);
	return q;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) == 1;
}

/* What the callback saw. */
#define MAXSEEN 4096
struct seen {
	int n;
	struct nfq_packet p[MAXSEEN];	/* pointers are not kept valid */
	uint32_t tag[MAXSEEN];		/* first 4 bytes of the UDP payload */
	unsigned verdict;		/* > NF_MAX_VERDICT: none */
};

static void record_cb(struct nfq *q, const struct nfq_packet *p, void *arg)
{
	struct seen *s = arg;

	cr_assert_lt(s->n, MAXSEEN);
	s->p[s->n] = *p;
	s->tag[s->n] = 0;
	if (p->len >= 32 && (p->payload[0] >> 4) == 4)
		memcpy(&s->tag[s->n], p->payload + 28, 4);
	else if (p->len >= 52 && (p->payload[0] >> 4) == 6)
		memcpy(&s->tag[s->n], p->payload + 48, 4);
	s->p[s->n].payload = NULL;
	s->n++;
	if (s->verdict <= NF_MAX_VERDICT)
		cr_assert_eq(nfq_verdict(q, p->id, s->verdict), 0);
}

/* Receive until N packets were seen in all, or a second passed idle. */
static void pump(struct nfq *q, struct seen *s, int n)
{
	uint64_t end = now_ms() + 3000;

	while (s->n < n && now_ms() < end) {
		if (!readable(nfq_fd(q), 100))
			continue;
		cr_assert_geq(nfq_receive(q, record_cb, s), 0);
	}
}

#define UDP_PORT 9000

/* A UDP socket on 127.0.0.1 (or ::1) receiving on UDP_PORT. */
static int udp_sink(bool v6)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int big = 8 << 20;
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(UDP_PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(UDP_PORT),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (v6)
		cr_assert_eq(bind(fd, (struct sockaddr *)&a6, sizeof(a6)), 0);
	else
		cr_assert_eq(bind(fd, (struct sockaddr *)&a4, sizeof(a4)), 0);
	return fd;
}

/* Send one datagram of LEN bytes (>= 4) tagged TAG from a fresh socket
 * so that the sender never blocks. */
static void udp_send(int fd, bool v6, uint32_t tag, size_t len)
{
	uint8_t buf[2048] = { 0 };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(UDP_PORT),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(UDP_PORT),
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	memcpy(buf, &tag, 4);
	if (v6)
		sendto(fd, buf, len, 0, (struct sockaddr *)&a6, sizeof(a6));
	else
		sendto(fd, buf, len, 0, (struct sockaddr *)&a4, sizeof(a4));
}

/* Datagrams that reached the sink within MS of quiet: their tags in order
 * (at most MAX), the count returned. */
static int udp_drain(int fd, uint32_t *tags, int max, int ms, uint8_t *last,
		     size_t *lastlen)
{
	uint8_t buf[2048];
	int n = 0;

	while (readable(fd, ms)) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r < 4)
			continue;
		if (n < max)
			memcpy(&tags[n], buf, 4);
		if (last) {
			memcpy(last, buf, (size_t)r);
			*lastlen = (size_t)r;
		}
		n++;
	}
	return n;
}

static void udp_rule(uint16_t qnum, bool v6)
{
	sh("%s -w -A OUTPUT -o lo -p udp --dport %d -j NFQUEUE "
	   "--queue-num %u", v6 ? "ip6tables-legacy" : "iptables-legacy",
	   UDP_PORT, qnum);
}

/* One queue on lo for UDP_PORT, a sink and a sender. */
struct udp_lab {
	struct nfq *q;
	int sink, tx;
	struct seen *s;
};

static void udp_lab_init(struct udp_lab *l, struct nfq_config *cfg, bool v6)
{
	int big = 16 << 20;

	enter_netns();
	udp_rule(cfg->queue_num, v6);
	l->q = open_queue(cfg);
	l->sink = udp_sink(v6);
	l->tx = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(l->tx, 0);
	/* queued datagrams stay charged to the sender: room for 1000s */
	cr_assert_eq(setsockopt(l->tx, SOL_SOCKET, SO_SNDBUFFORCE, &big,
				sizeof(big)), 0);
	l->s = calloc(1, sizeof(*l->s));
	l->s->verdict = NF_MAX_VERDICT + 1;
}

static void udp_lab_fini(struct udp_lab *l)
{
	nfq_close(l->q);
	close(l->sink);
	close(l->tx);
	free(l->s);
}

/* ---- real queues: UDP over lo ------------------------------------------- */

TestSuite(nfq_queue, .timeout = 60);

Test(nfq_queue, accept_and_metadata)
{
	struct udp_lab l;
	struct nfq_config cfg;
	uint32_t tags[8];
	const struct nfq_stats *st;
	int i;

	nfq_config_defaults(&cfg, 3);
	udp_lab_init(&l, &cfg, false);
	for (i = 0; i < 3; i++)
		udp_send(l.tx, false, (uint32_t)i, 100);
	pump(l.q, l.s, 3);
	cr_assert_eq(l.s->n, 3);
	cr_expect_eq(udp_drain(l.sink, tags, 8, 100, NULL, NULL), 0,
		     "nothing passes before a verdict");
	cr_expect_eq(nfq_outstanding(l.q), 3);
	for (i = 0; i < 3; i++) {
		const struct nfq_packet *p = &l.s->p[i];

		cr_expect_eq(p->id, (uint32_t)i + 1);
		cr_expect_eq(p->family, AF_INET);
		cr_expect_eq(p->hook, NF_INET_LOCAL_OUT);
		cr_expect_eq(p->hw_protocol, 0x0800);
		cr_expect_eq(p->len, 128);	/* 20 + 8 + 100 */
		cr_expect_eq(p->orig_len, 128);
		cr_expect_not(p->truncated);
		cr_expect_eq(p->outdev, 1);	/* lo */
		cr_expect_eq(p->lost_before, 0);
		cr_expect_eq(l.s->tag[i], (uint32_t)i);
	}
	cr_expect_eq(nfq_verdict(l.q, 99, NF_ACCEPT), -ENOENT);
	cr_expect_eq(nfq_verdict(l.q, 1, 7), -EINVAL);
	for (i = 1; i <= 3; i++)
		cr_assert_eq(nfq_verdict(l.q, (uint32_t)i, NF_ACCEPT), 0);
	cr_expect_eq(nfq_verdict(l.q, 2, NF_DROP), -EALREADY);
	cr_expect_eq(nfq_outstanding(l.q), 3, "decided but not sent");
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_expect_eq(nfq_outstanding(l.q), 0);
	cr_expect_eq(nfq_verdict(l.q, 2, NF_ACCEPT), -ENOENT);
	cr_expect_eq(udp_drain(l.sink, tags, 8, 300, NULL, NULL), 3);
	cr_expect_eq(tags[0], 0);
	cr_expect_eq(tags[2], 2);
	st = nfq_get_stats(l.q);
	cr_expect_eq(st->packets, 3);
	cr_expect_eq(st->bytes, 3 * 128);
	cr_expect_eq(st->accepted, 3);
	cr_expect_eq(st->batch_verdicts, 1);
	cr_expect_eq(st->single_verdicts, 0);
	cr_expect_eq(st->sendmsg_calls, 1);
	cr_expect_eq(st->send_errors, 0);
	cr_expect_eq(st->outstanding_max, 3);
	cr_expect_eq(st->id_gaps, 0);
	udp_lab_fini(&l);
}

Test(nfq_queue, accept_ipv6)
{
	struct udp_lab l;
	struct nfq_config cfg;
	uint32_t tags[4];

	nfq_config_defaults(&cfg, 4);
	udp_lab_init(&l, &cfg, true);
	l.s->verdict = NF_ACCEPT;
	udp_send(l.tx, true, 66, 200);
	pump(l.q, l.s, 1);
	cr_assert_eq(l.s->n, 1);
	cr_expect_eq(l.s->p[0].family, AF_INET6);
	cr_expect_eq(l.s->p[0].hw_protocol, 0x86dd);
	cr_expect_eq(l.s->p[0].len, 248);
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_assert_eq(udp_drain(l.sink, tags, 4, 300, NULL, NULL), 1);
	cr_expect_eq(tags[0], 66);
	udp_lab_fini(&l);
}

Test(nfq_queue, drop)
{
	struct udp_lab l;
	struct nfq_config cfg;
	uint32_t tags[8];
	int i;

	nfq_config_defaults(&cfg, 5);
	udp_lab_init(&l, &cfg, false);
	l.s->verdict = NF_DROP;
	for (i = 0; i < 4; i++)
		udp_send(l.tx, false, (uint32_t)i, 64);
	pump(l.q, l.s, 4);
	cr_assert_eq(l.s->n, 4);
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_expect_eq(udp_drain(l.sink, tags, 8, 300, NULL, NULL), 0);
	cr_expect_eq(nfq_get_stats(l.q)->dropped, 4);
	cr_expect_eq(nfq_outstanding(l.q), 0);
	udp_lab_fini(&l);
}

/* Rewrite a UDP/IPv4 packet's payload to NEWLEN bytes of 'x' after the
 * tag, with lengths and checksums made right. */
static size_t rewrite_udp(uint8_t *pkt, size_t len, size_t newlen)
{
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
	size_t total = ihl + 8 + newlen;
	uint16_t v;

	cr_assert_geq(len, ihl + 8 + 4);
	memset(pkt + ihl + 8 + 4, 'x', newlen - 4);
	v = htons((uint16_t)total);
	memcpy(pkt + 2, &v, 2);
	v = htons((uint16_t)(8 + newlen));
	memcpy(pkt + ihl + 4, &v, 2);
	cr_assert(csum_l4_fill(pkt, total, ihl, IPPROTO_UDP));
	return total;
}

/* Change each packet the kernel gives us to NEWLEN bytes of payload. */
struct mangle_ctx {
	int n;
	size_t newlen;
};

static void mangle_cb(struct nfq *q, const struct nfq_packet *p, void *arg)
{
	struct mangle_ctx *m = arg;
	uint8_t pkt[2048];
	size_t n;

	cr_assert_leq(p->len, 1024);
	memcpy(pkt, p->payload, p->len);
	n = rewrite_udp(pkt, p->len, m->newlen);
	cr_assert_eq(nfq_verdict_mangle(q, p->id, pkt, (uint32_t)n), 0);
	cr_assert_eq(nfq_verdict_mangle(q, p->id, pkt, (uint32_t)n),
		     -EALREADY);
	m->n++;
}

static void receive_mangling(struct nfq *q, struct mangle_ctx *m, int n)
{
	uint64_t end = now_ms() + 5000;

	while (m->n < n && now_ms() < end)
		if (readable(nfq_fd(q), 100))
			cr_assert_geq(nfq_receive(q, mangle_cb, m), 0);
	cr_assert_eq(m->n, n);
}

Test(nfq_queue, mangle_udp_payload)
{
	static const size_t sizes[] = { 100, 700, 20 };	/* same, longer, shorter */
	struct udp_lab l;
	struct nfq_config cfg;
	uint8_t got[2048];
	size_t gotlen = 0, i;
	uint32_t tags[4];

	nfq_config_defaults(&cfg, 6);
	udp_lab_init(&l, &cfg, false);
	for (i = 0; i < 3; i++) {
		struct mangle_ctx m = { .newlen = sizes[i] };

		udp_send(l.tx, false, 500 + (uint32_t)i, 100);
		receive_mangling(l.q, &m, 1);
		cr_assert_eq(nfq_flush(l.q), 0);
		cr_assert_eq(udp_drain(l.sink, tags, 4, 300, got, &gotlen), 1,
			     "size %zu", sizes[i]);
		cr_expect_eq(tags[0], 500 + (uint32_t)i);
		cr_expect_eq(gotlen, sizes[i]);
		cr_expect_eq(got[gotlen - 1], 'x');
	}
	cr_expect_eq(nfq_get_stats(l.q)->mangled, 3);
	cr_expect_eq(nfq_get_stats(l.q)->send_errors, 0);
	udp_lab_fini(&l);
}

/* A UDP datagram 127.0.0.1 -> 127.0.0.1:UDP_PORT from the port of socket
 * FD, tagged TAG, PAYLEN bytes, checksums complete. */
static size_t udp_packet(uint8_t *pkt, int fd, uint32_t tag, size_t paylen)
{
	static const uint8_t ip[20] = { 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17,
					0, 0, 127, 0, 0, 1, 127, 0, 0, 1 };
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	uint16_t dp = htons(UDP_PORT);

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	memset(pkt, 0, 28 + paylen);
	memcpy(pkt, ip, 20);
	memcpy(pkt + 20, &a.sin_port, 2);
	memcpy(pkt + 22, &dp, 2);
	memcpy(pkt + 28, &tag, 4);
	return rewrite_udp(pkt, 28 + paylen, paylen);
}

/* The header's picture: ACC ACC ACC - DROP ACC* then the held one. */
Test(nfq_queue, order_and_batches)
{
	struct udp_lab l;
	struct nfq_config cfg;
	uint32_t tags[16];
	const struct nfq_stats *st;
	uint8_t pkt[2048];
	int i, n;

	nfq_config_defaults(&cfg, 9);
	udp_lab_init(&l, &cfg, false);
	for (i = 1; i <= 6; i++)
		udp_send(l.tx, false, (uint32_t)i, 60);
	pump(l.q, l.s, 6);
	cr_assert_eq(l.s->n, 6);
	for (i = 1; i <= 3; i++)
		cr_assert_eq(nfq_verdict(l.q, (uint32_t)i, NF_ACCEPT), 0);
	cr_assert_eq(nfq_verdict(l.q, 5, NF_DROP), 0);
	/* packet 6 goes back longer */
	n = (int)udp_packet(pkt, l.tx, 6, 90);
	cr_assert_eq(nfq_verdict_mangle(l.q, 6, pkt, (uint32_t)n), 0);
	cr_assert_eq(nfq_flush(l.q), 0);
	st = nfq_get_stats(l.q);
	cr_expect_eq(st->batch_verdicts, 1);
	cr_expect_eq(st->single_verdicts, 2);
	cr_expect_eq(st->sendmsg_calls, 1);
	cr_expect_eq(nfq_outstanding(l.q), 1);
	n = udp_drain(l.sink, tags, 16, 300, NULL, NULL);
	cr_assert_eq(n, 4);
	cr_expect_eq(tags[0], 1);
	cr_expect_eq(tags[1], 2);
	cr_expect_eq(tags[2], 3);
	cr_expect_eq(tags[3], 6);

	/* two more arrive behind the held one and are accepted first */
	udp_send(l.tx, false, 7, 60);
	udp_send(l.tx, false, 8, 60);
	pump(l.q, l.s, 8);
	cr_assert_eq(l.s->n, 8);
	cr_assert_eq(nfq_verdict(l.q, 7, NF_ACCEPT), 0);
	cr_assert_eq(nfq_verdict(l.q, 8, NF_ACCEPT), 0);
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_expect_eq(st->batch_verdicts, 1, "the head is held: singles");
	cr_expect_eq(st->single_verdicts, 4);
	n = udp_drain(l.sink, tags, 16, 300, NULL, NULL);
	cr_assert_eq(n, 2);
	cr_expect_eq(tags[0], 7);
	cr_expect_eq(tags[1], 8);

	/* then the held one; one more behind it makes a run of two */
	udp_send(l.tx, false, 9, 60);
	pump(l.q, l.s, 9);
	cr_assert_eq(l.s->n, 9);
	cr_assert_eq(nfq_verdict(l.q, 9, NF_ACCEPT), 0);
	cr_assert_eq(nfq_flush(l.q), 0);	/* 4 still held: single */
	cr_expect_eq(nfq_outstanding(l.q), 1);
	cr_assert_eq(nfq_verdict(l.q, 4, NF_ACCEPT), 0);
	cr_assert_eq(nfq_flush(l.q), 0);
	n = udp_drain(l.sink, tags, 16, 300, NULL, NULL);
	cr_assert_eq(n, 2);
	cr_expect_eq(tags[0], 9);
	cr_expect_eq(tags[1], 4);
	cr_expect_eq(nfq_outstanding(l.q), 0);
	cr_expect_eq(st->accepted, 7);
	cr_expect_eq(st->dropped, 1);
	cr_expect_eq(st->mangled, 1);
	cr_expect_eq(st->send_errors, 0);
	udp_lab_fini(&l);
}

/* Runs of different verdicts at the head: one batch message each. */
Test(nfq_queue, runs_of_each_verdict)
{
	struct udp_lab l;
	struct nfq_config cfg;
	uint32_t tags[16];
	const struct nfq_stats *st;
	int i, n;

	nfq_config_defaults(&cfg, 10);
	udp_lab_init(&l, &cfg, false);
	for (i = 1; i <= 8; i++)
		udp_send(l.tx, false, (uint32_t)i, 60);
	pump(l.q, l.s, 8);
	cr_assert_eq(l.s->n, 8);
	for (i = 1; i <= 8; i++)
		cr_assert_eq(nfq_verdict(l.q, (uint32_t)i,
					 i >= 4 && i <= 6 ? NF_DROP
							  : NF_ACCEPT), 0);
	cr_assert_eq(nfq_flush(l.q), 0);
	st = nfq_get_stats(l.q);
	cr_expect_eq(st->batch_verdicts, 3);	/* 1-3 ACC, 4-6 DROP, 7-8 ACC */
	cr_expect_eq(st->single_verdicts, 0);
	cr_expect_eq(st->sendmsg_calls, 1);
	n = udp_drain(l.sink, tags, 16, 300, NULL, NULL);
	cr_assert_eq(n, 5);
	cr_expect_eq(tags[2], 3);
	cr_expect_eq(tags[3], 7);
	cr_expect_eq(tags[4], 8);
	udp_lab_fini(&l);
}

Test(nfq_queue, thousand_in_one_flush)
{
	struct udp_lab l;
	struct nfq_config cfg;
	static uint32_t tags[2000];
	const struct nfq_stats *st;
	uint64_t calls;
	int i, n;

	nfq_config_defaults(&cfg, 11);
	udp_lab_init(&l, &cfg, false);
	for (i = 0; i < 1000; i++)
		udp_send(l.tx, false, (uint32_t)i, 200);
	/* all queued by now: one call reads them all, 64 per recvmmsg() */
	cr_assert_eq(nfq_receive(l.q, record_cb, l.s), 1000);
	cr_assert_eq(l.s->n, 1000);
	st = nfq_get_stats(l.q);
	cr_expect_eq(st->recv_calls, 1000 / 64 + 1);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(nfq_verdict(l.q, l.s->p[i].id, NF_ACCEPT), 0);
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_expect_eq(st->sendmsg_calls, 1);
	cr_expect_eq(st->batch_verdicts, 1);
	n = udp_drain(l.sink, tags, 2000, 300, NULL, NULL);
	cr_assert_eq(n, 1000);
	for (i = 0; i < 1000; i++)
		cr_assert_eq(tags[i], (uint32_t)i, "order at %d", i);

	/* alternate verdicts: 1000 single messages, still one sendmsg() */
	l.s->n = 0;
	for (i = 0; i < 1000; i++)
		udp_send(l.tx, false, (uint32_t)i, 200);
	pump(l.q, l.s, 1000);
	cr_assert_eq(l.s->n, 1000);
	for (i = 999; i >= 0; i--)	/* deciding order does not matter */
		cr_assert_eq(nfq_verdict(l.q, l.s->p[i].id,
					 i % 2 ? NF_DROP : NF_ACCEPT), 0);
	cr_assert_eq(nfq_verdict(l.q, l.s->p[0].id, NF_ACCEPT), -EALREADY);
	calls = st->sendmsg_calls;
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_expect_eq(st->sendmsg_calls, calls + 1);
	cr_expect_eq(st->dropped, 500);
	n = udp_drain(l.sink, tags, 2000, 300, NULL, NULL);
	cr_assert_eq(n, 500);
	for (i = 0; i < 500; i++)
		cr_assert_eq(tags[i], (uint32_t)(2 * i));
	cr_expect_eq(st->send_errors, 0);
	cr_expect_eq(nfq_outstanding(l.q), 0);
	udp_lab_fini(&l);
}

/* Many changed packets, their payloads sent by reference. */
Test(nfq_queue, many_mangled)
{
	struct udp_lab l;
	struct nfq_config cfg;
	struct mangle_ctx m = { .newlen = 1000 };
	static uint32_t tags[600];
	int i, n;

	nfq_config_defaults(&cfg, 12);
	udp_lab_init(&l, &cfg, false);
	for (i = 0; i < 500; i++)
		udp_send(l.tx, false, (uint32_t)i, 33);
	receive_mangling(l.q, &m, 500);
	cr_assert_eq(nfq_flush(l.q), 0);
	n = udp_drain(l.sink, tags, 600, 300, NULL, NULL);
	cr_assert_eq(n, 500);
	for (i = 0; i < 500; i++)
		cr_assert_eq(tags[i], (uint32_t)i);
	cr_expect_eq(nfq_get_stats(l.q)->mangled, 500);
	cr_expect_eq(nfq_get_stats(l.q)->single_verdicts, 500);
	cr_expect_eq(nfq_get_stats(l.q)->send_errors, 0);
	udp_lab_fini(&l);
}

Test(nfq_queue, kernel_counters)
{
	struct udp_lab l;
	struct nfq_config cfg;
	struct nfq_kstats k;
	char text[4096];
	ssize_t n;
	int fd, i;

	nfq_config_defaults(&cfg, 13);
	udp_lab_init(&l, &cfg, false);
	cr_assert_eq(nfq_read_kstats(l.q, &k), 0);
	cr_expect_eq(k.queue_total, 0);
	cr_expect_eq(k.id_sequence, 0);
	for (i = 0; i < 5; i++)
		udp_send(l.tx, false, (uint32_t)i, 60);
	pump(l.q, l.s, 5);
	cr_assert_eq(nfq_read_kstats(l.q, &k), 0);
	cr_expect_eq(k.queue_total, 5);
	cr_expect_eq(k.id_sequence, 5);
	cr_expect_eq(k.queue_dropped, 0);
	cr_expect_eq(k.user_dropped, 0);
	for (i = 0; i < 5; i++)
		nfq_verdict(l.q, l.s->p[i].id, NF_ACCEPT);
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_assert_eq(nfq_read_kstats(l.q, &k), 0);
	cr_expect_eq(k.queue_total, 0);
	nfq_close(l.q);
	/* gone once unbound */
	fd = open("/proc/net/netfilter/nfnetlink_queue", O_RDONLY);
	cr_assert_geq(fd, 0);
	n = read(fd, text, sizeof(text));
	close(fd);
	cr_assert_geq(n, 0);
	cr_expect_eq(nfq_parse_kstats(text, (size_t)n, 13, &k), -ENOENT);
	l.q = open_queue(&cfg);		/* and bindable again */
	udp_lab_fini(&l);
}

Test(nfq_queue, queue_full_takes_no_id)
{
	struct udp_lab l;
	struct nfq_config cfg;
	struct nfq_kstats k;
	int i;

	nfq_config_defaults(&cfg, 14);
	cfg.queue_maxlen = 8;
	udp_lab_init(&l, &cfg, false);
	l.s->verdict = NF_ACCEPT;
	for (i = 0; i < 20; i++)
		udp_send(l.tx, false, (uint32_t)i, 60);
	cr_assert_eq(nfq_read_kstats(l.q, &k), 0);
	cr_expect_eq(k.queue_total, 8);
	cr_expect_eq(k.queue_dropped, 12);
	cr_expect_eq(k.id_sequence, 8);
	pump(l.q, l.s, 8);
	cr_assert_eq(l.s->n, 8);
	cr_assert_eq(nfq_flush(l.q), 0);
	cr_expect_eq(nfq_get_stats(l.q)->id_gaps, 0,
		     "refused packets are not visible in the ids");
	udp_lab_fini(&l);
}

Test(nfq_queue, losses_counted_with_tiny_buffer)
{
	struct udp_lab l;
	struct nfq_config cfg;
	struct nfq_kstats k;
	const struct nfq_stats *st;
	uint32_t lost = 0;
	int i;

	nfq_config_defaults(&cfg, 15);
	cfg.rcvbuf = 4096;
	udp_lab_init(&l, &cfg, false);
	l.s->verdict = NF_ACCEPT;
	for (i = 0; i < 300; i++)		/* flood without reading */
		udp_send(l.tx, false, (uint32_t)i, 1000);
	pump(l.q, l.s, 300);			/* takes what fitted */
	cr_assert_gt(l.s->n, 0);
	cr_assert_lt(l.s->n, 300);
	cr_assert_eq(nfq_flush(l.q), 0);
	/* one more after the flood, so that the tail's gap shows too */
	udp_send(l.tx, false, 999, 100);
	i = l.s->n;
	pump(l.q, l.s, i + 1);
	cr_assert_eq(l.s->n, i + 1);
	cr_assert_eq(nfq_flush(l.q), 0);
	for (i = 0; i < l.s->n; i++)
		lost += l.s->p[i].lost_before;
	st = nfq_get_stats(l.q);
	cr_assert_eq(nfq_read_kstats(l.q, &k), 0);
	cr_expect_geq(st->enobufs, 1);
	cr_expect_eq(st->id_gaps, lost);
	cr_expect_eq(st->id_gaps, k.user_dropped,
		     "gaps %lu, kernel user_dropped %lu",
		     (unsigned long)st->id_gaps, (unsigned long)k.user_dropped);
	cr_expect_eq(st->id_gaps + (uint64_t)l.s->n, 301);
	cr_expect_eq(k.id_sequence, 301);
	cr_expect_eq(k.queue_total, 0);
	udp_lab_fini(&l);
}

/* A verdict for a packet the kernel no longer holds (its device went
 * down: nfqnl_dev_drop) comes back as a netlink error, counted. */
Test(nfq_queue, refused_verdict_counted)
{
	struct udp_lab l;
	struct nfq_config cfg;
	struct nfq_kstats k;

	nfq_config_defaults(&cfg, 16);
	udp_lab_init(&l, &cfg, false);
	udp_send(l.tx, false, 1, 60);
	pump(l.q, l.s, 1);
	cr_assert_eq(l.s->n, 1);
	sh("ip link set lo down");
	cr_assert_eq(nfq_read_kstats(l.q, &k), 0);
	cr_expect_eq(k.queue_total, 0, "the kernel let go of it");
	cr_assert_eq(nfq_verdict(l.q, l.s->p[0].id, NF_ACCEPT), 0);
	cr_assert_eq(nfq_flush(l.q), 0, "sendmsg() itself succeeds");
	cr_assert(readable(nfq_fd(l.q), 1000));
	cr_expect_eq(nfq_receive(l.q, record_cb, l.s), 0);
	cr_expect_eq(nfq_get_stats(l.q)->send_errors, 1);
	cr_expect_eq(nfq_outstanding(l.q), 0);
	udp_lab_fini(&l);
}

Test(nfq_queue, second_open_fails_clearly)
{
	struct nfq_config cfg;
	struct nfq *q1, *q2 = NULL, *q3;
	char err[256] = "";

	enter_netns();
	nfq_config_defaults(&cfg, 5);
	q1 = open_queue(&cfg);
	cr_assert_eq(nfq_open(&q2, &cfg, err, sizeof(err)), -EBUSY);
	cr_expect_null(q2);
	cr_expect_str_eq(err, "queue 5 is bound by another program");
	cfg.queue_num = 6;
	q3 = open_queue(&cfg);			/* another number is free */
	nfq_close(q3);
	nfq_close(q1);
	cfg.queue_num = 5;
	q1 = open_queue(&cfg);			/* free again after close */
	nfq_close(q1);
}

Test(nfq_queue, bad_config)
{
	struct nfq_config cfg;
	struct nfq *q = NULL;
	char err[256] = "";

	nfq_config_defaults(&cfg, 1);
	cfg.batch = 0;
	cr_expect_eq(nfq_open(&q, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_neq(err[0], '\0');
	cfg.batch = 257;
	cr_expect_eq(nfq_open(&q, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_null(q);
}

/* ---- real queues: TCP through veth, GSO and checksums ------------------- */

#define TCP_PORT 5001
#define TCP_BYTES (8u << 20)

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 13));
}

/* What the receiver reports. */
struct rx_result {
	uint64_t bytes;
	uint64_t bad_bytes;
	uint64_t in_csum_errors;
	int accepted;
};

static uint64_t snmp_tcp(const char *field)
{
	char line[2][1024];
	FILE *f = fopen("/proc/net/snmp", "r");
	int have = 0;
	uint64_t v = 0;

	if (!f)
		return 0;
	while (have < 2 && fgets(line[have], sizeof(line[0]), f))
		if (!strncmp(line[have], "Tcp:", 4))
			have++;
	fclose(f);
	if (have == 2) {
		char *s1, *s2, *k = strtok_r(line[0], " \n", &s1);
		char *val = strtok_r(line[1], " \n", &s2);

		while (k && val) {
			if (!strcmp(k, field))
				v = strtoull(val, NULL, 10);
			k = strtok_r(NULL, " \n", &s1);
			val = strtok_r(NULL, " \n", &s2);
		}
	}
	return v;
}

/* Child: accept one connection within WAIT_MS and read it to the end. */
static void tcp_receiver(int ls, int res_w, int wait_ms)
{
	struct rx_result r = { 0 };
	uint8_t buf[65536];
	int c = -1;

	if (readable(ls, wait_ms))
		c = accept(ls, NULL, NULL);
	r.accepted = c >= 0;
	while (c >= 0 && readable(c, 5000)) {
		ssize_t n = read(c, buf, sizeof(buf)), i;

		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			r.bad_bytes += buf[i] != pattern(r.bytes + (uint64_t)i);
		r.bytes += (uint64_t)n;
	}
	if (c >= 0)
		close(c);
	r.in_csum_errors = snmp_tcp("InCsumErrors");
	if (write(res_w, &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

/* Child: connect and send TCP_BYTES. */
static int tcp_sender(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(TCP_PORT) };
	struct timeval tv = { .tv_sec = 10 };
	static uint8_t buf[1 << 20];
	uint64_t off = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "10.0.1.2", &a.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return 1;
	while (off < TCP_BYTES) {
		size_t n = sizeof(buf), i;
		ssize_t w;

		if (n > TCP_BYTES - off)
			n = TCP_BYTES - off;
		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		w = write(fd, buf, n);
		if (w <= 0)
			return 2;
		off += (uint64_t)w;
	}
	close(fd);
	return 0;
}

/* A child process, optionally in a new network namespace: it reports
 * "ready" on its pipe, waits for "go", then runs. */
struct child {
	pid_t pid;
	int go_w, res_r;
};

enum child_role { ROLE_RECEIVER, ROLE_SENDER };

static void spawn(struct child *c, enum child_role role, bool new_ns,
		  int wait_ms)
{
	int go[2], res[2];
	char b = 1;

	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(res), 0);
	c->pid = fork();
	cr_assert_geq(c->pid, 0);
	if (c->pid == 0) {
		int ls = -1, one = 1, rc = 0;
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons(TCP_PORT) };

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		close(res[0]);
		if (new_ns && (unshare(CLONE_NEWNET) ||
			       system("ip link set lo up") != 0))
			_exit(10);
		if (role == ROLE_RECEIVER) {
			ls = socket(AF_INET, SOCK_STREAM, 0);
			setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one,
				   sizeof(one));
			if (bind(ls, (struct sockaddr *)&a, sizeof(a)) ||
			    listen(ls, 4))
				_exit(11);
		}
		if (write(res[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(12);
		if (role == ROLE_RECEIVER)
			tcp_receiver(ls, res[1], wait_ms);
		else
			rc = tcp_sender();
		_exit(rc);
	}
	close(go[0]);
	close(res[1]);
	c->go_w = go[1];
	c->res_r = res[0];
	cr_assert(readable(c->res_r, 5000));
	cr_assert_eq(read(c->res_r, &b, 1), 1, "child failed to start");
}

static void go(struct child *c)
{
	char b = 1;

	cr_assert_eq(write(c->go_w, &b, 1), 1);
}

/* Wait up to MS for a child to end, then kill it. */
static int reap(struct child *c, int ms)
{
	int st = 0, i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(c->pid, &st, WNOHANG) == c->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		usleep(10000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, 0);
	return -1;
}

enum csum_mode {
	CSUM_UNTOUCHED,		/* accept, no new payload */
	CSUM_FULL,		/* window changed, csum_l4_fill() */
	CSUM_AS_GIVEN,		/* window changed, field left as it came */
	CSUM_FULL_UNLESS_GSO,	/* complete for single packets, garbage for
				 * GSO super-packets */
};

struct tcp_run {
	enum csum_mode mode;
	uint8_t *buf;
	uint64_t packets, tcp, gso, over_mtu, partial, truncated, data;
	uint64_t partial_of_data;
	uint32_t max_len;
	int sender_rc;		/* 0: the sender sent everything */
};

static void tcp_cb(struct nfq *q, const struct nfq_packet *p, void *arg)
{
	struct tcp_run *r = arg;
	const uint8_t *d = p->payload;
	size_t ihl, l4len;
	uint16_t w;

	r->packets++;
	r->gso += p->gso;
	r->partial += p->csum_partial;
	r->over_mtu += p->len > 1500;
	r->truncated += p->truncated;
	if (p->len > r->max_len)
		r->max_len = p->len;
	if (p->len < 40 || d[0] >> 4 != 4 || d[9] != IPPROTO_TCP ||
	    p->truncated || r->mode == CSUM_UNTOUCHED) {
		nfq_verdict(q, p->id, NF_ACCEPT);
		return;
	}
	r->tcp++;
	ihl = (size_t)(d[0] & 0x0f) * 4;
	l4len = p->len - ihl;
	if (l4len > (size_t)((d[ihl + 12] >> 4) * 4)) {
		r->data++;
		r->partial_of_data += p->csum_partial;
	}
	memcpy(r->buf, d, p->len);
	memcpy(&w, r->buf + ihl + 14, 2);	/* a real change: window - 1 */
	w = ntohs(w);
	if (w > 1)
		w--;
	w = htons(w);
	memcpy(r->buf + ihl + 14, &w, 2);
	if (r->mode == CSUM_FULL ||
	    (r->mode == CSUM_FULL_UNLESS_GSO && !p->gso))
		cr_assert(csum_l4_fill(r->buf, p->len, ihl, IPPROTO_TCP));
	else if (r->mode == CSUM_FULL_UNLESS_GSO)
		memset(r->buf + ihl + 16, 0x5a, 2);	/* plainly wrong */
	cr_assert_eq(nfq_verdict_mangle(q, p->id, r->buf, p->len), 0);
}

/*
 * Send TCP_BYTES from a sender to a receiver through our queue, which
 * applies MODE to every packet; FORWARD: we are the router in the middle,
 * else the sender runs here and the rule is on OUTPUT.
 */
static void tcp_through_queue(struct tcp_run *r, struct rx_result *res,
			      bool forward, int wait_ms)
{
	struct child rx, tx;
	struct nfq_config cfg;
	struct nfq *q;
	uint64_t end;
	bool done = false;

	enter_netns();
	spawn(&rx, ROLE_RECEIVER, true, wait_ms);
	spawn(&tx, ROLE_SENDER, forward, 0);
	sh("ip link add q1 type veth peer name r0 netns %d", (int)rx.pid);
	sh("ip addr add 10.0.1.1/24 dev q1 && ip link set q1 up");
	sh("nsenter -t %d -n sh -c 'ip addr add 10.0.1.2/24 dev r0 && "
	   "ip link set r0 up && ip route add default via 10.0.1.1'",
	   (int)rx.pid);
	if (forward) {
		sh("ip link add q0 type veth peer name s0 netns %d",
		   (int)tx.pid);
		sh("ip addr add 10.0.0.1/24 dev q0 && ip link set q0 up");
		sh("nsenter -t %d -n sh -c 'ip addr add 10.0.0.2/24 dev s0 "
		   "&& ip link set s0 up && ip route add default via "
		   "10.0.0.1'", (int)tx.pid);
		sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
		sh("iptables-legacy -w -A FORWARD -p tcp -j NFQUEUE "
		   "--queue-num 20");
	} else {
		sh("iptables-legacy -w -A OUTPUT -o q1 -p tcp -j NFQUEUE "
		   "--queue-num 20");
	}
	nfq_config_defaults(&cfg, 20);
	q = open_queue(&cfg);
	r->buf = malloc(65536);
	go(&rx);
	go(&tx);
	end = now_ms() + (uint64_t)wait_ms + 15000;
	while (!done && now_ms() < end) {
		struct pollfd pfd[2] = {
			{ .fd = nfq_fd(q), .events = POLLIN },
			{ .fd = rx.res_r, .events = POLLIN },
		};

		if (poll(pfd, 2, 100) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			cr_assert_geq(nfq_receive(q, tcp_cb, r), 0);
			cr_assert_eq(nfq_flush(q), 0);
		}
		if (pfd[1].revents & POLLIN) {
			cr_assert_eq(read(rx.res_r, res, sizeof(*res)),
				     (ssize_t)sizeof(*res));
			done = true;
		}
	}
	cr_assert(done, "the receiver never reported");
	cr_expect_eq(nfq_get_stats(q)->send_errors, 0);
	cr_expect_eq(nfq_get_stats(q)->id_gaps, 0);
	cr_log_info("mode %d %s: %lu packets, %lu gso, %lu > 1500 B (max %u),"
		    " %lu csum partial, %lu truncated; received %lu B, "
		    "InCsumErrors %lu", r->mode, forward ? "forward" : "output",
		    (unsigned long)r->packets, (unsigned long)r->gso,
		    (unsigned long)r->over_mtu, r->max_len,
		    (unsigned long)r->partial, (unsigned long)r->truncated,
		    (unsigned long)res->bytes,
		    (unsigned long)res->in_csum_errors);
	reap(&rx, 5000);
	/* a sender whose SYN never got through is still trying */
	r->sender_rc = reap(&tx, res->bytes == TCP_BYTES ? 5000 : 0);
	nfq_close(q);
	free(r->buf);
}

TestSuite(nfq_tcp, .timeout = 90);

/* The lab's fact: with the GSO flag, TCP arrives whole (> MTU) and with
 * partial checksums. */
static void expect_gso_partial(bool forward)
{
	struct tcp_run r = { .mode = CSUM_UNTOUCHED };
	struct rx_result res;

	tcp_through_queue(&r, &res, forward, 5000);
	cr_assert_eq(res.bytes, TCP_BYTES);
	cr_expect_eq(r.sender_rc, 0);
	cr_expect_eq(res.bad_bytes, 0);
	cr_expect_gt(r.gso, 0);
	cr_expect_gt(r.over_mtu, 0);
	cr_expect_gt(r.max_len, 1500);
	cr_expect_gt(r.partial, r.packets / 2,
		     "%lu of %lu packets had CSUMNOTREADY",
		     (unsigned long)r.partial, (unsigned long)r.packets);
	cr_expect_eq(r.truncated, 0);
}

Test(nfq_tcp, output_gso_partial)
{
	expect_gso_partial(false);
}

Test(nfq_tcp, forward_gso_partial)
{
	expect_gso_partial(true);
}

/* THE ANSWER: a changed packet needs its complete L4 checksum. */
static void expect_full_csum_works(bool forward)
{
	struct tcp_run r = { .mode = CSUM_FULL };
	struct rx_result res;

	tcp_through_queue(&r, &res, forward, 5000);
	cr_assert_eq(res.bytes, TCP_BYTES, "received %lu of %u bytes",
		     (unsigned long)res.bytes, TCP_BYTES);
	cr_expect_eq(r.sender_rc, 0);
	cr_expect_eq(res.bad_bytes, 0);
	cr_expect_eq(res.in_csum_errors, 0);
	cr_expect_gt(r.gso, 0, "GSO packets were changed too");
	cr_expect_gt(r.partial_of_data, 0);
}

Test(nfq_tcp, output_mangled_full_checksum)
{
	expect_full_csum_works(false);
}

Test(nfq_tcp, forward_mangled_full_checksum)
{
	expect_full_csum_works(true);
}

/* ... and the pseudo-header sum that came with the packet is not enough:
 * a changed packet is CHECKSUM_NONE, nothing completes the sum. */
static void expect_given_csum_fails(bool forward)
{
	struct tcp_run r = { .mode = CSUM_AS_GIVEN };
	struct rx_result res;

	tcp_through_queue(&r, &res, forward, 2500);
	cr_expect_lt(res.bytes, TCP_BYTES);
	cr_expect_not(res.accepted, "even the SYN must fail");
	cr_expect_gt(res.in_csum_errors, 0);
	cr_expect_gt(r.partial, 0, "the SYN came with CSUMNOTREADY");
}

Test(nfq_tcp, output_mangled_pseudo_checksum_fails)
{
	expect_given_csum_fails(false);
}

Test(nfq_tcp, forward_mangled_pseudo_checksum_fails)
{
	expect_given_csum_fails(true);
}

/* GSO super-packets are segmented in software after the change, which
 * computes each segment's checksum: their field does not matter.  (The
 * proxy does not rely on it; this only explains why a pseudo-header sum
 * fails on small packets alone.) */
Test(nfq_tcp, output_gso_checksum_is_rewritten)
{
	struct tcp_run r = { .mode = CSUM_FULL_UNLESS_GSO };
	struct rx_result res;

	tcp_through_queue(&r, &res, false, 5000);
	cr_assert_eq(res.bytes, TCP_BYTES);
	cr_expect_eq(res.bad_bytes, 0);
	cr_expect_eq(res.in_csum_errors, 0);
	cr_expect_gt(r.gso, 0);
}
