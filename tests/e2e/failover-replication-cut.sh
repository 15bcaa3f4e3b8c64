#!/bin/bash
# tests/e2e/failover-replication-cut.sh: the replication link cut with
# both hosts alive. The heartbeats still meet on the LAN, so neither host
# is dead: the primary goes on alone at the next term (its output cannot
# be confirmed any more), the secondary sees the primary's newer term and
# fences itself (its VM stopped). Exactly one VM serves: the LAN never
# sees the VM's output through host B.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up forc$$
fo_fail "replication link cut" ns_exec hostA ip link set repA down
fo_wait_serving A
fo_wait_state B fenced
expect_eq "B's LAN path" "$(hb_field B paths.lan.up)" true
fo_finish 5
fo_one_server A
fo_svm_stopped
fo_info "first answer after the cut: ${FO_FIRST_ACK} ms"
