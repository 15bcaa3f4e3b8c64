#!/usr/bin/env python3
"""Check a recorded PVM/SVM capture pair (the lab's own sanity check).

  pcapcheck.py PVM.pcap SVM.pcap [--expect match|diverge]
               [--diverge-port P --diverge-offset N] [--vlan VID]
               [--want-retrans] [--want-seg-diff] [--min-conns N]

Both files hold only frames the server sent (capture direction "out").  TCP
is reassembled per connection into the server->client byte stream, keyed by
the client's address and port, so segmentation, retransmission and timing do
not matter; UDP datagrams and ICMP messages (after IP reassembly) are compared
as multisets of payloads.  Prints key=value lines on stdout, problems on
stderr, and exits 1 if a requested property does not hold:
  match    every connection has the same server ISN on both sides and the
           same stream, FIN and RST; UDP and ICMP payloads are equal
  diverge  the first differing stream byte of the first connection to the
           diverge port (in PVM order) is at --diverge-offset
This is deliberately independent of colokit's comparator: it only validates
that the recording is what its NAME.info claims.
"""
import argparse
import collections
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit("%s: not a pcap file" % path)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise SystemExit("%s: not a classic pcap file" % path)
    linktype = struct.unpack_from(e + "I", data, 20)[0]
    if linktype != 1:
        raise SystemExit("%s: link type %d, expected Ethernet" % (path, linktype))
    off, frames = 24, []
    while off + 16 <= len(data):
        incl, orig = struct.unpack_from(e + "II", data, off + 8)
        frame = data[off + 16:off + 16 + incl]
        if incl != orig:
            raise SystemExit("%s: truncated frame (snaplen)" % path)
        frames.append(frame)
        off += 16 + incl
    return frames


