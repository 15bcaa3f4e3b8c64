#!/usr/bin/env python3
"""bench/datapath.py: the report of bench/datapath.sh.

  datapath.py report RESDIR JSON_OUT

RESDIR holds what datapath.sh recorded (see the file names below); this
parses it, writes JSON_OUT (machine, versions, parameters, raw samples,
results) and prints the table.  Exit status: 0 every path measured and the
pair valid, 3 a path failed or the pair run is invalid (the JSON and the
table say why), 2 an error of this script.

Files in RESDIR, for PATH in direct, floor, pair and ROUND in 1..RUNS:
  params                     KEY=VALUE lines written by datapath.sh
  rr-PATH-ROUND.out/.err/.rc/.json
                             labnet.py rr-client: summary, errors, status,
                             samples
  iperf-PATH-ROUND.client    iperf3 client output
  iperf-PATH-ROUND.pvm/.svm  the servers' output for that run
  iperf-PATH-ROUND.state     "ok|stopped|failed RC": how the client ended
  nfq_accept-ROUND.log       the floor program's counters (-v)
  px-ROUND.A.counters.json, px-ROUND.B.counters.json (coloctl --json),
  px-ROUND.A.divergences (coloctl divergences, text), px-ROUND.u0 (the
  primary's uptime as the iperf3 client started), px-ROUND.err,
  px-ROUND.A.log, px-ROUND.B.log
                             the pair: a fresh proxy pair per round
"""
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

PATHS = ("direct", "floor", "pair")
GOAL_TPUT = 0.80          # pair throughput >= 80 % of the floor's
GOAL_LAT = 1.5            # pair added p50 <= 1.5 x the floor's
# The comparator's timeouts (colo-proxy defaults, not overridden by
# datapath.sh): a hold-timeout request is made this long after the output
# that caused it.
HOLD_TIMEOUT_MS = {"primary": 200, "secondary": 2000}


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def percentile(xs, q):
    """Nearest-rank percentile of a sorted list (as labnet.py rr-client)."""
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))
    return xs[int(k)]


# ---- iperf3 -------------------------------------------------------------------

UNIT = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
BYTE_UNIT = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
LINE_RE = re.compile(
    r"^\[\s*\d+\]\s+([\d.]+)-([\d.]+)\s+sec\s+([\d.]+)\s+([KMGT]?)Bytes\s+"
    r"([\d.]+)\s+([KMGT]?)bits/sec(.*)$")


def iperf_server(text):
    """The receiving server's view of one test: intervals and the receiver
    summary (printed when the test ends, before the results exchange)."""
    out = {"intervals": [], "receiver": None, "control_port": None,
           "data_port": None}
    m = re.search(r"Accepted connection from \S+, port (\d+)", text)
    if m:
        out["control_port"] = int(m.group(1))
    m = re.search(r"connected to \S+ port (\d+)", text)
    if m:
        out["data_port"] = int(m.group(1))
    for line in text.splitlines():
        m = LINE_RE.match(line.strip())
        if not m:
            continue
        t0, t1 = float(m.group(1)), float(m.group(2))
        nbytes = float(m.group(3)) * BYTE_UNIT[m.group(4)]
        bps = float(m.group(5)) * UNIT[m.group(6)]
        rec = {"t0": t0, "t1": t1, "bytes": int(nbytes), "bps": bps}
        if "receiver" in m.group(7):
            out["receiver"] = rec
            break                       # the first summary is this test's
        out["intervals"].append(rec)
    return out


def cpu_use(base, clk_tck):
    """CPU use during a run's data phase: per watched process in % of one
    CPU, and the whole machine's busy share in % of all its CPUs."""
    def snap(path):
        out = {}
        for line in read(path).splitlines():
            f = line.split()
            if len(f) >= 2 and all(x.isdigit() for x in f[1:]):
                out[f[0]] = [int(x) for x in f[1:]]
        return out
    a, b = snap(base + ".cpu0"), snap(base + ".cpu1")
    ms = read(base + ".cpu_ms").strip()
    if not ms.isdigit() or int(ms) <= 0:
        return None
    wall = int(ms) / 1000.0
    out = {"seconds": wall}
    for k in a:
        if k in b and k != "machine" and not re.match(r"^cpu\d+$", k):
            out[k + "_pct"] = round(100.0 * (b[k][0] - a[k][0]) / clk_tck / wall, 1)
    # each CPU's busy share (with -H: CPU 0 is host A, CPU 1 host B)
    for k in a:
        if re.match(r"^cpu\d+$", k) and k in b and b[k][1] > a[k][1]:
            out[k + "_busy_pct"] = round(100.0 * (b[k][0] - a[k][0]) /
                                         (b[k][1] - a[k][1]), 1)
    if "machine" in a and "machine" in b and b["machine"][1] > a["machine"][1]:
        out["machine_busy_pct"] = round(100.0 * (b["machine"][0] - a["machine"][0]) /
                                        (b["machine"][1] - a["machine"][1]), 1)
    return out


