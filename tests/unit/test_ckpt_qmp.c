/*
 * test_ckpt_qmp.c - the QMP client and the QMP checkpoint backend against
 * a real QEMU (the lab build: $COLOKIT_QEMU, else
 * qemu-scripts/build-qemu.sh --path), started here with "-M none" and a
 * QMP socket: replies, QEMU's own errors, STOP/RESUME events, QEMU killed
 * and restarted (reconnection), and monitors that speak garbage or stay
 * silent (small python3 servers: real bytes on a real socket).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/ckpt.h"
#include "checkpoint/qmp.h"
#include "common/loop.h"

static void watchdog(void)
{
	alarm(60);
}

static char dir[64];

/* Each test makes one directory with one socket in it. */
static void cleanup(void)
{
	char sock[128];

	if (!dir[0])
		return;
	snprintf(sock, sizeof(sock), "%s/qmp", dir);
	unlink(sock);
	rmdir(dir);
}

TestSuite(qmp_client, .init = watchdog, .fini = cleanup);
TestSuite(qmp_backend, .init = watchdog, .fini = cleanup);

/* ---- processes ----------------------------------------------------------- */

static char qemu_bin[512];

static void find_qemu(void)
{
	const char *e = getenv("COLOKIT_QEMU");
	FILE *f;

	if (e && *e) {
		snprintf(qemu_bin, sizeof(qemu_bin), "%s", e);
	} else {
		f = popen("qemu-scripts/build-qemu.sh --path 2>/dev/null", "r");
		cr_assert(f);
		if (!fgets(qemu_bin, sizeof(qemu_bin), f))
			qemu_bin[0] = '\0';
		pclose(f);
		qemu_bin[strcspn(qemu_bin, "\n")] = '\0';
	}
	cr_assert(qemu_bin[0] && access(qemu_bin, X_OK) == 0,
		  "no lab QEMU: run qemu-scripts/build-qemu.sh or set "
		  "COLOKIT_QEMU (got \"%s\")", qemu_bin);
}

