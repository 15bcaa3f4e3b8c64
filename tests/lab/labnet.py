#!/usr/bin/env python3
"""Deterministic servers, clients and content for colokit's namespace lab.

Every server behaves identically in the primary and the secondary, so the two
produce the same byte streams; every client checks what it received and exits
non-zero otherwise.  All sockets have timeouts; nothing waits forever.
--sync NETNS: see SYNC_DELAY below.

  content DIR                    write docroots DIR/pvm and DIR/svm; prints
                                 differ_body_offset=N (first differing byte of
                                 differ.html, pvm vs svm)
  http-get [--align] [--dump FILE] [--sync NETNS] ADDR PORT ROOT N PATH...
                                 N concurrent HTTP/1.0 GETs (connection i asks
                                 PATH[i % len]) checked by sha256 against
                                 ROOT/PATH; --align starts just after a
                                 wall-clock second (busybox httpd sends a
                                 Date header); --dump saves the raw response
                                 of connection 0 and prints header_bytes=N
  udp-server PORT                echo every datagram (IPv4 and IPv6)
  udp-client ADDR PORT SIZE...   send datagrams, check the echoes
  tcp-server PORT                line protocol on IPv4 and IPv6:
                                 "GET n" -> next n bytes of the stream,
                                 "QUIT"  -> close (FIN),
                                 "RST"   -> reply "bye\\n", read one more
                                            line, close with SO_LINGER {1,0}
                                            (RST);  EOF -> close (FIN)
  rst-client [--sync NETNS] ADDR PORT N
                                 N sequential connections: GET 3000 + RST,
                                 read 3004 bytes, pause, send a line, expect
                                 the server's RST
  bulk-client [--sync NETNS] ADDR PORT BULK TAIL TOS PAUSE
                                 GET BULK bytes; pause; IP TOS=TOS, GET TAIL
                                 bytes and QUIT; read to EOF; sleep PAUSE s;
                                 TOS 0 and close (FIN).
                                 With the pure ACKs marked TOS dropped on the
                                 way to the secondary, it must retransmit the
                                 tail while the stream stays the same.
  held-get ADDR PORT PATH OUT IDLE
                                 GET PATH; OUT.before: what arrived until
                                 IDLE s without data; after OUT.go appears,
                                 read to EOF: OUT.after
  stream-get ADDR PORT SIZE OUT [RATE]
                                 GET SIZE bytes (read at RATE bytes/s at
                                 most), progress in OUT.progress, checked
                                 at EOF
  streams ADDR PORT N SIZE       N concurrent connections to tcp-server,
                                 each GET SIZE then QUIT, checked
  echo-server PORT               TCP echo on IPv4 and IPv6 (no Nagle): every
                                 byte read is written back, in order
  rr-client [--out FILE] [--timeout S] ADDR PORT N SIZE [WARMUP]
                                 one connection to an echo-server: WARMUP
                                 (default 100) untimed, then N timed
                                 sequential round trips of SIZE bytes, each
                                 echo checked; prints n, p50_us, p99_us,
                                 mean_us, min_us, max_us; --out writes the
                                 samples (us) as JSON; --timeout: per socket
                                 operation (default 20 s)
"""
import hashlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

TIMEOUT = 20
# A client must not send a segment the secondary has to see (the next
# request, a FIN, a line that triggers the server's RST) while the secondary
# has not yet sent all it will be acknowledging: nothing holds the primary's
# output here, and the secondary discards a segment that acknowledges bytes it
# has not sent ("ACK of unsent data"), payload and FIN included.  With
# --sync NETNS (the secondary's namespace) a client first waits, bounded,
# until the secondary's socket shows it has caught up (ss -ti in that
# namespace): it stands in for the comparator that would hold the primary's
# output.  Without --sync it sleeps SYNC_DELAY.
SYNC_DELAY = 0.3
SYNC_TIMEOUT = 10
FIN_STATES = ("FIN-WAIT-1", "FIN-WAIT-2", "CLOSING", "TIME-WAIT", "LAST-ACK")


