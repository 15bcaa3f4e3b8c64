#!/bin/bash
# tests/e2e/relay-colo.sh: the COLO migration channel through colo-relay
# (zstd both ways) on both hosts, under the checker's load: the pair
# forms (the initial sync through the relays, compressed), a divergence
# is checkpointed (through them), and a kill -9 of the PVM's QEMU fails
# over exactly as without them: B takes over, no acknowledged increment
# lost or repeated, the VM's output through one host only.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

LAB_RELAY=1 fo_up rly$$
# rl_ctr A|B KEY: one counter of that relay
rl_ctr() { rl "$1" counters | awk -v k="$2" '$1 == k { print $2 }'; }

raw=$(rl_ctr A forward.raw_bytes)
wire=$(rl_ctr A forward.wire_bytes)
expect_ge "bytes relay A took from the PVM's QEMU (the initial sync)" "$raw" 50000000
((wire > 0 && wire * 2 < raw)) || fail "the initial sync was not compressed: $raw raw, $wire on the wire"
pass "initial sync through the relays: $raw bytes from QEMU, $wire on the wire"
# (both count on while checkpoints flow: B at least the initial sync)
expect_ge "bytes relay B delivered to the SVM's QEMU" "$(rl_ctr B forward.raw_bytes)" 50000000
nf=$(rl A counters | awk '$1 ~ /^errors\./ { s += $2 } END { print s + 0 }')
((nf == 0)) || fail "relay A's faults: got $nf, want 0 ($(rl A status | grep -m1 last_fault))"
pass "relay A's faults = 0"

# a divergence, checkpointed through the relays
k0=$(ctr A checkpoint.completed_mismatch)
c0=$(rl_ctr A checkpoints.recorded)
out=$(lab_client http $VM4 /cgi-bin/differ 1 1) || fail "differ: $out"
expect_ge "mismatch checkpoints" "$(ctr A checkpoint.completed_mismatch)" $((k0 + 1))
expect_ge "checkpoints relay A saw" "$(rl_ctr A checkpoints.recorded)" $((c0 + 1))
pass "last checkpoint through the relays: $(rl_ctr A checkpoints.last_raw_bytes) bytes from QEMU, $(rl_ctr A checkpoints.last_wire_bytes) on the wire"

fo_fail "kill -9 of the PVM's QEMU" vm_kill A KILL
fo_wait_serving B
fo_finish 5
fo_one_server B
fo_info "failover through the relays: first answer from the survivor $(fo_survivor_answer B) ms after the kill"
