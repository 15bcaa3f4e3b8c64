# shellcheck shell=bash
# tests/scenario/topo.sh: the proxy pair in network namespaces, for the
# scenario tests.  Source it, then call topo_up; everything is undone on exit
# (tests/lab/netns.sh's traps), even on failure.
#
#   cli ─ lan (brlan) ─┬─ hostA: br0 ── tapA ── pvm   colo-proxy primary
#   (192.168.77.100)   │          repA 10.99.0.1 ──┐
#                      │                            │ replication link
#                      └╳ hostB: br0 ── tapB ── svm │ colo-proxy secondary
#                               repB 10.99.0.2 ─────┘ (br0 not on the LAN)
#
# pvm and svm are the two "VMs": namespaces with the same MAC and addresses
# (192.168.77.10, fd77::10), running the same real servers.
#
# Helpers:
#   topo_up                      build it, start the servers, start both proxies
#   px_start A|B, px_kill A|B [SIG], PX_PID[A|B]
#   px A|B ARGS...               coloctl against that proxy
#   ctr A|B GROUP.KEY            one counter's value
#   ctr_sum A|B PREFIX           the sum of the counters whose names start so
#   expect_eq WHAT GOT WANT, expect_ge, expect_le, fail MSG, pass MSG
#   rules_count A|B              jumps to our chain in FORWARD (iptables-legacy)
#   stream_start                 a 20 MB stream to the VMs, read at 3 MB/s,
#                                running (2 MB in) on return; STREAM_PID
#   progress, received           bytes its application read / its TCP got
#   stream_finish                wait for it; fail unless every byte was right

. "$(dirname "${BASH_SOURCE[0]}")/../lab/netns.sh"

TOPO_B=${B:-build}
TOPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROXY=$TOPO_ROOT/$TOPO_B/bin/colo-proxy
COLOCTL=$TOPO_ROOT/$TOPO_B/bin/coloctl
LABNET=$TOPO_ROOT/tests/lab/labnet.py
VM_MAC=52:54:00:c0:10:01
VM4=192.168.77.10
VM6=fd77::10
CLI4=192.168.77.100
CLI6=fd77::100
declare -gA PX_PID=()
NS_LOGTAG=${NS_LOGTAG:-scenario}
export COLOKIT_LOG_TIME=1	# the daemons' log lines carry the time
TOPO_EXTRA_CONF=${TOPO_EXTRA_CONF:-}	# appended to both proxies' files
TOPO_EXTRA_CONF_A=${TOPO_EXTRA_CONF_A:-}	# ... to one of them
TOPO_EXTRA_CONF_B=${TOPO_EXTRA_CONF_B:-}

fail() {
	echo "FAIL: $*" >&2
	local f
	# the heartbeats' and relays' decisions first (where there are any),
	# then the proxies' last lines
	for f in "$NS_TMP"/hb?.log "$NS_TMP"/rl?.log; do
		[[ -e $f ]] || continue
		grep -E "state |COLO_EXIT|path .*down|closing both sides|fenc|QMP lost" "$f" |
			tail -n 8 | sed "s|^|${f##*/}: |" >&2 || true
	done
	for f in "$NS_TMP"/px?.log; do [[ -e $f ]] && { echo "---- $f" >&2; tail -n 40 "$f" >&2; }; done
	exit 1
}
pass() { echo "ok: $*"; }
expect_eq() { [[ $2 == "$3" ]] || fail "$1: got $2, want $3"; pass "$1 = $2"; }
expect_ge() { (($2 >= $3)) || fail "$1: got $2, want >= $3"; pass "$1 = $2 (>= $3)"; }
expect_le() { (($2 <= $3)) || fail "$1: got $2, want <= $3"; pass "$1 = $2 (<= $3)"; }

px() {
	local h=$1; shift
	ns_exec "host$h" "$COLOCTL" -s "$NS_TMP/px$h.sock" "$@"
}

ctr() {
	px "$1" counters | awk -v k="$2" '$1 == k { print $2; found = 1 }
		END { if (!found) print "missing" }'
}

