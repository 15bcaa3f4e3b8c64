#!/usr/bin/env python3
"""Write the seed inputs of fuzz/fuzz_cmp.c into fuzz/seeds/fuzz_cmp/.

Each seed is a program in the harness's format (see the comment at the top
of fuzz/fuzz_cmp.c): a configuration byte, then records of an opcode, for
frame records a big-endian 16-bit length and the frame.  The frames come
from a few captures of tcpdump's test suite, read with struct (pcap only);
some are cut into IP fragments or TCP segments here.

    python3 fuzz/seeds/make-seeds.py [CAPTURE_DIR]

CAPTURE_DIR defaults to ../shared/corpus/tcpdump-tests beside the tree.
The output is committed; run this again only to change the seeds.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fuzz_cmp")
DEFAULT_CAPS = os.path.join(HERE, "..", "..", "..", "shared", "corpus",
                            "tcpdump-tests")

# opcodes (low nibble), as enum op in fuzz_cmp.c
P, S, PS, SP, P_MUT, S_MUT, COMMIT, TICK, COMMIT_OLD, COMMIT_NEXT, INSPECT = \
    range(11)
# modifiers (high nibble) of frame records
LINK_IP = 0x10
TRUNC = 0x20
AFTER_NEXT_EPOCH = 0x40
NEXT_EPOCH = 0x80
PREV_EPOCH = 0xC0
# configuration byte
LEARN_ISN, NO_WINDOW, NO_ACK_GUARD, TINY, NO_LINGER, WRAP, FREE_HELD = \
    1, 2, 4, 8, 16, 32, 64
# mutations (m0 low bits)
FLIP, CUT, SEQ, GROW = range(4)

LINK_ETH_DLTS = {1}
LINK_IP_DLTS = {12, 14, 101, 228, 229}


def read_pcap(path):
    """Frames of a classic pcap file, and whether they start at IP."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        raise ValueError("%s: not a classic pcap file" % path)
    dlt = struct.unpack(end + "I", data[20:24])[0] & 0x0FFFFFFF
    if dlt not in LINK_ETH_DLTS | LINK_IP_DLTS:
        raise ValueError("%s: link type %d" % (path, dlt))
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames, dlt in LINK_IP_DLTS


class Program:
    """A seed being written: records appended in order."""

    def __init__(self, config):
        self.b = bytearray([config])

    def frame(self, op, frame, link_ip=False, mods=0):
        self.b.append(op | mods | (LINK_IP if link_ip else 0))
        self.b += struct.pack(">H", len(frame)) + frame
        return self

    def mutant(self, op, frame, kind, pos=0, arg=0, link_ip=False, mods=0):
        m0 = kind | ((pos >> 8) << 2)
        self.b += bytes([op | mods | (LINK_IP if link_ip else 0), m0 & 0xFF,
                         (pos & 0xFF) if kind != SEQ else arg])
        self.b += struct.pack(">H", len(frame)) + frame
        return self

    def op(self, op, arg=0):
        self.b.append(op | (arg << 4))
        return self


# ---- frame surgery -------------------------------------------------------

def ip_csum(h):
    if len(h) % 2:
        h += b"\0"
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_header(tmpl, payload_len, ident, frag_field):
    """A 20-byte IPv4 header like TMPL with new length, id and fragment."""
    h = bytearray(tmpl[:20])
    h[0] = 0x45
    struct.pack_into("!HHH", h, 2, 20 + payload_len, ident, frag_field)
    struct.pack_into("!H", h, 10, 0)
    struct.pack_into("!H", h, 10, ip_csum(bytes(h)))
    return bytes(h)


