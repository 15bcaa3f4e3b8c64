#!/bin/bash
# bench/colo.sh (make bench-colo): the COLO lab measured per service.
# Two real QEMU guests under COLO (TCG), both proxies with the QMP backend,
# then the same workload against the PVM alone (the SVM killed, COLO ended,
# the proxy solo) as the baseline of the same run. Per service: client
# latency p50/p99/max, the requests slower than BENCH_OUTLIER_MS (the
# outlier check: a measurement, it never fails the run), checkpoints per
# request; overall: checkpoint durations (VM paused, request waited) from
# the proxy's own records.
#   BENCH_SCALE=N          multiply the request counts (default 1)
#   BENCH_OUTLIER_MS=MS    a request slower than this is an outlier
#                          (default 1000)
# Writes bench/results/colo-DATE.json and prints a table and the outlier
# verdict ("no request over 1000 ms in any workload" or the workloads).
set -euo pipefail
cd "$(dirname "$0")/.."
. qemu-scripts/lab.sh

SCALE=${BENCH_SCALE:-1}
OVER=${BENCH_OUTLIER_MS:-1000}
[[ $OVER =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "colo.sh: BENCH_OUTLIER_MS: a number of ms, not '$OVER'" >&2; exit 2; }
OUT=bench/results/colo-$(date +%Y%m%d-%H%M%S).json
mkdir -p bench/results

lab_up bench$$
det=$(lab_sha det_html_sha256)
mb=$(lab_sha mb1_bin_sha256)

# field KEY LINE: the value of KEY=VALUE in colo-client's summary line
field() {
	sed -n "s/.*\<$1=\([0-9.]*\).*/\1/p" <<<"$2"
}

# measure NAME N CLIENT-ARGS...: one line
# "NAME REQUESTS CHECKPOINTS p50 p99 max OVER" (OVER: requests > $OVER ms)
measure() {
	local name=$1 n=$2 out k0 k1 f v vals=(); shift 2
	k0=$(ctr A checkpoint.completed)
	out=$(lab_client "$@" --over "$OVER") || fail "$name: $out"
	k1=$(ctr A checkpoint.completed)
	for f in p50_ms p99_ms max_ms over; do
		v=$(field $f "$out")
		[[ -n $v ]] || fail "$name: no $f in colo-client's line: $out"
		vals+=("$v")
	done
	echo "$name $n $((k1 - k0)) ${vals[*]}"
}

workload() {
	local n
	n=$((100 * SCALE)); measure det "$n" http $VM4 /det.html "$n" 1 --sha "$det"
	n=$((10 * SCALE)); measure 1mb "$n" http $VM4 /1mb.bin "$n" 1 --sha "$mb"
	n=$((50 * SCALE)); measure counter "$n" counter $VM4 "$n"
	n=$((30 * SCALE)); measure differ "$n" http $VM4 /cgi-bin/differ "$n" 1
	n=$((500 * SCALE)); measure echo "$n" echo $VM4 7 "$n" 512
}

echo "== paired (COLO, both proxies)"
workload | tee "$NS_TMP/paired.txt"
px A checkpoints --json >"$NS_TMP/ckpts.json"
px A counters --json >"$NS_TMP/counters.json"

echo "== baseline (the PVM alone: SVM killed, COLO ended, proxy solo)"
vm_kill B KILL
lab_client http $VM4 /det.html 2 1 >/dev/null || true	# ends COLO (see e2e)
px_wait_mode A solo 30 || fail "COLO did not end after the SVM died"
workload | tee "$NS_TMP/solo.txt"

python3 - "$NS_TMP/paired.txt" "$NS_TMP/solo.txt" "$NS_TMP/ckpts.json" \
	"$NS_TMP/counters.json" "$OUT" "$SCALE" "$OVER" <<'PY'
import json, sys
paired, solo, ck, ctr, out, scale, over = sys.argv[1:8]
over = float(over)
def rows(p):
    r = {}
    for line in open(p):
        name, n, k, p50, p99, mx, nover = line.split()
        r[name] = {"requests": int(n), "checkpoints": int(k),
                   "p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx),
                   "outliers": int(nover)}
    return r
P, S = rows(paired), rows(solo)
c = json.load(open(ck))
recs = [v for k, v in c.items() if k.startswith("c") and v["paused_us"]]
def pct(xs, q):
    xs = sorted(xs)
    return xs[max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))] if xs else 0
paused = [r["paused_us"] / 1000 for r in recs]
waited = [r["wait_us"] / 1000 for r in recs if r["wait_us"]]
res = {"scale": int(scale), "services": {}, "checkpoint": {
    "count": len(recs), "paused_p50_ms": pct(paused, 50), "paused_p99_ms": pct(paused, 99),
    "waited_p50_ms": pct(waited, 50), "waited_p99_ms": pct(waited, 99),
    "paused_ms": paused, "waited_ms": waited},
    "counters": json.load(open(ctr)).get("checkpoint", {})}
tag = "%g" % over
print("\n%-8s %5s %8s %8s %8s %8s %6s %8s %8s %8s %6s %6s" % ("service", "reqs", "ckpt/req",
      "p50 ms", "p99 ms", "max ms", ">" + tag, "solo p50", "solo p99", "solo max", ">" + tag, "p50 x"))
for name in P:
    p, s = P[name], S[name]
    ratio = p["p50_ms"] / s["p50_ms"] if s["p50_ms"] else float("nan")
    res["services"][name] = {"paired": p, "solo": s, "p50_ratio": round(ratio, 2)}
    print("%-8s %5d %8.2f %8.1f %8.1f %8.1f %6d %8.1f %8.1f %8.1f %6d %6.2f" % (name, p["requests"],
          p["checkpoints"] / p["requests"], p["p50_ms"], p["p99_ms"], p["max_ms"], p["outliers"],
          s["p50_ms"], s["p99_ms"], s["max_ms"], s["outliers"], ratio))
# the outlier check: requests slower than the threshold, per workload,
# paired and alone (a measurement: reported, never a failure)
hit = [n for n in P if P[n]["outliers"] or S[n]["outliers"]]
if not hit:
    verdict = "no request over %s ms in any workload (paired or alone)" % tag
else:
    verdict = "requests over %s ms: %s" % (tag, "; ".join(
        "%s %d of %d paired (max %.1f ms), %d of %d alone (max %.1f ms)" % (
            n, P[n]["outliers"], P[n]["requests"], P[n]["max_ms"],
            S[n]["outliers"], S[n]["requests"], S[n]["max_ms"]) for n in hit))
res["outliers"] = {"threshold_ms": over, "workloads": hit,
                   "paired": sum(P[n]["outliers"] for n in P),
                   "solo": sum(S[n]["outliers"] for n in S),
                   "verdict": verdict}
print("\noutliers: " + verdict)
k = res["checkpoint"]
print("checkpoints: %d; VM paused p50 %.1f ms, p99 %.1f ms; request->resume p50 %.1f ms, p99 %.1f ms"
      % (k["count"], k["paused_p50_ms"], k["paused_p99_ms"], k["waited_p50_ms"], k["waited_p99_ms"]))
json.dump(res, open(out, "w"), indent=1)
print("written: " + out)
PY
