/*
 * sock.c - unix and TCP endpoints for the comparator front end and driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench/qcmp/sock.h"

static int parse_unix(const char *path, struct ep *e, char *err, size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&e->addr;

	if (!*path || strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "bad unix socket path \"%s\"", path);
		return -EINVAL;
	}
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	e->family = AF_UNIX;
	e->alen = sizeof(*sun);
	return 0;
}

static int parse_tcp(char *hostport, struct ep *e, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char *port = strrchr(hostport, ':'), *host = hostport;
	int r;

	if (!port || port == hostport) {
		snprintf(err, errlen, "\"%s\": expected HOST:PORT", hostport);
		return -EINVAL;
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		host++;
	}
	if (e->server)
		hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		snprintf(err, errlen, "\"%s:%s\": %s", host, port,
			 gai_strerror(r));
		return -EINVAL;
	}
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->alen = res->ai_addrlen;
	e->family = res->ai_family;
	freeaddrinfo(res);
	return 0;
}

int ep_parse(const char *spec, struct ep *e, char *err, size_t errlen)
{
	char s[sizeof(e->spec)], *opt;

	memset(e, 0, sizeof(*e));
	if (strlen(spec) >= sizeof(s)) {
		snprintf(err, errlen, "endpoint \"%s\" is too long", spec);
		return -EINVAL;
	}
	snprintf(e->spec, sizeof(e->spec), "%s", spec);
	snprintf(s, sizeof(s), "%s", spec);
	opt = strrchr(s, ',');
	if (opt && !strcmp(opt, ",server")) {
		e->server = true;
		*opt = '\0';
	}
	if (!strncmp(s, "unix:", 5))
		return parse_unix(s + 5, e, err, errlen);
	if (!strncmp(s, "tcp:", 4))
		return parse_tcp(s + 4, e, err, errlen);
	snprintf(err, errlen, "endpoint \"%s\": expected unix:PATH or "
		 "tcp:HOST:PORT, optionally followed by ,server", spec);
	return -EINVAL;
}

int sock_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void tune(int fd, int family)
{
	int one = 1;

	if (family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int ep_listen(const struct ep *e)
{
	int fd, one = 1, ret;

	if (e->family == AF_UNIX) {
		const struct sockaddr_un *sun = (const void *)&e->addr;
		struct stat sb;

		if (!lstat(sun->sun_path, &sb) && S_ISSOCK(sb.st_mode))
			unlink(sun->sun_path);
	}
	fd = socket(e->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (e->family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&e->addr, e->alen) < 0 ||
	    listen(fd, 4) < 0 || sock_nonblock(fd) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int ep_connect(const struct ep *e)
{
	int fd = socket(e->family, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&e->addr, e->alen) < 0 ||
	    sock_nonblock(fd) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	tune(fd, e->family);
	return fd;
}

int ep_accept(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
			 SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return -errno;
	tune(fd, ss.ss_family);
	return fd;
}
