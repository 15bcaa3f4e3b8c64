#!/bin/sh
# shellcheck shell=dash
# ready.sh: wait until the services listen, then print the line launchers
# wait for on the serial console:
#   colokit-guest: ready ip=ADDR/LEN ip6=ADDR/LEN dev=NAME mac=MAC uptime=S
# ("colokit-guest: FAILED ..." after 20 s instead). With colokit.shell=1 a
# root shell follows on the console.
PATH=/bin
export PATH
# shellcheck disable=SC1091 # written by rc.sh
. /run/colokit/net.env

# listening: true when every TCP port given is in LISTEN state
listening() {
	local l p
	l=$(netstat -ltn 2>/dev/null)
	for p in "$@"; do
		case $l in *":$p "*) ;; *) return 1 ;; esac
	done
}

i=0
while ! listening 80 7 8; do
	i=$((i + 1))
	if [ $i -ge 400 ]; then
		echo "colokit-guest: FAILED services not listening:" \
		    "$(netstat -ltn 2>&1 | tr '\n' ' ')"
		exit 1
	fi
	usleep 50000
done
mac=none
[ -e "/sys/class/net/$DEV/address" ] && mac=$(cat "/sys/class/net/$DEV/address")
read -r up _ </proc/uptime
echo "colokit-guest: ready ip=$IP4 ip6=$IP6 dev=$DEV mac=$mac uptime=$up"

if [ "$CONSOLE_SHELL" = 1 ]; then
	while :; do setsid cttyhack sh -l; done
fi
