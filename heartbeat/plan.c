/*
 * plan: failover steps, in order, retried until done (see plan.h).
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint/qmp.h"
#include "checkpoint/qmp_msg.h"
#include "common/log.h"
#include "common/loop.h"
#include "heartbeat/fsm.h"
#include "heartbeat/plan.h"
#include "heartbeat/sysact.h"

enum step_kind { ST_CUT_COLO, ST_LOST_HB, ST_PROXY_TAKEOVER, ST_PROXY_SOLO,
		 ST_BRIDGE, ST_ANNOUNCE, ST_STOP, ST_PROXY_PROMOTE,
		 ST_COLO_MIGRATE };

/* while a migration runs, query-migrate is polled this often */
#define MIGRATE_POLL_MS 200

struct plan {
	struct loop *loop;
	const struct hb_conf *cf;
	struct qmp *qmp;
	int kind;
	enum step_kind kinds[PLAN_MAX_STEPS];
	struct plan_step_info info[PLAN_MAX_STEPS];
	unsigned n, cur;
	uint64_t start_ns, retry_timer;
	bool busy;		/* a QMP or proxy callback is outstanding */
	bool cancelled;		/* plan_free() while busy: it frees */
	double mb_sent;		/* ST_COLO_MIGRATE */
	void (*done)(void *arg);
	void *arg;
};

static const char *step_name(enum step_kind k)
{
	switch (k) {
	case ST_CUT_COLO: return "destroy the COLO channel's sockets";
	case ST_LOST_HB: return "x-colo-lost-heartbeat";
	case ST_PROXY_TAKEOVER: return "proxy mode takeover";
	case ST_PROXY_SOLO: return "proxy mode solo";
	case ST_BRIDGE: return "LAN port into the bridge";
	case ST_ANNOUNCE: return "announce-self";
	case ST_STOP: return "stop the VM";
	case ST_PROXY_PROMOTE: return "proxy promote";
	case ST_COLO_MIGRATE: return "COLO migration to the peer";
	}
	return "?";
}

static void run_step(struct plan *p);

/* At each callback's entry: false if the plan was freed meanwhile (it is
 * then freed here, and the answer ignored). */
static bool callback_entry(struct plan *p)
{
	p->busy = false;
	if (!p->cancelled)
		return true;
	free(p);
	return false;
}

static void retry_cb(struct loop *loop, uint64_t id, void *arg)
{
	struct plan *p = arg;

	(void)loop;
	(void)id;
	p->retry_timer = 0;
	run_step(p);
}

/* The current step ended. */
static void step_end(struct plan *p, bool ok, const char *msg)
{
	struct plan_step_info *si = &p->info[p->cur];

	si->took_us = (loop_now_ns() - p->start_ns) / 1000;
	if (!ok) {
		snprintf(si->last_error, sizeof(si->last_error), "%s", msg);
		log_warnx("%s step %u/%u (%s) failed, attempt %u: %s; again in "
			  "%llu ms", hb_plan_name(p->kind), p->cur + 1, p->n,
			  si->name, si->attempts, msg,
			  (unsigned long long)p->cf->retry_ms);
		if (loop_add_timer(p->loop, p->cf->retry_ms, 0, retry_cb, p,
				   &p->retry_timer) < 0)
			p->retry_timer = 0;
		return;
	}
	si->done = true;
	log_info("%s step %u/%u: %s: %s (%.1f ms into the plan)",
		 hb_plan_name(p->kind), p->cur + 1, p->n, si->name, msg,
		 si->took_us / 1000.0);
	p->cur++;
	if (p->cur == p->n) {
		p->done(p->arg);
		return;
	}
	run_step(p);
}

static void on_colo_status(void *arg, json_t *ret, const char *ecls,
			   const char *edesc)
{
	struct plan *p = arg;
	const char *mode = json_string_value(json_object_get(ret, "mode"));
	char m[160];

	if (!callback_entry(p))
		return;
	if (mode && !strcmp(mode, "none")) {
		step_end(p, true, "the VM has left COLO");
		return;
	}
	snprintf(m, sizeof(m), "still in COLO mode \"%s\" (%s)",
		 mode ? mode : "?", ecls ? edesc : "query-colo-status");
	step_end(p, false, m);
}

