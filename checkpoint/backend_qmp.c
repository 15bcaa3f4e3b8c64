/*
 * backend_qmp: the proxy's checkpoint backend on QEMU's QMP socket.
 *
 *   request --> migrate-set-parameters {"x-checkpoint-delay": N}
 *               (in COLO state this starts a checkpoint at once:
 *                QEMU migration/options.c -> colo_checkpoint_delay_set())
 *   STOP    --> ckpt_begun      (only while COLO runs)
 *   RESUME  --> ckpt_completed  (the first one in COLO ends the initial
 *                                migration: that is a checkpoint too)
 *   MIGRATION {"status": "colo"} --> COLO active
 *   COLO_EXIT {"mode", "reason"}  --> COLO over (failover, or the peer died)
 *
 * A new request is only sent once the previous checkpoint has resumed
 * (ckpt.c merges requests until then). A refused request is retried every
 * retry_ms while it is still wanted; a request made while QMP is down or
 * COLO is not running waits for them. Nothing is ever released because
 * QEMU failed: held output simply stays held.
 *
 * On the secondary the backend only watches (STOP/RESUME of the SVM mark
 * the epochs of its output); its requests travel over the proxy channel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/qmp.h"
#include "checkpoint/qmp_msg.h"
#include "checkpoint/ckpt.h"
#include "common/log.h"
#include "common/loop.h"

struct bq {
	struct ckpt *ck;
	struct loop *loop;
	struct qmp *q;
	struct ckpt_config cfg;
	bool colo;			/* QEMU is in COLO state */
	bool had_colo;			/* ... at some time */
	bool cmd_busy;			/* a request command is in flight */
	bool waiting_logged;
	uint64_t retry_timer;
	uint64_t cmd_sent, cmd_errors, resends;	/* request commands */
	char status[24];		/* last migration status seen */
	char last_error[160];
};

/* For logs: the socket, or the libvirt domain. */
static const char *bq_target(const struct bq *b)
{
	return b->cfg.kind == CKPT_LIBVIRT ? b->cfg.lv_domain : b->cfg.qmp;
}

static void send_request(struct bq *b);

static void set_error(struct bq *b, const char *fmt, const char *x,
		      const char *y)
{
	snprintf(b->last_error, sizeof(b->last_error), fmt, x, y);
	log_warnx("qmp %s: %s", bq_target(b), b->last_error);
}

static void on_retry(struct loop *loop, uint64_t id, void *arg)
{
	struct bq *b = arg;

	(void)loop;
	(void)id;
	b->retry_timer = 0;
	if (b->ck->state == CKPT_ASKED) {
		b->resends++;
		send_request(b);
	}
}

static void arm_retry(struct bq *b, uint64_t ms)
{
	if (!b->retry_timer)
		loop_add_timer(b->loop, ms, 0, on_retry, b, &b->retry_timer);
}

static void on_request_reply(void *arg, json_t *ret, const char *cls,
			     const char *desc)
{
	struct bq *b = arg;

	b->cmd_busy = false;
	if (!ret) {
		b->cmd_errors++;
		set_error(b, "QEMU refused the checkpoint request: %s: %s",
			  cls, desc);
		arm_retry(b, b->cfg.retry_ms);
		return;
	}
	/* no STOP within the timeout: ask again (QEMU merges repeats) */
	arm_retry(b, b->cfg.timeout_ms);
}

static void send_request(struct bq *b)
{
	json_t *args;

	if (b->cmd_busy || !b->cfg.primary)
		return;
	if (!qmp_is_ready(b->q) || !b->colo) {
		if (!b->waiting_logged)
			log_warnx("checkpoint wanted, but %s: held output "
				  "stays held until it is possible",
				  !qmp_is_ready(b->q) ? "QMP is not connected"
						      : "COLO is not running");
		b->waiting_logged = true;
		return;
	}
	args = qmp_checkpoint_delay_args(b->cfg.period_ms);
	if (!args || qmp_command(b->q, "migrate-set-parameters", args,
				 on_request_reply, b) < 0) {
		set_error(b, "%s%s", "cannot queue the checkpoint request: ",
			  "out of memory");
		arm_retry(b, b->cfg.retry_ms);
	} else {
		b->cmd_busy = true;
		b->cmd_sent++;
	}
	json_decref(args);
}

