# shellcheck shell=bash
# qemu-scripts/lab-libvirt.sh: the lab's VMs as libvirt domains
# (LAB_LIBVIRT=1; sourced by lab.sh). Each host namespace runs its own
# real libvirtd (Debian's), privileged, in a mount namespace of its own in
# which /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
# /var/cache/libvirt are the host's directories under $NS_TMP/libvirtA|B
# (a root libvirtd's paths are fixed at build time; two on one machine
# would adopt each other's domains). Clients reach it on its unix socket
# (lv_uri), the peer host on TCP over the replication link (lv_tcp_uri:
# what fencing uses). Domains: qemu-scripts/libvirt/colo-vm.xml.in.
#
#   lv_start A|B        that host's libvirtd (waits until it answers)
#   lv_vm A|B [incoming] [NAME]   the domain (B: paused, -incoming)
#   lv A|B ARGS         virsh against that host's libvirtd
#   lv_uri A|B, lv_tcp_uri A|B
# Everything is destroyed and stopped at exit (ns_on_exit), by PID.

LV_DIR=$TOPO_ROOT/qemu-scripts/libvirt
declare -gA LV_PID=()

lv_uri() { echo "qemu+unix:///system?socket=$NS_TMP/libvirt$1/sock/libvirt-sock"; }
lv_tcp_uri() { echo "qemu+tcp://10.99.0.$([[ $1 == A ]] && echo 1 || echo 2)/system"; }
lv() { local h=$1; shift; virsh -q -c "$(lv_uri "$h")" "$@"; }

# the mount points a root libvirtd needs (Debian's libvirt-daemon-system
# would create them); the ones made here are removed at exit
lv_mountpoints() {
	local m
	for m in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt \
		/var/cache/libvirt; do
		[[ -d $m ]] && continue
		mkdir -p "$m" || return 1
		ns_on_exit "rmdir $m 2>/dev/null"
	done
}

