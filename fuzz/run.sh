#!/bin/bash
# fuzz/run.sh BIN...: run each libFuzzer harness for $FUZZ_TIME seconds
# (default 30), as `make fuzz` does.
#
# Corpus: build-fuzz/corpus/NAME (created; new inputs go there), then
# fuzz/seeds/NAME if it exists (only read).  Crashes go to
# build-fuzz/artifacts/NAME-*, the log to build-fuzz/logs/NAME.log.
# Prints one line per harness; exits 1 if any harness failed.
set -uo pipefail

bins=()
for b in "$@"; do
	bins+=("$(realpath -m -- "$b")")	# named from the caller's directory
done
cd "$(dirname "$0")/.." || exit 2

time=${FUZZ_TIME:-30}
out=build-fuzz
# UBSan only reports by default: make every report a crash libFuzzer sees
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [[ ${#bins[@]} -eq 0 ]]; then
	echo "usage: FUZZ_TIME=SECONDS $0 BIN..." >&2
	exit 2
fi
mkdir -p "$out/corpus" "$out/artifacts" "$out/logs"

failed=0
for bin in "${bins[@]}"; do
	[[ -d $bin ]] && continue	# build-fuzz/* also holds corpus/, logs/
	name=$(basename "$bin")
	case $name in *.d|*.o|*.log) continue ;; esac
	if [[ ! -x $bin ]]; then
		echo "$name: not an executable" >&2
		failed=1
		continue
	fi
	corpus=("$out/corpus/$name")
	mkdir -p "${corpus[0]}"
	[[ -d fuzz/seeds/$name ]] && corpus+=("fuzz/seeds/$name")
	log=$out/logs/$name.log

	timeout -k 10 $((time + 300)) "$bin" -max_total_time="$time" \
		-max_len=4096 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
		"${corpus[@]}" >"$log" 2>&1
	rc=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1)
	if [[ $rc -eq 0 ]]; then
		echo "$name: ok, ${execs:-?} executions in ${time}s" \
		     "(${rate:-?}/s, ${cov:-cov: ?})"
	else
		failed=1
		art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
		echo "$name: FAILED (exit $rc) after ${execs:-?} executions;" \
		     "artifact ${art:-none}, log $log"
		grep -a -m1 -E 'invariant violated|ERROR: |runtime error' "$log" |
			sed 's/^/    /'
	fi
done
exit $failed
