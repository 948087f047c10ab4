"""`nodeswap apply PLAN.json`, `status`, `resume RUN`, `rollback RUN`: runs of a built plan.

Thin: read the plan file, open the zone's journal, build a connector (SSH via firstbox, or
--local), hand both to nodeswap.execute.Executor, render its events (rich on a terminal,
plain lines otherwise, JSON lines with --json). How to reach hosts is stored with the run,
so `resume` needs only the run id. Issue 6 adds discovery and the inventory check to apply.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from nodeswap import journal as J
from nodeswap.errors import InputError, PlanFileError, Problem
from nodeswap.events import EventSink, JsonView, PlainView, RichView
from nodeswap.execute import DEFAULT_LOCK_PATH, Executor
from nodeswap.journal import Journal, default_state_dir, journal_path
from nodeswap.model import Plan, Step
from nodeswap.planning import zone_unchanged
from nodeswap.transport.base import Connector
from nodeswap.transport.local import LocalConnector
from nodeswap.transport.ssh import SshConnector

from .exec_cmd import Reach, make_reach

Opt = typer.Option
STATE_OPT = Opt("--state-dir", help="journal folder (default /var/lib/nodeswap as root)")


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


@contextmanager
def view(json_out: bool) -> Iterator[EventSink]:
    if json_out:
        yield JsonView()
    elif sys.stdout.isatty():
        with RichView() as rich:
            yield rich
    else:
        yield PlainView()


def gate_summary(journal: Journal, run_id: str) -> str:
    """What the operator needs at a gate: every check's verdict so far (R27/R28 differences
    with their class, R29/R35 services, R23 VIP, R36 console), newest last."""
    plan = journal.run(run_id).plan()
    lines = []
    for a in journal.attempts(run_id):
        if a.kind != "analysis":
            continue
        step = plan.step(a.step_id)
        text = journal.output(a.id)[0].strip()
        verdict = "ok" if a.outcome == "ok" else "FAILED"
        lines.append(f"  {step.rule} {a.step_id}: {verdict}")
        lines += [f"      {ln}" for ln in text.splitlines()]
    if not lines:
        return ""
    return "Checks so far:\n" + "\n".join(lines) + "\n"


def approver(yes: bool, journal: Journal | None = None, run_id: str = ""
             ) -> Callable[[Step], bool] | None:  # fmt: skip
    if yes:
        return lambda step: True
    if not sys.stdin.isatty():
        return None  # not a terminal, no --yes: stop at the gate (exit 3, resumable)

    def ask(step: Step) -> bool:
        if journal is not None:
            typer.echo(gate_summary(journal, run_id), nl=False)
        return typer.confirm(f"Gate {step.id} ({step.rule}): {step.title}. Go on?")

    return ask


async def _drive(journal: Journal, run_id: str, options: dict[str, Any], events: EventSink,
                 action: str) -> None:  # fmt: skip
    conn = journal.run(run_id).connection
    connector = make_connector(dict(conn), journal, run_id)
    ex = Executor(
        journal, connector, events=events,
        approver=approver(options.get("yes", False), journal, run_id),
        lock_path=conn.get("lock_path", DEFAULT_LOCK_PATH),
        break_lock=options.get("break_lock", False),
        rerun_unchecked=options.get("rerun_unchecked", False),
    )  # fmt: skip
    try:
        if action == "rollback":
            await ex.rollback(run_id)
        else:
            await ex.execute(run_id, resumed=action == "resume")
    finally:
        await connector.close()


def _zone_unchanged(reach: Reach, plan: Plan) -> None:
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


def _state(state_dir: Path | None, lab: Path | None = None) -> Path:
    """--state-dir, else the lab's own (``LAB/nodeswap``: a rehearsal's journal and known
    hosts live and die with its lab), else the default state folder."""
    if state_dir is not None:
        return state_dir
    if lab is not None:
        return lab / "nodeswap"
    return default_state_dir()


LAB_OPT = Opt("--lab", help="a lab's state folder (its journal is LAB/nodeswap)")


def _status_text(journal: Journal, run_id: str) -> str:
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


def register(app: typer.Typer) -> None:

    @app.command("apply")
    def apply(  # noqa: PLR0917 (typer maps parameters to options)
        plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
        lab: Annotated[Path | None, Opt("--lab", help="a lab's state folder")] = None,
        firstbox: Annotated[str | None, Opt("--firstbox", help="[USER@]ADDRESS")] = None,
        local: Annotated[bool, Opt("--local", help="run every step on this machine")] = False,
        user: Annotated[str | None, Opt("--user")] = None,
        identity_file: Annotated[list[Path] | None, Opt("--identity-file", "-i")] = None,
        known_hosts: Annotated[Path | None, Opt("--known-hosts")] = None,
        direct: Annotated[bool, Opt("--direct", help="not via firstbox")] = False,
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        zone: Annotated[str | None, Opt("--zone", help="journal name (default: plan's)")] = None,
        lock_path: Annotated[str, Opt("--lock-path", help="on firstbox")] = DEFAULT_LOCK_PATH,
        yes: Annotated[bool, Opt("--yes", help="approve every gate")] = False,
        break_lock: Annotated[bool, Opt("--break-lock", help="break another run's lock")] = False,
        json_out: Annotated[bool, Opt("--json", help="JSON events, one per line")] = False,
    ) -> None:
        """Run PLAN.json exactly as written; stops at gates, failures; resumable."""
        plan = read_plan(plan_file)
        zone_name = zone or plan.meta.get("zone", "default")
        folder = _state(state_dir, lab)
        if local:
            conn: dict[str, Any] = {"mode": "local"}
        else:
            reach = make_reach(lab=lab, firstbox=firstbox, user=user,
                               identity_file=identity_file or [], known_hosts=known_hosts,
                               direct=direct, connect_timeout=10.0)  # fmt: skip
            conn = {"mode": "ssh", **reach.to_dict()}
            conn["known_hosts"] = own_known_hosts(folder, zone_name, reach.ssh.known_hosts)
            _zone_unchanged(reach, plan)
        conn["lock_path"] = lock_path
        journal = Journal.open(journal_path(folder, zone_name))
        ex = Executor(journal, LocalConnector())
        run_id = ex.start(plan, zone=zone_name, connection=conn)
        opts = {"yes": yes, "break_lock": break_lock}
        with view(json_out) as events:
            asyncio.run(_drive(journal, run_id, opts, events, "apply"))

    @app.command("resume")
    def resume(  # noqa: PLR0917
        run_id: Annotated[str, typer.Argument(metavar="RUN")],
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        yes: Annotated[bool, Opt("--yes", help="approve every gate")] = False,
        break_lock: Annotated[bool, Opt("--break-lock")] = False,
        rerun_unchecked: Annotated[bool, Opt(
            "--rerun-unchecked", help="re-run an interrupted step that has no check")] = False,
        json_out: Annotated[bool, Opt("--json")] = False,
    ) -> None:
        """Continue a run that stopped (failure, gate, Ctrl-C, kill): checks, then goes on."""
        journal = find_run(_state(state_dir, lab), run_id)
        opts = {"yes": yes, "break_lock": break_lock, "rerun_unchecked": rerun_unchecked}
        with view(json_out) as events:
            asyncio.run(_drive(journal, run_id, opts, events, "resume"))

    @app.command("rollback")
    def rollback(
        run_id: Annotated[str, typer.Argument(metavar="RUN")],
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        break_lock: Annotated[bool, Opt("--break-lock")] = False,
        json_out: Annotated[bool, Opt("--json")] = False,
    ) -> None:
        """Undo what run RUN did, last step first (each step's undo command)."""
        journal = find_run(_state(state_dir, lab), run_id)
        with view(json_out) as events:
            asyncio.run(_drive(journal, run_id, {"break_lock": break_lock}, events, "rollback"))

    @app.command("status")
    def status(
        run_id: Annotated[str | None, typer.Argument(metavar="[RUN]")] = None,
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        json_out: Annotated[bool, Opt("--json")] = False,
    ) -> None:
        """Where a run stands (every step's state) and the next move; no RUN: list runs."""
        folder = _state(state_dir, lab)
        if run_id is not None:
            journal = find_run(folder, run_id)
            if json_out:
                run = journal.run(run_id)
                body = {"run": run.id, "state": run.state, "message": run.message,
                        "steps": {s.step_id: s.state for s in journal.steps(run_id)}}  # fmt: skip
                typer.echo(json.dumps(body))
            else:
                typer.echo(_status_text(journal, run_id), nl=False)
            return
        rows = []
        for path in sorted(folder.glob("*.journal.sqlite")):
            j = Journal.open(path)
            rows += [(r.started, r.id, r.zone, r.state) for r in j.runs()]
            j.close()
        for _started, rid, zone_name, state in sorted(rows, reverse=True):
            typer.echo(f"{rid}  {zone_name}  {state}")
        if not rows:
            typer.echo(f"no runs under {folder}")
