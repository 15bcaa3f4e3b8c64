/*
 * qmp: connection, command queue and event stream of a QMP client.
 *
 *   pending: cmd(id 7) -> cmd(id 8) -> ...   oldest first, one timer each
 *   tx: command lines appended to txb, written when the socket can take
 *       them; rx: bytes into rxb, cut into lines by qmp_split()
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "checkpoint/libvirt.h"
#include "checkpoint/qmp.h"
#include "checkpoint/qmp_msg.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/loop.h"

enum qmp_state { ST_DOWN = 0, ST_CONNECTING, ST_GREETING, ST_CAPS, ST_READY };

static const char *const state_names[] = { "down", "connecting", "greeting",
					   "capabilities", "ready" };

struct qmp_cmd {
	struct qmp_cmd *next;
	struct qmp *q;
	uint64_t id;
	uint64_t timer;
	qmp_reply_cb *cb;
	void *arg;
	const char *fail_class;		/* set: fail from the timer */
	char name[40];
};

struct qmp {
	struct loop *loop;
	struct qmp_config cfg;
	struct qmp_events ev;
	enum qmp_state st;
	int fd;
	bool want_write;
	bool dying;			/* inside a callback that closed */
	struct buf txb, rxb;
	struct qmp_cmd *pending, **tail;
	uint64_t next_id;
	uint64_t greet_timer, retry_timer;
	bool down_reported;
	struct qmp_stats stats;
	struct lvq *lv;			/* through libvirt: its stream */
	bool down_transport;		/* ... lost libvirtd, not QEMU */
};

static void start_connect(struct qmp *q);
static void on_io(struct loop *loop, int fd, unsigned events, void *arg);

/* ---- commands ----------------------------------------------------------- */

static void unlink_cmd(struct qmp *q, struct qmp_cmd *c)
{
	struct qmp_cmd **pp = &q->pending;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = c->next;
	if (q->tail == &c->next)
		q->tail = pp;
}

static void finish_cmd(struct qmp *q, struct qmp_cmd *c, json_t *ret,
		       const char *cls, const char *desc)
{
	unlink_cmd(q, c);
	if (c->timer)
		loop_del_timer(q->loop, c->timer);
	if (c->cb)
		c->cb(c->arg, ret, cls, desc);
	free(c);
}

static void fail_all(struct qmp *q, const char *cls, const char *desc)
{
	while (q->pending)
		finish_cmd(q, q->pending, NULL, cls, desc);
}

static void on_cmd_timer(struct loop *loop, uint64_t id, void *arg)
{
	struct qmp_cmd *c = arg;
	struct qmp *q = c->q;
	char desc[96];

	(void)loop;
	(void)id;
	c->timer = 0;
	if (c->fail_class) {
		finish_cmd(q, c, NULL, c->fail_class,
			   "the QMP connection is not ready");
		return;
	}
	q->stats.timeouts++;
	snprintf(desc, sizeof(desc), "no reply to %s within %llu ms", c->name,
		 (unsigned long long)q->cfg.timeout_ms);
	finish_cmd(q, c, NULL, "Timeout", desc);
}

static struct qmp_cmd *find_cmd(struct qmp *q, uint64_t id)
{
	for (struct qmp_cmd *c = q->pending; c; c = c->next)
		if (c->id == id && !c->fail_class)
			return c;
	return NULL;
}

static int queue_line(struct qmp *q, const char *cmd, const json_t *args,
		      uint64_t id)
{
	char *line = qmp_cmd_line(cmd, args, id);
	int r;

	if (!line)
		return -ENOMEM;
	r = buf_append(&q->txb, line, strlen(line));
	free(line);
	if (r == 0 && !q->want_write && q->fd >= 0) {
		q->want_write = true;
		loop_mod_fd(q->loop, q->fd, LOOP_READ | LOOP_WRITE);
	}
	return r;
}

static int add_cmd(struct qmp *q, const char *cmd, const json_t *args,
		   qmp_reply_cb *cb, void *arg, bool internal)
{
	struct qmp_cmd *c = calloc(1, sizeof(*c));
	bool ready = q->st == ST_READY || (internal && q->st == ST_CAPS);
	int r;

	if (!c)
		return -ENOMEM;
	c->q = q;
	c->id = ++q->next_id;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->name, sizeof(c->name), "%s", cmd);
	if (ready && (r = queue_line(q, cmd, args, c->id)) < 0) {
		free(c);
		return r;
	}
	if (!ready)
		c->fail_class = "NotReady";
	r = loop_add_timer(q->loop, ready ? q->cfg.timeout_ms : 0, 0,
			   on_cmd_timer, c, &c->timer);
	if (r < 0) {
		free(c);
		return r;
	}
	*q->tail = c;
	q->tail = &c->next;
	if (ready)
		q->stats.commands++;
	return 0;
}

int qmp_command(struct qmp *q, const char *cmd, const json_t *args,
		qmp_reply_cb *cb, void *arg)
{
	return add_cmd(q, cmd, args, cb, arg, false);
}

/* ---- connection ---------------------------------------------------------- */

