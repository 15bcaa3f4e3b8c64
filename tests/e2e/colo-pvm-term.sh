#!/bin/bash
# tests/e2e/colo-pvm-term.sh: the PVM's QEMU gets SIGTERM (what a libvirt
# destroy, a fence or a host shutdown sends) while the pair is protected
# and answers are held. QEMU cancels its migration on the way out: COLO
# ends in the PVM with reason "error", while A's proxy still holds output
# that the SVM never confirmed. That output must stay held: the SVM may
# be taking over from its own state, and whatever A let out now would be
# answered again by B (seen in CI as increments acknowledged twice after
# a libvirt fence). Only a failover asked of the PVM, the secondary's word
# that its VM is gone, the heartbeat or the operator lets the primary go
# solo (tests/e2e/colo-qemu.sh: a killed SVM still gives solo at once).
set -euo pipefail
. "$(dirname "$0")/../../qemu-scripts/lab.sh"

lab_up pt$$
pass "COLO running: $(px A status | grep '^mode')"
# answers that the SVM will not confirm: the page that differs, held until
# its mismatch checkpoint; with SIGTERM in the middle some stay held
ns_spawn cli "$NS_TMP/differ.log" "$NS_PYTHON" "$LAB_CLIENT" http "$VM4" \
	/cgi-bin/differ 200 4
sleep 1
r0=$(ctr A proxy.released_unprotected)
vm_kill A TERM
for i in $(seq 100); do
	grep -q "COLO ended" "$NS_TMP/pxA.log" && break
	sleep 0.1
done
if grep -q "COLO ended" "$NS_TMP/pxA.log"; then
	pass "A's proxy: $(grep -m1 "COLO ended (" "$NS_TMP/pxA.log" | cut -c1-160)"
	grep -q "held output stays held" "$NS_TMP/pxA.log" ||
		fail "A's proxy did not keep its output held: $(grep "COLO ended" "$NS_TMP/pxA.log")"
	expect_ge "COLO ends that kept output held (proxy.colo_lost)" "$(ctr A proxy.colo_lost)" 1
else
	# QEMU may exit before its COLO thread reports (seen in CI)
	echo "info: QEMU exited without reporting COLO's end this time"
fi
expect_eq "A's proxy mode after its VM's SIGTERM" \
	"$(px A status | sed -n 's/^mode //p')" protected
expect_eq "frames released solo after the SIGTERM" "$(ctr A proxy.released_unprotected)" "$r0"
echo "e2e: all checks passed"
