/*
 * test_ckpt_libvirt: the QMP client through libvirt (checkpoint/libvirt.h)
 * where no libvirtd answers: the client learns why in libvirt's own
 * words, and a fence reports the peer unreachable within its deadline.
 * (A real libvirtd with real domains: tests/e2e/libvirt-colo.sh.)
 */
#include <criterion/criterion.h>
#include <string.h>

#include "checkpoint/libvirt.h"
#include "checkpoint/qmp.h"
#include "common/loop.h"

#define NOWHERE "qemu+unix:///system?socket=/nonexistent/colokit-test-sock"

struct seen {
	struct loop *loop;
	char why[400];
	bool down, ready, done;
	enum lv_fence_result r;
	char msg[400];
};

static void on_ready(void *arg)
{
	struct seen *s = arg;

	s->ready = true;
	loop_stop(s->loop);
}

static void on_down(void *arg, const char *why)
{
	struct seen *s = arg;

	s->down = true;
	snprintf(s->why, sizeof(s->why), "%s", why);
	loop_stop(s->loop);
}

static void on_timeout(struct loop *loop, uint64_t id, void *arg)
{
	(void)id, (void)arg;
	loop_stop(loop);
}

Test(ckpt_libvirt, unreachable_libvirtd_is_reported_in_its_words)
{
	struct qmp_config cfg = { .name = "t", .uri = NOWHERE,
				  .domain = "pvm", .timeout_ms = 5000 };
	struct seen s = { 0 };
	struct qmp_events ev = { on_ready, NULL, on_down, &s };
	struct qmp *q;
	char err[200], tgt[420];

	if (!lv_available())
		cr_skip_test("built without libvirt");
	cr_assert_eq(loop_new(&s.loop), 0);
	cr_assert_eq(qmp_new(s.loop, &cfg, &ev, &q, err, sizeof(err)), 0,
		     "%s", err);
	loop_add_timer(s.loop, 10000, 0, on_timeout, NULL, NULL);
	loop_run(s.loop);
	cr_assert(s.down && !s.ready, "no verdict in 10 s");
	cr_expect(strstr(s.why, "libvirt: cannot connect to " NOWHERE),
		  "%s", s.why);
	cr_expect(strstr(s.why, "/nonexistent/colokit-test-sock"), "%s",
		  s.why);
	cr_expect_str_eq(qmp_target(&cfg, tgt, sizeof(tgt)),
			 "domain pvm at " NOWHERE);
	qmp_free(q);
	loop_free(s.loop);
}

Test(ckpt_libvirt, a_domain_without_a_uri_is_refused)
{
	struct qmp_config cfg = { .name = "t", .domain = "pvm" };
	struct seen s = { 0 };
	struct qmp_events ev = { on_ready, NULL, on_down, &s };
	struct qmp *q;
	char err[200];

	cr_assert_eq(loop_new(&s.loop), 0);
	cr_assert_neq(qmp_new(s.loop, &cfg, &ev, &q, err, sizeof(err)), 0);
	cr_expect(strstr(err, "\"pvm\" without a URI"), "%s", err);
	loop_free(s.loop);
}

static void fence_done(void *arg, enum lv_fence_result r, const char *msg)
{
	struct seen *s = arg;

	s->done = true;
	s->r = r;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	loop_stop(s->loop);
}

Test(ckpt_libvirt, fence_of_an_unreachable_peer)
{
	struct seen s = { 0 };
	struct lv_job *j = NULL;

	if (!lv_available())
		cr_skip_test("built without libvirt");
	cr_assert_eq(loop_new(&s.loop), 0);
	cr_assert_eq(lv_destroy_start(s.loop, NOWHERE, "pvm", 5000, fence_done,
				      &s, &j), 0);
	loop_run(s.loop);
	cr_assert(s.done);
	cr_expect_eq(s.r, LV_FENCE_UNREACHABLE, "%s: %s",
		     lv_fence_result_name(s.r), s.msg);
	cr_expect(strstr(s.msg, "cannot connect to " NOWHERE), "%s", s.msg);
	loop_free(s.loop);
}

/* A deadline shorter than any answer: the timeout, and the job's late
 * result is dropped (no callback after it, no crash at exit). */
Test(ckpt_libvirt, fence_deadline)
{
	struct seen s = { 0 };

	if (!lv_available())
		cr_skip_test("built without libvirt");
	cr_assert_eq(loop_new(&s.loop), 0);
	/* 10.255.255.1: no route here, or a connect that never completes */
	cr_assert_eq(lv_destroy_start(s.loop, "qemu+tcp://10.255.255.1/system",
				      "pvm", 100, fence_done, &s, NULL), 0);
	loop_run(s.loop);
	cr_assert(s.done);
	cr_expect(s.r == LV_FENCE_TIMEOUT || s.r == LV_FENCE_UNREACHABLE,
		  "%s: %s", lv_fence_result_name(s.r), s.msg);
	loop_free(s.loop);
}
