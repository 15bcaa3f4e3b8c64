#!/usr/bin/env python3
"""Attach tiny eBPF tc programs (clsact, direct-action) without clang or bpffs.

This kernel has no 8021q module (no VLAN sub-interfaces), no act_vlan and no
act_gact, but it has cls_bpf.  This tool hand-assembles a few eBPF programs,
loads them with the bpf(2) syscall and attaches them with one rtnetlink
RTM_NEWTFILTER message, so nothing is pinned or mounted: the filter holds the
only reference and disappears with its device or namespace.  Run it inside
the namespace that owns DEV (ip netns exec NS tcbpf.py ...).

  tcbpf.py vlan-push DEV ingress|egress PRIO VID   push an 802.1Q tag VID
  tcbpf.py vlan-pop  DEV ingress|egress PRIO       pop the outer tag if any
  tcbpf.py drop      DEV ingress|egress PRIO       drop everything

Every program returns TC_ACT_UNSPEC (-1) except drop (TC_ACT_SHOT), so later
filters (e.g. a mirred mirror at a higher PRIO) still see the packet.
The device must already have a clsact qdisc (tc qdisc add dev DEV clsact).
"""
import ctypes
import os
import socket
import struct
import sys

NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "armv7l": 386,
          "ppc64le": 361, "s390x": 351}
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SCHED_CLS = 3
FN_SKB_VLAN_PUSH = 18
FN_SKB_VLAN_POP = 19
TC_ACT_SHOT = 2
TC_ACT_UNSPEC = -1


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov64_imm(dst, imm):
    return insn(0xb7, dst=dst, imm=imm)      # BPF_ALU64 | BPF_MOV | BPF_K


def call(fn):
    return insn(0x85, imm=fn)                # BPF_JMP | BPF_CALL


EXIT = insn(0x95)                            # BPF_JMP | BPF_EXIT


def program(kind, vid=0):
    if kind == "vlan-push":
        # r1 = skb (already); r2 = htons(ETH_P_8021Q); r3 = vid
        body = (mov64_imm(2, socket.htons(0x8100)) + mov64_imm(3, vid) +
                call(FN_SKB_VLAN_PUSH) + mov64_imm(0, TC_ACT_UNSPEC))
    elif kind == "vlan-pop":
        body = call(FN_SKB_VLAN_POP) + mov64_imm(0, TC_ACT_UNSPEC)
    elif kind == "drop":
        body = mov64_imm(0, TC_ACT_SHOT)
    else:
        raise SystemExit("tcbpf: unknown program " + kind)
    return body + EXIT


def bpf_prog_load(code, name):
    libc = ctypes.CDLL(None, use_errno=True)
    nr = NR_BPF.get(os.uname().machine)
    if nr is None:
        raise SystemExit("tcbpf: unknown bpf syscall number for " + os.uname().machine)
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack("<IIQQIIQII16s", BPF_PROG_TYPE_SCHED_CLS, len(code) // 8,
                       ctypes.addressof(insns), ctypes.addressof(lic),
                       1, len(log), ctypes.addressof(log), 0, 0,
                       name.encode()[:15])
    attr = ctypes.create_string_buffer(attr + bytes(128 - len(attr)), 128)
    fd = libc.syscall(nr, BPF_PROG_LOAD, attr, 128)
    if fd < 0:
        err = ctypes.get_errno()
        raise SystemExit("tcbpf: BPF_PROG_LOAD: %s\n%s" %
                         (os.strerror(err), log.value.decode(errors="replace")))
    return fd


def nla(atype, payload):
    hdr = struct.pack("<HH", 4 + len(payload), atype)
    pad = (4 - len(payload) % 4) % 4
    return hdr + payload + bytes(pad)


def attach(dev, direction, prio, fd, name):
    RTM_NEWTFILTER = 44
    NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 1, 4, 0x200, 0x400
    TCA_KIND, TCA_OPTIONS = 1, 2
    TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8
    parent = {"ingress": 0xFFFFFFF2, "egress": 0xFFFFFFF3}[direction]
    ifindex = socket.if_nametoindex(dev)
    info = (prio << 16) | socket.htons(0x0003)          # ETH_P_ALL
    opts = (nla(TCA_BPF_FD, struct.pack("<I", fd)) +
            nla(TCA_BPF_NAME, name.encode() + b"\0") +
            nla(TCA_BPF_FLAGS, struct.pack("<I", 1)))    # direct action
    body = (struct.pack("<BBHiIII", socket.AF_UNSPEC, 0, 0, ifindex, 0, parent, info) +
            nla(TCA_KIND, b"bpf\0") + nla(TCA_OPTIONS | 0x8000, opts))
    msg = struct.pack("<IHHII", 16 + len(body), RTM_NEWTFILTER,
                      NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE, 1, 0) + body
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        s.settimeout(5)
        s.bind((0, 0))
        s.send(msg)
        reply = s.recv(65536)
    finally:
        s.close()
    _, mtype = struct.unpack_from("<IH", reply)
    if mtype == 2:                                       # NLMSG_ERROR
        err = struct.unpack_from("<i", reply, 16)[0]
        if err:
            raise SystemExit("tcbpf: RTM_NEWTFILTER on %s %s: %s" %
                             (dev, direction, os.strerror(-err)))


def main(argv):
    if len(argv) < 5:
        raise SystemExit(__doc__)
    kind, dev, direction, prio = argv[1], argv[2], argv[3], int(argv[4])
    vid = int(argv[5]) if kind == "vlan-push" else 0
    if kind == "vlan-push" and not 0 < vid < 4095:
        raise SystemExit("tcbpf: bad VID")
    name = "ck_" + kind.replace("-", "_")
    fd = bpf_prog_load(program(kind, vid), name)
    attach(dev, direction, prio, fd, name)
    os.close(fd)


if __name__ == "__main__":
    main(sys.argv)