class Secondary:
    """The secondary's view of its sockets on one local port, polled with ss."""

    def __init__(self, netns, port):
        self.netns, self.port = netns, port
        self.cond = threading.Condition()
        self.snap, self.waiters = {}, 0
        self.poller = None

    def poll(self):
        if not self.netns:
            return {}
        try:
            out = subprocess.run(
                ["ip", "netns", "exec", self.netns, "ss", "-Htnia",
                 "( sport = :%d )" % self.port],
                capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        socks, cur = {}, None
        for line in out.splitlines():
            if line[:1] not in (" ", "\t"):
                f = line.split()
                port = f[4].rsplit(":", 1)[-1] if len(f) >= 5 else ""
                if not port.isdigit():           # the listener: peer *:*
                    cur = None
                    continue
                cur = int(port)
                socks[cur] = {"state": f[0], "sent": None, "notsent": 0}
            elif cur is not None:
                for tok in line.split():
                    if tok.startswith("bytes_sent:"):
                        socks[cur]["sent"] = int(tok[11:])
                    elif tok.startswith("notsent:"):
                        socks[cur]["notsent"] = int(tok[8:])
        return socks

    def run(self):
        while True:
            snap = self.poll()
            with self.cond:
                self.snap = snap
                self.cond.notify_all()
                if not self.waiters:
                    self.poller = None
                    return
            time.sleep(0.01)

    def wait(self, cport, sent=0, fin=False):
        """Until the secondary's socket with peer port cport has sent at
        least `sent` payload bytes, has nothing left unsent, and (fin) has
        sent its FIN.  Returns False after SYNC_TIMEOUT."""
        if not self.netns:
            time.sleep(SYNC_DELAY)
            return True

        def ready():
            st = self.snap.get(cport)
            if st is None:
                return False
            if st["state"] == "TIME-WAIT":
                return True
            return (st["notsent"] == 0 and (st["sent"] is None or st["sent"] >= sent)
                    and (not fin or st["state"] in FIN_STATES))

        with self.cond:
            self.waiters += 1
            if self.poller is None:
                self.poller = threading.Thread(target=self.run, daemon=True)
                self.poller.start()
            ok = self.cond.wait_for(ready, SYNC_TIMEOUT)
            self.waiters -= 1
        if not ok:
            print("labnet: secondary did not catch up on port %d within %ds" %
                  (cport, SYNC_TIMEOUT), file=sys.stderr)
        return ok
MTIME = 1700000000          # fixed file times: same Last-Modified/ETag in P and S


def stream(offset, n):
    """Bytes [offset, offset+n) of a fixed pseudo-random stream."""
    out = bytearray()
    blk = offset // 32
    while len(out) < (offset % 32) + n:
        out += hashlib.sha256(b"colokit-lab-%d" % blk).digest()
        blk += 1
    start = offset % 32
    return bytes(out[start:start + n])


def page():
    lines = ["<html><head><title>colokit lab</title></head><body>"]
    lines += ["<p>line %03d: the quick brown fox jumps over the lazy dog</p>" % i
              for i in range(40)]
    lines.append("</body></html>\n")
    return "\n".join(lines).encode()


def differ(vm):
    # Same length on both sides; differs after "vm=" at a known offset
    # (deep enough to be in a later segment than the headers).
    head = b"<html><body><pre>\n" + b"".join(
        b"filler %05d abcdefghijklmnopqrstuvwxyz\n" % i for i in range(150))
    marker = b"vm=" + {"pvm": b"primary", "svm": b"replica"}[vm] + b"\n"
    tail = b"".join(b"trailer %05d 0123456789\n" % i for i in range(20)) + b"</pre></body></html>\n"
    return head + marker + tail, len(head) + 3


def cmd_content(d):
    files = {"page.html": page(), "big.bin": stream(0, 1 << 20)}
    offs = None
    for vm in ("pvm", "svm"):
        root = os.path.join(d, vm)
        os.makedirs(root, exist_ok=True)
        body, offs = differ(vm)
        for name, data in list(files.items()) + [("differ.html", body)]:
            p = os.path.join(root, name)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (MTIME, MTIME))
        os.utime(root, (MTIME, MTIME))
    print("differ_body_offset=%d" % offs)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv_all(s):
    chunks = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def http_get(s, path, sec):
    try:
        s.sendall(b"GET /%s HTTP/1.0\r\nHost: lab\r\nUser-Agent: colokit-lab\r\n\r\n"
                  % path.encode())
        raw = recv_all(s)
        sec.wait(s.getsockname()[1], len(raw), fin=True)
        return raw
    finally:
        s.close()