def fragments(eth_frame, ident, cuts):
    """Cut an Ethernet/IPv4 frame's payload at CUTS (multiples of 8)."""
    eth, ip = eth_frame[:14], eth_frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    body = ip[ihl:total]
    edges = [0] + list(cuts) + [len(body)]
    out = []
    for a, b in zip(edges, edges[1:]):
        more = 0x2000 if b < len(body) else 0
        h = ipv4_header(ip, b - a, ident, more | (a // 8))
        out.append(eth + h + body[a:b])
    return out


def tcp_segments(eth_frame, cuts):
    """Cut an Ethernet/IPv4/TCP frame's payload into segments at CUTS."""
    eth, ip = eth_frame[:14], eth_frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:total]
    doff = (tcp[12] >> 4) * 4
    hdr, data = tcp[:doff], tcp[doff:]
    seq = struct.unpack("!I", hdr[4:8])[0]
    edges = [0] + list(cuts) + [len(data)]
    out = []
    for a, b in zip(edges, edges[1:]):
        h = bytearray(hdr)
        struct.pack_into("!I", h, 4, (seq + a) & 0xFFFFFFFF)
        out.append(eth + ipv4_header(ip, len(h) + b - a, 1, 0x4000) +
                   bytes(h) + data[a:b])
    return out


def tcp_payload_at(eth_frame):
    """Frame offset of the TCP payload of an Ethernet/IPv4 frame."""
    ihl = (eth_frame[14] & 0x0F) * 4
    return 14 + ihl + (eth_frame[14 + ihl + 12] >> 4) * 4


# ---- the seeds -----------------------------------------------------------

def seeds(caps):
    def cap(name):
        return read_pcap(os.path.join(caps, name))[0]

    dns_tcp = cap("dns_tcp.pcap")
    dns_udp = cap("dns_udp.pcap")
    ssh = cap("ssh.pcap")[:24]
    qinq = cap("802.1ad_QinQ.pcap")
    icmp = cap("icmp-rfc8335.pcap")
    raw6 = cap("LINKTYPE_RAW_ipv6.pcap")
    frag6 = cap("ip6_frag_asan.pcap")
    icmp6 = cap("icmpv6-rfc7112.pcap")
    http = cap("ipv4_tcp_http_xml.pcap")
    rst = cap("tcp_rst_data.pcap")

    # a whole TCP connection, the same on both sides, committed at the end
    p = Program(0)
    for i, f in enumerate(dns_tcp):
        p.frame(PS if i % 2 else SP, f)
        p.op(TICK, 0)
    yield "tcp-same", p.op(INSPECT).op(COMMIT)

    # the same with ISNs learnt, the secondary's sequence numbers shifted
    p = Program(LEARN_ISN)
    for f in dns_tcp:
        p.mutant(P_MUT, f, SEQ, arg=0x40)
    yield "tcp-learn-isn", p.op(TICK, 7).op(COMMIT)

    # a payload byte differs: a checkpoint, then the commit settles it
    p = Program(NO_ACK_GUARD)
    for i, f in enumerate(dns_tcp):
        if i == 5:
            p.mutant(P_MUT, f, FLIP, pos=tcp_payload_at(f) + 3)
        else:
            p.frame(PS, f)
    yield "tcp-diverge", p.op(TICK, 3).op(COMMIT)

    # segmentation differs: one frame on the primary, three on the secondary
    p = Program(NO_WINDOW)
    for f in ssh[:8]:
        if len(f) > 200:
            p.frame(P, f)
            n = len(f) - tcp_payload_at(f)
            segs = tcp_segments(f, [n // 5, n // 2])
            for seg in (segs[1], segs[0], segs[2]):    # out of order
                p.frame(S, seg)
        else:
            p.frame(SP, f)
    yield "tcp-segments", p.op(INSPECT).op(COMMIT)

    # one side's output only, past every limit; mid-stream pickup
    p = Program(TINY | NO_LINGER)
    for f in ssh[3:7] + ssh[9:] + rst:
        p.frame(P, f)
    p.op(TICK, 15).op(COMMIT)
    for f in http + rst:
        p.frame(SP, f)
    yield "limits", p.op(COMMIT)

    # UDP, raw IPv6 and ICMP messages: equal, different, longer, cut
    p = Program(0)
    p.frame(PS, dns_udp[0]).frame(SP, dns_udp[1])
    p.mutant(P_MUT, dns_udp[1], FLIP, pos=60)
    p.mutant(S_MUT, dns_udp[0], GROW, arg=0)
    p.frame(PS, raw6[0], link_ip=True)
    for f in icmp[:4]:
        p.frame(PS, f)
    p.mutant(P_MUT, icmp[4], CUT, pos=40)
    p.frame(PS, icmp6[0], mods=TRUNC)
    yield "messages", p.op(TICK, 15).op(COMMIT)

    # IPv4 fragments: three on the primary, two on the secondary
    big = dns_udp[1]
    p = Program(0)
    for f in fragments(big, 0x1111, [64, 128]):
        p.frame(P, f)
    for f in reversed(fragments(big, 0x2222, [128])):
        p.frame(S, f)
    p.op(COMMIT)
    for f in fragments(big, 0x3333, [64]):
        p.frame(PS, f)
    for f in frag6:
        p.frame(P, f[14:] if len(f) > 14 and f[12:14] == b"\x86\xdd" else f,
                link_ip=f[12:14] == b"\x86\xdd")
    yield "fragments", p.op(COMMIT)

    # ARP in 802.1ad QinQ, other ethertypes, truncated frames
    p = Program(NO_LINGER)
    for f in qinq:
        p.frame(PS, f)
    p.mutant(S_MUT, qinq[0], FLIP, pos=30)
    p.frame(PS, http[0], mods=TRUNC)
    p.mutant(P_MUT, http[0], CUT, pos=300, mods=TRUNC)
    yield "l2", p.op(TICK, 3).op(INSPECT).op(COMMIT)

    # epochs: deferred and late frames, commits old and new, the wrap
    p = Program(WRAP)
    p.frame(P, dns_udp[0], mods=NEXT_EPOCH)
    p.frame(S, dns_udp[0])
    p.frame(P, dns_udp[1], mods=PREV_EPOCH)
    p.op(COMMIT)
    p.frame(S, dns_udp[0])
    p.frame(PS, dns_tcp[0], mods=NEXT_EPOCH)
    p.op(COMMIT_OLD).op(COMMIT)
    p.frame(SP, dns_tcp[1]).op(TICK, 5)
    p.frame(S, dns_tcp[2], mods=NEXT_EPOCH)
    p.frame(SP, dns_udp[1], mods=AFTER_NEXT_EPOCH)
    p.op(COMMIT_NEXT)
    for f in dns_tcp[3:]:
        p.frame(PS, f, mods=NEXT_EPOCH)
        p.op(COMMIT)
    yield "epochs", p.op(INSPECT).op(COMMIT)

    # freed with frames held in flows, reassembly and the deferred list
    p = Program(FREE_HELD)
    p.frame(P, dns_tcp[3]).frame(S, dns_udp[0])
    p.frame(P, fragments(big, 0x4444, [64])[0])
    p.frame(P, dns_udp[1], mods=NEXT_EPOCH)
    p.frame(S, dns_udp[1], mods=AFTER_NEXT_EPOCH)
    yield "free-held", p


def main():
    caps = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_CAPS
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".bin"):
            os.unlink(os.path.join(OUT, name))
    total = 0
    for name, prog in seeds(caps):
        with open(os.path.join(OUT, name + ".bin"), "wb") as f:
            f.write(prog.b)
        total += len(prog.b)
        print("%-16s %6d bytes" % (name, len(prog.b)))
    print("%d bytes in %s" % (total, OUT))


if __name__ == "__main__":
    main()
