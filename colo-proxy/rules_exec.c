/*
 * rules_exec: run iptables-legacy-restore, nft... as child processes,
 * without a shell: fork, execv of the full path, stdin/stdout/stderr on
 * pipes pumped with poll() (so that neither side can block the other),
 * a 30 s deadline, and the child's stderr quoted in ERR on failure.
 *
 * stdin is a pipe, not a socketpair: `nft -f -` opens /dev/stdin, which
 * fails for a socket.  SIGPIPE is blocked while we write (a child that
 * exits early must not kill the daemon) and a SIGPIPE we caused is
 * consumed before the mask is restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "colo-proxy/rules_int.h"

#define RUN_TIMEOUT_MS 30000
#define RUN_OUT_MAX (64U << 20)		/* stdout kept (iptables-save) */
#define RUN_ERR_MAX 1024		/* stderr kept */
#define RUN_QUOTE_MAX 480		/* stderr quoted in ERR */

static const char *const extra_dirs[] = { "/usr/sbin", "/sbin" };

void rules_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_exec_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* DIR/NAME into PATH if it is an executable file. */
static bool try_dir(const char *dir, size_t dirlen, const char *name,
		    char *path, size_t len)
{
	int n;

	if (dirlen == 0 || dir[0] != '/')	/* no relative PATH entries */
		return false;
	n = snprintf(path, len, "%.*s/%s", (int)dirlen, dir, name);
	return n > 0 && (size_t)n < len && is_exec_file(path);
}

int rules_find_cmd(const char *name, char *path, size_t len)
{
	const char *p = getenv("PATH");
	size_t i;

	while (p && *p) {
		const char *end = strchrnul(p, ':');

		if (try_dir(p, (size_t)(end - p), name, path, len))
			return 0;
		p = *end ? end + 1 : end;
	}
	for (i = 0; i < sizeof(extra_dirs) / sizeof(extra_dirs[0]); i++)
		if (try_dir(extra_dirs[i], strlen(extra_dirs[i]), name, path, len))
			return 0;
	return -ENOENT;
}

/* ---- the child ------------------------------------------------------------ */

/* FD onto TARGET, open across exec (dup2 to itself would keep CLOEXEC). */
static int move_fd(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

/* In the child: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(const char *path, const char *const argv[], const int fds[3])
{
	static const char msg[] = "exec failed\n";
	sigset_t none;

	if (move_fd(fds[0], 0) < 0 || move_fd(fds[1], 1) < 0 ||
	    move_fd(fds[2], 2) < 0)
		_exit(126);
	close_range(3, ~0U, 0);		/* the daemon's sockets stay ours */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execv(path, (char *const *)argv);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(127);
	_exit(127);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Fork and exec PATH.  PARENT receives our ends: stdin (write), stdout,
 * stderr (read), all non-blocking and close-on-exec.
 */
static int spawn(const char *path, const char *const argv[], int parent[3],
		 pid_t *pid)
{
	int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int child[3], i, ret;

	for (i = 0; i < 3; i++) {
		if (pipe2(p[i], O_CLOEXEC) < 0) {
			ret = -errno;
			goto out;
		}
	}
	/* stdin: the child reads p[0][0]; stdout/stderr: it writes [1] */
	child[0] = p[0][0];
	child[1] = p[1][1];
	child[2] = p[2][1];
	*pid = fork();
	if (*pid < 0) {
		ret = -errno;
		goto out;
	}
	if (*pid == 0)
		child_exec(path, argv, child);
	parent[0] = p[0][1];
	parent[1] = p[1][0];
	parent[2] = p[2][0];
	for (i = 0; i < 3; i++) {
		fcntl(parent[i], F_SETFL, O_NONBLOCK);
		p[i][i == 0 ? 1 : 0] = -1;	/* now owned by PARENT */
	}
	ret = 0;
out:
	for (i = 0; i < 3; i++) {
		close_fd(&p[i][0]);
		close_fd(&p[i][1]);
	}
	return ret;
}

/* ---- pumping -------------------------------------------------------------- */

struct run_io {
	int fd[3];			/* stdin, stdout, stderr; -1 once closed */
	const char *in;
	size_t inlen, inoff;
	bool want_out;
	char *out;
	size_t outlen, outcap;
	char errbuf[RUN_ERR_MAX];
	size_t errn;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pump_in(struct run_io *io)
{
	ssize_t n = write(io->fd[0], io->in + io->inoff, io->inlen - io->inoff);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		io->inoff += (size_t)n;
	/* done, or the child stopped reading (EPIPE): its status tells */
	if (n < 0 || io->inoff == io->inlen)
		close_fd(&io->fd[0]);
}

static int out_reserve(struct run_io *io, size_t more)
{
	size_t cap = io->outcap ? io->outcap : 4096;
	char *p;

	while (cap - io->outlen < more + 1) {
		if (cap >= RUN_OUT_MAX)
			return -EFBIG;
		cap *= 2;
	}
	if (cap == io->outcap)
		return 0;
	p = realloc(io->out, cap);
	if (!p)
		return -ENOMEM;
	io->out = p;
	io->outcap = cap;
	return 0;
}

static int pump_out(struct run_io *io)
{
	char tmp[16384];
	ssize_t n = read(io->fd[1], tmp, sizeof(tmp));
	int ret;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		close_fd(&io->fd[1]);
		return 0;
	}
	if (!io->want_out)
		return 0;
	ret = out_reserve(io, (size_t)n);
	if (ret < 0)
		return ret;
	memcpy(io->out + io->outlen, tmp, (size_t)n);
	io->outlen += (size_t)n;
	io->out[io->outlen] = '\0';
	return 0;
}

static void pump_err(struct run_io *io)
{
	char tmp[4096];
	ssize_t n = read(io->fd[2], tmp, sizeof(tmp));
	size_t room = sizeof(io->errbuf) - 1 - io->errn;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_fd(&io->fd[2]);
		return;
	}
	if ((size_t)n < room)
		room = (size_t)n;
	memcpy(io->errbuf + io->errn, tmp, room);
	io->errn += room;
	io->errbuf[io->errn] = '\0';
}

