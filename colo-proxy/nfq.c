/*
 * nfq: NFQUEUE on a raw netlink socket.  See nfq.h.
 *
 * Kernel side (net/netfilter/nfnetlink_queue.c): ids are handed out in
 * queue order, one per packet that reached the queue (a packet refused
 * because the queue is full takes none, one whose delivery to us failed
 * does); VERDICT_BATCH settles every queued entry with an id up to the one
 * given; a changed payload makes the skb CHECKSUM_NONE.
 *
 * The outstanding ring holds, in arrival (= id) order, every packet that
 * has no verdict sent yet:
 *
 *     head                                  tail
 *      |  id 7   8    9    10   11    12     |
 *      v  ACC   ACC  ACC   -    DROP  MANGLE v
 *
 * nfq_flush() walks it from the head: runs of one plain verdict go as one
 * VERDICT_BATCH, a changed packet as a VERDICT with its payload; from the
 * first undecided packet on, decided ones go as single VERDICTs.  Entries
 * sent are then squeezed out, so the ring holds only undecided packets
 * and decisions not yet sent.
 */
#include "colo-proxy/nfq.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef ENOTSUPP
#define ENOTSUPP 524			/* kernel-internal, leaks to netlink */
#endif

#define NFQ_MAX_COPY	(0xffff - NLA_HDRLEN)	/* kernel's NFQNL_MAX_COPY_RANGE */
#define NFQ_SLOT_EXTRA	4096		/* room for the attributes */
#define NFQ_HDRBUF	65536		/* verdict headers per sendmsg() */
#define NFQ_MAXSEND	(1U << 20)	/* bytes per sendmsg() at most */
#define NFQ_ACK_MS	5000

enum nfq_state {
	NFQ_UNDECIDED,
	NFQ_ACCEPT,
	NFQ_DROP,
	NFQ_MANGLE,
};

/* One outstanding packet. */
struct nfq_slot {
	uint32_t id;
	uint8_t state;			/* enum nfq_state */
	uint8_t sending;		/* 1: in the sendmsg() being built, 2: sent */
	uint32_t len;			/* NFQ_MANGLE: bytes at data */
	uint8_t *data;
};

struct nfq {
	int fd;
	uint32_t portid;
	uint32_t seq;
	struct nfq_config cfg;
	struct nfq_stats st;

	/* receive side */
	size_t slot_size;
	uint8_t *rxbuf;			/* cfg.batch slots of slot_size */
	struct mmsghdr *mmsg;
	struct iovec *rxiov;
	bool seen_id;
	uint32_t next_id;		/* id expected next */

	/* outstanding ring: power-of-two capacity, head/tail free-running */
	struct nfq_slot *ring;
	uint32_t cap, head, tail;
	uint32_t pending;		/* slots without a verdict sent */
	uint32_t decided;		/* slots with a verdict not yet sent */

	/* send side: headers in hdr[], payloads by reference */
	uint8_t *hdr;
	size_t hdr_used;
	struct iovec iov[IOV_MAX];
	int iovcnt;
	size_t send_bytes, max_send;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void nfq_config_defaults(struct nfq_config *cfg, uint16_t queue_num)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->queue_num = queue_num;
	cfg->queue_maxlen = 4096;
	cfg->rcvbuf = 8U << 20;
	cfg->copy_range = 65535;
	cfg->gso = true;
	cfg->batch = 64;
}

/* The error code of an NLMSG_ERROR message (0 is an ack), or 1 if MSG is
 * not one; -EINVAL (as an error) if it is cut short. */
static int parse_nlerr(const uint8_t *msg, size_t len, uint32_t *seq)
{
	struct nlmsghdr nlh;
	struct nlmsgerr e;

	memcpy(&nlh, msg, sizeof(nlh));
	if (nlh.nlmsg_type != NLMSG_ERROR)
		return 1;
	if (len < NLMSG_HDRLEN + sizeof(e))
		return -EINVAL;
	memcpy(&e, msg + NLMSG_HDRLEN, sizeof(e));
	*seq = e.msg.nlmsg_seq;
	return e.error > 0 ? -e.error : e.error;
}

/* ---- /proc counters ------------------------------------------------------ */

