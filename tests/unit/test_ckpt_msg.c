/*
 * test_ckpt_msg.c - QMP messages without I/O (line splitting, the four
 * message kinds, every malformed shape, command lines) and the checkpoint
 * bookkeeping every backend shares (merge, cover, again, epochs,
 * durations), driven through the calls a backend makes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint/ckpt.h"
#include "checkpoint/qmp_msg.h"

static void watchdog(void)
{
	alarm(30);
}

TestSuite(qmp_msg, .init = watchdog);
TestSuite(qmp_split, .init = watchdog);
TestSuite(ckpt, .init = watchdog);

static int parse(const char *s, struct qmp_msg *m, char *err)
{
	return qmp_msg_parse(s, strlen(s), m, err, 128);
}

Test(qmp_msg, greeting)
{
	struct qmp_msg m;
	char err[128];

	cr_assert_eq(parse("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}},"
			   " \"capabilities\": [\"oob\"]}}", &m, err), 0);
	cr_assert_eq(m.type, QMP_MSG_GREETING);
	qmp_msg_free(&m);
}

Test(qmp_msg, return_with_id)
{
	struct qmp_msg m;
	char err[128];

	cr_assert_eq(parse("{\"return\": {\"status\": \"colo\"}, \"id\": 42}",
			   &m, err), 0);
	cr_assert_eq(m.type, QMP_MSG_RETURN);
	cr_assert(m.has_id);
	cr_assert_eq(m.id, 42);
	cr_assert_str_eq(json_string_value(json_object_get(m.ret, "status")),
			 "colo");
	qmp_msg_free(&m);
	cr_assert_eq(parse("{\"return\": {}}", &m, err), 0);
	cr_assert_not(m.has_id);
	qmp_msg_free(&m);
}

Test(qmp_msg, error_reply)
{
	struct qmp_msg m;
	char err[128];

	cr_assert_eq(parse("{\"id\": 3, \"error\": {\"class\": "
			   "\"GenericError\", \"desc\": \"no COLO\"}}", &m,
			   err), 0);
	cr_assert_eq(m.type, QMP_MSG_ERROR);
	cr_assert_str_eq(m.err_class, "GenericError");
	cr_assert_str_eq(m.err_desc, "no COLO");
	cr_assert_eq(m.id, 3);
	qmp_msg_free(&m);
}

Test(qmp_msg, event_with_timestamp)
{
	struct qmp_msg m;
	char err[128];

	cr_assert_eq(parse("{\"timestamp\": {\"seconds\": 1700000000, "
			   "\"microseconds\": 123456}, \"event\": \"COLO_EXIT\","
			   " \"data\": {\"mode\": \"primary\", \"reason\": "
			   "\"error\"}}", &m, err), 0);
	cr_assert_eq(m.type, QMP_MSG_EVENT);
	cr_assert_str_eq(m.event, "COLO_EXIT");
	cr_assert_eq(m.ts_us, 1700000000123456ULL);
	cr_assert_str_eq(json_string_value(json_object_get(m.data, "reason")),
			 "error");
	qmp_msg_free(&m);
	cr_assert_eq(parse("{\"event\": \"STOP\"}", &m, err), 0);
	cr_assert_null(m.data);
	cr_assert_eq(m.ts_us, 0);
	qmp_msg_free(&m);
}

Test(qmp_msg, malformed_shapes_are_refused)
{
	static const char *const bad[] = {
		"not json", "[1,2]", "\"str\"", "{}", "{\"foo\": 1}",
		"{\"return\": 1, \"id\": \"x\"}", "{\"return\": 1, \"id\": -4}",
		"{\"error\": 5}", "{\"error\": {\"desc\": \"d\"}}",
		"{\"event\": 7}", "{\"event\": \"STOP\", \"data\": [1]}",
		"{\"QMP\": 1}", "{\"return\": {}, \"return\": {}}",
		"{\"return\": {}", "",
	};
	struct qmp_msg m;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_assert_eq(parse(bad[i], &m, err), -EBADMSG, "accepted %s",
			     bad[i]);
		cr_assert_neq(err[0], '\0', "no reason for %s", bad[i]);
		cr_assert_null(m.root);
	}
}

Test(qmp_msg, command_line)
{
	json_t *args = json_pack("{s:I}", "x-checkpoint-delay",
				 (json_int_t)4294967295LL);
	char *l = qmp_cmd_line("migrate-set-parameters", args, 9);

	cr_assert_str_eq(l, "{\"execute\":\"migrate-set-parameters\","
			 "\"id\":9,\"arguments\":{\"x-checkpoint-delay\":"
			 "4294967295}}\r\n");
	free(l);
	/* args stay the caller's */
	cr_assert_eq(json_integer_value(json_object_get(args,
			"x-checkpoint-delay")), 4294967295LL);
	json_decref(args);
	l = qmp_cmd_line("query-status", NULL, 1);
	cr_assert_str_eq(l, "{\"execute\":\"query-status\",\"id\":1}\r\n");
	free(l);
	args = json_array();
	cr_assert_null(qmp_cmd_line("x", args, 1));
	json_decref(args);
}

