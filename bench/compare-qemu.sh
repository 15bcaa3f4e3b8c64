#!/bin/bash
# bench/compare-qemu.sh (make bench-compare): our comparator against QEMU's
# own colo-compare, on identical frames, end to end through the same kind
# of unix sockets; and the library alone on the same frames. Every figure
# is a ratio within this run (bench/README.md).
#
#   bench/compare-qemu.sh [cmp_vs_qemu options]     (-h lists them)
#
# Finds the lab QEMU the way the lab does (qemu-scripts/build-qemu.sh,
# which builds it first on a fresh machine: root, 3 to 6 minutes, once).
# Writes bench/results/compare-DATE.json (machine, versions, parameters,
# raw samples) and compare-DATE.md, and prints the table. Needs
# `make build/bench/cmp_front build/bench/cmp_vs_qemu` (make bench-compare
# does it).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}

for b in cmp_front cmp_vs_qemu; do
	if [[ ! -x $B/bench/$b ]]; then
		echo "compare-qemu: $B/bench/$b is missing: run make bench-compare" >&2
		exit 2
	fi
done
QEMU=$(qemu-scripts/build-qemu.sh | tail -n 1) || {
	echo "compare-qemu: cannot build the lab QEMU" >&2
	exit 1
}
info="$(dirname "$(dirname "$QEMU")")/build-info.txt"
OUT=bench/results/compare-$(date +%Y%m%d-%H%M%S)
mkdir -p bench/results

rc=0
"$B/bench/cmp_vs_qemu" --qemu "$QEMU" --front "$B/bench/cmp_front" \
	--json "$OUT.json" --md "$OUT.md" \
	--meta "colokit=$(git describe --always --dirty 2>/dev/null || echo unknown)" \
	--meta "qemu=$("$QEMU" -version | head -n 1)" \
	--meta "qemu_build=$(tr '\n' ';' <"$info" 2>/dev/null || true)" \
	"$@" || rc=$?
if [[ -f $OUT.json ]]; then
	echo "compare-qemu: wrote $OUT.json and $OUT.md" >&2
fi
exit $rc