def options(args):
    """Leading --flag [VALUE] options -> dict, remaining args."""
    opts = {}
    while args and args[0].startswith("--"):
        if args[0] == "--align":
            opts["align"], args = True, args[1:]
        elif args[0] in ("--dump", "--sync"):
            opts[args[0][2:]], args = args[1], args[2:]
        else:
            raise SystemExit("unknown option " + args[0])
    return opts, args


def cmd_http_get(args):
    opts, args = options(args)
    align, dump = opts.get("align"), opts.get("dump")
    addr, port, root, n, paths = args[0], int(args[1]), args[2], int(args[3]), args[4:]
    sec = Secondary(opts.get("sync"), port)
    want = {}
    for p in paths:
        with open(os.path.join(root, p), "rb") as f:
            want[p] = hashlib.sha256(f.read()).hexdigest()
    results, errors = [None] * n, []
    # Connect first, a few ms apart (busybox httpd listens with a backlog of
    # 9: a burst of SYNs would overflow it), then send all requests at once.
    socks = []
    for i in range(n):
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect((addr, port))
        socks.append(s)
        time.sleep(0.003)
    barrier = threading.Barrier(n)

    def worker(i):
        path = paths[i % len(paths)]
        try:
            barrier.wait(TIMEOUT)
            results[i] = (path, http_get(socks[i], path, sec))
        except Exception as e:       # noqa: BLE001 - report every failure
            errors.append("connection %d (%s): %r" % (i, path, e))

    if align:                       # start 20 ms after a second boundary
        now = time.time()
        time.sleep(1.02 - (now % 1.0) if now % 1.0 > 0.02 else 0.02 - now % 1.0)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT + 5)
    for i, r in enumerate(results):
        if r is None:
            continue
        path, raw = r
        head, sep, body = raw.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if not sep or b" 200 " not in status + b" ":
            errors.append("connection %d (%s): bad response %r" % (i, path, status))
        elif hashlib.sha256(body).hexdigest() != want[path]:
            errors.append("connection %d (%s): body sha256 mismatch (%d bytes)" %
                          (i, path, len(body)))
        if i == 0 and dump:
            with open(dump, "wb") as f:
                f.write(raw)
            print("header_bytes=%d" % (len(head) + len(sep)))
    ok = sum(1 for r in results if r is not None)
    for e in errors:
        print("http-get: " + e, file=sys.stderr)
    if errors or ok != n:
        print("http-get: %d of %d fetches ok" % (ok - len(errors), n), file=sys.stderr)
        return 1
    return 0


def dual_stack(kind, port):
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    return s


def cmd_udp_server(port):
    s = dual_stack(socket.SOCK_DGRAM, port)
    while True:
        data, peer = s.recvfrom(1 << 16)
        s.sendto(data, peer)


def cmd_udp_client(addr, port, sizes):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((addr, port))
    for i, n in enumerate(sizes):
        msg = (b"udp-%d-" % i + stream(1000 * i, n))[:n]
        s.send(msg)
        got = s.recv(1 << 16)
        if got != msg:
            print("udp-client: datagram %d (%d bytes): bad echo (%d bytes)" %
                  (i, n, len(got)), file=sys.stderr)
            return 1
    return 0


def serve_conn(c):
    c.settimeout(TIMEOUT)
    # No Nagle: a held-back small segment would wait for an ACK that the
    # secondary may discard (see SYNC_DELAY).
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = c.makefile("rb")
    pos = 0
    try:
        while True:
            line = f.readline(100)
            if not line:
                break
            words = line.split()
            if words[:1] == [b"GET"]:
                n = int(words[1])
                data = stream(pos, n)
                # in pieces: sendall()'s timeout covers a whole call, and a
                # held-back stream (a test stalling it) must not trip it
                for off in range(0, n, 1 << 16):
                    c.sendall(data[off:off + (1 << 16)])
                pos += n
            elif words[:1] == [b"QUIT"]:
                break
            elif words[:1] == [b"RST"]:
                c.sendall(b"bye\n")
                f.readline(100)              # the client's go-ahead
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                break
    except OSError:
        pass
    finally:
        f.close()
        c.close()


def cmd_tcp_server(port):
    s = dual_stack(socket.SOCK_STREAM, port)
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(c,), daemon=True).start()


