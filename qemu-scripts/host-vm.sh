#!/bin/bash
# qemu-scripts/host-vm.sh: start one side of a COLO pair on a real host,
# with Debian's stock QEMU and KVM (or the lab QEMU with --qemu).
#
#   host-vm.sh primary   --bridge br0 [options]          # on host A
#   host-vm.sh secondary --bridge br0 --incoming ADDR:PORT [options]  # on B
#
# Both sides must be started with the same machine options (COLO copies
# RAM and device state between them). Each QEMU gets two QMP sockets,
# RUNDIR/NAME.qmp for colo-proxy and RUNDIR/NAME-ctl.qmp for coloctl, and a
# tap on the bridge named by --tap. Then pair them:
#   host B:  coloctl pair --secondary RUNDIR/svm-ctl.qmp
#   host A:  coloctl pair --primary RUNDIR/pvm-ctl.qmp --uri tcp:ADDR:PORT
# See README "On two real hosts".
#
# Options:
#   --bridge BR        bridge the VM's tap joins (host B: not on the LAN)
#   --tap NAME         tap device (default colo-vm0)
#   --mac MAC          the VM's MAC, the same on both hosts
#                      (default 52:54:00:c0:10:01)
#   --mem MB           memory (default 1024)
#   --kernel F --initrd F --append S    boot a kernel directly, or
#   --disk FILE        a disk image (both hosts need the same contents; COLO
#                      block replication is not set up by this script)
#   --incoming A:P     secondary: wait for the migration on A:P
#   --rundir DIR       sockets, serial log, pid (default /run/colokit)
#   --qemu BIN         default qemu-system-x86_64 from PATH
#   --accel kvm|tcg    default kvm when /dev/kvm is writable
#   --dry-run          print the command, start nothing
set -euo pipefail

role=${1:-}
case $role in
primary) name=pvm ;;
secondary) name=svm ;;
-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) echo "host-vm.sh: first argument must be primary or secondary, not \"$role\"" >&2; exit 2 ;;
esac
shift
bridge='' tap=colo-vm0 mac=52:54:00:c0:10:01 mem=1024 kernel='' initrd=''
append='console=ttyS0' disk='' incoming='' rundir=/run/colokit
qemu=qemu-system-x86_64 dry=0 accel=
while (($#)); do
	case $1 in
	--bridge) bridge=$2 ;; --tap) tap=$2 ;; --mac) mac=$2 ;; --mem) mem=$2 ;;
	--kernel) kernel=$2 ;; --initrd) initrd=$2 ;; --append) append=$2 ;;
	--disk) disk=$2 ;; --incoming) incoming=$2 ;; --rundir) rundir=$2 ;;
	--qemu) qemu=$2 ;; --accel) accel=$2 ;;
	--dry-run) dry=1; shift; continue ;;
	*) echo "host-vm.sh: unknown option \"$1\" (see --help)" >&2; exit 2 ;;
	esac
	shift 2
done

die() { echo "host-vm.sh: $*" >&2; exit 1; }
[[ -n $bridge ]] || die "--bridge is required"
[[ $role == secondary && -z $incoming ]] && die "the secondary needs --incoming ADDR:PORT"
[[ $role == primary && -n $incoming ]] && die "--incoming is for the secondary"
[[ -n $kernel || -n $disk ]] || die "give --kernel (and --initrd) or --disk"
[[ $mac =~ ^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$ ]] || die "--mac \"$mac\" is not a MAC address"
[[ $mem =~ ^[0-9]+$ ]] || die "--mem \"$mem\" is not a number of MB"

[[ -z $accel && -w /dev/kvm ]] && accel=kvm
[[ -z $accel || $accel == kvm || $accel == tcg ]] || die "--accel \"$accel\" is not kvm or tcg"
if [[ $accel != kvm ]]; then
	accel=tcg
	echo "host-vm.sh: /dev/kvm is not usable: TCG; Debian's stock QEMU 7.2 deadlocks" \
		"at COLO's first checkpoint under TCG, use --qemu with the lab build" \
		"(qemu-scripts/build-qemu.sh)" >&2
fi

args=(-accel "$accel" -m "$mem" -smp 1 -nodefaults -nographic -display none
	-serial "file:$rundir/$name.serial"
	-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no"
	-device "virtio-net-pci,netdev=n0,mac=$mac,romfile="
	-qmp "unix:$rundir/$name.qmp,server=on,wait=off"
	-qmp "unix:$rundir/$name-ctl.qmp,server=on,wait=off"
	-pidfile "$rundir/$name.pid" -daemonize)
[[ $accel == kvm ]] && args+=(-cpu host)
[[ -n $kernel ]] && args+=(-kernel "$kernel" -append "$append")
[[ -n $initrd ]] && args+=(-initrd "$initrd")
[[ -n $disk ]] && args+=(-drive "file=$disk,if=virtio,format=raw")
[[ -n $incoming ]] && args+=(-incoming "tcp:$incoming")

if ((dry)); then
	printf '%q ' "$qemu" "${args[@]}"
	echo
	exit 0
fi
[[ $(id -u) == 0 ]] || die "run as root (tap, bridge)"
ip link show "$bridge" >/dev/null 2>&1 || die "no bridge \"$bridge\""
mkdir -p "$rundir"
if ! ip link show "$tap" >/dev/null 2>&1; then
	ip tuntap add dev "$tap" mode tap
fi
ip link set "$tap" master "$bridge"
ip link set "$tap" up
"$qemu" "${args[@]}" || die "$qemu failed (see above)"
echo "$name started: pid $(cat "$rundir/$name.pid"), QMP $rundir/$name.qmp (colo-proxy)" \
	"and $rundir/$name-ctl.qmp (coloctl), serial $rundir/$name.serial"
