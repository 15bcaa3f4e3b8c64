/*
 * ckpt: request bookkeeping shared by every backend, and the "none"
 * backend (no checkpoints: divergent output stays held).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/ckpt.h"
#include "common/log.h"

static const char *const reason_names[CKPT_R_MAX] = {
	[CKPT_R_MISMATCH] = "mismatch",
	[CKPT_R_HOLD_TIMEOUT] = "hold_timeout",
	[CKPT_R_LIMIT] = "limit",
	[CKPT_R_CHANNEL] = "channel",
	[CKPT_R_QUEUE_LOSS] = "queue_loss",
	[CKPT_R_SECONDARY] = "secondary",
	[CKPT_R_PERIODIC] = "periodic",
	[CKPT_R_MANUAL] = "manual",
	[CKPT_R_RESYNC] = "resync",
	[CKPT_R_SVM_LOST] = "svm_lost",
};

const char *const ckpt_backend_names[] = { "none", "qmp", "libvirt",
					    NULL };

const char *ckpt_reason_name(enum ckpt_reason r)
{
	return (unsigned)r < CKPT_R_MAX ? reason_names[r] : "?";
}

const char *ckpt_state_name(enum ckpt_state s)
{
	static const char *const names[] = { "idle", "asked", "running" };

	return (unsigned)s < 3 ? names[s] : "?";
}

/* ---- the "none" backend --------------------------------------------------- */

static int none_request(void *ctx, enum ckpt_reason reason)
{
	(void)ctx;
	log_warnx("checkpoint needed (%s) but no checkpoint backend is "
		  "configured: held output stays held until a checkpoint "
		  "or a mode change", ckpt_reason_name(reason));
	return 0;	/* wanted for ever: later requests merge into it */
}

static void none_describe(void *ctx, char *buf, size_t len)
{
	(void)ctx;
	snprintf(buf, len, "none (divergent output is held, never released)");
}

static void none_free(void *ctx)
{
	(void)ctx;
}

static const struct ckpt_ops none_ops = {
	.name = "none",
	.request = none_request,
	.describe = none_describe,
	.free = none_free,
};

/* ---- common ----------------------------------------------------------------- */

int ckpt_init(struct ckpt *c, struct loop *loop, const struct ckpt_config *cfg,
	      const struct ckpt_events *ev, uint32_t epoch, char *err,
	      size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->ev = *ev;
	c->epoch = epoch;
	switch (cfg->kind) {
	case CKPT_NONE:
		c->ops = &none_ops;
		return 0;
	case CKPT_QMP:
	case CKPT_LIBVIRT:	/* QMP through libvirtd */
		return ckpt_qmp_new(c, loop, cfg, err, errlen);
	default:
		snprintf(err, errlen, "unknown checkpoint backend %d", cfg->kind);
		return -EINVAL;
	}
}

void ckpt_fini(struct ckpt *c)
{
	if (c->ops)
		c->ops->free(c->ctx);
	c->ops = NULL;
}

static void issue(struct ckpt *c, enum ckpt_reason reason, uint64_t now_ns)
{
	c->state = CKPT_ASKED;
	c->asked_ns = now_ns;
	c->reason = reason;
	c->nmerged = 0;
	c->issued++;
	if (c->ops->request(c->ctx, reason) < 0)
		ckpt_refused(c);
}

void ckpt_request(struct ckpt *c, enum ckpt_reason reason, uint64_t epoch,
		  uint64_t now_ns)
{
	if ((unsigned)reason >= CKPT_R_MAX)
		return;
	c->requests[reason]++;
	switch (c->state) {
	case CKPT_IDLE:
		issue(c, reason, now_ns);
		break;
	case CKPT_ASKED:
		c->merged++;
		if (c->nmerged < UINT16_MAX)
			c->nmerged++;
		break;
	case CKPT_RUNNING:
		/* output of the epoch being saved is covered by this one */
		if (epoch != CKPT_ANY_EPOCH &&
		    (int32_t)((uint32_t)epoch - c->epoch) <= 0) {
			c->covered++;
			if (c->nmerged < UINT16_MAX)
				c->nmerged++;
			break;
		}
		if (!c->again)
			c->again_reason = reason;
		c->again = true;
		break;
	}
}

