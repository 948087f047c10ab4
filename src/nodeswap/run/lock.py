"""The zone lock on firstbox: its content (``Lock``), the commands that take and release it,
and ``ZoneLock``, the executor's hold on it for one run (taken before the first step and
released after the last, or after a rollback).

The lock is a file created with O_EXCL (``set -C``) on the plan's ``firstbox_target``;
``runs.start`` takes it for the run it is about to record, so the executor that then drives
that run in this process finds it its own (``Lock.is_this_process``).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from dataclasses import dataclass

from nodeswap.errors import LockHeld, TransportError
from nodeswap.i18n import _
from nodeswap.plan.model import Plan, Target
from nodeswap.run.events import EventSink, Notice
from nodeswap.shell import chain, cmd
from nodeswap.transport.base import Connector

DEFAULT_LOCK_PATH = "/var/lib/nodeswap/zone.lock"
LOCK_TIMEOUT = 30.0


CLIENT_HOST_ENV = "NODESWAP_CLIENT_HOST"


def client_host() -> str:
    """This machine's name as the lock records it: $NODESWAP_CLIENT_HOST when set (machines
    that share a hostname, e.g. containers; the take-over tests' "other machine"), else the
    hostname."""
    return os.environ.get(CLIENT_HOST_ENV) or socket.gethostname()


def operator_name() -> str:
    return f"{getpass.getuser()}@{client_host()}"


@dataclass(frozen=True)
class Lock:
    """The zone lock's content on firstbox."""

    run_id: str
    operator: str
    client_host: str
    pid: int
    since: float
    # a take-over (resume --take-over, issue 11): the holder it was taken from
    previous_holder: str | None = None  # operator
    previous_host: str | None = None  # its client_host
    previous_pid: int | None = None

    def to_line(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v is not None},
                          sort_keys=True)  # fmt: skip

    @classmethod
    def from_text(cls, text: str) -> Lock | None:
        try:
            d = json.loads(text.strip().splitlines()[0])
            prev_pid = d.get("previous_pid")
            return cls(str(d["run_id"]), str(d["operator"]), str(d["client_host"]),
                       int(d["pid"]), float(d["since"]), d.get("previous_holder"),
                       d.get("previous_host"),
                       None if prev_pid is None else int(prev_pid))  # fmt: skip
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def is_this_process(self, run_id: str) -> bool:
        """True when this very process took the lock for ``run_id`` (``runs.start`` takes it
        before the run is recorded; ``execute`` then goes on under it)."""
        return (self.run_id == run_id and self.client_host == client_host()
                and self.pid == os.getpid())

    def is_stale_here(self) -> bool:
        """True when the lock was taken on this machine by a process that is gone."""
        if self.client_host != client_host():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def take_lock_command(path: str, mine: Lock) -> str:
    """Create the lock file with O_EXCL (``set -C``); when it exists, print it and exit 3."""
    write = cmd("printf", "%s\n", mine.to_line())
    return chain(
        cmd("mkdir", "-p", os.path.dirname(path) or "/"),
        f"{{ (set -C; {write} > {cmd(path)}) 2>/dev/null"
        f" || {{ {cmd('cat', path)}; exit 3; }}; }}",
    )


def release_lock_command(path: str, run_id: str) -> str:
    """Remove the lock file when (and only when) it names ``run_id``."""
    return f"grep -qF {cmd(run_id)} {cmd(path)} && {cmd('rm', '-f', path)}"


def lock_message(path: str, target: Target, held: Lock | None, raw: str) -> str:
    """LockHeld's text: who holds the lock, since when, whether it looks stale."""
    if held is None:
        return _("zone locked: {file} on {host} holds {text}; if no run is active, use "
                 "--break-lock").format(file=path, host=target.name, text=repr(raw.strip()))
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(held.since))
    stale = (
        _(" It looks STALE (that process is gone).")
        if held.is_stale_here()
        else _(" It may be stale if that process is gone.")
    )
    return _(
        "zone locked by run {run} of {operator} (pid {pid} on {client}, since {since}), lock "
        "file {file} on {host}.{stale} Break it only if no run is active: --break-lock"
    ).format(run=held.run_id, operator=held.operator, pid=held.pid, client=held.client_host,
             since=since, file=path, host=target.name, stale=stale)


class ZoneLock:
    """The executor's hold on the zone lock (``path`` None: no lock, e.g. tests)."""

    def __init__(self, connector: Connector, path: str | None, *, events: EventSink,
                 break_lock: bool = False) -> None:  # fmt: skip
        self._conn = connector
        self.path = path
        self._emit = events
        self._break_lock = break_lock
        self._target: Target | None = None

    async def take(self, plan: Plan, run_id: str, operator: str) -> None:
        """Take the zone lock on firstbox for ``run_id`` (LockHeld when another run holds
        it; a stale lock of this run's own dead process is reclaimed)."""
        target = plan.firstbox
        if self.path is None or target is None:
            return
        mine = Lock(run_id, operator, client_host(), os.getpid(), time.time())
        t = await self._conn.transport(target)
        path = self.path
        res = await t.run(take_lock_command(path, mine), timeout=LOCK_TIMEOUT)
        if res.exit_status == 0:
            self._target = target
            return
        held = Lock.from_text(res.stdout)
        if res.exit_status != 3:
            raise TransportError(_("cannot take the lock {path} on {host}: {output}").format(
                path=path, host=target.name, output=res.tail()))
        if held is not None and held.is_this_process(run_id):
            self._target = target  # runs.start took it for this run, in this process
            return
        reclaim = held is not None and held.run_id == run_id and held.is_stale_here()
        if not (self._break_lock or reclaim):
            raise LockHeld(lock_message(path, target, held, res.stdout))
        why = (
            "broken on request (--break-lock)"
            if self._break_lock
            else "reclaimed: same run, its process is gone"
        )
        self._emit(
            Notice(f"lock {path} on {target.name} held by {res.stdout.strip()!r}: {why}", run_id)
        )
        await t.run(cmd("rm", "-f", path), timeout=LOCK_TIMEOUT)
        self._break_lock = False
        await self.take(plan, run_id, operator)

    async def note(self, run_id: str, line: str) -> None:
        """Append ``line`` to the lock file while this run holds it (what the run left
        running on firstbox: the dead-man job); the lock's own line stays the first."""
        if self._target is None or self.path is None:
            return
        t = await self._conn.transport(self._target)
        await t.run(f"grep -qF {cmd(run_id)} {cmd(self.path)} && "
                    f"{cmd('printf', '%s' + chr(10), line)} >> {cmd(self.path)}",
                    timeout=LOCK_TIMEOUT)

    async def release(self, run_id: str) -> None:
        """Release the lock when this run holds it (a failure is said, not raised)."""
        target, self._target = self._target, None
        if target is None or self.path is None:
            return
        try:
            t = await self._conn.transport(target)
            await t.run(release_lock_command(self.path, run_id), timeout=LOCK_TIMEOUT)
        except TransportError as exc:
            self._emit(Notice(f"could not release the lock on {target.name}: {exc}", run_id))
