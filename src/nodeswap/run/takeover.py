"""`nodeswap resume RUN --take-over`: go on with a run from another machine than the one that
drove it (issue 11: the journal outlives the operator's machine).

From the run's mirror on firstbox (nodeswap.run.mirror): read it, check the plan against its
digest and fingerprint and the zone against the plan (firstbox's host key), take the zone lock
over from the old holder (refused while that holder's process may still be alive on this
machine; the new lock names the old holder, its host and pid), import the run into this
machine's journal (steps, attempts, the pinned host keys of the new VMs, zone marks...),
journal the take-over as a session (action ``take_over``), then resume as usual.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodeswap.errors import InputError, LockHeld, Problem, TransportError
from nodeswap.i18n import _
from nodeswap.live.reach import Reach
from nodeswap.live.zonecheck import refuse_other_zone, write_label
from nodeswap.live.zonelock import read_held
from nodeswap.plan.model import Plan, Target
from nodeswap.run.journal import Journal, journal_path
from nodeswap.run.lock import LOCK_TIMEOUT, Lock, client_host, lock_message, operator_name
from nodeswap.run.mirror import (
    JOURNAL_FILE,
    PLAN_FILE,
    Mirror,
    import_run,
    journal_progress,
    mirror_dir,
    parse,
    plan_sha256,
)
from nodeswap.run.sessionlog import TAKE_OVER
from nodeswap.run.statedir import journals, own_known_hosts
from nodeswap.shell import cmd
from nodeswap.transport.base import Transport
from nodeswap.transport.ssh import SshConnector


def refusal(held: Lock | None, run_id: str) -> str | None:
    """Why the zone lock may not be taken over for ``run_id`` (None: it may). Free, or held
    by this run from another machine (the operator said --take-over), or by this run's
    process on this machine that is gone: yes. Held by another run, or by a process on this
    machine that may still be alive: no."""
    if held is None:
        return None
    if held.run_id != run_id:
        return _("the zone lock is held by another run ({run})").format(run=held.run_id)
    if held.client_host == client_host() and not held.is_stale_here():
        return _("run {run} is still driven by pid {pid} on this machine ({host}): stop it "
                 "first").format(run=run_id, pid=held.pid, host=held.client_host)
    return None


async def read_mirror(t: Transport, folder: str) -> tuple[str, Mirror]:
    """The mirror's plan text and records (InputError, exit 2, when missing or damaged)."""
    got: list[str] = []
    for name in (PLAN_FILE, JOURNAL_FILE):
        path = posixpath.join(folder, name)
        res = await t.run(f"cat -- {cmd(path)}", timeout=LOCK_TIMEOUT * 4)
        if res.exit_status != 0:
            raise InputError([Problem(_("no mirror of this run on firstbox ({file}): was it "
                                        "started by a nodeswap that writes one?").format(
                file=path), key="RUN")])  # fmt: skip
        got.append(res.stdout)
    plan_text, mirror = got[0], parse(got[1], posixpath.join(folder, JOURNAL_FILE))
    return plan_text, mirror


def checked_plan(run_id: str, plan_text: str, mirror: Mirror) -> Plan:
    """The mirrored plan, if it is the run's: its sha256 as the header says, its fingerprint
    as the run record says."""
    run = mirror.run
    bad = mirror.header.get("run") != run_id or run.get("id") != run_id \
        or plan_sha256(plan_text) != mirror.header.get("plan_sha256")
    plan = None if bad else Plan.from_dict(json.loads(plan_text))
    if plan is None or plan.fingerprint() != run.get("plan_fingerprint"):
        raise InputError([Problem(_("the mirror of run {run} does not match its plan's digest: "
                                    "not taken over").format(run=run_id), key="RUN")])
    return plan


def refuse_local_copy(state_dir: Path, run_id: str, mirror: Mirror) -> None:
    """This machine's journal may hold the run already: then only a mirror that is ahead of
    it (more attempts recorded, or ended) is taken over."""
    for path in journals(state_dir):
        j = Journal.open(path)
        try:
            if run_id not in {r.id for r in j.runs()}:
                continue
            mine = journal_progress(j, run_id)
            if mirror.progress() <= mine:
                raise InputError([Problem(_(
                    "this machine's journal ({file}) already has run {run}, as far as its "
                    "mirror on firstbox or further ({n} attempts here, {m} there): resume it "
                    "without --take-over (with --break-lock if the lock still names the other "
                    "machine)").format(file=path, run=run_id, n=mine[1], m=mirror.progress()[1]),
                    key="--take-over")])  # fmt: skip
        finally:
            j.close()