ctr_sum() {
	px "$1" counters | awk -v p="$2" 'index($1, p) == 1 { s += $2 }
		END { print s + 0 }'
}

rules_count() {
	ns_exec "host$1" iptables-legacy-save -t filter 2>/dev/null |
		grep -c -- "-A FORWARD -j COLO-" || true
}

progress() { cat "$NS_TMP/s.progress" 2>/dev/null || echo 0; }

# what the client's TCP stack received (its socket buffer holds megabytes
# that the application has not read yet)
received() {
	ns_exec cli ss -Htni dst $VM4 | grep -o 'bytes_received:[0-9]*' |
		cut -d: -f2 | head -1
}

stream_start() {
	local i
	ns_spawn cli "$NS_TMP/stream-get.log" "$NS_PYTHON" "$LABNET" stream-get \
		$VM4 7000 20000000 "$NS_TMP/s" 3000000
	STREAM_PID=$NS_LASTPID
	for i in $(seq 200); do (($(progress) > 2000000)) && break; sleep 0.05; done
	(($(progress) > 2000000)) || fail "the stream did not start: $(progress) bytes"
	pass "stream running: $(progress) bytes"
}

stream_finish() {
	local i
	for i in $(seq 600); do kill -0 "$STREAM_PID" 2>/dev/null || break; sleep 0.05; done
	wait "$STREAM_PID" || fail "stream: $(cat "$NS_TMP/stream-get.log")"
}

# topo_conf A|B: the proxy's configuration file; A is the primary and B
# the secondary unless TOPO_ROLE_A / TOPO_ROLE_B say otherwise (a
# re-protected pair). The secondary's listen address is the one it uses
# once promoted (coloctl promote).
topo_conf() {
	local h=$1 f=$NS_TMP/px$1.conf me=1 other=2 role
	[[ $h == B ]] && me=2 other=1
	role=TOPO_ROLE_$h
	role=${!role:-$([[ $h == A ]] && echo primary || echo secondary)}
	if [[ $role == primary ]]; then
		cat >"$f" <<-CONF
		[proxy]
		name = pair
		role = primary
		vm_port = tap$h
		control = $NS_TMP/px$h.sock
		dump_dir = $NS_TMP/dumps
		[channel]
		listen = 10.99.0.$me:7701
		peer = 10.99.0.$other
		keepalive = 100ms
		timeout = 600ms
		reconnect = 100ms
		CONF
	else
		cat >"$f" <<-CONF
		[proxy]
		name = pair
		role = secondary
		vm_port = tap$h
		vm_mac = $VM_MAC
		control = $NS_TMP/px$h.sock
		dump_dir = $NS_TMP/dumps
		[channel]
		peer = 10.99.0.$other:7701
		listen = 10.99.0.$me:7701
		keepalive = 100ms
		timeout = 600ms
		reconnect = 100ms
		[inject]
		bridge = br0
		port = inj0
		CONF
	fi
	[[ -n $TOPO_EXTRA_CONF ]] && printf '%s\n' "$TOPO_EXTRA_CONF" >>"$f"
	local per=TOPO_EXTRA_CONF_$h
	[[ -n ${!per:-} ]] && printf '%s\n' "${!per}" >>"$f"
	echo "$f"
}

# daemon_start NAME NS LOG PROBE CMD...: spawn CMD in NS with its log in
# LOG.N (LOG itself links to the latest run), then wait until PROBE
# succeeds (its control socket answers); DAEMON_PID on return
daemon_start() {
	local name=$1 ns=$2 log=$3 probe=$4 i; shift 4
	DAEMON_RUNS=$((${DAEMON_RUNS:-0} + 1))
	ns_spawn "$ns" "$log.$DAEMON_RUNS" "$@"
	DAEMON_PID=$NS_LASTPID
	ln -sf "$log.$DAEMON_RUNS" "$log"
	for i in $(seq 100); do
		$probe >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	fail "$name did not start"
}

