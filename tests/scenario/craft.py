#!/usr/bin/env python3
"""Malformed input for the proxy scenarios.

  frames IFACE SRCMAC DSTMAC SRC4 DST4 SRC6 DST6 [--only-primary]
        send, on IFACE (AF_PACKET), a fixed set of frames that are wrong at
        the transport layer or above (IP headers stay valid: the bridge's
        br_netfilter drops broken IP headers itself before any queue)
  garbage HOST PORT KIND
        connect to the proxy channel and send KIND: "random" bytes, a header
        with a bad "crc", a header announcing a "huge" length, or a valid
        header of an unknown "type"; print what happened
"""
import os
import socket
import struct
import sys
import time
import zlib


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip4(src, dst, proto, payload, ident=1, frag=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag,
                      64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ip6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def tcp(sport, dport, doff_words, opts=b"", data=b"", flags=0x18):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000,
                      doff_words << 4, flags, 512, 0, 0)
    return hdr + opts + data


def malformed(a):
    """(name, ethertype, packet) tuples: the same list on every run."""
    s4, d4, s6, d6 = a
    out = [
        ("tcp data offset beyond the packet", 0x0800, ip4(s4, d4, 6, tcp(7000, 40001, 15))),
        ("tcp data offset below 5", 0x0800, ip4(s4, d4, 6, tcp(7000, 40002, 2, data=b"x" * 8))),
        ("tcp option length 0", 0x0800, ip4(s4, d4, 6, tcp(7000, 40003, 6, b"\x05\x00\x00\x00", b"y"))),
        ("tcp sack option past the header", 0x0800, ip4(s4, d4, 6, tcp(7000, 40004, 6, b"\x05\x22\x00\x00", b"z"))),
        ("tcp header cut short", 0x0800, ip4(s4, d4, 6, b"\x1b\x58\x9c\x45\x00")),
        ("udp length beyond the packet", 0x0800, ip4(s4, d4, 17, struct.pack("!HHHH", 7001, 40005, 400, 0) + b"q" * 8)),
        ("udp length below 8", 0x0800, ip4(s4, d4, 17, struct.pack("!HHHH", 7001, 40006, 3, 0) + b"q" * 8)),
        ("icmp cut to 2 bytes", 0x0800, ip4(s4, d4, 1, b"\x08\x00")),
        ("unknown protocol 253", 0x0800, ip4(s4, d4, 253, b"experimental")),
        ("first fragment only", 0x0800, ip4(s4, d4, 17, struct.pack("!HHHH", 7001, 40007, 3008, 0) + b"f" * 64, ident=77, frag=0x2000)),
        ("overlapping fragment", 0x0800, ip4(s4, d4, 17, b"o" * 64, ident=77, frag=0x2000 | 4)),
        ("ipv6 hop-by-hop header longer than the packet", 0x86dd, ip6(s6, d6, 0, b"\x06\x20" + b"\0" * 6)),
        ("ipv6 routing header cut short", 0x86dd, ip6(s6, d6, 43, b"\x3b")),
        ("ipv6 tcp data offset beyond the packet", 0x86dd, ip6(s6, d6, 6, tcp(7000, 40008, 15))),
        ("icmpv6 cut to 1 byte", 0x86dd, ip6(s6, d6, 58, b"\x80")),
        ("ipv6 fragment header cut short", 0x86dd, ip6(s6, d6, 44, b"\x11\x00")),
    ]
    return out


def cmd_frames(args):
    iface, smac, dmac = args[0], bytes.fromhex(args[1].replace(":", "")), bytes.fromhex(args[2].replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    n = 0
    for name, et, pkt in malformed(args[3:7]):
        s.send(dmac + smac + struct.pack("!H", et) + pkt)
        n += 1
        time.sleep(0.002)
    print("craft: sent %d malformed frames on %s" % (n, iface))
    return 0


def crc32c(data):
    # bitwise CRC-32C (Castagnoli), reflected polynomial 0x82F63B78
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xffffffff


def header(typ, length, good_crc=True, magic=0xC01E):
    h = struct.pack("!HBBHHIII", magic, 1, typ, 0, 0, length, 0, 0)
    c = crc32c(h) if good_crc else crc32c(h) ^ 1
    return h + struct.pack("!I", c)


def cmd_garbage(args):
    host, port, kind = args[0], int(args[1]), args[2]
    data = {
        "random": os.urandom(4096),
        "crc": header(2, 10, good_crc=False) + b"x" * 10,
        "huge": header(2, 0x7fffffff),
        "type": header(200, 0),
    }[kind]
    s = socket.create_connection((host, port), timeout=5)
    try:
        s.sendall(data)
        s.settimeout(3)
        while s.recv(4096):       # the proxy's HELLO, then it must close
            pass
        print("craft: %s: the proxy closed the connection" % kind)
        return 0
    except socket.timeout:
        print("craft: %s: the proxy kept the connection open" % kind)
        return 1
    except ConnectionResetError:
        print("craft: %s: the proxy reset the connection" % kind)
        return 0


def main(a):
    if len(a) < 2:
        raise SystemExit(__doc__)
    if a[1] == "frames":
        return cmd_frames(a[2:])
    if a[1] == "garbage":
        return cmd_garbage(a[2:])
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
