#!/usr/bin/env python3
"""colo-checker.py: prove that a COLO failover loses no acknowledged
increment, repeats none, and never lets a client hear from two VMs.

The guest keeps a counter in RAM (guest/lib/counter.sh), served as a line
service on TCP port 8 ("inc\\n" -> "counter N\\n", "get\\n" reads) and as
GET /cgi-bin/counter on port 80. While failures are injected, clients
increment it and record every request; afterwards the answers are checked
against each other and against the final value.

  colo-checker.py run --addr ADDR [--port 8] [--http-port 80] [--long 8]
        [--new 4] [--http 2] (--duration S | --until-file PATH)
        [--timeout 20] [--fail-at T ...] [--fail-file PATH]
        --out FILE.json [--progress]
  colo-checker.py verify FILE.json [--fail-at T ...] [--fail-file PATH]

run: reads the start value M0 ("get" on port 8), then starts the workers:
  long  one port-8 connection each, increments back to back; on reset, EOF,
        a bad answer or no answer within --timeout the request is recorded
        unacknowledged and the worker reconnects (every 100 ms)
  new   a fresh port-8 connection per increment
  http  GET /cgi-bin/counter on a fresh connection per increment
Every request is recorded (worker, kind, conn, t_send, t_ack, value, error;
times are time.monotonic(), CLOCK_MONOTONIC seconds). A request counts only
once connected: a failed connect sent nothing and is just counted. At the
end of --duration, once --until-file exists, or on SIGINT/SIGTERM (a
second one aborts), in-flight requests finish or time out, then the final
value M is read with "get" on a fresh connection, retried for up to 30 s. The JSON goes to --out
(written again with the verdict), then the verdict is printed. Its keys:
params, m0, final, fail_at, connect_errors, requests ([{worker, kind, conn,
t_send, t_ack, value, error}]), summary, violations, failovers, verdict.
--fail-file is read at the end of the run (absent: no failure): one
CLOCK_MONOTONIC time a line, optionally followed by a label; blank lines
and #comments skipped.

verify (also the end of run) checks, each a violation when broken:
  unique     no value is acknowledged twice (a rollback, or two VMs)
  lost       max acknowledged <= M (else acknowledged increments were lost)
  nowhere    every acknowledged value is > M0, and the values in (M0, M] no
             one acknowledged are at most the unacknowledged requests (each
             may have been applied once); skipped if M0 is unknown
  conn       the values one long connection receives strictly increase
  realtime   a request sent after another was acknowledged gets a larger
             value (any clients: a smaller one came from a VM behind)
  load       at least one request was acknowledged
For each failure time T (--fail-at, --fail-file, else those saved in the
file): first_ack_after_ms (first t_ack > T, minus T), gap_ms (the gap
between the consecutive acks around T), max_gap_5s_ms (the longest gap
between consecutive acks overlapping [T, T+5 s]: the outage even if a few
acks trickle in just after T) and acks_5s (acks in (T, T+5 s]).

Exit status: 0 no violation; 1 violations; 2 usage error, unreadable file,
or the final read failed (and no violation was found without it).
"""
import argparse
import bisect
import json
import os
import re
import signal
import socket
import sys
import threading
import time

CONNECT_TIMEOUT = 2.0   # per connect attempt (capped by --timeout)
RETRY = 0.1             # between connect attempts
READ_BUDGET = 30.0      # M0 and final reads: retried for this long
WINDOW = 5.0            # seconds after a failure time to look at
SHOW = 10               # violations printed per check (all kept in JSON, up to KEEP)
KEEP = 1000
INC, GET = b"inc\n", b"get\n"
ANSWER = re.compile(rb"counter (\d+)\r?")


class ProtocolError(Exception):
    """An answer that is not "counter N"."""


class UsageError(Exception):
    """Bad arguments or input files: exit 2."""


def now():
    return time.monotonic()


def describe(e):
    """Error text for a request record."""
    return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__


def parse_answer(line):
    """The N of a b"counter N" line."""
    m = ANSWER.fullmatch(line)
    if not m:
        raise ProtocolError("bad answer %r" % line[:80])
    return int(m.group(1))


