# shellcheck shell=bash
# tests/lab/netns.sh: network-namespace helpers for colokit's lab scripts.
# Source it from bash (needs root, iproute2, tcpdump, coreutils' timeout):
#
#   . tests/lab/netns.sh
#   ns_setup ck-foo-$$            # prefix for every name; installs the traps
#   ns_add c; ns_add p            # namespaces ck-foo-1234-c, ck-foo-1234-p
#   ns_link c eth0 p eth0         # veth pair between them
#   ns_addr p eth0 10.0.0.2/24 fd00::2/64
#   ns_spawn p "$NS_TMP/httpd.log" busybox httpd -f -p 80; pid=$NS_LASTPID
#   ns_run c 10 busybox wget -O- http://10.0.0.2/
#   ...                           # everything is undone on exit, error or ^C
#
# Functions (SHORT is a namespace's short name, as given to ns_add):
#   setup      ns_setup PREFIX, ns_on_exit CMD, ns_cleanup, ns_stale PATTERN
#   namespaces ns_add SHORT, ns_del SHORT, ns_name SHORT, ns_exec SHORT CMD...
#              ns_sysctl SHORT KEY=VAL...
#   links      ns_link A IFA B IFB [MACA [MACB [MTU]]], ns_addr, ns_neigh,
#              ns_no_offload SHORT DEV
#   tc         ns_clsact, ns_mirror SHORT FROM TO [PRIO],
#              ns_drop SHORT DEV DIR [PRIO], ns_drop_match SHORT DEV DIR PRIO EXPR,
#              ns_vlan SHORT DEV VID [PRIO]
#   processes  ns_spawn SHORT LOG CMD... (background, PID in NS_LASTPID),
#              ns_run SHORT SECONDS CMD... (foreground, bounded), ns_stop PID,
#              ns_wait_listen SHORT tcp|udp PORT [SECONDS]
#   captures   ns_capture_start SHORT DEV FILE [DIR [FILTER]],
#              ns_capture_stop PID FILE [PID FILE...], NS_NOISE
#
# What is undone on exit (EXIT, INT, TERM), in this order: commands given to
# ns_on_exit; processes started with ns_spawn/ns_run/ns_capture_start (TERM,
# then KILL after a bounded wait; by PID only, and a PID is forgotten once
# reaped so a reused PID is never signalled); any process still inside one of
# *our* namespaces (children of those, e.g. forked httpd workers; by PID);
# the namespaces (which takes their veths, addresses and tc rules with them);
# NS_TMP.  Nothing is created in the root namespace: veth pairs are created
# with both ends directly inside their namespaces.  Do not replace the EXIT,
# INT or TERM traps after ns_setup.
#
# Names: a namespace is "$NS_PREFIX-<short>"; use a prefix with $$ in it so
# parallel runs and leftovers of killed runs never collide.

NS_PREFIX=
NS_TMP=
NS_LIST=()          # full namespace names, in creation order
declare -gA NS_PIDS=()  # PID we started -> its namespace
NS_EXIT_CMDS=()     # extra cleanup commands (eval'd)
NS_LASTPID=
NS_PYTHON=${NS_PYTHON:-}
NS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ns_log() { echo "${NS_LOGTAG:-netns}: $*" >&2; }

# ns_setup PREFIX: set the name prefix, make NS_TMP, install the traps.
ns_setup() {
	local t
	NS_PREFIX=$1
	if [[ $(id -u) != 0 ]]; then
		ns_log "must run as root"
		return 1
	fi
	for t in ip tc tcpdump timeout; do
		command -v "$t" >/dev/null || { ns_log "missing tool: $t"; return 1; }
	done
	if [[ -z $NS_PYTHON ]]; then
		# the system python: pyenv shims and the like need not work in a netns
		if [[ -x /usr/bin/python3 ]]; then NS_PYTHON=/usr/bin/python3
		else NS_PYTHON=$(command -v python3) || { ns_log "missing python3"; return 1; }
		fi
	fi
	NS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$NS_PREFIX.XXXXXX") || return 1
	trap 'ns_cleanup' EXIT
	trap 'ns_log "interrupted"; exit 130' INT
	trap 'ns_log "terminated"; exit 143' TERM
}

