#!/bin/bash
# tests/e2e/failover-svm-kill.sh: the secondary's QEMU killed with -9 under
# load: host B's heartbeat reports its VM gone, A claims the next term to
# go on alone, the witness grants it, A's plan runs (x-colo-lost-heartbeat,
# proxy solo); the PVM keeps serving, no acknowledged increment lost.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up fosk$$
fo_fail "kill -9 of the SVM's QEMU" vm_kill B KILL
fo_wait_serving A
fo_wait_state B vm-lost
fo_finish 5
fo_one_server A
expect_eq "A's proxy mode" "$(px A status | sed -n 's/^mode //p')" solo
fo_info "first answer after the kill: ${FO_FIRST_ACK} ms"
