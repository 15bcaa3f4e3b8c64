/*
 * test_relay_daemon.c - the colo-relay binary: -n and its errors, then a
 * pair of daemons on loopback with their control sockets: traffic through
 * them, status/counters/checkpoints (by hand and through coloctl, as an
 * operator would), garbage from a stranger, SIGTERM.
 *
 * The binaries are found next to this test: $B/tests/test_relay_daemon
 * -> $B/bin/colo-relay and $B/bin/coloctl (build/ or build-san/); a test
 * is skipped when one is missing.  The control socket answers root only:
 * those tests are skipped for other users.  Ports are ephemeral: each
 * relay listens on port 0 and its status says which port it got.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000		/* a hang guard, not a threshold */

static void watchdog(void)
{
	alarm(120);
	signal(SIGPIPE, SIG_IGN);
}

TestSuite(relay_daemon, .init = watchdog);

static char bindir[PATH_MAX];

/* $B/bin, from this test's own path; false if NAME is not there. */
static bool find_bin(const char *name, char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return false;
	self[n] = '\0';
	n = snprintf(bindir, sizeof(bindir), "%s/../bin", dirname(self));
	if (n < 0 || (size_t)n >= sizeof(bindir))
		return false;
	n = snprintf(path, len, "%s/%s", bindir, name);
	return n > 0 && (size_t)n < len && access(path, X_OK) == 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run ARGV, its stdout and stderr into OUT; the exit status. */
static int run(char *const argv[], char *out, size_t len)
{
	int p[2], status = -1;
	size_t have = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	while (have + 1 < len && (n = read(p[0], out + have,
					   len - 1 - have)) > 0)
		have += (size_t)n;
	out[have] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static char *tmpdir(void)
{
	static char d[64];

	snprintf(d, sizeof(d), "/tmp/test-relay-XXXXXX");
	cr_assert_not_null(mkdtemp(d));
	return d;
}

/* ---- -n -------------------------------------------------------------------------- */

Test(relay_daemon, check_prints_the_plan)
{
	char bin[PATH_MAX], conf[128], out[4096];
	char *dir = tmpdir();

	if (!find_bin("colo-relay", bin, sizeof(bin)))
		cr_skip_test("no colo-relay binary in %s", bindir);
	snprintf(conf, sizeof(conf), "%s/a.conf", dir);
	write_file(conf, "[relay]\nname = pair0\nrole = primary\n"
		   "listen = 127.0.0.1:8888\nconnect = 10.99.0.2:8890\n");
	cr_expect_eq(run((char *[]){ bin, "-n", "-c", conf, NULL }, out,
			 sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "migrate -d tcp:127.0.0.1:8888"), "%s", out);
	cr_expect(strstr(out, "peer relay at 10.99.0.2:8890"), "%s", out);
	cr_expect(strstr(out, "/run/colo-relay/pair0.sock"), "%s", out);
	write_file(conf, "[relay]\nrole = secondary\nlisten = 10.99.0.2:8890\n"
		   "connect = 127.0.0.1:8888\n[compression]\nenabled = no\n");
	cr_expect_eq(run((char *[]){ bin, "-n", "-c", conf, NULL }, out,
			 sizeof(out)), 0, "%s", out);
	cr_expect(strstr(out, "-incoming tcp:127.0.0.1:8888"), "%s", out);
	cr_expect(strstr(out, "uncompressed"), "%s", out);
	unlink(conf);
	rmdir(dir);
}

Test(relay_daemon, bad_config_names_file_line_value)
{
	char bin[PATH_MAX], conf[128], out[4096], want[256];
	char *dir = tmpdir();

	if (!find_bin("colo-relay", bin, sizeof(bin)))
		cr_skip_test("no colo-relay binary in %s", bindir);
	snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
	write_file(conf, "[relay]\nrole = primary\nlisten = 127.0.0.1:1\n"
		   "connect = 10.0.0.1:2\n[compression]\nlevel = fast\n");
	cr_expect_eq(run((char *[]){ bin, "-n", "-c", conf, NULL }, out,
			 sizeof(out)), 1);
	snprintf(want, sizeof(want), "%s:6: level: \"fast\"", conf);
	cr_expect(strstr(out, want), "\"%s\" lacks \"%s\"", out, want);
	cr_expect_eq(run((char *[]){ bin, "-n", "-c", "/nonexistent", NULL },
			 out, sizeof(out)), 1);
	cr_expect_eq(run((char *[]){ bin, "-x", NULL }, out, sizeof(out)), 2);
	unlink(conf);
	rmdir(dir);
}

/* ---- a daemon pair ------------------------------------------------------------------- */

/* Ask SOCK: the answer (after "ok\n") in OUT; false on error. */
static bool ask(const char *sock, const char *line, char *out, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t end = now_ms() + WAIT_MS;
	size_t have = 0;
	ssize_t n;
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		close(fd);
		if (now_ms() > end)
			return false;
		usleep(20000);
	}
	if (write(fd, line, strlen(line)) < 0) {
		close(fd);
		return false;
	}
	while (have + 1 < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, WAIT_MS) != 1)
			break;
		n = read(fd, out + have, len - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	out[have] = '\0';
	close(fd);
	if (strncmp(out, "ok\n", 3))
		return false;
	memmove(out, out + 3, have - 2);
	return true;
}

/* The number after "KEY " in a text answer, or -1. */
static long long value_of(const char *text, const char *key)
{
	char k[96];
	const char *at;

	snprintf(k, sizeof(k), "\n%s ", key);
	at = strstr(text, k);
	if (!at && !strncmp(text, k + 1, strlen(k + 1)))
		at = text - 1;
	return at ? strtoll(at + strlen(k), NULL, 10) : -1;
}

struct daemon {
	pid_t pid;
	char conf[128], sock[128];
	int port;
};

static void daemon_start(struct daemon *d, const char *bin, const char *dir,
			 const char *role, int connect_port)
{
	char text[512], out[4096];

	snprintf(d->conf, sizeof(d->conf), "%s/%s.conf", dir, role);
	snprintf(d->sock, sizeof(d->sock), "%s/%s.sock", dir, role);
	snprintf(text, sizeof(text), "[relay]\nname = t\nrole = %s\n"
		 "listen = 127.0.0.1:0\nconnect = 127.0.0.1:%d\n"
		 "control = %s\n", role, connect_port, d->sock);
	write_file(d->conf, text);
	d->pid = fork();
	cr_assert_geq(d->pid, 0);
	if (!d->pid) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* the test may fail */
		dup2(null, 2);
		execl(bin, bin, "-d", "-c", d->conf, (char *)NULL);
		_exit(127);
	}
	cr_assert(ask(d->sock, "status\n", out, sizeof(out)),
		  "%s relay: no control socket", role);
	d->port = (int)value_of(out, "listen_port");
	cr_assert_gt(d->port, 0, "%s", out);
}