static int bq_request(void *ctx, enum ckpt_reason reason)
{
	struct bq *b = ctx;

	(void)reason;
	if (!b->cfg.primary)
		return -ENOTSUP;
	b->waiting_logged = false;
	send_request(b);
	return 0;
}

/* ---- events ----------------------------------------------------------- */

static void colo_started(struct bq *b, const char *why)
{
	if (b->colo)
		return;
	b->colo = true;
	b->had_colo = true;
	log_info("qmp %s: COLO is running (%s)", bq_target(b), why);
	ckpt_colo(b->ck, true, CKPT_END_ERROR, why);
	if (b->ck->state == CKPT_ASKED)
		send_request(b);
}

/* COLO over in our QEMU. On the primary, an error that a failover request
 * follows (QEMU's COLO thread waits for one) is told again as a request. */
static void colo_ended(struct bq *b, enum ckpt_colo_end end, const char *why)
{
	if (!b->colo) {
		if (!b->cfg.primary || !b->had_colo ||
		    end != CKPT_END_REQUEST ||
		    b->ck->colo_end == CKPT_END_REQUEST)
			return;
	}
	b->colo = false;
	log_warnx("qmp %s: COLO ended: %s", bq_target(b), why);
	ckpt_colo(b->ck, false, end, why);
}

static void on_migration(struct bq *b, json_t *data)
{
	const char *st = json_string_value(json_object_get(data, "status"));

	if (!st)
		return;
	snprintf(b->status, sizeof(b->status), "%s", st);
	if (strcmp(st, "colo") == 0)
		colo_started(b, "migration status colo");
	else if (strcmp(st, "completed") == 0)
		/* from colo only by a failover request (QEMU's
		 * primary_vm_do_failover / secondary_vm_do_failover) */
		colo_ended(b, CKPT_END_REQUEST, "migration status completed "
			   "(failover requested)");
	else if (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)
		colo_ended(b, CKPT_END_ERROR, st);
}

/* STOP/RESUME mark checkpoints while COLO runs; the SVM (started with
 * -incoming) runs only under COLO, so the secondary counts them all. */
static bool watching(const struct bq *b)
{
	return b->colo || !b->cfg.primary;
}

static void on_event(void *arg, const char *ev, json_t *data, uint64_t ts_us)
{
	struct bq *b = arg;
	char why[96];

	b->ck->event_rt_us = ts_us;
	if (strcmp(ev, "STOP") == 0) {
		if (watching(b))
			ckpt_begun(b->ck, loop_now_ns());
	} else if (strcmp(ev, "RESUME") == 0) {
		if (watching(b)) {
			if (b->retry_timer)
				loop_del_timer(b->loop, b->retry_timer);
			b->retry_timer = 0;
			ckpt_completed(b->ck, loop_now_ns());
		}
	} else if (strcmp(ev, "MIGRATION") == 0) {
		on_migration(b, data);
	} else if (strcmp(ev, "COLO_EXIT") == 0) {
		const char *reason = json_string_value(
			json_object_get(data, "reason")) ?: "?";

		snprintf(why, sizeof(why), "COLO_EXIT mode %s, reason %s",
			 json_string_value(json_object_get(data, "mode")) ?: "?",
			 reason);
		colo_ended(b, strcmp(reason, "request") == 0 ?
			   CKPT_END_REQUEST : CKPT_END_ERROR, why);
	}
}

static void on_query_migrate(void *arg, json_t *ret, const char *cls,
			     const char *desc)
{
	struct bq *b = arg;
	const char *st;

	if (!ret) {
		set_error(b, "query-migrate failed: %s: %s", cls, desc);
		return;
	}
	st = json_string_value(json_object_get(ret, "status"));
	snprintf(b->status, sizeof(b->status), "%s", st ? st : "none");
	if (st && strcmp(st, "colo") == 0 && !b->colo) {
		colo_started(b, "found running when QMP connected");
		/* we do not know what the VMs did while we were not
		 * watching: bring the secondary up to date first */
		if (b->cfg.primary)
			ckpt_request(b->ck, CKPT_R_RESYNC, CKPT_ANY_EPOCH,
				     loop_now_ns());
	} else if (b->colo && (!st || strcmp(st, "colo") != 0)) {
		colo_ended(b, st && strcmp(st, "completed") == 0 ?
			   CKPT_END_REQUEST : CKPT_END_ERROR,
			   "not in COLO state when QMP reconnected");
	} else if (b->colo && b->ck->state == CKPT_ASKED) {
		send_request(b);
	}
}

