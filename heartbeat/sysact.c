/*
 * sysact: proxy control calls, bridge ports, hook programs (sysact.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "common/loop.h"
#include "heartbeat/sysact.h"

/* ---- colo-proxy's control socket --------------------------------------- */

struct pcall {
	struct loop *loop;
	int fd;
	uint64_t timer;
	char out[256];
	size_t out_len, out_off;
	char in[512];
	size_t in_len;
	sysact_done_cb *cb;
	void *arg;
};

static void pcall_end(struct pcall *c, bool ok, const char *msg)
{
	loop_del_fd(c->loop, c->fd);
	close(c->fd);
	if (c->timer)
		loop_del_timer(c->loop, c->timer);
	c->cb(c->arg, ok, msg);
	free(c);
}

static void pcall_timeout(struct loop *loop, uint64_t id, void *arg)
{
	struct pcall *c = arg;

	(void)loop;
	(void)id;
	c->timer = 0;
	pcall_end(c, false, "no answer in time");
}

static void pcall_answer(struct pcall *c)
{
	char *nl;

	c->in[c->in_len] = '\0';
	if ((nl = strchr(c->in, '\n')))
		*nl = '\0';
	if (!strcmp(c->in, "ok"))
		pcall_end(c, true, "ok");
	else
		pcall_end(c, false, c->in_len ? c->in : "closed without an "
			  "answer");
}

static void pcall_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct pcall *c = arg;
	ssize_t n;

	if (c->out_off < c->out_len) {
		n = send(fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			char m[96];

			snprintf(m, sizeof(m), "send: %s", strerror(errno));
			pcall_end(c, false, m);
			return;
		}
		if (n > 0)
			c->out_off += (size_t)n;
		if (c->out_off == c->out_len)
			loop_mod_fd(loop, fd, LOOP_READ);
		return;
	}
	n = read(fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0)
		c->in_len += (size_t)n;
	if (n <= 0 || c->in_len == sizeof(c->in) - 1)
		pcall_answer(c);
}

int proxyctl_call(struct loop *loop, const char *path, const char *line,
		  uint64_t timeout_ms, sysact_done_cb *cb, void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pcall *c;
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path) || strlen(line) > 250)
		return -ENAMETOOLONG;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
		       errno != EINPROGRESS && errno != EAGAIN)) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		free(c);
		return r;
	}
	c->loop = loop;
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	c->out_len = (size_t)snprintf(c->out, sizeof(c->out), "%s\n", line);
	if ((r = loop_add_fd(loop, fd, LOOP_WRITE, pcall_io, pcall_io, c)) < 0) {
		close(fd);
		free(c);
		return r;
	}
	if (loop_add_timer(loop, timeout_ms, 0, pcall_timeout, c,
			   &c->timer) < 0)
		c->timer = 0;
	return 0;
}

/* ---- bridge ports over rtnetlink ----------------------------------------- */

struct nlreq {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char attrs[64];
};

