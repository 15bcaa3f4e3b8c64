#!/bin/bash
# shellcheck disable=SC2317  # scenario functions are called as "$fn"
# tests/lab/record-pair.sh OUTDIR [SCENARIO...]
#
# Records real traffic between real Linux TCP/IP stacks, as a COLO comparator
# sees it: a primary "VM" (P) and a secondary "VM" (S) receive the very same
# client frames and each produces its own output.  For each scenario NAME it
# writes OUTDIR/NAME.pvm.pcap (every frame P sent), OUTDIR/NAME.svm.pcap
# (every frame S sent) and OUTDIR/NAME.info, key=value lines:
#   expect=match|diverge  family=4|6  proto=tcp|udp|icmp
#   diverge_port=, diverge_offset=  (diverging TCP only: 0-based offset of the
#       first differing byte in the server->client payload stream of the first
#       diverging connection; computed from the served content)
#   vlan=VID (vlan only), then informational keys from pcapcheck.py
#   (pvm_frames, svm_frames, isn_equal, svm_retrans_segs, ...).
# Scenarios (default: all, in this order):
#   tcp4-same tcp6-same  32 concurrent HTTP fetches from busybox httpd (16 x a
#                        small page, 16 x 1 MB), P with TSO/GSO, S without
#   tcp4-differ          one page that differs at a known offset   (diverge)
#   udp4 udp6            echo of datagrams up to 8000 bytes (IP fragments)
#   icmp4 icmp6          pings of 56 and 4000 bytes (IP fragments)
#   vlan                 TCP over VLAN 100 (tags visible in both captures)
#   rst                  a server that ends every connection with a RST
#   retrans              bulk download; the client's pure ACKs of the tail
#                        never reach S, which retransmits
# Run as root; needs iproute2, tcpdump, busybox-static, python3, procps (and
# util-linux's taskset).  Prints one line per scenario (frames per side and a
# few facts); exits 1 if any scenario's setup, client check or capture check
# failed.  CK_REC_KEEP_FAILED=1 keeps the captures of failed attempts as
# NAME.failedN.{pvm,svm}.pcap.
#
# Topology (fresh namespaces per scenario, named ck-rec-<pid>-<name>-{c,p,s}):
#
#            namespace C (client)                      namespace P (primary)
#   10.77.0.1/24  fd00:77::1/64                     10.77.0.2/24  fd00:77::2/64
#   MAC 02:00:0c:77:00:01                          MAC 02:00:0c:77:00:02
#  +---------------------------------+   veth    +----------------------------+
#  |  clients            pvm0 -------+-----------+- eth0   servers            |
#  |                     | tc egress |           |  TSO/GSO on (64K frames)   |
#  |                     | mirred    |           |  tcp_syncookies=2          |
#  |                     | mirror    |           |  tcpdump -Q out (pvm.pcap) |
#  |                     v           |           +----------------------------+
#  |                     svm0 -------+---+       namespace S (secondary)
#  |     tc ingress: drop everything |   |       same IPs, same MAC as P
#  +---------------------------------+   | veth +----------------------------+
#                                        +------+- eth0   servers (same)     |
#                                               |  no TSO/GSO (1 MSS/frame)  |
#                                               |  tcp_syncookies=2          |
#                                               |  tcpdump -Q out (svm.pcap) |
#                                               +----------------------------+
#
# C reaches the server addresses over pvm0 (permanent neighbour entries, so no
# ARP or neighbour discovery anywhere; no IPv6 link-local addresses either).
# A tc mirror on pvm0's egress sends a copy of every client frame out of svm0
# (the copy leaves first), so S receives exactly what P receives; everything
# S sends is dropped as it enters C (classic BPF "return TC_ACT_SHOT": this
# kernel has no act_gact), so the client only ever talks to P.  With
# tcp_syncookies=2 both stacks answer a SYN with the same ISN (the cookie
# secret is per boot, not per namespace), so S completes the handshake the
# client makes with P without any sequence rewriting; pcapcheck.py checks the
# ISNs of every connection.  Captures are on P's and S's eth0, outbound only,
# without ARP/ND/MLD/RS noise.
#
# Nothing holds P's output here (that is the comparator's job), which makes
# S fragile: see "Keeping S in step" below.  So every capture pair is checked
# by pcapcheck.py (streams, FIN/RST and final ACK equal, or first difference
# where NAME.info says), and a scenario that fails is retried once.
# VLAN: this kernel has no 8021q (no VLAN sub-interfaces) and no act_vlan, so
# tcbpf.py attaches eBPF programs that push the tag on egress and pop it on
# ingress, on C's pvm0 and on P's and S's eth0: eth0 then behaves like the
# parent of a VLAN 100 sub-interface, and its captures show the 802.1Q tags.
#
# Cleanup: all namespaces, processes, tc rules and temporary files are
# removed on exit, error, ^C or SIGTERM (traps in netns.sh).  No traffic
# leaves the namespaces this script creates.
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=netns.sh
. "$HERE/netns.sh"

