/*
 * test_relay_loop.c - colo-relay on loopback with real TCP sockets: the
 * library's relays run on a loop in a thread of the test; the test plays
 * the primary QEMU (a client of relay A), the secondary QEMU (a server
 * relay B connects to) and, for the fault cases, the other relay.
 *
 *   fake primary --tcp--> relay A ==tcp==> relay B --tcp--> fake secondary
 *                         (or the test as B)  (or the test as A)
 *
 * Everything is checked by behaviour: bytes arrive intact both ways,
 * sockets are closed, counters say why.  Waits are bounded (WAIT_MS) to
 * turn a hang into a failure; no test measures how long anything took.
 * Ports are ephemeral on 127.0.0.1.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/loop.h"
#include "relay/relay.h"

#define WAIT_MS 10000		/* a hang guard, not a threshold */

static void watchdog(void)
{
	alarm(120);
}

TestSuite(relay_pair, .init = watchdog);
TestSuite(relay_fake_primary, .init = watchdog);
TestSuite(relay_fake_secondary, .init = watchdog);

/* ---- sockets, with bounded waits ------------------------------------------------ */

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	nonblock(fd);
	return fd;
}

/* A port nothing listens on (bound, never listening, then closed). */
static uint16_t dead_port(void)
{
	uint16_t port;
	int fd = listener(&port);

	close(fd);
	return port;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0,
		     "connect to %u: %s", port, strerror(errno));
	nonblock(fd);
	return fd;
}

static bool wait_for(int fd, short what, int ms)
{
	struct pollfd p = { .fd = fd, .events = what };

	return poll(&p, 1, ms) == 1;
}

/* The connection LFD receives within MS, or -1. */
static int accept_within(int lfd, int ms)
{
	int fd;

	if (!wait_for(lfd, POLLIN, ms))
		return -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	return fd;
}

