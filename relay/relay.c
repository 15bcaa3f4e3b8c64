/*
 * relay: the listening socket, the timer and the control socket around
 * the relayed connections of sess.c (see relay.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ctl.h"
#include "common/log.h"
#include "common/loop.h"
#include "relay/sess.h"

const char *relay_state_name(enum relay_state st)
{
	static const char *const names[] = {
		[RS_CONNECT] = "connecting", [RS_HELLO] = "handshake",
		[RS_UP] = "up", [RS_DRAIN] = "ending",
	};

	return (unsigned)st <= RS_DRAIN ? names[st] : "?";
}

/* Refuse a connection at once (one is relayed already): counted. */
static void refuse_busy(struct relay *r, int fd, const char *addr)
{
	r->st.faults[RLY_F_busy]++;
	snprintf(r->last_fault, sizeof(r->last_fault), "busy: refused %s",
		 addr);
	log_warnx("refused a connection from %s: %s", addr,
		  r->cf.role == RELAY_PRIMARY ? "QEMU's channel is relayed "
		  "already (one at a time)" : "a connection is relayed and "
		  "another is in its handshake");
	close(fd);
}

static void accept_primary(struct relay *r, int fd, const char *addr)
{
	struct relay_sess *s;

	if (r->cur) {
		refuse_busy(r, fd, addr);
		return;
	}
	s = relay_sess_new(r);
	if (!s) {
		r->st.faults[RLY_F_nomem]++;
		close(fd);
		return;
	}
	r->cur = s;
	snprintf(s->local.addr, sizeof(s->local.addr), "%s", addr);
	if (!relay_sess_adopt(s, &s->local, fd, false)) {
		relay_sess_free(s, false);
		return;
	}
	s->first_read = true;
	log_info("session %016llx: QEMU %s connected; connecting to the peer "
		 "relay", (unsigned long long)s->id, addr);
	if (relay_sess_connect(s, &s->peer))
		relay_sess_tick(s, loop_now_ms());	/* sets the events */
}

static void accept_secondary(struct relay *r, int fd, const char *addr)
{
	struct relay_sess *s;

	if (r->cur && r->pending) {
		refuse_busy(r, fd, addr);
		return;
	}
	s = relay_sess_new(r);
	if (!s) {
		r->st.faults[RLY_F_nomem]++;
		close(fd);
		return;
	}
	snprintf(s->peer.addr, sizeof(s->peer.addr), "%s", addr);
	if (r->cur)
		r->pending = s;
	else
		r->cur = s;
	if (!relay_sess_adopt(s, &s->peer, fd, false)) {
		relay_sess_free(s, false);
		return;
	}
	s->state = RS_HELLO;
	s->deadline_ms = loop_now_ms() + r->cf.timeout_ms;
	log_debug("a connection from %s: awaiting its HELLO", addr);
	relay_sess_tick(s, loop_now_ms());
}

static void on_accept(struct loop *loop, int lfd, unsigned events, void *arg)
{
	struct relay *r = arg;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[64];
	int fd;

	(void)loop;
	(void)events;
	fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	r->st.accepted++;
	cfg_sockaddr_text((struct sockaddr *)&ss, addr, sizeof(addr));
	if (r->cf.role == RELAY_PRIMARY)
		accept_primary(r, fd, addr);
	else
		accept_secondary(r, fd, addr);
}

static void on_tick(struct loop *loop, uint64_t id, void *arg)
{
	struct relay *r = arg;
	uint64_t now = loop_now_ms();

	(void)loop;
	(void)id;
	if (r->pending)
		relay_sess_tick(r->pending, now);
	if (r->cur)
		relay_sess_tick(r->cur, now);
}

/* Often enough for the shortest of the timers it serves, at least every
 * 250 ms: deadlines are met to within a tick. */
static uint64_t tick_ms(const struct relay_conf *cf)
{
	uint64_t t = cf->keepalive_ms;

	if (cf->connect_ms < t)
		t = cf->connect_ms;
	if (cf->timeout_ms < t)
		t = cf->timeout_ms;
	t /= 4;
	return t < 5 ? 5 : t > 250 ? 250 : t;
}

static int open_listener(struct relay *r, char *err, size_t errlen)
{
	const struct cfg_addr *a = &r->cf.listen;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char text[64];
	int one = 1, fd, ret;

	fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &a->u.sa, a->len) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		goto fail;
	r->port = ntohs(ss.ss_family == AF_INET6 ?
			((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	ret = loop_add_fd(r->loop, fd, LOOP_READ, on_accept, NULL, r);
	if (ret < 0) {
		errno = -ret;
		goto fail;
	}
	r->lfd = fd;
	return 0;
fail:
	ret = -errno;
	cfg_sockaddr_text(&a->u.sa, text, sizeof(text));
	snprintf(err, errlen, "cannot listen on %s: %s", text,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	return ret;
}

int relay_start(struct relay *r, struct loop *loop,
		const struct relay_conf *cf, bool ctl, char *err,
		size_t errlen)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->cf = *cf;
	r->lfd = -1;
	r->pair = rly_pair_id(cf->name);
	r->start_ms = loop_now_ms();
	ret = rly_stats_init(&r->st, (size_t)cf->history, cf->checkpoint_min);
	if (ret < 0 || !(r->rxbuf = malloc(cf->chunk))) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	ret = open_listener(r, err, errlen);
	if (ret < 0)
		goto fail;
	ret = loop_add_timer(loop, tick_ms(cf), tick_ms(cf), on_tick, r,
			     &r->tick_timer);
	if (ret < 0) {
		snprintf(err, errlen, "timer: %s", strerror(-ret));
		goto fail;
	}
	if (ctl) {
		ret = ctl_open(loop, cf->control, relay_ctl, r, &r->ctl, err,
			       errlen);
		if (ret < 0)
			goto fail;
	}
	return 0;
fail:
	relay_stop(r);
	return ret;
}

void relay_stop(struct relay *r)
{
	if (r->pending)
		relay_sess_free(r->pending, false);
	if (r->cur)
		relay_sess_free(r->cur, false);
	if (r->lfd >= 0) {
		loop_del_fd(r->loop, r->lfd);
		close(r->lfd);
		r->lfd = -1;
	}
	if (r->tick_timer)
		loop_del_timer(r->loop, r->tick_timer);
	r->tick_timer = 0;
	ctl_close(r->ctl);
	r->ctl = NULL;
	free(r->rxbuf);
	r->rxbuf = NULL;
	rly_stats_free(&r->st);
}