static void on_qmp_reply(void *arg, json_t *ret, const char *ecls,
			 const char *edesc)
{
	struct plan *p = arg;
	char m[160];

	(void)ret;
	if (!callback_entry(p))
		return;
	if (!ecls) {
		step_end(p, true, "ok");
		return;
	}
	if (p->kinds[p->cur] == ST_LOST_HB && !strcmp(ecls, "GenericError") &&
	    qmp_command(p->qmp, "query-colo-status", NULL, on_colo_status,
			p) == 0) {
		p->busy = true;
		return;		/* already out of COLO? */
	}
	snprintf(m, sizeof(m), "%s: %s", ecls, edesc ? edesc : "");
	step_end(p, false, m);
}

static void on_sys(void *arg, bool ok, const char *msg)
{
	if (callback_entry(arg))
		step_end(arg, ok, msg);
}

static bool step_skipped(struct plan *p, enum step_kind k)
{
	switch (k) {
	case ST_PROXY_TAKEOVER:
	case ST_PROXY_SOLO:
	case ST_PROXY_PROMOTE:
		return !p->cf->proxy[0];
	case ST_BRIDGE:
		return !p->cf->bridge[0];
	case ST_ANNOUNCE:
		return !p->cf->announce;
	case ST_CUT_COLO:
		return !p->cf->colo_port;
	default:
		return false;
	}
}

/*
 * ss -K on the COLO migration's TCP connections. A peer that died
 * silently leaves them open, and QEMU's secondary, when the death caught
 * it loading a checkpoint's RAM, reads it holding the big lock: its QMP
 * answers nothing (x-colo-lost-heartbeat included) until the socket dies,
 * which without a FIN or RST is never. Destroyed (SOCK_DESTROY), the COLO
 * thread fails, COLO_EXIT follows and the command runs. The term is ours
 * by now: the channel has nothing left to carry. Run synchronously: ss
 * talks to the local kernel and ends in milliseconds (2 s at most here).
 */