static bool read_exact(int fd, void *p, size_t n, int ms)
{
	uint8_t *b = p;
	ssize_t r;

	while (n) {
		if (!wait_for(fd, POLLIN, ms))
			return false;
		r = recv(fd, b, n, 0);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const void *p, size_t n, int ms)
{
	const uint8_t *b = p;
	ssize_t r;

	while (n) {
		if (!wait_for(fd, POLLOUT, ms))
			return false;
		r = send(fd, b, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FD is closed by the other side within MS (EOF or reset), whatever it
 * still delivers before; true if so. */
static bool closed_within(int fd, int ms)
{
	int64_t end = now_ms() + ms;
	uint8_t b[65536];
	ssize_t r;

	for (;;) {
		int64_t left = end - now_ms();

		if (left <= 0 || !wait_for(fd, POLLIN, (int)left))
			return false;
		r = recv(fd, b, sizeof(b), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return true;
	}
}

/* Write W[WN] to WFD while reading RN bytes from RFD into R (both at
 * once: neither side may wait for the other).  SLOW: read in small bites
 * with pauses, so that every buffer on the way fills. */
static bool xfer(int wfd, const uint8_t *w, size_t wn, int rfd, uint8_t *r,
		 size_t rn, bool slow)
{
	size_t wo = 0, ro = 0;

	while (wo < wn || ro < rn) {
		struct pollfd p[2] = { { .fd = wfd, .events = POLLOUT },
				       { .fd = rfd, .events = POLLIN } };
		ssize_t k;

		p[0].fd = wo < wn ? wfd : -1;
		p[1].fd = ro < rn ? rfd : -1;
		if (poll(p, 2, WAIT_MS) <= 0)
			return false;
		if (p[0].revents) {
			k = send(wfd, w + wo, wn - wo, MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN)
				return false;
			wo += k > 0 ? (size_t)k : 0;
		}
		if (p[1].revents) {
			size_t want = rn - ro;

			if (slow && want > 16384)
				want = 16384;
			k = recv(rfd, r + ro, want, 0);
			if (k == 0 || (k < 0 && errno != EAGAIN))
				return false;
			ro += k > 0 ? (size_t)k : 0;
			if (slow)
				nanosleep(&(struct timespec){ 0, 200000 }, NULL);
		}
	}
	return true;
}

/* ---- data -------------------------------------------------------------------- */

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)rnd_state;
}

/* Half random, half guest-like (zero pages, repeated text). */
static uint8_t *make_data(size_t n, bool compressible)
{
	uint8_t *p = malloc(n ? n : 1);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = compressible ? (i / 4096 % 3 == 0 ? 0 :
			(uint8_t)"colo checkpoint page\n"[i % 21]) :
			(uint8_t)rnd();
	return p;
}

/* ---- the relays on a loop thread ------------------------------------------------- */

struct net {
	struct loop *loop;
	struct relay a, b;
	bool has_a, has_b;
	int qemu_lfd;		/* the fake secondary QEMU */
	uint16_t qemu_port;
	int peer_lfd;		/* the test as relay B (A's connect) */
	uint16_t peer_port;
	int stop[2];
	pthread_t th;
};

struct opts {
	const char *a_extra, *b_extra;	/* more config lines */
	bool fast_timeouts;		/* keepalive 50ms, timeout 400ms */
	bool qemu_down;			/* nothing at the SVM's address */
	bool peer_down;			/* nothing at A's connect */
};

static struct relay_conf conf_of(int role, uint16_t connect_port,
				 const struct opts *o)
{
	char text[1024], err[256];
	struct relay_conf c;

	snprintf(text, sizeof(text), "[relay]\nname = test\nrole = %s\n"
		 "listen = 127.0.0.1:0\nconnect = 127.0.0.1:%u\n"
		 "buffer = 1M\n%s\n[timeouts]\n%s\n",
		 role ? "secondary" : "primary", connect_port,
		 (role ? o->b_extra : o->a_extra) ?
		 (role ? o->b_extra : o->a_extra) : "",
		 o->fast_timeouts ? "connect = 200ms\nkeepalive = 50ms\n"
		 "timeout = 400ms" : "connect = 2s\nkeepalive = 1s\n"
		 "timeout = 5s");
	cr_assert(relay_conf_parse(&c, text, strlen(text), err, sizeof(err)),
		  "%s", err);
	return c;
}

static void on_stop(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
	loop_stop(l);
}

static void *run_loop(void *arg)
{
	struct net *n = arg;

	loop_run(n->loop);
	return NULL;
}

static void start(struct net *n, struct relay *r, int role, uint16_t port,
		  const struct opts *o)
{
	struct relay_conf c = conf_of(role, port, o);
	char err[256];

	cr_assert_eq(relay_start(r, n->loop, &c, false, err, sizeof(err)), 0,
		     "%s", err);
}

/* WITH_A, WITH_B: which relays run; the test plays the missing one. */
static void net_up(struct net *n, bool with_a, bool with_b,
		   const struct opts *o)
{
	static const struct opts none;
	uint16_t b_port;

	o = o ? o : &none;
	memset(n, 0, sizeof(*n));
	n->qemu_lfd = n->peer_lfd = -1;
	cr_assert_eq(loop_new(&n->loop), 0);
	cr_assert_eq(pipe(n->stop), 0);
	cr_assert_eq(loop_add_fd(n->loop, n->stop[0], LOOP_READ, on_stop,
				 NULL, NULL), 0);
	if (with_b) {
		if (o->qemu_down)
			n->qemu_port = dead_port();
		else
			n->qemu_lfd = listener(&n->qemu_port);
		start(n, &n->b, 1, n->qemu_port, o);
		n->has_b = true;
	}
	if (with_a) {
		if (with_b)
			b_port = n->b.port;
		else if (o->peer_down)
			b_port = dead_port();
		else
			n->peer_lfd = listener(&n->peer_port), b_port =
				n->peer_port;
		start(n, &n->a, 0, b_port, o);
		n->has_a = true;
	}
	cr_assert_eq(pthread_create(&n->th, NULL, run_loop, n), 0);
}

/* Stop the loop thread: the relays' state may be read after this. */
static void net_stop(struct net *n)
{
	cr_assert_eq(write(n->stop[1], "x", 1), 1);
	pthread_join(n->th, NULL);
}

static void net_free(struct net *n)
{
	if (n->has_a)
		relay_stop(&n->a);
	if (n->has_b)
		relay_stop(&n->b);
	loop_del_fd(n->loop, n->stop[0]);
	loop_free(n->loop);
	close(n->stop[0]);
	close(n->stop[1]);
	if (n->qemu_lfd >= 0)
		close(n->qemu_lfd);
	if (n->peer_lfd >= 0)
		close(n->peer_lfd);
}

static uint64_t faults(const struct relay *r)
{
	uint64_t t = 0;

	for (int f = 0; f < RLY_F_MAX; f++)
		t += r->st.faults[f];
	return t;
}

/* A fake primary QEMU connected through A, and the fake secondary QEMU's
 * end of the same channel. */
struct chan {
	int pvm, svm;
};

static struct chan open_chan(struct net *n)
{
	struct chan c;

	c.pvm = connect_to(n->a.port);
	c.svm = accept_within(n->qemu_lfd, WAIT_MS);
	cr_assert_geq(c.svm, 0, "relay B never connected to the SVM");
	return c;
}

/* One COLO-like round: REQ bytes forward, REP bytes back. */
static void round_trip(struct chan *c, size_t req, size_t rep,
		       bool compressible)
{
	uint8_t *w = make_data(req, compressible), *r = malloc(req + 1);
	uint8_t *w2 = make_data(rep, false), *r2 = malloc(rep + 1);

	cr_assert(r && r2);
	cr_assert(xfer(c->pvm, w, req, c->svm, r, req, false),
		  "forward %zu bytes", req);
	cr_assert_arr_eq(r, w, req);
	cr_assert(xfer(c->svm, w2, rep, c->pvm, r2, rep, false),
		  "reverse %zu bytes", rep);
	cr_assert_arr_eq(r2, w2, rep);
	free(w);
	free(r);
	free(w2);
	free(r2);
}

/* ---- the pair: traffic ------------------------------------------------------------ */

static const size_t reqs[] = { 4, 1, 100, 4096, 65536, 300000, 1 << 20,
			       3 << 20, 12, 777777 };

Test(relay_pair, request_reply_intact_both_ways)
{
	struct net n;
	struct chan c;
	uint64_t fwd = 0, rev = 0;

	net_up(&n, true, true, NULL);
	c = open_chan(&n);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		size_t rep = i % 2 ? 4 : reqs[i] / 3 + 1;

		round_trip(&c, reqs[i], rep, i % 3 == 0);
		fwd += reqs[i];
		rev += rep;
	}
	close(c.pvm);
	cr_expect(closed_within(c.svm, WAIT_MS), "the SVM's end stayed open");
	close(c.svm);
	net_stop(&n);
	for (int i = 0; i < 2; i++) {
		const struct relay *r = i ? &n.b : &n.a;

		cr_expect_eq(faults(r), 0, "relay %c", "AB"[i]);
		cr_expect_eq(r->st.sessions, 1);
		cr_expect_eq(r->st.sessions_ended, 1, "relay %c", "AB"[i]);
		cr_expect_eq(r->st.dir[RLY_FWD].raw_bytes, fwd);
		cr_expect_eq(r->st.dir[RLY_REV].raw_bytes, rev);
	}
	cr_expect_eq(n.a.st.dir[RLY_FWD].wire_bytes,
		     n.b.st.dir[RLY_FWD].wire_bytes);
	cr_expect_eq(n.a.st.dir[RLY_REV].wire_bytes,
		     n.b.st.dir[RLY_REV].wire_bytes);
	cr_expect_eq(n.a.st.ends_sent, 1);
	cr_expect_eq(n.b.st.ends_received, 1);
	net_free(&n);
}

/* Each round is one checkpoint on both relays, with exactly the request's
 * bytes; guest-like data compresses. */
Test(relay_pair, checkpoints_and_compression)
{
	static const size_t sizes[] = { 5 << 20, 200000, 70000, 1 << 20 };
	struct net n;
	struct chan c;

	net_up(&n, true, true, NULL);
	c = open_chan(&n);
	for (size_t i = 0; i < 4; i++) {
		round_trip(&c, 4, 4, false);	/* COLO's request, reply */
		round_trip(&c, sizes[i], 8, true);
	}
	close(c.pvm);
	cr_expect(closed_within(c.svm, WAIT_MS));
	close(c.svm);
	net_stop(&n);
	for (int i = 0; i < 2; i++) {
		const struct rly_stats *s = i ? &n.b.st : &n.a.st;

		cr_assert_eq(rly_stats_kept(s), 4, "relay %c", "AB"[i]);
		cr_expect_eq(s->small_exchanges, 4);
		for (size_t k = 0; k < 4; k++) {
			const struct rly_ckpt *ck = rly_stats_ckpt(s, k);

			cr_expect_eq(ck->raw_bytes, sizes[k], "relay %c #%zu",
				     "AB"[i], k);
			cr_expect_lt(ck->wire_bytes * 4, ck->raw_bytes);
			cr_expect_geq(ck->end_ns, ck->last_ns);
			cr_expect_geq(ck->last_ns, ck->start_ns);
		}
	}
	cr_expect_lt(n.a.st.dir[RLY_FWD].wire_bytes * 4,
		     n.a.st.dir[RLY_FWD].raw_bytes);
	cr_expect_gt(n.a.st.dir[RLY_FWD].codec_ns, 0);
	cr_expect_gt(n.b.st.dir[RLY_FWD].codec_ns, 0);
	net_free(&n);
}

/* A new QEMU connection after the old one ended is relayed afresh. */
Test(relay_pair, reconnects)
{
	struct net n;
	struct chan c;

	net_up(&n, true, true, NULL);
	for (int i = 0; i < 3; i++) {
		c = open_chan(&n);
		round_trip(&c, 100000, 4, true);
		round_trip(&c, 4, 100000, false);
		close(c.pvm);
		cr_expect(closed_within(c.svm, WAIT_MS), "session %d", i);
		close(c.svm);
	}
	net_stop(&n);
	cr_expect_eq(n.a.st.sessions, 3);
	cr_expect_eq(n.b.st.sessions, 3);
	cr_expect_eq(n.a.st.sessions_ended, 3);
	cr_expect_eq(faults(&n.a) + faults(&n.b), 0);
	net_free(&n);
}

/* The secondary's QEMU ends the channel: what it said first arrives. */
Test(relay_pair, secondary_closes_first)
{
	uint8_t last[5000], got[5000];
	struct net n;
	struct chan c;

	net_up(&n, true, true, NULL);
	c = open_chan(&n);
	round_trip(&c, 4096, 4, true);
	memset(last, 0x5a, sizeof(last));
	cr_assert(write_all(c.svm, last, sizeof(last), WAIT_MS));
	close(c.svm);
	cr_assert(read_exact(c.pvm, got, sizeof(got), WAIT_MS));
	cr_expect_arr_eq(got, last, sizeof(got));
	cr_expect(closed_within(c.pvm, WAIT_MS));
	close(c.pvm);
	net_stop(&n);
	cr_expect_eq(n.b.st.ends_sent, 1);
	cr_expect_eq(n.a.st.ends_received, 1);
	cr_expect_eq(n.a.st.sessions_ended + n.b.st.sessions_ended, 2);
	cr_expect_eq(faults(&n.a) + faults(&n.b), 0);
	net_free(&n);
}

/* A second QEMU connection while one is relayed: refused, the first
 * goes on. */
Test(relay_pair, one_channel_at_a_time)
{
	struct net n;
	struct chan c;
	int second;

	net_up(&n, true, true, NULL);
	c = open_chan(&n);
	second = connect_to(n.a.port);
	cr_expect(closed_within(second, WAIT_MS));
	close(second);
	round_trip(&c, 65536, 65536, false);
	close(c.pvm);
	cr_expect(closed_within(c.svm, WAIT_MS));
	close(c.svm);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_busy], 1);
	cr_expect_eq(n.a.st.sessions_ended, 1);
	net_free(&n);
}