int nfq_read_kstats(const struct nfq *q, struct nfq_kstats *out)
{
	size_t used = 0, cap = 16384;
	char *text = malloc(cap), *t;
	ssize_t n;
	int fd, ret;

	fd = open("/proc/net/netfilter/nfnetlink_queue", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !text) {
		ret = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	/* one line per bound queue: a few MiB at the very most */
	while ((n = read(fd, text + used, cap - used)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		used += (size_t)n;
		if (used == cap) {
			t = cap < (16U << 20) ? realloc(text, cap * 2) : NULL;
			if (!t) {
				ret = -ENOMEM;
				goto out;
			}
			text = t;
			cap *= 2;
		}
	}
	ret = nfq_parse_kstats(text, used, q->cfg.queue_num, out);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

/* ---- message building ---------------------------------------------------- */

/* Append an attribute to the message at BUF (nlmsg_len grows); the caller
 * made room for NLA_ALIGN(NLA_HDRLEN + len). */
static void put_attr(uint8_t *buf, uint16_t type, const void *data,
		     uint16_t len)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nlattr *a = (struct nlattr *)(buf + nlh->nlmsg_len);

	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	a->nla_type = type;
	memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	memset((uint8_t *)a + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
	nlh->nlmsg_len += NLA_ALIGN(NLA_HDRLEN + len);
}

/* Start an nfnetlink queue message at BUF. */
static void put_hdr(struct nfq *q, uint8_t *buf, uint8_t msg, uint16_t flags,
		    uint8_t family)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct nfgenmsg *g = (struct nfgenmsg *)(buf + NLMSG_HDRLEN);

	nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*g));
	nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | msg);
	nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	nlh->nlmsg_seq = ++q->seq;
	nlh->nlmsg_pid = 0;
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(q->cfg.queue_num);
}

static int send_all(int fd, const struct iovec *iov, int iovcnt)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct msghdr mh = {
		.msg_name = &kernel, .msg_namelen = sizeof(kernel),
		.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt,
	};

	for (;;) {
		if (sendmsg(fd, &mh, 0) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* ---- opening: config commands, each acked ------------------------------- */

static int send_verdict_now(struct nfq *q, uint32_t id, unsigned verdict);
static uint32_t note_id(struct nfq *q, uint32_t id);

/* Wait for the ack of message SEQ: 0 or the kernel's -errno.  A packet
 * that slips in before the queue is configured is dropped. */
static int wait_ack(struct nfq *q, uint32_t seq)
{
	uint8_t *buf = q->rxbuf;	/* one slot holds any packet */
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };

	for (;;) {
		ssize_t n;
		size_t off = 0;

		if (poll(&pfd, 1, NFQ_ACK_MS) == 0)
			return -ETIMEDOUT;
		n = recv(q->fd, buf, q->slot_size, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		while (off + NLMSG_HDRLEN <= (size_t)n) {
			struct nlmsghdr nlh;
			struct nfq_packet p;
			uint32_t s = 0;
			int e;

			memcpy(&nlh, buf + off, sizeof(nlh));
			if (nlh.nlmsg_len < NLMSG_HDRLEN ||
			    nlh.nlmsg_len > (size_t)n - off)
				break;
			e = parse_nlerr(buf + off, nlh.nlmsg_len, &s);
			if (e <= 0 && s == seq)
				return e;
			if (nfq_parse(buf + off, nlh.nlmsg_len, &p) == 1) {
				note_id(q, p.id);	/* before our config */
				q->st.packets++;
				q->st.dropped++;
				send_verdict_now(q, p.id, NF_DROP);
			}
			off += NLMSG_ALIGN(nlh.nlmsg_len);
		}
	}
}

/* Send the config message at BUF with an ack request; 0 or -errno. */
static int config_cmd(struct nfq *q, uint8_t *buf)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct iovec iov = { buf, nlh->nlmsg_len };
	int ret = send_all(q->fd, &iov, 1);

	return ret < 0 ? ret : wait_ack(q, nlh->nlmsg_seq);
}

/* The obsolete per-family bind (a no-op since Linux 3.8, still sent for
 * older kernels). */
static int pf_bind(struct nfq *q, uint8_t family)
{
	uint8_t buf[64] __attribute__((aligned(4)));
	struct nfqnl_msg_config_cmd cmd = {
		.command = NFQNL_CFG_CMD_PF_BIND, .pf = htons(family),
	};

	put_hdr(q, buf, NFQNL_MSG_CONFIG, NLM_F_ACK, family);
	put_attr(buf, NFQA_CFG_CMD, &cmd, sizeof(cmd));
	return config_cmd(q, buf);
}

/* Bind the queue and set copy mode, length and flags in one message, so
 * that the kernel applies them together (it checks the flags first). */
static int bind_queue(struct nfq *q)
{
	uint8_t buf[128] __attribute__((aligned(4)));
	struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND };
	struct nfqnl_msg_config_params params = {
		.copy_range = htonl(q->cfg.copy_range),
		.copy_mode = NFQNL_COPY_PACKET,
	};
	uint32_t maxlen = htonl(q->cfg.queue_maxlen);
	uint32_t flags = htonl(q->cfg.gso ? NFQA_CFG_F_GSO : 0);
	uint32_t mask = htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN);

	put_hdr(q, buf, NFQNL_MSG_CONFIG, NLM_F_ACK, AF_UNSPEC);
	put_attr(buf, NFQA_CFG_CMD, &cmd, sizeof(cmd));
	put_attr(buf, NFQA_CFG_PARAMS, &params, sizeof(params));
	put_attr(buf, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof(maxlen));
	put_attr(buf, NFQA_CFG_MASK, &mask, sizeof(mask));
	put_attr(buf, NFQA_CFG_FLAGS, &flags, sizeof(flags));
	return config_cmd(q, buf);
}

