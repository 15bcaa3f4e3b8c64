/*
 * hello: connecting a relayed connection and its handshake (see proto.h
 * for the HELLO, relay.h for the states).
 *
 *   primary:   connect the peer relay -> our HELLO -> its answer: ready
 *              (UP), or a refusal, a wrong role, pair or session (fault)
 *   secondary: the primary's HELLO -> checks -> connect the SVM's QEMU
 *              -> our HELLO, ready (UP); or a HELLO that says why not
 *              (refusal: counted, sent, then the connection closes)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "relay/sess.h"

static bool queue_hello(struct relay_sess *s, uint8_t status)
{
	struct rly_hello h = {
		.role = relay_is_primary(s->r) ? RLY_ROLE_PRIMARY :
			RLY_ROLE_SECONDARY,
		.flags = s->r->cf.compress ? RLY_HF_ZSTD : 0,
		.status = status, .session = s->id ? s->id : 1,
		.pair = s->r->pair,
	};

	if (rly_put_hello_buf(&s->peer.out, &h) < 0) {
		relay_fault(s, RLY_F_nomem, "out of memory for the HELLO");
		return false;
	}
	s->last_tx_ms = loop_now_ms();
	return relay_sess_flush(s, &s->peer);
}

void relay_sess_up(struct relay_sess *s)
{
	struct relay *r = s->r;

	s->state = RS_UP;
	s->deadline_ms = 0;
	s->last_rx_ms = s->last_tx_ms = loop_now_ms();
	r->st.sessions++;
	log_info("session %016llx up: QEMU %s, peer relay %s; we send %s, "
		 "the peer sends %s", (unsigned long long)s->id, s->local.addr,
		 s->peer.addr, r->cf.compress ? "zstd" : "raw",
		 s->dec.hello.flags & RLY_HF_ZSTD ? "zstd" : "raw");
}

/* Secondary: answer the primary relay with a refusal (fault F counted and
 * logged), then close once it is sent. */
