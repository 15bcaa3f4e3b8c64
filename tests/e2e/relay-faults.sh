#!/bin/bash
# tests/e2e/relay-faults.sh: the relays meet garbage and a dead peer
# while COLO runs through them, under the checker's load.
#   1. garbage sent to relay B's port beside the live channel: refused,
#      counted, the live channel and COLO untouched;
#   2. relay B killed with -9 mid-stream (relay A sees the stream end
#      without its END: a truncated stream): relay A closes the primary's
#      channel at once, counted; the PVM's COLO ends, its heartbeat sends it
#      on alone (solo), B is fenced: a defined state, no hang of the
#      primary, no acknowledged increment lost or repeated.
set -euo pipefail
. "$(dirname "$0")/lib/failover.sh"

LAB_RELAY=1 fo_up rlf$$
rl_ctr() { rl "$1" counters | awk -v k="$2" '$1 == k { print $2 }'; }
rl_faults() { rl "$1" counters | awk '$1 ~ /^errors\./ { s += $2 } END { print s + 0 }'; }

# 1. garbage beside the live channel
ns_exec hostA "$NS_PYTHON" - <<'PY'
import socket
for junk in (b"GET / HTTP/1.0\r\n\r\n", bytes(range(256)) * 8, b"CRLY" + b"\xff" * 60):
    s = socket.create_connection(("10.99.0.2", 8890), timeout=5)
    s.sendall(junk)
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
PY
for i in $(seq 50); do (($(rl_faults B) >= 3)) && break; sleep 0.1; done
expect_ge "faults relay B counted" "$(rl_faults B)" 3
pass "relay B: $(rl B counters | awk '$1 ~ /^errors\./ && $2 > 0' | tr '\n' ' ')"
expect_eq "relay B still relaying" "$(rl B status | sed -n 's/^state //p')" up
c0=$(ctr A checkpoint.completed)
ns_exec hostA "$COLOCTL" -s "$NS_TMP/pxA.sock" checkpoint --wait 30 >/dev/null ||
	fail "no checkpoint after the garbage"
pass "COLO still checkpoints through the relays ($(ctr A checkpoint.completed) completed, $c0 before)"

# 2. relay B dies mid-stream
fo_fail "kill -9 of relay B" relay_stop B KILL
for i in $(seq 100); do (($(rl_faults A) >= 1)) && break; sleep 0.05; done
pass "relay A: $(rl A status | sed -n 's/^last_fault //p')"
for i in $(seq 300); do
	[[ $(hb_field A state) == primary && $(hb_field A term) == 2 ]] && break
	sleep 0.05
done
[[ $(hb_field A term) == 2 ]] || { fo_diag; fail "A did not go on alone: $(hb_field A state), term $(hb_field A term)"; }
pass "A goes on alone at term 2: $(hb_field A why)"
fo_wait_state B fenced
fo_finish 5
fo_one_server A
