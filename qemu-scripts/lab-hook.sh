#!/bin/sh
# qemu-scripts/lab-hook.sh: colo-heartbeat's hook in the lab: one line per
# transition, with the environment the daemon passes, in $COLO_HOOK_LOG.
# An operator's hook would page someone, or fence through a PDU.
log=${COLO_HOOK_LOG:-/dev/null}
printf '%s node=%s event=%s from=%s role=%s term=%s reason=%s\n' \
	"$(date +%s.%N)" "$COLO_NODE" "$1" "$COLO_FROM" "$COLO_ROLE" \
	"$COLO_TERM" "$COLO_REASON" >>"$log"