/* A slow secondary: every buffer fills, nothing is lost, and the relays'
 * buffers stay within [relay] buffer plus one frame. */
static void slow_reader(bool compressible)
{
	size_t len = 24 << 20;
	uint8_t *w = make_data(len, compressible), *r = malloc(len);
	struct net n;
	struct chan c;
	uint64_t bound = (1 << 20) + RLY_HDR_LEN + RLY_WIRE_MAX + 1;

	cr_assert_not_null(r);
	net_up(&n, true, true, NULL);
	c = open_chan(&n);
	cr_assert(xfer(c.pvm, w, len, c.svm, r, len, true));
	cr_assert_arr_eq(r, w, len);
	close(c.pvm);
	cr_expect(closed_within(c.svm, WAIT_MS));
	close(c.svm);
	net_stop(&n);
	cr_expect_eq(faults(&n.a) + faults(&n.b), 0);
	cr_expect_leq(n.a.st.dir[RLY_FWD].buffered_max, bound);
	cr_expect_leq(n.b.st.dir[RLY_FWD].buffered_max, bound);
	net_free(&n);
	free(w);
	free(r);
}

Test(relay_pair, slow_reader_bounded_random)
{
	slow_reader(false);
}

Test(relay_pair, slow_reader_bounded_compressible)
{
	slow_reader(true);
}

