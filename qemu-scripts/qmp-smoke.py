#!/usr/bin/env python3
"""qemu-scripts/qmp-smoke.py: COLO checkpoint smoke test on loopback.

Starts a primary and a secondary QEMU (no disk, no netdev) from a kernel and
an initramfs, puts them into COLO state over QMP and forces N checkpoints
with migrate-set-parameters x-checkpoint-delay, one at a time: each must
give STOP and RESUME on both VMs within --timeout seconds, and neither
guest's serial console may show a kernel Oops or panic.  It checks both
fixes of patches/colo-tcg-bql.patch: Debian's stock QEMU 7.2 usually
deadlocks within the first few checkpoints (a race: it can also survive),
and without the dirty-tracking fix the secondary's kernel dies within a few
dozen checkpoints in about a third of the runs.

  qemu-scripts/qmp-smoke.py --qemu "$(qemu-scripts/build-qemu.sh)" \\
      --kernel vmlinuz --initrd initrd.gz --ready 'tick' --checkpoints 40

The guest's console must be its first serial port (console=ttyS0 is
passed); --ready waits for a text on it before migrating.  Exit status 0
if all went well; the last line is "checkpoints: N passed, N failed".
Only loopback is used (the migration channel on 127.0.0.1); both QEMUs are
started here and ended by PID (TERM, then KILL: a deadlocked one needs it).
"""

import argparse
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

NO_PERIODIC = 4294967295  # x-checkpoint-delay that stops timer checkpoints


class Qmp:
    """A QMP connection that keeps every event with its arrival time."""

    def __init__(self, name, path, timeout):
        self.name = name
        self.events = []  # (monotonic time, event name, data)
        self.buf = b""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: no QMP socket at {path}")
                time.sleep(0.1)
        greeting = self._read(timeout)
        if "QMP" not in greeting:
            raise RuntimeError(f"{name}: unexpected QMP greeting {greeting}")

    def _read(self, timeout):
        """Return the next JSON message, or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = max(0.0, deadline - time.monotonic())
            if not select.select([self.sock], [], [], left)[0]:
                raise TimeoutError(f"{self.name}: QMP silent for {timeout}s")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"{self.name}: QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def pump(self, timeout):
        """Read one message if one arrives within timeout; keep events."""
        try:
            msg = self._read(timeout)
        except TimeoutError:
            return None
        if "event" in msg:
            self.events.append((time.monotonic(), msg["event"], msg.get("data")))
            return None
        return msg

    def cmd(self, name, timeout=10, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no reply to {name} in {timeout}s")
            msg = self.pump(left)
            if msg is None:
                continue
            if "error" in msg:
                raise RuntimeError(f"{self.name}: {name}: {msg['error']}")
            return msg.get("return")

    def find(self, event, since):
        """Time of the first `event` at index >= since, or None."""
        for t, name, _ in self.events[since:]:
            if name == event:
                return t
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_argv(a, role, workdir, port):
    argv = [a.qemu, "-accel", "tcg", "-M", a.machine, "-nodefaults",
            "-display", "none", "-m", str(a.mem), "-smp", "1",
            "-L", "/usr/share/qemu", "-L", "/usr/share/seabios",
            "-kernel", a.kernel, "-initrd", a.initrd,
            "-append", f"console=ttyS0 panic=-1 {a.append}".strip(),
            "-no-reboot",
            "-chardev", f"file,id=ser0,path={workdir}/{role}.serial",
            "-serial", "chardev:ser0",
            "-qmp", f"unix:{workdir}/{role}.qmp,server=on,wait=off"]
    if a.nic:
        argv += ["-device", f"{a.nic},mac=52:54:00:c0:10:01"]
    if role == "secondary":
        argv += ["-incoming", f"tcp:127.0.0.1:{port}"]
    return argv


def start(argv, workdir, role):
    with open(f"{workdir}/{role}.log", "wb") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)


def stop(proc):
    """End a QEMU we started: TERM, then KILL (a deadlocked one ignores TERM)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_serial(path, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if text.encode() in f.read():
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.2)
    return False


