#!/bin/bash
# Run colokit's test suites and print one closing line.
#   tests/run-all.sh [unit|lab|corpus|scenario|e2e|all]   (B= build dir, default build)
# unit:   every Criterion suite in $B/tests/ that needs nothing but itself
# lab:    records real traffic in network namespaces (root), then runs the
#         capture suites over it
# corpus: the capture tool over every file of ../shared/corpus (or $COLO_CORPUS)
# scenario: the proxy pair in network namespaces (root): tests/scenario/*.sh
# e2e:    two real QEMU guests under COLO with both proxies (root; builds the
#         lab QEMU and the guest once per machine): tests/e2e/*.sh
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
what=${1:-all}
passed=0 failed=0
failed_names=()

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run NAME CMD...: a suite fails on a non-zero exit, and also on any
# sanitizer report in its output (Criterion's workers may not pass those on)
run() {
	local name=$1; shift
	echo "---- $name"
	if "$@" 2>&1 | tee "$log" && ! grep -qE \
	    "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
}

if [[ $what == unit || $what == all ]]; then
	# test_ckpt_qmp talks to a real QEMU: the lab build (built once per
	# machine, then cached; see qemu-scripts/build-qemu.sh)
	if [[ -z ${COLOKIT_QEMU:-} ]]; then
		COLOKIT_QEMU=$(qemu-scripts/build-qemu.sh | tail -n 1) || {
			echo "run-all: cannot build the lab QEMU" >&2
			COLOKIT_QEMU=
		}
		export COLOKIT_QEMU
	fi
	for t in "$B"/tests/test_*; do
		[[ -x $t && $t != *.d ]] || continue
		case $(basename "$t") in test_lab_*) continue ;; esac
		run "$(basename "$t")" "$t" --jobs 2
	done
fi

if [[ $what == lab || $what == all ]]; then
	capdir="$B/captures"
	run record-pair tests/lab/record-pair.sh "$capdir"
	for t in "$B"/tests/test_lab_*; do
		[[ -x $t ]] || continue
		run "$(basename "$t")" env COLO_CAPTURES="$capdir" B="$B" "$t" --jobs 1
	done
fi

if [[ $what == scenario || $what == all ]]; then
	for t in tests/scenario/*.sh; do
		[[ $(basename "$t") == topo.sh ]] && continue
		run "scenario-$(basename "$t" .sh)" env B="$B" timeout -k 10 300 bash "$t"
	done
fi

if [[ $what == e2e || $what == all ]]; then
	for t in tests/e2e/*.sh; do
		run "e2e-$(basename "$t" .sh)" env B="$B" timeout -k 10 1500 bash "$t"
	done
fi

if [[ $what == corpus || $what == all ]]; then
	run corpus env B="$B" tests/corpus.sh
fi

echo
if ((failed)); then
	echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