static void add_u32_attr(struct nlreq *r, unsigned short type, uint32_t v)
{
	struct rtattr *rta = (struct rtattr *)((char *)r +
					       NLMSG_ALIGN(r->nh.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(sizeof(v));
	memcpy(RTA_DATA(rta), &v, sizeof(v));
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Send R and wait for the kernel's ack: 0 or -errno. */
static int nl_talk(struct nlreq *r)
{
	struct timeval tv = { .tv_sec = 2 };
	char ans[1024];
	struct nlmsghdr *h = (struct nlmsghdr *)ans;
	ssize_t n;
	int fd, ret;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, r, r->nh.nlmsg_len, 0) < 0) {
		ret = -errno;
		goto out;
	}
	n = recv(fd, ans, sizeof(ans), 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EPROTO;
	if (NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == NLMSG_ERROR &&
	    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		ret = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
out:
	close(fd);
	return ret;
}

int bridge_port_set(const char *bridge, const char *port, bool join,
		    char *err, size_t errlen)
{
	struct nlreq r;
	unsigned bidx = join ? if_nametoindex(bridge) : 0;
	unsigned pidx = if_nametoindex(port);
	int ret;

	if ((join && !bidx) || !pidx) {
		snprintf(err, errlen, "no interface \"%s\"",
			 !pidx ? port : bridge);
		return -ENODEV;
	}
	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(r.ifi));
	r.nh.nlmsg_type = RTM_NEWLINK;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r.ifi.ifi_family = AF_UNSPEC;
	r.ifi.ifi_index = (int)pidx;
	r.ifi.ifi_flags = IFF_UP;
	r.ifi.ifi_change = IFF_UP;
	add_u32_attr(&r, IFLA_MASTER, bidx);
	ret = nl_talk(&r);
	if (ret < 0)
		snprintf(err, errlen, "%s %s %s: %s", join ? "joining" :
			 "detaching", port, join ? bridge : "from its bridge",
			 strerror(-ret));
	return ret;
}

/* ---- hook programs ------------------------------------------------------- */

struct hook_job {
	struct hook_job *next;
	char *prog, *arg;
	char **envp;
	uint64_t timeout_ms;
	sysact_done_cb *cb;
	void *cbarg;
};

struct hooks {
	struct loop *loop;
	struct hook_job *head, **tail;
	pid_t pid;		/* the running one, 0 if none */
	uint64_t timer;
	unsigned pending;
};

static void job_free(struct hook_job *j)
{
	if (j->envp)
		for (char **e = j->envp; *e; e++)
			free(*e);
	free(j->envp);
	free(j->prog);
	free(j->arg);
	free(j);
}

static void hook_start_next(struct hooks *h);

static void hook_timeout(struct loop *loop, uint64_t id, void *arg)
{
	struct hooks *h = arg;

	(void)loop;
	(void)id;
	h->timer = 0;
	if (h->pid > 0)
		kill(-h->pid, SIGKILL);
}

static void hook_finished(struct hooks *h, int status)
{
	struct hook_job *j = h->head;
	char msg[160];
	bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;

	if (WIFEXITED(status))
		snprintf(msg, sizeof(msg), "%s %s: exit %d", j->prog, j->arg,
			 WEXITSTATUS(status));
	else
		snprintf(msg, sizeof(msg), "%s %s: killed by signal %d%s",
			 j->prog, j->arg, WTERMSIG(status),
			 WTERMSIG(status) == SIGKILL ? " (timeout?)" : "");
	h->pid = 0;
	if (h->timer)
		loop_del_timer(h->loop, h->timer);
	h->timer = 0;
	h->head = j->next;
	if (!h->head)
		h->tail = &h->head;
	h->pending--;
	if (j->cb)
		j->cb(j->cbarg, ok, msg);
	job_free(j);
	hook_start_next(h);
}

static void on_sigchld(struct loop *loop, int signo, void *arg)
{
	struct hooks *h = arg;
	int status;
	pid_t p;

	(void)loop;
	(void)signo;
	while ((p = waitpid(-1, &status, WNOHANG)) > 0)
		if (p == h->pid)
			hook_finished(h, status);
}

static void child_exec(const struct hook_job *j)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	setpgid(0, 0);
	for (char **e = j->envp; e && *e; e++)
		putenv(*e);
	execl(j->prog, j->prog, j->arg, (char *)NULL);
	_exit(127);
}

static void hook_start_next(struct hooks *h)
{
	struct hook_job *j = h->head;
	pid_t p;

	if (!j || h->pid)
		return;
	p = fork();
	if (p == 0)
		child_exec(j);
	if (p < 0) {
		hook_finished(h, 127 << 8);
		return;
	}
	h->pid = p;
	if (loop_add_timer(h->loop, j->timeout_ms, 0, hook_timeout, h,
			   &h->timer) < 0)
		h->timer = 0;
}

int hooks_new(struct loop *loop, struct hooks **hp)
{
	struct hooks *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->tail = &h->head;
	if ((r = loop_add_signal(loop, SIGCHLD, on_sigchld, h)) < 0) {
		free(h);
		return r;
	}
	*hp = h;
	return 0;
}

void hooks_free(struct hooks *h)
{
	struct hook_job *j;

	if (!h)
		return;
	if (h->pid > 0) {
		kill(-h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
	}
	if (h->timer)
		loop_del_timer(h->loop, h->timer);
	while ((j = h->head)) {
		h->head = j->next;
		job_free(j);
	}
	free(h);
}

static char **env_copy(char *const envp[])
{
	size_t n = 0;
	char **e;

	while (envp && envp[n])
		n++;
	if (!(e = calloc(n + 1, sizeof(*e))))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(e[i] = strdup(envp[i])))
			return e;	/* shorter: still NULL-terminated */
	return e;
}

int hooks_run(struct hooks *h, const char *prog, const char *arg,
	      char *const envp[], uint64_t timeout_ms, sysact_done_cb *cb,
	      void *cbarg)
{
	struct hook_job *j = calloc(1, sizeof(*j));

	if (!j || !(j->prog = strdup(prog)) || !(j->arg = strdup(arg)) ||
	    !(j->envp = env_copy(envp))) {
		if (j)
			job_free(j);
		return -ENOMEM;
	}
	j->timeout_ms = timeout_ms;
	j->cb = cb;
	j->cbarg = cbarg;
	*h->tail = j;
	h->tail = &j->next;
	h->pending++;
	hook_start_next(h);
	return 0;
}