/* Each relay compresses what it sends, or not: per direction. */
Test(relay_pair, compression_per_direction)
{
	struct opts o = { .a_extra = "[compression]\nenabled = no" };
	struct net n;
	struct chan c;

	net_up(&n, true, true, &o);
	c = open_chan(&n);
	round_trip(&c, 1 << 20, 1 << 20, true);
	round_trip(&c, 4, 300000, true);
	close(c.pvm);
	cr_expect(closed_within(c.svm, WAIT_MS));
	close(c.svm);
	net_stop(&n);
	cr_expect_geq(n.a.st.dir[RLY_FWD].wire_bytes,
		      n.a.st.dir[RLY_FWD].raw_bytes);
	cr_expect_eq(faults(&n.a) + faults(&n.b), 0);
	net_free(&n);
}

/* ---- the pair: what cannot be reached ------------------------------------------------ */

Test(relay_pair, secondary_qemu_unreachable)
{
	struct opts o = { .qemu_down = true };
	struct net n;
	int pvm;

	net_up(&n, true, true, &o);
	pvm = connect_to(n.a.port);
	cr_expect(closed_within(pvm, WAIT_MS));
	close(pvm);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_connect_failed], 1);
	cr_expect_eq(n.a.st.faults[RLY_F_refused], 1);
	cr_expect_eq(n.a.st.sessions, 0);
	cr_expect(strstr(n.a.last_fault, "cannot reach the secondary QEMU"),
		  "%s", n.a.last_fault);
	net_free(&n);
}

