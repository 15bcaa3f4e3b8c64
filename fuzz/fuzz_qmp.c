/*
 * libFuzzer harness for checkpoint/qmp_msg: arbitrary bytes as what a
 * QEMU monitor sends, cut into lines by qmp_split() in chunks the input
 * chooses (byte 0: chunk size 1..256, 0 = everything), every line through
 * qmp_msg_parse().
 *
 * Checks:
 *   - the chunked run and the all-at-once run see the same lines, and
 *     consume the same bytes (or both report a line over QMP_LINE_MAX);
 *   - a parsed message has the fields its type promises (a RETURN has a
 *     value, an ERROR a class and a description, an EVENT a name, data
 *     NULL or an object), and a refused line owns no JSON;
 *   - a command line built from an event name round-trips: parsing it
 *     gives a JSON object with "execute" equal to that name.
 * A violated invariant prints "fuzz_qmp: invariant violated: ..." and
 * aborts with __builtin_trap().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/qmp_msg.h"

#define CHECK(c, what)                                                       \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "fuzz_qmp: invariant violated: %s\n",  \
				what);                                       \
			__builtin_trap();                                    \
		}                                                            \
	} while (0)

struct run {
	uint64_t hash;
	unsigned lines;
};

static void check_msg(const struct qmp_msg *m)
{
	char *l;
	json_t *o;

	switch (m->type) {
	case QMP_MSG_GREETING:
		break;
	case QMP_MSG_RETURN:
		CHECK(m->ret, "return without a value");
		break;
	case QMP_MSG_ERROR:
		CHECK(m->err_class && m->err_desc, "error without class/desc");
		break;
	case QMP_MSG_EVENT:
		CHECK(m->event, "event without a name");
		CHECK(!m->data || json_is_object(m->data), "event data shape");
		l = qmp_cmd_line(m->event, m->data, 1);
		if (!l)
			break;
		o = json_loads(l, 0, NULL);
		CHECK(o && json_is_object(o), "command line is not JSON");
		CHECK(!strcmp(json_string_value(json_object_get(o, "execute")),
			      m->event), "command name round trip");
		json_decref(o);
		free(l);
		break;
	default:
		CHECK(0, "unknown type");
	}
}

static bool on_line(void *arg, const char *line, size_t len)
{
	struct run *r = arg;
	struct qmp_msg m;
	char err[128];

	r->lines++;
	for (size_t i = 0; i < len; i++)
		r->hash = (r->hash ^ (uint8_t)line[i]) * 1099511628211ULL;
	r->hash = (r->hash ^ 0x100) * 1099511628211ULL;
	if (qmp_msg_parse(line, len, &m, err, sizeof(err)) == 0) {
		check_msg(&m);
		qmp_msg_free(&m);
	} else {
		CHECK(!m.root, "refused line owns JSON");
		CHECK(err[0], "refused without a reason");
	}
	return true;
}

/* Feed DATA in chunks of STEP through a growing buffer, as qmp.c does. */
static long chunked(const uint8_t *data, size_t len, size_t step,
		    struct run *r)
{
	char *buf = malloc(len + 1);
	size_t have = 0, total = 0;

	if (!buf)
		return 0;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		long used;

		memcpy(buf + have, data + off, n);
		have += n;
		used = qmp_split(buf, have, on_line, r);
		if (used < 0) {
			free(buf);
			return used;
		}
		memmove(buf, buf + used, have - (size_t)used);
		have -= (size_t)used;
		total += (size_t)used;
	}
	free(buf);
	return (long)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a = { 14695981039346656037ULL, 0 }, b = a;
	size_t step;
	long ua, ub;

	if (size < 1)
		return 0;
	step = data[0] ? data[0] : size;
	data++;
	size--;
	ua = chunked(data, size, step ? step : 1, &a);
	ub = qmp_split((const char *)data, size, on_line, &b);
	CHECK((ua < 0) == (ub < 0), "chunked and whole disagree on errors");
	if (ua >= 0) {
		CHECK(ua == ub, "consumed bytes differ");
		CHECK(a.lines == b.lines && a.hash == b.hash, "lines differ");
	}
	return 0;
}
