#!/bin/bash
# bench/relay.sh (make bench-relay): the COLO checkpoint stream with and
# without colo-relay, in one run. Rounds alternate a direct channel and
# the channel through colo-relay (zstd, [compression] level from
# BENCH_RELAY_LEVEL, default 1), each a fresh lab pair (two real QEMU guests
# under COLO, both proxies). Per round:
#   initial sync    time (coloctl pair) and bytes on the wire A -> B
#   idle            N forced checkpoints of the idle guest: wire bytes
#                   each, the VM's pause (the proxy's own record)
#   busy            N forced checkpoints while a client downloads 1 MB
#                   pages from the guest: the same
# Wire bytes A -> B: direct, the PVM's QEMU socket's bytes_sent (ss -ti);
# relay, relay A's forward.wire_bytes. The baseline of every ratio is the
# direct channel of the same run.
#   BENCH_ROUNDS=R (2), BENCH_CKPTS=N (20), BENCH_LINK_RATE=RATE (the
#   replication link shaped to RATE both ways with tc tbf; default 1gbit,
#   a LAN between two hosts; "none": the lab's unshaped veth, several GB/s,
#   faster than the compressor)
# Writes bench/results/relay-DATE.json and .md, prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-2}
N=${BENCH_CKPTS:-20}
BENCH_LINK_RATE=${BENCH_LINK_RATE-1gbit}
[[ $BENCH_LINK_RATE == none ]] && BENCH_LINK_RATE=
export BENCH_LINK_RATE
OUT=bench/results/relay-$(date +%Y%m%d-%H%M%S)
mkdir -p bench/results

if [[ ${1:-} != --round ]]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	for ((r = 0; r < ROUNDS; r++)); do
		for mode in direct relay; do
			echo "== round $((r + 1))/$ROUNDS: $mode"
			"$0" --round "$mode" "$tmp/$mode-$r.json" ||
				{ echo "bench/relay.sh: the $mode round failed" >&2; exit 1; }
		done
	done
	python3 - "$OUT" "$N" "${BENCH_RELAY_LEVEL:-1}" "${BENCH_LINK_RATE:-unshaped veth}" "$tmp"/*.json <<'PY'
import json, platform, statistics, subprocess, sys
out, n, level, link, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
rounds = [json.load(open(f)) for f in files]
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else None
agg = {}
for m in ("direct", "relay"):
    rs = [r for r in rounds if r["mode"] == m]
    a = {"rounds": len(rs)}
    a["sync_s"] = statistics.median(r["sync_s"] for r in rs)
    a["sync_bytes"] = statistics.median(r["sync_bytes"] for r in rs)
    for ph in ("idle", "busy"):
        b = [x for r in rs for x in r[ph]["bytes"]]
        d = [x for r in rs for x in r[ph]["paused_ms"]]
        a[ph] = {"bytes_p50": pct(b, 50), "paused_p50_ms": pct(d, 50),
                 "paused_p99_ms": pct(d, 99), "n": len(b)}
    agg[m] = a
D, R = agg["direct"], agg["relay"]
ratio = lambda a, b: (a / b) if a and b else None
goals = {
    "idle_bytes_x": ratio(D["idle"]["bytes_p50"], R["idle"]["bytes_p50"]),
    "sync_bytes_x": ratio(D["sync_bytes"], R["sync_bytes"]),
    "idle_pause_ratio": ratio(R["idle"]["paused_p50_ms"], D["idle"]["paused_p50_ms"]),
    "busy_pause_ratio": ratio(R["busy"]["paused_p50_ms"], D["busy"]["paused_p50_ms"]),
}
ok = {"idle_bytes >= 10x fewer": (goals["idle_bytes_x"] or 0) >= 10,
      "initial sync >= 2.5x fewer": (goals["sync_bytes_x"] or 0) >= 2.5,
      "checkpoint pause within 10% (idle p50)": (goals["idle_pause_ratio"] or 9) <= 1.10,
      "checkpoint pause within 10% (busy p50)": (goals["busy_pause_ratio"] or 9) <= 1.10}
doc = {"machine": {"host": platform.node(), "cpus": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
                   "kernel": platform.release()},
       "params": {"rounds": len(rounds) // 2, "checkpoints_per_phase": n, "zstd_level": level, "replication_link": link},
       "baseline": "the direct COLO channel (no relay), same run",
       "summary": agg, "ratios": goals, "goals": ok, "rounds": rounds}
json.dump(doc, open(out + ".json", "w"), indent=1)
f = lambda v, k=1: "-" if v is None else ("%.*f" % (k, v))
lines = ["Baseline: the direct COLO channel of the same run; %d rounds each, %d checkpoints per phase and round; zstd level %d; replication link: %s." % (len(rounds) // 2, n, level, link), "",
         "| | direct | relay | ratio |", "|---|---:|---:|---:|",
         "| initial sync, bytes on the wire | %s MB | %s MB | %sx fewer |" % (f(D["sync_bytes"] / 1e6), f(R["sync_bytes"] / 1e6), f(goals["sync_bytes_x"])),
         "| initial sync, time | %s s | %s s | %s |" % (f(D["sync_s"], 2), f(R["sync_s"], 2), f(ratio(R["sync_s"], D["sync_s"]), 2)),
         "| idle checkpoint, bytes (p50) | %s KB | %s KB | %sx fewer |" % (f(D["idle"]["bytes_p50"] / 1e3), f(R["idle"]["bytes_p50"] / 1e3), f(goals["idle_bytes_x"])),
         "| busy checkpoint, bytes (p50) | %s KB | %s KB | %sx fewer |" % (f(D["busy"]["bytes_p50"] / 1e3), f(R["busy"]["bytes_p50"] / 1e3), f(ratio(D["busy"]["bytes_p50"], R["busy"]["bytes_p50"]))),
         "| idle checkpoint, VM paused p50 / p99 | %s / %s ms | %s / %s ms | %s |" % (f(D["idle"]["paused_p50_ms"], 2), f(D["idle"]["paused_p99_ms"], 2), f(R["idle"]["paused_p50_ms"], 2), f(R["idle"]["paused_p99_ms"], 2), f(goals["idle_pause_ratio"], 2)),
         "| busy checkpoint, VM paused p50 / p99 | %s / %s ms | %s / %s ms | %s |" % (f(D["busy"]["paused_p50_ms"], 2), f(D["busy"]["paused_p99_ms"], 2), f(R["busy"]["paused_p50_ms"], 2), f(R["busy"]["paused_p99_ms"], 2), f(goals["busy_pause_ratio"], 2)),
         "", "Goals: " + "; ".join("%s: %s" % (k, "met" if v else "MISSED") for k, v in ok.items())]
open(out + ".md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print("wrote %s.json and %s.md" % (out, out))
PY
	exit 0
fi

# ---- one round: --round direct|relay FILE -------------------------------------
MODE=$2
RES=$3
. qemu-scripts/lab.sh
[[ $MODE == relay ]] && LAB_RELAY=1 || LAB_RELAY=0
[[ -n ${BENCH_RELAY_LEVEL:-} ]] && LAB_RELAY_EXTRA=$(printf '[compression]\nlevel = %s' "$BENCH_RELAY_LEVEL")

ns_setup "brl$$" || exit 1
lab_build
lab_net || fail "cannot build the topology"
if [[ -n ${BENCH_LINK_RATE:-} ]]; then
	for h in A B; do
		ns_exec "host$h" tc qdisc add dev "rep$h" root tbf rate "$BENCH_LINK_RATE" \
			burst 256kb latency 50ms || fail "tc: cannot shape rep$h"
	done
fi
lab_proxies
if [[ $LAB_RELAY == 1 ]]; then relay_start B; relay_start A; fi
lab_vm B
lab_vm A
lab_wait_guest
t0=$(date +%s.%N)
lab_pair >"$NS_TMP/pair.out"
t1=$(date +%s.%N)

# bytes sent so far on the COLO channel, host A -> host B
chan_bytes() {
	if [[ $LAB_RELAY == 1 ]]; then
		rl A counters | awk '$1 == "forward.wire_bytes" { print $2 }'
	else
		ns_exec hostA ss -tinH state established "( dport = :$LAB_COLO_PORT )" |
			sed -n 's/.*bytes_sent:\([0-9]*\).*/\1/p' | head -n 1
	fi
}
sync_bytes=$(chan_bytes)
sleep 2

