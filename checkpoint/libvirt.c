/*
 * libvirt: a QMP stream through libvirtd, and fencing (see libvirt.h).
 *
 * Threads: one per stream (it connects, then reads the client's commands
 * and runs them one after the other: libvirt's calls block), one per
 * fencing job, and one for the whole process that runs libvirt's event
 * loop (it delivers QEMU's events, the domain's lifecycle and the loss of
 * a connection).  They block every signal: the daemons take theirs with
 * signalfd on the main thread.  A stream is reference-counted: the client,
 * its thread, and each callback registered with libvirt hold one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "checkpoint/libvirt.h"
#include "common/loop.h"

static const char *const fence_names[] = {
	[LV_FENCE_DESTROYED] = "destroyed",
	[LV_FENCE_NOT_RUNNING] = "not running",
	[LV_FENCE_UNREACHABLE] = "unreachable",
	[LV_FENCE_REFUSED] = "refused",
	[LV_FENCE_TIMEOUT] = "timeout",
};

const char *lv_fence_result_name(enum lv_fence_result r)
{
	if ((unsigned)r < sizeof(fence_names) / sizeof(fence_names[0]))
		return fence_names[r];
	return "?";
}

#ifndef HAVE_LIBVIRT

#define NO_LIBVIRT "this colokit was built without libvirt (install " \
	"libvirt-dev and rebuild)"

bool lv_available(void)
{
	return false;
}

int lvq_open(const char *uri, const char *domain, int *fd, struct lvq **h,
	     char *err, size_t errlen)
{
	(void)uri, (void)domain, (void)fd, (void)h;
	snprintf(err, errlen, "%s", NO_LIBVIRT);
	return -1;
}

void lvq_why(struct lvq *h, char *buf, size_t len, bool *vm_gone)
{
	(void)h;
	if (len)
		buf[0] = 0;
	*vm_gone = false;
}

void lvq_release(struct lvq *h)
{
	(void)h;
}

int lv_destroy_start(struct loop *loop, const char *uri, const char *domain,
		     uint64_t timeout_ms, lv_done_cb *done, void *arg,
		     struct lv_job **jp)
{
	(void)loop, (void)uri, (void)domain, (void)timeout_ms, (void)done;
	(void)arg, (void)jp;
	errno = ENOTSUP;
	return -1;
}

void lv_job_cancel(struct lv_job *j)
{
	(void)j;
}

#else /* HAVE_LIBVIRT */

#include <jansson.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* ---- process-wide: libvirt's event loop -------------------------------- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

static void quiet_errors(void *u, virErrorPtr e)
{
	(void)u, (void)e;	/* reported by the caller, in context */
}

static void *event_thread(void *arg)
{
	(void)arg;
	for (;;)
		virEventRunDefaultImpl();
	return NULL;
}

/* Start FN in a detached thread that blocks every signal. */
static int spawn(void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t at;
	pthread_t t;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &at, fn, arg);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc ? -1 : 0;
}

static void global_init(void)
{
	if (virInitialize() < 0)
		return;
	virSetErrorFunc(NULL, quiet_errors);
	json_object_seed(0);
	if (virEventRegisterDefaultImpl() < 0)
		return;
	if (spawn(event_thread, NULL) < 0)
		return;
	init_rc = 0;
}

static int lv_init(char *err, size_t errlen)
{
	pthread_once(&once, global_init);
	if (init_rc < 0)
		snprintf(err, errlen, "libvirt: cannot start its event loop");
	return init_rc;
}

bool lv_available(void)
{
	return true;
}

static const char *last_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m && *m ? m : "unknown libvirt error";
}

/* ---- the QMP stream ----------------------------------------------------- */

struct lvq {
	pthread_mutex_t mu;
	int refs;
	int fd;			/* our end; -1 once the thread is done */
	char why[320];
	bool gone;		/* the domain stopped or is unknown; else
				   libvirtd is out of reach */
	char uri[LV_URI_MAX], domain[LV_DOMAIN_MAX];
	virConnectPtr conn;
	virDomainPtr dom;
	int ev_mon, ev_life;	/* callback ids, -1: none */
	bool close_cb;
};

