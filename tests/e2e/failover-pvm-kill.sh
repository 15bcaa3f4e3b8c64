#!/bin/bash
# tests/e2e/failover-pvm-kill.sh: the primary's QEMU killed with -9 under
# load: host A's heartbeat loses its VM's QMP and says so; B claims the
# next term, the witness grants it (A reports its VM gone), B takes over
# (x-colo-lost-heartbeat, proxy takeover, its LAN port into br0,
# announce-self); no acknowledged increment lost or repeated.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up fopk$$
fo_fail "kill -9 of the PVM's QEMU" vm_kill A KILL
fo_wait_serving B
fo_wait_state A vm-lost
fo_finish 5
fo_one_server B
expect_eq "B's term" "$(hb_field B term)" 2
expect_eq "B's proxy mode" "$(px B status | sed -n 's/^mode //p')" takeover
expect_eq "witness grants" "$(hb_field W grants)" 1
fo_info "failover: first answer from the survivor ${FO_FIRST_ACK} ms after the kill"
