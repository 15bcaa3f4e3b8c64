#!/usr/bin/env python3
"""hb-inject.py: attack colo-heartbeat the way the forgery test does.

  forge   --to ADDR:PORT [--node a|b] [--state vm-lost] [--type beat|claim]
          [--term N] [--count N] [--interval MS]
          well-formed heartbeats signed with a random key (as an attacker
          without the pair's key would send): they must be counted as
          forged (bad MAC) and change nothing
  replay  --pcap FILE --to ADDR:PORT [--count N] [--interval MS]
          the UDP payloads of a capture of real heartbeats (pcap, Ethernet
          or Linux cooked), sent again in a loop: counted as replayed
  garbage --to ADDR:PORT [--count N]
          datagrams of random length and bytes: counted as malformed

The layout is heartbeat/hbmsg.h's (104 bytes, big-endian, HMAC-SHA256).
"""
import argparse
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

STATES = {"secondary": 1, "primary": 2, "claiming": 3, "failover": 4,
          "fenced": 5, "vm-lost": 6}
TYPES = {"beat": 1, "claim": 2}


def addr(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"not ADDR:PORT: {text!r}")
    return host.strip("[]"), int(port)


def pair_id(name):
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def forged(args, seq, key):
    node = 1 if args.node == "a" else 2
    role = 1 if node == 1 else 2
    flags = 0 if args.state in ("vm-lost", "fenced") else 3
    body = b"CHB\x01" + bytes([TYPES[args.type], role, STATES[args.state],
                               flags, node, 0, 0, 0])
    body += struct.pack(">I", pair_id(args.pair))
    body += struct.pack(">QQQQQQ", int.from_bytes(os.urandom(8), "big") | 1,
                        seq, 0, 0, args.term, args.term + 1)
    body += bytes(8)
    return body + hmac.new(key, body, hashlib.sha256).digest()


def udp_payloads(path):
    """The UDP payloads of a pcap file (Ethernet or Linux SLL, IPv4)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        sys.exit(f"hb-inject: {path!r}: not a pcap file")
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        l2 = 14 if linktype == 1 else 16 if linktype == 113 else None
        if l2 is None:
            sys.exit(f"hb-inject: {path!r}: link type {linktype} not handled")
        ip = pkt[l2:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        out.append(ip[ihl + 8:])
    return out


def send_loop(to, payloads, count, interval):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        s.sendto(payloads[i % len(payloads)], to)
        time.sleep(interval / 1000)
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forge")
    f.add_argument("--node", choices=("a", "b"), default="a")
    f.add_argument("--state", choices=STATES, default="vm-lost")
    f.add_argument("--type", choices=TYPES, default="beat")
    f.add_argument("--term", type=int, default=1)
    f.add_argument("--pair", default="lab")
    r = sub.add_parser("replay")
    r.add_argument("--pcap", required=True)
    g = sub.add_parser("garbage")
    for p in (f, r, g):
        p.add_argument("--to", type=addr, required=True)
        p.add_argument("--count", type=int, default=100)
        p.add_argument("--interval", type=float, default=10)
    args = ap.parse_args()
    if args.cmd == "forge":
        key = os.urandom(32)
        msgs = [forged(args, i + 1, key) for i in range(args.count)]
    elif args.cmd == "replay":
        msgs = [m for m in udp_payloads(args.pcap) if len(m) == 104]
        if not msgs:
            sys.exit(f"hb-inject: {args.pcap!r}: no heartbeat in it")
    else:
        msgs = [os.urandom(n) for n in
                [0, 1, 3, 4, 50, 103, 105, 104, 104, 1400] * 10]
        msgs[7] = b"CHB\x02" + bytes(100)   # unknown version
    n = send_loop(args.to, msgs, args.count, args.interval)
    print(f"{args.cmd}: {n} datagrams to {args.to[0]}:{args.to[1]}")


if __name__ == "__main__":
    main()