/* ---- line splitting ----------------------------------------------------------- */

struct lines {
	char got[8][64];
	int n, stop_after;
};

static bool collect(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;

	snprintf(l->got[l->n++], 64, "%.*s", (int)len, line);
	return l->n != l->stop_after;
}

Test(qmp_split, lines_crlf_partial_and_empty)
{
	const char *s = "{\"a\":1}\r\n\r\n{\"b\":2}\n{\"c\":";
	struct lines l = { .stop_after = -1 };
	long used = qmp_split(s, strlen(s), collect, &l);

	cr_assert_eq(l.n, 2);
	cr_assert_str_eq(l.got[0], "{\"a\":1}");
	cr_assert_str_eq(l.got[1], "{\"b\":2}");
	cr_assert_eq(used, (long)(strlen(s) - strlen("{\"c\":")));
}

Test(qmp_split, stop_early_counts_the_line)
{
	const char *s = "x\ny\nz\n";
	struct lines l = { .stop_after = 2 };

	cr_assert_eq(qmp_split(s, strlen(s), collect, &l), 4);
	cr_assert_eq(l.n, 2);
}

Test(qmp_split, endless_line_is_an_error)
{
	size_t n = QMP_LINE_MAX + 10;
	char *s = malloc(n);
	struct lines l = { .stop_after = -1 };

	memset(s, 'x', n);
	cr_assert_eq(qmp_split(s, n, collect, &l), -EMSGSIZE);
	s[n - 1] = '\n';
	cr_assert_eq(qmp_split(s, n, collect, &l), -EMSGSIZE);
	cr_assert_eq(qmp_split(s, 100, collect, &l), 0, "short partial line");
	free(s);
}

/* ---- the shared checkpoint bookkeeping -------------------------------------- */

struct seen {
	int begins, completes, colo_on, colo_off;
	uint32_t epoch_at_complete[8];
};

static void on_begin(void *arg)
{
	((struct seen *)arg)->begins++;
}

static struct ckpt *the_ck;

static void on_complete(void *arg)
{
	struct seen *s = arg;

	s->epoch_at_complete[s->completes++ % 8] = the_ck->epoch;
}

static void on_colo(void *arg, bool active, const char *why)
{
	struct seen *s = arg;

	(void)why;
	if (active)
		s->colo_on++;
	else
		s->colo_off++;
}

static struct ckpt *new_ckpt(struct seen *s, uint32_t epoch)
{
	static struct ckpt c;
	struct ckpt_config cfg = { .kind = CKPT_NONE };
	struct ckpt_events ev = { on_begin, on_complete, on_colo, s };
	char err[128];

	memset(s, 0, sizeof(*s));
	cr_assert_eq(ckpt_init(&c, NULL, &cfg, &ev, epoch, err, sizeof(err)), 0);
	the_ck = &c;
	return &c;
}

Test(ckpt, none_backend_wants_one_for_ever)
{
	struct seen s;
	struct ckpt *c = new_ckpt(&s, 0);

	ckpt_request(c, CKPT_R_MISMATCH, 0, 1000);
	cr_assert_eq(c->state, CKPT_ASKED);
	ckpt_request(c, CKPT_R_HOLD_TIMEOUT, 0, 2000);
	cr_assert_eq(c->requests[CKPT_R_MISMATCH], 1);
	cr_assert_eq(c->issued, 1);
	cr_assert_eq(c->merged, 1, "logged once, merged after");
	ckpt_cancel(c);
	cr_assert_eq(c->state, CKPT_IDLE, "solo mode gives up on it");
	ckpt_fini(c);
}

/* A backend that accepts: state ASKED until QEMU's STOP. */
static int ok_request(void *ctx, enum ckpt_reason r)
{
	(void)ctx;
	(void)r;
	return 0;
}