/* Drop one reference under MU: true when it was the last. */
static bool ref_drop(pthread_mutex_t *mu, int *refs)
{
	bool last;

	pthread_mutex_lock(mu);
	last = --*refs == 0;
	pthread_mutex_unlock(mu);
	return last;
}

static void unref(struct lvq *b)
{
	if (!ref_drop(&b->mu, &b->refs))
		return;
	pthread_mutex_destroy(&b->mu);
	free(b);
}

static void unref_cb(void *opaque)
{
	unref(opaque);
}

/* End the stream (first reason wins): the client reads EOF. */
static void end_stream(struct lvq *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void end_stream(struct lvq *b, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&b->mu);
	if (!b->why[0]) {
		va_start(ap, fmt);
		vsnprintf(b->why, sizeof(b->why), fmt, ap);
		va_end(ap);
	}
	if (b->fd >= 0)
		shutdown(b->fd, SHUT_RDWR);
	pthread_mutex_unlock(&b->mu);
}

/* The reason that follows is the domain's end, not libvirtd's. */
static void mark_gone(struct lvq *b)
{
	pthread_mutex_lock(&b->mu);
	if (!b->why[0])
		b->gone = true;
	pthread_mutex_unlock(&b->mu);
}

/* One JSON message and CRLF to the client, whole (events come from the
 * event thread, replies from the stream's). */
