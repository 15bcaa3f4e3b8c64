/*
 * sysact: the few things colo-heartbeat does to its host besides QMP:
 * ask colo-proxy to change mode over its control socket, move a port
 * into (or out of) a bridge over rtnetlink, and run hook programs.
 * All of it on the event loop; nothing blocks for long.
 */
#ifndef HEARTBEAT_SYSACT_H
#define HEARTBEAT_SYSACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;

/* OK, and on failure the reason ("connect: No such file or directory",
 * "error: mode \"x\" is not ..."). */
typedef void sysact_done_cb(void *arg, bool ok, const char *msg);

/*
 * Send LINE to the control socket PATH (colo-proxy's, see common/ctl.h)
 * and report the answer's first line: "ok" is success. At most
 * TIMEOUT_MS. 0, or -errno before anything started (CB not called).
 */
int proxyctl_call(struct loop *loop, const char *path, const char *line,
		  uint64_t timeout_ms, sysact_done_cb *cb, void *arg);

/*
 * Make PORT a member of BRIDGE and up (JOIN), or take it out of any
 * bridge (!JOIN). Synchronous (a netlink request to the local kernel):
 * 0, or -errno with the reason in ERR. Idempotent.
 */
int bridge_port_set(const char *bridge, const char *port, bool join,
		    char *err, size_t errlen);

/* Run PROG ARG with ENVP added to our environment; CB with its exit
 * status once it ends (killed with its process group after TIMEOUT_MS).
 * Hooks run one at a time in order; this queues. 0 or -errno. */
struct hooks;
int hooks_new(struct loop *loop, struct hooks **hp);
void hooks_free(struct hooks *h);
int hooks_run(struct hooks *h, const char *prog, const char *arg,
	      char *const envp[], uint64_t timeout_ms, sysact_done_cb *cb,
	      void *cbarg);

#endif /* HEARTBEAT_SYSACT_H */