/* Until the child has closed stdout and stderr (and taken its input). */
static int pump(struct run_io *io)
{
	int64_t deadline = now_ms() + RUN_TIMEOUT_MS;
	struct pollfd p[3];
	int i, n, ret;

	if (io->inlen == 0)
		close_fd(&io->fd[0]);
	while (io->fd[0] >= 0 || io->fd[1] >= 0 || io->fd[2] >= 0) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		for (i = 0; i < 3; i++) {
			p[i].fd = io->fd[i];
			p[i].events = i == 0 ? POLLOUT : POLLIN;
			p[i].revents = 0;
		}
		n = poll(p, 3, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[0].revents)
			pump_in(io);
		if (p[1].revents && (ret = pump_out(io)) < 0)
			return ret;
		if (p[2].revents)
			pump_err(io);
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------------ */

/* "cmd arg arg" (argv[0] as given, not its path) into BUF. */
static void join_argv(const char *const argv[], char *buf, size_t len)
{
	struct rules_text t;
	int i;

	rules_text_init(&t, buf, len);
	for (i = 0; argv[i]; i++)
		rules_text_add(&t, "%s%s", i ? " " : "", argv[i]);
}

/* S as one line: runs of newlines become "; ", other control bytes '?',
 * trailing blanks dropped. */
static void one_line(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	bool nl = false;

	for (; *s && o + 3 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n' || c == '\r') {
			nl = o > 0;
			continue;
		}
		if (nl) {
			buf[o++] = ';';
			buf[o++] = ' ';
			nl = false;
		}
		buf[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	while (o > 0 && (buf[o - 1] == ' ' || buf[o - 1] == '\t'))
		o--;
	buf[o] = '\0';
}

static int report(const char *const argv[], int status, const char *errtext,
		  char *err, size_t errlen)
{
	char cmd[160], quoted[RUN_QUOTE_MAX], how[48];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	join_argv(argv, cmd, sizeof(cmd));
	one_line(errtext, quoted, sizeof(quoted));
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "wait status %#x", status);
	rules_err(err, errlen, "%s: %s: \"%s\"", cmd, how, quoted);
	return -EIO;
}

static int reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* Block SIGPIPE for this thread; undo it, consuming a SIGPIPE we caused. */
static bool block_sigpipe(sigset_t *old)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	pthread_sigmask(SIG_BLOCK, &set, old);
	return sigismember(&pending, SIGPIPE);
}

static void restore_sigpipe(const sigset_t *old, bool was_pending)
{
	struct timespec zero = { 0, 0 };
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

int rules_run(const char *const argv[], const char *input, char **out,
	      size_t *outlen, char *err, size_t errlen)
{
	struct run_io io = { .fd = { -1, -1, -1 } };
	char path[4096];
	sigset_t oldmask;
	bool was_pending;
	int i, status = 0, ret;
	pid_t pid = -1;

	if (out)
		*out = NULL;
	if (rules_find_cmd(argv[0], path, sizeof(path)) < 0) {
		rules_err(err, errlen, "%s: not found in $PATH, /usr/sbin, /sbin",
			  argv[0]);
		return -ENOENT;
	}
	io.in = input ? input : "";
	io.inlen = strlen(io.in);
	io.want_out = out != NULL;
	was_pending = block_sigpipe(&oldmask);
	ret = spawn(path, argv, io.fd, &pid);
	if (ret < 0) {
		rules_err(err, errlen, "%s: cannot start: %s", argv[0],
			  strerror(-ret));
		goto out;
	}
	ret = pump(&io);
	if (ret < 0) {
		kill(pid, SIGKILL);
		rules_err(err, errlen, "%s: %s", argv[0],
			  ret == -ETIMEDOUT ? "no answer in 30 s, killed"
					    : strerror(-ret));
	}
	i = reap(pid, &status);
	if (i < 0 && ret == 0) {
		ret = i;
		rules_err(err, errlen, "%s: waitpid: %s", argv[0], strerror(-i));
	}
	if (ret == 0)
		ret = report(argv, status, io.errbuf, err, errlen);
out:
	restore_sigpipe(&oldmask, was_pending);
	for (i = 0; i < 3; i++)
		close_fd(&io.fd[i]);
	if (ret == 0 && out) {
		if (!io.out && out_reserve(&io, 0) < 0)
			ret = -ENOMEM;
		else
			io.out[io.outlen] = '\0';
		*out = io.out;
		*outlen = io.outlen;
		io.out = NULL;
	}
	free(io.out);
	return ret;
}