def cmd_rst_client(args):
    opts, args = options(args)
    addr, port, n = args[0], int(args[1]), int(args[2])
    sec = Secondary(opts.get("sync"), port)
    for i in range(n):
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        try:
            s.connect((addr, port))
            s.sendall(b"GET 3000\nRST\n")
            got = read_n(s, 3004)
            sec.wait(s.getsockname()[1], 3004)
            s.sendall(b"ok\n")
            try:
                while True:
                    b = s.recv(1 << 16)
                    if not b:
                        break
                    got += b
            except ConnectionResetError:
                pass
            else:
                print("rst-client: connection %d closed without RST" % i, file=sys.stderr)
                return 1
            if got != stream(0, 3000) + b"bye\n":
                print("rst-client: connection %d: bad data (%d bytes)" % (i, len(got)),
                      file=sys.stderr)
                return 1
        finally:
            s.close()
    return 0


def read_n(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(1 << 16, n - len(buf)))
        if not b:
            raise OSError("EOF after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)


def cmd_bulk_client(args):
    opts, args = options(args)
    addr, port, bulk, tail = args[0], int(args[1]), int(args[2]), int(args[3])
    tos, pause = int(args[4], 0), float(args[5])
    sec = Secondary(opts.get("sync"), port)
    fam = family(addr)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)

    def set_tos(v):
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, v)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, v)

    s.connect((addr, port))
    s.sendall(b"GET %d\n" % bulk)
    got = read_n(s, bulk)
    sec.wait(s.getsockname()[1], bulk)
    set_tos(tos)
    s.sendall(b"GET %d\nQUIT\n" % tail)
    got += read_n(s, tail)
    rest = recv_all(s)                  # the server closes after the tail
    time.sleep(pause)
    sec.wait(s.getsockname()[1], bulk + tail, fin=True)
    set_tos(0)
    s.close()
    if got != stream(0, bulk + tail) or rest:
        print("bulk-client: stream mismatch", file=sys.stderr)
        return 1
    return 0


def cmd_streams(args):
    """N concurrent connections to a tcp-server, each GET SIZE + QUIT,
    checked against the stream; prints how many were correct."""
    addr, port, n, size = args[0], int(args[1]), int(args[2]), int(args[3])
    ok = [False] * n

    def worker(i):
        lport, got = 0, b""
        try:
            s = socket.create_connection((addr, port), timeout=TIMEOUT)
            lport = s.getsockname()[1]
            s.sendall(b"GET %d\nQUIT\n" % size)
            while True:
                b = s.recv(1 << 16)
                if not b:
                    break
                got += b
            s.close()
            ok[i] = got == stream(0, size)
            if not ok[i]:
                print("streams: connection %d (port %d): %d bytes, mismatch" %
                      (i, lport, len(got)), file=sys.stderr)
        except OSError as e:
            print("streams: connection %d (port %d): %r after %d bytes" %
                  (i, lport, e, len(got)), file=sys.stderr)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("streams: %d of %d correct" % (sum(ok), n))
    return 0 if all(ok) else 1


