#!/bin/bash
# tests/e2e/failover-reprotect.sh: fail over, re-protect, fail over the
# other way, under the checker's load throughout.
#   1. host A dies silently; B takes over (term 2) and serves alone.
#   2. host A comes back empty: a fresh QEMU waiting for the COLO
#      migration, colo-proxy and colo-heartbeat as secondary.
#      `coloctl reprotect` on B: B's proxy is promoted in place (its
#      connections keep their translation to the numbers the clients know),
#      B's VM migrates into A's, COLO runs: the pair is protected again,
#      B primary, A secondary.
#   3. host B dies silently; A takes over (term 3).
#   4. host B comes back as a fresh secondary; A ([reprotect] auto) pairs
#      with it by itself.
# The checker must find no acknowledged increment lost or repeated across
# both failovers; four echo connections opened after the last checkpoint
# before the first failover (so B takes them over with sequence offsets)
# live on through both; the VM's output never leaves through both hosts
# at once.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

# One checker client only: several would race for the guest's counter and
# the two VMs would order their increments differently (a divergence, so a
# checkpoint, every second or so). Then four echo connections (the guest's
# port 7), opened with no checkpoint after them: B takes them over with
# sequence offsets, which must follow B's VM into the new pair and back.
FO_LOAD="--long 1 --new 0 --http 0"
fo_up forp$$
ns_spawn cli "$NS_TMP/echo.log" "$NS_PYTHON" "$(dirname "$0")/lib/echo-conns.py" \
	"$VM4" 7 4 "$NS_TMP/checker.stop" "$NS_TMP/echo.json"
ECHO_PID=$NS_LASTPID
for i in $(seq 200); do
	nt=$(px B status | sed -n 's/^translated_connections //p')
	((nt >= 4)) && break
	sleep 0.05
done
sleep 1
nt=$(px B status | sed -n 's/^translated_connections //p')
((nt >= 4)) || fail "B translates $nt connections, not the 4 echo ones (a checkpoint came after them: $(px A status | grep ^checkpoints))"
pass "B translates the 4 echo connections (opened after the last checkpoint)"
fo_fail "silent death of host A" host_freeze A
fo_wait_serving B

# 2. A returns as a fresh secondary (its heartbeat with [reprotect] auto:
# used at the end)
lab_host_return A
LAB_HB_EXTRA=$'[reprotect]\nauto = yes' lab_rejoin A a2
hb_wait_state A secondary 10 || fail "A's heartbeat: $(hb_field A state)"
for i in $(seq 100); do
	[[ $(hb_field B peer.ready) == true ]] && break
	sleep 0.1
done
expect_eq "B sees A ready for COLO" "$(hb_field B peer.ready)" true
expect_eq "A adopted B's term" "$(hb_field A term)" 2
t0=$(date +%s.%N)
out=$(hb B reprotect --timeout 300 2>&1) || { fo_diag; fail "coloctl reprotect: $out"; }
pass "coloctl reprotect on B: $out"
fo_info "re-protection took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s (proxy promote, COLO migration of the VM's RAM)"
expect_eq "B's proxy role" "$(px B status | sed -n 's/^role //p')" primary
expect_eq "A's proxy role" "$(px A status | sed -n 's/^role //p')" secondary
px_wait_mode B protected 30 || fail "B's proxy did not turn protected: $(px B status)"
n=$(px B status | sed -n 's/^taken_over_connections //p')
((n >= 4)) || fail "B's proxy keeps $n taken-over connections, not the 4 echo ones (and the checker's)"
pass "B's proxy protected; it translates $n taken-over connections"
sent=$(ctr B proxy.legacy_sent)
((sent >= n)) || fail "their translations did not reach A's proxy (legacy_sent $sent)"
pass "their translations sent to A's proxy: $sent"
hb_wait_state A secondary 5
for i in $(seq 100); do
	[[ $(hb_field A paired) == true && $(hb_field B protected) == true ]] && break
	sleep 0.1
done
expect_eq "A paired" "$(hb_field A paired)" true
expect_eq "B protected" "$(hb_field B protected)" true
# the pair compares again: the load keeps flowing through B, checked by A
sleep 5
acked=$(fo_acked)
expect_eq "A's proxy channel" "$(px A status | sed -n 's/^channel \(up\).*/\1/p')" up
pass "protected pair under load: $acked increments acknowledged so far"

# 3. the other way: host B dies, A takes over at term 3
fo_fail "silent death of host B" host_freeze B
for i in $(seq 300); do
	[[ $(hb_field A state) == primary && $(hb_field A term) == 3 ]] && break
	sleep 0.05
done
[[ $(hb_field A state) == primary && $(hb_field A term) == 3 ]] ||
	{ fo_diag; fail "A did not take over: $(hb_field A state), term $(hb_field A term)"; }
pass "A serves alone at term 3: $(hb_field A why)"

# 4. B comes back as a fresh secondary: A, [reprotect] auto, pairs with it
# by itself
lab_host_return B
lab_rejoin B b2
for i in $(seq 300); do
	[[ $(hb_field A protected) == true ]] && break
	sleep 0.1
done
expect_eq "A protected again by itself ([reprotect] auto)" "$(hb_field A protected)" true
expect_eq "B paired" "$(hb_field B paired)" true
expect_eq "A's re-protections" "$(hb A hb-counters | awk '$1 == "hb.reprotects" { print $2 }')" 1
fo_finish 5

# the VM's output: via A, then via B only, then via A again; never both
read -r b_first b_last b_n < <(fo_span lanB)
((b_n > 0)) || fail "B never served"
a_mid=$(tcpdump -r "$NS_TMP/lanA.pcap" -n -tt 2>/dev/null |
	awk -v f="$b_first" -v l="$b_last" '$1 > f && $1 < l' | wc -l)
expect_eq "frames of the VM via A while B served" "$a_mid" 0
a_after=$(tcpdump -r "$NS_TMP/lanA.pcap" -n -tt 2>/dev/null |
	awk -v l="$b_last" '$1 > l' | wc -l)
((a_after > 0)) || fail "A never served after the second failover"
pass "the VM's output left through A, then B only ($b_n frames), then A only ($a_after frames)"
fo_hooks_saw a primary 3
# the connections B took over with offsets lived through the re-protection
# and the second failover
wait "$ECHO_PID" || { cat "$NS_TMP/echo.log"; fail "an echo connection broke"; }
unset "NS_PIDS[$ECHO_PID]"
cat "$NS_TMP/echo.log"
pass "the 4 connections B took over with offsets: each one TCP connection, every line echoed, through both failovers"
