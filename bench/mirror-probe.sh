#!/bin/bash
# bench/mirror-probe.sh: a design probe, not a datapath: what host A would
# pay if the frames toward the PVM were mirrored to host B by the kernel
# (tc on the PVM's port) instead of through colo-proxy's queue 0 and its
# channel.  Measured on bench/datapath.sh's topology in its two-host
# emulation (-H there: host A, the client and the LAN on CPU 0, host B on
# CPU 1, RPS steering each namespace's receive processing to its CPU):
#
#   floor    both directions queued to build/bench/nfq_accept (as
#            datapath.sh's floor)
#   l2       only the PVM's output queued; the input cloned by tc (u32
#            match-all, mirred egress mirror) raw onto the replication link
#            toward host B: the cheapest kernel mirror there is (no
#            sequence numbers, no encapsulation; host B's kernel drops the
#            copies)
#   vxlan    the same, the copies into a VXLAN device toward host B (UDP,
#            one 24-bit VNI that a BPF program could use as a sequence
#            number); host B has no listener (the kernel drops them)
#
# Each: one iperf3 run of SECONDS cli -> PVM per round, the order rotating;
# printed: the receiver's rate, CPU 0's (host A's) and CPU 1's busy share,
# host A's CPU ms per Gbit moved and its ratio to the floor's, medians of
# the rounds.  No proxy runs: the figures bound what a kernel mirror can
# save, they do not measure colo-proxy.
#
# usage: bench/mirror-probe.sh [-t SECONDS] [-r ROUNDS]
# Needs root, two CPUs, iperf3, iptables-legacy, taskset, tc, and
# make build/bench/nfq_accept.
set -euo pipefail

DUR=5 ROUNDS=3
while getopts "t:r:h" opt; do
	case $opt in
	t) DUR=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	*) sed -n '/^# usage:/,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2 ;;
	esac
done
for v in "$DUR" "$ROUNDS"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "mirror-probe: bad number '$v'" >&2; exit 2; }
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS_LOGTAG=mirror-probe
# shellcheck source=../tests/scenario/topo.sh
. "$ROOT/tests/scenario/topo.sh"
NFQ=$ROOT/$TOPO_B/bench/nfq_accept
die() { echo "mirror-probe: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"
(($(nproc) >= 2)) || die "needs two CPUs, this machine has $(nproc)"
[[ -x $NFQ ]] || die "missing $NFQ: run make $TOPO_B/bench/nfq_accept"
for t in iperf3 iptables-legacy taskset; do
	command -v $t >/dev/null || die "missing $t"
done

ns_setup "mp$$" || die "cannot set up the namespaces"
topo_net || die "cannot build the topology"
topo_rps_hosts || die "cannot steer receive processing"
ns_spawn pvm "$NS_TMP/iperf-pvm.log" taskset -c 0 iperf3 -s -p 5201
ns_wait_listen pvm tcp 5201 || die "iperf3 did not start in pvm"
ns_exec hostA ip link add vx0 type vxlan id 42 remote 10.99.0.2 local 10.99.0.1 \
	dstport 4789 dev repA && ns_exec hostA ip link set vx0 up || die "cannot add vx0"
ns_sysctl hostA net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
OUT_RULE="FORWARD -m physdev --physdev-in tapA --physdev-is-bridged -j NFQUEUE --queue-num 1"
IN_RULE="FORWARD -m physdev --physdev-out tapA --physdev-is-bridged -j NFQUEUE --queue-num 0"

# busy and total ticks of CPU 0 and CPU 1
snap() { awk '$1 == "cpu0" || $1 == "cpu1" { printf "%d %d ", $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
NFQ_PID=
up() {
	local queues=(1)
	[[ $1 == floor ]] && queues=(0 1)
	ns_spawn hostA "$NS_TMP/nfq-$1.log" taskset -c 0 "$NFQ" "${queues[@]}"
	NFQ_PID=$NS_LASTPID
	for ((t = 0; t < 50; t++)); do
		(($(ns_exec hostA wc -l </proc/net/netfilter/nfnetlink_queue) == ${#queues[@]})) && break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	ns_exec hostA iptables-legacy -w 5 -A $OUT_RULE
	# shellcheck disable=SC2086
	case $1 in
	floor) ns_exec hostA iptables-legacy -w 5 -A $IN_RULE ;;
	l2 | vxlan)
		ns_exec hostA tc qdisc add dev tapA clsact &&
			ns_exec hostA tc filter add dev tapA egress prio 1 u32 match u32 0 0 \
				action mirred egress mirror dev "$([[ $1 == l2 ]] && echo repA || echo vx0)" ;;
	esac
}
down() {
	ns_exec hostA iptables-legacy -w 5 -F FORWARD
	[[ $1 == floor ]] || ns_exec hostA tc qdisc del dev tapA clsact
	ns_stop "$NFQ_PID" INT 3 || true
}
run() {
	local a b
	a=$(snap)
	ns_run cli $((DUR + 20)) taskset -c 0 iperf3 -c "$VM4" -p 5201 -t "$DUR" -J >"$NS_TMP/c.json" ||
		die "$1: iperf3 failed: $(tail -c 300 "$NS_TMP/c.json")"
	b=$(snap)
	"$NS_PYTHON" - "$1" "$a" "$b" "$NS_TMP/c.json" >>"$NS_TMP/results" <<'PY'
import json, sys
name, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
g = json.load(open(sys.argv[4]))["end"]["sum_received"]["bits_per_second"] / 1e9
busy = [(int(b[i]) - int(a[i])) / (int(b[i + 1]) - int(a[i + 1])) for i in (0, 2)]
print(name, g, busy[0], busy[1])
PY
}
PATHS=(floor l2 vxlan)
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < 3; k++)); do
		p=${PATHS[(r + k) % 3]}
		echo "mirror-probe: round $((r + 1))/$ROUNDS: $p" >&2
		up "$p"
		run "$p"
		down "$p"
	done
done
"$NS_PYTHON" - "$NS_TMP/results" "$DUR" "$ROUNDS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, g, b0, b1 = line.split()
    rows.setdefault(n, []).append((float(g), float(b0), float(b1)))
med = {n: [statistics.median(x[i] for x in v) for i in range(3)] +
          [statistics.median(1000 * x[1] / x[0] for x in v)] for n, v in rows.items()}
print("mirror-probe: %s rounds of iperf3 %s s (medians); host A = CPU 0 (with the client), "
      "host B = CPU 1" % (sys.argv[3], sys.argv[2]))
print("%-6s %8s %8s %8s %8s %14s %9s" % ("path", "Gbit/s", "/floor", "CPU 0", "CPU 1",
                                        "A ms/Gbit", "/floor"))
f = med["floor"]
for n in ("floor", "l2", "vxlan"):
    g, b0, b1, c = med[n]
    print("%-6s %8.2f %8.2f %7.0f%% %7.0f%% %14.1f %9.2f" % (n, g, g / f[0], 100 * b0,
                                                           100 * b1, c, c / f[3]))
PY