def cmd_held_get(args):
    """GET PATH over HTTP/1.0; save what arrived once nothing more came for
    IDLE seconds (OUT.before, and the local port in OUT.port), wait for the
    file OUT.go, then read to EOF (OUT.after: the whole response)."""
    addr, port, path, out, idle = args[0], int(args[1]), args[2], args[3], float(args[4])
    now = time.time()                    # start just after a second boundary
    time.sleep(1.02 - (now % 1.0) if now % 1.0 > 0.02 else 0.02 - now % 1.0)
    s = socket.create_connection((addr, port), timeout=TIMEOUT)
    with open(out + ".port", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    s.sendall(b"GET /%s HTTP/1.0\r\n\r\n" % path.encode())
    got = b""
    s.settimeout(idle)
    while True:
        try:
            b = s.recv(1 << 16)
        except socket.timeout:
            break
        if not b:
            break
        got += b
    with open(out + ".before", "wb") as f:
        f.write(got)
    deadline = time.time() + 60
    while not os.path.exists(out + ".go"):
        if time.time() > deadline:
            print("held-get: no go-ahead", file=sys.stderr)
            return 1
        time.sleep(0.05)
    s.settimeout(TIMEOUT)
    got += recv_all(s)
    with open(out + ".after", "wb") as f:
        f.write(got)
    return 0


def cmd_stream_get(args):
    """GET SIZE bytes from a tcp-server, writing the count received so far
    to OUT.progress every 50 ms; check the stream at EOF."""
    addr, port, size, out = args[0], int(args[1]), int(args[2]), args[3]
    rate = float(args[4]) if len(args) > 4 else 0.0
    t0 = time.time()
    s = socket.create_connection((addr, port), timeout=60)
    s.sendall(b"GET %d\nQUIT\n" % size)
    h = hashlib.sha256()
    n, last = 0, 0.0
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
        if rate and n / rate > time.time() - t0:
            time.sleep(n / rate - (time.time() - t0))
        if time.time() - last > 0.05:
            last = time.time()
            with open(out + ".tmp", "w") as f:
                f.write("%d\n" % n)
            os.replace(out + ".tmp", out + ".progress")
    with open(out + ".progress", "w") as f:
        f.write("%d\n" % n)
    want = hashlib.sha256()
    for off in range(0, size, 1 << 20):
        want.update(stream(off, min(1 << 20, size - off)))
    if n != size or h.digest() != want.digest():
        print("stream-get: %d of %d bytes, %s" % (
            n, size, "content differs" if n == size else "short"), file=sys.stderr)
        return 1
    return 0


def cmd_echo_server(port):
    s = dual_stack(socket.SOCK_STREAM, port)
    s.listen(128)

    def serve(c):
        c.settimeout(TIMEOUT)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def percentile(sorted_xs, q):
    """Nearest-rank percentile (q in 0..100) of a sorted list."""
    if not sorted_xs:
        return float("nan")
    k = max(0, min(len(sorted_xs) - 1, -(-len(sorted_xs) * q // 100) - 1))
    return sorted_xs[int(k)]


def cmd_rr_client(args):
    out, timeout = None, TIMEOUT
    while args[:1] in (["--out"], ["--timeout"]):
        if args[0] == "--out":
            out = args[1]
        else:
            timeout = float(args[1])
        args = args[2:]
    addr, port, n, size = args[0], int(args[1]), int(args[2]), int(args[3])
    warmup = int(args[4]) if len(args) > 4 else 100
    msgs = [stream(i * size, size) for i in range(64)]
    buf = bytearray(size)
    view = memoryview(buf)
    s = socket.create_connection((addr, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    clock = time.perf_counter_ns
    samples = []
    try:
        for i in range(warmup + n):
            msg = msgs[i % len(msgs)]
            t0 = clock()
            s.sendall(msg)
            got = 0
            while got < size:
                k = s.recv_into(view[got:])
                if not k:
                    raise OSError("EOF after %d round trips" % i)
                got += k
            t1 = clock()
            if buf != msg:
                print("rr-client: round trip %d: bad echo" % i, file=sys.stderr)
                return 1
            if i >= warmup:
                samples.append((t1 - t0) / 1000.0)
    except OSError as e:
        print("rr-client: %r after %d of %d round trips" % (e, len(samples), n),
              file=sys.stderr)
        return 1
    finally:
        s.close()
    xs = sorted(samples)
    print("n=%d p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f" % (
        len(xs), percentile(xs, 50), percentile(xs, 99), sum(xs) / len(xs), xs[0], xs[-1]))
    if out:
        with open(out, "w") as f:
            f.write("{\"size\": %d, \"warmup\": %d, \"samples_us\": [%s]}\n" % (
                size, warmup, ", ".join("%.1f" % x for x in samples)))
    return 0


def main(a):
    if len(a) < 2:
        raise SystemExit(__doc__)
    c, r = a[1], a[2:]
    if c == "content":
        return cmd_content(r[0])
    if c == "http-get":
        return cmd_http_get(r)
    if c == "udp-server":
        return cmd_udp_server(int(r[0]))
    if c == "udp-client":
        return cmd_udp_client(r[0], int(r[1]), [int(x) for x in r[2:]])
    if c == "tcp-server":
        return cmd_tcp_server(int(r[0]))
    if c == "rst-client":
        return cmd_rst_client(r)
    if c == "bulk-client":
        return cmd_bulk_client(r)
    if c == "streams":
        return cmd_streams(r)
    if c == "held-get":
        return cmd_held_get(r)
    if c == "stream-get":
        return cmd_stream_get(r)
    if c == "echo-server":
        return cmd_echo_server(int(r[0]))
    if c == "rr-client":
        return cmd_rr_client(r)
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv) or 0)