Test(relay_pair, peer_relay_unreachable)
{
	struct opts o = { .peer_down = true };
	struct net n;
	int pvm;

	net_up(&n, true, false, &o);
	pvm = connect_to(n.a.port);
	cr_expect(closed_within(pvm, WAIT_MS));
	close(pvm);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_connect_failed], 1);
	net_free(&n);
}

/* ---- the test as the primary relay, against relay B -------------------------------- */

static void put_hello(int fd, uint8_t version, uint32_t pair, uint8_t role)
{
	struct rly_hello h = { .role = role, .flags = RLY_HF_ZSTD,
			       .session = 0x1234, .pair = pair };
	uint8_t b[RLY_HELLO_LEN];

	rly_put_hello(b, &h);
	b[4] = version;
	put32(b + 28, rly_crc32c(0, b, 28));
	cr_assert(write_all(fd, b, sizeof(b), WAIT_MS));
}

static struct rly_hello get_hello(int fd)
{
	uint8_t b[RLY_HELLO_LEN];
	struct rly_hello h;

	cr_assert(read_exact(fd, b, sizeof(b), WAIT_MS), "no HELLO");
	cr_assert_eq(rly_get_hello(b, sizeof(b), &h), RLY_OK);
	return h;
}

/* The test's relay A, through the handshake: its socket and the SVM's. */
static struct chan fake_a_up(struct net *n, struct rly_enc *enc)
{
	struct chan c;
	struct rly_hello h;

	c.pvm = connect_to(n->b.port);
	put_hello(c.pvm, RLY_VERSION, rly_pair_id("test"), RLY_ROLE_PRIMARY);
	c.svm = accept_within(n->qemu_lfd, WAIT_MS);
	cr_assert_geq(c.svm, 0);
	h = get_hello(c.pvm);
	cr_expect_eq(h.status, RLY_ST_READY);
	cr_expect_eq(h.role, RLY_ROLE_SECONDARY);
	cr_expect_eq(h.session, 0x1234);
	cr_assert_eq(rly_enc_init(enc, true, 1), 0);
	return c;
}

static void send_data(int fd, struct rly_enc *enc, const void *p, size_t n)
{
	struct buf w = BUF_INIT;

	cr_assert_gt(rly_enc_data(enc, p, n, &w), 0);
	cr_assert(write_all(fd, buf_data(&w), buf_len(&w), WAIT_MS));
	buf_free(&w);
}

/* The SVM gets a frame's bytes: the session is up and relaying. */
static void svm_gets(struct chan *c, struct rly_enc *enc)
{
	static const char msg[] = "COLO";
	char got[sizeof(msg)];

	send_data(c->pvm, enc, msg, sizeof(msg));
	cr_assert(read_exact(c->svm, got, sizeof(got), WAIT_MS));
	cr_assert_arr_eq(got, msg, sizeof(msg));
}

