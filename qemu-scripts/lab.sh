# shellcheck shell=bash
# qemu-scripts/lab.sh: two real QEMU guests under COLO, in network
# namespaces on one machine, with both proxies. Source it, then call
# lab_up; everything (QEMUs, proxies, namespaces, rules) is undone on exit,
# even on failure (tests/lab/netns.sh's traps).
#
#   cli ─ lan (brlan) ─┬─ hostA: br0 ── tapA ── PVM (QEMU)   colo-proxy primary
#   (192.168.77.100)   │      repA 10.99.0.1 ─┐  QMP $NS_TMP/pvm.qmp (proxy)
#                      │                      │      $NS_TMP/pvm-ctl.qmp (coloctl)
#                      │                      │      $NS_TMP/pvm-hb.qmp (heartbeat)
#                      │                      │ replication link: proxy
#                      │                      │ channel :7701, COLO :8888,
#                      │                      │ heartbeat :7800
#                      └╳ hostB: br0 ── tapB ── SVM (QEMU -incoming)
#                             repB 10.99.0.2 ─┘  QMP $NS_TMP/svm.qmp ...
#   the LAN path of the heartbeat: hostA mgA 192.168.77.1, hostB mgB
#   192.168.77.2, the witness (namespace wit) 192.168.77.3; hostB's upB
#   (lanB on brlan) is outside br0 until a takeover joins it.
#
# The guest (qemu-scripts/build-guest.sh) answers on 192.168.77.10 and
# fd77::10 with the MAC 52:54:00:c0:10:01: one logical VM, two copies.
#
# Functions:
#   lab_build          the lab QEMU and the guest (cached; QEMU, GUEST)
#   lab_net            namespaces, bridges, taps, the replication link
#   lab_vm A|B         start that host's QEMU (B waits with -incoming)
#   lab_wait_guest     until the PVM's services answer
#   lab_pair           coloctl pair, then both proxies see COLO
#   lab_up             all of the above, with both proxies (qmp backends)
#   lab_client ARGS    qemu-scripts/colo-client.py in the client namespace
#   vm_kill A|B [SIG]  signal a QEMU (by PID)
#   lab_heartbeats     colo-heartbeat on A, B and the witness (LAB_HB_*)
#   hb A|B|W ARGS      coloctl against that heartbeat daemon
#   hb_wait_state A|B STATE [S]   until it reports STATE
#   host_freeze A|B    a silent host death: its processes stopped
#                      (SIGSTOP), its links down; host_thaw undoes it
#   LAB_LIBVIRT=1      the VMs are libvirt domains of a real libvirtd per
#                      host (qemu-scripts/lab-libvirt.sh); the proxies,
#                      heartbeats and coloctl reach them through libvirt
#   LAB_RELAY=1        the COLO migration channel through colo-relay on
#                      both hosts (A: 127.0.0.1:8888 -> B: 10.99.0.2:8890
#                      -> the SVM's 10.99.0.2:8888); rl A|B ARGS is
#                      coloctl against that relay
# plus the proxy helpers of tests/scenario/topo.sh (px, ctr, px_start...).

. "$(dirname "${BASH_SOURCE[0]}")/../tests/scenario/topo.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lab-libvirt.sh"

LAB_ROOT=$TOPO_ROOT
LAB_CLIENT=$LAB_ROOT/qemu-scripts/colo-client.py
LAB_MEM=${LAB_MEM:-192}
LAB_COLO_PORT=8888
# How long the PVM's output may wait for the SVM's: under TCG the two
# guests share two cores and the secondary can trail by a second.
LAB_HOLD=${LAB_HOLD:-3s}
declare -gA VM_PID=()

lab_build() {
	QEMU=$("$LAB_ROOT/qemu-scripts/build-qemu.sh" | tail -n 1) ||
		fail "cannot build the lab QEMU"
	GUEST=$("$LAB_ROOT/qemu-scripts/build-guest.sh" | tail -n 1) ||
		fail "cannot build the guest"
	[[ -x $QEMU && -r $GUEST/vmlinuz && -r $GUEST/initramfs.gz ]] ||
		fail "lab build incomplete: QEMU=$QEMU GUEST=$GUEST"
}