static void on_ready(void *arg)
{
	struct bq *b = arg;

	b->cmd_busy = false;
	b->last_error[0] = '\0';
	if (qmp_command(b->q, "query-migrate", NULL, on_query_migrate, b) < 0)
		set_error(b, "%s%s", "query-migrate: ", "out of memory");
}

static void on_down(void *arg, const char *why)
{
	struct bq *b = arg;

	b->cmd_busy = false;
	set_error(b, "QMP down (%s)%s", why,
		  b->colo && b->cfg.primary ?
		  ": no checkpoint possible, held output stays held" : "");
	/* the SVM's QEMU went away (or its monitor did): the primary's QEMU
	 * would notice only at its next checkpoint; let the proxy say so */
	if (!b->cfg.primary)
		colo_ended(b, CKPT_END_VM_GONE,
			   "the SVM's QMP connection was lost");
}

/* ---- ops ----------------------------------------------------------------- */

static void bq_describe(void *ctx, char *buf, size_t len)
{
	struct bq *b = ctx;

	char tgt[420];

	if (b->cfg.kind == CKPT_LIBVIRT)
		snprintf(tgt, sizeof(tgt), "libvirt domain %s at %s",
			 b->cfg.lv_domain, b->cfg.lv_uri);
	else
		snprintf(tgt, sizeof(tgt), "qmp %s", b->cfg.qmp);
	snprintf(buf, len, "%s: %s, migration %s%s, checkpoint %s, "
		 "requests sent %llu (refused %llu, repeated %llu)%s%s",
		 tgt, qmp_state_name(b->q), b->status[0] ? b->status :
		 "unknown", b->colo ? " (COLO)" : "",
		 ckpt_state_name(b->ck->state),
		 (unsigned long long)b->cmd_sent,
		 (unsigned long long)b->cmd_errors,
		 (unsigned long long)b->resends,
		 b->last_error[0] ? "; last error: " : "", b->last_error);
}

static void bq_free(void *ctx)
{
	struct bq *b = ctx;

	if (b->retry_timer)
		loop_del_timer(b->loop, b->retry_timer);
	qmp_free(b->q);
	free(b);
}

static const struct ckpt_ops qmp_ops = {
	.name = "qmp",
	.request = bq_request,
	.describe = bq_describe,
	.free = bq_free,
};

int ckpt_qmp_new(struct ckpt *c, struct loop *loop,
		 const struct ckpt_config *cfg, char *err, size_t errlen)
{
	struct qmp_events ev = { on_ready, on_event, on_down, NULL };
	struct qmp_config qc = { 0 };
	struct bq *b = calloc(1, sizeof(*b));
	int r;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->ck = c;
	b->loop = loop;
	b->cfg = *cfg;
	if (!b->cfg.retry_ms)
		b->cfg.retry_ms = 1000;
	snprintf(qc.name, sizeof(qc.name), "%s", cfg->primary ? "pvm" : "svm");
	snprintf(qc.path, sizeof(qc.path), "%s", cfg->qmp);
	if (cfg->kind == CKPT_LIBVIRT) {
		snprintf(qc.uri, sizeof(qc.uri), "%s", cfg->lv_uri);
		snprintf(qc.domain, sizeof(qc.domain), "%s", cfg->lv_domain);
	}
	qc.timeout_ms = cfg->timeout_ms;
	qc.reconnect_ms = cfg->reconnect_ms;
	ev.arg = b;
	c->ops = &qmp_ops;
	c->ctx = b;
	r = qmp_new(loop, &qc, &ev, &b->q, err, errlen);
	if (r < 0) {
		c->ops = NULL;
		c->ctx = NULL;
		free(b);
	}
	return r;
}
