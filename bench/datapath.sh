#!/bin/bash
# bench/datapath.sh: what the proxy pair costs on the datapath, as ratios
# against baselines measured in the same run on the same topology
# (tests/scenario/topo.sh: cli on a LAN bridge, pvm behind hostA's bridge,
# svm behind hostB's, the proxies' replication link between the hosts):
#
#   direct  cli -> hostA's bridge -> pvm, no netfilter (bridge-nf-call-* = 0)
#   floor   hostA queues the PVM's port both ways (iptables-legacy physdev
#           NFQUEUE rules, queue 1 from the VM, queue 0 toward it), served by
#           build/bench/nfq_accept with its defaults (GSO flag, batched
#           verdicts, 8 MiB receive buffer): what the queue alone costs
#   pair    colo-proxy primary on hostA and secondary on hostB, protected
#           mode, checkpoint backend "none" (a fresh pair per round)
#
# Measured in RUNS rounds; each round measures every path once (the order
# rotating, so that drift from other load on the machine falls on all
# paths alike): request/response latency (tests/lab/labnet.py rr-client: N
# sequential round trips of SIZE bytes over one TCP connection to the
# echo-server running in both VMs), then bulk TCP throughput cli -> VM with
# iperf3 for DURATION s (server in both VMs; the PVM server's receiver
# rate).  Reported: the median of the RUNS throughputs, p50/p99 of all
# round trips.
# The table goes to stdout, progress to stderr, everything (machine,
# versions, parameters, raw samples, the proxies' counters) to a JSON file.
#
# iperf3 ends each test with an exchange of results in which its server
# reports its own CPU use and timings (and closes its data socket with FIN
# or RST depending on what it had read): the two VMs differ there by
# design, so the pair asks for a checkpoint at the end of every iperf3 run,
# and with the "none" backend the client then waits forever for the
# server's results.  The script stops the client 2 s after its test time
# (the server has its result then; it is what is reported, on every path),
# and counts those requests apart ("iperf3 end of test"), with those on an
# earlier run's connections (the servers outlive a stopped client: the PVM
# retransmits the results the last pair held into the next pair's start).  Any other checkpoint request, queue loss or failed client makes
# the run INVALID: it is reported, never hidden.
#
# usage: bench/datapath.sh [-k] [-H] [-o FILE] [-t SECONDS] [-r RUNS] [-n N] [-s SIZE]
#                          [-C ALGO] [-p PATHS]
#   -o FILE     JSON results (default bench/results/datapath-DATE.json)
#   -k          also keep the raw files (logs, the proxies' divergence
#               captures) in the directory FILE-without-.json-files
#   -t SECONDS  iperf3 duration per run (default 5)
#   -r RUNS     rounds, i.e. iperf3 runs per path (default 3)
#   -n N        request/response round trips per round (default 2000, after
#               200 untimed)
#   -s SIZE     request/response size in bytes (default 64)
#   -C ALGO     TCP congestion control of the iperf3 client (iperf3 -C;
#               default: the system's, recorded in the JSON)
#   -p PATHS    measure only these paths, comma-separated (default
#               direct,floor,pair; for profiling one of them: the ratios
#               need all three)
#   -H          two hosts on one machine: host A (its proxy or queue
#               program, the PVM) with the client and the LAN on CPU 0,
#               host B (its proxy, the SVM) on CPU 1 (processes pinned
#               with taskset, each namespace's receive processing steered
#               there with RPS); reports each host's CPU per Gbit.  Without
#               it every process and packet may use every CPU, and the pair
#               runs two hosts' work on the one machine
# Exit status: 0 measured and valid (whether or not the goals are met),
# 1 setup error, 3 a path failed or the pair run is invalid.
# Needs root, iperf3, iptables-legacy, python3, and a build: make, plus
# make build/bench/nfq_accept (or make bench).
set -euo pipefail

CMDLINE="$0${*:+ $*}"
DUR=5 RUNS=3 RR_N=2000 RR_SIZE=64 RR_WARM=200 OUT='' KEEP='' PATHS=(direct floor pair) CC='' HOSTS=''
usage() {
	sed -n '/^# usage:/,/^set -euo/{/^set/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit "${1:-2}"
}
while getopts "ko:t:r:n:s:p:C:Hh" opt; do
	case $opt in
	k) KEEP=1 ;;
	o) OUT=$OPTARG ;;
	t) DUR=$OPTARG ;;
	r) RUNS=$OPTARG ;;
	n) RR_N=$OPTARG ;;
	s) RR_SIZE=$OPTARG ;;
	p) IFS=, read -r -a PATHS <<<"$OPTARG" ;;
	C) CC=$OPTARG ;;
	H) HOSTS=1 ;;
	h) usage 0 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