usage() { echo "usage: $0 OUTDIR [SCENARIO...]" >&2; exit 2; }
[[ $# -ge 1 && $1 != -* ]] || usage
OUT=$1; shift
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1

# shellcheck disable=SC2034  # used by netns.sh
NS_LOGTAG=record-pair
ns_setup "ck-rec-$$" || exit 1
for t in busybox taskset nice ss sysctl; do
	command -v "$t" >/dev/null || { echo "record-pair: missing tool: $t" >&2; exit 1; }
done
for n in $(ns_stale ck-rec); do
	echo "record-pair: warning: stale namespace $n (ip netns del $n)" >&2
done

PY=$NS_PYTHON
LAB=$HERE/labnet.py
C4=10.77.0.1 V4=10.77.0.2 C6=fd00:77::1 V6=fd00:77::2
CMAC=02:00:0c:77:00:01 VMAC=02:00:0c:77:00:02
WWW=$NS_TMP/www
DIFFER_BODY_OFFSET=$("$PY" "$LAB" content "$WWW" | sed -n 's/^differ_body_offset=//p')
[[ -n $DIFFER_BODY_OFFSET ]] || { echo "record-pair: cannot make content" >&2; exit 1; }
printf '' >"$NS_TMP/httpd.conf"

# Keeping S in step.  The client acknowledges P's data as soon as P sends it.
# A segment that acknowledges bytes S has not sent yet is discarded whole by
# S ("ACK of unsent data"), and if S needed it to open its window, or it
# carried a request or a FIN, S never recovers.  Hence:
# - S never needs an ACK to send a whole response: P and S have initcwnd 1000
#   on their route to the client, the client advertises a ~1.4 MB window from
#   its first ACK on (initrwnd 1000, 4 MB tcp_rmem), and P and S have a 4 MB
#   initial send buffer, so a response (at most 1 MB) leaves in one go;
# - S usually runs first: the mirror delivers each client frame to S before
#   P, and S's servers run at nice -20 on the same CPU as P's (the client on
#   another CPU when there is one);
# - S may then run far ahead, so P and S have rto_min 5 s and no tail-loss
#   probes (except in the retrans scenario), or S would retransmit while it
#   waits for ACKs that the client sends only after P's data;
# - before a client sends a segment S must not miss (the next request, its
#   FIN, the line that makes the server reset), it waits until S's socket
#   shows S has sent everything that segment acknowledges (labnet.py --sync,
#   polling ss in S's namespace; bounded): the lab's stand-in for the
#   comparator holding P's output.
cpus=$("$PY" -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[0], c[-1])')
read -r SRV_CPU CLI_CPU <<<"$cpus"
PRE_P=(taskset -c "$SRV_CPU")
PRE_S=(taskset -c "$SRV_CPU" nice -n -20)
PRE_C=(taskset -c "$CLI_CPU")

# ---------------------------------------------------------------- framework
# Per-scenario state, set by the scenario functions.
T=            # namespace tag of the current scenario (c, p, s under it)
INFO=()       # extra key=value lines for NAME.info
CHECK=()      # extra pcapcheck.py arguments
VLAN=         # VID if the pair runs over a VLAN
CAP_P='' CAP_S='' # tcpdump PIDs
SNS=''        # full name of S's namespace (for the clients' --sync)

fail() { echo "record-pair: $SCN: $*" >&2; return 1; }

# pair_up [VID]: namespaces $T-c, $T-p, $T-s wired as in the header.
# LOSSY=1: keep Linux's loss timers (RTO >= 200 ms, tail-loss probes); else
# P and S get rto_min 5 s and no TLP, so that S, which runs ahead, does not
# retransmit while it waits for the ACKs the client sends to P.
pair_up() {
	local vid=${1:-} vm TLP=0
	local -a rto=(rto_min 5s)
	[[ -n ${LOSSY:-} ]] && rto=() TLP=3
	VLAN=$vid SNS=$(ns_name "$T-s")
	ns_add "$T-c" && ns_add "$T-p" && ns_add "$T-s" || return 1
	ns_link "$T-c" pvm0 "$T-p" eth0 "$CMAC" "$VMAC" || return 1
	ns_link "$T-c" svm0 "$T-s" eth0 "$CMAC" "$VMAC" || return 1
	ns_addr "$T-c" pvm0 "$C4/24" "$C6/64" || return 1
	ns_neigh "$T-c" pvm0 "$VMAC" "$V4" "$V6" || return 1
	ns_exec "$T-c" ip route add "$V4/32" dev pvm0 initrwnd 1000 &&
		ns_exec "$T-c" ip -6 route add "$V6/128" dev pvm0 initrwnd 1000 &&
		ns_sysctl "$T-c" "net.ipv4.tcp_rmem=4096 4194304 16777216" \
			net.ipv4.tcp_congestion_control=reno || return 1
	for vm in p s; do
		ns_addr "$T-$vm" eth0 "$V4/24" "$V6/64" || return 1
		ns_neigh "$T-$vm" eth0 "$CMAC" "$C4" "$C6" || return 1
		ns_exec "$T-$vm" ip route add "$C4/32" dev eth0 initcwnd 1000 "${rto[@]}" &&
			ns_exec "$T-$vm" ip -6 route add "$C6/128" dev eth0 initcwnd 1000 "${rto[@]}" ||
			return 1
		ns_sysctl "$T-$vm" net.ipv4.tcp_syncookies=2 net.ipv4.tcp_congestion_control=reno \
			"net.ipv4.tcp_wmem=4096 4194304 16777216" "net.ipv4.tcp_early_retrans=$TLP" || return 1
	done
	ns_no_offload "$T-s" eth0 || return 1
	if [[ -n $vid ]]; then
		ns_vlan "$T-c" pvm0 "$vid" 1 && ns_vlan "$T-p" eth0 "$vid" 1 &&
			ns_vlan "$T-s" eth0 "$vid" 1 || return 1
	fi
	ns_mirror "$T-c" pvm0 svm0 10 || return 1
	ns_drop "$T-c" svm0 ingress 1 || return 1
}

# serve CMD...: start the same server in P and in S (S first in line).
serve() {
	ns_spawn "$T-p" "$NS_TMP/$SCN.p.server.log" "${PRE_P[@]}" "$@" &&
		ns_spawn "$T-s" "$NS_TMP/$SCN.s.server.log" "${PRE_S[@]}" "$@"
}

# capture_start / capture_stop: tcpdump on eth0 of P and S, outbound only.
capture_start() {
	local filter="not ($NS_NOISE)"
	[[ -n $VLAN ]] && filter="vlan $VLAN and not ($NS_NOISE)"
	ns_capture_start "$T-p" eth0 "$OUT/$SCN.pvm.pcap" out "$filter" || return 1
	CAP_P=$NS_LASTPID
	ns_capture_start "$T-s" eth0 "$OUT/$SCN.svm.pcap" out "$filter" || return 1
	CAP_S=$NS_LASTPID
}

capture_stop() {
	ns_capture_stop "$CAP_P" "$OUT/$SCN.pvm.pcap" "$CAP_S" "$OUT/$SCN.svm.pcap"
}

# client SECONDS CMD...: run a client in C; its output is kept on failure.
client() {
	local t=$1 rc; shift
	ns_run "$T-c" "$t" "${PRE_C[@]}" "$@" >"$NS_TMP/$SCN.client.out" 2>&1
	rc=$?
	if [[ $rc != 0 ]]; then
		fail "client failed (rc $rc): $*"
		sed 's/^/  | /' "$NS_TMP/$SCN.client.out" >&2
	fi
	return "$rc"
}

run_scenario() {
	local name=$1 fn=$2 attempt rc start check ms
	SCN=$name
	for attempt in 1 2; do
		T=$name INFO=() CHECK=() VLAN='' LOSSY=
		rm -f "$OUT/$name".{pvm.pcap,svm.pcap,info}
		start=$(date +%s%N)
		rc=0
		"$fn" || rc=1
		ns_del "$T-c"; ns_del "$T-p"; ns_del "$T-s"
		if [[ $rc == 0 ]]; then
			if check=$("$PY" "$HERE/pcapcheck.py" "$OUT/$name.pvm.pcap" \
				"$OUT/$name.svm.pcap" "${CHECK[@]}" 2>"$NS_TMP/$name.check.err"); then
				{ printf '%s\n' "${INFO[@]}"; echo "$check"; } >"$OUT/$name.info"
				ms=$((($(date +%s%N) - start) / 1000000))
				printf '%-12s pvm %6s frames  svm %6s frames  %3d.%ds  %s\n' "$name" \
					"$(sed -n 's/^pvm_frames=//p' <<<"$check")" \
					"$(sed -n 's/^svm_frames=//p' <<<"$check")" \
					$((ms / 1000)) $((ms % 1000 / 100)) "$(summary "$check")"
				return 0
			fi
			echo "record-pair: $name: capture check failed:" >&2
			sed 's/^/  | /' "$NS_TMP/$name.check.err" >&2
		fi
		if [[ -n ${CK_REC_KEEP_FAILED:-} ]]; then   # debugging aid
			for f in pvm.pcap svm.pcap; do
				[[ -f $OUT/$name.$f ]] && mv "$OUT/$name.$f" "$OUT/$name.failed$attempt.$f"
			done
		fi
		rm -f "$OUT/$name".{pvm.pcap,svm.pcap,info}
		[[ $attempt == 1 ]] && echo "record-pair: $name: retrying once" >&2
	done
	printf '%-12s FAILED\n' "$name"
	return 1
}

summary() {   # a few facts from pcapcheck's output
	local c=$1 k s=
	for k in isn_equal svm_retrans_segs pvm_max_frame svm_max_frame pvm_fragments; do
		s+="$k=$(sed -n "s/^$k=//p" <<<"$c") "
	done
	echo "${s% }"
}

# ---------------------------------------------------------------- scenarios
# Each: build the pair, start servers, start captures, run the client(s),
# stop captures; fill INFO (NAME.info lines) and CHECK (pcapcheck options).

httpd() {   # busybox httpd in P (docroot www/pvm) and S (www/svm), port 80
	ns_spawn "$T-p" "$NS_TMP/$SCN.p.httpd.log" "${PRE_P[@]}" busybox httpd -f -p 80 \
		-c "$NS_TMP/httpd.conf" -h "$WWW/pvm" &&
		ns_spawn "$T-s" "$NS_TMP/$SCN.s.httpd.log" "${PRE_S[@]}" busybox httpd -f -p 80 \
			-c "$NS_TMP/httpd.conf" -h "$WWW/svm" || return 1
	ns_wait_listen "$T-p" tcp 80 && ns_wait_listen "$T-s" tcp 80
}

tcp_same() {   # tcp_same FAMILY ADDR
	INFO=(expect=match "family=$1" proto=tcp)
	CHECK=(--expect match --want-seg-diff --min-conns 32)
	pair_up && httpd && capture_start &&
		client 60 "$PY" "$LAB" http-get --align --sync "$SNS" "$2" 80 "$WWW/pvm" 32 \
			page.html big.bin &&
		capture_stop
}
scn_tcp4_same() { tcp_same 4 "$V4"; }
scn_tcp6_same() { tcp_same 6 "$V6"; }

scn_tcp4_differ() {
	local hdr
	pair_up && httpd && capture_start &&
		client 30 "$PY" "$LAB" http-get --align --sync "$SNS" --dump "$NS_TMP/differ.raw" \
			"$V4" 80 "$WWW/pvm" 1 differ.html &&
		capture_stop || return 1
	hdr=$(sed -n 's/^header_bytes=//p' "$NS_TMP/$SCN.client.out")
	[[ -n $hdr ]] || { fail "no header length"; return 1; }
	INFO=(expect=diverge family=4 proto=tcp diverge_port=80
		"diverge_offset=$((hdr + DIFFER_BODY_OFFSET))")
	CHECK=(--expect diverge --diverge-port 80 --diverge-offset "$((hdr + DIFFER_BODY_OFFSET))")
}

udp() {   # udp FAMILY ADDR
	INFO=(expect=match "family=$1" proto=udp)
	CHECK=(--expect match --want-frags)
	pair_up && serve "$PY" "$LAB" udp-server 7 && ns_wait_listen "$T-p" udp 7 &&
		ns_wait_listen "$T-s" udp 7 && capture_start &&
		client 20 "$PY" "$LAB" udp-client "$2" 7 64 1 1200 4000 1472 8000 300 &&
		capture_stop
}
scn_udp4() { udp 4 "$V4"; }
scn_udp6() { udp 6 "$V6"; }

icmp() {   # icmp FAMILY ADDR
	INFO=(expect=match "family=$1" proto=icmp)
	CHECK=(--expect match --want-frags)
	pair_up && capture_start &&
		client 20 busybox ping "-$1" -A -c 3 -s 56 -W 2 "$2" &&
		client 20 busybox ping "-$1" -A -c 2 -s 4000 -W 2 "$2" &&
		capture_stop
}
scn_icmp4() { icmp 4 "$V4"; }
scn_icmp6() { icmp 6 "$V6"; }

scn_vlan() {
	INFO=(expect=match family=4 proto=tcp vlan=100)
	CHECK=(--expect match --vlan 100 --want-seg-diff --min-conns 8)
	pair_up 100 && httpd && capture_start &&
		client 30 "$PY" "$LAB" http-get --align --sync "$SNS" "$V4" 80 "$WWW/pvm" 8 \
			page.html big.bin &&
		capture_stop
}

scn_rst() {
	INFO=(expect=match family=4 proto=tcp)
	CHECK=(--expect match --min-conns 3)
	pair_up && serve "$PY" "$LAB" tcp-server 9000 && ns_wait_listen "$T-p" tcp 9000 &&
		ns_wait_listen "$T-s" tcp 9000 && capture_start &&
		client 30 "$PY" "$LAB" rst-client --sync "$SNS" "$V4" 9000 3 &&
		capture_stop
}

scn_retrans() {
	# 1 MB, then a 16 KB tail after which the server closes.  The client
	# marks its socket TOS 0x28 for the tail, and its pure ACKs so marked
	# (tcp flags == ACK) never reach S: S retransmits the tail and its FIN
	# (tail-loss probe, then RTO) until the client's FIN, sent unmarked
	# 0.7 s later, acknowledges everything.  P sees every ACK.
	INFO=(expect=match family=4 proto=tcp)
	CHECK=(--expect match --want-retrans --min-conns 1)
	LOSSY=1 pair_up &&
		ns_drop_match "$T-c" svm0 egress 1 'ip[1] == 0x28 and tcp[13] == 0x10' &&
		serve "$PY" "$LAB" tcp-server 9000 && ns_wait_listen "$T-p" tcp 9000 &&
		ns_wait_listen "$T-s" tcp 9000 && capture_start &&
		client 30 "$PY" "$LAB" bulk-client --sync "$SNS" "$V4" 9000 1048576 16384 0x28 0.7 &&
		capture_stop
}

ALL=(tcp4-same tcp6-same tcp4-differ udp4 udp6 icmp4 icmp6 vlan rst retrans)
(($#)) || set -- "${ALL[@]}"
t0=$(date +%s)
failed=()
for s in "$@"; do
	fn=scn_${s//-/_}
	declare -F "$fn" >/dev/null || { echo "record-pair: unknown scenario $s" >&2; failed+=("$s"); continue; }
	run_scenario "$s" "$fn" || failed+=("$s")
done
echo "record-pair: $(($# - ${#failed[@]})) of $# scenarios recorded in $OUT ($(($(date +%s) - t0)) s)"
if ((${#failed[@]})); then
	echo "record-pair: FAILED: ${failed[*]}" >&2
	exit 1
fi
exit 0
