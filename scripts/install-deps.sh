#!/bin/sh
# Install the Debian packages colokit needs to build and test, idempotently:
# only missing packages are installed, and apt-get update runs only then.
# Usage: scripts/install-deps.sh [--print]   (--print lists them and exits)
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev \
libcriterion-dev libpcap-dev libjansson-dev libsodium-dev libzstd-dev \
tcpdump iproute2 busybox-static python3 procps iptables nftables iperf3 \
libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"

if [ "${1:-}" = "--print" ]; then
	echo "$PKGS"
	exit 0
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root, or: sudo apt-get install$missing" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