(($# == 0)) || usage
for v in "$DUR" "$RUNS" "$RR_N" "$RR_SIZE"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "datapath: bad number '$v'" >&2; usage; }
done
((${#PATHS[@]} > 0)) || { echo "datapath: no path given to -p" >&2; usage; }
for v in "${PATHS[@]}"; do
	[[ $v == direct || $v == floor || $v == pair ]] ||
		{ echo "datapath: unknown path '$v' (direct, floor or pair)" >&2; usage; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATE=$(date +%Y%m%d-%H%M%S)
[[ -n $OUT ]] || OUT=$ROOT/bench/results/datapath-$DATE.json
NS_LOGTAG=datapath
# shellcheck source=../tests/scenario/topo.sh
. "$ROOT/tests/scenario/topo.sh"
NFQ_ACCEPT=$ROOT/$TOPO_B/bench/nfq_accept
REPORT=$ROOT/bench/datapath.py
IPERF_PORT=5201
ECHO_PORT=7002

die() { echo "datapath: $*" >&2; exit 1; }
T_START=${EPOCHREALTIME//[.,]/}
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
progress() {
	local ms=$(($(now_ms) - T_START / 1000))
	printf 'datapath [%3d.%ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*" >&2
}

[[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"
[[ -z $HOSTS ]] || (($(nproc) >= 2)) || die "-H needs two CPUs, this machine has $(nproc)"
for t in iperf3 iptables-legacy ${HOSTS:+taskset}; do
	command -v "$t" >/dev/null || die "missing $t (scripts/install-deps.sh installs it)"
done
for f in "$PROXY" "$COLOCTL"; do
	[[ -x $f ]] || die "missing $f: run make"
done
[[ -x $NFQ_ACCEPT ]] || die "missing $NFQ_ACCEPT: run make $TOPO_B/bench/nfq_accept"

# new namespaces inherit the system's congestion control
CC_USED=${CC:-$(sysctl -n net.ipv4.tcp_congestion_control) (the system default)}
ns_setup "dp$$" || die "cannot set up the namespaces"
RES=$NS_TMP/res
mkdir -p "$RES" "$NS_TMP/dumps"
{
	echo "date=$(date -Iseconds)"
	echo "command=$CMDLINE"
	echo "root=$ROOT"
	echo "duration_s=$DUR"
	echo "runs=$RUNS"
	echo "rr_n_per_round=$RR_N"
	echo "rr_size=$RR_SIZE"
	echo "rr_warmup=$RR_WARM"
	echo "iperf3_client=iperf3 -c VM -p $IPERF_PORT -t $DUR -f k --connect-timeout 3000${CC:+ -C $CC}"
	echo "tcp_congestion_control=$CC_USED"
	echo "iperf3_server=iperf3 -s -p $IPERF_PORT -f k --forceflush (in pvm and svm)"
	echo "rr=labnet.py rr-client (python3, TCP_NODELAY, one connection) -> labnet.py echo-server (pvm and svm)"
	echo "floor_rules=FORWARD -m physdev --physdev-in tapA --physdev-is-bridged -j NFQUEUE --queue-num 1; FORWARD -m physdev --physdev-out tapA --physdev-is-bridged -j NFQUEUE --queue-num 0"
	echo "floor_program=nfq_accept -v 0 1 (defaults: GSO flag, batch 64, rcvbuf 8 MiB, queue maxlen 4096)"
	echo "direct_sysctl=hostA net.bridge.bridge-nf-call-iptables=0, ip6tables=0"
	echo "pair=colo-proxy primary (hostA) + secondary (hostB), protected mode, checkpoint backend none, conf as tests/scenario/topo.sh; a fresh pair per round (rr, then iperf3)"
	echo "paths=${PATHS[*]}"
	if [[ -n $HOSTS ]]; then
		echo "hosts=two: CPU 0 host A (hostA, pvm) with the client and the LAN (cli, lan), CPU 1 host B (hostB, svm); processes pinned with taskset, receive processing steered with RPS (rps_cpus of every interface)"
	else
		echo "hosts=shared: every process and packet may use every CPU"
	fi
	echo "order=rounds; each measures every path once, the order rotating (direct floor pair, floor pair direct, ...)"
	echo "clk_tck=$(getconf CLK_TCK)"
	echo "namespace_prefix=$NS_PREFIX"
	echo "loadavg_start=$(cat /proc/loadavg)"
	echo "proxy_sha256=$(sha256sum "$PROXY" | cut -d' ' -f1)"
} >"$RES/params"

# The JSON and the table, also after a failure half-way (before the traps
# tear everything down): what was measured is reported.
REPORTED=
report() {
	local rc=0
	[[ -z $REPORTED ]] || return 0
	REPORTED=1
	echo "runtime_s=$((($(now_ms) - T_START / 1000) / 1000))" >>"$RES/params"
	"$NS_PYTHON" "$REPORT" report "$RES" "$OUT" || rc=$?
	if [[ -n $KEEP ]]; then
		local keep=${OUT%.json}-files
		rm -rf "$keep" && mkdir -p "$keep" && cp -r "$RES"/. "$keep/" &&
			cp -r "$NS_TMP/dumps" "$NS_TMP"/iperf-*.log "$NS_TMP"/echo-*.log "$keep/" &&
			echo "raw files: $keep" >&2
	fi
	return $rc
}
ns_on_exit 'report || true'

declare -A IPERF_SRV=()
# ---- topology and servers ----------------------------------------------------

# pin NS: the words that run a command on that namespace's CPU with -H
# (none without it)
pin() { [[ -z $HOSTS ]] || echo "taskset -c $(topo_cpu_of "$1")"; }

progress "building the topology (prefix $NS_PREFIX)"
topo_net || die "cannot build the topology"
[[ -z $HOSTS ]] || topo_rps_hosts || die "cannot steer receive processing"
for v in pvm svm; do
	# shellcheck disable=SC2046
	ns_spawn $v "$NS_TMP/iperf-$v.log" $(pin $v) iperf3 -s -p $IPERF_PORT -f k --forceflush
	IPERF_SRV[$v]=$NS_LASTPID
	# shellcheck disable=SC2046
	ns_spawn $v "$NS_TMP/echo-$v.log" $(pin $v) "$NS_PYTHON" "$LABNET" echo-server $ECHO_PORT
done
for v in pvm svm; do
	ns_wait_listen $v tcp $IPERF_PORT && ns_wait_listen $v tcp $ECHO_PORT ||
		die "the servers did not start in $v"
done

# ---- measurements ---------------------------------------------------------------

count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

# cpu_snap NAME=PID...: one line of CPU time (clock ticks, user + system)
# per process, and the machine's busy and total ticks (/proc/stat)
cpu_snap() {
	local a
	for a in "$@"; do
		echo "${a%%=*} $(awk '{ print $14 + $15 }' "/proc/${a#*=}/stat" 2>/dev/null || echo -)"
	done
	awk '$1 ~ /^cpu[0-9]*$/ { print ($1 == "cpu" ? "machine" : $1), $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat
}

# WATCH: NAME=PID of the processes whose CPU use the iperf3 runs record
WATCH=()

# rr PATH ROUND: one request/response block; its status in rr-PATH-ROUND.rc
rr() {
	local p=$1 f=$RES/rr-$1-$2 rc=0
	progress "$p: $RR_N round trips of $RR_SIZE bytes"
	# shellcheck disable=SC2046
	ns_run cli $((RR_N / 200 + 30)) $(pin cli) "$NS_PYTHON" "$LABNET" rr-client \
		--out "$f.json" --timeout 5 "$VM4" $ECHO_PORT "$RR_N" "$RR_SIZE" \
		"$RR_WARM" >"$f.out" 2>"$f.err" || rc=$?
	echo $rc >"$f.rc"
	if ((rc == 0)); then
		progress "$p:   $(cat "$f.out")"
	else
		progress "$p:   rr-client failed (status $rc): $(tail -n 1 "$f.err")"
	fi
}

# iperf PATH ROUND: one iperf3 run; the servers' output for it in
# iperf-PATH-ROUND.pvm/.svm, how the client ended in iperf-PATH-ROUND.state
iperf() {
	local p=$1 f=$RES/iperf-$1-$2 v pid st=ok rc=0 t0 t vms=pvm
	local -A off=() lis=()
	[[ $p == pair ]] && vms="pvm svm"
	for v in $vms; do
		off[$v]=$(stat -c %s "$NS_TMP/iperf-$v.log")
		lis[$v]=$(count "Server listening" "$NS_TMP/iperf-$v.log")
	done
	progress "$p: iperf3 for ${DUR}s"
	# shellcheck disable=SC2046
	ns_spawn cli "$f.client" $(pin cli) iperf3 -c "$VM4" -p $IPERF_PORT -t "$DUR" -f k \
		--connect-timeout 3000 ${CC:+-C "$CC"}
	pid=$NS_LASTPID
	t0=$(now_ms)
	local -a watch=("${WATCH[@]}")
	cpu_snap "${watch[@]}" >"$f.cpu0"
	# a client still there 2 s after its test time waits for results that
	# the pair holds (see the top), or is stuck: stop it
	while _ns_alive "$pid"; do
		t=$(now_ms)
		if [[ ! -e $f.cpu1 ]] && ((t - t0 >= DUR * 1000)); then
			cpu_snap "${watch[@]}" >"$f.cpu1"
			echo "$((t - t0))" >"$f.cpu_ms"
		fi
		if ((t - t0 > DUR * 1000 + 2000)); then
			st=stopped
			break
		fi
		sleep 0.1
	done
	if [[ ! -e $f.cpu1 ]]; then
		cpu_snap "${watch[@]}" >"$f.cpu1"
		echo "$(($(now_ms) - t0))" >"$f.cpu_ms"
	fi
	ns_stop "$pid" INT 3 || rc=$?
	[[ $st == ok && $rc != 0 ]] && st=failed
	echo "$st $rc" >"$f.state"
	# both servers back to listening (a stopped client tells them so; they
	# write their summary then)
	for v in $vms; do
		for ((t = 0; t < 50; t++)); do
			(($(count "Server listening" "$NS_TMP/iperf-$v.log") > lis[$v])) && break
			sleep 0.1
		done
		tail -c +$((off[$v] + 1)) "$NS_TMP/iperf-$v.log" >"$f.$v"
	done
	t=$(sed -n 's/.* \([0-9.]*\) Kbits\/sec.*receiver.*/\1/p' "$f.pvm" | head -n 1)
	if [[ -n $t ]]; then
		t=$(awk -v k="$t" 'BEGIN { printf "%.2f Gbit/s (server side)", k / 1e6 }')
	else
		t="no result from the server"
	fi
	[[ $st == ok ]] || t="$t; client $st"
	progress "$p:   $t"
}

# ---- the paths: PATH_up ROUND / PATH_down ROUND ---------------------------------------

direct_up() {
	ns_sysctl hostA net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0
}
direct_down() { :; }

FLOOR_RULES=(
	"FORWARD -m physdev --physdev-in tapA --physdev-is-bridged -j NFQUEUE --queue-num 1"
	"FORWARD -m physdev --physdev-out tapA --physdev-is-bridged -j NFQUEUE --queue-num 0"
)
NFQ_PID=
floor_up() {
	local r t
	# shellcheck disable=SC2046
	ns_spawn hostA "$RES/nfq_accept-$1.log" $(pin hostA) "$NFQ_ACCEPT" -v 0 1
	NFQ_PID=$NS_LASTPID
	for ((t = 0; t < 50; t++)); do
		[[ $(ns_exec hostA awk '$1 == 0 || $1 == 1' /proc/net/netfilter/nfnetlink_queue \
			2>/dev/null | wc -l) == 2 ]] && break
		_ns_alive "$NFQ_PID" || die "nfq_accept exited: $(cat "$RES/nfq_accept-$1.log")"
		sleep 0.1
	done
	((t < 50)) || die "nfq_accept did not bind queues 0 and 1"
	for r in "${FLOOR_RULES[@]}"; do
		# shellcheck disable=SC2086
		ns_exec hostA iptables-legacy -w 5 -A $r || die "cannot add: $r"
	done
	ns_sysctl hostA net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
}
floor_down() {
	local r
	for r in "${FLOOR_RULES[@]}"; do
		# shellcheck disable=SC2086
		ns_exec hostA iptables-legacy -w 5 -D $r || die "cannot delete: $r"
	done
	ns_stop "$NFQ_PID" INT 5 || true
	NFQ_PID=
	if ns_exec hostA iptables-legacy-save -t filter 2>/dev/null | grep -q -- '^-A'; then
		die "rules left in hostA after the floor"
	fi
}

# pair_up ROUND: a fresh proxy pair (secondary first), channel up; 1 on
# failure (the reason in px-ROUND.err)
PAIR_OK=
pair_up() {
	local r=$1 h conf i
	PAIR_OK=
	ns_sysctl hostA net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
	for h in B A; do
		conf=$(topo_conf $h)
		# shellcheck disable=SC2046
		ns_spawn host$h "$NS_TMP/px$h.log.$r" $(pin host$h) "$PROXY" -d -v -c "$conf"
		PX_PID[$h]=$NS_LASTPID
		ln -sf "$NS_TMP/px$h.log.$r" "$NS_TMP/px$h.log"
		for ((i = 0; i < 100; i++)); do
			px $h status >/dev/null 2>&1 && break
			_ns_alive "${PX_PID[$h]}" || break
			sleep 0.05
		done
		if ((i == 100)) || ! _ns_alive "${PX_PID[$h]}"; then
			echo "proxy $h did not start: $(tail -n 3 "$NS_TMP/px$h.log.$r")" >"$RES/px-$r.err"
			return 1
		fi
	done
	for ((i = 0; i < 100; i++)); do
		if px A status | grep -q "^channel up" && px B status | grep -q "^channel up"; then
			PAIR_OK=1
			return 0
		fi
		sleep 0.05
	done
	echo "the proxy channel did not come up" >"$RES/px-$r.err"
	return 1
}

# pair_down ROUND: record the counters and divergences, stop both proxies
pair_down() {
	local r=$1 h
	for h in A B; do
		[[ -n ${PX_PID[$h]:-} ]] || continue
		px $h --json counters >"$RES/px-$r.$h.counters.json" 2>/dev/null || true
	done
	[[ -n ${PX_PID[A]:-} ]] && { px A divergences >"$RES/px-$r.A.divergences" 2>/dev/null || true; }
	# this round's captures apart (each pair numbers its files from 1)
	mkdir -p "$NS_TMP/dumps/round-$r"
	find "$NS_TMP/dumps" -maxdepth 1 -name '*.pcapng' -exec mv -t "$NS_TMP/dumps/round-$r" {} +
	for h in A B; do
		if [[ -n ${PX_PID[$h]:-} ]]; then
			ns_stop "${PX_PID[$h]}" TERM 5 || true
			unset "PX_PID[$h]"
		fi
		cp "$NS_TMP/px$h.log.$r" "$RES/px-$r.$h.log" 2>/dev/null || true
	done
}

# pair_mark ROUND: the primary's uptime as the iperf3 client starts (the
# divergences' times count from the proxy's start)
pair_mark() {
	px A --json status 2>/dev/null | grep -o '"uptime_ms":[0-9]*' | cut -d: -f2 \
		>"$RES/px-$1.u0" || true
}

# measure PATH ROUND: the request/response block, then one iperf3 run
measure() {
	local p=$1 r=$2
	WATCH=("server_pvm=${IPERF_SRV[pvm]}")
	if [[ $p == pair ]]; then
		if ! pair_up "$r"; then
			progress "pair: $(cat "$RES/px-$r.err")"
			echo "failed 1" >"$RES/iperf-pair-$r.state"
			echo 1 >"$RES/rr-pair-$r.rc"
			pair_down "$r"
			return 0
		fi
		rr pair "$r"
		WATCH+=("server_svm=${IPERF_SRV[svm]}" "proxy_A=${PX_PID[A]}" "proxy_B=${PX_PID[B]}")
		pair_mark "$r"
		iperf pair "$r"
		pair_down "$r"
	else
		"${p}_up" "$r"
		[[ $p == floor ]] && WATCH+=("nfq_accept=$NFQ_PID")
		rr "$p" "$r"
		iperf "$p" "$r"
		"${p}_down" "$r"
	fi
}

# Rounds: each measures every path once, the order rotating, so that the
# machine's drift (other load) falls on all paths alike.
for ((round = 1; round <= RUNS; round++)); do
	progress "round $round/$RUNS"
	for ((k = 0; k < ${#PATHS[@]}; k++)); do
		measure "${PATHS[(round - 1 + k) % ${#PATHS[@]}]}" "$round"
	done
done

progress "done"
echo "completed=1" >>"$RES/params"
rc=0
report || rc=$?
exit $rc
