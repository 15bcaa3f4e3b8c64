/*
 * chan: the proxy channel's connection handling.
 *
 *   primary:   lfd (listening) --accept--> fd   (a newer peer replaces fd)
 *   secondary: fd --connect (non-blocking)--> up, or retry after reconnect_ms
 *
 *   tx: hdr+payload appended to txb (bounded by cfg.buffer), written from
 *       the before-sleep hook and on LOOP_WRITE
 *   rx: read -> wire_dec -> HELLO first, then sequenced messages
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "colo-proxy/chan.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/loop.h"

#define RX_CHUNK (256 * 1024)

struct chan {
	struct loop *loop;
	struct chan_config cfg;
	struct chan_events ev;
	int lfd, fd;
	bool connecting, hello_seen, ever_up, retry_logged;
	struct buf txb;
	struct wire_dec dec;
	uint8_t *rxbuf;
	uint32_t tx_seq;		/* next sequenced message */
	uint32_t rx_seq;		/* next expected from the peer */
	uint64_t instance;		/* ours */
	uint64_t peer_instance;		/* last peer's, 0 if none */
	uint64_t last_rx_ms, last_tx_ms;
	uint64_t tick_timer, retry_timer;
	char peer_text[64];
	struct chan_stats st;
};

static void on_io(struct loop *loop, int fd, unsigned events, void *arg);
static void start_connect(struct chan *ch);

static void on_retry(struct loop *loop, uint64_t id, void *arg)
{
	struct chan *ch = arg;

	(void)loop;
	(void)id;
	ch->retry_timer = 0;
	start_connect(ch);
}

/*
 * The channel carries every frame toward the VM in bursts (a 64 KiB
 * super-packet at a time) and every held output waits for what it brings
 * back: it wants its bytes sent at once.  A pacing congestion control
 * (bbr, the default on some kernels) spreads each burst over time on a
 * link whose measured round trip is microseconds: the lab measured the
 * pair at 6-7 Gbit/s with bbr on the channel and 8.7 with cubic (README,
 * Performance).  So the channel chooses its own, [channel] congestion.
 */
static int set_congestion(int fd, const char *name)
{
	if (!name[0])
		return 0;
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name,
		       (socklen_t)strlen(name)) < 0)
		return -errno;
	return 0;
}

bool chan_cc_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (strcmp(name, "system") == 0)
		return true;
	if (n == 0 || n > 15)
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void tune_socket(struct chan *ch, int fd)
{
	int one = 1, sz = 4 << 20;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* checked at chan_new(): a failure now is not expected */
	if (set_congestion(fd, ch->cfg.congestion) < 0)
		log_warn("channel: congestion control \"%s\"",
			 ch->cfg.congestion);
}

static void close_conn(struct chan *ch, const char *why)
{
	bool was_up = ch->hello_seen;

	if (ch->fd < 0)
		return;
	loop_del_fd(ch->loop, ch->fd);
	close(ch->fd);
	ch->fd = -1;
	ch->connecting = false;
	ch->hello_seen = false;
	if (buf_len(&ch->txb))
		ch->st.tx_dropped_down++;	/* the partial tail is lost */
	buf_reset(&ch->txb);
	wire_dec_free(&ch->dec);
	ch->st.disconnects++;
	log_warnx("channel to %s closed: %s", ch->peer_text, why);
	if (was_up && ch->ev.on_down)
		ch->ev.on_down(ch->ev.arg, why);
	if (!ch->cfg.listen)
		loop_add_timer(ch->loop, ch->cfg.reconnect_ms, 0, on_retry,
			       ch, &ch->retry_timer);
}

void chan_drop(struct chan *ch, const char *why)
{
	close_conn(ch, why);
}

/* A message of BYTES (header included) handed to the socket or txb. */
static void count_tx(struct chan *ch, size_t bytes)
{
	ch->st.tx_msgs++;
	ch->st.tx_bytes += bytes;
	if (buf_len(&ch->txb) > ch->st.buffered_max)
		ch->st.buffered_max = buf_len(&ch->txb);
}