/* Explain a failed bind; returns the errno to report. */
static int bind_error(int e, uint16_t num, char *err, size_t errlen)
{
	switch (e) {
	case -EPERM:	/* the queue exists with another netlink port */
	case -EBUSY:
		set_err(err, errlen, "queue %u is bound by another program",
			num);
		return -EBUSY;
	case -EOPNOTSUPP:
	case -ENOTSUPP:
		set_err(err, errlen, "queue %u: the kernel does not support "
			"NFQA_CFG_F_GSO (Linux >= 3.10 needed)", num);
		return -EOPNOTSUPP;
	default:
		set_err(err, errlen, "queue %u: bind: %s", num, strerror(-e));
		return e;
	}
}

static int set_sockopts(struct nfq *q, char *err, size_t errlen)
{
	int one = 1, rcv = (int)q->cfg.rcvbuf, snd = (int)NFQ_MAXSEND;
	socklen_t sl = sizeof(snd);

	if (setsockopt(q->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) &&
	    setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv))) {
		int e = errno;

		set_err(err, errlen, "SO_RCVBUF %d: %s", rcv, strerror(e));
		return -e;
	}
	if (setsockopt(q->fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)))
		(void)setsockopt(q->fd, SOL_SOCKET, SO_SNDBUF, &snd,
				 sizeof(snd));
	if (getsockopt(q->fd, SOL_SOCKET, SO_SNDBUF, &snd, &sl) || snd < 8192)
		snd = 8192;
	/* netlink refuses a message larger than sk_sndbuf - 32 */
	q->max_send = (size_t)snd - 256 < NFQ_MAXSEND ? (size_t)snd - 256
						      : NFQ_MAXSEND;
	/* errors for verdicts echo only the header, not a 64 KiB payload */
	(void)setsockopt(q->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return 0;
}

static int open_socket(struct nfq *q, char *err, size_t errlen)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t sl = sizeof(sa);

	q->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       NETLINK_NETFILTER);
	if (q->fd < 0 || bind(q->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(q->fd, (struct sockaddr *)&sa, &sl)) {
		int e = errno;

		set_err(err, errlen, "netlink socket: %s", strerror(e));
		return -e;
	}
	q->portid = sa.nl_pid;
	return set_sockopts(q, err, errlen);
}