# px_start A|B: start that host's proxy, wait for its control socket
px_start() {
	local h=$1 conf
	conf=$(topo_conf "$h")
	daemon_start "proxy $h" "host$h" "$NS_TMP/px$h.log" "px $h status" \
		"$PROXY" -d -v -c "$conf"
	PX_PID[$h]=$DAEMON_PID
}

px_kill() {
	ns_stop "${PX_PID[$1]}" "${2:-TERM}" 5 || true
	unset "PX_PID[$1]"
}

# px_wait_up: both proxies report the channel up
px_wait_up() {
	local i
	for i in $(seq 100); do
		px A status | grep -q "^channel up" &&
			px B status | grep -q "^channel up" && return 0
		sleep 0.05
	done
	fail "the proxy channel did not come up"
}

topo_net() {
	local n
	for n in lan cli hostA hostB pvm svm; do ns_add $n || return 1; done
	ns_exec lan ip link add brlan type bridge &&
		ns_exec lan ip link set brlan up || return 1
	ns_link cli eth0 lan cli0 && ns_exec lan ip link set cli0 master brlan &&
		ns_addr cli eth0 $CLI4/24 $CLI6/64 || return 1
	for h in A B; do
		ns_exec host$h ip link add br0 type bridge &&
			ns_exec host$h ip link set br0 addrgenmode none &&
			ns_exec host$h ip link set br0 up || return 1
		ns_sysctl host$h net.bridge.bridge-nf-call-iptables=1 \
			net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true
	done
	ns_link lan lanA hostA upA && ns_exec lan ip link set lanA master brlan &&
		ns_exec hostA ip link set upA master br0 || return 1
	ns_link hostA tapA pvm eth0 "" $VM_MAC && ns_exec hostA ip link set tapA master br0 &&
		ns_link hostB tapB svm eth0 "" $VM_MAC && ns_exec hostB ip link set tapB master br0 ||
		return 1
	for v in pvm svm; do
		ns_addr $v eth0 $VM4/24 $VM6/64 || return 1
	done
	ns_link hostA repA hostB repB && ns_addr hostA repA 10.99.0.1/24 &&
		ns_addr hostB repB 10.99.0.2/24
}

# Two hosts emulated on a machine's first two CPUs (bench/datapath.sh -H,
# bench/mirror-probe.sh): topo_cpu_of NS is the CPU of that namespace's
# host, 1 for host B (hostB, svm), 0 for host A and the rest (the client,
# the LAN); topo_rps_hosts steers every namespace's receive processing
# (rps_cpus of each interface) to that CPU.
topo_cpu_of() { case $1 in hostB | svm) echo 1 ;; *) echo 0 ;; esac; }
topo_rps_hosts() {
	local n
	for n in lan cli hostA hostB pvm svm; do
		# shellcheck disable=SC2016
		ns_exec $n sh -c 'for f in /sys/class/net/*/queues/rx-*/rps_cpus; do
			echo "$1" >"$f" || exit 1; done' sh $((1 << $(topo_cpu_of $n))) ||
			{ echo "cannot set RPS in $n" >&2; return 1; }
	done
}

topo_servers() {
	local v
	"$NS_PYTHON" "$LABNET" content "$NS_TMP/www" >"$NS_TMP/content.txt" || return 1
	for v in pvm svm; do
		ns_spawn $v "$NS_TMP/httpd-$v.log" busybox httpd -f -p 80 -h "$NS_TMP/www/$v" || return 1
		ns_spawn $v "$NS_TMP/tcpsrv-$v.log" "$NS_PYTHON" "$LABNET" tcp-server 7000 || return 1
		ns_spawn $v "$NS_TMP/udpsrv-$v.log" "$NS_PYTHON" "$LABNET" udp-server 7001 || return 1
	done
	for v in pvm svm; do
		ns_wait_listen $v tcp 80 && ns_wait_listen $v tcp 7000 || return 1
	done
}

topo_up() {
	ns_setup "${1:-cs$$}" || exit 1
	mkdir -p "$NS_TMP/dumps"
	topo_net || fail "cannot build the topology"
	topo_servers || fail "cannot start the servers"
	px_start B
	px_start A
	px_wait_up
}