lv_start() {
	local h=$1 d=$NS_TMP/libvirt$1 addr i caps=${COLOKIT_CACHE:-/var/cache/colokit}/libvirt-caps
	addr=10.99.0.$([[ $h == A ]] && echo 1 || echo 2)
	command -v virsh >/dev/null && [[ -x /usr/sbin/libvirtd ]] ||
		fail "libvirt is not installed (scripts/install-deps.sh installs libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients)"
	lv_mountpoints || fail "cannot make libvirt's mount points"
	mkdir -p "$d"/{etc,run,lib,log,cache,sock}
	# libvirt 9.0 resolves its default QEMU user "libvirt-qemu" before it
	# reads qemu.conf's user = "root": give it one, in this mount ns only
	{ cat /etc/passwd; echo 'libvirt-qemu:x:64055:64055:colokit lab:/var/lib/libvirt:/usr/sbin/nologin'; } >"$d/passwd"
	{ cat /etc/group; echo 'libvirt-qemu:x:64055:'; } >"$d/group"
	cat >"$d/etc/libvirtd.conf" <<-CONF
	unix_sock_dir = "$d/sock"
	unix_sock_group = "root"
	unix_sock_rw_perms = "0700"
	auth_unix_ro = "none"
	auth_unix_rw = "none"
	listen_tls = 0
	listen_tcp = 1
	listen_addr = "$addr"
	tcp_port = "16509"
	auth_tcp = "none"
	mdns_adv = 0
	audit_level = 0
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	CONF
	cat >"$d/etc/qemu.conf" <<-CONF
	user = "root"
	group = "root"
	dynamic_ownership = 0
	remember_owner = 0
	security_driver = "none"
	security_default_confined = 0
	cgroup_controllers = [ ]
	namespaces = [ ]
	stdio_handler = "file"
	seccomp_sandbox = 0
	CONF
	# QEMU's capabilities, probed once per QEMU build (4 s each time)
	if [[ -d $caps ]]; then
		mkdir -p "$d/cache/qemu/capabilities"
		cp "$caps"/*.xml "$d/cache/qemu/capabilities/" 2>/dev/null
	fi
	ns_spawn "host$h" "$d/libvirtd.out" unshare -m --propagation private -- \
		sh -c 'set -e; d=$1
		mount --bind "$d/passwd" /etc/passwd
		mount --bind "$d/group" /etc/group
		mount --bind "$d/etc" /etc/libvirt
		mount --bind "$d/run" /run/libvirt
		mount --bind "$d/lib" /var/lib/libvirt
		mount --bind "$d/log" /var/log/libvirt
		mount --bind "$d/cache" /var/cache/libvirt
		exec /usr/bin/python3 "$2" /usr/sbin/libvirtd --listen \
			-f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid' \
		lvstart "$d" "$LV_DIR/subreaper.py"
	LV_PID[$h]=$NS_LASTPID
	for i in $(seq 200); do
		lv "$h" uri >/dev/null 2>&1 && return 0
		kill -0 "${LV_PID[$h]}" 2>/dev/null || break
		sleep 0.05
	done
	fail "libvirtd on host $h did not start: $(tail -5 "$d/libvirtd.out" "$d/log/libvirtd.log" 2>/dev/null)"
}

# lv_stop A|B: destroy its domains, then stop it (by PID)
lv_stop() {
	local h=$1 dom
	[[ -n ${LV_PID[$h]:-} ]] || return 0
	for dom in $(lv "$h" list --name 2>/dev/null); do
		lv "$h" destroy "$dom" >/dev/null 2>&1
	done
	ns_stop "${LV_PID[$h]}" TERM 10 || true
	unset "LV_PID[$h]"
}

# keep the capabilities libvirt probed, for the next run
lv_save_caps() {
	local caps=${COLOKIT_CACHE:-/var/cache/colokit}/libvirt-caps f
	for f in "$NS_TMP"/libvirtA/cache/qemu/capabilities/*.xml; do
		[[ -f $f ]] || continue
		mkdir -p "$caps" && cp "$f" "$caps/" 2>/dev/null
	done
	return 0
}

lv_cleanup() {
	lv_save_caps
	lv_stop A
	lv_stop B
}

# lv_vm A|B [incoming] [NAME]: the lab VM as a domain of that host's
# libvirtd; VM_PID[A|B] is its QEMU (so vm_kill and host_freeze work)
lv_vm() {
	local h=$1 inc=${2:-} name=${3:-} me=1 xml role=() data pid i
	[[ -z $name ]] && name=$([[ $h == A ]] && echo pvm || echo svm)
	[[ $h == B ]] && me=2
	[[ -z $inc && $h == B ]] && inc=incoming
	data=$("$LV_DIR/render.sh" --args -L /usr/share/qemu -L /usr/share/seabios)
	role=("ROLE_ARGS=")
	[[ $inc == incoming ]] &&
		role=("ROLE_ARGS=$("$LV_DIR/render.sh" --args -incoming "tcp:10.99.0.$me:$LAB_COLO_PORT")")
	xml=$NS_TMP/$name.xml
	"$LV_DIR/render.sh" NAME="$name" TYPE=qemu MEM_MB="$LAB_MEM" \
		EMULATOR="$QEMU" KERNEL="$GUEST/vmlinuz" \
		INITRD="$GUEST/initramfs.gz" \
		CMDLINE="console=ttyS0 loglevel=3 edd=off panic=-1" \
		TAP="tap$h" MAC="$VM_MAC" SERIAL="$NS_TMP/$name.serial" \
		DATA_ARGS="$data" "${role[@]}" <"$LV_DIR/colo-vm.xml.in" >"$xml" ||
		fail "cannot render $xml"
	rm -f "$NS_TMP/$name.serial"
	lv "$h" create $([[ $inc == incoming ]] && echo --paused) "$xml" >/dev/null ||
		fail "libvirt on host $h would not create $name: $(tail -3 "$NS_TMP/libvirt$h/log/qemu/$name.log" 2>/dev/null)"
	ln -sf "$NS_TMP/libvirt$h/log/qemu/$name.log" "$NS_TMP/$name.log"
	for i in $(seq 100); do
		pid=$(cat "$NS_TMP/libvirt$h/run/qemu/$name.pid" 2>/dev/null) && [[ -n $pid ]] && break
		sleep 0.05
	done
	[[ -n ${pid:-} ]] || fail "no PID file for $name on host $h"
	# ours: started by this test (through libvirt), ended by PID at exit
	NS_PIDS[$pid]=$NS_PREFIX-host$h
	VM_PID[$h]=$pid
}
