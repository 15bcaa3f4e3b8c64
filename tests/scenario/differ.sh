#!/bin/bash
# A page that differs between the two VMs: the client gets the bytes both
# VMs agree on and never one byte of the primary's differing output while
# no checkpoint has completed (the "none" backend completes none); the
# counters name the connection, the offset and the reason, and a pcapng of
# the divergence is written.  Switching to solo mode (the secondary given
# up) then releases what was held: the client gets the primary's page.
set -euo pipefail
. "$(dirname "$0")/topo.sh"
topo_up

out=$NS_TMP/differ
ns_spawn cli "$NS_TMP/held-get.log" "$NS_PYTHON" "$LABNET" held-get $VM4 80 differ.html "$out" 2
client=$NS_LASTPID
for i in $(seq 200); do [[ -e $out.before ]] && break; sleep 0.05; done
[[ -e $out.before ]] || fail "the client saw no response at all"
body_off=$(sed -n 's/^differ_body_offset=//p' "$NS_TMP/content.txt")
pvm_page=$NS_TMP/www/pvm/differ.html
before=$(stat -c %s "$out.before")
port=$(cat "$out.port")

# the response header, as the primary sends it, is the first part of .before
hdr=$("$NS_PYTHON" -c 'import sys; d = open(sys.argv[1], "rb").read()
print(d.find(b"\r\n\r\n") + 4)' "$out.before")
((hdr > 4)) || fail "no complete response header before the divergence"
diverge_at=$((hdr + body_off))
expect_le "bytes the client got while protected" "$before" "$diverge_at"
cmp -s <(tail -c +$((hdr + 1)) "$out.before") <(head -c $((before - hdr)) "$pvm_page") ||
	fail "the bytes released are not the page's common prefix"
pass "what was released is the common prefix of both pages"

# the counters and the divergence log explain it
px A divergences >"$NS_TMP/div.txt"
grep -q "^d0.reason payload$" "$NS_TMP/div.txt" || fail "reason: $(cat "$NS_TMP/div.txt")"
grep -q "^d0.flow tcp $VM4:80 > $CLI4:$port$" "$NS_TMP/div.txt" ||
	fail "flow: $(grep flow "$NS_TMP/div.txt")"
expect_eq "divergence offset" "$(sed -n 's/^d0.offset //p' "$NS_TMP/div.txt")" "$diverge_at"
expect_ge "payload mismatches counted" "$(ctr A compare.request_payload)" 1
expect_ge "checkpoint requests for a mismatch" "$(ctr A checkpoint.requests_mismatch)" 1
expect_eq "checkpoints completed" "$(ctr A checkpoint.completed)" 0
dump=$(sed -n 's/^d0.dump //p' "$NS_TMP/div.txt")
[[ -s $dump ]] || fail "no divergence capture"
tcpdump -nr "$dump" 2>/dev/null | grep -q "$VM4.80 > $CLI4.$port" ||
	fail "the capture does not show the connection"
pass "divergence capture $dump readable by tcpdump"
ns_exec cli ss -tn | grep -q ":$port " || fail "the connection is gone"
px A status | grep -q "^checkpoint_state asked$" || fail "no checkpoint asked for"
for c in status counters divergences flows; do
	px A "$c" --json | "$NS_PYTHON" -m json.tool >/dev/null || fail "$c --json is not JSON"
done
pass "status, counters, divergences, flows --json parse as JSON"

# give the secondary up: what was held goes to the client
px A mode solo >/dev/null
touch "$out.go"
for i in $(seq 400); do kill -0 "$client" 2>/dev/null || break; sleep 0.05; done
wait "$client" || fail "the client failed: $(cat "$NS_TMP/held-get.log")"
[[ -e $out.after ]] || fail "the client did not finish"
cmp -s <(tail -c +$((hdr + 1)) "$out.after") "$pvm_page" ||
	fail "after solo the client did not get the primary's page"
pass "after solo mode the client got the primary's page, intact"
expect_ge "released unverified in solo mode" "$(ctr A proxy.released_unprotected)" 1
