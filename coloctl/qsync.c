/*
 * qsync: blocking QMP calls (each runs the private loop until the reply,
 * QEMU's error, a timeout or the loss of the connection).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/qmp.h"
#include "coloctl/qsync.h"
#include "common/loop.h"

static void on_ready(void *arg)
{
	struct qsync *s = arg;

	s->done = true;
	loop_stop(s->loop);
}

static void on_down(void *arg, const char *why)
{
	struct qsync *s = arg;

	s->down = true;
	s->done = true;
	snprintf(s->err, sizeof(s->err), "%s", why);
	loop_stop(s->loop);
}

static void on_reply(void *arg, json_t *ret, const char *cls, const char *desc)
{
	struct qsync *s = arg;

	s->done = true;
	if (ret)
		s->ret = json_incref(ret);
	else
		snprintf(s->err, sizeof(s->err), "%s: %s", cls, desc);
	loop_stop(s->loop);
}

int qsync_open(struct qsync *s, const char *path, uint64_t timeout_ms,
	       char *err, size_t errlen)
{
	struct qmp_events ev = { on_ready, NULL, on_down, s };
	struct qmp_config cfg = { .timeout_ms = timeout_ms, .quiet = true };

	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(cfg.name, sizeof(cfg.name), "coloctl");
	if (!strncmp(path, "libvirt:", 8)) {
		const char *d = path + 8, *at = strchr(d, '@');
		const char *uri = at ? at + 1 : getenv("LIBVIRT_DEFAULT_URI");
		size_t dl = at ? (size_t)(at - d) : strlen(d);

		if (!dl || dl >= sizeof(cfg.domain) || (at && !at[1]) ||
		    (uri && strlen(uri) >= sizeof(cfg.uri))) {
			snprintf(err, errlen, "\"%s\" is not libvirt:DOMAIN"
				 "[@URI]", path);
			return -1;
		}
		memcpy(cfg.domain, d, dl);
		snprintf(cfg.uri, sizeof(cfg.uri), "%s",
			 uri && *uri ? uri : "qemu:///system");
	} else if (strlen(path) >= sizeof(cfg.path)) {
		snprintf(err, errlen, "QMP socket path too long: \"%s\"", path);
		return -1;
	} else {
		snprintf(cfg.path, sizeof(cfg.path), "%s", path);
	}
	if (loop_new(&s->loop) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (qmp_new(s->loop, &cfg, &ev, &s->q, err, errlen) < 0)
		goto fail;
	if (!s->done)
		loop_run(s->loop);
	if (s->down) {
		snprintf(err, errlen, "QEMU at \"%s\": %s", path, s->err);
		goto fail;
	}
	return 0;
fail:
	qsync_close(s);
	return -1;
}

int qsync_call(struct qsync *s, const char *cmd, const json_t *args,
	       json_t **ret, char *err, size_t errlen)
{
	s->done = false;
	s->ret = NULL;
	s->err[0] = '\0';
	if (qmp_command(s->q, cmd, args, on_reply, s) < 0) {
		snprintf(err, errlen, "%s: out of memory", cmd);
		return -1;
	}
	while (!s->done)
		loop_run(s->loop);
	if (!s->ret) {
		snprintf(err, errlen, "%s: %s", cmd, s->err);
		return -1;
	}
	if (ret)
		*ret = s->ret;
	else
		json_decref(s->ret);
	return 0;
}

void qsync_close(struct qsync *s)
{
	qmp_free(s->q);
	s->q = NULL;
	loop_free(s->loop);
	s->loop = NULL;
}