def dial(addr, port, timeout):
    """A connected TCP socket (raises OSError)."""
    s = socket.create_connection((addr, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class LineConn:
    """A connection to the port-8 line service."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def ask(self, line, deadline):
        """Send line, read the one-line answer by deadline: N."""
        self.sock.settimeout(max(0.001, deadline - now()))
        self.sock.sendall(line)
        while b"\n" not in self.buf:
            left = deadline - now()
            if left <= 0:
                raise TimeoutError("no answer by the deadline")
            self.sock.settimeout(left)
            b = self.sock.recv(4096)
            if not b:
                raise ConnectionError("EOF before the answer")
            self.buf += b
        answer, _, self.buf = self.buf.partition(b"\n")
        return parse_answer(answer)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_counter(sock, path, deadline):
    """One HTTP/1.0 GET of path on a connected socket: the body's N."""
    sock.settimeout(max(0.001, deadline - now()))
    sock.sendall(b"GET %s HTTP/1.0\r\nHost: vm\r\nUser-Agent: colo-checker\r\n\r\n"
                 % path.encode())
    raw = b""
    while True:
        left = deadline - now()
        if left <= 0:
            raise TimeoutError("no complete answer by the deadline")
        sock.settimeout(left)
        b = sock.recv(65536)
        if not b:
            break
        raw += b
    head, sep, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not sep:
        raise ProtocolError("no header end in %d bytes: %r" % (len(raw), raw[:80]))
    if b" 200 " not in status + b" ":
        raise ProtocolError("HTTP status %r" % status[:80])
    return parse_answer(body.rstrip(b"\r\n"))


def read_counter(addr, port, budget, timeout):
    """'get' on fresh port-8 connections until one answers or budget
    seconds pass: (value or None, last error text)."""
    end = now() + budget
    err = None
    while True:
        left = end - now()
        if left <= 0:
            return None, err
        try:
            conn = LineConn(dial(addr, port, min(CONNECT_TIMEOUT, timeout, left)))
            try:
                return conn.ask(GET, now() + min(timeout, max(left, 0.5))), None
            finally:
                conn.close()
        except (OSError, ProtocolError) as e:
            err = describe(e)
        time.sleep(RETRY)


class Worker:
    """One load thread: records its requests and counts its errors."""

    def __init__(self, kind, n, opts, stop):
        self.name = "%s-%d" % (kind, n)
        self.kind = kind
        self.o = opts
        self.stop = stop
        self.requests = []
        self.acked = self.unacked = self.connect_errors = self.conns = 0
        self.last = (0.0, None)  # (t_ack, value) of the latest ack
        self.last_connect_error = None

    def record(self, t_send, t_ack, value, error):
        self.requests.append({
            "worker": self.name, "kind": self.kind, "conn": self.conns,
            "t_send": round(t_send, 6),
            "t_ack": None if t_ack is None else round(t_ack, 6),
            "value": value, "error": error})
        if t_ack is None:
            self.unacked += 1
        else:
            self.acked += 1
            self.last = (t_ack, value)

    def connect(self, port):
        """A new connection, retried every RETRY s until it works or the
        run stops: (socket, time the successful attempt began) or None."""
        while not self.stop.is_set():
            t = now()
            try:
                s = dial(self.o.addr, port, min(CONNECT_TIMEOUT, self.o.timeout))
            except OSError as e:
                self.connect_errors += 1
                self.last_connect_error = describe(e)
                self.stop.wait(RETRY)
                continue
            self.conns += 1
            return s, t
        return None

    def run(self):
        getattr(self, "run_" + self.kind)()

    def run_long(self):
        conn = None
        while not self.stop.is_set():
            if conn is None:
                got = self.connect(self.o.port)
                if got is None:
                    return
                conn = LineConn(got[0])
            t = now()
            try:
                v = conn.ask(INC, t + self.o.timeout)
            except (OSError, ProtocolError) as e:
                self.record(t, None, None, describe(e))
                conn.close()
                conn = None
                continue
            self.record(t, now(), v, None)
        if conn is not None:
            conn.close()

    def run_new(self):
        self.one_per_connection(self.o.port, self.new_exchange)

    def run_http(self):
        self.one_per_connection(self.o.http_port, self.http_exchange)

    def new_exchange(self, sock, deadline):
        return LineConn(sock).ask(INC, deadline)

    def http_exchange(self, sock, deadline):
        return http_counter(sock, "/cgi-bin/counter", deadline)

    def one_per_connection(self, port, exchange):
        """Connect, one increment, close; t_send is when the connect began."""
        while not self.stop.is_set():
            got = self.connect(port)
            if got is None:
                return
            sock, t = got
            try:
                v = exchange(sock, now() + self.o.timeout)
            except (OSError, ProtocolError) as e:
                self.record(t, None, None, describe(e))
                continue
            else:
                self.record(t, now(), v, None)
            finally:
                try:
                    sock.close()
                except OSError:
                    pass


# ---- failure times --------------------------------------------------------

def read_fail_file(path, missing_ok=False):
    """[{"at": T, "label": ...}] from a file of one time a line; with
    missing_ok, an absent file means no failure (noted on stderr)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        if not missing_ok:
            raise UsageError("--fail-file %r: no such file" % path)
        print("colo-checker: no --fail-file %r: no failure times" % path, file=sys.stderr)
        return []
    except OSError as e:
        raise UsageError("--fail-file %r: %s" % (path, e.strerror or e))
    out = []
    for i, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        word, _, label = line.partition(" ")
        try:
            t = float(word)
        except ValueError:
            raise UsageError("--fail-file %r line %d: not a time: %r" % (path, i, word))
        out.append({"at": t, "label": label.strip() or None})
    return out


def fail_times(opts, missing_ok=False):
    """Failure times from --fail-at and --fail-file (None if neither given)."""
    if not opts.fail_at and not opts.fail_file:
        return None
    out = [{"at": t, "label": None} for t in opts.fail_at or []]
    if opts.fail_file:
        out += read_fail_file(opts.fail_file, missing_ok)
    return sorted(out, key=lambda f: f["at"])


def monotonic_time(s):
    try:
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError("not a CLOCK_MONOTONIC time: %r" % s)


# ---- verification ---------------------------------------------------------

def pct(xs, q):
    """Nearest-rank percentile of a sorted list (None if empty)."""
    if not xs:
        return None
    return xs[max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))]


def ms(x):
    return None if x is None else round(x * 1000.0, 3)


def req_str(r):
    return "%s conn %d sent %.6f acked %s value %s" % (
        r["worker"], r["conn"], r["t_send"],
        "-" if r["t_ack"] is None else "%.6f" % r["t_ack"], r["value"])


def violation(check, detail, *reqs):
    return {"check": check, "detail": detail, "requests": list(reqs)}


def check_unique(acked):
    by = {}
    for r in acked:
        by.setdefault(r["value"], []).append(r)
    return [violation("unique", "value %d acknowledged %d times: %s" % (
        v, len(rs), "; ".join(req_str(r) for r in rs)), *rs)
        for v, rs in sorted(by.items()) if len(rs) > 1]


def check_lost(acked, final):
    over = sorted((r for r in acked if r["value"] > final), key=lambda r: r["value"])
    if not over:
        return []
    return [violation("lost", "acknowledged %d > final M=%d (%d acknowledged values above M"
                      " were lost): %s" % (r["value"], final, len(over), req_str(r)), r)
            for r in over]


def check_nowhere(acked, n_unacked, m0, final):
    out = [violation("nowhere", "acknowledged %d <= start value M0=%d: %s"
                     % (r["value"], m0, req_str(r)), r)
           for r in acked if r["value"] <= m0]
    if final < m0:
        out.append(violation("nowhere", "final M=%d < start value M0=%d: the counter went back"
                             % (final, m0)))
        return out
    seen = {r["value"] for r in acked if m0 < r["value"] <= final}
    missing = [v for v in range(m0 + 1, final + 1) if v not in seen]
    if len(missing) > n_unacked:
        out.append(violation("nowhere", "%d values in (M0=%d, M=%d] never acknowledged, but only"
                             " %d unacknowledged requests: %d increments came from nowhere"
                             " (first missing: %s)" % (
                                 len(missing), m0, final, n_unacked, len(missing) - n_unacked,
                                 " ".join(map(str, missing[:SHOW])))))
    return out


def check_connections(requests):
    conns = {}
    for r in requests:
        if r["kind"] == "long" and r["t_ack"] is not None:
            conns.setdefault((r["worker"], r["conn"]), []).append(r)
    out = []
    for rs in conns.values():
        rs.sort(key=lambda r: r["t_send"])
        for a, b in zip(rs, rs[1:]):
            if b["value"] <= a["value"]:
                out.append(violation("conn", "%s conn %d got %d after %d: %s; then %s" % (
                    a["worker"], a["conn"], b["value"], a["value"], req_str(a), req_str(b)), a, b))
    return out, len(conns)


def check_realtime(acked):
    """A request sent after another's ack must get a larger value."""
    by_ack = sorted(acked, key=lambda r: r["t_ack"])
    best, i, out = None, 0, []
    for b in sorted(acked, key=lambda r: r["t_send"]):
        while i < len(by_ack) and by_ack[i]["t_ack"] < b["t_send"]:
            if best is None or by_ack[i]["value"] > best["value"]:
                best = by_ack[i]
            i += 1
        if best is not None and b["value"] <= best["value"]:
            out.append(violation("realtime", "got %d although %d was acknowledged before it was"
                                 " sent: %s; earlier %s" % (b["value"], best["value"],
                                                           req_str(b), req_str(best)), best, b))
    return out


def failover(acks, t, label):
    """Failover numbers for failure time t, acks the sorted t_acks."""
    i = bisect.bisect_right(acks, t)
    j = bisect.bisect_right(acks, t + WINDOW)
    first = acks[i] if i < len(acks) else None
    prev = acks[i - 1] if i > 0 else None
    gaps = [b - a for a, b in zip(acks[max(i - 1, 0):j + 1], acks[max(i - 1, 0) + 1:j + 1])]
    return {"at": t, "label": label,
            "first_ack_after_ms": ms(None if first is None else first - t),
            "last_ack_before_ms": ms(None if prev is None else t - prev),
            "gap_ms": ms(None if first is None or prev is None else first - prev),
            "max_gap_5s_ms": ms(max(gaps) if gaps else None),
            "acks_5s": j - i}


def summarize(requests, conn_errors):
    def part(rs):
        lat = sorted(r["t_ack"] - r["t_send"] for r in rs if r["t_ack"] is not None)
        return {"requests": len(rs), "acked": len(lat), "unacked": len(rs) - len(lat),
                "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99)),
                "max_ms": ms(lat[-1] if lat else None)}
    s = part(requests)
    s["by_kind"] = {}
    for kind in ("long", "new", "http"):
        rs = [r for r in requests if r["kind"] == kind]
        if rs or conn_errors.get(kind):
            s["by_kind"][kind] = dict(part(rs), connect_errors=conn_errors.get(kind, 0))
    return s


def fmt_ms(x):
    return "-" if x is None else "%.1f" % x


def verify(data, fails):
    """Run every check on a run's data: a dict with "ok", "final_ok",
    "violations", "failovers", "summary" and the "verdict" text."""
    requests, m0, final = data["requests"], data.get("m0"), data.get("final")
    acked = [r for r in requests if r["t_ack"] is not None]
    n_unacked = len(requests) - len(acked)
    s = summarize(requests, data.get("connect_errors", {}))
    lines = ["requests %d: acked %d, unacked %d; latency ms p50 %s p99 %s max %s" % (
        s["requests"], s["acked"], s["unacked"], fmt_ms(s["p50_ms"]), fmt_ms(s["p99_ms"]),
        fmt_ms(s["max_ms"]))]
    for kind, k in s["by_kind"].items():
        lines.append("  %-4s requests %d acked %d unacked %d connect errors %d;"
                     " p50 %s p99 %s max %s" % (
                         kind, k["requests"], k["acked"], k["unacked"], k["connect_errors"],
                         fmt_ms(k["p50_ms"]), fmt_ms(k["p99_ms"]), fmt_ms(k["max_ms"])))
    top = max((r["value"] for r in acked), default=None)
    lines.append("counter: start M0=%s, final M=%s, max acknowledged %s" % (m0, final, top))
    violations = []

    def report(check, found, ok_text, skip=None):
        if skip:
            lines.append("skip %-8s %s" % (check, skip))
            return
        lines.append("%s %-8s %s" % ("FAIL" if found else "ok  ", check,
                                     "%d violation(s)" % len(found) if found else ok_text))
        lines.extend("       " + v["detail"] for v in found[:SHOW])
        if len(found) > SHOW:
            lines.append("       ... %d more" % (len(found) - SHOW))
        violations.extend(found)

    report("unique", check_unique(acked), "%d acknowledged values, all distinct" % len(acked))
    no_final = None if final is not None else "final read failed: %s" % data.get("final_error")
    report("lost", [] if no_final else check_lost(acked, final),
           "max acknowledged %s <= final %s" % (top, final), no_final)
    report("nowhere", [] if no_final or m0 is None else
           check_nowhere(acked, n_unacked, m0, final),
           "%s values in (M0, M] never acknowledged <= %d unacknowledged" % (
               None if no_final or m0 is None else
               (final - m0) - len({r["value"] for r in acked if m0 < r["value"] <= final}),
               n_unacked),
           no_final or (None if m0 is not None else "start value M0 unknown: %s"
                        % data.get("m0_error")))
    found, n_conns = check_connections(requests)
    report("conn", found, "values strictly increase on each of %d long connections" % n_conns)
    report("realtime", check_realtime(acked),
           "every request sent after an ack got a larger value")
    report("load", [] if acked else [violation("load", "no request was acknowledged")],
           "%d acknowledged" % len(acked))

    acks = sorted(r["t_ack"] for r in acked)
    fails = fails if fails is not None else data.get("fail_at", [])
    failovers = [failover(acks, f["at"], f.get("label")) for f in fails]
    lo, hi = data.get("t_load"), data.get("t_stop")
    for f in failovers:
        if lo is not None and hi is not None and not lo <= f["at"] <= hi:
            f["note"] = "outside the load (%.6f..%.6f)" % (lo, hi)
        lines.append("failover at %.6f%s: first ack after +%s ms, gap %s ms, longest gap in"
                     " 5 s %s ms, %d acks in 5 s%s" % (
                         f["at"], " (%s)" % f["label"] if f["label"] else "",
                         fmt_ms(f["first_ack_after_ms"]), fmt_ms(f["gap_ms"]),
                         fmt_ms(f["max_gap_5s_ms"]), f["acks_5s"],
                         "; NOTE " + f["note"] if "note" in f else ""))
    ok = not violations
    lines.append("VERDICT: %s" % (
        "FAIL: %d violation(s)" % len(violations) if not ok else
        "PASS" if final is not None else "INCOMPLETE: no violation, but the final read failed"))
    return {"ok": ok, "final_ok": final is not None, "violations": violations[:KEEP],
            "violation_count": len(violations), "failovers": failovers, "summary": s,
            "verdict": "\n".join(lines)}


def exit_code(result):
    if not result["ok"]:
        return 1
    return 0 if result["final_ok"] else 2


# ---- subcommands ----------------------------------------------------------

def save(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def wait_for_stop(o, workers, stop, interrupted):
    """Block until --duration passes, --until-file exists or a signal
    came, printing progress once a second: the reason."""
    t0 = now()
    next_progress = t0 + 1.0
    while True:
        if interrupted.is_set():
            return "signal"
        if o.duration is not None and now() - t0 >= o.duration:
            return "duration"
        if o.until_file and os.path.exists(o.until_file):
            return "until-file"
        if o.progress and now() >= next_progress:
            next_progress += 1.0
            last = max((w.last for w in workers), key=lambda x: x[0])[1]
            print("colo-checker: %5.0fs acked=%d unacked=%d last=%s connect_errors=%d" % (
                now() - t0, sum(w.acked for w in workers), sum(w.unacked for w in workers),
                last, sum(w.connect_errors for w in workers)), file=sys.stderr, flush=True)
        interrupted.wait(0.05)


def cmd_run(o):
    if o.until_file and os.path.exists(o.until_file):
        raise UsageError("--until-file %r already exists" % o.until_file)
    if o.fail_file and os.path.exists(o.fail_file):
        read_fail_file(o.fail_file)  # fail early on a bad file
    t_start = now()
    m0, m0_error = read_counter(o.addr, o.port, READ_BUDGET, o.timeout)
    if m0 is None:
        print("colo-checker: start value unknown (%s)" % m0_error, file=sys.stderr)
    stop, interrupted = threading.Event(), threading.Event()
    def on_signal(signum, _frame):
        interrupted.set()
        signal.signal(signum, signal.SIG_DFL)  # a second one aborts

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    workers = [Worker(kind, i, o, stop)
               for kind, n in (("long", o.long), ("new", o.new), ("http", o.http))
               for i in range(n)]
    threads = [threading.Thread(target=w.run, name=w.name, daemon=True) for w in workers]
    t_load = now()
    for t in threads:
        t.start()
    stopped_by = wait_for_stop(o, workers, stop, interrupted)
    stop.set()
    t_stop = now()
    for t in threads:
        t.join(max(0.0, t_stop + o.timeout + CONNECT_TIMEOUT + 1.0 - now()))
    stuck = [t.name for t in threads if t.is_alive()]
    final, final_error = read_counter(o.addr, o.port, READ_BUDGET, o.timeout)
    t_end = now()
    requests = sorted((r for w in workers for r in list(w.requests)), key=lambda r: r["t_send"])
    conn_errors = {}
    for w in workers:
        conn_errors[w.kind] = conn_errors.get(w.kind, 0) + w.connect_errors
    fail_error, fails = None, []
    try:
        fails = fail_times(o, missing_ok=True) or []
    except UsageError as e:
        fail_error = str(e)
    data = {
        "params": {k: getattr(o, k) for k in (
            "addr", "port", "http_port", "long", "new", "http", "duration", "until_file",
            "timeout", "fail_file")},
        "t_start": t_start, "t_load": t_load, "t_stop": t_stop, "t_end": t_end,
        "stopped_by": stopped_by, "stuck_workers": stuck,
        "m0": m0, "m0_error": m0_error, "final": final, "final_error": final_error,
        "fail_at": fails, "connect_errors": conn_errors,
        "last_connect_errors": {w.name: w.last_connect_error for w in workers
                                if w.last_connect_error},
        "requests": requests}
    save(o.out, data)
    result = verify(data, fails)
    data.update({k: result[k] for k in (
        "verdict", "violations", "violation_count", "failovers", "summary")})
    save(o.out, data)
    print(result["verdict"])
    if stuck:
        print("colo-checker: workers still busy at the end: %s" % " ".join(stuck),
              file=sys.stderr)
    if fail_error:
        print("colo-checker: " + fail_error, file=sys.stderr)
        return 2 if result["ok"] else 1
    return exit_code(result)


def load_run(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise UsageError("%r: %s" % (path, e.strerror or e))
    except ValueError as e:
        raise UsageError("%r: not JSON: %s" % (path, e))
    if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
        raise UsageError("%r: no \"requests\" list: not a colo-checker run" % path)
    for r in data["requests"][:1]:
        missing = {"worker", "kind", "conn", "t_send", "t_ack", "value"} - set(r)
        if missing:
            raise UsageError("%r: request without %s: %r" % (path, sorted(missing), r))
    return data


def cmd_verify(o):
    data = load_run(o.file)
    result = verify(data, fail_times(o))
    print(result["verdict"])
    return exit_code(result)


def positive(s):
    try:
        x = float(s)
    except ValueError:
        x = -1.0
    if not x > 0:
        raise argparse.ArgumentTypeError("not a positive number of seconds: %r" % s)
    return x


def count(s):
    if not s.isdigit():
        raise argparse.ArgumentTypeError("not a count >= 0: %r" % s)
    return int(s)


def port(s):
    if not s.isdigit() or not 0 < int(s) < 65536:
        raise argparse.ArgumentTypeError("not a TCP port: %r" % s)
    return int(s)


def add_fail_options(p):
    p.add_argument("--fail-at", type=monotonic_time, action="append", metavar="T",
                   help="failure time, CLOCK_MONOTONIC seconds (repeatable)")
    p.add_argument("--fail-file", metavar="PATH",
                   help="file of failure times, one a line (read at the end)")


def parser():
    ap = argparse.ArgumentParser(prog="colo-checker.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="load the counter service, then verify")
    r.add_argument("--addr", required=True, help="the VM's address")
    r.add_argument("--port", type=port, default=8, help="line service port (8)")
    r.add_argument("--http-port", type=port, default=80, help="HTTP port (80)")
    r.add_argument("--long", type=count, default=8, metavar="N", help="long connections (8)")
    r.add_argument("--new", type=count, default=4, metavar="N",
                   help="workers with a new connection per increment (4)")
    r.add_argument("--http", type=count, default=2, metavar="N", help="HTTP workers (2)")
    stop = r.add_mutually_exclusive_group(required=True)
    stop.add_argument("--duration", type=positive, metavar="S", help="run for S seconds")
    stop.add_argument("--until-file", metavar="PATH", help="run until PATH exists")
    r.add_argument("--timeout", type=positive, default=20.0, metavar="S",
                   help="answer timeout per request (20)")
    add_fail_options(r)
    r.add_argument("--out", required=True, metavar="FILE.json", help="where the run goes")
    r.add_argument("--progress", action="store_true", help="a line on stderr each second")
    v = sub.add_parser("verify", help="verify a saved run")
    v.add_argument("file", metavar="FILE.json")
    add_fail_options(v)
    return ap


def main(argv):
    ap = parser()
    o = ap.parse_args(argv)
    if o.cmd == "run" and o.long + o.new + o.http == 0:
        ap.error("nothing to run: --long 0 --new 0 --http 0")
    try:
        return cmd_run(o) if o.cmd == "run" else cmd_verify(o)
    except UsageError as e:
        print("colo-checker: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