static void send_json(struct lvq *b, json_t *m)
{
	char *s = json_dumps(m, JSON_COMPACT);
	size_t n, off = 0;

	if (!s) {
		end_stream(b, "libvirt bridge: out of memory");
		return;
	}
	n = strlen(s);
	s[n] = '\n';		/* json_dumps' NUL, replaced by the line end */
	pthread_mutex_lock(&b->mu);
	while (b->fd >= 0 && off < n + 1) {
		ssize_t w = send(b->fd, s + off, n + 1 - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	pthread_mutex_unlock(&b->mu);
	free(s);
}

static void on_monitor_event(virConnectPtr conn, virDomainPtr dom,
			     const char *event, long long seconds,
			     unsigned int micros, const char *details,
			     void *opaque)
{
	struct lvq *b = opaque;
	json_t *m, *data = NULL;

	(void)conn, (void)dom;
	if (details) {
		data = json_loads(details, 0, NULL);
		if (!data) {
			end_stream(b, "libvirt sent an event %s whose data is "
				   "not JSON", event);
			return;
		}
	}
	m = json_pack("{s:s, s:{s:I, s:I}}", "event", event, "timestamp",
		      "seconds", (json_int_t)seconds, "microseconds",
		      (json_int_t)micros);
	if (m && data)
		json_object_set_new(m, "data", data);
	else
		json_decref(data);
	if (m)
		send_json(b, m);
	json_decref(m);
}

static const char *stop_reason(int detail)
{
	switch (detail) {
	case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: return "shut down";
	case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: return "destroyed";
	case VIR_DOMAIN_EVENT_STOPPED_CRASHED: return "crashed";
	case VIR_DOMAIN_EVENT_STOPPED_MIGRATED: return "migrated";
	case VIR_DOMAIN_EVENT_STOPPED_SAVED: return "saved";
	case VIR_DOMAIN_EVENT_STOPPED_FAILED: return "failed";
	}
	return "stopped";
}

static void on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event,
			 int detail, void *opaque)
{
	struct lvq *b = opaque;

	(void)conn, (void)dom;
	if (event != VIR_DOMAIN_EVENT_STOPPED)
		return;
	mark_gone(b);
	end_stream(b, "libvirt: domain %s stopped (%s)", b->domain,
		   stop_reason(detail));
}

static void on_conn_close(virConnectPtr conn, int reason, void *opaque)
{
	struct lvq *b = opaque;
	static const char *const r[] = { "error", "end of file", "keepalive",
					  "client" };

	(void)conn;
	end_stream(b, "libvirt: connection to %s closed (%s)", b->uri,
		   reason >= 0 && reason < 4 ? r[reason] : "?");
}

/* What a failed call means, from its error CODE (taken before any other
 * call: every libvirt call resets the thread's error). */
enum lv_err {
	LV_ERR_REPLY,		/* an answer: the stream goes on */
	LV_ERR_LIBVIRTD,	/* libvirtd out of reach: the stream ends */
	LV_ERR_DOMAIN,		/* the domain is gone: the stream ends */
};

static enum lv_err classify(virConnectPtr conn, int code)
{
	if (conn && virConnectIsAlive(conn) != 1)
		return LV_ERR_LIBVIRTD;
	switch (code) {
	case VIR_ERR_NO_DOMAIN:
	case VIR_ERR_OPERATION_INVALID:	/* domain is not running */
		return LV_ERR_DOMAIN;
	case VIR_ERR_SYSTEM_ERROR:
	case VIR_ERR_RPC:
	case VIR_ERR_NO_CONNECT:
	case VIR_ERR_INVALID_CONN:
	case VIR_ERR_INVALID_DOMAIN:
		return LV_ERR_LIBVIRTD;
	}
	return LV_ERR_REPLY;
}

static int error_code(void)
{
	virErrorPtr e = virGetLastError();

	return e ? e->code : VIR_ERR_OK;
}

static json_t *error_reply(const char *cls, const char *desc, json_t *id)
{
	json_t *m = json_pack("{s:{s:s, s:s}}", "error", "class", cls, "desc",
			      desc);

	if (m && id)
		json_object_set(m, "id", id);
	return m;
}

/* One line from the client: a command, run through libvirt. false: the
 * stream ends. */
static bool run_line(struct lvq *b, const char *line, size_t len)
{
	json_t *cmd = json_loadb(line, len, 0, NULL), *id, *reply = NULL;
	const char *ex;
	char *text = NULL, *res = NULL, desc[400];
	bool ok = true;

	if (!cmd || !json_is_object(cmd)) {
		reply = error_reply("GenericError", "not a JSON object", NULL);
		goto out;
	}
	id = json_incref(json_object_get(cmd, "id"));
	json_object_del(cmd, "id");	/* libvirt refuses ours */
	ex = json_string_value(json_object_get(cmd, "execute"));
	if (!ex) {
		reply = error_reply("GenericError", "no \"execute\"", id);
	} else if (!strcmp(ex, "qmp_capabilities")) {
		reply = json_pack("{s:{}}", "return");
		if (reply && id)
			json_object_set(reply, "id", id);
	} else if (!(text = json_dumps(cmd, JSON_COMPACT))) {
		reply = error_reply("GenericError", "out of memory", id);
	} else if (virDomainQemuMonitorCommand(b->dom, text, &res, 0) < 0) {
		int code = error_code();
		enum lv_err k;

		snprintf(desc, sizeof(desc), "libvirt: %s", last_error());
		k = classify(b->conn, code);
		if (k != LV_ERR_REPLY) {
			if (k == LV_ERR_DOMAIN)
				mark_gone(b);
			end_stream(b, "%s", desc);
			ok = false;
		} else {
			reply = error_reply("LibvirtError", desc, id);
		}
	} else {
		reply = json_loads(res, 0, NULL);
		if (!reply || !json_is_object(reply)) {
			json_decref(reply);
			reply = error_reply("LibvirtError", "libvirt passed "
					    "on a reply that is not a JSON "
					    "object", id);
		} else {
			json_object_del(reply, "id");
			if (id)
				json_object_set(reply, "id", id);
		}
	}
	json_decref(id);
out:
	if (reply)
		send_json(b, reply);
	json_decref(reply);
	json_decref(cmd);
	free(text);
	free(res);
	return ok;
}

static bool greet(struct lvq *b)
{
	char *res = NULL;
	json_t *v, *g;

	if (virDomainQemuMonitorCommand(b->dom, "{\"execute\":\"query-version\"}",
					&res, 0) < 0) {
		end_stream(b, "libvirt: %s: query-version: %s", b->domain,
			   last_error());
		return false;
	}
	v = json_loads(res, 0, NULL);
	free(res);
	g = json_pack("{s:{s:O?, s:[]}}", "QMP", "version",
		      json_object_get(v, "return"), "capabilities");
	json_decref(v);
	if (!g) {
		end_stream(b, "libvirt: %s: query-version: a reply without "
			   "a version", b->domain);
		return false;
	}
	send_json(b, g);
	json_decref(g);
	return true;
}

static bool attach(struct lvq *b)
{
	int active;

	b->conn = virConnectOpen(b->uri);
	if (!b->conn) {
		end_stream(b, "libvirt: cannot connect to %s: %s", b->uri,
			   last_error());
		return false;
	}
	b->dom = virDomainLookupByName(b->conn, b->domain);
	if (!b->dom) {
		char msg[300];
		int code = error_code();

		snprintf(msg, sizeof(msg), "%s", last_error());
		if (classify(b->conn, code) == LV_ERR_DOMAIN)
			mark_gone(b);
		end_stream(b, "libvirt: %s: %s", b->uri, msg);
		return false;
	}
	active = virDomainIsActive(b->dom);
	if (active != 1) {
		if (active == 0)
			mark_gone(b);
		end_stream(b, "libvirt: domain %s at %s is %s", b->domain,
			   b->uri, active == 0 ? "not running" : last_error());
		return false;
	}
	virConnectSetKeepAlive(b->conn, 2, 3);
	pthread_mutex_lock(&b->mu);
	b->refs += 3;		/* one per callback, dropped by unref_cb */
	pthread_mutex_unlock(&b->mu);
	if (virConnectRegisterCloseCallback(b->conn, on_conn_close, b,
					    unref_cb) == 0)
		b->close_cb = true;
	else
		unref(b);
	b->ev_life = virConnectDomainEventRegisterAny(b->conn, b->dom,
		VIR_DOMAIN_EVENT_ID_LIFECYCLE,
		VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), b, unref_cb);
	if (b->ev_life < 0)
		unref(b);
	b->ev_mon = virConnectDomainQemuMonitorEventRegister(b->conn, b->dom,
		NULL, on_monitor_event, b, unref_cb, 0);
	if (b->ev_mon < 0) {
		unref(b);
		end_stream(b, "libvirt: %s: cannot receive QEMU's events: %s",
			   b->domain, last_error());
		return false;
	}
	/* it may have stopped before the lifecycle callback was there */
	if (virDomainIsActive(b->dom) == 0) {
		mark_gone(b);
		end_stream(b, "libvirt: domain %s at %s is not running",
			   b->domain, b->uri);
		return false;
	}
	return greet(b);
}