lab_net() {
	local n h
	for n in lan cli hostA hostB; do ns_add $n || return 1; done
	ns_exec lan ip link add brlan type bridge &&
		ns_exec lan ip link set brlan up || return 1
	ns_link cli eth0 lan cli0 && ns_exec lan ip link set cli0 master brlan &&
		ns_addr cli eth0 $CLI4/24 $CLI6/64 || return 1
	for h in A B; do
		ns_exec host$h ip link add br0 type bridge &&
			ns_exec host$h ip link set br0 addrgenmode none &&
			ns_exec host$h ip link set br0 up &&
			ns_exec host$h ip tuntap add dev tap$h mode tap &&
			ns_exec host$h ip link set tap$h master br0 &&
			ns_exec host$h ip link set tap$h up || return 1
		ns_sysctl host$h net.bridge.bridge-nf-call-iptables=1 \
			net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true
	done
	ns_link lan lanA hostA upA && ns_exec lan ip link set lanA master brlan &&
		ns_exec hostA ip link set upA master br0 || return 1
	ns_link hostA repA hostB repB && ns_addr hostA repA 10.99.0.1/24 &&
		ns_addr hostB repB 10.99.0.2/24 || return 1
	lab_net_lan
}

# the hosts' own LAN addresses (the heartbeat's second path), the witness,
# and host B's port for a takeover (outside its bridge while secondary)
lab_net_lan() {
	ns_add wit || return 1
	ns_link lan mA hostA mgA && ns_exec lan ip link set mA master brlan &&
		ns_addr hostA mgA 192.168.77.1/24 || return 1
	ns_link lan mB hostB mgB && ns_exec lan ip link set mB master brlan &&
		ns_addr hostB mgB 192.168.77.2/24 || return 1
	ns_link lan mW wit eth0 && ns_exec lan ip link set mW master brlan &&
		ns_addr wit eth0 192.168.77.3/24 || return 1
	ns_link lan lanB hostB upB && ns_exec lan ip link set lanB master brlan
}

# lab_vm A|B [incoming] [NAME]: the same machine on both hosts (COLO
# needs identical devices); B waits with -incoming, and so does A when
# asked (a fresh secondary after a failover). NAME (default pvm on A, svm
# on B) names its files: NAME.qmp, NAME-ctl.qmp, NAME-hb.qmp, NAME.serial.
lab_vm() {
	local h=$1 inc=${2:-} name=${3:-} qmp args me=1
	if [[ ${LAB_LIBVIRT:-0} == 1 ]]; then
		lv_vm "$@"
		return
	fi
	[[ -z $name ]] && name=$([[ $h == A ]] && echo pvm || echo svm)
	[[ -z $inc && $h == B ]] && inc=incoming
	[[ $h == B ]] && me=2
	qmp=$NS_TMP/$name.qmp
	args=(-accel tcg -m "$LAB_MEM" -smp 1 -nodefaults -nographic
		-display none -L /usr/share/qemu -L /usr/share/seabios
		-kernel "$GUEST/vmlinuz" -initrd "$GUEST/initramfs.gz"
		-append "console=ttyS0 loglevel=3 edd=off panic=-1"
		-serial "file:$NS_TMP/$name.serial"
		-netdev "tap,id=n0,ifname=tap$h,script=no,downscript=no"
		-device "virtio-net-pci,netdev=n0,mac=$VM_MAC,romfile="
		-qmp "unix:$qmp,server=on,wait=off"
		-qmp "unix:$NS_TMP/$name-ctl.qmp,server=on,wait=off"
		-qmp "unix:$NS_TMP/$name-hb.qmp,server=on,wait=off")
	[[ $inc == incoming ]] && args+=(-incoming "tcp:10.99.0.$me:$LAB_COLO_PORT")
	ns_spawn "host$h" "$NS_TMP/$name.log" "$QEMU" "${args[@]}"
	VM_PID[$h]=$NS_LASTPID
}

vm_kill() {
	[[ -n ${VM_PID[$1]:-} ]] || return 0
	ns_stop "${VM_PID[$1]}" "${2:-TERM}" 5 || true
	unset "VM_PID[$1]"
}