/* Append one framed message to the send buffer (no checks). */
static int queue_msg(struct chan *ch, const struct wire_hdr *h,
		     const void *p1, size_t l1, const void *p2, size_t l2)
{
	uint8_t hdr[WIRE_HDR_LEN];

	if (buf_reserve(&ch->txb, WIRE_HDR_LEN + l1 + l2) < 0)
		return -ENOBUFS;
	wire_put_hdr(hdr, h);
	buf_append(&ch->txb, hdr, sizeof(hdr));
	if (l1)
		buf_append(&ch->txb, p1, l1);
	if (l2)
		buf_append(&ch->txb, p2, l2);
	count_tx(ch, WIRE_HDR_LEN + l1 + l2);
	return 0;
}

static void send_hello(struct chan *ch)
{
	struct wire_hello m = {
		.role = ch->cfg.role, .next_seq = ch->tx_seq,
		.rx_seq = ch->rx_seq, .instance = ch->instance,
	};
	struct wire_hdr h = { .version = WIRE_VERSION, .type = WIRE_HELLO,
			      .len = WIRE_HELLO_LEN };
	uint8_t p[WIRE_HELLO_LEN];

	memcpy(m.name, ch->cfg.name, sizeof(m.name));
	wire_put_hello(p, &m);
	queue_msg(ch, &h, p, sizeof(p), NULL, 0);
}

/*
 * Write a large message straight from the caller's memory when nothing is
 * queued before it, or what was queued could be written first (a 64 KiB
 * super-packet is not copied into txb); what the socket does not take is
 * queued as usual.  Small messages are only queued: the before-sleep flush
 * sends a whole batch in one call.
 */
#define DIRECT_MIN 4096

static int send_direct(struct chan *ch, const struct wire_hdr *h,
		       const void *p1, size_t l1, const void *p2, size_t l2)
{
	uint8_t hdr[WIRE_HDR_LEN];
	struct iovec iov[3] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)(uintptr_t)p1, .iov_len = l1 },
		{ .iov_base = (void *)(uintptr_t)p2, .iov_len = l2 },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };
	size_t total = sizeof(hdr) + l1 + l2, done;
	ssize_t n;

	wire_put_hdr(hdr, h);
	do
		n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		/* the connection broke: this message is lost with it */
		close_conn(ch, strerror(errno));
		return -ENOTCONN;
	}
	done = n > 0 ? (size_t)n : 0;
	if (done)
		ch->last_tx_ms = loop_now_ms();
	ch->st.tx_direct++;
	if (done < total) {
		/* the rest, in order, behind nothing: the flush writes it */
		if (buf_reserve(&ch->txb, total - done) < 0) {
			close_conn(ch, "out of memory for a partly sent message");
			return -ENOTCONN;
		}
		for (int i = 0; i < 3; i++) {
			size_t skip = done < iov[i].iov_len ? done : iov[i].iov_len;

			done -= skip;
			buf_append(&ch->txb, (uint8_t *)iov[i].iov_base + skip,
				   iov[i].iov_len - skip);
		}
		loop_mod_fd(ch->loop, ch->fd, LOOP_READ | LOOP_WRITE);
	}
	count_tx(ch, total);
	return 0;
}

