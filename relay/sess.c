/*
 * sess: one relayed connection's sockets (see relay.h for the states,
 * sess.h for the conventions): reading QEMU into frames, decoding the
 * peer's frames, writing, keepalives, deadlines, and the end.  The events
 * each socket is watched for are recomputed by watch() at the end of every
 * entry point (relay_sess_io, relay_sess_tick), from the state alone.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "relay/sess.h"

#define PEER_READ (256 * 1024)	/* one read from the peer relay */

/* The direction of what QEMU writes here, and of what the peer sends. */
static enum rly_dir dir_from_local(const struct relay *r)
{
	return relay_is_primary(r) ? RLY_FWD : RLY_REV;
}

static enum rly_dir dir_from_peer(const struct relay *r)
{
	return relay_is_primary(r) ? RLY_REV : RLY_FWD;
}

/* ---- set-up and teardown ---------------------------------------------------- */

static void end_init(struct relay_end *e)
{
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	buf_init(&e->out);
}

void relay_end_close(struct relay *r, struct relay_end *e)
{
	if (e->fd >= 0) {
		loop_del_fd(r->loop, e->fd);
		close(e->fd);
	}
	e->fd = -1;
	e->events = 0;
	e->connecting = false;
	buf_free(&e->out);
}

static uint64_t new_session_id(void)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = loop_now_ns() ^ (uint64_t)getpid() << 40;
	return id ? id : 1;
}

struct relay_sess *relay_sess_new(struct relay *r)
{
	struct relay_sess *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	end_init(&s->local);
	end_init(&s->peer);
	rly_dec_init(&s->dec);
	if (rly_enc_init(&s->enc, r->cf.compress, r->cf.level) < 0) {
		rly_dec_free(&s->dec);
		free(s);
		return NULL;
	}
	s->since_ms = loop_now_ms();
	s->last_rx_ms = s->last_tx_ms = s->since_ms;
	if (relay_is_primary(r))
		s->id = new_session_id();
	return s;
}

void relay_sess_free(struct relay_sess *s, bool clean)
{
	struct relay *r = s->r;

	if (clean) {
		r->st.sessions_ended++;
		log_info("session %016llx ended cleanly",
			 (unsigned long long)s->id);
	}
	rly_stats_conn_end(&r->st);
	relay_end_close(r, &s->local);
	relay_end_close(r, &s->peer);
	rly_enc_free(&s->enc);
	rly_dec_free(&s->dec);
	if (r->pending == s)
		r->pending = NULL;
	if (r->cur == s) {
		r->cur = r->pending;	/* a handshake waiting beside it */
		r->pending = NULL;
	}
	free(s);
}

static void vnote_fault(struct relay_sess *s, enum rly_fault f,
			const char *fmt, va_list ap)
{
	struct relay *r = s->r;
	char msg[160];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	r->st.faults[f]++;
	r->st.sessions_failed++;
	snprintf(r->last_fault, sizeof(r->last_fault), "%s: %s",
		 rly_fault_name(f), msg);
	log_warnx("session %016llx: %s [%s]; closing both sides",
		  (unsigned long long)s->id, msg, rly_fault_name(f));
}

void relay_note_fault(struct relay_sess *s, enum rly_fault f,
		      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote_fault(s, f, fmt, ap);
	va_end(ap);
}

void relay_fault(struct relay_sess *s, enum rly_fault f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote_fault(s, f, fmt, ap);
	va_end(ap);
	relay_sess_free(s, false);
}

/* TCP_NODELAY (4-byte COLO messages must not wait), keepalive probes and
 * a user timeout from [timeouts], so that a dead host is noticed even
 * while nothing is sent (keepalive) or while unacknowledged data waits
 * (TCP_USER_TIMEOUT, RFC 5482). */
static void tune_socket(const struct relay *r, int fd)
{
	int one = 1, idle = (int)(r->cf.keepalive_ms / 1000);
	int cnt = (int)(r->cf.timeout_ms / (r->cf.keepalive_ms ?
					     r->cf.keepalive_ms : 1));
	unsigned tmo = (unsigned)r->cf.timeout_ms;

	idle = idle < 1 ? 1 : idle;
	cnt = cnt < 1 ? 1 : cnt > 127 ? 127 : cnt;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
}

static void on_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct relay_sess *s = arg;

	(void)loop;
	relay_sess_io(s, fd == s->local.fd ? &s->local : &s->peer, events);
}