static int alloc_buffers(struct nfq *q)
{
	uint32_t cap = 64;
	unsigned i;

	while (cap < q->cfg.queue_maxlen + q->cfg.batch && cap < (1U << 20))
		cap <<= 1;
	q->cap = cap;
	q->slot_size = NLMSG_ALIGN(q->cfg.copy_range) + NFQ_SLOT_EXTRA;
	q->ring = calloc(cap, sizeof(*q->ring));
	q->rxbuf = malloc(q->slot_size * q->cfg.batch);
	q->mmsg = calloc(q->cfg.batch, sizeof(*q->mmsg));
	q->rxiov = calloc(q->cfg.batch, sizeof(*q->rxiov));
	q->hdr = malloc(NFQ_HDRBUF);
	if (!q->ring || !q->rxbuf || !q->mmsg || !q->rxiov || !q->hdr)
		return -ENOMEM;
	for (i = 0; i < q->cfg.batch; i++) {
		q->rxiov[i].iov_base = q->rxbuf + i * q->slot_size;
		q->rxiov[i].iov_len = q->slot_size;
		q->mmsg[i].msg_hdr.msg_iov = &q->rxiov[i];
		q->mmsg[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

static int check_config(const struct nfq_config *cfg, char *err,
			size_t errlen)
{
	if (cfg->batch < 1 || cfg->batch > 256) {
		set_err(err, errlen, "batch %u out of range 1..256", cfg->batch);
		return -EINVAL;
	}
	if (cfg->queue_maxlen < 1 || cfg->rcvbuf < 1 || cfg->rcvbuf > INT_MAX ||
	    cfg->copy_range > 65535) {
		set_err(err, errlen, "queue maxlen, rcvbuf or copy_range "
			"out of range");
		return -EINVAL;
	}
	return 0;
}

int nfq_open(struct nfq **out, const struct nfq_config *cfg, char *err,
	     size_t errlen)
{
	static const uint8_t families[] = { AF_INET, AF_INET6, AF_BRIDGE };
	struct nfq *q;
	size_t i;
	int ret;

	*out = NULL;
	ret = check_config(cfg, err, errlen);
	if (ret < 0)
		return ret;
	q = calloc(1, sizeof(*q));
	if (!q) {
		set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	q->fd = -1;
	q->cfg = *cfg;
	if (q->cfg.copy_range > NFQ_MAX_COPY)
		q->cfg.copy_range = NFQ_MAX_COPY;
	ret = alloc_buffers(q);
	if (ret < 0) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	ret = open_socket(q, err, errlen);
	if (ret < 0)
		goto out;
	for (i = 0; i < sizeof(families); i++) {
		ret = pf_bind(q, families[i]);
		if (families[i] == AF_BRIDGE &&
		    (ret == -EOPNOTSUPP || ret == -ENOTSUPP))
			ret = 0;
		if (ret == -EPERM) {
			set_err(err, errlen, "nfnetlink_queue: permission "
				"denied (CAP_NET_ADMIN needed)");
			goto out;
		}
		if (ret < 0) {
			set_err(err, errlen, "nfnetlink_queue: binding family "
				"%u: %s (module nfnetlink_queue missing?)",
				families[i], strerror(-ret));
			goto out;
		}
	}
	ret = bind_queue(q);
	if (ret < 0)
		ret = bind_error(ret, cfg->queue_num, err, errlen);
out:
	if (ret < 0) {
		nfq_close(q);
		return ret;
	}
	*out = q;
	return 0;
}

void nfq_close(struct nfq *q)
{
	uint32_t i;

	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);	/* the kernel unbinds the queue on release */
	if (q->ring)
		for (i = q->head; i != q->tail; i++)
			free(q->ring[i & (q->cap - 1)].data);
	free(q->ring);
	free(q->rxbuf);
	free(q->mmsg);
	free(q->rxiov);
	free(q->hdr);
	free(q);
}

int nfq_fd(const struct nfq *q)
{
	return q->fd;
}

uint32_t nfq_outstanding(const struct nfq *q)
{
	return q->pending;
}

const struct nfq_stats *nfq_get_stats(const struct nfq *q)
{
	return &q->st;
}

/* ---- receiving ----------------------------------------------------------- */

static struct nfq_slot *slot_at(const struct nfq *q, uint32_t i)
{
	return &q->ring[i & (q->cap - 1)];
}

static int ring_grow(struct nfq *q)
{
	uint32_t n = q->tail - q->head, i;
	struct nfq_slot *r;

	if (q->cap >= (1U << 30))
		return -ENOMEM;
	r = calloc((size_t)q->cap * 2, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		r[i] = *slot_at(q, q->head + i);
	free(q->ring);
	q->ring = r;
	q->cap *= 2;
	q->head = 0;
	q->tail = n;
	return 0;
}

/* Count ids skipped before ID (deliveries that failed). */
static uint32_t note_id(struct nfq *q, uint32_t id)
{
	uint32_t lost = 0;

	if (!q->seen_id)
		q->next_id = 1;		/* the kernel's first id */
	if ((int32_t)(id - q->next_id) > 0)
		lost = id - q->next_id;
	q->seen_id = true;
	q->next_id = id + 1;
	q->st.id_gaps += lost;
	return lost;
}

static int add_packet(struct nfq *q, struct nfq_packet *p)
{
	struct nfq_slot *s;

	if (q->tail - q->head == q->cap && ring_grow(q) < 0)
		return -ENOMEM;
	s = slot_at(q, q->tail++);
	memset(s, 0, sizeof(*s));
	s->id = p->id;
	q->pending++;
	if (q->pending > q->st.outstanding_max)
		q->st.outstanding_max = q->pending;
	p->lost_before = note_id(q, p->id);
	q->st.packets++;
	q->st.bytes += p->len;
	q->st.truncated += p->truncated;
	q->st.gso += p->gso;
	q->st.csum_partial += p->csum_partial;
	return 0;
}

/* Handle one netlink message from the kernel. */
static int handle_msg(struct nfq *q, const uint8_t *m, size_t len,
		      nfq_packet_cb *cb, void *arg)
{
	struct nfq_packet p;
	uint32_t seq;
	int r = nfq_parse(m, len, &p);

	if (r < 0) {
		q->st.malformed++;
		return 0;
	}
	if (r == 0) {
		if (parse_nlerr(m, len, &seq) < 0)
			q->st.send_errors++;	/* a verdict the kernel refused */
		return 0;
	}
	if (add_packet(q, &p) < 0) {
		send_verdict_now(q, p.id, NF_DROP);	/* cannot track it */
		q->st.dropped++;
		return 0;
	}
	cb(q, &p, arg);
	return 1;
}

/* Every message of one datagram. */
static int handle_datagram(struct nfq *q, const uint8_t *d, size_t len,
			   nfq_packet_cb *cb, void *arg)
{
	size_t off = 0;
	int n = 0;

	while (len - off >= NLMSG_HDRLEN) {
		struct nlmsghdr nlh;

		memcpy(&nlh, d + off, sizeof(nlh));
		if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len - off) {
			q->st.malformed++;
			break;
		}
		n += handle_msg(q, d + off, nlh.nlmsg_len, cb, arg);
		if (NLMSG_ALIGN(nlh.nlmsg_len) >= len - off)
			break;
		off += NLMSG_ALIGN(nlh.nlmsg_len);
	}
	return n;
}

/* One recvmmsg(): the number of datagrams (0 when none is waiting), or
 * -errno.  ENOBUFS (deliveries failed since the last call) is counted and
 * the call repeated. */
static int recv_batch(struct nfq *q)
{
	int n, i, tries;

	for (tries = 0; tries < 8; tries++) {
		for (i = 0; i < (int)q->cfg.batch; i++) {
			q->mmsg[i].msg_hdr.msg_flags = 0;
			q->mmsg[i].msg_len = 0;
		}
		q->st.recv_calls++;
		n = recvmmsg(q->fd, q->mmsg, q->cfg.batch, MSG_DONTWAIT, NULL);
		if (n >= 0)
			return n;
		if (errno == ENOBUFS)
			q->st.enobufs++;	/* lost; ids show how many */
		else if (errno == EAGAIN)
			return 0;
		else if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int nfq_receive(struct nfq *q, nfq_packet_cb *cb, void *arg)
{
	/* bounded: what we hold stays queued, so the kernel stops at maxlen */
	unsigned rounds = q->cfg.queue_maxlen / q->cfg.batch + 8;
	int n, i, got = 0;

	do {
		n = recv_batch(q);
		if (n < 0)
			return got ? got : n;
		q->st.recv_msgs += (uint64_t)n;
		for (i = 0; i < n; i++) {
			if (q->mmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				q->st.malformed++;	/* larger than a slot */
				continue;
			}
			got += handle_datagram(q, q->rxiov[i].iov_base,
					       q->mmsg[i].msg_len, cb, arg);
		}
	} while (n == (int)q->cfg.batch && --rounds > 0);
	return got;
}

/* ---- verdicts ------------------------------------------------------------ */

/* The slot of ID, or NULL: ids rise (mod 2^32) from head to tail. */
static struct nfq_slot *find_slot(struct nfq *q, uint32_t id)
{
	uint32_t n = q->tail - q->head, lo = 0, hi, base;
	int32_t want;

	if (n == 0)
		return NULL;
	base = slot_at(q, q->head)->id;
	want = (int32_t)(id - base);
	if (want < 0)
		return NULL;
	if ((uint32_t)want < n && slot_at(q, q->head + (uint32_t)want)->id == id)
		return slot_at(q, q->head + (uint32_t)want);	/* no gaps */
	hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int32_t d = (int32_t)(slot_at(q, q->head + mid)->id - base);

		if (d < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && slot_at(q, q->head + lo)->id == id)
		return slot_at(q, q->head + lo);
	return NULL;
}

static int decide(struct nfq *q, uint32_t id, uint8_t state,
		  struct nfq_slot **out)
{
	struct nfq_slot *s = find_slot(q, id);

	if (!s || s->sending)
		return -ENOENT;
	if (s->state != NFQ_UNDECIDED)
		return -EALREADY;
	s->state = state;
	q->decided++;
	*out = s;
	return 0;
}

int nfq_verdict(struct nfq *q, uint32_t id, unsigned verdict)
{
	struct nfq_slot *s;

	if (verdict != NF_ACCEPT && verdict != NF_DROP)
		return -EINVAL;
	return decide(q, id, verdict == NF_ACCEPT ? NFQ_ACCEPT : NFQ_DROP, &s);
}

int nfq_verdict_mangle(struct nfq *q, uint32_t id, const uint8_t *data,
		       uint32_t len)
{
	struct nfq_slot *s;
	uint8_t *copy;
	int ret;

	if (len > NFQ_MAX_COPY)
		return -EMSGSIZE;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	ret = decide(q, id, NFQ_MANGLE, &s);
	if (ret < 0) {
		free(copy);
		return ret;
	}
	memcpy(copy, data, len);
	s->data = copy;
	s->len = len;
	return 0;
}

/* Count a sent verdict in the stats. */
static void count_verdict(struct nfq *q, const struct nfq_slot *s)
{
	if (s->state == NFQ_DROP)
		q->st.dropped++;
	else if (s->state == NFQ_MANGLE)
		q->st.mangled++;
	else
		q->st.accepted++;
}

/* Send what has been built; marks the slots being sent as sent, or back
 * to waiting if the send failed. */
static int send_built(struct nfq *q, uint32_t from, uint32_t to)
{
	int ret = 0;
	uint32_t i;

	if (q->iovcnt > 0) {
		ret = send_all(q->fd, q->iov, q->iovcnt);
		q->st.sendmsg_calls++;
		if (ret < 0)
			q->st.send_errors++;
	}
	for (i = from; i != to; i++) {
		struct nfq_slot *s = slot_at(q, i);

		if (s->sending != 1)
			continue;
		s->sending = ret < 0 ? 0 : 2;
		if (ret == 0)
			count_verdict(q, s);
	}
	q->iovcnt = 0;
	q->hdr_used = 0;
	q->send_bytes = 0;
	return ret;
}

/* Room for one more message of EXTRA payload bytes in this sendmsg()? */
static bool have_room(const struct nfq *q, uint32_t extra)
{
	return q->hdr_used + 64 <= NFQ_HDRBUF && q->iovcnt + 3 <= IOV_MAX &&
	       q->send_bytes + 64 + NLA_ALIGN(extra) <= q->max_send;
}

/* Append a verdict message for S (a run ending at S when BATCH). */
static void build_verdict(struct nfq *q, const struct nfq_slot *s, bool batch)
{
	static const uint8_t pad[4];
	uint8_t *m = q->hdr + q->hdr_used;
	struct nlmsghdr *nlh = (struct nlmsghdr *)m;
	struct nfqnl_msg_verdict_hdr vh = {
		.verdict = htonl(s->state == NFQ_DROP ? NF_DROP : NF_ACCEPT),
		.id = htonl(s->id),
	};
	size_t start = q->hdr_used, plen = 0;
	struct iovec *last = q->iovcnt ? &q->iov[q->iovcnt - 1] : NULL;

	put_hdr(q, m, batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, 0,
		AF_UNSPEC);
	put_attr(m, NFQA_VERDICT_HDR, &vh, sizeof(vh));
	if (s->state == NFQ_MANGLE) {
		/* the attribute header here, its data by reference */
		struct nlattr *a = (struct nlattr *)(m + nlh->nlmsg_len);

		plen = s->len;
		a->nla_len = (uint16_t)(NLA_HDRLEN + plen);
		a->nla_type = NFQA_PAYLOAD;
		nlh->nlmsg_len += NLA_HDRLEN + NLA_ALIGN(plen);
	}
	q->hdr_used += nlh->nlmsg_len - NLA_ALIGN(plen);
	/* headers adjacent in hdr[] share one iovec */
	if (last && (uint8_t *)last->iov_base + last->iov_len == q->hdr + start)
		last->iov_len += q->hdr_used - start;
	else
		q->iov[q->iovcnt++] = (struct iovec){ q->hdr + start,
						      q->hdr_used - start };
	if (plen) {
		q->iov[q->iovcnt++] = (struct iovec){ s->data, plen };
		if (NLA_ALIGN(plen) != plen)
			q->iov[q->iovcnt++] = (struct iovec){
				(void *)pad, NLA_ALIGN(plen) - plen };
	}
	q->send_bytes += nlh->nlmsg_len;
}

/* The last slot of the run of plain verdict STATE starting at I (slots
 * already sent do not break a run: the kernel no longer holds them). */
static uint32_t run_end(struct nfq *q, uint32_t i, uint8_t state)
{
	uint32_t end = i, j;

	for (j = i + 1; j != q->tail; j++) {
		struct nfq_slot *s = slot_at(q, j);

		if (s->sending)
			continue;
		if (s->state != state)
			break;
		end = j;
	}
	return end;
}

/* Build the verdicts for slots [I, END] (END: a run's last, or I). */
static void build_slots(struct nfq *q, uint32_t i, uint32_t end, bool batch)
{
	uint32_t j;

	build_verdict(q, slot_at(q, end), batch);
	for (j = i;; j++) {
		struct nfq_slot *s = slot_at(q, j);

		if (!s->sending && s->state != NFQ_UNDECIDED)
			s->sending = 1;
		if (j == end)
			break;
	}
	if (batch)
		q->st.batch_verdicts++;
	else
		q->st.single_verdicts++;
}

/* Squeeze the sent slots out of the ring, keeping the order. */
static void ring_compact(struct nfq *q)
{
	uint32_t r, w = q->head;

	for (r = q->head; r != q->tail; r++) {
		struct nfq_slot *s = slot_at(q, r);

		if (s->sending == 2) {
			free(s->data);
			q->pending--;
			q->decided--;
			continue;
		}
		if (r != w)
			*slot_at(q, w) = *s;
		w++;
	}
	q->tail = w;
}

int nfq_flush(struct nfq *q)
{
	uint32_t i, from = q->head;
	bool at_head = true;
	int ret = 0;

	if (q->decided == 0)
		return 0;
	for (i = q->head; i != q->tail; i++) {
		struct nfq_slot *s = slot_at(q, i);
		uint32_t end = i;

		if (s->sending)
			continue;
		if (s->state == NFQ_UNDECIDED) {
			at_head = false;
			continue;
		}
		if (!have_room(q, s->state == NFQ_MANGLE ? s->len : 0)) {
			ret = send_built(q, from, i);
			from = i;
			if (ret < 0)
				break;
		}
		if (at_head && s->state != NFQ_MANGLE)
			end = run_end(q, i, s->state);
		build_slots(q, i, end, end != i);
		i = end;
	}
	if (ret == 0)
		ret = send_built(q, from, q->tail);
	ring_compact(q);
	return ret;
}

/* One verdict at once, outside the ring (packets we cannot keep). */
static int send_verdict_now(struct nfq *q, uint32_t id, unsigned verdict)
{
	uint8_t buf[64] __attribute__((aligned(4)));
	struct nfqnl_msg_verdict_hdr vh = { htonl(verdict), htonl(id) };
	struct iovec iov = { buf, 0 };

	put_hdr(q, buf, NFQNL_MSG_VERDICT, 0, AF_UNSPEC);
	put_attr(buf, NFQA_VERDICT_HDR, &vh, sizeof(vh));
	iov.iov_len = ((struct nlmsghdr *)buf)->nlmsg_len;
	q->st.sendmsg_calls++;
	return send_all(q->fd, &iov, 1);
}
