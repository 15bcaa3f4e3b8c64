#!/bin/bash
# Robustness: colo-pcapcmp over every capture of the corpus, each compared
# with itself.  Each must end in "no divergence" (exit 0) or in a clear
# "link type not supported" skip (exit 3, with the message on stderr):
# never a crash, a hang (30 s limit), a sanitizer report or a divergence.
#   B=build-san tests/corpus.sh [DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
dir=${1:-${COLO_CORPUS:-../shared/corpus/tcpdump-tests}}
tool="$B/bin/colo-pcapcmp"
[[ -d $dir ]] || { echo "corpus: no directory $dir" >&2; exit 1; }
[[ -x $tool ]] || { echo "corpus: $tool not built" >&2; exit 1; }
export ASAN_OPTIONS=exitcode=86:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:exitcode=86:print_stacktrace=1
ok=0 skipped=0 bad=0 n=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for f in "$dir"/*; do
	[[ -f $f ]] || continue
	n=$((n + 1))
	timeout 30 "$tool" -q "$f" "$f" >/dev/null 2>"$err"
	rc=$?
	case $rc in
	0) ok=$((ok + 1)) ;;
	3)
		if grep -q "is not supported" "$err"; then
			skipped=$((skipped + 1))
		else
			echo "FAIL (skip without a reason): $f"; bad=$((bad + 1))
		fi ;;
	*)
		echo "FAIL (exit $rc): $f"
		head -n 20 "$err"
		bad=$((bad + 1)) ;;
	esac
done
echo "corpus: $n files: $ok compared with no divergence, $skipped skipped" \
	"(unsupported link type), $bad failed"
((n > 0 && bad == 0))