# until the PVM's guest printed its ready line (all its services listen);
# with LAB_PROGRESS=1 a dot per second meanwhile
lab_wait_guest() {
	local i
	for i in $(seq 900); do
		grep -q "colokit-guest: ready" "$NS_TMP/pvm.serial" 2>/dev/null && break
		kill -0 "${VM_PID[A]}" 2>/dev/null ||
			fail "the PVM's QEMU exited: $(tail -5 "$NS_TMP/pvm.log")"
		[[ ${LAB_PROGRESS:-0} == 1 ]] && ((i % 5 == 0)) && printf '.'
		sleep 0.2
	done
	[[ ${LAB_PROGRESS:-0} == 1 ]] && echo
	grep -q "colokit-guest: ready" "$NS_TMP/pvm.serial" ||
		fail "the guest did not boot: $(tail -5 "$NS_TMP/pvm.serial")"
}

# lab_sha NAME: a checksum the guest's manifest records (det_html_sha256,
# mb1_bin_sha256)
lab_sha() {
	sed -n "s/^$1=//p" "$GUEST/manifest"
}

# px_wait_mode A|B MODE [SECONDS]: until that proxy reports MODE; false if not
px_wait_mode() {
	local i
	for ((i = 0; i < ${3:-10} * 10; i++)); do
		px "$1" status | grep -q "^mode $2\$" && return 0
		sleep 0.1
	done
	return 1
}

lab_client() {
	ns_run cli "${LAB_CLIENT_TIMEOUT:-300}" "$NS_PYTHON" "$LAB_CLIENT" "$@"
}

# lab_vm_conf A|B NAME [SUFFIX]: the config lines that name that VM for a
# daemon: its own QMP socket (NAME.qmp, NAME-hb.qmp with SUFFIX -hb), or
# with LAB_LIBVIRT=1 the domain NAME at the host's libvirtd
lab_vm_conf() {
	if [[ ${LAB_LIBVIRT:-0} == 1 ]]; then
		printf 'libvirt = %s\ndomain = %s' "$(lv_uri "$1")" "$2"
	else
		printf 'qmp = %s' "$NS_TMP/$2${3:-}.qmp"
	fi
}

# lab_ctl_target A|B NAME: what coloctl takes for that VM
lab_ctl_target() {
	if [[ ${LAB_LIBVIRT:-0} == 1 ]]; then
		echo "libvirt:$2@$(lv_uri "$1")"
	else
		echo "$NS_TMP/$2-ctl.qmp"
	fi
}

# the proxies: A starts solo and follows COLO; B watches the SVM
lab_proxies() {
	TOPO_EXTRA_CONF="[compare]
hold_timeout = $LAB_HOLD
secondary_timeout = $LAB_HOLD
[checkpoint]
backend = $([[ ${LAB_LIBVIRT:-0} == 1 ]] && echo libvirt || echo qmp)
reconnect = 200ms"
	TOPO_EXTRA_CONF_A="$(lab_vm_conf A pvm)
[proxy]
mode = solo"
	TOPO_EXTRA_CONF_B="$(lab_vm_conf B svm)"
	px_start B
	px_start A
	px_wait_up
}

lab_pair() {
	local to=(--uri "tcp:10.99.0.2:$LAB_COLO_PORT")
	[[ ${LAB_RELAY:-0} == 1 ]] && to=(--relay "$NS_TMP/rlA.sock")
	ns_exec hostA "$COLOCTL" pair --primary "$(lab_ctl_target A pvm)" \
		--secondary "$(lab_ctl_target B svm)" "${to[@]}" ||
		fail "pairing failed: $(tail -5 "$NS_TMP/svm.log")"
	px_wait_mode A protected 10 ||
		fail "the primary proxy did not turn protected when COLO started"
}

# ---- colo-relay ----------------------------------------------------------------
RELAY=$LAB_ROOT/$TOPO_B/bin/colo-relay
LAB_RELAY_PORT=8890
declare -gA RL_PID=()

# relay_conf A|B: that relay's configuration file (LAB_RELAY_EXTRA appended)
relay_conf() {
	local h=$1 f=$NS_TMP/rl$1.conf
	if [[ $h == A ]]; then
		printf '[relay]\nname = lab\nrole = primary\nlisten = 127.0.0.1:%s\nconnect = 10.99.0.2:%s\n' \
			"$LAB_COLO_PORT" "$LAB_RELAY_PORT" >"$f"
	else
		printf '[relay]\nname = lab\nrole = secondary\nlisten = 10.99.0.2:%s\nconnect = 10.99.0.2:%s\n' \
			"$LAB_RELAY_PORT" "$LAB_COLO_PORT" >"$f"
	fi
	printf 'control = %s\n' "$NS_TMP/rl$h.sock" >>"$f"
	[[ -n ${LAB_RELAY_EXTRA:-} ]] && printf '%s\n' "$LAB_RELAY_EXTRA" >>"$f"
	echo "$f"
}