/* SIGTERM: the daemon exits 0, its socket removed. */
static void daemon_stop(struct daemon *d)
{
	int status = -1;
	int64_t end = now_ms() + WAIT_MS;

	kill(d->pid, SIGTERM);
	while (waitpid(d->pid, &status, WNOHANG) == 0 && now_ms() < end)
		usleep(10000);
	if (now_ms() >= end) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
	}
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "status %d", status);
	cr_expect_neq(access(d->sock, F_OK), 0, "socket left behind");
	unlink(d->conf);
}

static int tcp(int port, bool listening, int *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	if (!listening) {
		cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		return fd;
	}
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	*bound = ntohs(a.sin_port);
	return fd;
}

static bool wait_in(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static bool read_n(int fd, char *b, size_t n)
{
	ssize_t r;

	while (n) {
		if (!wait_in(fd, WAIT_MS) || (r = read(fd, b, n)) <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static bool eof_within(int fd, int ms)
{
	char b[4096];
	int64_t end = now_ms() + ms;
	ssize_t r;

	while (now_ms() < end) {
		if (!wait_in(fd, (int)(end - now_ms())))
			return false;
		r = read(fd, b, sizeof(b));
		if (r == 0 || (r < 0 && errno != EAGAIN))
			return true;
	}
	return false;
}

Test(relay_daemon, pair_relays_and_reports)
{
	char bin[PATH_MAX], coloctl[PATH_MAX], out[16384], req[65536];
	char rep[] = "COLO reply", got[65536];
	struct daemon a, b;
	char *dir = tmpdir();
	int svm_l, svm_port, pvm, svm, stranger;

	if (!find_bin("colo-relay", bin, sizeof(bin)))
		cr_skip_test("no colo-relay binary in %s", bindir);
	if (geteuid() != 0)
		cr_skip_test("the control socket answers root only");
	svm_l = tcp(0, true, &svm_port);
	daemon_start(&b, bin, dir, "secondary", svm_port);
	daemon_start(&a, bin, dir, "primary", b.port);

	/* a stranger speaking HTTP to the secondary relay is shown the door */
	stranger = tcp(b.port, false, NULL);
	cr_assert_eq(write(stranger, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	cr_expect(eof_within(stranger, WAIT_MS));
	close(stranger);

	/* one checkpoint's worth of traffic through the pair */
	pvm = tcp(a.port, false, NULL);
	cr_assert(wait_in(svm_l, WAIT_MS), "relay B never reached the SVM");
	svm = accept(svm_l, NULL, NULL);
	for (size_t i = 0; i < sizeof(req); i++)
		req[i] = "COLO page "[i % 10];
	cr_assert_eq(write(pvm, req, sizeof(req)), (ssize_t)sizeof(req));
	cr_assert(read_n(svm, got, sizeof(req)));
	cr_expect_arr_eq(got, req, sizeof(req));
	cr_assert_eq(write(svm, rep, sizeof(rep)), (ssize_t)sizeof(rep));
	cr_assert(read_n(pvm, got, sizeof(rep)));
	cr_expect_arr_eq(got, rep, sizeof(rep));

	cr_assert(ask(a.sock, "counters\n", out, sizeof(out)));
	cr_expect_eq(value_of(out, "forward.raw_bytes"), (long long)sizeof(req),
		     "%s", out);
	cr_expect_lt(value_of(out, "forward.wire_bytes") * 10,
		     (long long)sizeof(req));
	cr_expect_eq(value_of(out, "reverse.raw_bytes"), (long long)sizeof(rep));
	cr_expect_eq(value_of(out, "relay.sessions"), 1);
	cr_assert(ask(b.sock, "counters\n", out, sizeof(out)));
	cr_expect_eq(value_of(out, "errors.garbage"), 1, "%s", out);
	cr_assert(ask(a.sock, "checkpoints\n", out, sizeof(out)));
	cr_expect_eq(value_of(out, "total"), 1, "%s", out);
	cr_expect_eq(value_of(out, "c0.raw_bytes"), (long long)sizeof(req));
	cr_assert(ask(a.sock, "status json\n", out, sizeof(out)));
	cr_expect(strstr(out, "\"state\":\"up\""), "%s", out);
	cr_expect_not(ask(a.sock, "frobnicate\n", out, sizeof(out)));
	cr_expect(strstr(out, "unknown command"), "%s", out);

	/* coloctl -s SOCKET speaks the same protocol */
	if (find_bin("coloctl", coloctl, sizeof(coloctl))) {
		cr_expect_eq(run((char *[]){ coloctl, "-s", a.sock,
					     "counters", NULL }, out,
				 sizeof(out)), 0, "%s", out);
		cr_expect(strstr(out, "forward.ratio "), "%s", out);
		cr_expect_eq(run((char *[]){ coloctl, "-s", b.sock,
					     "checkpoints", "--json", NULL },
				 out, sizeof(out)), 0, "%s", out);
		cr_expect(strstr(out, "\"c0\":{\"raw_bytes\":65536"), "%s",
			  out);
	}

	/* the primary's QEMU goes: the secondary's sees the end */
	close(pvm);
	cr_expect(eof_within(svm, WAIT_MS));
	close(svm);
	close(svm_l);
	daemon_stop(&a);
	daemon_stop(&b);
	rmdir(dir);
}
