#!/bin/bash
# bench/colo.sh (make bench-colo): the COLO lab measured per service.
# Two real QEMU guests under COLO (TCG), both proxies with the QMP backend,
# then the same workload against the PVM alone (the SVM killed, COLO ended,
# the proxy solo) as the baseline of the same run. Per service: client
# latency p50/p99, checkpoints per request; overall: checkpoint durations
# (VM paused, request waited) from the proxy's own records.
#   BENCH_SCALE=N   multiply the request counts (default 1)
# Writes bench/results/colo-DATE.json and prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
. qemu-scripts/lab.sh

SCALE=${BENCH_SCALE:-1}
OUT=bench/results/colo-$(date +%Y%m%d-%H%M%S).json
mkdir -p bench/results

lab_up bench$$
det=$(lab_sha det_html_sha256)
mb=$(lab_sha mb1_bin_sha256)

# service NAME CLIENT-ARGS...: one line "NAME REQUESTS CHECKPOINTS p50 p99"
measure() {
	local name=$1 n=$2 out k0 k1; shift 2
	k0=$(ctr A checkpoint.completed)
	out=$(lab_client "$@") || fail "$name: $out"
	k1=$(ctr A checkpoint.completed)
	echo "$name $n $((k1 - k0)) $(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out") $(sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")"
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
	"$NS_TMP/counters.json" "$OUT" "$SCALE" <<'PY'
import json, sys
paired, solo, ck, ctr, out, scale = sys.argv[1:7]
def rows(p):
    r = {}
    for line in open(p):
        name, n, k, p50, p99 = line.split()
        r[name] = {"requests": int(n), "checkpoints": int(k),
                   "p50_ms": float(p50), "p99_ms": float(p99)}
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
print("\n%-8s %6s %9s %10s %10s %10s %10s %8s" % ("service", "reqs", "ckpt/req",
      "p50 ms", "p99 ms", "solo p50", "solo p99", "p50 x"))
for name in P:
    p, s = P[name], S[name]
    ratio = p["p50_ms"] / s["p50_ms"] if s["p50_ms"] else float("nan")
    res["services"][name] = {"paired": p, "solo": s, "p50_ratio": round(ratio, 2)}
    print("%-8s %6d %9.2f %10.1f %10.1f %10.1f %10.1f %8.2f" % (name, p["requests"],
          p["checkpoints"] / p["requests"], p["p50_ms"], p["p99_ms"], s["p50_ms"],
          s["p99_ms"], ratio))
k = res["checkpoint"]
print("\ncheckpoints: %d; VM paused p50 %.1f ms, p99 %.1f ms; request->resume p50 %.1f ms, p99 %.1f ms"
      % (k["count"], k["paused_p50_ms"], k["paused_p99_ms"], k["waited_p50_ms"], k["waited_p99_ms"]))
json.dump(res, open(out, "w"), indent=1)
print("written: " + out)
PY
