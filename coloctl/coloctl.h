/*
 * coloctl: subcommands that talk QMP to QEMU (pair.c); the others talk to
 * colo-proxy's control socket (coloctl.c).
 */
#ifndef COLOCTL_COLOCTL_H
#define COLOCTL_COLOCTL_H

#include <stdbool.h>

/* ARGV[0] is the subcommand; exit status 0, 1 (failed) or 2 (usage). */
int cmd_pair(int argc, char **argv, bool json);
int cmd_qemu(int argc, char **argv, bool json);

/* One command LINE on a control socket (colo-proxy, colo-heartbeat,
 * colo-relay): 0 with the answer (without "ok\n") in *OUT (malloc'd) if
 * OUT, else printed; 1 for an error answer, 2 if unreachable (said on
 * stderr). */
int talk_to(const char *path, const char *line, char **out);

#endif /* COLOCTL_COLOCTL_H */
