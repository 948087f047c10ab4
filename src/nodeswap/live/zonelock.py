"""The zone lock on firstbox, outside a run: taken by ``runs.start`` before a run is recorded
(issue 14), read by ``plan`` (a zone being upgraded is not planned again), and the refusal log.

The lock file and its content are the executor's (``nodeswap.run.lock.Lock``): ``start`` takes
it with the id of the run it is about to record and this process's pid, so the executor that
then drives that run in this process recognises it as its own (``Lock.is_this_process``) and
goes on under it; resume and rollback take it themselves, as before.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from nodeswap.errors import LockHeld, TransportError
from nodeswap.i18n import _
from nodeswap.plan.model import Target
from nodeswap.run.lock import (
    LOCK_TIMEOUT,
    Lock,
    client_host,
    lock_message,
    operator_name,
    release_lock_command,
    take_lock_command,
)
from nodeswap.shell import cmd
from nodeswap.transport.base import Transport

REFUSALS_LOG = "refusals.log"


def lock_for(run_id: str) -> Lock:
    """The lock content for ``run_id``, taken by this process on this machine now."""
    return Lock(run_id, operator_name(), client_host(), os.getpid(), time.time())


async def acquire(t: Transport, target: Target, path: str, mine: Lock, *,
                  break_lock: bool = False,
                  notice: Callable[[str], None] | None = None) -> None:  # fmt: skip
    """Take the lock for ``mine.run_id``; LockHeld (exit 4) naming the holder when another
    run holds it (``break_lock``: remove it first, said through ``notice``)."""
    res = await t.run(take_lock_command(path, mine), timeout=LOCK_TIMEOUT)
    if res.exit_status == 0:
        return
    if res.exit_status != 3:
        raise TransportError(_("cannot take the lock {path} on {host}: {output}").format(path=path,
                               host=target.name, output=res.tail()))
    held = Lock.from_text(res.stdout)
    if not break_lock:
        raise LockHeld(lock_message(path, target, held, res.stdout))
    if notice is not None:
        notice(_("lock {path} on {host} held by {text!r}: broken on request (--break-lock)"
                 ).format(path=path, host=target.name, text=res.stdout.strip()))
    await t.run(cmd("rm", "-f", path), timeout=LOCK_TIMEOUT)
    await acquire(t, target, path, mine, notice=notice)


async def release(t: Transport, path: str, run_id: str) -> None:
    await t.run(release_lock_command(path, run_id), timeout=LOCK_TIMEOUT)


async def read_held(t: Transport, path: str) -> tuple[Lock | None, str] | None:
    """The lock as it is now: None when free, else (its content parsed or None, the raw
    text)."""
    res = await t.run(f"{cmd('cat', '--', path)} 2>/dev/null || exit 3", timeout=LOCK_TIMEOUT)
    if res.exit_status == 3 and not res.stdout:
        return None
    if res.exit_status not in (0, 3):
        raise TransportError(_("cannot read the lock {path}: {output}").format(path=path,
                               output=res.tail()))
    return Lock.from_text(res.stdout), res.stdout


def log_refusal(state_dir: Path, plan_path: str, reason: str) -> None:
    """One line in ``STATE/refusals.log`` (0600): when, which plan, why (first line of the
    reason, then the rest joined with " | ")."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / REFUSALS_LOG
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        why = " | ".join(ln.strip() for ln in reason.splitlines() if ln.strip())
        os.write(fd, f"{when}\t{plan_path}\t{why}\n".encode())
    finally:
        os.close(fd)
