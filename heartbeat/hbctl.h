/*
 * hbctl: colo-heartbeat's control commands (common/ctl.h's protocol):
 *
 *   status [json]     state, role, term, peer, paths, witness, VM, plan
 *   counters [json]   every counter
 *   failover          fail over now, as on a lost peer (the tie-breaker
 *                     still decides): coloctl failover
 */
#ifndef HEARTBEAT_HBCTL_H
#define HEARTBEAT_HBCTL_H

#include "common/buf.h"

int hbctl_handle(void *arg, char *line, struct buf *out);

#endif /* HEARTBEAT_HBCTL_H */