int chan_send(struct chan *ch, uint8_t type, uint16_t flags, uint16_t aux,
	      uint32_t epoch, const void *p1, size_t l1, const void *p2,
	      size_t l2)
{
	struct wire_hdr h = { .version = WIRE_VERSION, .type = type,
			      .flags = flags, .aux = aux, .epoch = epoch };

	if (l1 + l2 > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	h.len = (uint32_t)(l1 + l2);
	h.seq = ch->tx_seq++;
	if (!ch->hello_seen) {
		ch->st.tx_dropped_down++;
		return -ENOTCONN;
	}
	if (buf_len(&ch->txb) + WIRE_HDR_LEN + h.len > ch->cfg.buffer) {
		ch->st.tx_dropped_full++;
		return -ENOBUFS;
	}
	if (h.len >= DIRECT_MIN) {
		/* small messages queued before it go first, then this one
		 * without a copy if the socket took them all */
		if (buf_len(&ch->txb))
			chan_flush(ch);
		if (!chan_is_up(ch)) {
			ch->st.tx_dropped_down++;
			return -ENOTCONN;
		}
		if (!buf_len(&ch->txb))
			return send_direct(ch, &h, p1, l1, p2, l2);
	}
	if (queue_msg(ch, &h, p1, l1, p2, l2) < 0) {
		ch->st.tx_dropped_full++;
		return -ENOBUFS;
	}
	return 0;
}

void chan_flush(struct chan *ch)
{
	ssize_t n;

	if (ch->fd < 0 || ch->connecting)
		return;
	while (buf_len(&ch->txb)) {
		n = send(ch->fd, buf_data(&ch->txb), buf_len(&ch->txb),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			close_conn(ch, n < 0 ? strerror(errno) : "peer closed");
			return;
		}
		buf_consume(&ch->txb, (size_t)n);
		ch->last_tx_ms = loop_now_ms();
	}
	ch->st.buffered = buf_len(&ch->txb);
	/* epoll is told only when write interest changes (loop_mod_fd) */
	loop_mod_fd(ch->loop, ch->fd,
		    LOOP_READ | (buf_len(&ch->txb) ? LOOP_WRITE : 0));
}

/* The peer's HELLO: who it is, and what either side missed. */
static int got_hello(struct chan *ch, const struct wire_hdr *h,
		     const uint8_t *payload)
{
	struct chan_up_info info = { 0 };
	struct wire_hello m;
	uint8_t want = ch->cfg.role == WIRE_ROLE_PRIMARY ?
		       WIRE_ROLE_SECONDARY : WIRE_ROLE_PRIMARY;

	if (wire_get_hello(payload, h->len, &m) != WIRE_OK)
		return -EPROTO;
	if (m.role != want) {
		log_warnx("channel: peer %s says it is a %s too", ch->peer_text,
			  m.role == WIRE_ROLE_PRIMARY ? "primary" : "secondary");
		return -EPROTO;
	}
	if (strncmp(m.name, ch->cfg.name, WIRE_NAME_MAX) != 0) {
		log_warnx("channel: peer %s belongs to pair \"%.*s\", not "
			  "\"%s\"", ch->peer_text, WIRE_NAME_MAX, m.name,
			  ch->cfg.name);
		return -EPROTO;
	}
	info.peer = &m;
	info.first = !ch->ever_up;
	info.restarted = ch->ever_up && m.instance != ch->peer_instance;
	if (ch->ever_up && !info.restarted)
		info.rx_missed = m.next_seq - ch->rx_seq;
	if (!info.first && m.rx_seq != ch->tx_seq)
		info.tx_missed = ch->tx_seq - m.rx_seq;
	if (info.restarted)
		ch->st.peer_restarts++;
	ch->st.rx_missed += info.rx_missed;
	ch->st.tx_missed += info.tx_missed;
	ch->rx_seq = m.next_seq;
	ch->peer_instance = m.instance;
	ch->hello_seen = ch->ever_up = true;
	ch->retry_logged = false;
	ch->st.connects++;
	log_info("channel up with %s (peer epoch %u%s%s)", ch->peer_text,
		 m.epoch, info.restarted ? ", peer restarted" : "",
		 info.rx_missed || info.tx_missed ? ", messages lost" : "");
	if (ch->ev.on_up)
		ch->ev.on_up(ch->ev.arg, &info);
	return 0;
}

static int got_msg(struct chan *ch, const struct wire_hdr *h,
		   uint8_t *payload)
{
	uint32_t missed = 0;

	if (h->type == WIRE_HELLO)
		return ch->hello_seen ? -EPROTO : got_hello(ch, h, payload);
	if (!ch->hello_seen)
		return -EPROTO;
	ch->st.rx_msgs++;
	ch->st.rx_bytes += WIRE_HDR_LEN + h->len;
	if (h->seq != ch->rx_seq) {
		/* TCP neither loses nor reorders: the sender skipped them */
		missed = h->seq - ch->rx_seq;
		if (wire_seq_diff(h->seq, ch->rx_seq) < 0)
			missed = 1;	/* went back: treat as a loss too */
		ch->st.rx_gaps++;
		ch->st.rx_missed += missed;
	}
	ch->rx_seq = h->seq + 1;
	if (h->type != WIRE_KEEPALIVE && ch->ev.on_msg)
		ch->ev.on_msg(ch->ev.arg, h, payload, missed);
	return 0;
}

/*
 * The decoder hands out a payload either in rxbuf (a message that arrived
 * whole in one read: no copy) or in its own assembly buffer; both are
 * ours, so the receiver may change it in place (the secondary rewrites
 * and injects mirrored frames where they lie).
 */
static uint8_t *own_payload(struct chan *ch, const uint8_t *payload)
{
	if (payload >= ch->rxbuf && payload < ch->rxbuf + RX_CHUNK)
		return ch->rxbuf + (payload - ch->rxbuf);
	return ch->dec.buf + (payload - ch->dec.buf);
}

static void read_conn(struct chan *ch)
{
	struct wire_hdr h;
	const uint8_t *payload;
	ssize_t n;
	size_t off, used;
	int r;

	n = recv(ch->fd, ch->rxbuf, RX_CHUNK, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_conn(ch, n < 0 ? strerror(errno) : "peer closed");
		return;
	}
	ch->last_rx_ms = loop_now_ms();
	for (off = 0; off < (size_t)n;) {
		r = wire_dec_push(&ch->dec, ch->rxbuf + off, (size_t)n - off,
				  &used, &h, &payload);
		off += used;
		if (r < 0) {
			char why[96];

			ch->st.proto_errors++;
			snprintf(why, sizeof(why), "protocol error (%s)",
				 wire_err_name(ch->dec.err));
			close_conn(ch, why);
			return;
		}
		if (r == 0)
			continue;
		if (got_msg(ch, &h, own_payload(ch, payload)) < 0) {
			ch->st.proto_errors++;
			close_conn(ch, "protocol error (unexpected message)");
			return;
		}
		if (ch->fd < 0)
			return;
	}
}

/* Said once per outage, not at every retry. */
static void connect_failed(struct chan *ch, int err)
{
	if (!ch->retry_logged)
		log_warnx("channel: connect to %s: %s (retrying every %llu ms)",
			  ch->peer_text, strerror(err),
			  (unsigned long long)ch->cfg.reconnect_ms);
	ch->retry_logged = true;
}

static void finish_connect(struct chan *ch)
{
	int err = 0;
	socklen_t len = sizeof(err);

	getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		ch->connecting = false;
		loop_del_fd(ch->loop, ch->fd);
		close(ch->fd);
		ch->fd = -1;
		connect_failed(ch, err);
		loop_add_timer(ch->loop, ch->cfg.reconnect_ms, 0, on_retry, ch,
			       &ch->retry_timer);
		return;
	}
	ch->connecting = false;
	send_hello(ch);
	ch->last_rx_ms = loop_now_ms();
}

