#!/usr/bin/env python3
"""Write the seed inputs of fuzz/fuzz_rw.c into fuzz/seeds/fuzz_rw/.

Each seed is a program in the harness's format (see the comment at the top
of fuzz/fuzz_rw.c): a configuration byte, then records.  The segments are
described by a few parameters and built by the harness, so the seeds stay
small and their checksums right.

    python3 fuzz/seeds/make-seeds-rw.py

The output is committed; run this again only to change the seeds.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fuzz_rw")

RAW, SEG, HINT, RESET, TICK, REPLAY, PHINT = range(7)
# SEG / HINT d bits
FROM_VM, V6, VLAN, EXT, PARTIAL, LINK_IP = 1, 2, 4, 8, 16, 32
# config byte
MAX1, MAX2, MAX4, MAX64, NO_LINGER, SHORT_IDLE = 0, 1, 2, 3, 4, 8
# TCP flags
F, S, R, P, A = 0x01, 0x02, 0x04, 0x08, 0x10


def conn(i):
    return (i & 3) << 6


def seg(d, flags, seq, ack, opts=b"", paylen=0, m=0):
    return (bytes([SEG, d, flags]) + struct.pack(">II", seq, ack) +
            bytes([len(opts)]) + opts + bytes([paylen, m]))


def hint(d, isn):
    return bytes([HINT, d]) + struct.pack(">I", isn)


def phint(i, isn):
    return bytes([PHINT | (i << 3)]) + struct.pack(">I", isn)


def tick(ms):
    return bytes([TICK | ((ms - 1) << 3)])


def raw(d, frame):
    return bytes([RAW, d]) + struct.pack(">H", len(frame)) + frame


def sack(*edges, lead=b"\x01\x01"):
    o = lead + bytes([5, 2 + 4 * len(edges)])
    o += b"".join(struct.pack(">I", e & 0xFFFFFFFF) for e in edges)
    return o + b"\x00" * (-len(o) % 4)


def handshake(d, c, s, p, how="hint"):
    """Peer-opened connection D: client ISN C, SVM ISN S, PVM ISN P."""
    out = seg(d, S, c, 0)
    out += seg(d | FROM_VM, S | A, s, c + 1)      # RW_WAIT
    if how == "hint":
        out += hint(d, p) + bytes([REPLAY])
    else:
        out += seg(d, A, c + 1, p + 1)            # learns from the ACK
        out += bytes([REPLAY])
    return out


def data(d, c, s, p, n=3):
    out = b""
    for i in range(n):
        at = 1 + 100 * i
        out += seg(d | FROM_VM, A | P, (s + at) & 0xFFFFFFFF, c + 1, paylen=100)
        out += seg(d, A, c + 1, (p + at + 100) & 0xFFFFFFFF)
    return out


def seeds():
    c, s, p = 1000, 700000, 9000
    yield "hint", bytes([MAX64]) + handshake(conn(0), c, s, p) + \
        data(conn(0), c, s, p)
    yield "peer-ack", bytes([MAX64]) + handshake(conn(1), c, s, p, "ack") + \
        data(conn(1), c, s, p)
    # the VM opens: its SYN waits, the peer's SYN-ACK teaches the offset
    vm = conn(3)
    yield "vm-initiated", bytes([MAX64]) + seg(vm | FROM_VM, S, 55555, 0) + \
        seg(vm, S | A, 777, 124) + bytes([REPLAY]) + \
        seg(vm | FROM_VM, A, 55556, 778) + phint(0, 123)
    # ISNs on both sides of 2^32
    w = (0xFFFFFFF0, 0xFFFFFF00, 0x100)
    yield "wrap", bytes([MAX64]) + handshake(conn(2), *w) + data(conn(2), *w, n=4)
    # SACK: several blocks with a D-SACK, odd offsets, malformed lengths
    d = conn(0)
    body = handshake(d, c, s, p)
    body += seg(d, A, c + 1, p + 201, sack(p + 1, p + 101, p + 301, p + 401,
                                           p + 501, p + 601))
    body += seg(d, A, c + 1, p + 201, sack(p + 301, p + 401, lead=b"\x01"))
    body += seg(d, A, c + 1, p + 201, b"\x05\x0b" + b"\x00" * 10)
    body += seg(d, A, c + 1, p + 201, b"\x01\x01\x05\x22" + b"\x00" * 8)
    body += seg(d, A, c + 1, p + 201, b"\x08\x00\x05\x0a" + b"\x00" * 8)
    body += seg(d, A, c + 1, p + 201, b"\x01\x01\x01\x05")
    yield "sack", bytes([MAX64]) + body
    # IPv6 with extension headers, VLAN, bare IP, CHECKSUM_PARTIAL
    d = conn(1) | V6
    body = handshake(d | EXT, c, s, p)
    body += seg(d | EXT | FROM_VM | PARTIAL, A | P, s + 1, c + 1, paylen=200)
    body += seg(d | LINK_IP, A, c + 1, p + 201, sack(p + 1, p + 11))
    body += seg(conn(1) | VLAN | FROM_VM, A, s + 1, c + 1, paylen=5)
    body += seg(d | VLAN | PARTIAL, A, c + 1, p + 1, m=1)
    body += seg(d | FROM_VM, A, s + 1, c + 1, paylen=40, m=0x51)
    yield "ipv6-vlan-partial", bytes([MAX64]) + body
    # the table: limit 2, linger 0, short idle; RST, FINs, reset, ticks
    body = handshake(conn(0), c, s, p) + handshake(conn(1), c, s, p)
    body += handshake(conn(2), c, s, p)
    body += seg(conn(1), R, c + 1, 0) + tick(1)
    body += seg(conn(2) | FROM_VM, F | A, s + 1, c + 1)
    body += seg(conn(2), F | A, c + 1, p + 2)
    body += bytes([RESET]) + data(conn(2), c, s, p, n=1) + tick(6)
    body += seg(conn(3) | FROM_VM, S, 5, 0) + bytes([RESET, REPLAY])
    body += phint(0, 5) + bytes([REPLAY])
    yield "table", bytes([MAX2 | NO_LINGER | SHORT_IDLE]) + body
    # raw frames: a TCP segment, an IPv4 fragment, UDP, garbage
    ip = bytes.fromhex("4500002c000040004006" "0000" "0a000002" "0a000001")
    tcp = struct.pack(">HHIIBBHHH", 80, 40000, s + 1, c + 1, 0x60, A, 1000,
                      0, 0) + b"\x02\x04\x05\xb4"
    frag = bytearray(ip)
    frag[6] = 0x20                                    # more fragments
    body = handshake(conn(0), c, s, p)
    body += raw(FROM_VM | 2, ip + tcp) + raw(FROM_VM | 2, bytes(frag) + tcp)
    body += raw(2, bytes.fromhex("4500001c00000000401100000a0000010a000002"
                                 "9c40003500080000"))
    body += raw(0, b"\x00" * 13) + raw(FROM_VM | 4, b"\x52" * 60)
    yield "raw", bytes([MAX4]) + body


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, prog in seeds():
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(prog)


if __name__ == "__main__":
    main()
