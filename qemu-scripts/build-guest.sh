#!/bin/bash
# build-guest.sh: build the colokit lab guest (Debian's kernel and a busybox
# initramfs with the test services of qemu-scripts/guest/), once per machine.
# The output directory is printed as the last line of stdout; progress goes
# to stderr. See --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
GUEST="$HERE/guest"
CACHE=${COLOKIT_CACHE:-/var/cache/colokit}
KMETA=linux-image-amd64
DEPS="busybox-static cpio gzip xz-utils zstd"
# the kernel command line a launcher should start from (manifest's append=)
APPEND="console=ttyS0 loglevel=3 edd=off panic=-1"
EPOCH=0 # mtime of every file in the initramfs

usage() {
	cat <<EOF
Usage: qemu-scripts/build-guest.sh [--path | --print-deps | --help]

Builds the lab guest into \$COLOKIT_CACHE/guest-KEY/ (default cache
/var/cache/colokit) unless it is there already, and prints that directory
as the last line of stdout. KEY is a sha256 over the files of
qemu-scripts/guest/, this script, and the versions of the kernel package and
busybox-static. Concurrent builders wait for each other (flock); the
directory appears complete or not at all. Needs root (apt-get).

Output: vmlinuz, initramfs.gz (cpio newc, gzip; reproducible), manifest
(KEY=value lines, shell-sourceable: kernel, versions, sha256s, append=).

  --path        print the directory if already built, else exit 1
  --print-deps  print the Debian packages needed (installed when missing;
                xz-utils and zstd only serve compressed modules)
  --help        this text

Environment: COLOKIT_CACHE; COLOKIT_GUEST_KERNEL=linux-image-X-amd64 to
pick a kernel package other than the one $KMETA depends on.
The guest's kernel command line: see qemu-scripts/README.md.
EOF
}

log() { echo "build-guest: $*" >&2; }
die() { log "$*"; exit 1; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }'; }

# kernel_pkg: the versioned kernel package (the one linux-image-amd64
# depends on), or empty when apt knows none
kernel_pkg() {
	if [[ -n ${COLOKIT_GUEST_KERNEL:-} ]]; then
		echo "$COLOKIT_GUEST_KERNEL"
		return
	fi
	apt-cache depends "$KMETA" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# resolve_versions [update]: set KPKG, KVER, BBVER; with "update" run
# apt-get update first when apt does not know them
resolve_versions() {
	KPKG=$(kernel_pkg)
	KVER=
	[[ -n $KPKG ]] && KVER=$(candidate "$KPKG")
	if [[ ( -z $KVER || $KVER == "(none)" ) && ${1:-} == update ]]; then
		log "apt knows no $KMETA: apt-get update"
		apt_quiet apt-get update -q
		KPKG=$(kernel_pkg)
		[[ -n $KPKG ]] && KVER=$(candidate "$KPKG")
	fi
	[[ -n $KVER && $KVER != "(none)" ]] || return 1
	if installed busybox-static; then
		BBVER=$(dpkg-query -W -f='${Version}' busybox-static)
	else
		BBVER=$(candidate busybox-static)
	fi
}

# cache_key: sha256 over the guest files (path, executable bit, content),
# this script and the package versions
cache_key() {
	local f
	{
		echo "kernel $KPKG $KVER"
		echo "busybox-static $BBVER"
		echo "script $(sha256sum <"$SELF" | cut -d' ' -f1)"
		(cd "$GUEST" && find . -type f | LC_ALL=C sort) | while read -r f; do
			local x=-
			[[ -x $GUEST/$f ]] && x=x
			echo "$x $(sha256sum <"$GUEST/$f" | cut -d' ' -f1) $f"
		done
	} | sha256sum | cut -c1-16
}

# apt_quiet CMD...: run CMD with its output in a log, shown only on failure
apt_quiet() {
	local out rc=0
	out=$(DEBIAN_FRONTEND=noninteractive "$@" 2>&1) || rc=$?
	((rc == 0)) || printf '%s\n' "$out" | tail -n 20 >&2
	return $rc
}

install_deps() {
	local p missing=()
	for p in "$@"; do installed "$p" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	log "installing ${missing[*]}"
	apt_quiet apt-get install -y -q --no-install-recommends "${missing[@]}" || {
		log "apt-get install failed: apt-get update and retry"
		apt_quiet apt-get update -q
		apt_quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
	}
}

# download_kernel DIR: apt-get download the kernel package into DIR
download_kernel() {
	(cd "$1" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KVER" >&2) && return
	log "download failed: apt-get update and retry"
	apt_quiet apt-get update -q
	(cd "$1" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KVER" >&2)
}

# unpack_module SRC DST: copy a module, decompressing .ko.xz/.zst/.gz
unpack_module() {
	case $1 in
	*.ko) cp "$1" "$2" ;;
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -q -dc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) die "unknown module format: $1" ;;
	esac
}

# modinfo_depends KO: the module names an uncompressed module depends on
# (the depends= string of its .modinfo section)
modinfo_depends() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1 | tr , ' '
}

