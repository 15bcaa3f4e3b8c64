#!/bin/bash
# tests/e2e/failover-host-a.sh: host A dies silently under load (its QEMU,
# proxy and heartbeat frozen, its links down: no FIN, no RST, no
# COLO_EXIT). B hears nothing on either path for the timeout, the witness
# has not heard A either and grants B the next term, B takes over. When A
# comes back it finds B serving at a newer term and fences itself.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

fo_up foha$$
fo_fail "silent death of host A" host_freeze A
fo_wait_serving B
fo_finish 5
fo_one_server B
expect_eq "B's term" "$(hb_field B term)" 2
fo_info "failover: first answer from the survivor $(fo_survivor_answer B) ms after the death (first answer at all: ${FO_FIRST_ACK} ms)"
fo_info "B: from its claim to the last step of its plan $(hb_field B last_failover_ms) ms"
host_thaw A
fo_wait_state A fenced
expect_eq "B still serving" "$(hb_field B state)" primary
# the hook program ran on each of B's transitions and on A's fence
fo_hooks_saw b claiming 1
fo_hooks_saw b failover 2
fo_hooks_saw b primary 2
fo_hooks_saw a fenced
expect_eq "hooks that failed on B" \
	"$(hb B hb-counters | awk '$1 == "hb.hooks_failed" { print $2 }')" 0