async def take_lock_over(t: Transport, path: str, run_id: str, target: Target,
                         notice: Callable[[str], None]) -> Lock | None:  # fmt: skip
    """Replace the run's lock by one naming this process (and the holder it replaces);
    returns the old holder (None: the lock was free). LockHeld (exit 4) when it may not be
    taken (``refusal``) or changed meanwhile."""
    found = await read_held(t, path)
    held, raw = (None, "") if found is None else found
    if found is not None:
        why = refusal(held, run_id) if held is not None else _("unreadable lock")
        if why is not None:
            raise LockHeld(why + "\n" + lock_message(path, target, held, raw))
    mine = Lock(run_id, operator_name(), client_host(), os.getpid(), time.time(),
                held.operator if held else None, held.client_host if held else None,
                held.pid if held else None)  # fmt: skip
    write = f"printf '%s\\n' {cmd(mine.to_line())}"
    if held is None:
        command = f"mkdir -p {cmd(posixpath.dirname(path))} && (set -C; {write} > {cmd(path)})"
    else:  # only the lock as it was read: a holder that came back meanwhile keeps it
        tmp = path + ".take-over"
        command = (f"grep -qxF {cmd(raw.strip().splitlines()[0])} {cmd(path)} && "
                   f"{write} > {cmd(tmp)} && mv -f {cmd(tmp)} {cmd(path)}")
    res = await t.run(command, timeout=LOCK_TIMEOUT)
    if res.exit_status != 0:
        raise LockHeld(_("the zone lock {file} changed while it was taken over: try again"
                         ).format(file=path))
    if held is not None:
        notice(_("took the zone lock over from {who} (pid {pid} on {host})").format(
            who=held.operator, pid=held.pid, host=held.client_host))
    return held


async def take_over(state_dir: Path, run_id: str, reach: Reach, *, lock_path: str,
                    notice: Callable[[str], None]) -> Journal:  # fmt: skip
    """Import run ``run_id`` from its mirror into this machine's journal under ``state_dir``
    with the zone lock taken over, ready to resume; returns the journal (the caller closes
    it)."""
    fb = reach.firstbox
    if fb is None:
        raise InputError([Problem(_("--take-over needs --lab or --firstbox: the mirror is on "
                                    "firstbox"), key="--take-over")])  # fmt: skip
    conn: dict[str, Any] = {"mode": "ssh", **reach.to_dict()}
    conn["known_hosts"] = own_known_hosts(state_dir, reach.ssh.known_hosts,
                                          given=reach.given_known_hosts)
    conn["lock_path"] = lock_path
    connector = SshConnector(Reach.from_dict(conn).ssh)
    try:
        t = await connector.transport(fb)
        plan_text, mirror = await read_mirror(t, mirror_dir(lock_path, run_id))
        plan = checked_plan(run_id, plan_text, mirror)
        await refuse_other_zone(plan, reach, state_dir, name=f"run {run_id}")
        refuse_local_copy(state_dir, run_id, mirror)
        held = await take_lock_over(t, lock_path, run_id, fb, notice)
    except TransportError as exc:
        raise InputError([Problem(_("cannot read the run's mirror on firstbox: {error}").format(
            error=exc), key="--take-over")]) from exc
    finally:
        await connector.close()
    write_label(state_dir, fb.address, plan.zone.zone_ids if plan.zone is not None else ())
    journal = Journal.open(journal_path(state_dir, str(mirror.run["zone"])))
    import_run(journal, mirror, plan_text, conn)
    was = _("from {who} (pid {pid} on {host})").format(
        who=held.operator, pid=held.pid, host=held.client_host) if held else _("(lock free)")
    sid = journal.begin_session(run_id, TAKE_OVER, operator_name())
    journal.end_session(sid, journal.run(run_id).state)
    notice(_("run {run} taken over {was}; imported from {folder} on {host} ({n} attempts{cut})"
             ).format(run=run_id, was=was, folder=mirror_dir(lock_path, run_id), host=fb.name,
                      n=mirror.progress()[1],
                      cut=_(", a cut last line skipped") if mirror.skipped else ""))
    return journal
