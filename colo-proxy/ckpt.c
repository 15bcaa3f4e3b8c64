/*
 * ckpt: request bookkeeping shared by every backend, and the "none"
 * backend (no checkpoints: divergent output stays held).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "colo-proxy/ckpt.h"
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
};

const char *const ckpt_backend_names[] = { "none", NULL };

const char *ckpt_reason_name(enum ckpt_reason r)
{
	return (unsigned)r < CKPT_R_MAX ? reason_names[r] : "?";
}

/* ---- the "none" backend --------------------------------------------------- */

static int none_request(void *ctx, enum ckpt_reason reason)
{
	(void)ctx;
	log_warnx("checkpoint needed (%s) but no checkpoint backend is "
		  "configured: held output stays held until a checkpoint "
		  "or a mode change", ckpt_reason_name(reason));
	return -ENOTSUP;
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

int ckpt_init(struct ckpt *c, int kind, const struct ckpt_events *ev)
{
	memset(c, 0, sizeof(*c));
	c->ev = *ev;
	switch (kind) {
	case CKPT_NONE:
		c->ops = &none_ops;
		return 0;
	default:
		return -EINVAL;
	}
}

void ckpt_fini(struct ckpt *c)
{
	if (c->ops)
		c->ops->free(c->ctx);
	c->ops = NULL;
}

void ckpt_request(struct ckpt *c, enum ckpt_reason reason, uint64_t now_ns)
{
	if ((unsigned)reason >= CKPT_R_MAX)
		return;
	c->requests[reason]++;
	if (c->pending) {
		c->merged++;
		return;
	}
	c->pending = true;
	c->pending_since_ns = now_ns;
	c->pending_reason = reason;
	c->issued++;
	c->ops->request(c->ctx, reason);
}

void ckpt_begun(struct ckpt *c, uint32_t epoch)
{
	if (c->ev.on_begin)
		c->ev.on_begin(c->ev.arg, epoch);
}

void ckpt_completed(struct ckpt *c, uint32_t epoch, uint64_t now_ns)
{
	c->completed++;
	if (c->pending)
		c->last_duration_ns = now_ns - c->pending_since_ns;
	c->pending = false;
	if (c->ev.on_complete)
		c->ev.on_complete(c->ev.arg, epoch);
}