static void both_closed(struct chan *c)
{
	cr_expect(closed_within(c->pvm, WAIT_MS), "the peer side stayed open");
	cr_expect(closed_within(c->svm, WAIT_MS), "QEMU's side stayed open");
	close(c->pvm);
	close(c->svm);
}

Test(relay_fake_primary, garbage_before_hello)
{
	static const char http[] = "GET / HTTP/1.0\r\n\r\n";
	struct net n;
	int fd;

	net_up(&n, false, true, NULL);
	fd = connect_to(n.b.port);
	cr_assert(write_all(fd, http, sizeof(http) - 1, WAIT_MS));
	cr_expect(closed_within(fd, WAIT_MS));
	close(fd);
	cr_expect_lt(accept_within(n.qemu_lfd, 0), 0,
		     "garbage reached the secondary QEMU");
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_garbage], 1);
	cr_expect_eq(n.b.st.sessions, 0);
	net_free(&n);
}

/* Another version is answered in our version, with the reason. */
Test(relay_fake_primary, wrong_version_answered)
{
	struct net n;
	struct rly_hello h;
	int fd;

	net_up(&n, false, true, NULL);
	fd = connect_to(n.b.port);
	put_hello(fd, 2, rly_pair_id("test"), RLY_ROLE_PRIMARY);
	h = get_hello(fd);
	cr_expect_eq(h.version, RLY_VERSION);
	cr_expect_eq(h.status, RLY_ST_VERSION);
	cr_expect(closed_within(fd, WAIT_MS));
	close(fd);
	cr_expect_lt(accept_within(n.qemu_lfd, 0), 0);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_version], 1);
	net_free(&n);
}

Test(relay_fake_primary, other_pair_and_role_refused)
{
	struct net n;
	int fd;

	net_up(&n, false, true, NULL);
	fd = connect_to(n.b.port);
	put_hello(fd, RLY_VERSION, rly_pair_id("other"), RLY_ROLE_PRIMARY);
	cr_expect_eq(get_hello(fd).status, RLY_ST_PAIR);
	cr_expect(closed_within(fd, WAIT_MS));
	close(fd);
	fd = connect_to(n.b.port);
	put_hello(fd, RLY_VERSION, rly_pair_id("test"), RLY_ROLE_SECONDARY);
	cr_expect_eq(get_hello(fd).status, RLY_ST_ROLE);
	cr_expect(closed_within(fd, WAIT_MS));
	close(fd);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_pair], 1);
	cr_expect_eq(n.b.st.faults[RLY_F_role], 1);
	net_free(&n);
}

Test(relay_fake_primary, garbage_after_handshake_closes_both)
{
	struct net n;
	struct rly_enc enc;
	struct chan c;

	net_up(&n, false, true, NULL);
	c = fake_a_up(&n, &enc);
	svm_gets(&c, &enc);
	cr_assert(write_all(c.pvm, "\x00\x01garbage", 9, WAIT_MS));
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_garbage], 1);
	cr_expect_eq(n.b.st.sessions_failed, 1);
	rly_enc_free(&enc);
	net_free(&n);
}

/* The peer stops in the middle of a frame: what came whole arrived, then
 * both sides close. */
Test(relay_fake_primary, truncated_stream)
{
	uint8_t page[4096];
	struct buf w = BUF_INIT;
	struct net n;
	struct rly_enc enc;
	struct chan c;

	memset(page, 7, sizeof(page));
	net_up(&n, false, true, NULL);
	c = fake_a_up(&n, &enc);
	svm_gets(&c, &enc);
	cr_assert_gt(rly_enc_data(&enc, page, sizeof(page), &w), 0);
	cr_assert(write_all(c.pvm, buf_data(&w), buf_len(&w) - 3, WAIT_MS));
	shutdown(c.pvm, SHUT_WR);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_truncated], 1);
	buf_free(&w);
	rly_enc_free(&enc);
	net_free(&n);
}

Test(relay_fake_primary, closed_without_end)
{
	struct net n;
	struct rly_enc enc;
	struct chan c;

	net_up(&n, false, true, NULL);
	c = fake_a_up(&n, &enc);
	svm_gets(&c, &enc);
	shutdown(c.pvm, SHUT_WR);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_peer_closed], 1);
	rly_enc_free(&enc);
	net_free(&n);
}

/* A header and zstd payload that are fine, but the bytes are not the
 * sender's (data crc): nothing of it reaches QEMU. */