# add_modules MODDIR STAGE: copy the modules named in guest/modules and
# their dependencies into STAGE/lib/modules/KREL/ and write
# STAGE/lib/modules/colokit.load, dependencies first. Built-in modules
# (modules.builtin) are skipped.
add_modules() {
	local moddir=$1 stage=$2 krel dst m
	krel=$(basename "$moddir")
	dst=$stage/lib/modules/$krel
	mkdir -p "$dst"
	declare -A path=() state=()
	local f n
	while read -r f; do
		n=$(basename "$f")
		n=${n%%.ko*}
		path[${n//-/_}]=$f
	done < <(cd "$moddir" && find kernel -name '*.ko*')
	declare -A builtin=()
	if [[ -f $moddir/modules.builtin ]]; then
		while read -r f; do
			n=$(basename "$f" .ko)
			builtin[${n//-/_}]=1
		done <"$moddir/modules.builtin"
	fi
	ORDER=()
	visit() { # depth-first, dependencies before the module
		local m=${1//-/_} d
		[[ -n ${state[$m]:-} ]] && return 0
		state[$m]=1
		if [[ -n ${builtin[$m]:-} ]]; then
			log "module $m is built in"
			return 0
		fi
		[[ -n ${path[$m]:-} ]] || die "module $m not in the kernel package"
		unpack_module "$moddir/${path[$m]}" "$dst/$m.ko"
		for d in $(modinfo_depends "$dst/$m.ko"); do visit "$d"; done
		ORDER+=("$krel/$m.ko")
	}
	while read -r m; do
		m=${m%%#*}
		m=${m//[[:space:]]/}
		[[ -n $m ]] && visit "$m"
	done <"$GUEST/modules"
	printf '%s\n' "${ORDER[@]}" >"$stage/lib/modules/colokit.load"
	log "modules: ${ORDER[*]}"
}

# make_blob FILE: 1 MiB of deterministic pseudo-random bytes (xorshift32,
# seed "colo", little-endian words)
make_blob() {
	perl -e 'my $x = 0x636f6c6f; my $o = "";
		for (1 .. 262144) {
			$x ^= ($x << 13) & 0xffffffff; $x ^= $x >> 17;
			$x ^= ($x << 5) & 0xffffffff; $o .= pack("V", $x);
		}
		print $o;' >"$1"
}

# make_stage STAGE MODDIR: the initramfs tree
make_stage() {
	local s=$1 a
	mkdir -p "$s"/{bin,dev,etc,lib/modules,proc,run,sys,tmp,usr/lib/colokit,www}
	cp /bin/busybox "$s/bin/busybox"
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || ln -s busybox "$s/bin/$a"
	done
	ln -s bin "$s/sbin"
	ln -s ../bin "$s/usr/bin"
	ln -s ../bin "$s/usr/sbin"
	ln -s bin/busybox "$s/init"
	mknod -m 600 "$s/dev/console" c 5 1
	mknod -m 666 "$s/dev/null" c 1 3
	chmod 1777 "$s/tmp"
	cp "$GUEST/inittab" "$GUEST/httpd.conf" "$s/etc/"
	echo colokit-guest >"$s/etc/hostname"
	echo 'root:x:0:0:root:/:/bin/sh' >"$s/etc/passwd"
	echo 'root:x:0:' >"$s/etc/group"
	cp "$GUEST/rc.sh" "$GUEST/ready.sh" "$GUEST"/lib/* "$s/usr/lib/colokit/"
	cp -R "$GUEST/www/." "$s/www/"
	make_blob "$s/www/1mb.bin"
	add_modules "$2" "$s"
	# modes from the work tree's executable bits only, not from its umask
	find "$s" -type f -perm /111 -exec chmod 755 {} +
	find "$s" -type f ! -perm /111 -exec chmod 644 {} +
	find "$s" -type d ! -path "$s/tmp" -exec chmod 755 {} +
	find "$s" -exec touch -h -d "@$EPOCH" {} +
}

write_manifest() { # DIR STAGE KREL
	local d=$1 s=$2
	{
		echo "key=$KEY"
		echo "kernel_package=$KPKG"
		echo "kernel_version=$KVER"
		echo "kernel_release=$3"
		echo "busybox_version=$BBVER"
		echo "modules=\"$(tr '\n' ' ' <"$s/lib/modules/colokit.load" | sed 's/ $//')\""
		echo "append=\"$APPEND\""
		echo "vmlinuz_sha256=$(sha256sum <"$d/vmlinuz" | cut -d' ' -f1)"
		echo "initramfs_sha256=$(sha256sum <"$d/initramfs.gz" | cut -d' ' -f1)"
		echo "det_html_sha256=$(sha256sum <"$s/www/det.html" | cut -d' ' -f1)"
		echo "mb1_bin_sha256=$(sha256sum <"$s/www/1mb.bin" | cut -d' ' -f1)"
	} >"$d/manifest"
}

# build OUT: everything into the (new, empty) directory OUT
build() {
	local out=$1 work=$1/.work krel
	mkdir -p "$work/deb" "$work/x"
	log "downloading $KPKG $KVER"
	download_kernel "$work/deb"
	log "unpacking"
	dpkg-deb -x "$work"/deb/*.deb "$work/x"
	krel=$(find "$work/x/lib/modules" -mindepth 1 -maxdepth 1 -printf "%f\n" | head -n1)
	[[ -n $krel && -f $work/x/boot/vmlinuz-$krel ]] || die "no kernel in the package"
	[[ -z $(find "$work/x/lib/modules/$krel" -name '*.ko.xz' -print -quit) ]] ||
		install_deps xz-utils
	[[ -z $(find "$work/x/lib/modules/$krel" -name '*.ko.zst' -print -quit) ]] ||
		install_deps zstd
	cp "$work/x/boot/vmlinuz-$krel" "$out/vmlinuz"
	log "initramfs for $krel"
	make_stage "$work/stage" "$work/x/lib/modules/$krel"
	(cd "$work/stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$out/initramfs.gz"
	write_manifest "$out" "$work/stage" "$krel"
	rm -rf "$work"
}

main() {
	local mode=build
	case ${1:-} in
	"") ;;
	--path) mode=path ;;
	--print-deps) echo "$DEPS" | tr ' ' '\n'; return 0 ;;
	-h | --help) usage; return 0 ;;
	*) usage >&2; return 2 ;;
	esac
	[[ -d $GUEST ]] || die "no $GUEST"
	if [[ $mode == path ]]; then
		resolve_versions || return 1
		KEY=$(cache_key)
		[[ -f $CACHE/guest-$KEY/manifest ]] || return 1
		echo "$CACHE/guest-$KEY"
		return 0
	fi
	[[ $(id -u) == 0 ]] || die "must run as root (apt-get, mknod)"
	resolve_versions update || die "no kernel package $KMETA known to apt"
	KEY=$(cache_key)
	local dir=$CACHE/guest-$KEY
	if [[ ! -f $dir/manifest ]]; then
		install_deps busybox-static cpio gzip
		# busybox-static may just have been installed: its version is in the key
		resolve_versions
		KEY=$(cache_key)
		dir=$CACHE/guest-$KEY
	fi
	if [[ -f $dir/manifest ]]; then
		log "cached"
		echo "$dir"
		return 0
	fi
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.guest-$KEY.lock"
	flock -n 9 || { log "waiting for another build"; flock 9; }
	if [[ ! -f $dir/manifest ]]; then
		rm -rf "$CACHE/.guest-$KEY.tmp."* # left by a killed builder
		TMPOUT=$(mktemp -d "$CACHE/.guest-$KEY.tmp.XXXXXX")
		trap 'rm -rf "$TMPOUT"' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		local t0=$SECONDS
		build "$TMPOUT"
		chmod 755 "$TMPOUT"
		rm -rf "$dir"
		mv -T "$TMPOUT" "$dir"
		trap - EXIT
		log "built in $((SECONDS - t0)) s"
	fi
	flock -u 9
	echo "$dir"
}

# sourced (by a test) for its functions: do not run
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
