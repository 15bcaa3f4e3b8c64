#!/bin/bash
# tests/e2e/failover-host-b.sh: host B dies silently under load (QEMU,
# proxy and heartbeat frozen, links down). A hears nothing on either path
# for the timeout, goes on alone at the next term (the witness grants a
# primary that), x-colo-lost-heartbeat unblocks QEMU's checkpoint thread
# and the PVM keeps serving. When B comes back it finds A at a newer term
# and fences itself.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up fohb$$
fo_fail "silent death of host B" host_freeze B
fo_wait_serving A
fo_finish 5
fo_one_server A
fo_info "first answer after the death: ${FO_FIRST_ACK} ms"
host_thaw B
fo_wait_state B fenced
expect_eq "A still serving" "$(hb_field A state)" primary
