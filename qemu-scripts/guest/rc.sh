#!/bin/sh
# shellcheck shell=dash
# rc.sh: sysinit of the colokit lab guest, run once by busybox init.
# Mounts, loads the NIC modules, configures the network from the kernel
# command line and prepares the RAM state of the test services. Both COLO VMs
# boot this same image with the same MAC and addresses (one logical VM), so
# everything that would send unsolicited traffic is switched off first.
#
# Kernel command line, defaults in brackets:
#   colokit.ip4=ADDR/LEN|none [192.168.77.10/24]
#   colokit.gw4=ADDR|none     [192.168.77.1]
#   colokit.ip6=ADDR/LEN|none [fd77::10/64]
#   colokit.gw6=ADDR|none     [none]
#   colokit.dev=NAME          [the first Ethernet device]
#   colokit.sysctl=KEY=VAL[,KEY=VAL...]  applied last, e.g.
#                             net.ipv4.tcp_timestamps=0
#   colokit.shell=1           root shell on the console after "ready"

PATH=/bin
export PATH

log() { echo "colokit-guest: $*"; }

mount_all() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts
	mount -t tmpfs -o mode=0755,size=16m tmpfs /run
	mount -t tmpfs -o size=16m tmpfs /tmp
}

parse_cmdline() {
	IP4=192.168.77.10/24 GW4=192.168.77.1 IP6=fd77::10/64 GW6=none
	DEV='' SYSCTLS='' CONSOLE_SHELL=0
	# shellcheck disable=SC2013 # words, not lines
	for w in $(cat /proc/cmdline); do
		case $w in
		colokit.ip4=*) IP4=${w#*=} ;;
		colokit.gw4=*) GW4=${w#*=} ;;
		colokit.ip6=*) IP6=${w#*=} ;;
		colokit.gw6=*) GW6=${w#*=} ;;
		colokit.dev=*) DEV=${w#*=} ;;
		colokit.sysctl=*) SYSCTLS="$SYSCTLS $(echo "${w#*=}" | tr , ' ')" ;;
		colokit.shell=*) CONSOLE_SHELL=${w#*=} ;;
		esac
	done
}

sc() { sysctl -q -w "$1" >/dev/null 2>&1 || log "warning: sysctl $1 failed"; }

# IPv6 without anything unsolicited, for interfaces created later too
# ("default"), so it has to run before the NIC modules are loaded:
# no link-local address (addr_gen_mode 1), no DAD, no router solicitation,
# no autoconf or RA, no temporary addresses, MLD reports (sent for the
# solicited-node group of each address, even without a link-local address)
# sent within milliseconds so that they are over before "ready".
ipv6_quiet() {
	for c in all default; do
		for kv in addr_gen_mode=1 accept_dad=0 dad_transmits=0 \
		    optimistic_dad=0 enhanced_dad=0 router_solicitations=0 \
		    accept_ra=0 autoconf=0 use_tempaddr=0 ndisc_notify=0 \
		    mldv1_unsolicited_report_interval=10 \
		    mldv2_unsolicited_report_interval=10; do
			sc "net.ipv6.conf.$c.$kv"
		done
	done
	# flow labels come from a per-socket random hash: different per VM
	sc net.ipv6.auto_flowlabels=0
	sc net.ipv4.conf.all.arp_notify=0
	sc net.ipv4.conf.default.arp_notify=0
}

load_modules() {
	local f
	while read -r f; do
		[ -n "$f" ] || continue
		insmod "/lib/modules/$f" || log "warning: insmod $f failed"
	done </lib/modules/colokit.load
}

# find_dev: set DEV to the first Ethernet device, waiting up to 5 s.
find_dev() {
	local i=0 d
	while [ $i -lt 100 ]; do
		if [ -n "$DEV" ]; then
			[ -e "/sys/class/net/$DEV" ] && return 0
		else
			for d in /sys/class/net/*; do
				[ "$(cat "$d/type" 2>/dev/null)" = 1 ] || continue
				DEV=${d##*/}
				return 0
			done
		fi
		usleep 50000
		i=$((i + 1))
	done
	return 1
}

net_up() {
	ip link set lo up
	if ! find_dev; then
		log "warning: no network device${DEV:+ $DEV}"
		DEV=none
		return
	fi
	for kv in addr_gen_mode=1 accept_dad=0 dad_transmits=0 \
	    router_solicitations=0 accept_ra=0 autoconf=0; do
		sc "net.ipv6.conf.$DEV.$kv"
	done
	[ "$IP4" = none ] || ip addr add "$IP4" dev "$DEV"
	[ "$IP6" = none ] || ip addr add "$IP6" dev "$DEV"
	ip link set "$DEV" up
	[ "$GW4" = none ] || ip route add default via "$GW4" dev "$DEV" ||
		log "warning: no IPv4 default route via $GW4"
	[ "$GW6" = none ] || ip -6 route add default via "$GW6" dev "$DEV" ||
		log "warning: no IPv6 default route via $GW6"
}

services_state() {
	mkdir -p /run/colokit
	echo 0 >/run/colokit/counter
	cat >/run/colokit/net.env <<-EOF
		DEV=$DEV
		IP4=$IP4
		IP6=$IP6
		CONSOLE_SHELL=$CONSOLE_SHELL
	EOF
}

mount_all
hostname colokit-guest
parse_cmdline
ipv6_quiet
load_modules
net_up
for kv in $SYSCTLS; do sc "$kv"; done
services_state