rl() {
	local h=$1; shift
	ns_exec "host$h" "$COLOCTL" -s "$NS_TMP/rl$h.sock" "$@"
}

relay_start() {
	local h=$1 conf
	conf=$(relay_conf "$h")
	daemon_start "colo-relay $h" "host$h" "$NS_TMP/rl$h.log" "rl $h status" \
		"$RELAY" -d -v -c "$conf"
	RL_PID[$h]=$DAEMON_PID
}

relay_stop() {
	[[ -n ${RL_PID[$1]:-} ]] || return 0
	ns_stop "${RL_PID[$1]}" "${2:-TERM}" 5 || true
	unset "RL_PID[$1]"
}

# ---- colo-heartbeat ----------------------------------------------------------
HEARTBEAT=$LAB_ROOT/$TOPO_B/bin/colo-heartbeat
LAB_HB_INTERVAL=${LAB_HB_INTERVAL:-50ms}
LAB_HB_TIMEOUT=${LAB_HB_TIMEOUT:-200ms}
declare -gA HB_PID=()

# hb_conf A|B|W: that daemon's configuration file (HB_ROLE_A/B and
# LAB_VM_NAME_A/B override the role and the VM's file names)
hb_conf() {
	local h=$1 f=$NS_TMP/hb$1.conf me peer node role vm v
	if [[ $h == W ]]; then
		printf '[heartbeat]\nname = lab\nnode = witness\nkey_file = %s\ncontrol = %s\ntimeout = %s\n[witness]\nlisten = 192.168.77.3:7800\n' \
			"$NS_TMP/hb.key" "$NS_TMP/hbW.sock" "$LAB_HB_TIMEOUT" >"$f"
		echo "$f"
		return
	fi
	if [[ $h == A ]]; then me=1 peer=2 node=a role=primary vm=pvm
	else me=2 peer=1 node=b role=secondary vm=svm; fi
	v=HB_ROLE_$h; role=${!v:-$role}
	v=LAB_VM_NAME_$h; vm=${!v:-$vm}
	cat >"$f" <<-CONF
	[heartbeat]
	name = lab
	node = $node
	role = $role
	key_file = $NS_TMP/hb.key
	interval = $LAB_HB_INTERVAL
	timeout = $LAB_HB_TIMEOUT
	control = $NS_TMP/hb$h.sock
	[replication]
	local = 10.99.0.$me:7800
	peer = 10.99.0.$peer:7800
	[lan]
	local = 192.168.77.$me:7800
	peer = 192.168.77.$peer:7800
	[witness]
	address = 192.168.77.3:7800
	[vm]
	$(lab_vm_conf "$h" "$vm" -hb)
	[proxy]
	control = $NS_TMP/px$h.sock
	[hooks]
	hook = $LAB_ROOT/qemu-scripts/lab-hook.sh
	CONF
	printf '[failover]\ncolo_port = %s\nbridge = br0\nlan_port = up%s\n' \
		"$LAB_COLO_PORT" "$h" >>"$f"
	[[ -n ${LAB_HB_EXTRA:-} ]] && printf '%s\n' "$LAB_HB_EXTRA" >>"$f"
	v=LAB_HB_EXTRA_$h
	[[ -n ${!v:-} ]] && printf '%s\n' "${!v}" >>"$f"
	echo "$f"
}

hb() {
	local h=$1 ns; shift
	ns=$([[ $h == W ]] && echo wit || echo "host$h")
	ns_exec "$ns" "$COLOCTL" -s "$NS_TMP/hb$h.sock" "$@"
}

# hb_start A|B|W: start that daemon, wait for its control socket
hb_start() {
	local h=$1 ns conf
	ns=$([[ $h == W ]] && echo wit || echo "host$h")
	conf=$(hb_conf "$h")
	daemon_start "colo-heartbeat $h" "$ns" "$NS_TMP/hb$h.log" "hb $h status" \
		env COLO_HOOK_LOG="$NS_TMP/hooks.log" "$HEARTBEAT" -d -v -c "$conf"
	HB_PID[$h]=$DAEMON_PID
}