static void on_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct chan *ch = arg;

	(void)loop;
	(void)fd;
	if (ch->connecting) {
		finish_connect(ch);
		return;
	}
	if (events & (LOOP_READ | LOOP_ERROR))
		read_conn(ch);
	if (ch->fd >= 0 && (events & LOOP_WRITE))
		chan_flush(ch);
}

/* A new connection (either side): state for it, HELLO queued. */
static int adopt(struct chan *ch, int fd, bool connecting)
{
	int r;

	tune_socket(ch, fd);
	r = wire_dec_init(&ch->dec);
	if (r < 0)
		return r;
	r = loop_add_fd(ch->loop, fd, connecting ? LOOP_WRITE : LOOP_READ,
			on_io, on_io, ch);
	if (r < 0) {
		wire_dec_free(&ch->dec);
		return r;
	}
	ch->fd = fd;
	ch->connecting = connecting;
	ch->hello_seen = false;
	buf_reset(&ch->txb);
	ch->last_rx_ms = loop_now_ms();
	if (!connecting)
		send_hello(ch);
	return 0;
}

static void start_connect(struct chan *ch)
{
	int fd = socket(ch->cfg.peer.u.sa.sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_warn("channel: socket");
		goto retry;
	}
	if (connect(fd, &ch->cfg.peer.u.sa, ch->cfg.peer.len) < 0 &&
	    errno != EINPROGRESS) {
		connect_failed(ch, errno);
		close(fd);
		goto retry;
	}
	if (adopt(ch, fd, true) < 0) {
		close(fd);
		goto retry;
	}
	return;
retry:
	loop_add_timer(ch->loop, ch->cfg.reconnect_ms, 0, on_retry, ch,
		       &ch->retry_timer);
}