static void report_down(struct qmp *q, const char *why)
{
	if (q->down_reported)
		return;
	q->down_reported = true;
	if (q->ev.on_down)
		q->ev.on_down(q->ev.arg, why);
}

static void on_retry(struct loop *loop, uint64_t id, void *arg)
{
	struct qmp *q = arg;

	(void)loop;
	(void)id;
	q->retry_timer = 0;
	start_connect(q);
}

/* Close the connection, fail what is pending, tell the user, retry. */
static void drop(struct qmp *q, const char *why)
{
	bool was_up = q->st >= ST_GREETING;

	char lvwhy[320];

	if (q->fd >= 0) {
		loop_del_fd(q->loop, q->fd);
		close(q->fd);
		q->fd = -1;
	}
	q->down_transport = false;
	if (q->lv) {		/* libvirt's reason beats a bare EOF */
		bool gone;

		lvq_why(q->lv, lvwhy, sizeof(lvwhy), &gone);
		if (lvwhy[0])
			why = lvwhy;
		q->down_transport = !gone;
		lvq_release(q->lv);
		q->lv = NULL;
	}
	if (q->greet_timer) {
		loop_del_timer(q->loop, q->greet_timer);
		q->greet_timer = 0;
	}
	q->st = ST_DOWN;
	q->want_write = false;
	buf_reset(&q->txb);
	buf_reset(&q->rxb);
	if (was_up)
		q->stats.disconnects++;
	else
		q->stats.connect_failures++;
	fail_all(q, "Disconnected", why);
	report_down(q, why);
	if (q->cfg.reconnect_ms && !q->dying && !q->retry_timer)
		loop_add_timer(q->loop, q->cfg.reconnect_ms, 0, on_retry, q,
			       &q->retry_timer);
}

static void on_greet_timeout(struct loop *loop, uint64_t id, void *arg)
{
	struct qmp *q = arg;

	(void)loop;
	(void)id;
	q->greet_timer = 0;
	if (q->cfg.domain[0]) {
		drop(q, "no answer through libvirt in time (libvirtd or the "
			"domain's monitor is busy or unreachable)");
		return;
	}
	/* QEMU serves one client per QMP socket and accepts a second one
	 * without greeting it */
	drop(q, "no QMP greeting in time (QEMU serves one client per QMP "
		"socket: is another one connected? give QEMU a -qmp socket "
		"per client)");
}

static void on_caps(void *arg, json_t *ret, const char *cls, const char *desc)
{
	struct qmp *q = arg;
	char why[160], tgt[420];

	if (!ret) {
		if (strcmp(cls, "Disconnected") == 0)
			return;		/* drop() is already under way */
		snprintf(why, sizeof(why), "qmp_capabilities failed: %s: %s",
			 cls, desc);
		drop(q, why);
		return;
	}
	q->st = ST_READY;
	q->down_reported = false;
	if (!q->cfg.quiet)
		log_info("qmp %s: connected to %s", q->cfg.name,
			 qmp_target(&q->cfg, tgt, sizeof(tgt)));
	if (q->ev.on_ready)
		q->ev.on_ready(q->ev.arg);
}

static void start_connect(struct qmp *q)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char why[200];

	if (q->cfg.domain[0]) {
		if (lvq_open(q->cfg.uri, q->cfg.domain, &q->fd, &q->lv, why,
			     sizeof(why)) < 0) {
			q->fd = -1;
			q->st = ST_CONNECTING;
			drop(q, why);
			return;
		}
		goto connected;
	}
	memcpy(sun.sun_path, q->cfg.path, sizeof(sun.sun_path) - 1);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->fd < 0 ||
	    (connect(q->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
	     errno != EINPROGRESS && errno != EAGAIN)) {
		snprintf(why, sizeof(why), "connect to %s: %s", q->cfg.path,
			 strerror(errno));
		q->st = ST_CONNECTING;
		drop(q, why);
		return;
	}
connected:
	q->st = ST_GREETING;
	q->stats.connects++;
	if (loop_add_fd(q->loop, q->fd, LOOP_READ, on_io, on_io, q) < 0 ||
	    loop_add_timer(q->loop, q->cfg.timeout_ms, 0, on_greet_timeout, q,
			   &q->greet_timer) < 0)
		drop(q, "out of memory");
}

/* ---- input ----------------------------------------------------------------- */

static void protocol_error(struct qmp *q, const char *what, const char *line,
			   size_t len)
{
	char why[200];

	q->stats.garbage++;
	snprintf(why, sizeof(why), "QEMU sent %s: \"%.*s\"", what,
		 (int)(len > 60 ? 60 : len), line);
	if (!q->cfg.quiet)
		log_warnx("qmp %s: %s", q->cfg.name, why);
	drop(q, why);
}

static void on_greeting(struct qmp *q)
{
	loop_del_timer(q->loop, q->greet_timer);
	q->greet_timer = 0;
	q->st = ST_CAPS;
	if (add_cmd(q, "qmp_capabilities", NULL, on_caps, q, true) < 0)
		drop(q, "out of memory");
}

