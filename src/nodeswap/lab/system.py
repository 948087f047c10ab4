"""Machine-level primitives of the lab: bind mounts, recorded processes, file limits.

Owns: the records of everything the lab starts or mounts (so `lab down` can stop exactly
those), and the checks that a recorded PID is still the process we started (its start time
and command line), so a recycled PID is never signalled. Must not: kill or unmount anything
it did not record, or touch anything outside the lab's state directory and 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import resource
import shutil
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from nodeswap.errors import LabError
from nodeswap.i18n import _

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise LabError(_("{what}: {strerror} (errno {err})").format(what=what,
                         strerror=os.strerror(err), err=err))


def bind_mount(source: Path, target: Path, *, readonly: bool) -> None:
    """Bind ``source`` on ``target`` (non-recursive); read-only needs a second remount call."""
    _check(
        _libc.mount(str(source).encode(), str(target).encode(), None, MS_BIND, None),
        f"bind mount {source} on {target}",
    )
    if readonly:
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        rc = _libc.mount(b"none", str(target).encode(), None, flags, None)
        if rc != 0:
            unmount(target)
            _check(rc, f"remount {target} read-only")


def unmount(target: Path) -> None:
    """Unmount ``target``; if it is busy, detach it lazily (the kernel frees it when idle)."""
    if _libc.umount2(str(target).encode(), 0) == 0:
        return
    _check(_libc.umount2(str(target).encode(), MNT_DETACH), f"unmount {target}")


def mounted_targets() -> set[str]:
    """Mount points currently in this mount namespace (from /proc/self/mountinfo)."""
    out: set[str] = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        field = line.split(" ")[4]
        out.add(field.encode().decode("unicode_escape"))
    return out


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards ``wanted`` (inherited by children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    new_hard = max(hard, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, new_hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcRecord:
    """A process the lab started: its PID, kernel start time and a command-line marker."""

    pid: int
    start_time: int
    marker: str  # a string its /proc/PID/cmdline must contain (e.g. its config path)
    what: str  # human label: "controller", "sshd proxy0", ...

    @classmethod
    def of(cls, pid: int, marker: str, what: str) -> ProcRecord:
        started = proc_start_time(pid)
        if started is None:
            raise LabError(_("process {pid} ({what}) exited right after it was started").format(
                pid=pid, what=what))
        return cls(pid, started, marker, what)

    def is_alive(self) -> bool:
        """True only if PID still runs the very process we recorded (not a recycled PID)."""
        if proc_start_time(self.pid) != self.start_time:
            return False
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return self.marker.encode() in cmdline


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2 :].split()
    if rest[0] == "Z":
        return None
    return int(rest[19])


def stop_process(rec: ProcRecord, *, timeout: float = 5.0) -> bool:
    """SIGTERM the recorded process, wait until gone (deadline), then SIGKILL. True if it ran."""
    if not rec.is_alive():
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(rec.pid, signal.SIGCONT)
        os.kill(rec.pid, signal.SIGTERM)
    if not wait_until(lambda: not rec.is_alive(), timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, signal.SIGKILL)
        wait_until(lambda: not rec.is_alive(), timeout)
    return True


def wait_until(cond: object, timeout: float, interval: float = 0.01) -> bool:
    """Poll ``cond()`` until true or the deadline passes; returns its last value."""
    assert callable(cond)
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ---------------------------------------------------------------------------- records


class Records:
    """The lab's records under ``STATE/records``: processes (JSON lines) and mounts (lines).

    Append-only while the lab runs, so a crash leaves a complete list for `lab down`.
    A line is appended *before* a mount is attempted, so a crash between the two is harmless
    (unmounting something not mounted is skipped).
    """

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "records"
        self.procs = self.dir / "procs.jsonl"
        self.mounts = self.dir / "mounts.txt"

    def ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def add_proc(self, rec: ProcRecord) -> None:
        with self.procs.open("a") as f:
            f.write(json.dumps(asdict(rec)) + "\n")

    def add_mount(self, target: Path) -> None:
        with self.mounts.open("a") as f:
            f.write(str(target) + "\n")

    def proc_records(self) -> list[ProcRecord]:
        if not self.procs.exists():
            return []
        return [ProcRecord(**json.loads(line)) for line in self.procs.read_text().splitlines()]

    def mount_records(self) -> list[Path]:
        if not self.mounts.exists():
            return []
        return [Path(line) for line in self.mounts.read_text().splitlines() if line]

    def live_procs(self) -> list[ProcRecord]:
        return [r for r in self.proc_records() if r.is_alive()]

    def live_mounts(self) -> list[Path]:
        now = mounted_targets()
        return [m for m in _unique(self.mount_records()) if str(m) in now]


def _unique(paths: Iterable[Path]) -> Iterator[Path]:
    seen: set[Path] = set()
    for p in paths:
        if p not in seen:
            seen.add(p)
            yield p


def release_all(records: Records) -> tuple[list[str], list[str]]:
    """Stop every recorded live process, unmount every recorded mount (reverse order).

    Returns (stopped process labels, unmounted paths). Idempotent.
    """
    me = os.getpid()
    stopped = [r.what for r in records.proc_records() if r.pid != me and stop_process(r)]
    unmounted: list[str] = []
    for target in reversed(records.live_mounts()):
        unmount(target)
        unmounted.append(str(target))
    return stopped, unmounted


def processes_under(path: Path) -> list[int]:
    """PIDs whose root directory or stderr lies under ``path`` (this process excluded).

    Sessions of a lab host are chrooted into its root, and every sshd process of a host
    (listener, per-connection monitors) writes its log to stderr, a file under the state
    directory: so this finds exactly the lab's processes, by what they are, not by name.
    """
    prefix = str(path).rstrip("/") + "/"
    me = os.getpid()
    found: list[int] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        for link in ("root", "fd/2"):
            try:
                target = os.readlink(f"/proc/{entry.name}/{link}")
            except OSError:
                continue
            if (target + "/").startswith(prefix):
                found.append(int(entry.name))
                break
    return found


def kill_pids(pids: Iterable[int], *, timeout: float = 5.0) -> list[int]:
    """SIGKILL the given PIDs (already identified as lab processes), wait until they are gone."""
    pids = list(pids)
    starts = {p: proc_start_time(p) for p in pids}
    live = [p for p in pids if starts[p] is not None]
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)
    wait_until(lambda: all(proc_start_time(p) != starts[p] for p in live), timeout)
    return live


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (to refuse deleting through a bind mount)."""
    prefix = str(path).rstrip("/")
    return sorted(m for m in mounted_targets() if m == prefix or m.startswith(prefix + "/"))


def safe_rmtree(path: Path) -> None:
    """Delete a lab folder, but never while anything is mounted below it (/usr, /dev binds)."""
    busy = mounts_under(path)
    if busy:
        raise LabError(_("refusing to delete {path}: still mounted below it: {busy}").format(
            path=path, busy=busy[:3]))
    shutil.rmtree(path, ignore_errors=True)
