/*
 * sock.h - the endpoints of a chardev-like socket: "unix:PATH" or
 * "tcp:HOST:PORT", with ",server" to listen for one peer instead of
 * connecting (QEMU's -chardev socket,server=on).
 */
#ifndef BENCH_QCMP_SOCK_H
#define BENCH_QCMP_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ep {
	char spec[160];
	bool server;
	int family;
	struct sockaddr_storage addr;
	socklen_t alen;
};

/* Parse SPEC: 0, or -EINVAL with ERR. */
int ep_parse(const char *spec, struct ep *e, char *err, size_t errlen);

/* A listening socket (a stale unix path is removed first): fd or -errno. */
int ep_listen(const struct ep *e);

/* A connected, non-blocking socket: fd or -errno. */
int ep_connect(const struct ep *e);

/* Accept one peer, non-blocking: fd or -errno. */
int ep_accept(int lfd);

/* Set O_NONBLOCK: 0 or -errno. */
int sock_nonblock(int fd);

#endif