static void detach(struct lvq *b)
{
	if (b->ev_mon >= 0)
		virConnectDomainQemuMonitorEventDeregister(b->conn, b->ev_mon);
	if (b->ev_life >= 0)
		virConnectDomainEventDeregisterAny(b->conn, b->ev_life);
	if (b->close_cb)
		virConnectUnregisterCloseCallback(b->conn, on_conn_close);
	if (b->dom)
		virDomainFree(b->dom);
	if (b->conn)
		virConnectClose(b->conn);
}

static void *stream_thread(void *arg)
{
	struct lvq *b = arg;
	size_t cap = 65536, have = 0;
	char *buf = malloc(cap);

	if (!buf)
		end_stream(b, "libvirt bridge: out of memory");
	else if (attach(b)) {
		for (;;) {
			char *nl;
			ssize_t n;

			if (have == cap) {
				char *nb = cap < (4U << 20) ?
					   realloc(buf, cap * 2) : NULL;

				if (!nb) {
					end_stream(b, "a QMP command over "
						   "4 MB");
					break;
				}
				buf = nb;
				cap *= 2;
			}
			n = read(b->fd, buf + have, cap - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			have += (size_t)n;
			while ((nl = memchr(buf, '\n', have))) {
				size_t len = (size_t)(nl - buf) + 1;
				bool go = run_line(b, buf, len);

				memmove(buf, buf + len, have - len);
				have -= len;
				if (!go)
					goto done;
			}
		}
	}
done:
	free(buf);
	pthread_mutex_lock(&b->mu);
	close(b->fd);
	b->fd = -1;
	pthread_mutex_unlock(&b->mu);
	detach(b);
	unref(b);
	return NULL;
}

int lvq_open(const char *uri, const char *domain, int *fd, struct lvq **h,
	     char *err, size_t errlen)
{
	struct lvq *b;
	int sv[2];

	if (lv_init(err, errlen) < 0)
		return -1;
	b = calloc(1, sizeof(*b));
	if (!b || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "libvirt bridge: %s", strerror(errno));
		free(b);
		return -1;
	}
	pthread_mutex_init(&b->mu, NULL);
	b->refs = 2;		/* the client and the thread */
	b->fd = sv[1];
	b->ev_mon = b->ev_life = -1;
	snprintf(b->uri, sizeof(b->uri), "%s", uri);
	snprintf(b->domain, sizeof(b->domain), "%s", domain);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	if (spawn(stream_thread, b) < 0) {
		snprintf(err, errlen, "libvirt bridge: cannot start a thread");
		close(sv[0]);
		close(sv[1]);
		pthread_mutex_destroy(&b->mu);
		free(b);
		return -1;
	}
	*fd = sv[0];
	*h = b;
	return 0;
}