# ns_on_exit CMD: run CMD (eval'd) at cleanup, before processes are stopped.
ns_on_exit() { NS_EXIT_CMDS+=("$1"); }

ns_name() { echo "$NS_PREFIX-$1"; }

# ns_add SHORT: create namespace $NS_PREFIX-SHORT with loopback up.
ns_add() {
	local n=$NS_PREFIX-$1
	ip netns add "$n" || return 1
	NS_LIST+=("$n")
	ip -n "$n" link set lo up
}

# ns_exec SHORT CMD...: run CMD inside the namespace.
ns_exec() {
	local n=$NS_PREFIX-$1; shift
	ip netns exec "$n" "$@"
}

# ns_sysctl SHORT KEY=VALUE...
ns_sysctl() {
	local n=$NS_PREFIX-$1 kv; shift
	for kv in "$@"; do
		ip netns exec "$n" sysctl -qw "$kv" || { ns_log "sysctl $kv failed in $n"; return 1; }
	done
}

# ns_link NS_A IF_A NS_B IF_B [MAC_A [MAC_B [MTU]]]: a veth pair between two of
# our namespaces, both ends up, no IPv6 link-local address (so the kernels
# send no router solicitations or DAD on their own).
ns_link() {
	local a=$NS_PREFIX-$1 ia=$2 b=$NS_PREFIX-$3 ib=$4 ma=${5:-} mb=${6:-} mtu=${7:-}
	ip link add name "$ia" netns "$a" type veth peer name "$ib" netns "$b" || return 1
	[[ -n $ma ]] && { ip -n "$a" link set "$ia" address "$ma" || return 1; }
	[[ -n $mb ]] && { ip -n "$b" link set "$ib" address "$mb" || return 1; }
	if [[ -n $mtu ]]; then
		ip -n "$a" link set "$ia" mtu "$mtu" && ip -n "$b" link set "$ib" mtu "$mtu" || return 1
	fi
	ip -n "$a" link set "$ia" addrgenmode none && ip -n "$b" link set "$ib" addrgenmode none &&
		ip -n "$a" link set "$ia" up && ip -n "$b" link set "$ib" up
}

# ns_addr SHORT DEV ADDR/LEN...: add IPv4/IPv6 addresses (IPv6 without DAD).
ns_addr() {
	local n=$NS_PREFIX-$1 dev=$2 a; shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then ip -n "$n" addr add "$a" dev "$dev" nodad || return 1
		else ip -n "$n" addr add "$a" dev "$dev" || return 1
		fi
	done
}

# ns_neigh SHORT DEV MAC ADDR...: permanent neighbour entries (no ARP/ND).
ns_neigh() {
	local n=$NS_PREFIX-$1 dev=$2 mac=$3 a; shift 3
	for a in "$@"; do
		ip -n "$n" neigh replace "$a" lladdr "$mac" dev "$dev" nud permanent || return 1
	done
}

# ns_no_offload SHORT DEV: make the stack hand DEV one MSS per packet (no
# TSO/GSO super-frames): ethtool if installed, else gso_max_segs 1.
ns_no_offload() {
	local n=$NS_PREFIX-$1 dev=$2
	if command -v ethtool >/dev/null &&
		ip netns exec "$n" ethtool -K "$dev" tso off gso off >/dev/null 2>&1; then
		return 0
	fi
	ip -n "$n" link set "$dev" gso_max_segs 1 || {
		ns_log "cannot disable segmentation offload on $dev in $n"
		return 1
	}
}

