#!/bin/bash
# bench/failover.sh (make bench-failover): failover time, from an injected
# failure to the first correct answer a client gets from the survivor.
# Each run is tests/e2e/failover-host-a.sh (or FO_TEST): a fresh COLO pair
# with colo-heartbeat and a witness, the checker's load, then host A dies
# silently (frozen, links down); the checker's verdict must be PASS. Per
# run: the checker's first acknowledged answer after the death, and B's
# own time from its claim to the end of its takeover plan.
#   FO_RUNS=N            runs (default 20)
#   LAB_HB_INTERVAL/_TIMEOUT   heartbeat timers (default 50ms / 200ms)
#   FO_TEST=FILE         another failover test (e.g. failover-host-b.sh)
# Writes bench/results/failover-DATE.json and prints p50/p90/max.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${FO_RUNS:-20}
TEST=${FO_TEST:-tests/e2e/failover-host-a.sh}
export LAB_HB_INTERVAL=${LAB_HB_INTERVAL:-50ms} LAB_HB_TIMEOUT=${LAB_HB_TIMEOUT:-200ms}
OUT=bench/results/failover-$(date +%Y%m%d-%H%M%S).json
LOGDIR=$(mktemp -d /tmp/bench-failover.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT
mkdir -p bench/results

samples=() plans=() failed=0
for ((i = 1; i <= RUNS; i++)); do
	log=$LOGDIR/run$i.log
	if B=${B:-build} timeout -k 10 600 bash "$TEST" >"$log" 2>&1; then
		ack=$(sed -n 's/.*first answer from the survivor \([0-9.]*\) ms.*/\1/p' "$log")
		plan=$(sed -n 's/.*last step of its plan \([0-9.e+]*\) ms.*/\1/p' "$log")
		samples+=("$ack")
		plans+=("${plan:-null}")
		printf 'run %2d/%d: first answer %s ms after the failure (claim to plan done %s ms)\n' \
			"$i" "$RUNS" "$ack" "${plan:-?}"
	else
		failed=$((failed + 1))
		echo "run $i/$RUNS: FAILED (kept: $log.failed)"
		cp "$log" "/tmp/bench-failover-run$i.failed.log"
	fi
done

python3 - "$OUT" "$TEST" "$RUNS" "$failed" "$LAB_HB_INTERVAL" "$LAB_HB_TIMEOUT" \
	"${samples[*]:-}" "${plans[*]:-}" <<'PY'
import json, platform, os, statistics, sys, time
out, test, runs, failed, interval, timeout, s, p = sys.argv[1:]
samples = [float(x) for x in s.split()]
plans = [float(x) for x in p.split() if x != "null"]
def q(v, f):
    v = sorted(v)
    return v[min(len(v) - 1, int(f * len(v)))] if v else None
res = {
    "what": "failover time: injected failure -> first acknowledged answer from the survivor",
    "test": test, "runs": int(runs), "failed_runs": int(failed),
    "heartbeat": {"interval": interval, "timeout": timeout},
    "machine": {"host": platform.node(), "kernel": platform.release(),
                "cpus": os.cpu_count()},
    "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    "first_answer_ms": {"samples": samples,
                        "p50": statistics.median(samples) if samples else None,
                        "p90": q(samples, 0.9), "max": max(samples) if samples else None},
    "claim_to_plan_done_ms": {"samples": plans,
                              "p50": statistics.median(plans) if plans else None,
                              "max": max(plans) if plans else None},
}
json.dump(res, open(out, "w"), indent=2)
f = res["first_answer_ms"]
print(f"\n{len(samples)} runs ({failed} failed), heartbeat every {interval}, timeout {timeout}")
if samples:
    print(f"first answer after the failure: p50 {f['p50']:.1f} ms, p90 {f['p90']:.1f} ms, max {f['max']:.1f} ms")
if plans:
    print(f"claim -> takeover plan done: p50 {res['claim_to_plan_done_ms']['p50']:.1f} ms, max {res['claim_to_plan_done_ms']['max']:.1f} ms")
print(f"written: {out}")
PY
((failed == 0))
