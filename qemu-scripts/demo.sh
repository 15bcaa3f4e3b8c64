#!/bin/bash
# qemu-scripts/demo.sh (make demo): the whole toolkit on one machine.
# Installs what is missing, builds, boots two real QEMU guests in network
# namespaces, pairs them under COLO, starts both proxies, drives a short
# client workload, shows what happened, then kills host A silently under
# load (colo-heartbeat fails over to B), brings A back empty and
# re-protects the pair (coloctl reprotect), and cleans everything up.
#   DEMO_REQUESTS=N   requests per service (default 20)
#   DEMO_KEEP=1       wait for Enter before cleaning up (look around with
#                     coloctl -s $NS_TMP/pxA.sock ...)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "make demo: run as root (network namespaces, netfilter, tap)" >&2; exit 1; }

N=${DEMO_REQUESTS:-20}
bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || bold='' dim='' off=''
T0=$SECONDS
step() { printf '\n%s[%3ds] %s%s\n' "$bold" $((SECONDS - T0)) "$*" "$off"; }
note() { printf '       %s\n' "$*"; }

step "1/9 packages and build"
scripts/install-deps.sh
make -s all

. qemu-scripts/lab.sh
ns_setup "demo$$" || exit 1
mkdir -p "$NS_TMP/dumps"

step "2/9 the lab QEMU (TCG checkpoint fix) and the guest; built once, then cached"
lab_build
note "QEMU:  $QEMU"
note "guest: $GUEST"

step "3/9 namespaces: LAN with a client, host A, host B, replication link"
lab_net || fail "cannot build the topology"
note "client 192.168.77.100 -> VM 192.168.77.10 / fd77::10 on host A's bridge"
note "host B's bridge is not on the LAN: the SVM never reaches a client"

step "4/9 both proxies (QMP checkpoint backend), then the two VMs"
lab_proxies
note "proxy A: $(px A status | grep '^mode') (follows COLO), proxy B: $(px B status | grep '^mode')"
lab_vm B
note "SVM started on host B, waiting for the migration (-incoming)"
lab_vm A
printf '       PVM booting under TCG '
LAB_PROGRESS=1 lab_wait_guest
note "$(grep -a -o -m1 'colokit-guest: ready.*' "$NS_TMP/pvm.serial" | tr -cd '[:print:]')"

step "5/9 pairing: coloctl pair (capabilities, migration, COLO state)"
lab_pair
note "proxy A: $(px A status | grep -E '^(mode|epoch)' | tr '\n' ' ')"

step "6/9 client workload ($N requests per service)"
run() {
	local what=$1 out; shift
	k0=$(ctr A checkpoint.completed)
	out=$(lab_client "$@") || fail "$what: $out"
	printf '       %-34s %s\n' "$what" "$out"
	printf '       %-34s %s\n' "" "$dim checkpoints during it: $(($(ctr A checkpoint.completed) - k0))$off"
}
run "deterministic page, 4 at a time" http $VM4 /det.html "$N" 4 \
	--sha "$(lab_sha det_html_sha256)"
run "1 MiB file" http $VM4 /1mb.bin "$((N / 4 + 1))" 2 \
	--sha "$(lab_sha mb1_bin_sha256)"
run "deterministic page over IPv6" http "$VM6" /det.html "$N" 4
run "echo service (TCP 7)" echo $VM4 7 "$((N * 10))" 512
run "RAM counter (never backwards)" counter $VM4 "$N"
run "page that differs between VMs" http $VM4 /cgi-bin/differ "$((N / 2))" 1

step "7/9 what happened"
echo "${bold}checkpoints${off} (coloctl checkpoints: epoch, reason, VM paused, request waited)"
px A checkpoints --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = [v for k, v in d.items() if k.startswith("c")]
for r in rows[-12:]:
    print("       epoch %-4d %-12s paused %7.1f ms   waited %7.1f ms" % (
        r["epoch"], r["reason"], r["paused_us"] / 1000, r["wait_us"] / 1000))
print("       ... %d in all" % d["total"])'
echo "${bold}counters${off} (coloctl counters)"
px A counters | grep -E '^proxy\.(released|released_matched|released_committed|divergences|mirrored|secondary_frames) |^checkpoint\.(completed|completed_mismatch|completed_manual|completed_resync|paused_p50_us|paused_p99_us|wait_p50_us|wait_p99_us) ' |
	sed 's/^/       /'