static bool same_host(const struct sockaddr *a, const struct cfg_addr *b)
{
	if (!b->len)
		return true;
	if (a->sa_family != b->u.sa.sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)
			       ->sin_addr.s_addr == b->u.sin.sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
		      &b->u.sin6.sin6_addr, 16) == 0;
}

static void on_accept(struct loop *loop, int lfd, unsigned events, void *arg)
{
	struct chan *ch = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char text[64];
	int fd;

	(void)loop;
	(void)events;
	fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	cfg_sockaddr_text((struct sockaddr *)&ss, text, sizeof(text));
	if (!same_host((struct sockaddr *)&ss, &ch->cfg.peer)) {
		ch->st.refused++;
		log_warnx("channel: refused a connection from %s (not the "
			  "configured peer)", text);
		close(fd);
		return;
	}
	if (ch->fd >= 0)
		close_conn(ch, "replaced by a new connection from the peer");
	snprintf(ch->peer_text, sizeof(ch->peer_text), "%s", text);
	if (adopt(ch, fd, false) < 0)
		close(fd);
}

static void on_tick(struct loop *loop, uint64_t id, void *arg)
{
	struct chan *ch = arg;
	uint64_t now = loop_now_ms();

	(void)loop;
	(void)id;
	if (ch->fd < 0 || ch->connecting)
		return;
	if (now - ch->last_rx_ms > ch->cfg.timeout_ms) {
		ch->st.timeouts++;
		close_conn(ch, "nothing heard within the timeout");
		return;
	}
	if (ch->hello_seen)
		chan_send(ch, WIRE_KEEPALIVE, 0, 0, 0, NULL, 0, NULL, 0);
}

static int open_listener(struct chan *ch, char *err, size_t errlen)
{
	int one = 1, fd;

	fd = socket(ch->cfg.listen_addr.u.sa.sa_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &ch->cfg.listen_addr.u.sa, ch->cfg.listen_addr.len) < 0 ||
	    listen(fd, 4) < 0)
		goto fail;
	if (loop_add_fd(ch->loop, fd, LOOP_READ, on_accept, NULL, ch) < 0)
		goto fail;
	ch->lfd = fd;
	return 0;
fail:
	cfg_sockaddr_text(&ch->cfg.listen_addr.u.sa, ch->peer_text,
		  sizeof(ch->peer_text));
	snprintf(err, errlen, "channel: cannot listen on %s: %s",
		 ch->peer_text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -errno;
}

/* Try NAME on a socket of our own: the kernel has it (or loads it), or ERR
 * quotes the name with what the kernel offers. */
