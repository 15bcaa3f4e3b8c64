/*
 * ctl: a root-only control socket (AF_UNIX stream).  One command line per
 * connection, one answer, then the server closes:
 *
 *   client: "counters json\n"
 *   server: "ok\n" BODY            or   "error: MESSAGE\n"
 *
 * The socket is created mode 0600 in a directory of mode 0700, and every
 * peer's credentials are checked (SO_PEERCRED uid 0); a socket left by a
 * crashed instance is replaced, a live one is an error ("already running").
 * The server never blocks: clients are read and written from the loop.
 */
#ifndef COMMON_CTL_H
#define COMMON_CTL_H

#include <stddef.h>

#include "common/buf.h"

struct loop;
struct ctl;

/* Handle LINE (no newline, NUL-terminated); append the body to OUT and
 * return 0, or return -1 with the error message in OUT. */
typedef int ctl_handler(void *arg, char *line, struct buf *out);

int ctl_open(struct loop *loop, const char *path, ctl_handler *fn, void *arg,
	     struct ctl **out, char *err, size_t errlen);
void ctl_close(struct ctl *c);

/* printf into a buf (no-op on ENOMEM). */
void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* COMMON_CTL_H */
