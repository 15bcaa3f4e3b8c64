#!/bin/bash
# qemu-scripts/build-qemu.sh: build the lab QEMU once per machine and print
# the path of its qemu-system-x86_64.
#
# The lab QEMU is Debian's own QEMU source (apt-get source qemu) with
# patches/colo-tcg-bql.patch, two fixes for COLO under TCG (the deadlock at
# the first checkpoint, and dirty pages lost through the TCG TLB, which
# crashes the secondary's guest), configured for x86_64-softmmu with TCG,
# KVM and replication and little else.
#
# The result is cached in ${COLOKIT_CACHE:-/var/cache/colokit}/qemu-<key>/,
# where <key> is a short sha256 over the patch, the Debian source version and
# the configure options below: it is built once, and again only when one of
# those changes.  A lock serialises concurrent callers; the cache directory
# appears by one rename at the end, so a failed build leaves none behind.
#
# Usage: see usage() or run with --help.
set -eu
set -o pipefail

PROG=build-qemu
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PATCH="$SCRIPT_DIR/patches/colo-tcg-bql.patch"
CACHE_ROOT=${COLOKIT_CACHE:-/var/cache/colokit}
JOBS=${COLOKIT_BUILD_JOBS:-2}
SRC_PKG=qemu
SRC_LIST=/etc/apt/sources.list.d/colokit-src.sources
BIN_NAME=qemu-system-x86_64

# Debian packages the build needs (meson >= 0.61.5 and Python 3 from Debian;
# libfdt because x86_64-softmmu sets TARGET_NEED_FDT; dpkg-dev and patch for
# apt-get source and the patch).
BUILD_DEPS="build-essential pkg-config python3 meson ninja-build \
libglib2.0-dev libpixman-1-dev zlib1g-dev libfdt-dev dpkg-dev patch xz-utils"

# What the built binary needs at run time: seabios (bios-256k.bin),
# qemu-system-data (linuxboot_dma.bin for -kernel, kvmvapic.bin), ipxe-qemu
# (the option ROMs of e1000/virtio-net NICs; romfile= on the NIC avoids it),
# and the shared libraries it links.
RUNTIME_DEPS="seabios qemu-system-data ipxe-qemu \
libglib2.0-0 libpixman-1-0 zlib1g libfdt1"

# Configure options; part of the cache key.  The firmware path is Debian's,
# outside the prefix, so the binary finds Debian's firmware from the cache
# directory without -L (passing -L /usr/share/qemu -L /usr/share/seabios
# works as well).
# shellcheck disable=SC2054 # commas inside options, not separators
CONFIGURE_OPTS=(
	--target-list=x86_64-softmmu
	--without-default-features
	--enable-tcg
	--enable-kvm
	--enable-replication
	--enable-fdt=system
	--audio-drv-list=
	--disable-docs
	--disable-install-blobs
	--disable-debug-info
	--with-git-submodules=ignore
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
	--extra-ldflags=-Wl,--as-needed
)

SRCDIR=""	# unpacked source tree
TMP=""		# build directory, removed on exit
# Clean environment for configure and the compiler: Debian's python3 and
# meson, no CFLAGS or pyenv from the caller, so the key describes the build.
CLEAN_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" LANG=C.UTF-8)
STAGE=""	# half-filled cache directory, removed on exit
LOG=""
NINJA_PID=""	# the background build, stopped on exit
APT_UPDATED=no

