"""Runs of a plan: where their journal lives, how they start, and driving them (apply,
resume, rollback) through the executor. Library code shared by the CLI and the demo: it never
prints (events go to the EventSink) and never asks (the approver is passed in).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodeswap import journal as J
from nodeswap.errors import InputError, PlanFileError, Problem
from nodeswap.events import EventSink
from nodeswap.execute import DEFAULT_LOCK_PATH, Executor
from nodeswap.journal import Journal, default_state_dir, journal_path
from nodeswap.knownhosts import with_key, without_host
from nodeswap.model import Plan, Step
from nodeswap.planning import zone_unchanged
from nodeswap.reach import Reach
from nodeswap.transport.base import Connector
from nodeswap.transport.local import LocalConnector
from nodeswap.transport.ssh import SshConnector

Approver = Callable[[Step], bool]


def read_plan(path: Path) -> Plan:
    try:
        return Plan.from_dict(json.loads(path.read_text()))
    except OSError as exc:
        raise PlanFileError([Problem(f"cannot read the plan: {exc}", file=str(path))]) from exc
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PlanFileError(
            [Problem(f"not a nodeswap plan ({type(exc).__name__}: {exc})", file=str(path))]
        ) from exc


def own_known_hosts(state_dir: Path, zone: str, source: str | None) -> str:
    """nodeswap's own known_hosts for the zone, in its state folder; seeded from ``source``
    (the operator's or the lab's) the first time, then only nodeswap's file is trusted (a key
    that changes later must be edited in by hand; pinned keys live in the journal)."""
    own = journal_path(state_dir, zone).with_suffix(".known_hosts")
    if not own.exists():
        src = Path(source) if source else Path.home() / ".ssh" / "known_hosts"
        text = src.read_text() if src.exists() else ""
        own.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        own.touch(mode=0o600)
        own.write_text(text)
    return str(own)


def find_run(state_dir: Path, run_id: str) -> Journal:
    """The journal (of whichever zone) that holds ``run_id``."""
    for path in sorted(state_dir.glob("*.journal.sqlite")):
        j = Journal.open(path)
        if any(r.id == run_id for r in j.runs()):
            return j
        j.close()
    raise InputError([Problem(f"no run {run_id!r} in any journal under {state_dir}",
                              key="RUN")])  # fmt: skip


def make_connector(conn: dict[str, Any], journal: Journal, run_id: str) -> Connector:
    if conn.get("mode") == "local":
        return LocalConnector()
    return SshConnector(Reach.from_dict(conn).ssh, keys=journal, run_id=run_id)


def state_dir_for(state_dir: Path | None, lab: Path | None = None) -> Path:
    """--state-dir, else the lab's own (``LAB/nodeswap``: a rehearsal's journal and known
    hosts live and die with its lab), else the default state folder."""
    if state_dir is not None:
        return state_dir
    if lab is not None:
        return lab / "nodeswap"
    return default_state_dir()


def check_zone_unchanged(reach: Reach, plan: Plan) -> None:
    """Refuse a live plan whose zone changed since it was made (settings, version, variables)."""
    fb = reach.firstbox
    if fb is None:
        return

    async def check() -> None:
        connector = SshConnector(reach.ssh)
        try:
            await zone_unchanged(connector, fb, plan)
        finally:
            await connector.close()

    asyncio.run(check())


def start(plan: Plan, *, reach: Reach | None, state_dir: Path, zone: str | None = None,
          lock_path: str = DEFAULT_LOCK_PATH) -> tuple[Journal, str]:
    """Record a new run of ``plan`` (reach None: every step on this machine). A live plan is
    refused when its zone changed since it was made (the fingerprint; nothing is recorded)."""
    zone_name = zone or plan.meta.get("zone", "default")
    if reach is None:
        conn: dict[str, Any] = {"mode": "local"}
    else:
        conn = {"mode": "ssh", **reach.to_dict()}
        conn["known_hosts"] = own_known_hosts(state_dir, zone_name, reach.ssh.known_hosts)
        check_zone_unchanged(reach, plan)
    conn["lock_path"] = lock_path
    journal = Journal.open(journal_path(state_dir, zone_name))
    run_id = Executor(journal, LocalConnector()).start(plan, zone=zone_name, connection=conn)
    return journal, run_id


async def drive(journal: Journal, run_id: str, options: dict[str, Any], events: EventSink, *,
                action: str, approver: Approver | None = None) -> None:  # fmt: skip
    """Apply (or resume, or roll back) run ``run_id`` to its end, a gate or a failure."""
    conn = journal.run(run_id).connection
    connector = make_connector(dict(conn), journal, run_id)
    ex = Executor(
        journal, connector, events=events,
        approver=approver,
        lock_path=conn.get("lock_path", DEFAULT_LOCK_PATH),
        break_lock=options.get("break_lock", False),
        rerun_unchecked=options.get("rerun_unchecked", False),
    )  # fmt: skip
    try:
        if action == "rollback":
            await ex.rollback(run_id)
        else:
            await ex.execute(run_id, resumed=action == "resume")
            learn_switched_keys(journal, run_id)
    finally:
        await connector.close()


def learn_switched_keys(journal: Journal, run_id: str) -> None:
    """After a finished run, nodeswap's own known_hosts knows each new VM at the address it
    took over (R31-R33) by the key this run pinned at its temporary address (never another
    run's: an earlier run's VM under the same key_id may be long gone), and forgets the
    temporary address (R34), so later runs and `discover` check the new keys strictly."""
    run = journal.run(run_id)
    path = run.connection.get("known_hosts")
    if run.connection.get("mode") != "ssh" or not path or not Path(path).exists():
        return
    plan = run.plan()
    plain = {t.address for t in plan.targets.values() if not t.pin}
    text = Path(path).read_text()
    for t in plan.targets.values():
        key = journal.pinned_key(t.key_id, run_id) if t.pin else None
        if key is None:
            continue
        text = with_key(text, t.address, key) if t.address in plain \
            else without_host(text, t.address)
    Path(path).write_text(text)


def status_text(journal: Journal, run_id: str) -> str:
    run = journal.run(run_id)
    plan = run.plan()
    lines = [f"run {run.id} (zone {run.zone}, operator {run.operator}): {run.state}"]
    if run.message:
        lines.append("  " + run.message.replace("\n", "\n  "))
    for s in journal.steps(run_id):
        step = plan.step(s.step_id)
        tries = [a for a in journal.attempts(run_id, s.step_id) if a.kind == "run"]
        extra = f", {len(tries)} run attempts" if len(tries) > 1 else ""
        cut = " (cut: started, no end recorded)" if tries and tries[-1].ended is None else ""
        lines.append(f"  [{s.position + 1:>3}] {s.state:<11} {s.step_id} ({step.rule}) on "
                     f"{step.target}: {step.title}{extra}{cut}")  # fmt: skip
    resume = f"`nodeswap resume {run_id}`"
    nxt = {
        J.RUN_FAILED: f"next: fix the cause, then {resume} or `nodeswap rollback {run_id}`",
        J.RUN_GATE: f"next: `nodeswap resume {run_id} --yes` to approve the gate",
        J.RUN_INTERRUPTED: f"next: {resume}",
        J.RUN_RUNNING: f"if no nodeswap process runs it any more (killed?): {resume}",
    }.get(run.state)
    if nxt:
        lines.append(nxt)
    return "\n".join(lines) + "\n"