hb_stop() {
	[[ -n ${HB_PID[$1]:-} ]] || return 0
	ns_stop "${HB_PID[$1]}" TERM 5 || true
	unset "HB_PID[$1]"
}

# hb_field A|B|W KEY: one line of its status ("state", "term", "peer.state")
hb_field() {
	hb "$1" status | sed -n "s/^$2: //p"
}

# hb_wait_state A|B STATE [SECONDS]
hb_wait_state() {
	local i
	for ((i = 0; i < ${3:-10} * 20; i++)); do
		[[ $(hb_field "$1" state) == "$2" ]] && return 0
		sleep 0.05
	done
	return 1
}

lab_heartbeats() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$NS_TMP/hb.key"
	chmod 600 "$NS_TMP/hb.key"
	hb_start W
	hb_start B
	hb_start A
	local i
	for i in $(seq 100); do
		[[ $(hb_field A paths.replication.up) == true &&
			$(hb_field A paths.lan.up) == true &&
			$(hb_field B paths.lan.up) == true ]] && return 0
		sleep 0.05
	done
	fail "the heartbeats did not come up: $(hb A status)"
}

# the PIDs a host's death takes with it
host_pids() {
	local p
	for p in "${VM_PID[$1]:-}" "${PX_PID[$1]:-}" "${HB_PID[$1]:-}" \
		"${RL_PID[$1]:-}" "${LV_PID[$1]:-}" \
		"$(cat "$NS_TMP/libvirt$1/run/libvirtd.pid" 2>/dev/null)"; do
		[[ -n $p ]] && echo "$p"
	done
}

# host_freeze A|B: a silent death: nothing of the host runs, nothing
# leaves it, no socket is closed (no FIN, no RST, no COLO_EXIT)
host_freeze() {
	local h=$1 l
	kill -STOP $(host_pids "$h") 2>/dev/null
	for l in rep$h mg$h up$h; do
		ns_exec "host$h" ip link set "$l" down 2>/dev/null
	done
	return 0
}

host_thaw() {
	local h=$1 l
	for l in rep$h mg$h up$h; do
		ns_exec "host$h" ip link set "$l" up 2>/dev/null
	done
	kill -CONT $(host_pids "$h") 2>/dev/null
	return 0
}

# lab_host_return A|B: the host that died comes back empty: what still ran
# of it is killed, its LAN port stays out of its bridge (a secondary must
# not reach the LAN), its links come up
lab_host_return() {
	local h=$1 p l
	for p in $(host_pids "$h"); do ns_stop "$p" KILL 5 || true; done
	unset "VM_PID[$h]" "PX_PID[$h]" "HB_PID[$h]" "RL_PID[$h]"
	ns_exec "host$h" ip link set "up$h" nomaster
	for l in rep$h mg$h up$h; do
		ns_exec "host$h" ip link set "$l" up
	done
}

# lab_rejoin A|B NAME: a fresh secondary on that host: QEMU waiting for
# the COLO migration (files NAME.*), colo-proxy and colo-heartbeat as
# secondary; the survivor's `coloctl reprotect` (or [reprotect] auto)
# then pairs with it
lab_rejoin() {
	local h=$1 name=$2 v
	lab_vm "$h" incoming "$name"
	printf -v "TOPO_ROLE_$h" secondary
	v=TOPO_EXTRA_CONF_$h
	printf -v "$v" '%s' "$(lab_vm_conf "$h" "$name")"
	px_start "$h"
	printf -v "HB_ROLE_$h" secondary
	printf -v "LAB_VM_NAME_$h" '%s' "$name"
	hb_start "$h"
}

lab_up() {
	ns_setup "${1:-colo$$}" || exit 1
	mkdir -p "$NS_TMP/dumps"
	lab_build
	lab_net || fail "cannot build the topology"
	if [[ ${LAB_LIBVIRT:-0} == 1 ]]; then
		ns_on_exit lv_cleanup
		lv_start A
		lv_start B
	fi
	lab_proxies
	if [[ ${LAB_RELAY:-0} == 1 ]]; then
		relay_start B
		relay_start A
	fi
	lab_vm B
	lab_vm A
	lab_wait_guest
	lab_pair
	[[ ${LAB_HEARTBEAT:-0} == 1 ]] && lab_heartbeats
	return 0
}