static void dispatch(struct qmp *q, struct qmp_msg *m, const char *line,
		     size_t len)
{
	struct qmp_cmd *c;

	if (m->type == QMP_MSG_GREETING) {
		if (q->st != ST_GREETING)
			protocol_error(q, "a second greeting", line, len);
		else
			on_greeting(q);
		return;
	}
	if (m->type == QMP_MSG_EVENT) {
		q->stats.events++;
		if (q->st == ST_READY && q->ev.on_event)
			q->ev.on_event(q->ev.arg, m->event, m->data, m->ts_us);
		return;
	}
	c = m->has_id ? find_cmd(q, m->id) : NULL;
	if (!c) {
		protocol_error(q, "a reply to no command of ours", line, len);
		return;
	}
	if (m->type == QMP_MSG_RETURN) {
		q->stats.replies++;
		finish_cmd(q, c, m->ret, NULL, NULL);
	} else {
		q->stats.errors++;
		finish_cmd(q, c, NULL, m->err_class, m->err_desc);
	}
}

static bool on_line(void *arg, const char *line, size_t len)
{
	struct qmp *q = arg;
	struct qmp_msg m;
	char err[128];

	if (qmp_msg_parse(line, len, &m, err, sizeof(err)) < 0) {
		protocol_error(q, err, line, len);
		return false;
	}
	dispatch(q, &m, line, len);
	qmp_msg_free(&m);
	return q->fd >= 0;
}

static void do_read(struct qmp *q)
{
	for (;;) {
		long used;
		ssize_t n;

		if (buf_reserve(&q->rxb, 65536) < 0) {
			drop(q, "out of memory");
			return;
		}
		n = read(q->fd, buf_tail(&q->rxb), buf_spare(&q->rxb));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			drop(q, n == 0 ? "QEMU closed the QMP connection" :
					 strerror(errno));
			return;
		}
		buf_commit(&q->rxb, (size_t)n);
		used = qmp_split((const char *)buf_data(&q->rxb),
				 buf_len(&q->rxb), on_line, q);
		if (q->fd < 0)
			return;
		if (used < 0) {
			protocol_error(q, "a line without end", "", 0);
			return;
		}
		buf_consume(&q->rxb, (size_t)used);
	}
}

static void do_write(struct qmp *q)
{
	while (buf_len(&q->txb)) {
		ssize_t n = send(q->fd, buf_data(&q->txb), buf_len(&q->txb),
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			drop(q, strerror(errno));
			return;
		}
		buf_consume(&q->txb, (size_t)n);
	}
	q->want_write = false;
	loop_mod_fd(q->loop, q->fd, LOOP_READ);
}

static void on_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct qmp *q = arg;

	(void)loop;
	(void)fd;
	if (events & (LOOP_READ | LOOP_ERROR))
		do_read(q);
	if (q->fd >= 0 && (events & LOOP_WRITE))
		do_write(q);
}

/* ---- life cycle ---------------------------------------------------------- */

int qmp_new(struct loop *loop, const struct qmp_config *cfg,
	    const struct qmp_events *ev, struct qmp **qp, char *err,
	    size_t errlen)
{
	struct qmp *q;

	if (cfg->domain[0] ? !cfg->uri[0] :
	    !cfg->path[0] || strnlen(cfg->path, sizeof(cfg->path)) >=
	    sizeof(cfg->path)) {
		if (cfg->domain[0]) {
			snprintf(err, errlen, "libvirt domain \"%s\" without "
				 "a URI", cfg->domain);
			return -EINVAL;
		}
		snprintf(err, errlen, "QMP socket path \"%s\" is empty or "
			 "too long", cfg->path);
		return -EINVAL;
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	q->loop = loop;
	q->cfg = *cfg;
	if (!q->cfg.timeout_ms)
		q->cfg.timeout_ms = 5000;
	q->ev = *ev;
	q->fd = -1;
	q->tail = &q->pending;
	*qp = q;
	start_connect(q);
	return 0;
}

void qmp_free(struct qmp *q)
{
	if (!q)
		return;
	q->dying = true;
	q->down_reported = true;	/* no on_down from our own close */
	if (q->retry_timer)
		loop_del_timer(q->loop, q->retry_timer);
	q->retry_timer = 0;
	drop(q, "closed");
	/* drop() ran callbacks that may have issued commands: fail them */
	fail_all(q, "Disconnected", "closed");
	buf_free(&q->txb);
	buf_free(&q->rxb);
	free(q);
}

bool qmp_is_ready(const struct qmp *q)
{
	return q->st == ST_READY;
}

const struct qmp_stats *qmp_stats(const struct qmp *q)
{
	return &q->stats;
}

const char *qmp_state_name(const struct qmp *q)
{
	return state_names[q->st];
}

bool qmp_down_transport(const struct qmp *q)
{
	return q->down_transport;
}

const char *qmp_target(const struct qmp_config *cfg, char *buf, size_t len)
{
	if (cfg->domain[0])
		snprintf(buf, len, "domain %s at %s", cfg->domain, cfg->uri);
	else
		snprintf(buf, len, "%s", cfg->path);
	return buf;
}
