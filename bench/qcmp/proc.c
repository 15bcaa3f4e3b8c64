/*
 * proc.c - start, stop and measure the comparator processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/qcmp/proc.h"

static int open_or_null(const char *path, int flags)
{
	return open(path ? path : "/dev/null", flags | O_CLOEXEC, 0644);
}

pid_t proc_spawn(char *const argv[], const char *out, const char *err)
{
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int o = open_or_null(out, O_WRONLY | O_CREAT | O_TRUNC);
	int e = open_or_null(err, O_WRONLY | O_CREAT | O_TRUNC);
	pid_t pid = -EIO;

	if (in >= 0 && o >= 0 && e >= 0)
		pid = fork();
	if (pid == 0) {
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 && pid != -EIO)
		pid = -errno;
	if (in >= 0)
		close(in);
	if (o >= 0)
		close(o);
	if (e >= 0)
		close(e);
	return pid;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

bool proc_stop(pid_t pid, unsigned timeout_ms, int *status)
{
	int st = 0;

	kill(pid, SIGTERM);
	for (unsigned t = 0; t < timeout_ms; t += 5) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			goto done;
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
done:
	if (status)
		*status = st;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool proc_alive(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == 0;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return 0;
}

/* utime + stime: fields 14 and 15, counted after the ")" of the name. */
static int stat_ticks(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, sizeof(buf)))
		return -ENOENT;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%llu %llu", &ut, &st) != 2)
		return -EINVAL;
	*ticks = ut + st;
	return 0;
}

int proc_cpu(pid_t pid, struct cpu_sample *s)
{
	char path[300], buf[256];
	struct dirent *de;
	DIR *d;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = stat_ticks(pid, &s->ticks)))
		return r;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
			 (int)pid, de->d_name);
		if (read_file(path, buf, sizeof(buf)))
			continue;	/* the thread just ended */
		s->sched_ns += strtoull(buf, NULL, 10);
		s->threads++;
	}
	closedir(d);
	return 0;
}

long proc_hz(void)
{
	return sysconf(_SC_CLK_TCK);
}