static int check_congestion(const char *name, char *err, size_t errlen)
{
	char avail[256] = "";
	int fd, r;
	FILE *f;

	if (!name[0])
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;	/* said by the channel's own socket later */
	r = set_congestion(fd, name);
	close(fd);
	if (r == 0)
		return 0;
	f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
	if (f) {
		if (!fgets(avail, sizeof(avail), f))
			avail[0] = 0;
		avail[strcspn(avail, "\n")] = 0;
		fclose(f);
	}
	snprintf(err, errlen, "[channel] congestion: \"%s\": %s (this kernel "
		 "has: %s; or \"system\")", name, strerror(-r),
		 avail[0] ? avail : "unknown");
	return r;
}

int chan_new(struct loop *loop, const struct chan_config *cfg,
	     const struct chan_events *ev, struct chan **out, char *err,
	     size_t errlen)
{
	struct chan *ch = calloc(1, sizeof(*ch));
	int r = -ENOMEM;

	if (!ch || !(ch->rxbuf = malloc(RX_CHUNK)))
		goto fail;
	ch->loop = loop;
	ch->cfg = *cfg;
	ch->ev = *ev;
	ch->lfd = ch->fd = -1;
	if (getrandom(&ch->instance, sizeof(ch->instance), 0) !=
	    sizeof(ch->instance))
		ch->instance = (uint64_t)getpid() << 32 ^ loop_now_ms();
	ch->instance |= 1;
	r = check_congestion(cfg->congestion, err, errlen);
	if (r < 0)
		goto fail;
	r = loop_add_timer(loop, cfg->keepalive_ms, cfg->keepalive_ms, on_tick,
			   ch, &ch->tick_timer);
	if (r < 0)
		goto fail;
	if (cfg->listen) {
		r = open_listener(ch, err, errlen);
		if (r < 0)
			goto fail;
		snprintf(ch->peer_text, sizeof(ch->peer_text), "peer");
	} else {
		cfg_sockaddr_text(&cfg->peer.u.sa, ch->peer_text, sizeof(ch->peer_text));
		start_connect(ch);
	}
	*out = ch;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(err, errlen, "channel: out of memory");
	chan_free(ch);
	return r;
}

void chan_free(struct chan *ch)
{
	if (!ch)
		return;
	if (ch->fd >= 0) {
		loop_del_fd(ch->loop, ch->fd);
		close(ch->fd);
	}
	if (ch->lfd >= 0) {
		loop_del_fd(ch->loop, ch->lfd);
		close(ch->lfd);
	}
	if (ch->tick_timer)
		loop_del_timer(ch->loop, ch->tick_timer);
	if (ch->retry_timer)
		loop_del_timer(ch->loop, ch->retry_timer);
	wire_dec_free(&ch->dec);
	buf_free(&ch->txb);
	free(ch->rxbuf);
	free(ch);
}

bool chan_is_up(const struct chan *ch)
{
	return ch->fd >= 0 && ch->hello_seen;
}

void chan_describe(const struct chan *ch, char *buf, size_t len)
{
	char a[64];

	if (chan_is_up(ch)) {
		char cc[16] = "";
		socklen_t cl = sizeof(cc) - 1;

		if (getsockopt(ch->fd, IPPROTO_TCP, TCP_CONGESTION, cc, &cl) < 0)
			snprintf(cc, sizeof(cc), "?");
		snprintf(buf, len, "up with %s (congestion %s)", ch->peer_text,
			 cc);
	} else if (ch->cfg.listen) {
		cfg_sockaddr_text(&ch->cfg.listen_addr.u.sa, a, sizeof(a));
		snprintf(buf, len, "down (listening on %s)", a);
	} else {
		snprintf(buf, len, "down (connecting to %s)", ch->peer_text);
	}
}

const struct chan_stats *chan_get_stats(const struct chan *ch)
{
	return &ch->st;
}