usage() {
	cat <<EOF
Usage: $0 [--path | --print-deps | --print-runtime-deps | --help]

Builds the lab QEMU (Debian's qemu source + patches/colo-tcg-bql.patch) if it
is not cached yet, and prints the absolute path of $BIN_NAME as the last
line on stdout.  Progress goes to stderr.  Needs root for apt-get (build and
runtime packages, a deb-src entry in $SRC_LIST) unless all is
present already.  About 3 minutes on 2 cores; then instant.

  --path                print the binary's path if it is cached, else exit 1
  --print-deps          print the Debian build dependencies (BUILD_DEPS)
  --print-runtime-deps  print the Debian runtime dependencies (RUNTIME_DEPS)
  --help                this text

Environment:
  COLOKIT_CACHE         cache root (default /var/cache/colokit); the build
                        lands in \$COLOKIT_CACHE/qemu-<key>/bin/$BIN_NAME
  COLOKIT_BUILD_JOBS    parallel compile jobs (default 2)
  TMPDIR                where the source is unpacked and built (~1.5 GB)

Run it with:  \$($0) -accel tcg -L /usr/share/qemu -L /usr/share/seabios ...
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

cleanup() {
	if [ -n "$NINJA_PID" ] && kill -0 "$NINJA_PID" 2>/dev/null; then
		say "stopping the build (ninja, PID $NINJA_PID)"
		kill "$NINJA_PID" 2>/dev/null || true
		wait "$NINJA_PID" 2>/dev/null || true
	fi
	[ -z "$STAGE" ] || rm -rf -- "$STAGE"
	[ -z "$TMP" ] || rm -rf -- "$TMP"
}

# The newest version of the source package the apt lists know, or nothing.
source_version() {
	local v best=""
	for v in $(apt-cache showsrc --only-source "$SRC_PKG" 2>/dev/null |
		   sed -n 's/^Version: //p'); do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done
	printf '%s' "$best"
}

# Short sha256 over the cache key's inputs.
cache_key() {
	{
		printf 'patch '; sha256sum <"$PATCH"
		printf 'source %s %s\n' "$SRC_PKG" "$1"
		printf 'configure %s\n' "${CONFIGURE_OPTS[@]}"
	} | sha256sum | cut -c1-12
}

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || printf ' %s' "$p"
	done
}

apt_update() {
	[ "$APT_UPDATED" = no ] || return 0
	say "apt-get update"
	apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 ||
		die "'apt-get update' failed"
	APT_UPDATED=yes
}

# Install the named packages that are not installed yet.
install_pkgs() {
	local what=$1 missing
	shift
	missing=$(missing_pkgs "$@")
	[ -n "$missing" ] || return 0
	[ "$(id -u)" = 0 ] ||
		die "missing $what packages:$missing (run as root, or: apt-get install$missing)"
	say "installing $what packages:$missing"
	apt_update
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
		install -y -qq --no-install-recommends $missing >/dev/null ||
		die "'apt-get install$missing' failed"
}

# "SUITE COMPONENT" of every deb-src entry apt has outside $SRC_LIST (apt
# is shown the sources.list.d files but ours: it merges duplicate entries).
deb_src_elsewhere() {
	local parts f
	parts=$(mktemp -d "${TMPDIR:-/tmp}/colokit-apt-parts.XXXXXX")
	for f in "$(dirname "$SRC_LIST")"/*; do
		[ "$f" = "$SRC_LIST" ] || [ ! -e "$f" ] || ln -s "$f" "$parts/"
	done
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
	apt-get -o Dir::Etc::SourceParts="$parts" indextargets --no-release-info \
		--format '$(RELEASE) $(COMPONENT)' 'Identifier: Sources' 2>/dev/null || true
	rm -rf -- "$parts"
}

# deb-src lines for the suites that no other sources file covers, in deb822.
deb_src_wanted() {
	local codename present suite uri
	# shellcheck disable=SC1091
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release"
	present=$(deb_src_elsewhere)
	for suite in "$codename" "$codename-updates" "$codename-security"; do
		if printf '%s\n' "$present" | grep -qx "$suite main"; then
			continue
		fi
		uri=http://deb.debian.org/debian
		[ "$suite" != "$codename-security" ] || uri=http://deb.debian.org/debian-security
		printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "$suite"
		printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n'
	done
}

# Make sure apt knows Debian's source packages: write $SRC_LIST with the
# deb-src entries no other file has (idempotent), update the lists if needed.
ensure_deb_src() {
	local want have=""
	want=$(deb_src_wanted)
	[ ! -f "$SRC_LIST" ] || have=$(grep -v '^#' "$SRC_LIST")
	if [ "$want" != "$have" ]; then
		[ "$(id -u)" = 0 ] || die "no deb-src entry for $SRC_PKG; run as root to add $SRC_LIST"
		if [ -z "$want" ]; then
			rm -f "$SRC_LIST"
		else
			say "adding deb-src entries: $SRC_LIST"
			{ printf '# Written by colokit qemu-scripts/build-qemu.sh (apt-get source qemu).\n'
			  printf '%s\n' "$want"; } >"$SRC_LIST.tmp"
			mv -f "$SRC_LIST.tmp" "$SRC_LIST"
		fi
		apt_update
	fi
	[ -n "$(source_version)" ] || apt_update
	[ -n "$(source_version)" ] ||
		die "'apt-cache showsrc $SRC_PKG' finds no source package even after apt-get update"
}

# Run a build step quietly into $LOG; on failure show its tail and keep it.
step() {
	local what=$1
	shift
	printf '\n== %s: %s\n' "$what" "$*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 || fail_step "$what" "$*"
}

fail_step() {
	local kept="$CACHE_ROOT/$PROG-failed.log"
	cp -f "$LOG" "$kept" 2>/dev/null || kept=$LOG
	tail -n 25 "$LOG" >&2 || true
	die "$1 failed: '$2' (full log: $kept)"
}

fetch_source() {
	local version=$1
	say "fetching source: $SRC_PKG $version (apt-get source)"
	mkdir "$TMP/src"
	# apt downloads as user _apt when run as root: let it into the directory.
	chmod 755 "$TMP"
	if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$TMP/src"; fi
	(cd "$TMP/src" && step "fetching source" \
		apt-get -o DPkg::Lock::Timeout=300 source "$SRC_PKG=$version")
	SRCDIR=$(find "$TMP/src" -mindepth 1 -maxdepth 1 -type d -name "$SRC_PKG-*" | head -n 1)
	[ -n "$SRCDIR" ] || die "apt-get source $SRC_PKG=$version unpacked no $SRC_PKG-* directory"
	say "applying $(basename "$PATCH")"
	step "applying $(basename "$PATCH") to $SRC_PKG $version" \
		patch -d "$SRCDIR" -p1 --forward --batch -i "$PATCH"
}

configure_build() {
	local version=$1
	say "configuring (log: $LOG)"
	mkdir "$SRCDIR/build"
	(cd "$SRCDIR/build" && step "configure" "${CLEAN_ENV[@]}" TMPDIR="$TMP" ../configure \
		"${CONFIGURE_OPTS[@]}" \
		"--with-pkgversion=colokit lab, Debian $version + colo-tcg-bql")
}

# Report ninja's "[done/total]" progress from the log every 10% while the
# build with PID $1 runs.
watch_progress() {
	local pid=$1 line n total pct last=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		line=$(grep -o '^\[[0-9]*/[0-9]*\]' "$LOG" | tail -n 1) || continue
		line=${line#\[}; line=${line%\]}
		n=${line%/*}; total=${line#*/}
		pct=$((n * 100 / total))
		if [ "$pct" -ge $((last + 10)) ]; then
			last=$((pct / 10 * 10))
			say "building: $pct% ($n/$total, ${SECONDS}s)"
		fi
	done
}

# Build in the background so that a signal to this script is acted on at
# once (cleanup() stops ninja) rather than after the build.
compile() {
	say "building (about 3 min on 2 cores, $JOBS jobs)"
	SECONDS=0
	printf '\n== build: ninja -j%s %s\n' "$JOBS" "$BIN_NAME" >>"$LOG"
	"${CLEAN_ENV[@]}" TMPDIR="$TMP" \
		ninja -C "$SRCDIR/build" -j"$JOBS" "$BIN_NAME" >>"$LOG" 2>&1 &
	NINJA_PID=$!
	watch_progress "$NINJA_PID"
	if ! wait "$NINJA_PID"; then
		NINJA_PID=""
		fail_step "build" "ninja -C $SRCDIR/build -j$JOBS $BIN_NAME"
	fi
	NINJA_PID=""
	say "built in ${SECONDS}s"
	step "built binary check" "$SRCDIR/build/$BIN_NAME" --version
}

# Copy the binary and a note of its inputs into a staging directory beside
# the cache directory, then rename it into place.
install_cache() {
	local key=$1 version=$2 dest="$CACHE_ROOT/qemu-$1"
	say "installing into $dest"
	STAGE=$(mktemp -d "$CACHE_ROOT/.qemu-$key.XXXXXX")
	mkdir "$STAGE/bin"
	cp "$SRCDIR/build/$BIN_NAME" "$STAGE/bin/$BIN_NAME"
	{
		printf 'key: %s\nsource: %s %s\npatch: %s sha256 %s\n' \
			"$key" "$SRC_PKG" "$version" "$(basename "$PATCH")" \
			"$(sha256sum <"$PATCH" | cut -d' ' -f1)"
		printf 'configure: %s\n' "${CONFIGURE_OPTS[*]}"
		printf 'built: %s on %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)"
		"$STAGE/bin/$BIN_NAME" --version | head -n 1
	} >"$STAGE/build-info.txt"
	chmod 755 "$STAGE"
	mv -T "$STAGE" "$dest"
	STAGE=""
}

# Print the cached binary's path for this key if it exists.
cached_path() {
	local bin="$CACHE_ROOT/qemu-$1/bin/$BIN_NAME"
	[ -x "$bin" ] || return 1
	printf '%s\n' "$bin"
}

abs_cache_root() {
	mkdir -p "$CACHE_ROOT" 2>/dev/null || die "cannot create cache directory '$CACHE_ROOT'"
	CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd -P)
	[ -w "$CACHE_ROOT" ] || die "cache directory '$CACHE_ROOT' is not writable (run as root or set COLOKIT_CACHE)"
}

