"""Run one command and report its wall time and the CPU of its whole process tree (JSON).

    python bench/tools/measure.py --stdout F --stderr F --timeout S -- COMMAND...

This process becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so descendants that
detach (ssh ControlPersist masters, daemonized helpers) are reparented to it instead of init.
After COMMAND ends, any such leftover descendant (found by PPid == our pid: processes the
command started) gets SIGTERM, then SIGKILL after a deadline, and is reaped; only then is
``getrusage(RUSAGE_CHILDREN)`` read, so its CPU counts too. On timeout the command's process
group (its own session) is killed. Wall time covers COMMAND only, not the clean-up.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def my_children() -> list[int]:
    me = str(os.getpid())
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces or parentheses; split after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == me:
            out.append(int(entry.name))
    return out


def reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def clean_up(deadline_s: float = 10.0) -> int:
    """SIGTERM leftover (reparented) descendants, SIGKILL after the deadline; reap them."""
    left = my_children()
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + deadline_s
    while my_children() and time.monotonic() < end:
        reap_all()
        time.sleep(0.05)  # polling for exits with a deadline (not a test)
    for pid in my_children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    while my_children():
        reap_all()
        time.sleep(0.02)
    reap_all()
    return len(left)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stdout", required=True)
    ap.add_argument("--stderr", required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--cwd", default=None)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    subreaper = set_subreaper()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    timed_out = False
    with open(a.stdout, "wb") as out, open(a.stderr, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=a.cwd)  # fmt: skip

        def on_term(_sig: int, _frame: object) -> None:  # our caller gives up: end the command
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            clean_up(2.0)
            sys.exit(143)

        signal.signal(signal.SIGTERM, on_term)
        try:
            rc = proc.wait(timeout=a.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
        wall = time.monotonic() - t0
    leftovers = clean_up()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    json.dump({
        "rc": rc, "wall": wall, "timed_out": timed_out,
        "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
        "leftovers": leftovers, "subreaper": subreaper,
    }, sys.stdout)  # fmt: skip
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