static void mkdir_tmp(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test-qmp-XXXXXX");
	cr_assert(mkdtemp(dir));
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		/* a failed assertion ends the test process: its QEMU or
		 * monitor must not outlive it (it would hold make's pipe) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 0);
		dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static pid_t start_qemu(const char *sock)
{
	char qmp[200];
	char *argv[] = { qemu_bin, "-M", "none", "-nodefaults", "-nographic",
			 "-display", "none", "-qmp", qmp, NULL };

	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", sock);
	return spawn(argv);
}

/* A python3 monitor: sends GREETING, then answers per MODE. */
static pid_t start_fake(const char *sock, const char *mode)
{
	static const char script[] =
		"import socket,sys,os\n"
		"p,mode=sys.argv[1],sys.argv[2]\n"
		"s=socket.socket(socket.AF_UNIX);s.bind(p+'.t');s.listen(1)\n"
		"os.rename(p+'.t',p)\n"
		"c,_=s.accept();f=c.makefile('rwb')\n"
		"c.sendall(b'{\"QMP\": {\"version\": {}, \"capabilities\": []}}\\r\\n')\n"
		"f.readline()\n"
		"c.sendall(b'{\"return\": {}, \"id\": 1}\\r\\n')\n"
		"f.readline()\n"
		"if mode=='garbage': c.sendall(b'this is not json\\r\\n')\n"
		"elif mode=='wrongid': c.sendall(b'{\"return\": {}, \"id\": 999}\\r\\n')\n"
		"c.recv(1)\n";
	char *argv[] = { "/usr/bin/python3", "-c", (char *)script, (char *)sock,
			 (char *)mode, NULL };
	pid_t pid = spawn(argv);
	struct stat st;

	for (int i = 0; i < 200 && stat(sock, &st) < 0; i++)
		usleep(10000);
	return pid;
}

static void stop_pid(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* ---- a client with recorded callbacks -------------------------------------- */

struct rec {
	struct loop *loop;
	struct qmp *q;
	int ready, down, replies, events;
	char down_why[256];
	char last_event[32];
	char err_class[64], err_desc[256];
	json_t *ret;
	bool want_event;
};

static void r_ready(void *arg)
{
	struct rec *r = arg;

	r->ready++;
	loop_stop(r->loop);
}

static void r_event(void *arg, const char *ev, json_t *data, uint64_t ts)
{
	struct rec *r = arg;

	(void)data;
	(void)ts;
	r->events++;
	snprintf(r->last_event, sizeof(r->last_event), "%s", ev);
	if (r->want_event)
		loop_stop(r->loop);
}

static void r_down(void *arg, const char *why)
{
	struct rec *r = arg;

	r->down++;
	snprintf(r->down_why, sizeof(r->down_why), "%s", why);
	loop_stop(r->loop);
}

static void r_reply(void *arg, json_t *ret, const char *cls, const char *desc)
{
	struct rec *r = arg;

	r->replies++;
	json_decref(r->ret);
	r->ret = ret ? json_incref(ret) : NULL;
	snprintf(r->err_class, sizeof(r->err_class), "%s", cls ? cls : "");
	snprintf(r->err_desc, sizeof(r->err_desc), "%s", desc ? desc : "");
	loop_stop(r->loop);
}

static void on_deadline(struct loop *loop, uint64_t id, void *arg)
{
	(void)id;
	*(bool *)arg = true;
	loop_stop(loop);
}

/* Run the loop until a callback stops it or MS pass: false on deadline. */
static bool run_for(struct rec *r, uint64_t ms)
{
	bool late = false;
	uint64_t t;

	loop_add_timer(r->loop, ms, 0, on_deadline, &late, &t);
	loop_run(r->loop);
	if (!late)
		loop_del_timer(r->loop, t);
	return !late;
}

static void open_rec(struct rec *r, const char *sock, uint64_t timeout_ms,
		     uint64_t reconnect_ms)
{
	struct qmp_events ev = { r_ready, r_event, r_down, r };
	struct qmp_config cfg = { .timeout_ms = timeout_ms,
				  .reconnect_ms = reconnect_ms };
	char err[128];

	memset(r, 0, sizeof(*r));
	cr_assert_eq(loop_new(&r->loop), 0);
	snprintf(cfg.name, sizeof(cfg.name), "test");
	snprintf(cfg.path, sizeof(cfg.path), "%s", sock);
	cr_assert_eq(qmp_new(r->loop, &cfg, &ev, &r->q, err, sizeof(err)), 0,
		     "%s", err);
}

static void close_rec(struct rec *r)
{
	qmp_free(r->q);
	json_decref(r->ret);
	loop_free(r->loop);
}

/* Connect, retrying while QEMU creates its socket. */
static void wait_ready(struct rec *r)
{
	for (int i = 0; i < 100 && !r->ready; i++)
		run_for(r, 100);
	cr_assert_eq(r->ready, 1, "not connected: %s", r->down_why);
}

static void call(struct rec *r, const char *cmd, json_t *args)
{
	int before = r->replies;

	cr_assert_eq(qmp_command(r->q, cmd, args, r_reply, r), 0);
	cr_assert_eq(r->replies, before, "callback ran inside qmp_command");
	cr_assert(run_for(r, 5000), "no reply to %s", cmd);
	cr_assert_eq(r->replies, before + 1);
	json_decref(args);
}

/* A real QEMU in a new directory, and a client connected to it (retrying
 * every 50 ms): QEMU's PID; its socket's path into SOCK. */
static pid_t qemu_and_client(struct rec *r, char *sock, size_t len)
{
	pid_t pid;

	find_qemu();
	mkdir_tmp();
	snprintf(sock, len, "%s/qmp", dir);
	pid = start_qemu(sock);
	open_rec(r, sock, 3000, 50);
	wait_ready(r);
	return pid;
}

/* ---- client ---------------------------------------------------------------- */

Test(qmp_client, commands_errors_and_events)
{
	char sock[128];
	struct rec r;
	pid_t pid = qemu_and_client(&r, sock, sizeof(sock));

	call(&r, "query-status", NULL);
	cr_assert_not_null(r.ret);
	cr_assert_str_eq(json_string_value(json_object_get(r.ret, "status")),
			 "running");

	call(&r, "no-such-command", NULL);
	cr_assert_null(r.ret);
	cr_assert_str_eq(r.err_class, "CommandNotFound");

	call(&r, "migrate-set-parameters",
	     json_pack("{s:s}", "x-checkpoint-delay", "soon"));
	cr_assert_null(r.ret);
	cr_assert_str_eq(r.err_class, "GenericError");
	cr_assert(strstr(r.err_desc, "x-checkpoint-delay"), "%s", r.err_desc);

	r.want_event = true;
	cr_assert_eq(qmp_command(r.q, "stop", NULL, NULL, NULL), 0);
	cr_assert(run_for(&r, 5000));
	cr_assert_str_eq(r.last_event, "STOP");
	cr_assert_eq(qmp_command(r.q, "cont", NULL, NULL, NULL), 0);
	cr_assert(run_for(&r, 5000));
	cr_assert_str_eq(r.last_event, "RESUME");
	cr_assert_eq(qmp_stats(r.q)->errors, 2);

	close_rec(&r);
	stop_pid(pid);
}

Test(qmp_client, qemu_killed_then_restarted)
{
	char sock[128];
	struct rec r;
	pid_t pid = qemu_and_client(&r, sock, sizeof(sock));

	/* a command in flight when QEMU dies fails, exactly once (a first
	 * connection attempt before QEMU made its socket was a "down" too) */
	int d0 = r.down;

	cr_assert_eq(qmp_command(r.q, "query-status", NULL, r_reply, &r), 0);
	stop_pid(pid);
	unlink(sock);
	for (int i = 0; i < 50 && (r.down == d0 || !r.replies); i++)
		run_for(&r, 100);
	cr_assert_eq(r.down, d0 + 1, "down %d replies %d: %s", r.down,
		     r.replies, r.down_why);
	cr_assert_geq(r.replies, 1);
	if (!r.ret)
		cr_assert_str_eq(r.err_class, "Disconnected");
	cr_assert_eq(qmp_is_ready(r.q), false);

	/* while down, commands fail with NotReady (after the call) */
	cr_assert_eq(qmp_command(r.q, "query-status", NULL, r_reply, &r), 0);
	cr_assert(run_for(&r, 1000));
	cr_assert_str_eq(r.err_class, "NotReady");

	pid = start_qemu(sock);
	for (int i = 0; i < 100 && r.ready < 2; i++)
		run_for(&r, 100);
	cr_assert_eq(r.ready, 2, "no reconnection");
	call(&r, "query-status", NULL);
	cr_assert_not_null(r.ret);
	cr_assert_geq(qmp_stats(r.q)->disconnects, 1);
	close_rec(&r);
	stop_pid(pid);
}

static void garbage_case(const char *mode, const char *expect)
{
	char sock[128];
	struct rec r;
	pid_t pid;

	mkdir_tmp();
	snprintf(sock, sizeof(sock), "%s/qmp", dir);
	pid = start_fake(sock, mode);
	open_rec(&r, sock, 2000, 0);
	wait_ready(&r);
	cr_assert_eq(qmp_command(r.q, "query-status", NULL, r_reply, &r), 0);
	for (int i = 0; i < 30 && !r.down; i++)
		run_for(&r, 100);
	cr_assert_eq(r.down, 1, "%s: connection kept", mode);
	cr_assert(strstr(r.down_why, expect), "%s: %s", mode, r.down_why);
	cr_assert_eq(r.replies, 1, "the command got no answer");
	cr_assert_null(r.ret);
	close_rec(&r);
	stop_pid(pid);
	cleanup();
}

Test(qmp_client, garbage_closes_the_connection)
{
	garbage_case("garbage", "not JSON");
	garbage_case("wrongid", "no command of ours");
}

Test(qmp_client, silent_monitor_times_out)
{
	char sock[128];
	struct rec r;
	pid_t pid;

	mkdir_tmp();
	snprintf(sock, sizeof(sock), "%s/qmp", dir);
	pid = start_fake(sock, "silent");
	open_rec(&r, sock, 300, 0);
	wait_ready(&r);
	cr_assert_eq(qmp_command(r.q, "query-status", NULL, r_reply, &r), 0);
	cr_assert(run_for(&r, 3000));
	cr_assert_str_eq(r.err_class, "Timeout");
	cr_assert(strstr(r.err_desc, "query-status"), "%s", r.err_desc);
	cr_assert_eq(qmp_stats(r.q)->timeouts, 1);
	close_rec(&r);
	stop_pid(pid);
}

Test(qmp_client, nothing_listening)
{
	struct rec r;

	open_rec(&r, "/nonexistent/qmp.sock", 300, 0);
	cr_assert_eq(r.down, 1, "a failed first attempt is reported");
	cr_assert(strstr(r.down_why, "/nonexistent/qmp.sock"), "%s",
		  r.down_why);
	close_rec(&r);
}

/* ---- the backend, without COLO ---------------------------------------------- */

static void nop(void *arg)
{
	(void)arg;
}

static void nop_colo(void *arg, bool a, const char *w)
{
	(void)arg;
	(void)a;
	(void)w;
}

Test(qmp_backend, request_waits_while_colo_is_not_running)
{
	struct ckpt_config cfg = { .kind = CKPT_QMP, .primary = true,
				   .timeout_ms = 2000, .reconnect_ms = 50 };
	struct ckpt_events ev = { nop, nop, nop_colo, NULL };
	struct loop *loop;
	struct ckpt c;
	char err[256], text[512];
	pid_t pid;
	uint64_t t;
	bool late = false;

	find_qemu();
	mkdir_tmp();
	snprintf(cfg.qmp, sizeof(cfg.qmp), "%s/qmp", dir);
	pid = start_qemu(cfg.qmp);
	cr_assert_eq(loop_new(&loop), 0);
	cr_assert_eq(ckpt_init(&c, loop, &cfg, &ev, 0, err, sizeof(err)), 0,
		     "%s", err);
	loop_add_timer(loop, 1500, 0, on_deadline, &late, &t);
	loop_run(loop);
	c.ops->describe(c.ctx, text, sizeof(text));
	cr_assert(strstr(text, "ready"), "%s", text);
	cr_assert(strstr(text, "migration none"), "%s", text);

	ckpt_request(&c, CKPT_R_MISMATCH, 0, 1);
	cr_assert_eq(c.state, CKPT_ASKED, "wanted, not refused");
	cr_assert_eq(c.refused, 0);

	stop_pid(pid);
	late = false;
	loop_add_timer(loop, 500, 0, on_deadline, &late, &t);
	loop_run(loop);
	c.ops->describe(c.ctx, text, sizeof(text));
	cr_assert(strstr(text, "QMP down"), "%s", text);
	cr_assert_eq(c.state, CKPT_ASKED, "still wanted: nothing released");
	ckpt_fini(&c);
	loop_free(loop);
}