cmd_path() {
	local version
	[ -d "$CACHE_ROOT" ] || exit 1
	CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd -P)
	version=$(source_version)
	[ -n "$version" ] || { say "apt knows no $SRC_PKG source package (no deb-src entry?)"; exit 1; }
	cached_path "$(cache_key "$version")" || exit 1
}

cmd_build() {
	local version key
	[ -r "$PATCH" ] || die "patch not found: $PATCH"
	ensure_deb_src
	# shellcheck disable=SC2086
	install_pkgs runtime $RUNTIME_DEPS
	version=$(source_version)
	key=$(cache_key "$version")
	if [ -d "$CACHE_ROOT" ]; then
		CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd -P)
		if cached_path "$key"; then return 0; fi
	fi
	abs_cache_root

	exec 9>>"$CACHE_ROOT/qemu.lock"
	if ! flock -n 9; then
		say "another build-qemu holds $CACHE_ROOT/qemu.lock; waiting"
		flock 9
	fi
	if cached_path "$key"; then return 0; fi	# built while we waited

	say "no cached build for key $key ($SRC_PKG $version); building"
	# shellcheck disable=SC2086
	install_pkgs build $BUILD_DEPS
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/colokit-qemu.XXXXXX")
	LOG="$TMP/build.log"
	fetch_source "$version"
	configure_build "$version"
	compile
	install_cache "$key" "$version"
	rm -f "$CACHE_ROOT/$PROG-failed.log"
	cached_path "$key"
}

main() {
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	case ${1:-} in
	"")			cmd_build;;
	--path)			cmd_path;;
	--print-deps)		echo "$BUILD_DEPS";;
	--print-runtime-deps)	echo "$RUNTIME_DEPS";;
	-h|--help)		usage;;
	*)			usage >&2; die "unknown argument '$1'";;
	esac
}

main "$@"