def iperf_runs(res, path, clk_tck=100, two_hosts=False):
    runs = []
    for f in sorted(glob.glob(os.path.join(res, "iperf-%s-*.state" % path)),
                    key=lambda p: int(re.search(r"-(\d+)\.state$", p).group(1))):
        base = f[:-len(".state")]
        i = int(re.search(r"-(\d+)$", base).group(1))
        state = read(f).split()
        srv = iperf_server(read(base + ".pvm"))
        r = {"run": i, "client_state": state[0] if state else "missing",
             "client_rc": int(state[1]) if len(state) > 1 else None,
             "control_port": srv["control_port"], "data_port": srv["data_port"],
             "receiver": srv["receiver"], "intervals": srv["intervals"]}
        if os.path.exists(base + ".svm"):
            s = iperf_server(read(base + ".svm"))
            r["svm_receiver"] = s["receiver"]
        r["gbps"] = srv["receiver"]["bps"] / 1e9 if srv["receiver"] else None
        r["cpu"] = cpu_use(base, clk_tck)
        # the whole machine's CPU time per Gbit moved (both "hosts", the
        # client and the VMs share its CPUs): what the path costs in all
        busy = r["cpu"].get("machine_busy_pct") if r["cpu"] else None
        r["machine_cpu_ms_per_gbit"] = (
            round(busy / 100.0 * (os.cpu_count() or 1) * 1000.0 / r["gbps"], 1)
            if busy and r["gbps"] else None)
        # with -H, each host's: CPU 0 (host A, with the client), CPU 1 (B)
        if two_hosts and r["cpu"] and r["gbps"]:
            r["host_cpu_ms_per_gbit"] = {
                h: round(r["cpu"][c] / 100.0 * 1000.0 / r["gbps"], 1)
                for h, c in (("A", "cpu0_busy_pct"), ("B", "cpu1_busy_pct"))
                if c in r["cpu"]}
        r["client_output"] = read(base + ".client")[-3000:]
        runs.append(r)
    return runs


# ---- request/response ---------------------------------------------------------------

def rr_result(res, path):
    """Every round's block; p50/p99 over all samples of the blocks that
    completed (a failed block is a problem of the path)."""
    blocks, pooled = [], []
    for f in sorted(glob.glob(os.path.join(res, "rr-%s-*.rc" % path)),
                    key=lambda p: int(re.search(r"-(\d+)\.rc$", p).group(1))):
        base = f[:-len(".rc")]
        rc = read(f).strip()
        b = {"round": int(re.search(r"-(\d+)$", base).group(1)),
             "rc": int(rc) if rc.lstrip("-").isdigit() else None,
             "summary": read(base + ".out").strip(),
             "error": read(base + ".err").strip()[-2000:],
             "samples_us": []}
        try:
            with open(base + ".json") as fh:
                d = json.load(fh)
            b["samples_us"], b["size"], b["warmup"] = d["samples_us"], d["size"], d["warmup"]
        except (OSError, ValueError, KeyError):
            pass
        xs = sorted(b["samples_us"])
        b["p50_us"], b["p99_us"] = percentile(xs, 50), percentile(xs, 99)
        if b["rc"] == 0:
            pooled += b["samples_us"]
        blocks.append(b)
    xs = sorted(pooled)
    return {"blocks": blocks, "n": len(xs),
            "p50_us": percentile(xs, 50), "p99_us": percentile(xs, 99),
            "mean_us": sum(xs) / len(xs) if xs else None,
            "failed_blocks": [b["round"] for b in blocks if b["rc"] != 0]}