Test(relay_fake_primary, corrupt_payload)
{
	uint8_t page[4096];
	struct buf w = BUF_INIT;
	struct net n;
	struct rly_enc enc;
	struct chan c;
	uint8_t *f;

	memset(page, 9, sizeof(page));
	net_up(&n, false, true, NULL);
	c = fake_a_up(&n, &enc);
	svm_gets(&c, &enc);
	cr_assert_gt(rly_enc_data(&enc, page, sizeof(page), &w), 0);
	f = (uint8_t *)buf_data(&w);
	put32(f + 12, get32(f + 12) + 1);
	put32(f + 16, rly_crc32c(0, f, 16));
	cr_assert(write_all(c.pvm, buf_data(&w), buf_len(&w), WAIT_MS));
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_corrupt], 1);
	cr_expect_eq(n.b.st.dir[RLY_FWD].raw_bytes, 5);
	buf_free(&w);
	rly_enc_free(&enc);
	net_free(&n);
}

/* A new primary relay's valid HELLO replaces the live connection (its
 * peer is gone from the primary's point of view). */
Test(relay_fake_primary, new_session_replaces_old)
{
	struct net n;
	struct rly_enc e1, e2;
	struct chan c1, c2;

	net_up(&n, false, true, NULL);
	c1 = fake_a_up(&n, &e1);
	svm_gets(&c1, &e1);
	c2 = fake_a_up(&n, &e2);
	both_closed(&c1);
	svm_gets(&c2, &e2);
	close(c2.pvm);
	close(c2.svm);
	net_stop(&n);
	cr_expect_eq(n.b.st.replaced, 1);
	cr_expect_eq(n.b.st.sessions, 2);
	rly_enc_free(&e1);
	rly_enc_free(&e2);
	net_free(&n);
}

/* A connection that says nothing: closed after the timeout, and a live
 * channel beside it is not disturbed. */
Test(relay_fake_primary, silent_connection_times_out)
{
	struct opts o = { .fast_timeouts = true };
	struct net n;
	int fd;

	net_up(&n, false, true, &o);
	fd = connect_to(n.b.port);
	cr_expect(closed_within(fd, WAIT_MS));
	close(fd);
	net_stop(&n);
	cr_expect_eq(n.b.st.faults[RLY_F_handshake_timeout], 1);
	net_free(&n);
}

/* ---- the test as the secondary relay, against relay A ------------------------------ */

/* The fake primary QEMU connects to A, A to the test: A's HELLO read. */
static struct chan fake_b_accepts(struct net *n, struct rly_hello *h)
{
	struct chan c;

	c.pvm = connect_to(n->a.port);
	c.svm = accept_within(n->peer_lfd, WAIT_MS);	/* "svm": A's peer */
	cr_assert_geq(c.svm, 0, "relay A never connected");
	*h = get_hello(c.svm);
	cr_expect_eq(h->role, RLY_ROLE_PRIMARY);
	cr_expect_neq(h->session, 0);
	cr_expect_eq(h->pair, rly_pair_id("test"));
	cr_expect_eq(h->status, RLY_ST_READY);
	return c;
}

static void answer(int fd, const struct rly_hello *theirs, uint8_t version,
		   uint8_t status)
{
	struct rly_hello h = { .role = RLY_ROLE_SECONDARY, .status = status,
			       .session = theirs->session,
			       .pair = rly_pair_id("test") };
	uint8_t b[RLY_HELLO_LEN];

	rly_put_hello(b, &h);
	b[4] = version;
	put32(b + 28, rly_crc32c(0, b, 28));
	cr_assert(write_all(fd, b, sizeof(b), WAIT_MS));
}

Test(relay_fake_secondary, garbage_answer)
{
	struct net n;
	struct rly_hello h;
	struct chan c;

	net_up(&n, true, false, NULL);
	c = fake_b_accepts(&n, &h);
	cr_assert(write_all(c.svm, "SSH-2.0-OpenSSH\r\n", 17, WAIT_MS));
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_garbage], 1);
	net_free(&n);
}

Test(relay_fake_secondary, wrong_version)
{
	struct net n;
	struct rly_hello h;
	struct chan c;

	net_up(&n, true, false, NULL);
	c = fake_b_accepts(&n, &h);
	answer(c.svm, &h, 3, RLY_ST_READY);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_version], 1);
	cr_expect(strstr(n.a.last_fault, "version 3"), "%s", n.a.last_fault);
	net_free(&n);
}

