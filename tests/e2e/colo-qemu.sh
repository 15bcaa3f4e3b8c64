#!/bin/bash
# tests/e2e/colo-qemu.sh: two real QEMU guests under COLO (the lab QEMU
# under TCG), both proxies with the QMP backend, a real client.
#
#   1. deterministic pages, many and concurrent: correct bytes, no
#      mismatch checkpoint, every release confirmed by the secondary
#   2. the page that differs: each request released only after a
#      checkpoint completed, with reason "mismatch"; the client got the
#      PVM's bytes (seen on tapA), never the SVM's (seen on tapB)
#   3. the RAM counter, read around forced checkpoints: never backwards
#   4. accounting: every frame the primary's queue let out is a match, a
#      commit or solo output (kernel-side verdicts against the proxy's own
#      reasons)
#   5. QEMU rejects a command (pairing twice; a bad parameter), then the
#      SVM's QEMU is killed: clear errors; the primary's proxy goes solo
#      (COLO_EXIT) and the service keeps answering
set -euo pipefail
. "$(dirname "$0")/../../qemu-scripts/lab.sh"

lab_up e2e$$
pass "COLO running: $(px A status | grep '^checkpoint_backend')"

ctr_a() { ctr A "$1"; }

# ---- 1. deterministic traffic -------------------------------------------------
m0=$(ctr_a checkpoint.requests_mismatch)
c0=$(ctr_a proxy.released_committed)
out=$(lab_client http $VM4 /det.html 64 8 --sha "$(lab_sha det_html_sha256)") ||
	fail "det.html: $out"
pass "det.html x64 (8 at a time): $out"
out=$(lab_client http $VM4 /1mb.bin 6 2 --sha "$(lab_sha mb1_bin_sha256)") ||
	fail "1mb.bin: $out"
pass "1mb.bin x6: $out"
out=$(lab_client http "$VM6" /det.html 16 4 --sha "$(lab_sha det_html_sha256)") ||
	fail "det.html over IPv6: $out"
pass "det.html over IPv6 x16: $out"
out=$(lab_client echo $VM4 7 200 1000) || fail "echo: $out"
pass "echo x200: $out"
expect_eq "mismatch checkpoints for deterministic traffic" \
	"$(ctr_a checkpoint.requests_mismatch)" "$m0"
expect_eq "deterministic output released by a checkpoint" \
	"$(ctr_a proxy.released_committed)" "$c0"
expect_ge "output confirmed by the secondary" "$(ctr_a proxy.released_matched)" 200

# ---- 2. the differing page ------------------------------------------------------
ns_capture_start hostA tapA "$NS_TMP/tapA.pcap" inout "tcp port 80"
capA=$NS_LASTPID
ns_capture_start hostB tapB "$NS_TMP/tapB.pcap" inout "tcp port 80"
capB=$NS_LASTPID
for i in 1 2 3 4 5; do
	k0=$(ctr_a checkpoint.completed)
	km=$(ctr_a checkpoint.completed_mismatch)
	r0=$(ctr_a proxy.released_committed)
	out=$(lab_client http $VM4 /cgi-bin/differ 1 1 --out "$NS_TMP/differ$i.json") ||
		fail "differ: $out"
	body=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bodies"][0].strip())' \
		"$NS_TMP/differ$i.json")
	echo "$body" >>"$NS_TMP/differ-bodies.txt"
	expect_ge "differ #$i: checkpoints completed" "$(ctr_a checkpoint.completed)" $((k0 + 1))
	expect_ge "differ #$i: mismatch checkpoints" "$(ctr_a checkpoint.completed_mismatch)" $((km + 1))
	expect_ge "differ #$i: frames released by that checkpoint" \
		"$(ctr_a proxy.released_committed)" $((r0 + 1))
done
sleep 0.5
ns_capture_stop "$capA" "$NS_TMP/tapA.pcap" "$capB" "$NS_TMP/tapB.pcap"
# After a checkpoint the SVM holds the PVM's sockets and may retransmit the
# PVM's bytes: the SVM's own bodies are those that never left the PVM.
tcpdump -r "$NS_TMP/tapA.pcap" -A 2>/dev/null | grep -o 'random=[0-9a-f]*' |
	sort -u >"$NS_TMP/pvm-bodies" || true
