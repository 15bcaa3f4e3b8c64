#!/bin/bash
# Malformed frames from every side (the client, the PVM, the SVM) and
# garbage on the proxy channel: counted and dropped or held, never a crash;
# the pair goes on serving afterwards.
set -euo pipefail
. "$(dirname "$0")/topo.sh"
topo_up
CRAFT=$TOPO_ROOT/tests/scenario/craft.py
climac=$(ns_exec cli cat /sys/class/net/eth0/address)

# toward the VMs (mirrored to the secondary, injected, rewritten)
ns_run cli 20 "$NS_PYTHON" "$CRAFT" frames eth0 "$climac" $VM_MAC \
	$CLI4 $VM4 $CLI6 $VM6 || fail "craft (client)"
# from both VMs, identically (a VM that sends odd frames deterministically)
for v in pvm svm; do
	ns_run $v 20 "$NS_PYTHON" "$CRAFT" frames eth0 $VM_MAC "$climac" \
		$VM4 $CLI4 $VM6 $CLI6 || fail "craft ($v)"
done
sleep 0.5
expect_ge "malformed primary frames compared whole" "$(ctr A compare.malformed_primary)" 5
expect_ge "malformed secondary frames compared whole" "$(ctr A compare.malformed_secondary)" 5
# from the PVM only: held (nothing to confirm them), never released
ns_run pvm 20 "$NS_PYTHON" "$CRAFT" frames eth0 $VM_MAC "$climac" \
	$VM4 $CLI4 $VM6 $CLI6 || fail "craft (pvm only)"
sleep 0.5
px A status >/dev/null || fail "the primary's proxy died"
px B status >/dev/null || fail "the secondary's proxy died"
pass "both proxies alive after malformed frames"
expect_eq "released == confirmed by the comparator" "$(ctr A compare.released)" \
	"$(ctr A proxy.released)"

# garbage on the channel, from the peer's address (it replaces the real
# connection, which then comes back) and from another address (refused)
for kind in random crc huge type; do
	ns_run hostB 20 "$NS_PYTHON" "$CRAFT" garbage 10.99.0.1 7701 $kind ||
		fail "garbage $kind not refused"
	px_wait_up
done
expect_ge "channel protocol errors" "$(ctr A channel.proto_errors)" 4
ns_exec hostA ip addr add 10.99.0.9/24 dev repA
ns_run hostA 20 "$NS_PYTHON" -c "import socket; s = socket.socket(); s.bind(('10.99.0.9', 0)); s.connect(('10.99.0.1', 7701)); s.settimeout(3); print(s.recv(10))" ||
	true
expect_ge "connections from strangers refused" "$(ctr A channel.refused)" 1
px_wait_up
pass "the channel is up again"

# and the pair still serves, compared (a fresh page, both VMs agree)
ns_run cli 60 "$NS_PYTHON" "$LABNET" http-get --align $VM4 80 "$NS_TMP/www/pvm" 4 \
	page.html || fail "HTTP after the malformed input"
pass "HTTP still served through the pair"