# ns_clsact SHORT DEV: add a clsact qdisc (idempotent).
ns_clsact() {
	local n=$NS_PREFIX-$1 dev=$2
	ip netns exec "$n" tc qdisc show dev "$dev" | grep -q clsact && return 0
	ip netns exec "$n" tc qdisc add dev "$dev" clsact
}

# ns_mirror SHORT FROM_DEV TO_DEV [PRIO]: every frame leaving FROM_DEV is also
# sent, unchanged, out of TO_DEV (tc mirred mirror on clsact egress).
ns_mirror() {
	local n=$NS_PREFIX-$1 from=$2 to=$3 prio=${4:-10}
	ns_clsact "$1" "$from" || return 1
	ip netns exec "$n" tc filter add dev "$from" egress prio "$prio" protocol all \
		u32 match u32 0 0 action mirred egress mirror dev "$to"
}

# ns_drop SHORT DEV ingress|egress [PRIO]: drop every frame (classic BPF
# "ret #TC_ACT_SHOT" in direct-action mode: act_gact may be missing).
ns_drop() {
	local n=$NS_PREFIX-$1 dev=$2 dir=$3 prio=${4:-1}
	ns_clsact "$1" "$dev" || return 1
	ip netns exec "$n" tc filter add dev "$dev" "$dir" prio "$prio" protocol all \
		bpf da bytecode '1,6 0 0 2,'
}