void lvq_why(struct lvq *h, char *buf, size_t len, bool *vm_gone)
{
	pthread_mutex_lock(&h->mu);
	snprintf(buf, len, "%s", h->why);
	*vm_gone = h->gone;
	pthread_mutex_unlock(&h->mu);
}

void lvq_release(struct lvq *h)
{
	if (h)
		unref(h);
}

/* ---- fencing ------------------------------------------------------------ */

struct lv_job {
	pthread_mutex_t mu;
	int refs;
	int pipe[2];		/* [0] on the loop, [1] the thread's */
	struct loop *loop;
	uint64_t timer;
	lv_done_cb *done;
	void *arg;
	char uri[LV_URI_MAX], domain[LV_DOMAIN_MAX];
	enum lv_fence_result result;
	char msg[700];
};

static void job_unref(struct lv_job *j)
{
	if (!ref_drop(&j->mu, &j->refs))
		return;
	if (j->pipe[0] >= 0)
		close(j->pipe[0]);
	if (j->pipe[1] >= 0)
		close(j->pipe[1]);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

static enum lv_fence_result destroy(struct lv_job *j, char *msg, size_t len)
{
	virConnectPtr c = virConnectOpen(j->uri);
	virDomainPtr d;
	enum lv_fence_result r;
	int active;

	if (!c) {
		snprintf(msg, len, "cannot connect to %s: %s", j->uri,
			 last_error());
		return LV_FENCE_UNREACHABLE;
	}
	d = virDomainLookupByName(c, j->domain);
	if (!d) {
		virErrorPtr e = virGetLastError();

		r = e && e->code == VIR_ERR_NO_DOMAIN ? LV_FENCE_NOT_RUNNING :
							 LV_FENCE_REFUSED;
		snprintf(msg, len, "%s: %s", j->uri, last_error());
		virConnectClose(c);
		return r;
	}
	active = virDomainIsActive(d);
	if (active == 0) {
		snprintf(msg, len, "domain %s at %s is not running", j->domain,
			 j->uri);
		r = LV_FENCE_NOT_RUNNING;
	} else if (virDomainDestroy(d) == 0) {
		snprintf(msg, len, "domain %s at %s destroyed", j->domain,
			 j->uri);
		r = LV_FENCE_DESTROYED;
	} else {
		char why[200];

		snprintf(why, sizeof(why), "%s", last_error());
		if (virDomainIsActive(d) == 0) {
			snprintf(msg, len, "domain %s at %s stopped meanwhile "
				 "(%s)", j->domain, j->uri, why);
			r = LV_FENCE_NOT_RUNNING;
		} else {
			snprintf(msg, len, "destroy %s at %s: %s", j->domain,
				 j->uri, why);
			r = LV_FENCE_REFUSED;
		}
	}
	virDomainFree(d);
	virConnectClose(c);
	return r;
}

static void *job_thread(void *arg)
{
	struct lv_job *j = arg;
	char msg[700];
	enum lv_fence_result r = destroy(j, msg, sizeof(msg));
	char one = 1;

	pthread_mutex_lock(&j->mu);
	j->result = r;
	snprintf(j->msg, sizeof(j->msg), "%s", msg);
	pthread_mutex_unlock(&j->mu);
	if (write(j->pipe[1], &one, 1) < 0) {
		/* the loop side is gone: nobody waits */
	}
	job_unref(j);
	return NULL;
}

/* The loop side lets go of the job: no more wake-up, no deadline. */
static void job_detach(struct lv_job *j)
{
	loop_del_fd(j->loop, j->pipe[0]);
	if (j->timer)
		loop_del_timer(j->loop, j->timer);
	j->timer = 0;
}

static void job_finish(struct lv_job *j, enum lv_fence_result r,
		       const char *msg)
{
	job_detach(j);
	j->done(j->arg, r, msg);
	job_unref(j);
}

static void on_job_io(struct loop *loop, int fd, unsigned ev, void *arg)
{
	struct lv_job *j = arg;
	char msg[700];
	enum lv_fence_result r;

	(void)loop, (void)fd, (void)ev;
	pthread_mutex_lock(&j->mu);
	r = j->result;
	snprintf(msg, sizeof(msg), "%s", j->msg);
	pthread_mutex_unlock(&j->mu);
	job_finish(j, r, msg);
}

static void on_job_timeout(struct loop *loop, uint64_t id, void *arg)
{
	struct lv_job *j = arg;
	char msg[512];

	(void)loop, (void)id;
	j->timer = 0;
	snprintf(msg, sizeof(msg), "no answer from %s about %s in time",
		 j->uri, j->domain);
	job_finish(j, LV_FENCE_TIMEOUT, msg);
}

int lv_destroy_start(struct loop *loop, const char *uri, const char *domain,
		     uint64_t timeout_ms, lv_done_cb *done, void *arg,
		     struct lv_job **jp)
{
	char err[160];
	struct lv_job *j;

	if (lv_init(err, sizeof(err)) < 0)
		return -1;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->pipe[0] = j->pipe[1] = -1;
	if (pipe2(j->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(j);
		return -1;
	}
	pthread_mutex_init(&j->mu, NULL);
	j->refs = 2;		/* the loop side and the thread */
	j->loop = loop;
	j->done = done;
	j->arg = arg;
	snprintf(j->uri, sizeof(j->uri), "%s", uri);
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	if (loop_add_fd(loop, j->pipe[0], LOOP_READ, on_job_io, NULL, j) < 0 ||
	    loop_add_timer(loop, timeout_ms, 0, on_job_timeout, j,
			   &j->timer) < 0 ||
	    spawn(job_thread, j) < 0) {
		job_detach(j);
		j->refs = 1;	/* no thread holds it */
		job_unref(j);
		return -1;
	}
	if (jp)
		*jp = j;
	return 0;
}

void lv_job_cancel(struct lv_job *j)
{
	if (!j)
		return;
	job_detach(j);
	job_unref(j);
}

#endif /* HAVE_LIBVIRT */