Test(relay_fake_secondary, refusal)
{
	struct net n;
	struct rly_hello h;
	struct chan c;

	net_up(&n, true, false, NULL);
	c = fake_b_accepts(&n, &h);
	answer(c.svm, &h, RLY_VERSION, RLY_ST_BUSY);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_refused], 1);
	net_free(&n);
}

/* A peer that never answers, or goes silent once up, cannot hang the
 * primary: both sides closed after the timeouts. */
Test(relay_fake_secondary, no_answer)
{
	struct opts o = { .fast_timeouts = true };
	struct net n;
	struct rly_hello h;
	struct chan c;

	net_up(&n, true, false, &o);
	c = fake_b_accepts(&n, &h);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_handshake_timeout], 1);
	net_free(&n);
}

Test(relay_fake_secondary, silent_after_handshake)
{
	struct opts o = { .fast_timeouts = true };
	struct net n;
	struct rly_hello h;
	struct chan c;
	uint8_t b[RLY_HDR_LEN];
	struct rly_hdr hdr;

	net_up(&n, true, false, &o);
	c = fake_b_accepts(&n, &h);
	answer(c.svm, &h, RLY_VERSION, RLY_ST_READY);
	/* while idle, A sends keepalives */
	cr_assert(read_exact(c.svm, b, sizeof(b), WAIT_MS));
	cr_assert_eq(rly_get_hdr(b, sizeof(b), true, &hdr), RLY_OK);
	cr_expect_eq(hdr.type, RLY_PING);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_idle_timeout], 1);
	cr_expect_geq(n.a.st.pings_sent, 1);
	net_free(&n);
}

/* The primary QEMU pushes a checkpoint into a secondary relay that is
 * stuck (reads nothing, says nothing): the channel still dies, so the
 * primary's writes fail instead of blocking for ever. */
Test(relay_fake_secondary, stuck_peer_does_not_hang_the_primary)
{
	struct opts o = { .fast_timeouts = true };
	uint8_t *page = make_data(65536, false);	/* incompressible */
	int64_t end = now_ms() + WAIT_MS;
	struct net n;
	struct rly_hello h;
	struct chan c;
	bool failed = false;

	net_up(&n, true, false, &o);
	c = fake_b_accepts(&n, &h);
	answer(c.svm, &h, RLY_VERSION, RLY_ST_READY);
	while (!failed && now_ms() < end) {
		if (!wait_for(c.pvm, POLLOUT, 50))
			continue;
		failed = send(c.pvm, page, 65536, MSG_NOSIGNAL) < 0 &&
			 errno != EAGAIN;
	}
	cr_expect(failed, "the primary's writes never failed");
	cr_expect(closed_within(c.svm, WAIT_MS));
	close(c.pvm);
	close(c.svm);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_idle_timeout], 1);
	cr_expect_gt(n.a.st.dir[RLY_FWD].raw_bytes, 0);
	net_free(&n);
	free(page);
}

Test(relay_fake_secondary, truncated_reply)
{
	struct net n;
	struct rly_hello h;
	struct rly_enc enc;
	struct buf w = BUF_INIT;
	struct chan c;

	net_up(&n, true, false, NULL);
	c = fake_b_accepts(&n, &h);
	answer(c.svm, &h, RLY_VERSION, RLY_ST_READY);
	cr_assert_eq(rly_enc_init(&enc, false, 0), 0);
	cr_assert_gt(rly_enc_data(&enc, (const uint8_t *)"reply", 5, &w), 0);
	cr_assert(write_all(c.svm, buf_data(&w), RLY_HDR_LEN + 2, WAIT_MS));
	shutdown(c.svm, SHUT_WR);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_truncated], 1);
	buf_free(&w);
	rly_enc_free(&enc);
	net_free(&n);
}

/* A relay that connects where QEMU should (a misconfigured connect) is
 * told apart from QEMU by its HELLO. */
Test(relay_fake_secondary, relay_at_qemus_address)
{
	struct net n;
	struct rly_hello h;
	struct chan c;

	net_up(&n, true, false, NULL);
	c = fake_b_accepts(&n, &h);
	answer(c.svm, &h, RLY_VERSION, RLY_ST_READY);
	put_hello(c.pvm, RLY_VERSION, rly_pair_id("test"), RLY_ROLE_SECONDARY);
	both_closed(&c);
	net_stop(&n);
	cr_expect_eq(n.a.st.faults[RLY_F_role], 1);
	net_free(&n);
}