echo "${bold}divergences${off} (coloctl divergences; each one a pcapng you can open in Wireshark)"
px A divergences | grep -E '^d[0-9]+\.(reason|flow|offset|dump) ' | head -8 | sed 's/^/       /'
# kept after the clean-up, with the proxies' logs
KEEP=/tmp/colokit-demo
rm -rf "$KEEP" && mkdir -p "$KEEP"
cp -r "$NS_TMP/dumps" "$NS_TMP"/px?.log.* "$NS_TMP"/*.serial "$KEEP/" 2>/dev/null || true
note "kept in $KEEP: $(ls "$KEEP/dumps" | wc -l) pcapng files, the proxies' logs, the serial consoles"

echo
printf '%sSo far:%s every response the client got was either confirmed byte for byte by\n' "$bold" "$off"
echo "the secondary ($(ctr A proxy.released_matched) frames) or released after a checkpoint that covered it"
echo "($(ctr A proxy.released_committed) frames, $(ctr A checkpoint.completed) checkpoints); nothing else left host A."

step "8/9 colo-heartbeat on both hosts and a witness; then host A dies silently"
lab_heartbeats
note "A: $(hb_field A state), protected $(hb_field A protected); B: $(hb_field B state); heartbeat every $LAB_HB_INTERVAL, timeout $LAB_HB_TIMEOUT"
ns_spawn cli "$NS_TMP/checker.log" "$NS_PYTHON" "$LAB_ROOT/qemu-scripts/colo-checker.py" \
	run --addr $VM4 --long 2 --new 1 --http 0 --until-file "$NS_TMP/checker.stop" \
	--fail-file "$NS_TMP/failures" --out "$NS_TMP/checker.json"
CHECKER=$NS_LASTPID
note "the checker: 3 clients incrementing the guest's counter, every answer recorded"
sleep 3
echo "$("$NS_PYTHON" -c 'import time; print(time.monotonic())') silent death of host A" >"$NS_TMP/failures"
host_freeze A
note "host A frozen (SIGSTOP) and its links down: no FIN, no RST, no COLO_EXIT"
for i in $(seq 200); do
	[[ $(hb_field B state) == primary && $(hb_field B term) == 2 ]] && break
	sleep 0.05
done
note "B: $(hb_field B state) at term $(hb_field B term): $(hb_field B why)"
hb B status --json | python3 -c '
import json, sys
plan = json.load(sys.stdin)["plan"]
for st in plan["steps"]:
    print("         %-40s done %6.1f ms into the %s plan" % (st["step"], st["ms"], plan["plan"]))'
sleep 3

step "9/9 re-protection: host A comes back empty; coloctl reprotect on B"
lab_host_return A
lab_rejoin A a2
note "A: a fresh QEMU waiting for COLO, its proxy and heartbeat as secondary ($(hb_field A state), term $(hb_field A term))"
for i in $(seq 100); do
	[[ $(hb_field B peer.ready) == true ]] && break
	sleep 0.1
done
note "$(hb B reprotect --timeout 120 2>&1 | tr '\n' ' ')"
note "B: $(hb_field B state), protected $(hb_field B protected); proxy B: $(px B status | grep -E '^(role|mode|taken_over_connections) ' | tr '\n' ' ')"
sleep 3
touch "$NS_TMP/checker.stop"
wait "$CHECKER" || fail "the checker found violations: $(tail -12 "$NS_TMP/checker.log")"
unset "NS_PIDS[$CHECKER]"
sed -n '/^requests/,$p' "$NS_TMP/checker.log" | sed 's/^/       /'

echo
printf '%sSummary:%s every answer a client got was confirmed by the secondary or covered by a\n' "$bold" "$off"
echo "checkpoint; host A's silent death cost the clients a pause, not an answer (the checker's"
echo "verdict above), and the pair is protected again, now with B as its primary."
echo "Done in $((SECONDS - T0)) s."
if [[ ${DEMO_KEEP:-0} == 1 ]]; then
	echo "Everything is still running: try  $COLOCTL -s $NS_TMP/pxA.sock status"
	read -r -p "Press Enter to clean up. " _
fi
echo "Cleaning up (QEMUs, proxies, namespaces, netfilter rules)..."
