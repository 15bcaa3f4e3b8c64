#!/bin/bash
# tests/e2e/failover-pvm-term.sh: the primary's QEMU stopped with SIGTERM
# under load (an operator's stop, libvirt's destroy, a host shutting
# down), with both heartbeats running. QEMU reports SHUTDOWN (reason
# host-signal) and then, as it cancels its migration, the end of COLO with
# an error; the primary's heartbeat must take its VM for lost at the
# SHUTDOWN, not claim the next term to go on alone with a VM that is
# exiting (which fenced the secondary and left nobody serving). B claims,
# the witness grants, B takes over; no acknowledged increment lost or
# repeated, the VM's output through one host at a time. (A COLO primary
# may hang on SIGTERM; the lab kills it 5 s later, as libvirt would
# after its grace.)
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up fopt$$
fo_fail "SIGTERM to the PVM's QEMU" vm_kill A TERM
fo_wait_serving B
fo_wait_state A vm-lost
grep -q "VM: QEMU is shutting down (reason host-signal" "$NS_TMP/hbA.log" ||
	fail "A's heartbeat did not see its VM's SHUTDOWN: $(tail -5 "$NS_TMP/hbA.log")"
pass "A's heartbeat: $(grep -m1 "VM: QEMU is shutting down" "$NS_TMP/hbA.log" | cut -c1-150)"
fo_finish 5
fo_one_server B
expect_eq "A's term (it never went on alone)" "$(hb_field A term)" 1
expect_eq "B's term" "$(hb_field B term)" 2
expect_eq "B's proxy mode" "$(px B status | sed -n 's/^mode //p')" takeover
expect_eq "witness grants" "$(hb_field W grants)" 1
fo_info "failover after a SIGTERM: first answer from the survivor ${FO_FIRST_ACK} ms after the signal"
