/*
 * qmp_msg: QMP line framing and message classification (no I/O).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/qmp_msg.h"

static int bad(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -EBADMSG;
}

static bool get_id(json_t *root, struct qmp_msg *m)
{
	json_t *id = json_object_get(root, "id");

	if (!id)
		return true;
	if (!json_is_integer(id) || json_integer_value(id) < 0)
		return false;
	m->has_id = true;
	m->id = (uint64_t)json_integer_value(id);
	return true;
}

static int parse_error(json_t *root, struct qmp_msg *m, char *err,
		       size_t errlen)
{
	json_t *e = json_object_get(root, "error");
	json_t *cls = json_object_get(e, "class");
	json_t *desc = json_object_get(e, "desc");

	if (!json_is_object(e) || !json_is_string(cls))
		return bad(err, errlen, "\"error\" without a string \"class\"");
	m->type = QMP_MSG_ERROR;
	m->err_class = json_string_value(cls);
	m->err_desc = json_is_string(desc) ? json_string_value(desc) : "";
	if (!get_id(root, m))
		return bad(err, errlen, "\"id\" is not a number of ours");
	return 0;
}

static int parse_event(json_t *root, struct qmp_msg *m, char *err,
		       size_t errlen)
{
	json_t *ev = json_object_get(root, "event");
	json_t *data = json_object_get(root, "data");
	json_t *ts = json_object_get(root, "timestamp");

	if (!json_is_string(ev))
		return bad(err, errlen, "\"event\" is not a string");
	if (data && !json_is_object(data))
		return bad(err, errlen, "event \"data\" is not an object");
	m->type = QMP_MSG_EVENT;
	m->event = json_string_value(ev);
	m->data = data;
	if (json_is_object(ts)) {
		json_t *s = json_object_get(ts, "seconds");
		json_t *us = json_object_get(ts, "microseconds");

		if (json_is_integer(s) && json_is_integer(us) &&
		    json_integer_value(s) >= 0 && json_integer_value(us) >= 0)
			m->ts_us = (uint64_t)json_integer_value(s) * 1000000 +
				   (uint64_t)json_integer_value(us);
	}
	return 0;
}

int qmp_msg_parse(const char *line, size_t len, struct qmp_msg *m, char *err,
		  size_t errlen)
{
	json_error_t je;
	json_t *root;
	int r;

	memset(m, 0, sizeof(*m));
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "not JSON (column %d: %s)", je.column,
			 je.text);
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return bad(err, errlen, "not a JSON object");
	}
	m->root = root;
	if (json_object_get(root, "QMP")) {
		m->type = QMP_MSG_GREETING;
		r = json_is_object(json_object_get(root, "QMP")) ? 0 :
		    bad(err, errlen, "\"QMP\" greeting is not an object");
	} else if (json_object_get(root, "return")) {
		m->type = QMP_MSG_RETURN;
		m->ret = json_object_get(root, "return");
		r = get_id(root, m) ? 0 :
		    bad(err, errlen, "\"id\" is not a number of ours");
	} else if (json_object_get(root, "error")) {
		r = parse_error(root, m, err, errlen);
	} else if (json_object_get(root, "event")) {
		r = parse_event(root, m, err, errlen);
	} else {
		r = bad(err, errlen,
			"no \"QMP\", \"return\", \"error\" or \"event\" key");
	}
	if (r < 0)
		qmp_msg_free(m);
	return r;
}

void qmp_msg_free(struct qmp_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

long qmp_split(const char *data, size_t len, qmp_line_cb *cb, void *arg)
{
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t n;

		if (!nl)
			break;
		n = (size_t)(nl - (data + pos));
		if (n >= QMP_LINE_MAX)
			return -EMSGSIZE;
		size_t body = n;

		if (body && data[pos + body - 1] == '\r')
			body--;
		size_t at = pos;

		pos += n + 1;
		if (body && !cb(arg, data + at, body))
			return (long)pos;
	}
	if (len - pos >= QMP_LINE_MAX)
		return -EMSGSIZE;
	return (long)pos;
}

char *qmp_cmd_line(const char *cmd, const json_t *args, uint64_t id)
{
	json_t *o = json_object();
	char *s = NULL, *line = NULL;
	size_t n;

	if (!o || (args && !json_is_object(args)))
		goto out;
	if (json_object_set_new(o, "execute", json_string(cmd)) < 0 ||
	    json_object_set_new(o, "id", json_integer((json_int_t)id)) < 0)
		goto out;
	/* json_deep_copy: ARGS stays the caller's, unchanged */
	if (args && json_object_size(args) &&
	    json_object_set_new(o, "arguments", json_deep_copy(args)) < 0)
		goto out;
	s = json_dumps(o, JSON_COMPACT);
	if (!s)
		goto out;
	n = strlen(s);
	line = malloc(n + 3);
	if (line) {
		memcpy(line, s, n);
		memcpy(line + n, "\r\n", 3);
	}
out:
	free(s);
	json_decref(o);
	return line;
}

json_t *qmp_checkpoint_delay_args(uint64_t period_ms)
{
	return json_pack("{s:I}", "x-checkpoint-delay",
			 (json_int_t)(period_ms ? period_ms :
				      QMP_CHECKPOINT_DELAY_OFF));
}