static bool cut_colo(struct plan *p, char *msg, size_t len)
{
	char filter[96];
	char *argv[] = { "ss", "-K", "-t", "-n", "state", "established",
			 filter, NULL };
	int status = 0, i;
	pid_t pid;

	snprintf(filter, sizeof(filter), "( sport = :%d or dport = :%d )",
		 p->cf->colo_port, p->cf->colo_port);
	if (posix_spawnp(&pid, "ss", NULL, NULL, argv, environ) != 0) {
		snprintf(msg, len, "cannot run ss (iproute2): %s",
			 strerror(errno));
		return false;
	}
	for (i = 0; i < 2000 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(1000);
	if (i == 2000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		snprintf(msg, len, "ss -K did not end within 2 s");
		return false;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(msg, len, "ss -K failed (status %d): is the kernel "
			 "built with CONFIG_INET_DIAG_DESTROY?", status);
		return false;
	}
	snprintf(msg, len, "port %d: done", p->cf->colo_port);
	return true;
}

static void start_qmp(struct plan *p, const char *cmd, json_t *args)
{
	if (qmp_command(p->qmp, cmd, args, on_qmp_reply, p) < 0)
		step_end(p, false, "out of memory");
	else
		p->busy = true;
	json_decref(args);
}

/* ---- the COLO migration (reprotect) ---------------------------------------- */

static void poll_cb(struct loop *loop, uint64_t id, void *arg);

/* Migrating: look again soon, quietly (not a failed attempt). */
static void migrate_poll(struct plan *p, const char *status)
{
	snprintf(p->info[p->cur].last_error, sizeof(p->info[p->cur].last_error),
		 "migrating: %s, %.1f MB sent", status, p->mb_sent);
	if (loop_add_timer(p->loop, MIGRATE_POLL_MS, 0, poll_cb, p,
			   &p->retry_timer) < 0)
		p->retry_timer = 0;
}

static void qmp_chain(struct plan *p, const char *cmd, json_t *args,
		      qmp_reply_cb *cb)
{
	if (qmp_command(p->qmp, cmd, args, cb, p) < 0)
		step_end(p, false, "out of memory");
	else
		p->busy = true;
	json_decref(args);
}

static bool qmp_failed(struct plan *p, const char *what, const char *ecls,
		       const char *edesc)
{
	char m[160];

	if (!ecls)
		return false;
	snprintf(m, sizeof(m), "%s: %s: %s", what, ecls, edesc ? edesc : "");
	step_end(p, false, m);
	return true;
}

static void on_migrate(void *arg, json_t *ret, const char *ecls,
		       const char *edesc)
{
	struct plan *p = arg;

	(void)ret;
	if (!callback_entry(p) || qmp_failed(p, "migrate", ecls, edesc))
		return;
	log_info("reprotect: migrating to %s", p->cf->reprotect_uri);
	migrate_poll(p, "started");
}

static void on_delay_set(void *arg, json_t *ret, const char *ecls,
			 const char *edesc)
{
	struct plan *p = arg;

	(void)ret;
	if (!callback_entry(p) ||
	    qmp_failed(p, "migrate-set-parameters", ecls, edesc))
		return;
	qmp_chain(p, "migrate", json_pack("{s:s}", "uri",
		  p->cf->reprotect_uri), on_migrate);
}

static void on_caps_set(void *arg, json_t *ret, const char *ecls,
			const char *edesc)
{
	struct plan *p = arg;

	(void)ret;
	if (!callback_entry(p) ||
	    qmp_failed(p, "migrate-set-capabilities", ecls, edesc))
		return;
	qmp_chain(p, "migrate-set-parameters",
		  qmp_checkpoint_delay_args(p->cf->reprotect_period_ms),
		  on_delay_set);
}

/* query-migrate: in COLO (done), under way (poll), or to be started. */
static void on_migrate_status(void *arg, json_t *ret, const char *ecls,
			      const char *edesc)
{
	struct plan *p = arg;
	const char *st;
	json_t *ram;

	if (!callback_entry(p) || qmp_failed(p, "query-migrate", ecls, edesc))
		return;
	st = json_string_value(json_object_get(ret, "status"));
	ram = json_object_get(ret, "ram");
	if (ram && json_integer_value(json_object_get(ram, "transferred")) >
	    p->mb_sent * 1e6)
		p->mb_sent = (double)json_integer_value(json_object_get(ram,
				"transferred")) / 1e6;
	if (st && !strcmp(st, "colo")) {
		step_end(p, true, "COLO runs");
		return;
	}
	if (st && strcmp(st, "failed") && strcmp(st, "cancelled") &&
	    strcmp(st, "completed")) {
		migrate_poll(p, st);
		return;
	}
	if (st && strcmp(st, "completed"))
		log_warnx("reprotect: the last migration %s%s%s: starting "
			  "again", st, json_object_get(ret, "error-desc") ?
			  ": " : "", json_object_get(ret, "error-desc") ?
			  json_string_value(json_object_get(ret,
			  "error-desc")) : "");
	p->mb_sent = 0;
	qmp_chain(p, "migrate-set-capabilities", json_pack(
		  "{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability",
		  "x-colo", "state", 1, "capability", "events", "state", 1),
		  on_caps_set);
}

static void poll_cb(struct loop *loop, uint64_t id, void *arg)
{
	struct plan *p = arg;

	(void)loop;
	(void)id;
	p->retry_timer = 0;
	qmp_chain(p, "query-migrate", NULL, on_migrate_status);
}

static void run_step(struct plan *p)
{
	struct plan_step_info *si = &p->info[p->cur];
	enum step_kind k = p->kinds[p->cur];
	char err[160];
	bool ok;
	int r;

	if (step_skipped(p, k)) {
		si->skipped = true;
		step_end(p, true, "skipped (not configured)");
		return;
	}
	si->attempts++;
	switch (k) {
	case ST_CUT_COLO:
		ok = cut_colo(p, err, sizeof(err));
		step_end(p, ok, err);
		break;
	case ST_LOST_HB:
		start_qmp(p, "x-colo-lost-heartbeat", NULL);
		break;
	case ST_ANNOUNCE:	/* QEMU's defaults, spelt out: 7.2 wants all */
		start_qmp(p, "announce-self", json_pack("{s:i,s:i,s:i,s:i}",
			  "initial", 50, "max", 550, "rounds", 5, "step", 100));
		break;
	case ST_STOP:
		start_qmp(p, "stop", NULL);
		break;
	case ST_PROXY_TAKEOVER:
	case ST_PROXY_SOLO:
	case ST_PROXY_PROMOTE:
		r = proxyctl_call(p->loop, p->cf->proxy, k == ST_PROXY_SOLO ?
				  "mode solo" : k == ST_PROXY_PROMOTE ?
				  "promote" : "mode takeover",
				  p->cf->proxy_timeout_ms, on_sys, p);
		if (r < 0) {
			snprintf(err, sizeof(err), "%s: %s", p->cf->proxy,
				 strerror(-r));
			step_end(p, false, err);
		} else {
			p->busy = true;
		}
		break;
	case ST_COLO_MIGRATE:
		if (!p->cf->reprotect_uri[0]) {
			step_end(p, false, "no [reprotect] uri (nor [failover] "
				 "colo_port to make one of)");
			break;
		}
		qmp_chain(p, "query-migrate", NULL, on_migrate_status);
		break;
	case ST_BRIDGE:
		r = bridge_port_set(p->cf->bridge, p->cf->lan_port, true, err,
				    sizeof(err));
		step_end(p, r == 0, r == 0 ? "joined" : err);
		break;
	}
}

int plan_start(struct plan **pp, struct loop *loop, const struct hb_conf *cf,
	       struct qmp *qmp, int kind, void (*done)(void *arg), void *arg)
{
	/* the bridge joins before the proxy turns to takeover: the proxy
	 * then sends the SVM's pending output at once, and it must find
	 * the way to the LAN open (see colo-proxy/tail.h) */
	static const enum step_kind takeover[] = { ST_CUT_COLO, ST_LOST_HB,
		ST_BRIDGE, ST_PROXY_TAKEOVER, ST_ANNOUNCE };
	static const enum step_kind solo[] = { ST_CUT_COLO, ST_LOST_HB,
		ST_PROXY_SOLO };
	/* the sockets first here too: a secondary caught loading a
	 * checkpoint holds QEMU's lock and would never answer the stop */
	static const enum step_kind fence[] = { ST_CUT_COLO, ST_STOP };
	static const enum step_kind reprotect[] = { ST_PROXY_PROMOTE,
		ST_COLO_MIGRATE };
	const enum step_kind *ks = kind == HB_PLAN_TAKEOVER ? takeover :
				   kind == HB_PLAN_SOLO ? solo :
				   kind == HB_PLAN_REPROTECT ? reprotect : fence;
	unsigned n = kind == HB_PLAN_TAKEOVER ? 5 : kind == HB_PLAN_SOLO ? 3 : 2;
	struct plan *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->cf = cf;
	p->qmp = qmp;
	p->kind = kind;
	p->n = n;
	p->done = done;
	p->arg = arg;
	p->start_ns = loop_now_ns();
	for (unsigned i = 0; i < n; i++) {
		p->kinds[i] = ks[i];
		p->info[i].name = step_name(ks[i]);
	}
	*pp = p;
	log_warnx("%s plan: %u steps", hb_plan_name(kind), n);
	run_step(p);
	return 0;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	if (p->retry_timer)
		loop_del_timer(p->loop, p->retry_timer);
	p->retry_timer = 0;
	/* an outstanding QMP or proxy callback frees it (callback_entry) */
	if (p->busy) {
		p->cancelled = true;
		return;
	}
	free(p);
}

bool plan_finished(const struct plan *p)
{
	return p->cur == p->n;
}

int plan_kind(const struct plan *p)
{
	return p->kind;
}

uint64_t plan_started_ns(const struct plan *p)
{
	return p->start_ns;
}

unsigned plan_nsteps(const struct plan *p)
{
	return p->n;
}

const struct plan_step_info *plan_step(const struct plan *p, unsigned i)
{
	return i < p->n ? &p->info[i] : NULL;
}
