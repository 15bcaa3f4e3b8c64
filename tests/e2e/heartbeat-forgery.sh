#!/bin/bash
# tests/e2e/heartbeat-forgery.sh: forged, malformed and replayed heartbeats
# against a protected pair under load (qemu-scripts/hb-inject.py from the
# client's namespace, i.e. from the LAN):
#   1. beats for node a saying "vm-lost", signed without the pair's key,
#      and forged claims for node b sent to the witness: counted as forged,
#      no claim, no grant, no failover
#   2. garbage datagrams: counted as malformed
#   3. a recording of A's real heartbeats replayed to B: counted as
#      replayed, no failover
#   4. host A dies silently while the recording keeps being replayed: the
#      replays do not keep A alive in B's eyes; B takes over as usual
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"
INJECT=$LAB_ROOT/qemu-scripts/hb-inject.py

hbctr() { hb "$1" counters | awk -v k="hb.$2" '$1 == k { print $2 }'; }
inject() { ns_run cli 120 "$NS_PYTHON" "$INJECT" "$@"; }

fo_up fohf$$
ns_capture_start hostB mgB "$NS_TMP/beatsA.pcap" in "udp and src host 192.168.77.1" ||
	fail "cannot capture A's heartbeats"
cap=$NS_LASTPID
sleep 2
ns_capture_stop "$cap" "$NS_TMP/beatsA.pcap" || true
pass "recorded A's heartbeats: $(tcpdump -r "$NS_TMP/beatsA.pcap" 2>/dev/null | wc -l) datagrams"

# ---- 1. forgeries -------------------------------------------------------------
f0=$(hbctr B rx_forged) w0=$(hbctr W rx_forged)
inject forge --to 192.168.77.2:7800 --node a --state vm-lost --count 100 --interval 5
inject forge --to 192.168.77.3:7800 --node b --type claim --state secondary --count 50 --interval 5
expect_ge "forged beats counted by B" "$(hbctr B rx_forged)" $((f0 + 100))
expect_ge "forged claims counted by the witness" "$(hbctr W rx_forged)" $((w0 + 50))
expect_eq "B's state after forged beats" "$(hb_field B state)" secondary
expect_eq "B's claims" "$(hbctr B claims_sent)" 0
expect_eq "witness grants" "$(hb_field W grants)" 0

# ---- 2. garbage ------------------------------------------------------------------
m0=$(hbctr B rx_malformed)
inject garbage --to 192.168.77.2:7800 --count 100 --interval 2
expect_ge "malformed datagrams counted by B" "$(hbctr B rx_malformed)" $((m0 + 100))
expect_eq "B's state after garbage" "$(hb_field B state)" secondary

# ---- 3. replays, the pair healthy ------------------------------------------------
r0=$(hbctr B rx_replayed)
inject replay --pcap "$NS_TMP/beatsA.pcap" --to 192.168.77.2:7800 --count 200 --interval 5
expect_ge "replayed beats counted by B" "$(hbctr B rx_replayed)" $((r0 + 190))
expect_eq "B's state after replays" "$(hb_field B state)" secondary
expect_eq "A's state" "$(hb_field A state)" primary
expect_eq "A's term" "$(hb_field A term)" 1

# ---- 4. A dies while its recording is replayed -----------------------------------
r1=$(hbctr B rx_replayed)
ns_spawn cli "$NS_TMP/replay.log" "$NS_PYTHON" "$INJECT" replay \
	--pcap "$NS_TMP/beatsA.pcap" --to 192.168.77.2:7800 --count 2000 --interval 10
replayer=$NS_LASTPID
fo_fail "silent death of host A, its heartbeats replayed" host_freeze A
fo_wait_serving B
ns_stop "$replayer" TERM 3 || true
fo_finish 5
fo_one_server B
# every 10 ms for the 200 ms timeout and more: at least 5 of them, however slow the sender
expect_ge "replays rejected while A was dead" "$(hbctr B rx_replayed)" $((r1 + 5))
fo_info "first answer after the death: ${FO_FIRST_ACK} ms"
