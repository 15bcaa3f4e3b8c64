/*
 * ctl: the control socket server.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/ctl.h"
#include "common/log.h"
#include "common/loop.h"

#define CTL_MAX_CLIENTS 16
#define CTL_MAX_LINE 1024

struct ctl_client {
	struct ctl *ctl;
	int fd;
	bool answering;
	struct buf in, out;
};

struct ctl {
	struct loop *loop;
	int fd;
	char path[108];
	ctl_handler *fn;
	void *arg;
	struct ctl_client clients[CTL_MAX_CLIENTS];
};

void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n + 1) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf((char *)buf_tail(b), (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_commit(b, (size_t)n);
}

static void client_end(struct ctl_client *cl)
{
	loop_del_fd(cl->ctl->loop, cl->fd);
	close(cl->fd);
	cl->fd = -1;
	buf_free(&cl->in);
	buf_free(&cl->out);
}

static void client_answer(struct ctl_client *cl, char *line)
{
	struct buf body = BUF_INIT;
	int r = cl->ctl->fn(cl->ctl->arg, line, &body);

	if (r < 0) {
		bprintf(&cl->out, "error: %.*s\n", (int)buf_len(&body),
			(const char *)buf_data(&body));
	} else {
		bprintf(&cl->out, "ok\n");
		buf_append(&cl->out, buf_data(&body), buf_len(&body));
	}
	buf_free(&body);
	cl->answering = true;
	loop_mod_fd(cl->ctl->loop, cl->fd, LOOP_WRITE);
}

static void client_read(struct ctl_client *cl)
{
	char *nl;
	ssize_t n;

	if (buf_reserve(&cl->in, 512) < 0) {
		client_end(cl);
		return;
	}
	n = read(cl->fd, buf_tail(&cl->in), buf_spare(&cl->in) - 1);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_end(cl);
		return;
	}
	buf_commit(&cl->in, (size_t)n);
	buf_tail(&cl->in)[0] = '\0';
	nl = memchr(buf_data(&cl->in), '\n', buf_len(&cl->in));
	if (!nl && buf_len(&cl->in) > CTL_MAX_LINE) {
		bprintf(&cl->out, "error: command line too long\n");
		cl->answering = true;
		loop_mod_fd(cl->ctl->loop, cl->fd, LOOP_WRITE);
		return;
	}
	if (!nl)
		return;
	*nl = '\0';
	if (nl > (char *)buf_data(&cl->in) && nl[-1] == '\r')
		nl[-1] = '\0';
	client_answer(cl, (char *)buf_data(&cl->in));
}

static void client_write(struct ctl_client *cl)
{
	ssize_t n = send(cl->fd, buf_data(&cl->out), buf_len(&cl->out),
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		client_end(cl);
		return;
	}
	buf_consume(&cl->out, (size_t)n);
	if (!buf_len(&cl->out))
		client_end(cl);
}

static void on_client(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct ctl_client *cl = arg;

	(void)loop;
	(void)fd;
	if (cl->answering)
		client_write(cl);
	else if (events & (LOOP_READ | LOOP_ERROR))
		client_read(cl);
}

static bool peer_is_root(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	       cr.uid == 0;
}

static void on_accept(struct loop *loop, int lfd, unsigned events, void *arg)
{
	struct ctl *c = arg;
	struct ctl_client *cl = NULL;
	int fd;

	(void)events;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS && !cl; i++)
		if (c->clients[i].fd < 0)
			cl = &c->clients[i];
	if (!cl || !peer_is_root(fd)) {
		static const char busy[] = "error: too many clients\n";
		static const char deny[] = "error: permission denied (root "
					   "only)\n";

		if (cl)
			log_warnx("control: refused a client that is not root");
		send(fd, cl ? deny : busy, cl ? sizeof(deny) - 1 :
		     sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	memset(cl, 0, sizeof(*cl));
	cl->ctl = c;
	cl->fd = fd;
	if (loop_add_fd(loop, fd, LOOP_READ, on_client, on_client, cl) < 0) {
		close(fd);
		cl->fd = -1;
	}
}

/* A socket at PATH: in use by a live process (true), or stale. */
static bool socket_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return alive;
}

static int make_parent(const char *path)
{
	char dir[108];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int ctl_open(struct loop *loop, const char *path, ctl_handler *fn, void *arg,
	     struct ctl **out, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl *c;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path \"%s\" is too long",
			 path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (socket_alive(&sun)) {
		snprintf(err, errlen, "control socket \"%s\" is in use: is "
			 "another colo-proxy with this name running?", path);
		return -EADDRINUSE;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	c->loop = loop;
	c->fn = fn;
	c->arg = arg;
	snprintf(c->path, sizeof(c->path), "%s", path);
	make_parent(path);
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	old = umask(0077);
	r = c->fd < 0 || bind(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(c->fd, 8) < 0 ? -errno : 0;
	umask(old);
	if (!r)
		r = loop_add_fd(loop, c->fd, LOOP_READ, on_accept, NULL, c);
	if (r < 0) {
		snprintf(err, errlen, "control socket \"%s\": %s", path,
			 strerror(-r));
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void ctl_close(struct ctl *c)
{
	if (!c)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			client_end(&c->clients[i]);
	loop_del_fd(c->loop, c->fd);
	close(c->fd);
	unlink(c->path);
	free(c);
}