static bool refuse(struct relay_sess *s, uint8_t status, enum rly_fault f,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool refuse(struct relay_sess *s, uint8_t status, enum rly_fault f,
		   const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	relay_note_fault(s, f, "%s", msg);
	s->refusal = status;
	relay_sess_drain(s, true);
	buf_reset(&s->peer.out);
	rly_dec_free(&s->dec);
	rly_dec_init(&s->dec);
	return queue_hello(s, status);
}

/* ---- the peer's HELLO ------------------------------------------------------------- */

static bool primary_hello(struct relay_sess *s, const struct rly_hello *h)
{
	struct relay *r = s->r;

	if (h->role != RLY_ROLE_SECONDARY) {
		relay_fault(s, RLY_F_role, "the peer relay %s is a primary "
			    "too", s->peer.addr);
		return false;
	}
	if (h->status != RLY_ST_READY) {
		relay_fault(s, RLY_F_refused, "the peer relay %s refused: "
			    "it %s", s->peer.addr, rly_status_name(h->status));
		return false;
	}
	if (h->pair != r->pair) {
		relay_fault(s, RLY_F_pair, "the peer relay %s belongs to "
			    "another pair (not \"%s\")", s->peer.addr,
			    r->cf.name);
		return false;
	}
	if (h->session != s->id) {
		relay_fault(s, RLY_F_header, "the peer relay %s answered for "
			    "session %016llx", s->peer.addr,
			    (unsigned long long)h->session);
		return false;
	}
	relay_sess_up(s);
	return true;
}

static bool secondary_hello(struct relay_sess *s, const struct rly_hello *h)
{
	struct relay *r = s->r;

	if (h->role != RLY_ROLE_PRIMARY || h->status != RLY_ST_READY)
		return refuse(s, RLY_ST_ROLE, RLY_F_role, "the peer relay %s "
			      "is not a primary", s->peer.addr);
	s->id = h->session;
	if (h->pair != r->pair)
		return refuse(s, RLY_ST_PAIR, RLY_F_pair, "the peer relay %s "
			      "belongs to another pair (not \"%s\")",
			      s->peer.addr, r->cf.name);
	if (r->pending == s) {
		r->st.replaced++;
		log_warnx("session %016llx replaced by session %016llx from "
			  "%s", (unsigned long long)r->cur->id,
			  (unsigned long long)s->id, s->peer.addr);
		relay_sess_free(r->cur, false);	/* promotes s */
	}
	return relay_sess_connect(s, &s->local);
}

bool relay_sess_hello(struct relay_sess *s)
{
	if (s->state != RS_HELLO) {
		relay_fault(s, RLY_F_header, "a second HELLO from %s",
			    s->peer.addr);
		return false;
	}
	return relay_is_primary(s->r) ? primary_hello(s, &s->dec.hello) :
	       secondary_hello(s, &s->dec.hello);
}

/* A decoder error: counted by kind; on the secondary, during the
 * handshake, another version is answered with a refusal that says so
 * (the version and status bytes are where every version has them). */
bool relay_sess_proto_fault(struct relay_sess *s)
{
	enum rly_perr e = s->dec.err;
	enum rly_fault f = rly_fault_of(e);

	if (e == RLY_E_VERSION && !relay_is_primary(s->r) &&
	    s->state == RS_HELLO)
		return refuse(s, RLY_ST_VERSION, f, "the peer relay %s speaks "
			      "protocol version %u, we speak %u", s->peer.addr,
			      s->dec.hello.version, RLY_VERSION);
	if (e == RLY_E_VERSION)
		relay_fault(s, f, "the peer relay %s speaks protocol version "
			    "%u, we speak %u", s->peer.addr,
			    s->dec.hello.version, RLY_VERSION);
	else
		relay_fault(s, f, "from the peer relay %s: %s%s", s->peer.addr,
			    rly_perr_name(e), s->dec.hello_seen ? "" :
			    " (in its HELLO)");
	return false;
}

/* ---- connecting -------------------------------------------------------------------- */

bool relay_sess_connect_error(struct relay_sess *s, struct relay_end *e,
			      enum rly_fault f, int err)
{
	const char *what = relay_is_primary(s->r) ? "the peer relay" :
			   "the secondary QEMU";

	if (relay_is_primary(s->r)) {
		relay_fault(s, f, "cannot connect to %s at %s: %s", what,
			    e->addr, strerror(err));
		return false;
	}
	relay_end_close(s->r, e);
	return refuse(s, RLY_ST_TARGET, f, "cannot connect to %s at %s: %s",
		      what, e->addr, strerror(err));
}

/* The connect of E ended: ERR 0 or why it failed. */
static bool connected(struct relay_sess *s, struct relay_end *e, int err)
{
	if (err)
		return relay_sess_connect_error(s, e, RLY_F_connect_failed,
						err);
	e->connecting = false;
	if (!relay_is_primary(s->r)) {
		relay_sess_up(s);
		return queue_hello(s, RLY_ST_READY) && relay_sess_decode(s);
	}
	s->state = RS_HELLO;
	s->deadline_ms = loop_now_ms() + s->r->cf.timeout_ms;
	return queue_hello(s, RLY_ST_READY);
}

/* Connect E to [relay] connect: the peer relay (primary) or the SVM's
 * QEMU (secondary), within [timeouts] connect. */
bool relay_sess_connect(struct relay_sess *s, struct relay_end *e)
{
	const struct cfg_addr *a = &s->r->cf.connect;
	int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK |
			SOCK_CLOEXEC, 0);
	int err;

	cfg_sockaddr_text(&a->u.sa, e->addr, sizeof(e->addr));
	s->state = RS_CONNECT;
	s->deadline_ms = loop_now_ms() + s->r->cf.connect_ms;
	if (fd < 0 || (connect(fd, &a->u.sa, a->len) < 0 &&
		       errno != EINPROGRESS)) {
		err = errno;
		if (fd >= 0)
			close(fd);
		return connected(s, e, err);
	}
	if (!relay_sess_adopt(s, e, fd, true)) {
		relay_fault(s, RLY_F_nomem, "cannot watch a socket");
		return false;
	}
	return true;
}

/* Writable while connecting: done, failed, or (a stale event for a reused
 * descriptor number) not yet. */
bool relay_sess_finish_connect(struct relay_sess *s, struct relay_end *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(int), alen = sizeof(ss);
	int err = 0;

	if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err && getpeername(e->fd, (struct sockaddr *)&ss, &alen) < 0) {
		if (errno == ENOTCONN)
			return true;
		err = errno;
	}
	return connected(s, e, err);
}
