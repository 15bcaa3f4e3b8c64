#!/usr/bin/python3
# subreaper.py CMD...: run CMD below a child subreaper, so that the
# processes it daemonizes (libvirtd double-forks QEMU) are reaped here at
# once when they exit, not by PID 1 (in a container PID 1 may reap late,
# and libvirt waits for a destroyed QEMU to be gone). TERM, INT and HUP go
# to CMD; this exits with CMD's status once CMD exits.
import ctypes, os, signal, sys

PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
    sys.exit("subreaper: prctl: %s" % os.strerror(ctypes.get_errno()))
child = os.fork()
if child == 0:
    try:
        os.execv(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)

def forward(sig, _frame):
    try:
        os.kill(child, sig)
    except ProcessLookupError:
        pass

for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, forward)
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        sys.exit(1)
    if pid == child:
        code = os.waitstatus_to_exitcode(status)
        sys.exit(code if code >= 0 else 128 - code)