void ckpt_cancel(struct ckpt *c)
{
	if (c->state == CKPT_ASKED)
		c->state = CKPT_IDLE;
	c->again = false;
}

void ckpt_refused(struct ckpt *c)
{
	c->refused++;
	if (c->state == CKPT_ASKED)
		c->state = CKPT_IDLE;
}

void ckpt_begun(struct ckpt *c, uint64_t now_ns)
{
	if (c->state != CKPT_ASKED) {
		c->unrequested++;
		c->asked_ns = 0;
		c->reason = CKPT_R_PERIODIC;
		c->nmerged = 0;
	}
	c->state = CKPT_RUNNING;
	c->begun_ns = now_ns;
	if (c->ev.on_begin)
		c->ev.on_begin(c->ev.arg);
}

static void record(struct ckpt *c, uint64_t now_ns)
{
	struct ckpt_record *r = &c->hist[c->nhist++ % CKPT_HISTORY];

	r->stop_us = c->begun_ns ? (now_ns - c->begun_ns) / 1000 : 0;
	r->wait_us = c->asked_ns ? (now_ns - c->asked_ns) / 1000 : 0;
	r->epoch = c->epoch;
	r->merged = c->nmerged;
	r->reason = (uint8_t)c->reason;
	c->completed_by[c->reason]++;
	char waited[48] = "";

	if (r->wait_us)
		snprintf(waited, sizeof(waited), ", %llu.%03llu ms after the "
			 "request", (unsigned long long)r->wait_us / 1000,
			 (unsigned long long)r->wait_us % 1000);
	log_info("checkpoint %llu done: epoch %u committed, reason %s (+%u "
		 "merged), VM paused %llu.%03llu ms%s",
		 (unsigned long long)c->completed, r->epoch,
		 ckpt_reason_name(c->reason), r->merged,
		 (unsigned long long)r->stop_us / 1000,
		 (unsigned long long)r->stop_us % 1000, waited);
}

void ckpt_completed(struct ckpt *c, uint64_t now_ns)
{
	if (c->state != CKPT_RUNNING) {
		/* a RESUME without STOP: COLO's first resume, or we connected
		 * to QEMU mid-checkpoint; the VM was stopped, so the epoch ends */
		c->begun_ns = 0;
		if (c->state == CKPT_IDLE) {
			c->asked_ns = 0;
			c->reason = CKPT_R_RESYNC;
			c->nmerged = 0;
		}
	}
	c->completed++;
	record(c, now_ns);
	c->state = CKPT_IDLE;
	if (c->ev.on_complete)
		c->ev.on_complete(c->ev.arg);
	c->epoch++;
	if (c->again) {
		c->again = false;
		issue(c, c->again_reason, now_ns);
	}
}

void ckpt_colo(struct ckpt *c, bool active, enum ckpt_colo_end end,
	       const char *why)
{
	c->colo_end = end;
	if (!active) {
		c->state = CKPT_IDLE;
		c->again = false;
	}
	if (c->ev.on_colo)
		c->ev.on_colo(c->ev.arg, active, why);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t ckpt_percentile(const struct ckpt *c, bool wait, unsigned p)
{
	uint64_t v[CKPT_HISTORY];
	size_t n = 0, total = c->nhist < CKPT_HISTORY ? c->nhist : CKPT_HISTORY;

	for (size_t i = 0; i < total; i++) {
		uint64_t x = wait ? c->hist[i].wait_us : c->hist[i].stop_us;

		if (x)
			v[n++] = x;
	}
	if (!n)
		return 0;
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return v[(n - 1) * (p > 100 ? 100 : p) / 100];
}