# ---- the pair's proxies ---------------------------------------------------------------

def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def divergences(text, tag):
    """coloctl divergences (text form: "dN.key value" lines) of round TAG."""
    ds = {}
    for line in text.splitlines():
        m = re.match(r"^d(\d+)\.(\w+) ?(.*)$", line)
        if not m:
            continue
        d = ds.setdefault(int(m.group(1)), {})
        v = m.group(3)
        if m.group(2) == "dump" and v:
            v = "dumps/round-%s/%s" % (tag, os.path.basename(v))  # datapath.sh -k
        d[m.group(2)] = int(v) if v.isdigit() else v
    return [ds[k] for k in sorted(ds)]


def flow_client_port(flow):
    m = re.search(r":(\d+) > \S+:(\d+)$", flow or "")
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


COUNTERS_SHOWN = {
    "A": ["proxy.released", "compare.released", "compare.frames_primary",
          "compare.frames_secondary", "compare.held_frames", "proxy.divergences",
          "proxy.queue_loss", "proxy.mirror_lost", "channel.rx_gaps",
          "channel.tx_dropped_full", "queue_in.enobufs", "queue_in.id_gaps",
          "queue_in.kernel_queue_dropped", "queue_in.kernel_user_dropped",
          "queue_out.enobufs", "queue_out.id_gaps",
          "queue_out.kernel_queue_dropped", "queue_out.kernel_user_dropped"],
    "B": ["proxy.injected", "proxy.rewritten_in", "proxy.rewritten_out",
          "proxy.queue_loss", "proxy.inject_failed", "channel.rx_gaps",
          "channel.tx_dropped_full", "queue_in.enobufs", "queue_in.id_gaps",
          "queue_in.kernel_queue_dropped", "queue_in.kernel_user_dropped",
          "queue_out.enobufs", "queue_out.id_gaps",
          "queue_out.kernel_queue_dropped", "queue_out.kernel_user_dropped"],
}
LOSS_KEYS = ("proxy.queue_loss", "proxy.mirror_lost", "channel.rx_gaps",
             "channel.tx_dropped_full", "queue_in.enobufs", "queue_in.id_gaps",
             "queue_in.kernel_queue_dropped", "queue_in.kernel_user_dropped",
             "queue_out.enobufs", "queue_out.id_gaps",
             "queue_out.kernel_queue_dropped", "queue_out.kernel_user_dropped",
             "proxy.inject_failed")


def ctr(c, key):
    g, _, k = key.partition(".")
    try:
        return int(c[g][k])
    except (KeyError, TypeError, ValueError):
        return None


def requests_of(c):
    """Checkpoint requests by reason (checkpoint.requests_*), non-zero only."""
    ck = (c or {}).get("checkpoint", {})
    return {k[len("requests_"):]: int(v) for k, v in ck.items()
            if k.startswith("requests_") and int(v)}


def pair_measurement(res, tag, duration_s, run=None, other_ports=()):
    """One round of the pair (a fresh proxy pair: rr, then iperf3): its checkpoint
    requests, classified.  iperf3 ends every test with an exchange of
    results in which the server reports its own CPU use and timings, and
    closes its data socket with FIN or RST depending on whether it had read
    everything: the two VMs differ there by design.  Requests on this run's
    iperf3 connections made after the data phase are counted as "iperf3 end
    of test"; so are requests on another run's iperf3 connections (OTHER_PORTS:
    the servers outlive a stopped client, and the PVM retransmits the
    results that the last pair held into the next pair's first second);
    every other request makes the run invalid."""
    p = os.path.join(res, "px-%s" % tag)
    cA, cB = load_json(p + ".A.counters.json"), load_json(p + ".B.counters.json")
    divs = divergences(read(p + ".A.divergences"), tag)
    u0 = read(p + ".u0").strip()
    u0 = int(u0) if u0.isdigit() else None
    m = {"tag": tag, "error": read(p + ".err").strip() or None,
         "counters_A": cA, "counters_B": cB, "divergences": divs,
         "uptime_ms_at_client_start": u0,
         "requests": requests_of(cA), "requests_B": requests_of(cB)}
    total = sum(m["requests"].values()) + sum(m["requests_B"].values())
    end_of_test, leftover, unexpected = [], [], []
    ports = set()
    if run:
        ports = {run.get("control_port"), run.get("data_port")} - {None}
    earlier = set(other_ports) - ports
    for d in divs:
        _, cport = flow_client_port(d.get("flow"))
        if cport in earlier:
            leftover.append(d)
            continue
        t = d.get("t_ms")
        if d.get("reason") == "hold-timeout" and isinstance(t, int):
            t -= HOLD_TIMEOUT_MS.get(d.get("waiting"), 0)
        if (u0 is not None and cport in ports and
                isinstance(t, int) and t >= u0 + duration_s * 1000):
            end_of_test.append(d)
        else:
            unexpected.append(d)
    m["requests_total"] = total
    m["requests_iperf3_end_of_test"] = len(end_of_test) + len(leftover)
    m["requests_iperf3_earlier_run"] = len(leftover)
    m["requests_unexpected"] = max(0, total - len(end_of_test) - len(leftover))
    m["divergences_unexpected"] = unexpected
    m["losses"] = {h + "." + k: ctr(c, k) for h, c in (("A", cA), ("B", cB))
                   for k in LOSS_KEYS if ctr(c, k)}
    return m