# phase NAME: N forced checkpoints, the wire bytes of each
phase() {
	local i b0 b1
	for ((i = 0; i < N; i++)); do
		b0=$(chan_bytes)
		px A checkpoint --wait 30 >/dev/null || fail "no checkpoint"
		sleep 0.2
		b1=$(chan_bytes)
		echo $((b1 - b0))
	done >"$NS_TMP/$1.bytes"
}
k0=$(ctr A checkpoint.completed)
phase idle
k1=$(ctr A checkpoint.completed)
ns_spawn cli "$NS_TMP/load.log" "$NS_PYTHON" "$LAB_CLIENT" http $VM4 /1mb.bin 100000 2
LOAD=$NS_LASTPID
sleep 2
phase busy
k2=$(ctr A checkpoint.completed)
ns_stop "$LOAD" TERM 3 || true
px A checkpoints --json >"$NS_TMP/ckpts.json"
python3 - "$MODE" "$RES" "$t0" "$t1" "$sync_bytes" "$NS_TMP" "$k0" "$k1" "$k2" <<'PY'
import json, sys
mode, res, t0, t1, sync, d, k0, k1, k2 = sys.argv[1:10]
ck = json.load(open(d + "/ckpts.json"))
recs = [v for k, v in ck.items() if isinstance(v, dict) and "paused_us" in v]
recs.sort(key=lambda r: r["epoch"])
by_epoch = {r["epoch"]: r["paused_us"] / 1000 for r in recs}
def pauses(lo, hi):   # checkpoints lo+1..hi completed: epochs lo..hi-1
    return [by_epoch[e] for e in range(int(lo), int(hi)) if e in by_epoch]
out = {"mode": mode, "sync_s": float(t1) - float(t0), "sync_bytes": int(sync or 0),
       "pair": open(d + "/pair.out").read().strip(),
       "idle": {"bytes": [int(x) for x in open(d + "/idle.bytes")], "paused_ms": pauses(k0, k1)},
       "busy": {"bytes": [int(x) for x in open(d + "/busy.bytes")], "paused_ms": pauses(k1, k2)}}
json.dump(out, open(res, "w"))
print(mode, "sync %.2f s %d bytes; idle bytes p50 %s; busy bytes p50 %s" % (
    out["sync_s"], out["sync_bytes"], sorted(out["idle"]["bytes"])[len(out["idle"]["bytes"]) // 2],
    sorted(out["busy"]["bytes"])[len(out["busy"]["bytes"]) // 2]))
PY