bool relay_sess_adopt(struct relay_sess *s, struct relay_end *e, int fd,
		      bool connecting)
{
	unsigned ev = connecting ? LOOP_WRITE : 0;

	tune_socket(s->r, fd);
	if (loop_add_fd(s->r->loop, fd, ev, on_io, on_io, s) < 0) {
		close(fd);
		return false;
	}
	e->fd = fd;
	e->events = ev;
	e->connecting = connecting;
	return true;
}

/* ---- output ----------------------------------------------------------------- */

static bool io_fault(struct relay_sess *s, struct relay_end *e,
		     const char *what, int err)
{
	bool peer = e == &s->peer;

	if (s->refusal) {	/* counted already; the peer left first */
		relay_sess_free(s, false);
		return false;
	}
	relay_fault(s, peer ? RLY_F_peer_reset : RLY_F_local_reset,
		    "%s %s %s: %s", what, peer ? "the peer relay" : "QEMU",
		    e->addr, strerror(err));
	return false;
}

/* Write what E's buffer holds until the socket is full. */
bool relay_sess_flush(struct relay_sess *s, struct relay_end *e)
{
	ssize_t n;

	while (e->fd >= 0 && !e->connecting && buf_len(&e->out)) {
		n = send(e->fd, buf_data(&e->out), buf_len(&e->out),
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return io_fault(s, e, "write to", errno);
		buf_consume(&e->out, (size_t)n);
		if (e == &s->peer)
			s->last_tx_ms = loop_now_ms();
	}
	return true;
}

static void note_buffered(struct relay_sess *s, struct relay_end *e)
{
	struct rly_dir_stats *d = &s->r->st.dir[e == &s->peer ?
		dir_from_local(s->r) : dir_from_peer(s->r)];

	if (buf_len(&e->out) > d->buffered_max)
		d->buffered_max = buf_len(&e->out);
}

/* ---- the end ------------------------------------------------------------------ */

/* Enter DRAIN: the bytes before the end go on, then both sockets close.
 * SENT_END: our QEMU closed (we send END and wait for the peer's EOF);
 * else the peer sent END (its socket closes now, QEMU's once flushed). */
void relay_sess_drain(struct relay_sess *s, bool sent_end)
{
	s->state = RS_DRAIN;
	s->sent_end = sent_end;
	s->deadline_ms = loop_now_ms() + s->r->cf.timeout_ms;
	rly_stats_conn_end(&s->r->st);
	relay_end_close(s->r, sent_end ? &s->local : &s->peer);
}

static bool local_eof(struct relay_sess *s)
{
	struct relay *r = s->r;

	log_info("session %016llx: QEMU %s closed the channel; passing the "
		 "end on", (unsigned long long)s->id, s->local.addr);
	if (rly_put_ctl(&s->peer.out, RLY_END) < 0) {
		relay_fault(s, RLY_F_nomem, "out of memory for END");
		return false;
	}
	r->st.ends_sent++;
	relay_sess_drain(s, true);
	return relay_sess_flush(s, &s->peer);
}

/* ---- decoding the peer's frames ------------------------------------------------- */

static bool on_event(struct relay_sess *s, const struct rly_event *ev,
		     uint64_t t0)
{
	struct relay *r = s->r;
	uint64_t t1;

	if (ev->type == RLY_EV_HELLO)
		return relay_sess_hello(s);
	if (s->state != RS_UP) {
		relay_fault(s, RLY_F_header, "a %s frame from %s before the "
			    "handshake ended", ev->type == RLY_EV_DATA ?
			    "data" : ev->type == RLY_EV_PING ? "ping" : "end",
			    s->peer.addr);
		return false;
	}
	switch (ev->type) {
	case RLY_EV_DATA:
		t1 = loop_now_ns();
		rly_stats_chunk(&r->st, dir_from_peer(r), ev->raw_len,
				ev->wire_len, t1 - t0, t1);
		note_buffered(s, &s->local);
		break;
	case RLY_EV_PING:
		r->st.pings_received++;
		break;
	default:
		r->st.ends_received++;
		log_info("session %016llx: the peer relay passed the end on",
			 (unsigned long long)s->id);
		relay_sess_drain(s, false);
		break;
	}
	return true;
}

/* Decode buffered frames while QEMU's output has room; flush it as it
 * fills, and pause (dec_full) when it stays full. */
bool relay_sess_decode(struct relay_sess *s)
{
	struct rly_event ev;
	uint64_t t0;
	int r;

	for (;;) {
		if (s->state == RS_UP &&
		    buf_len(&s->local.out) >= s->r->cf.buffer) {
			if (!relay_sess_flush(s, &s->local))
				return false;
			if (buf_len(&s->local.out) >= s->r->cf.buffer) {
				s->dec_full = true;
				return true;
			}
		}
		s->dec_full = false;
		if (s->state == RS_DRAIN || s->state == RS_CONNECT)
			break;
		t0 = loop_now_ns();
		r = rly_dec_next(&s->dec, &s->local.out, &ev);
		if (r < 0)
			return relay_sess_proto_fault(s);
		if (r == 0)
			break;
		if (!on_event(s, &ev, t0))
			return false;
	}
	return relay_sess_flush(s, &s->local);
}

/* ---- reading --------------------------------------------------------------------- */

/* DRAIN: read and drop, so that nothing is left unread when the socket
 * closes (a close with unread bytes resets the connection, which may
 * discard what we sent before it). */
static void discard(struct relay_sess *s, struct relay_end *e)
{
	ssize_t n = recv(e->fd, s->r->rxbuf, s->r->cf.chunk, MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		e->eof = true;
}

static bool peer_eof(struct relay_sess *s)
{
	size_t left = rly_dec_buffered(&s->dec);

	if (left)
		relay_fault(s, RLY_F_truncated, "the peer relay %s closed in "
			    "the middle of a %s (%zu bytes of it received)",
			    s->peer.addr, s->dec.hello_seen ? "frame" : "HELLO",
			    left);
	else
		relay_fault(s, RLY_F_peer_closed, "the peer relay %s closed "
			    "the connection %s", s->peer.addr,
			    s->dec.hello_seen ? "without END" :
			    "before its HELLO");
	return false;
}

static bool read_peer(struct relay_sess *s)
{
	uint8_t *p = rly_dec_reserve(&s->dec, PEER_READ);
	ssize_t n;

	if (!p) {
		relay_fault(s, RLY_F_nomem, "out of memory reading from %s",
			    s->peer.addr);
		return false;
	}
	n = recv(s->peer.fd, p, PEER_READ, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n < 0)
		return io_fault(s, &s->peer, "read from", errno);
	if (n == 0)
		return peer_eof(s);
	rly_dec_commit(&s->dec, (size_t)n);
	s->last_rx_ms = loop_now_ms();
	if (s->state == RS_CONNECT) {
		/* the primary relay waits for our HELLO: it has nothing
		 * to say (and our buffer must not grow meanwhile) */
		relay_fault(s, RLY_F_header, "%zd bytes from %s before our "
			    "HELLO", n, s->peer.addr);
		return false;
	}
	return relay_sess_decode(s);
}

/* Primary: a colo-relay that connects where QEMU should (a secondary
 * relay whose connect names this listen address) says so at once. */
static bool not_a_relay(struct relay_sess *s, const uint8_t *p, size_t n)
{
	s->first_read = false;
	if (n < 4 || memcmp(p, RLY_MAGIC, 4))
		return true;
	relay_fault(s, RLY_F_role, "%s sent a colo-relay HELLO to the "
		    "address meant for QEMU's migration: does a relay's "
		    "connect name this listen address?", s->local.addr);
	return false;
}

static bool read_local(struct relay_sess *s)
{
	struct relay *r = s->r;
	ssize_t n, w;
	uint64_t t0, t1;

	n = recv(s->local.fd, r->rxbuf, r->cf.chunk, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n < 0)
		return io_fault(s, &s->local, "read from", errno);
	if (n == 0)
		return local_eof(s);
	if (s->first_read && !not_a_relay(s, r->rxbuf, (size_t)n))
		return false;
	t0 = loop_now_ns();
	w = rly_enc_data(&s->enc, r->rxbuf, (size_t)n, &s->peer.out);
	t1 = loop_now_ns();
	if (w < 0) {
		relay_fault(s, RLY_F_nomem, "compressing %zd bytes: %s", n,
			    strerror((int)-w));
		return false;
	}
	rly_stats_chunk(&r->st, dir_from_local(r), (uint64_t)n, (uint64_t)w,
			t1 - t0, t1);
	note_buffered(s, &s->peer);
	s->last_tx_ms = loop_now_ms();
	return relay_sess_flush(s, &s->peer);
}

/* ---- events, timers --------------------------------------------------------------- */

static unsigned want(const struct relay_sess *s, const struct relay_end *e)
{
	const struct relay_end *other = e == &s->local ? &s->peer : &s->local;
	uint64_t limit = s->r->cf.buffer;
	unsigned ev = buf_len(&e->out) ? LOOP_WRITE : 0;
	bool rd;

	if (e->connecting)
		return LOOP_WRITE;
	if (s->state == RS_DRAIN)
		rd = !e->eof;
	else if (e == &s->local)
		rd = s->state == RS_UP && buf_len(&other->out) < limit;
	else
		rd = !s->dec_full;
	return ev | (rd ? LOOP_READ : 0);
}

static void watch(struct relay_sess *s)
{
	struct relay_end *ends[2] = { &s->local, &s->peer };

	for (int i = 0; i < 2; i++) {
		unsigned ev;

		if (ends[i]->fd < 0)
			continue;
		ev = want(s, ends[i]);
		if (ev != ends[i]->events &&
		    loop_mod_fd(s->r->loop, ends[i]->fd, ev) == 0)
			ends[i]->events = ev;
	}
}

/* DRAIN: shut each socket's sending side once its output is out; the
 * connection is over when every socket is closed or has sent its EOF. */
static bool drain_step(struct relay_sess *s)
{
	struct relay_end *ends[2] = { &s->local, &s->peer };
	bool done = true;

	for (int i = 0; i < 2; i++) {
		struct relay_end *e = ends[i];

		if (e->fd < 0)
			continue;
		if (!buf_len(&e->out) && !e->wr_shut) {
			shutdown(e->fd, SHUT_WR);
			e->wr_shut = true;
		}
		if (!e->wr_shut || !e->eof)
			done = false;
	}
	if (done)
		relay_sess_free(s, !s->refusal);
	return !done;
}

bool relay_sess_io(struct relay_sess *s, struct relay_end *e,
		   unsigned events)
{
	bool alive = true;

	if (e->connecting)
		alive = relay_sess_finish_connect(s, e);
	else if (s->state == RS_DRAIN && (events & LOOP_READ))
		discard(s, e);
	else if ((events & LOOP_READ) && e == &s->peer)
		alive = read_peer(s);
	else if ((events & LOOP_READ) && s->state == RS_UP)
		alive = read_local(s);
	if (alive && e->fd >= 0 && !e->connecting && (events & LOOP_WRITE))
		alive = relay_sess_flush(s, e);
	/* room again toward QEMU: decode what waits */
	if (alive && s->dec_full && buf_len(&s->local.out) < s->r->cf.buffer)
		alive = relay_sess_decode(s);
	if (alive && s->state == RS_DRAIN)
		alive = drain_step(s);
	if (alive)
		watch(s);
	return alive;
}

static bool deadline_passed(struct relay_sess *s)
{
	const struct relay *r = s->r;
	bool delivered = s->refusal || buf_len(&s->local.out) +
			 buf_len(&s->peer.out) == 0;

	switch (s->state) {
	case RS_CONNECT:
		return relay_sess_connect_error(s, relay_is_primary(r) ?
						&s->peer : &s->local,
						RLY_F_connect_timeout, ETIMEDOUT);
	case RS_HELLO:
		relay_fault(s, RLY_F_handshake_timeout, "no HELLO from %s "
			    "within %llu ms", s->peer.addr,
			    (unsigned long long)r->cf.timeout_ms);
		return false;
	default:
		if (delivered) {	/* only the other side's EOF awaited */
			relay_sess_free(s, !s->refusal);
			return false;
		}
		relay_fault(s, RLY_F_drain_timeout, "the end of the "
			    "connection could not be delivered within %llu ms",
			    (unsigned long long)r->cf.timeout_ms);
		return false;
	}
}

static bool keepalive(struct relay_sess *s, uint64_t now)
{
	const struct relay *r = s->r;

	if (s->dec_full)
		s->last_rx_ms = now;	/* we are not listening: not silent */
	if (now - s->last_rx_ms >= r->cf.timeout_ms) {
		relay_fault(s, RLY_F_idle_timeout, "nothing from the peer "
			    "relay %s for %llu ms", s->peer.addr,
			    (unsigned long long)(now - s->last_rx_ms));
		return false;
	}
	if (now - s->last_tx_ms < r->cf.keepalive_ms || buf_len(&s->peer.out))
		return true;
	if (rly_put_ctl(&s->peer.out, RLY_PING) < 0)
		return true;
	s->r->st.pings_sent++;
	s->last_tx_ms = now;
	return relay_sess_flush(s, &s->peer);
}

bool relay_sess_tick(struct relay_sess *s, uint64_t now)
{
	bool alive;

	if (s->deadline_ms && now >= s->deadline_ms)
		alive = deadline_passed(s);
	else
		alive = s->state != RS_UP || keepalive(s, now);
	if (alive)
		watch(s);
	return alive;
}