tcpdump -r "$NS_TMP/tapB.pcap" -A 2>/dev/null | grep -o 'random=[0-9a-f]*' |
	sort -u | comm -23 - "$NS_TMP/pvm-bodies" >"$NS_TMP/svm-only-bodies" || true
while read -r body; do
	rnd=random=${body##*random=}
	grep -qx "$rnd" "$NS_TMP/pvm-bodies" ||
		fail "the client's body ($body) is not what the PVM sent"
	if grep -qx "$rnd" "$NS_TMP/svm-only-bodies"; then
		fail "the client got the SVM's bytes: $body"
	fi
done <"$NS_TMP/differ-bodies.txt"
pass "each differing body came from the PVM (tapA); the SVM's own ($(wc -l <"$NS_TMP/svm-only-bodies") seen on tapB) never reached the client"
expect_ge "divergence captures written" "$(ctr_a proxy.dumps_written)" 5
px A divergences | grep -q "payload" || fail "no payload divergence recorded"
pass "divergences name flow, offset and reason: $(px A divergences | grep -m1 'reason')"

# ---- 3. the counter never goes backwards ---------------------------------------
out=$(lab_client counter $VM4 10) || fail "counter: $out"
last=$(sed -n 's/.*last=\([0-9]*\).*/\1/p' <<<"$out")
px A checkpoint --wait 30 >/dev/null || fail "forced checkpoint did not complete"
out=$(lab_client counter $VM4 10) || fail "counter after a checkpoint: $out"
first=$(sed -n 's/.*first=\([0-9]*\).*/\1/p' <<<"$out")
expect_eq "counter after a forced checkpoint" "$first" $((last + 1))
expect_ge "manual checkpoints" "$(ctr_a checkpoint.completed_manual)" 1

# ---- 4. accounting ---------------------------------------------------------------
accepted=$(($(ctr_a queue_out.accepted) + $(ctr_a queue_out.mangled)))
released=$(ctr_a proxy.released)
expect_eq "queue verdicts = released + solo" "$accepted" \
	$((released + $(ctr_a proxy.released_unprotected)))
expect_eq "released = matched + committed" "$released" \
	$(($(ctr_a proxy.released_matched) + $(ctr_a proxy.released_committed)))
expect_eq "nothing held at rest" "$(ctr_a compare.held_frames)" 0
pass "checkpoints: $(px A counters | grep -E 'paused_p50|paused_p99' | tr '\n' ' ')"

# ---- 5. QEMU errors and a QEMU that disappears -------------------------------------
if err=$(ns_exec hostA "$COLOCTL" pair --primary "$NS_TMP/pvm-ctl.qmp" \
	--secondary "$NS_TMP/svm-ctl.qmp" --uri tcp:10.99.0.2:8888 2>&1); then
	fail "pairing twice succeeded: $err"
fi
grep -q 'inmigrate' <<<"$err" || fail "unclear error for pairing twice: $err"
pass "pairing a running pair: $err"
# QEMU's primary notices a dead secondary only at its next checkpoint
# (migration/colo.c: the COLO thread sleeps between checkpoints). The
# secondary proxy loses its SVM's QMP and asks for a checkpoint (else the
# hold timeout would); it fails, COLO_EXIT follows, the proxy goes solo.
vm_kill B KILL
out=$(lab_client http $VM4 /det.html 4 2 --sha "$(lab_sha det_html_sha256)") ||
	fail "requests while the SVM was dead: $out"
pass "requests across the SVM's death: $out"
px_wait_mode A solo 30 || true
expect_eq "primary proxy after the SVM died" "$(px A status | sed -n 's/^mode //p')" solo
grep -q "COLO ended" "$NS_TMP/pxA.log" || fail "no COLO_EXIT in the primary's log"
grep -q "asking the primary for a checkpoint" "$NS_TMP/pxB.log" ||
	fail "the secondary did not report its SVM's loss"
pass "primary log: $(grep -m1 'COLO ended' "$NS_TMP/pxA.log")"
out=$(lab_client http $VM4 /det.html 8 4 --sha "$(lab_sha det_html_sha256)") ||
	fail "service after the SVM died: $out"
pass "the PVM serves alone: $out"
px B status | grep -q '^checkpoint_backend qmp .*: down,' ||
	fail "the secondary proxy does not report its SVM's QMP as down: $(px B status)"
pass "secondary proxy: $(px B status | grep '^checkpoint_backend')"
echo "e2e: all checks passed"