static void ok_describe(void *ctx, char *b, size_t n)
{
	(void)ctx;
	snprintf(b, n, "test");
}

static void ok_free(void *ctx)
{
	(void)ctx;
}

static const struct ckpt_ops accepting = { "accepting", ok_request,
					   ok_describe, ok_free };

Test(ckpt, merge_cover_again_and_epochs)
{
	struct seen s;
	struct ckpt *c = new_ckpt(&s, 7);

	c->ops = &accepting;
	ckpt_request(c, CKPT_R_MISMATCH, 7, 1000000);
	cr_assert_eq(c->state, CKPT_ASKED);
	ckpt_request(c, CKPT_R_HOLD_TIMEOUT, 7, 2000000);
	cr_assert_eq(c->merged, 1);
	cr_assert_eq(c->issued, 1);
	ckpt_begun(c, 5000000);
	cr_assert_eq(c->state, CKPT_RUNNING);
	cr_assert_eq(s.begins, 1);
	/* output of epoch 7, being saved now: covered */
	ckpt_request(c, CKPT_R_MISMATCH, 7, 6000000);
	cr_assert_eq(c->covered, 1);
	cr_assert_not(c->again);
	/* a channel gap says nothing about epochs: another one after */
	ckpt_request(c, CKPT_R_CHANNEL, CKPT_ANY_EPOCH, 6000000);
	cr_assert(c->again);
	ckpt_completed(c, 55000000);
	cr_assert_eq(s.completes, 1);
	cr_assert_eq(s.epoch_at_complete[0], 7, "events see the ending epoch");
	cr_assert_eq(c->epoch, 8);
	cr_assert_eq(c->completed_by[CKPT_R_MISMATCH], 1);
	cr_assert_eq(c->hist[0].stop_us, 50000);
	cr_assert_eq(c->hist[0].wait_us, 54000);
	cr_assert_eq(c->hist[0].merged, 2);
	/* the kept request went out at once */
	cr_assert_eq(c->state, CKPT_ASKED);
	cr_assert_eq(c->reason, CKPT_R_CHANNEL);
	cr_assert_eq(c->issued, 2);
	ckpt_fini(c);
}

Test(ckpt, qemu_timer_and_first_resume)
{
	struct seen s;
	struct ckpt *c = new_ckpt(&s, 0);

	c->ops = &accepting;
	/* COLO's first RESUME has no STOP before it: it ends epoch 0 */
	ckpt_completed(c, 1000);
	cr_assert_eq(c->epoch, 1);
	cr_assert_eq(c->hist[0].reason, CKPT_R_RESYNC);
	/* QEMU's own timer */
	ckpt_begun(c, 2000000);
	ckpt_completed(c, 3000000);
	cr_assert_eq(c->unrequested, 1);
	cr_assert_eq(c->completed_by[CKPT_R_PERIODIC], 1);
	cr_assert_eq(c->epoch, 2);
	cr_assert_eq(ckpt_percentile(c, false, 50), 1000);
	cr_assert_eq(ckpt_percentile(c, true, 50), 0, "no request waited");
	ckpt_fini(c);
}

Test(ckpt, colo_end_forgets_requests)
{
	struct seen s;
	struct ckpt *c = new_ckpt(&s, 0);

	c->ops = &accepting;
	ckpt_request(c, CKPT_R_MISMATCH, 0, 1);
	ckpt_colo(c, false, CKPT_END_ERROR, "test");
	cr_assert_eq(c->state, CKPT_IDLE);
	cr_assert_eq(s.colo_off, 1);
	ckpt_request(c, CKPT_R_MISMATCH, 0, 1);
	ckpt_cancel(c);
	cr_assert_eq(c->state, CKPT_IDLE);
	ckpt_fini(c);
}

Test(ckpt, percentiles)
{
	struct seen s;
	struct ckpt *c = new_ckpt(&s, 0);

	c->ops = &accepting;
	for (int i = 1; i <= 100; i++) {
		ckpt_request(c, CKPT_R_MISMATCH, CKPT_ANY_EPOCH, 0);
		ckpt_begun(c, 1000000);
		ckpt_completed(c, 1000000 + (uint64_t)i * 1000000);
	}
	cr_assert_eq(ckpt_percentile(c, false, 50), 50000);
	cr_assert_eq(ckpt_percentile(c, false, 99), 99000);
	cr_assert_eq(ckpt_percentile(c, false, 100), 100000);
	ckpt_fini(c);
}
