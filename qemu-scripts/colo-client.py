#!/usr/bin/env python3
"""colo-client.py: the client side of the COLO lab (a real TCP client).

  colo-client.py http ADDR PATH N CONC [--sha HEX] [--out FILE] [--over MS]
      N HTTP/1.0 GETs of PATH, at most CONC at a time (busybox httpd
      listens with a backlog of 9: keep CONC <= 8). Checks the status line
      and, with --sha, the body's sha256. Prints one summary line:
        ok=N failed=F p50_ms=.. p99_ms=.. max_ms=.. bytes=..
      --out writes {"latency_ms": [...], "bodies": [...]} (bodies of up to
      256 bytes, in request order) for scripts.
  colo-client.py counter ADDR N [--over MS]
      N sequential GETs of /cgi-bin/counter; fails unless every value is
      one more than the one before (a counter kept in guest RAM that never
      goes backwards and never skips). Prints
        first=.. last=.. p50_ms=.. p99_ms=.. max_ms=..
  colo-client.py echo ADDR PORT N SIZE [--over MS]
      N round trips of SIZE bytes on one connection to an echo service.
      Prints ok=N p50_ms=.. p99_ms=.. max_ms=..
Latencies are per request (connect to last byte) or per round trip, in ms.
--over MS (every mode) appends over=K over_ms=MS to the summary line: K
requests took longer than MS ms (a measurement: it does not fail the run).
The summary line is space-separated key=value fields; callers pick fields
by name, so new fields may be added but none is renamed or removed.
Exit status 0 when every check passed, 1 otherwise (reasons on stderr).
"""
import hashlib
import json
import socket
import sys
import threading
import time

TIMEOUT = 60.0


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, -(-len(xs) * q // 100) - 1))
    return xs[int(k)]


def summary(xs, over):
    """p50_ms=.. p99_ms=.. max_ms=.. [over=K over_ms=MS] of latencies xs"""
    s = "p50_ms=%.1f p99_ms=%.1f max_ms=%.1f" % (
        pct(xs, 50), pct(xs, 99), max(xs) if xs else float("nan"))
    if over is not None:
        s += " over=%d over_ms=%g" % (sum(1 for x in xs if x > over), over)
    return s


def options(a, names):
    """a without its --NAME VALUE pairs (NAME in names), and {NAME: VALUE}"""
    rest, got = [], {}
    i = 0
    while i < len(a):
        if a[i].startswith("--") and a[i][2:] in names and i + 1 < len(a):
            got[a[i][2:]] = a[i + 1]
            i += 2
        else:
            rest.append(a[i])
            i += 1
    return rest, got


def over_ms(o):
    return float(o["over"]) if "over" in o else None


def get(addr, path):
    """One GET: (status line, body, seconds)."""
    t0 = time.perf_counter()
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect((addr, 80))
        s.sendall(b"GET %s HTTP/1.0\r\nHost: vm\r\nUser-Agent: colo-client\r\n\r\n"
                  % path.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    finally:
        s.close()
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if not sep:
        raise OSError("no header end in %d bytes" % len(raw))
    return status, body, time.perf_counter() - t0


def cmd_http(a):
    a, o = options(a, ("sha", "out", "over"))
    sha, out, over = o.get("sha"), o.get("out"), over_ms(o)
    addr, path, n, conc = a[0], a[1], int(a[2]), int(a[3])
    lat, bodies, errors = [None] * n, [None] * n, []
    nbytes = [0]
    lock = threading.Lock()
    nxt = [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            try:
                status, body, sec = get(addr, path)
            except OSError as e:
                errors.append("request %d: %r" % (i, e))
                continue
            if " 200 " not in status + " ":
                errors.append("request %d: %s" % (i, status))
            elif sha and hashlib.sha256(body).hexdigest() != sha:
                errors.append("request %d: body sha256 mismatch (%d bytes)"
                              % (i, len(body)))
            lat[i] = sec * 1000.0
            bodies[i] = body[:256].decode("latin-1")
            with lock:
                nbytes[0] += len(body)

    threads = [threading.Thread(target=worker) for _ in range(max(1, conc))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    xs = [x for x in lat if x is not None]
    for e in errors[:20]:
        print("colo-client: " + e, file=sys.stderr)
    print("ok=%d failed=%d %s bytes=%d" % (
        n - len(errors), len(errors), summary(xs, over), nbytes[0]))
    if out:
        with open(out, "w") as f:
            json.dump({"latency_ms": xs, "bodies": bodies}, f)
    return 1 if errors else 0


def cmd_counter(a):
    a, o = options(a, ("over",))
    over = over_ms(o)
    addr, n = a[0], int(a[1])
    vals, lat = [], []
    for i in range(n):
        try:
            status, body, sec = get(addr, "/cgi-bin/counter")
        except OSError as e:
            print("colo-client: counter request %d: %r" % (i, e), file=sys.stderr)
            return 1
        words = body.split()
        if " 200 " not in status + " " or len(words) != 2 or not words[1].isdigit():
            print("colo-client: counter request %d: %s %r" % (i, status, body[:80]),
                  file=sys.stderr)
            return 1
        v = int(words[1])
        if vals and v != vals[-1] + 1:
            print("colo-client: counter went from %d to %d" % (vals[-1], v),
                  file=sys.stderr)
            print("first=%d last=%d" % (vals[0], v))
            return 1
        vals.append(v)
        lat.append(sec * 1000.0)
    print("first=%d last=%d %s" % (vals[0], vals[-1], summary(lat, over)))
    return 0


def cmd_echo(a):
    a, o = options(a, ("over",))
    over = over_ms(o)
    addr, port, n, size = a[0], int(a[1]), int(a[2]), int(a[3])
    lat = []
    s = socket.create_connection((addr, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for i in range(n):
            msg = (b"%08d" % i) * (size // 8) + b"x" * (size % 8)
            t0 = time.perf_counter()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                b = s.recv(65536)
                if not b:
                    raise OSError("EOF after %d round trips" % i)
                got += b
            if got != msg:
                print("colo-client: echo %d: wrong bytes" % i, file=sys.stderr)
                return 1
            lat.append((time.perf_counter() - t0) * 1000.0)
    except OSError as e:
        print("colo-client: echo: %r" % e, file=sys.stderr)
        return 1
    finally:
        s.close()
    print("ok=%d %s" % (len(lat), summary(lat, over)))
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    cmds = {"http": (cmd_http, 4), "counter": (cmd_counter, 2), "echo": (cmd_echo, 4)}
    c = cmds.get(argv[1])
    if not c or len(argv) - 2 < c[1]:
        print(__doc__, file=sys.stderr)
        return 2
    return c[0](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