def proxy_log_tail(res, tag, host, n=30):
    lines = read(os.path.join(res, "px-%s.%s.log" % (tag, host))).splitlines()
    return lines[-n:]


# ---- the floor's program ---------------------------------------------------------------

def nfq_accept_stats(res):
    """The floor program's counters, per round (its -v output at exit)."""
    rounds, loss = {}, {}
    for f in sorted(glob.glob(os.path.join(res, "nfq_accept-*.log"))):
        rnd = int(re.search(r"-(\d+)\.log$", f).group(1))
        text = read(f)
        qs = {}
        for line in text.splitlines():
            m = re.match(r"^queue (\d+): (kernel )?(.*)$", line)
            if not m:
                continue
            q = qs.setdefault(int(m.group(1)), {})
            toks = m.group(3).split()
            for k, v in zip(toks[::2], toks[1::2]):
                if v.isdigit():
                    q[("kernel_" if m.group(2) else "") + k] = int(v)
        for n, q in qs.items():
            for k, v in q.items():
                if k in ("enobufs", "id_gaps", "send_errors", "kernel_queue_dropped",
                         "kernel_user_dropped", "malformed", "truncated") and v:
                    key = "round%d.q%d.%s" % (rnd, n, k)
                    loss[key] = v
        rounds[rnd] = {"queues": qs, "log": text.strip()[-1500:]}
    return {"rounds": rounds, "losses": loss}


# ---- machine ------------------------------------------------------------------------------

def machine(params):
    cpu = ""
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = re.search(r"MemTotal:\s+(\d+) kB", read("/proc/meminfo"))
    root = params.get("root", ".")
    return {
        "hostname": platform.node(),
        "uname": run(["uname", "-a"]),
        "kernel": platform.release(),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "mem_total_kb": int(mem.group(1)) if mem else None,
        "loadavg_start": params.get("loadavg_start"),
        "loadavg_end": read("/proc/loadavg").strip(),
        "versions": {
            "iperf3": run(["iperf3", "--version"]).splitlines()[:1],
            "python": platform.python_version(),
            "iptables_legacy": run(["iptables-legacy", "--version"]),
            "colokit_git": run(["git", "-C", root, "describe", "--always",
                                "--dirty", "--abbrev=12"]),
            "colo_proxy_sha256": params.get("proxy_sha256"),
        },
    }


# ---- report -----------------------------------------------------------------------------------

def fmt(v, f="%.2f", none="-"):
    return none if v is None else f % v