def guest_trouble(path):
    """Kernel crash reports on a guest's serial console, as a short string."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    found = [w.decode() for w in (b"Oops", b"BUG:", b"Kernel panic")
             if w in text]
    return ", ".join(found)


def enter_colo(pri, sec, port, timeout):
    for q in (pri, sec):
        q.cmd("migrate-set-capabilities", capabilities=[
            {"capability": "x-colo", "state": True},
            {"capability": "events", "state": True}])
    pri.cmd("migrate-set-parameters", **{"x-checkpoint-delay": NO_PERIODIC})
    t0 = time.monotonic()
    pri.cmd("migrate", uri=f"tcp:127.0.0.1:{port}")
    while True:
        st = pri.cmd("query-migrate").get("status")
        if st == "colo":
            break
        if st in ("failed", "cancelled") or time.monotonic() - t0 > timeout:
            raise RuntimeError(f"migration status {st!r}, not 'colo'")
        time.sleep(0.1)
    took = time.monotonic() - t0
    while pri.cmd("query-status")["status"] != "running" or \
            sec.cmd("query-status")["status"] != "running":
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("VMs not both running after entering COLO")
        time.sleep(0.1)
    return took


def checkpoint(pri, sec, timeout):
    """Force one checkpoint; return (request->STOP, STOP->RESUME, secondary
    STOP->RESUME) in ms, or raise TimeoutError naming what is missing."""
    mp, ms = len(pri.events), len(sec.events)
    t0 = time.monotonic()
    pri.cmd("migrate-set-parameters", timeout=timeout,
            **{"x-checkpoint-delay": NO_PERIODIC})
    deadline = t0 + timeout
    while True:
        marks = {"primary STOP": pri.find("STOP", mp),
                 "primary RESUME": pri.find("RESUME", mp),
                 "secondary STOP": sec.find("STOP", ms),
                 "secondary RESUME": sec.find("RESUME", ms)}
        if all(marks.values()):
            break
        if time.monotonic() > deadline:
            missing = [k for k, v in marks.items() if v is None]
            raise TimeoutError(f"no {', '.join(missing)} within {timeout}s")
        pri.pump(0.02)
        sec.pump(0.0)
    return (millis(t0, marks["primary STOP"]),
            millis(marks["primary STOP"], marks["primary RESUME"]),
            millis(marks["secondary STOP"], marks["secondary RESUME"]))


def millis(t_from, t_to):
    return (t_to - t_from) * 1000.0


def summary(name, values):
    v = sorted(values)
    return (f"{name}: median {statistics.median(v):.1f} ms, "
            f"min {v[0]:.1f}, max {v[-1]:.1f}")


def force_checkpoints(pri, sec, a):
    """Force a.checkpoints checkpoints one after another; return the timings
    of those that went through (stops at the first that does not)."""
    results = []
    for i in range(1, a.checkpoints + 1):
        try:
            r = checkpoint(pri, sec, a.timeout)
        except (TimeoutError, RuntimeError) as e:
            print(f"checkpoint {i}: FAILED: {e}", flush=True)
            break
        results.append(r)
        print(f"checkpoint {i}: request->STOP {r[0]:.1f} ms, "
              f"STOP->RESUME {r[1]:.1f} ms (secondary {r[2]:.1f} ms)",
              flush=True)
    if results:
        print(summary("request->STOP", [r[0] for r in results]))
        print(summary("primary STOP->RESUME", [r[1] for r in results]))
        print(summary("secondary STOP->RESUME", [r[2] for r in results]))
    return results


def check_after(pri, sec, workdir, problems):
    """Both VMs still running and in COLO, and the primary's console moving."""
    size0 = os.path.getsize(f"{workdir}/primary.serial")
    time.sleep(2)
    grew = os.path.getsize(f"{workdir}/primary.serial") - size0
    st = pri.cmd("query-migrate")["status"]
    passes = sum(1 for _, n, _ in pri.events if n == "MIGRATION_PASS")
    run_p = pri.cmd("query-status")["status"]
    run_s = sec.cmd("query-status")["status"]
    print(f"after: primary migration status {st!r}, {passes} MIGRATION_PASS "
          f"events; VMs {run_p}/{run_s}; primary console +{grew} bytes in 2 s",
          flush=True)
    if st != "colo":
        problems.append(f"primary left COLO (status {st!r})")
    if (run_p, run_s) != ("running", "running"):
        problems.append(f"VMs not both running ({run_p}/{run_s})")


def run(a, workdir, problems):
    """Start both VMs, enter COLO, force the checkpoints; return how many
    went through.  Anything else wrong is appended to problems."""
    port = a.port or free_port()
    procs = {}
    done = 0
    try:
        for role in ("secondary", "primary"):
            argv = qemu_argv(a, role, workdir, port)
            print(f"{role}: {' '.join(argv)}", flush=True)
            procs[role] = start(argv, workdir, role)
        sec = Qmp("secondary", f"{workdir}/secondary.qmp", 10)
        pri = Qmp("primary", f"{workdir}/primary.qmp", 10)
        for q in (pri, sec):
            q.cmd("qmp_capabilities")
        if a.ready and not wait_serial(f"{workdir}/primary.serial", a.ready, 120):
            raise RuntimeError(f"primary guest never printed {a.ready!r}")
        took = enter_colo(pri, sec, port, 60)
        print(f"COLO state after {took:.2f}s", flush=True)
        done = len(force_checkpoints(pri, sec, a))
        if done == a.checkpoints:
            check_after(pri, sec, workdir, problems)
        return done
    finally:
        for role in ("primary", "secondary"):
            if role in procs:
                stop(procs[role])
            trouble = guest_trouble(f"{workdir}/{role}.serial")
            if trouble:
                problems.append(f"{role} guest console shows {trouble}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qemu", required=True, help="qemu-system-x86_64 to test")
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--checkpoints", type=int, default=20)
    p.add_argument("--timeout", type=float, default=30,
                   help="seconds one checkpoint may take (default 30)")
    p.add_argument("--ready", help="text on the primary's serial console "
                   "that means the guest is up (migrate after it)")
    p.add_argument("--append", default="", help="more kernel parameters")
    p.add_argument("--machine", default="pc")
    p.add_argument("--mem", type=int, default=192, help="MiB (default 192)")
    p.add_argument("--nic", help="add an unconnected NIC, e.g. virtio-net-pci")
    p.add_argument("--port", type=int, default=0, help="migration port on "
                   "127.0.0.1 (default: a free one)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory (serial logs, QEMU output)")
    a = p.parse_args()
    workdir = tempfile.mkdtemp(prefix="colokit-qmp-smoke.")
    ok, problems = 0, []
    try:
        ok = run(a, workdir, problems)
    except (RuntimeError, TimeoutError, OSError) as e:
        problems.append(str(e))
    finally:
        for role in ("primary", "secondary"):
            log = f"{workdir}/{role}.log"
            if os.path.exists(log) and os.path.getsize(log):
                with open(log, errors="replace") as f:
                    print(f"{role} QEMU said: {f.read().strip()}")
        if a.keep:
            print(f"work directory kept: {workdir}")
        else:
            subprocess.run(["rm", "-rf", workdir], check=False)
    for p in problems:
        print(f"qmp-smoke: FAIL: {p}")
    print(f"checkpoints: {ok} passed, {a.checkpoints - ok} failed")
    return 0 if ok == a.checkpoints and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