class Side:
    def __init__(self, frames):
        self.frames = len(frames)
        self.max_frame = 0
        self.big_frames = 0          # longer than a 1500-byte MTU frame
        self.vlans = collections.Counter()
        self.other = []              # frames we do not parse
        self.frags = {}
        self.tcp = {}                # key -> conn dict
        self.tcp_order = []
        self.udp = collections.Counter()
        self.icmp = collections.Counter()
        self.fragmented = 0
        for fr in frames:
            self.max_frame = max(self.max_frame, len(fr))
            self.frame(fr)

    def frame(self, fr):
        etype, off, vid = struct.unpack_from("!H", fr, 12)[0], 14, None
        while etype in (0x8100, 0x88A8):
            vid = struct.unpack_from("!H", fr, off)[0] & 0xFFF
            etype = struct.unpack_from("!H", fr, off + 2)[0]
            off += 4
        self.vlans[vid] += 1
        if len(fr) - off > 1500:
            self.big_frames += 1
        if etype == 0x0800:
            self.ipv4(fr[off:])
        elif etype == 0x86DD:
            self.ipv6(fr[off:])
        else:
            self.other.append(fr)

    def ipv4(self, p):
        ihl = (p[0] & 15) * 4
        total = struct.unpack_from("!H", p, 2)[0] or len(p)   # 0: GSO > 64K
        ident, frag = struct.unpack_from("!HH", p, 4)
        proto, src, dst = p[9], p[12:16], p[16:20]
        payload = p[ihl:total]
        if frag & 0x3FFF:                      # MF or offset
            self.fragmented += 1
            payload = self.reasm((4, src, dst, ident, proto), (frag & 0x1FFF) * 8,
                                 bool(frag & 0x2000), payload)
            if payload is None:
                return
        self.l4(4, proto, src, dst, payload)

    def ipv6(self, p):
        plen = struct.unpack_from("!H", p, 4)[0] or len(p) - 40
        nh, src, dst, off = p[6], p[8:24], p[24:40], 40
        end = 40 + plen
        frag = None
        while nh in (0, 43, 60, 44, 51):
            if nh == 44:
                fo, ident = struct.unpack_from("!HI", p, off + 2)
                frag = (fo & 0xFFF8, bool(fo & 1), ident)
                nh, off = p[off], off + 8
            elif nh == 51:
                nh, off = p[off], off + (p[off + 1] + 2) * 4
            else:
                nh, off = p[off], off + (p[off + 1] + 1) * 8
        payload = p[off:end]
        if frag:
            self.fragmented += 1
            payload = self.reasm((6, src, dst, frag[2]), frag[0], frag[1], payload)
            if payload is None:
                return
        self.l4(6, nh, src, dst, payload)

    def reasm(self, key, offset, more, data):
        ent = self.frags.setdefault(key, {"parts": {}, "end": None})
        ent["parts"][offset] = data
        if not more:
            ent["end"] = offset + len(data)
        if ent["end"] is None:
            return None
        buf, pos = bytearray(), 0
        for o in sorted(ent["parts"]):
            if o > pos:
                return None
            buf[o:] = ent["parts"][o]
            pos = max(pos, o + len(ent["parts"][o]))
        if pos < ent["end"]:
            return None
        del self.frags[key]
        return bytes(buf[:ent["end"]])

    def l4(self, fam, proto, src, dst, p):
        if proto == 6:
            self.tcp_seg(fam, src, dst, p)
        elif proto == 17:
            sport, dport = struct.unpack_from("!HH", p, 0)
            self.udp[(fam, sport, dport, p[8:])] += 1
        elif proto in (1, 58):
            self.icmp[(fam, p[0], p[1], p[4:])] += 1
        else:
            self.other.append(p)

    def tcp_seg(self, fam, src, dst, p):
        sport, dport, seq, ack = struct.unpack_from("!HHII", p, 0)
        doff, flags = (p[12] >> 4) * 4, p[13]
        data = p[doff:]
        key = (fam, dst, dport, src, sport)        # client side first
        c = self.tcp.get(key)
        if c is None:
            c = self.tcp[key] = {"isn": None, "segs": [], "fin": None, "rst": None,
                                 "retrans": 0, "high": 0}
            self.tcp_order.append(key)
        if flags & 0x12 == 0x12:                   # SYN-ACK
            if c["isn"] is not None and c["isn"] != seq:
                c["isn_conflict"] = True
            c["isn"] = seq
            return
        if c["isn"] is None:
            c["no_synack"] = True
            return
        if flags & 0x10:                           # highest ACK sent (wrap-safe)
            if c.get("ack") is None or 0 < (ack - c["ack"]) & 0xFFFFFFFF < 1 << 31:
                c["ack"] = ack
        rel = (seq - c["isn"] - 1) & 0xFFFFFFFF
        if data:
            if rel < c["high"]:                    # below what was sent already
                c["retrans"] += 1
            c["high"] = max(c["high"], rel + len(data))
            c["segs"].append((rel, data))
        if flags & 0x01:
            c["fin"] = rel + len(data)
        if flags & 0x04:
            c["rst"] = rel + len(data)

    def streams(self):
        for c in self.tcp.values():
            buf, holes, bad = bytearray(), 0, False
            for rel, data in sorted(c["segs"], key=lambda s: s[0]):
                if rel > len(buf):
                    holes += rel - len(buf)
                    buf.extend(bytes(rel - len(buf)))
                overlap = min(len(buf) - rel, len(data))
                if overlap > 0 and buf[rel:rel + overlap] != data[:overlap]:
                    bad = True
                buf.extend(data[max(overlap, 0):])
            c["stream"] = bytes(buf)
            c["holes"] = holes
            c["rexmit_changed"] = bad


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return None if len(a) == len(b) else n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pvm")
    ap.add_argument("svm")
    ap.add_argument("--expect", choices=("match", "diverge"), default="match")
    ap.add_argument("--diverge-port", type=int)
    ap.add_argument("--diverge-offset", type=int)
    ap.add_argument("--vlan", type=int)
    ap.add_argument("--want-retrans", action="store_true")
    ap.add_argument("--want-seg-diff", action="store_true")
    ap.add_argument("--want-frags", action="store_true")
    ap.add_argument("--min-conns", type=int, default=0)
    a = ap.parse_args()

    P, S = Side(read_pcap(a.pvm)), Side(read_pcap(a.svm))
    P.streams()
    S.streams()
    bad = []
    out = collections.OrderedDict()
    out["pvm_frames"], out["svm_frames"] = P.frames, S.frames
    out["pvm_max_frame"], out["svm_max_frame"] = P.max_frame, S.max_frame
    out["pvm_big_frames"], out["svm_big_frames"] = P.big_frames, S.big_frames
    out["tcp_conns"] = len(set(P.tcp) | set(S.tcp))
    out["pvm_fragments"], out["svm_fragments"] = P.fragmented, S.fragmented

    isn_same = isn_diff = 0
    for key in P.tcp_order:
        cp, cs = P.tcp[key], S.tcp.get(key)
        if cs is None or cp["isn"] is None or cs["isn"] is None:
            continue
        if cp["isn"] == cs["isn"]:
            isn_same += 1
        else:
            isn_diff += 1
    out["isn_equal"], out["isn_differ"] = isn_same, isn_diff
    out["pvm_retrans_segs"] = sum(c["retrans"] for c in P.tcp.values())
    out["svm_retrans_segs"] = sum(c["retrans"] for c in S.tcp.values())
    out["pvm_stream_bytes"] = sum(len(c["stream"]) for c in P.tcp.values())
    out["svm_stream_bytes"] = sum(len(c["stream"]) for c in S.tcp.values())

    for name, side in (("pvm", P), ("svm", S)):
        if side.other:
            bad.append("%s: %d frames that are neither TCP, UDP nor ICMP" %
                       (name, len(side.other)))
        if side.frags:
            bad.append("%s: %d incomplete IP datagrams" % (name, len(side.frags)))
        for key, c in side.tcp.items():
            if c.get("no_synack") or c.get("isn_conflict"):
                bad.append("%s: connection %s without one clear SYN-ACK" % (name, key[2]))
            if c["holes"]:
                bad.append("%s: port %d stream has %d missing bytes" % (name, key[2], c["holes"]))
            if c["rexmit_changed"]:
                bad.append("%s: port %d retransmission changed bytes" % (name, key[2]))
        if a.vlan is not None and (len(side.vlans) != 1 or a.vlan not in side.vlans):
            bad.append("%s: VLAN tags %s, expected all %d" % (name, dict(side.vlans), a.vlan))
    if a.vlan is None and (set(P.vlans) | set(S.vlans)) - {None}:
        bad.append("unexpected VLAN tags")
    if isn_diff:
        bad.append("%d connections with different server ISNs" % isn_diff)
    if out["tcp_conns"] < a.min_conns:
        bad.append("only %d TCP connections" % out["tcp_conns"])
    if set(P.tcp) != set(S.tcp):
        bad.append("connection sets differ")

    diverged = []
    for key in P.tcp_order:
        cp, cs = P.tcp[key], S.tcp.get(key)
        if cs is None:
            continue
        d = first_diff(cp["stream"], cs["stream"])
        if d is not None:
            diverged.append((key, d))
        elif cp["fin"] != cs["fin"] or cp["rst"] != cs["rst"]:
            diverged.append((key, "fin/rst"))
        elif cp.get("ack") != cs.get("ack"):
            diverged.append((key, "final ack"))
    if P.udp != S.udp:
        diverged.append(("udp", None))
    if P.icmp != S.icmp:
        diverged.append(("icmp", None))
    out["udp_datagrams"] = sum(P.udp.values())
    out["icmp_messages"] = sum(P.icmp.values())

    if a.expect == "match":
        for key, d in diverged:
            bad.append("diverges: %s at %s" % (key if isinstance(key, str) else
                                               "port %d->%d" % (key[4], key[2]), d))
    else:
        first = [(k, d) for k, d in diverged
                 if not isinstance(k, str) and k[4] == a.diverge_port]
        if not first:
            bad.append("no diverging connection on port %s" % a.diverge_port)
        else:
            out["first_diverge_offset"] = first[0][1]
            if first[0][1] != a.diverge_offset:
                bad.append("first difference at %s, info says %s" %
                           (first[0][1], a.diverge_offset))
    if a.want_retrans and not out["svm_retrans_segs"]:
        bad.append("svm capture has no retransmitted sequence range")
    if a.want_seg_diff and not (P.big_frames and not S.big_frames):
        bad.append("segmentation does not differ (big frames pvm %d svm %d)" %
                   (P.big_frames, S.big_frames))
    if a.want_frags and not (P.fragmented and S.fragmented):
        bad.append("no IP fragments")

    for k, v in out.items():
        print("%s=%s" % (k, v))
    for b in bad:
        print("pcapcheck: " + b, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
