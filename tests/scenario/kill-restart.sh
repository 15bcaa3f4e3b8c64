#!/bin/bash
# A proxy killed with -9 in the middle of a stream, then restarted.  While it
# is dead its netfilter rules stay and drop its VM's traffic (fail-closed:
# nothing unverified leaves); the restarted proxy removes the stale rules
# before installing its own (exactly one jump), the survivor of the pair
# sees the restart and a checkpoint is asked for.  A clean stop (SIGTERM)
# leaves no rule behind.  Done for the primary, then for the secondary.
set -euo pipefail
. "$(dirname "$0")/topo.sh"
topo_up

stream_start

# ---- the primary
px_kill A KILL
expect_eq "rules left by the killed primary (fail-closed)" "$(rules_count A)" 1
sleep 1
p1=$(received)
sleep 1
expect_eq "bytes the client's TCP received with the primary's proxy dead" \
	"$(received)" "$p1"
px_start A
px_wait_up
expect_eq "jumps to our chain after the restart" "$(rules_count A)" 1
for i in $(seq 40); do
	(($(ctr A checkpoint.requests_channel) >= 1)) && break; sleep 0.05
done
expect_ge "checkpoint asked for by the secondary (primary restarted)" \
	"$(ctr A checkpoint.requests_channel)" 1
expect_eq "released == confirmed by the comparator" "$(ctr A compare.released)" \
	"$(ctr A proxy.released)"
expect_eq "released by a commit" "$(ctr A compare.late_released)" 0

# ---- the secondary
px_kill B KILL
expect_eq "rules left by the killed secondary (the SVM stays cut off)" "$(rules_count B)" 1
px_start B
px_wait_up
expect_eq "jumps to our chain on the secondary after the restart" "$(rules_count B)" 1
expect_ge "primary saw the secondary restart" "$(ctr A channel.peer_restarts)" 1
expect_ge "checkpoint requests (channel)" "$(ctr A checkpoint.requests_channel)" 2

# the operator gives up protection: the stream completes, bytes intact
px A mode solo >/dev/null
stream_finish
pass "the stream completed with the right 20 MB"

# a clean stop removes everything
px_kill A TERM
px_kill B TERM
expect_eq "rules after a clean stop (primary)" "$(rules_count A)" 0
expect_eq "rules after a clean stop (secondary)" "$(rules_count B)" 0
ns_exec hostA iptables-legacy-save | grep -q COLO- && fail "a COLO chain is left"
pass "no COLO chain left"