def report(res, out_path):
    params = {}
    for line in read(os.path.join(res, "params")).splitlines():
        k, sep, v = line.partition("=")
        if sep:
            params[k] = v
    duration = float(params.get("duration_s", "5"))
    paths = {}
    for p in PATHS:
        runs = iperf_runs(res, p, int(params.get("clk_tck", "100") or 100),
                          params.get("hosts", "").startswith("two"))
        ok = [r["gbps"] for r in runs if r["gbps"] is not None]
        paths[p] = {"iperf3": {"runs": runs,
                               "gbps_samples": ok,
                               "gbps_median": statistics.median(ok) if ok else None},
                    "rr": rr_result(res, p), "problems": []}
    # validity
    for p in PATHS:
        d = paths[p]
        if not d["iperf3"]["runs"] and not d["rr"]["blocks"]:
            d["problems"].append("not measured")
            continue
        if d["rr"]["failed_blocks"] or not d["rr"]["blocks"]:
            errs = [b["error"].splitlines()[-1] for b in d["rr"]["blocks"]
                    if b["rc"] != 0 and b["error"]]
            d["problems"].append("request/response failed in rounds %s%s" % (
                d["rr"]["failed_blocks"] or "all", ": " + errs[0] if errs else ""))
        bad = [r["run"] for r in d["iperf3"]["runs"] if r["gbps"] is None]
        if bad or not d["iperf3"]["runs"]:
            d["problems"].append("iperf3 without a server result in rounds %s" %
                                 (bad or "all"))
        bad = [r["run"] for r in d["iperf3"]["runs"]
               if r["client_state"] != "ok" and (p != "pair" or r["client_state"] != "stopped")]
        if bad:
            d["problems"].append("iperf3 client failed in rounds %s" % bad)
    floor = nfq_accept_stats(res)
    paths["floor"]["nfq_accept"] = floor
    if floor["losses"]:
        paths["floor"]["problems"].append("the floor's queues lost packets: %s" %
                                          floor["losses"])
    # the pair: a fresh proxy pair per round
    pair = paths["pair"]
    meas = []
    all_ports = {r.get(k) for q in PATHS for r in paths[q]["iperf3"]["runs"]
                 for k in ("control_port", "data_port")} - {None}
    runs = {r["run"]: r for r in pair["iperf3"]["runs"]}
    for f in sorted(glob.glob(os.path.join(res, "px-*.log")) +
                    glob.glob(os.path.join(res, "px-*.err"))):
        rnd = int(re.search(r"px-(\d+)\.", os.path.basename(f)).group(1))
        if rnd not in [m["round"] for m in meas]:
            m = pair_measurement(res, str(rnd), duration, runs.get(rnd), all_ports)
            m["round"] = rnd
            meas.append(m)
    meas.sort(key=lambda m: m["round"])
    pair["measurements"] = meas
    totals = {"requests_total": 0, "requests_iperf3_end_of_test": 0,
              "requests_iperf3_earlier_run": 0,
              "requests_unexpected": 0, "by_reason": {}, "losses": {}}
    shown = {"A": {}, "B": {}}
    for m in meas:
        for k in ("requests_total", "requests_iperf3_end_of_test",
                  "requests_iperf3_earlier_run", "requests_unexpected"):
            totals[k] += m[k]
        for side in ("requests", "requests_B"):
            for k, v in m[side].items():
                key = k if side == "requests" else "B." + k
                totals["by_reason"][key] = totals["by_reason"].get(key, 0) + v
        for k, v in m["losses"].items():
            totals["losses"][k] = totals["losses"].get(k, 0) + v
        for h in ("A", "B"):
            c = m["counters_" + h]
            for k in COUNTERS_SHOWN[h]:
                v = ctr(c, k)
                if v is not None:
                    shown[h][k] = shown[h].get(k, 0) + v
        if m["error"]:
            pair["problems"].append("round %d: %s" % (m["round"], m["error"]))
        elif m["counters_A"] is None or m["counters_B"] is None:
            pair["problems"].append("round %d: no counters from a proxy" % m["round"])
        if m["requests_unexpected"]:
            pair["problems"].append(
                "round %d: %d checkpoint request(s) outside iperf3's end of test "
                "(with the none backend held output stays held: the pair stalled): %s"
                % (m["round"], m["requests_unexpected"],
                   "; ".join("%s %s at offset %s" % (d.get("reason"), d.get("flow"),
                                                      d.get("offset"))
                             for d in m["divergences_unexpected"][:4])))
        if m["requests_unexpected"] or m["error"]:
            m["log_A"] = proxy_log_tail(res, str(m["round"]), "A")
            m["log_B"] = proxy_log_tail(res, str(m["round"]), "B")
        if m["losses"]:
            pair["problems"].append("round %d: queue or channel losses %s" %
                                    (m["round"], m["losses"]))
    pair["checkpoints"] = totals
    pair["counters_summed"] = shown
    stalled = [r["run"] for r in pair["iperf3"]["runs"] if r["client_state"] == "stopped"]
    pair["iperf3_clients_stopped_at_end_of_test"] = stalled

    # ratios and goals
    d, f, pr = (paths[p] for p in PATHS)
    T = {p: paths[p]["iperf3"]["gbps_median"] for p in PATHS}
    P50 = {p: paths[p]["rr"]["p50_us"] for p in PATHS}
    results = {}
    for p in PATHS:
        r = {"gbps": T[p], "rr_p50_us": P50[p], "rr_p99_us": paths[p]["rr"]["p99_us"],
             "ratio_to_direct": T[p] / T["direct"] if T[p] and T["direct"] else None,
             "ratio_to_floor": T[p] / T["floor"] if T[p] and T["floor"] else None,
             "added_p50_us": P50[p] - P50["direct"]
             if P50[p] is not None and P50["direct"] is not None else None,
             "valid": not paths[p]["problems"]}
        results[p] = r
    fa, pa = results["floor"]["added_p50_us"], results["pair"]["added_p50_us"]
    lat_ratio = pa / fa if fa is not None and pa is not None and fa > 0 else None
    results["pair"]["added_p50_vs_floor_added"] = lat_ratio
    tput_ratio = results["pair"]["ratio_to_floor"]
    complete = params.get("completed") == "1"
    valid = complete and all(results[p]["valid"] for p in PATHS)

    def verdict(value, ok):
        if value is None:
            return "undetermined"
        if not valid:
            return ("met" if ok else "NOT met") + " (run invalid)"
        return "met" if ok else "NOT met"

    goals = {
        "pair_throughput_ge_0.80_floor": {
            "value": tput_ratio, "met": None if tput_ratio is None else tput_ratio >= GOAL_TPUT,
            "verdict": verdict(tput_ratio, tput_ratio is not None and tput_ratio >= GOAL_TPUT)},
        "pair_added_p50_le_1.5x_floor": {
            "value": lat_ratio, "met": None if lat_ratio is None else lat_ratio <= GOAL_LAT,
            "verdict": verdict(lat_ratio, lat_ratio is not None and lat_ratio <= GOAL_LAT)},
    }
    if fa is not None and fa <= 0:
        goals["pair_added_p50_le_1.5x_floor"]["verdict"] = \
            "undetermined (the floor added no latency over direct in this run: noise)"

    doc = {
        "benchmark": "datapath",
        "date": params.get("date") or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": params.get("command"),
        "machine": machine(params),
        "parameters": {k: v for k, v in params.items()
                       if k not in ("loadavg_start", "proxy_sha256", "root", "command", "date")},
        "complete": complete,
        "valid": valid,
        "results": results,
        "goals": goals,
        "paths": paths,
        "runtime_s": float(params["runtime_s"]) if "runtime_s" in params else None,
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")

    # ---- the table
    size = params.get("rr_size", "?")
    print()
    print("datapath: %s rounds; iperf3 %ss per round (median, PVM server's receiver rate); "
          "%s x %s round trips of %s B" % (params.get("runs"), params.get("duration_s"),
                                         params.get("runs"), params.get("rr_n_per_round"), size))
    print("hosts: %s" % params.get("hosts", "shared (not recorded)"))
    print("%-7s %9s %8s %8s %9s %9s %12s  %s" % (
        "path", "Gbit/s", "/direct", "/floor", "p50 us", "p99 us", "+p50 us", "runs Gbit/s"))
    for p in PATHS:
        r = results[p]
        added = fmt(r["added_p50_us"], "%+.1f") if p != "direct" else "-"
        if p == "pair" and lat_ratio is not None:
            added += " (%.2fx)" % lat_ratio
        print("%-7s %9s %8s %8s %9s %9s %12s  %s%s" % (
            p, fmt(r["gbps"]), fmt(r["ratio_to_direct"]),
            fmt(r["ratio_to_floor"]) if p != "direct" else "-",
            fmt(r["rr_p50_us"], "%.1f"), fmt(r["rr_p99_us"], "%.1f"), added,
            " ".join("%.2f" % x for x in paths[p]["iperf3"]["gbps_samples"]),
            "" if r["valid"] else "  INVALID"))
    print("(+p50: added p50 latency vs direct; (Nx): the pair's added p50 over the floor's)")
    print("rr p50 per round (us): " + "; ".join(
        "%s %s" % (p, " ".join(fmt(b["p50_us"], "%.1f") for b in paths[p]["rr"]["blocks"]))
        for p in PATHS))
    for p in PATHS:
        cpus = [r["cpu"] for r in paths[p]["iperf3"]["runs"] if r.get("cpu")]
        if not cpus:
            continue
        keys = [k for k in cpus[0] if k.endswith("_pct")]
        med = {k: statistics.median(c[k] for c in cpus if k in c) for k in keys}
        paths[p]["iperf3"]["cpu_median"] = med
        print("cpu during iperf3, %s (%% of one CPU; machine: %% of all %s): %s" % (
            p, os.cpu_count(), ", ".join("%s %.0f" % (k[:-4], v) for k, v in med.items())))
    cost = {}
    for p in PATHS:
        v = [r["machine_cpu_ms_per_gbit"] for r in paths[p]["iperf3"]["runs"]
             if r.get("machine_cpu_ms_per_gbit")]
        if v:
            cost[p] = statistics.median(v)
            paths[p]["iperf3"]["machine_cpu_ms_per_gbit_median"] = cost[p]
    if cost:
        print("machine CPU per Gbit moved (ms of CPU, all %s CPUs, median): %s" % (
            os.cpu_count(), ", ".join(
                "%s %.0f%s" % (p, v, " (%.2fx the floor's)" % (v / cost["floor"])
                               if p != "floor" and cost.get("floor") else "")
                for p, v in cost.items())))
    host_cost = {}
    for p in PATHS:
        v = [r["host_cpu_ms_per_gbit"] for r in paths[p]["iperf3"]["runs"]
             if r.get("host_cpu_ms_per_gbit")]
        if v:
            host_cost[p] = {h: statistics.median(x[h] for x in v if h in x)
                            for h in ("A", "B") if any(h in x for x in v)}
            paths[p]["iperf3"]["host_cpu_ms_per_gbit_median"] = host_cost[p]
    if host_cost:
        print("each host's CPU per Gbit moved (ms, median; A = CPU 0 with the client, "
              "B = CPU 1): %s" % ", ".join(
                  "%s A %.0f%s B %.0f" % (
                      p, c.get("A", 0),
                      " (%.2fx the floor's)" % (c["A"] / host_cost["floor"]["A"])
                      if p != "floor" and host_cost.get("floor", {}).get("A") else "",
                      c.get("B", 0))
                  for p, c in host_cost.items()))
    print("goal: pair throughput >= %.2f x floor's: %s -> %s" % (
        GOAL_TPUT, fmt(tput_ratio), goals["pair_throughput_ge_0.80_floor"]["verdict"]))
    print("goal: pair added p50 <= %.1f x floor's: %s -> %s" % (
        GOAL_LAT, fmt(lat_ratio, "%.2fx"), goals["pair_added_p50_le_1.5x_floor"]["verdict"]))
    print("pair counters (summed over %d rounds, a fresh proxy pair each):" % len(meas))
    print("  checkpoint requests: %d total, %d from iperf3's end of test (%d of them on an "
          "earlier run's connection), %d unexpected%s" % (
        totals["requests_total"], totals["requests_iperf3_end_of_test"],
        totals["requests_iperf3_earlier_run"], totals["requests_unexpected"],
        "  %s" % totals["by_reason"] if totals["by_reason"] else ""))
    a = shown["A"]
    print("  primary: compare.released %s, proxy.released %s, held at end %s, "
          "queue losses %s" % (
              a.get("compare.released", "?"), a.get("proxy.released", "?"),
              a.get("compare.held_frames", "?"),
              sum(v for k, v in totals["losses"].items()) if meas else "?"))
    if stalled:
        print("  iperf3 rounds %s: the client waited for the server's results (the two "
              "VMs' differ, so the pair held them) and was stopped" % stalled)
    for p in PATHS:
        for prob in paths[p]["problems"]:
            print("%s: INVALID: %s" % (p, prob))
    if not complete:
        print("INCOMPLETE: the run was interrupted or stopped by an error; "
              "what was measured is above")
    print("results: %s" % out_path)
    return 0 if valid else 3


def main(argv):
    if len(argv) != 4 or argv[1] != "report":
        sys.stderr.write(__doc__)
        return 2
    return report(argv[2], argv[3])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