# ns_drop_match SHORT DEV ingress|egress PRIO PCAP-FILTER: drop the frames that
# match a tcpdump filter expression (compiled with tcpdump -ddd; a match
# returns TC_ACT_SHOT, anything else TC_ACT_UNSPEC so later filters still run).
# The expression sees the frame from its Ethernet header; hardware-accelerated
# VLAN tags are not part of it.
ns_drop_match() {
	local n=$NS_PREFIX-$1 dev=$2 dir=$3 prio=$4 expr=$5 code
	ns_clsact "$1" "$dev" || return 1
	code=$(ip netns exec "$n" tcpdump -i "$dev" -ddd "$expr" 2>/dev/null) || {
		ns_log "cannot compile filter: $expr"
		return 1
	}
	code=$(echo "$code" | awk 'NR == 1 { printf "%s", $0; next }
		$1 == 6 { $4 = ($4 == 0) ? "4294967295" : "2" }
		{ printf ",%s %s %s %s", $1, $2, $3, $4 } END { print "," }')
	ip netns exec "$n" tc filter add dev "$dev" "$dir" prio "$prio" protocol all \
		bpf da bytecode "$code"
}

# ns_vlan SHORT DEV VID [PRIO]: make DEV carry only 802.1Q-tagged frames of VID,
# like the parent of a VLAN sub-interface: an eBPF program pushes the tag on
# egress and another pops it on ingress (for kernels without 8021q).  Use a
# lower PRIO than any mirror on DEV so that mirrored copies are tagged too.
ns_vlan() {
	local n=$NS_PREFIX-$1 dev=$2 vid=$3 prio=${4:-1}
	ns_clsact "$1" "$dev" || return 1
	ip netns exec "$n" "$NS_PYTHON" "$NS_DIR/tcbpf.py" vlan-push "$dev" egress "$prio" "$vid" &&
		ip netns exec "$n" "$NS_PYTHON" "$NS_DIR/tcbpf.py" vlan-pop "$dev" ingress "$prio"
}

# ns_spawn SHORT LOGFILE CMD...: start CMD in the background inside the
# namespace, stdout and stderr to LOGFILE; its PID in NS_LASTPID (ip netns
# exec execs CMD, so this is CMD's own PID).
ns_spawn() {
	local n=$NS_PREFIX-$1 log=$2; shift 2
	ip netns exec "$n" "$@" </dev/null >"$log" 2>&1 &
	NS_LASTPID=$!
	NS_PIDS[$NS_LASTPID]=$n
}

# ns_run SHORT SECONDS CMD...: run CMD in the namespace and wait for it; it is
# killed after SECONDS (KILLed 2 s later).  It runs as a background job that
# we wait for, so a signal to this shell is handled at once (the cleanup then
# stops it) rather than when CMD ends.  Returns CMD's status.
ns_run() {
	local n=$NS_PREFIX-$1 t=$2 pid rc; shift 2
	timeout -k 2 "$t" ip netns exec "$n" "$@" <&0 &
	pid=$!
	NS_PIDS[$pid]=$n
	wait "$pid"
	rc=$?
	unset 'NS_PIDS[$pid]'
	return $rc
}

# ns_stop PID [SIGNAL [SECONDS]]: signal one of our processes, wait for it
# (bounded), KILL it if it is still there, reap it and forget it (so that a
# reused PID is never signalled).  Returns its exit status.
ns_stop() {
	local pid=$1 sig=${2:-TERM} t=${3:-5} i rc=0
	[[ -n ${NS_PIDS[$pid]:-} ]] || { ns_log "ns_stop: $pid is not ours"; return 1; }
	unset 'NS_PIDS[$pid]'
	# SIGCONT too: a process a test froze (SIGSTOP) must see the signal
	_ns_alive "$pid" && kill -s "$sig" "$pid" 2>/dev/null &&
		kill -CONT "$pid" 2>/dev/null
	for ((i = 0; i < t * 20; i++)); do
		_ns_alive "$pid" || break
		sleep 0.05
	done
	if _ns_alive "$pid"; then
		ns_log "PID $pid ignored SIG$sig for ${t}s, killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return $rc
}

# _ns_alive PID: the process exists and is not a zombie waiting to be reaped.
_ns_alive() {
	local st
	st=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# ns_wait_listen SHORT tcp|udp PORT [SECONDS]: wait until a socket is bound to
# PORT in the namespace.
ns_wait_listen() {
	local n=$NS_PREFIX-$1 proto=$2 port=$3 t=${4:-5} i opt
	[[ $proto == tcp ]] && opt=-Hltn || opt=-Hlun
	for ((i = 0; i < t * 20; i++)); do
		ip netns exec "$n" ss $opt "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	ns_log "nothing listens on $proto port $port in $n after ${t}s"
	return 1
}

# Capture noise: frames the kernels emit on their own timing (ARP, neighbour
# discovery, router solicitation/advertisement, MLD (carried behind an IPv6
# hop-by-hop header), redirects).  Our traffic never uses hop-by-hop headers.
NS_NOISE='arp or (ip6 and (ip6[6] == 0 or (ip6[6] == 58 and ip6[40] >= 130 and ip6[40] <= 143)))'

# ns_capture_start SHORT DEV FILE [out|in|inout [FILTER]]: tcpdump into FILE
# (full frames, a 64 MB ring); returns once tcpdump is listening.  Default:
# outbound only, without NS_NOISE.  PID in NS_LASTPID.
# Not --immediate-mode: libpcap then uses TPACKET_V2, whose ring has one
# snaplen-sized slot per frame (~250 slots for 64 KB frames), and a burst of
# small frames overflows it.  TPACKET_V3 packs frames but hands a block to
# tcpdump only when it is full or 1 s old: see ns_capture_stop.
ns_capture_start() {
	local n=$NS_PREFIX-$1 dev=$2 file=$3 dir=${4:-out} filter=${5:-"not ($NS_NOISE)"} i
	local err=$NS_TMP/${file//\//_}.tcpdump
	ns_spawn "$1" "$err" tcpdump -i "$dev" -Q "$dir" -s 0 -B 65536 -Z root \
		-U -n -w "$file" "$filter"
	for ((i = 0; i < 100; i++)); do
		grep -q '^tcpdump: listening on' "$err" 2>/dev/null && return 0
		_ns_alive "$NS_LASTPID" || break
		sleep 0.05
	done
	ns_log "tcpdump on $dev in $n did not start: $(cat "$err" 2>/dev/null)"
	return 1
}

# ns_capture_stop PID FILE [PID FILE...]: stop captures once the traffic is
# over.  The ring's last, partly filled block reaches tcpdump at most 1 s
# after its first packet, so: wait 1.1 s, then until no FILE has grown for
# 0.3 s (bounded at 8 s in all), stop each tcpdump with SIGINT (it writes out
# what it has read), and fail if its kernel ring dropped packets.
ns_capture_stop() {
	local -a pids=() files=()
	local i sizes last='' quiet=0 rc=0 dropped
	while (($# >= 2)); do pids+=("$1"); files+=("$2"); shift 2; done
	sleep 1.1
	for ((i = 0; i < 69 && quiet < 3; i++)); do
		sleep 0.1
		sizes=$(stat -c %s "${files[@]}" 2>/dev/null | tr '\n' ' ')
		if [[ $sizes == "$last" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
		last=$sizes
	done
	for i in "${!pids[@]}"; do
		ns_stop "${pids[i]}" INT 10
		dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' \
			"$NS_TMP/${files[i]//\//_}.tcpdump")
		if [[ $dropped != 0 ]]; then
			ns_log "tcpdump into ${files[i]}: kernel dropped '${dropped}' packets"
			rc=1
		fi
	done
	return $rc
}

# ns_stale: print namespaces with our prefix pattern whose creating shell is
# gone (leftovers of a killed run).  Only reports; never deletes them.
ns_stale() {
	local pat=$1 n pid
	for n in $(ip netns list | awk '{print $1}'); do
		[[ $n == "$pat"-* ]] || continue
		pid=${n#"$pat"-}; pid=${pid%%-*}
		[[ $pid =~ ^[0-9]+$ ]] || continue
		kill -0 "$pid" 2>/dev/null || echo "$n"
	done
}

# ns_del SHORT: stop every process still inside one namespace and delete it.
ns_del() {
	local n=$NS_PREFIX-$1 i pid
	for pid in "${!NS_PIDS[@]}"; do
		[[ ${NS_PIDS[$pid]} == "$n" ]] && ns_stop "$pid" TERM 3
	done
	_ns_kill_inside "$n"
	ip netns del "$n" 2>/dev/null
	for i in "${!NS_LIST[@]}"; do
		[[ ${NS_LIST[i]} == "$n" ]] && unset 'NS_LIST[i]'
	done
	NS_LIST=("${NS_LIST[@]}")
}

_ns_kill_inside() {
	local n=$1 pids i
	for ((i = 0; i < 3; i++)); do
		pids=$(ip netns pids "$n" 2>/dev/null) || return 0
		[[ -z $pids ]] && return 0
		# shellcheck disable=SC2086
		kill -s "$([[ $i == 0 ]] && echo TERM || echo KILL)" $pids 2>/dev/null
		sleep 0.2
	done
}

# ns_cleanup: undo everything (idempotent; runs from the EXIT trap).
ns_cleanup() {
	local rc=$? c pid n i
	trap - EXIT INT TERM
	set +e		# a caller's errexit must not cut the cleanup short
	for c in "${NS_EXIT_CMDS[@]}"; do eval "$c" || true; done
	NS_EXIT_CMDS=()
	for pid in "${!NS_PIDS[@]}"; do ns_stop "$pid" TERM 3; done
	for n in "${NS_LIST[@]}"; do _ns_kill_inside "$n"; done
	for n in "${NS_LIST[@]}"; do ip netns del "$n" 2>/dev/null; done
	NS_LIST=()
	if [[ ${NS_KEEP_TMP:-0} == 1 && -n $NS_TMP ]]; then
		echo "netns: kept $NS_TMP (NS_KEEP_TMP=1)" >&2
	elif [[ -n $NS_TMP && -d $NS_TMP ]]; then
		rm -rf "$NS_TMP"
	fi
	NS_TMP=
	return $rc
}
