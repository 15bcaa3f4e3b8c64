#!/usr/bin/env python3
"""echo-conns.py ADDR PORT N STOPFILE OUT.json

N long-lived TCP connections to an echo service (the guest's port 7),
opened at start; on each, a numbered line every 50 ms, and its echo
expected back within 20 s. Runs until STOPFILE exists, then writes per
connection: lines sent, echoed, the first error (a reset, a timeout, a
wrong echo). A connection that breaks is not reopened: the test wants to
know whether each one lived through everything.
"""
import json
import os
import socket
import sys
import threading
import time


def conn_loop(i, addr, port, stop, res):
    r = res[i]
    try:
        s = socket.create_connection((addr, port), timeout=20)
        r["local_port"] = s.getsockname()[1]
        f = s.makefile("rb")
        n = 0
        while not os.path.exists(stop):
            line = b"conn %d line %d\n" % (i, n)
            s.sendall(line)
            r["sent"] += 1
            got = f.readline()
            if got != line:
                raise ValueError("echo %r, sent %r" % (got[:40], line))
            r["echoed"] += 1
            n += 1
            time.sleep(0.05)
        s.close()
    except (OSError, ValueError) as e:
        r["error"] = "%s: %s (at %.3f)" % (type(e).__name__, e, time.monotonic())


def main():
    addr, port, n, stop, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    res = [{"sent": 0, "echoed": 0, "error": None, "local_port": None} for _ in range(n)]
    ts = [threading.Thread(target=conn_loop, args=(i, addr, port, stop, res), daemon=True)
          for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(out, "w") as f:
        json.dump(res, f)
    bad = [r for r in res if r["error"] or not r["echoed"]]
    print("echo-conns: %d connections, %d broke: %s" % (n, len(bad), res))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
