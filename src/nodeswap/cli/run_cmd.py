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
from typing import Annotated

import typer

from nodeswap.events import EventSink, JsonView, PlainView, RichView
from nodeswap.execute import DEFAULT_LOCK_PATH
from nodeswap.journal import Journal
from nodeswap.model import Step
from nodeswap.reach import make_reach
from nodeswap.runs import (
    drive,
    find_run,
    journals,
    read_plan,
    refuse_other_zone_for_run,
    start,
    state_dir_for,
    status_text,
)

Opt = typer.Option
STATE_OPT = Opt("--state-dir", help="journal folder (default /var/lib/nodeswap as root)")


@contextmanager
def view(json_out: bool, *, show_output: bool = True) -> Iterator[EventSink]:
    """JSON lines, rich on a terminal, else plain lines (commands' output shown or not)."""
    if json_out:
        yield JsonView()
    elif sys.stdout.isatty():
        with RichView() as rich:
            yield rich
    else:
        yield PlainView(show_output=show_output)


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


LAB_OPT = Opt("--lab", help="a lab's state folder (its journal is LAB/nodeswap)")
KNOWN_HOSTS_HELP = ("a known_hosts file merged into nodeswap's own one for this firstbox (its "
                    "keys win for the hosts it names); must exist")


def register(app: typer.Typer) -> None:

    @app.command("apply")
    def apply(  # noqa: PLR0917 (typer maps parameters to options)
        plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
        lab: Annotated[Path | None, Opt("--lab", help="a lab's state folder")] = None,
        firstbox: Annotated[str | None, Opt("--firstbox", help="[USER@]ADDRESS")] = None,
        local: Annotated[bool, Opt("--local", help="run every step on this machine")] = False,
        user: Annotated[str | None, Opt("--user")] = None,
        identity_file: Annotated[list[Path] | None, Opt("--identity-file", "-i")] = None,
        known_hosts: Annotated[Path | None, Opt("--known-hosts", help=KNOWN_HOSTS_HELP)] = None,
        direct: Annotated[bool, Opt("--direct", help="not via firstbox")] = False,
        jump: Annotated[str | None, Opt("--jump", help="[USER@]HOST of a bastion in front of "
                                        "firstbox")] = None,
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        zone: Annotated[str | None, Opt("--zone", help="journal name (default: plan's)")] = None,
        lock_path: Annotated[str, Opt("--lock-path", help="on firstbox")] = DEFAULT_LOCK_PATH,
        yes: Annotated[bool, Opt("--yes", help="approve every gate")] = False,
        break_lock: Annotated[bool, Opt("--break-lock", help="break another run's lock")] = False,
        json_out: Annotated[bool, Opt("--json", help="JSON events, one per line")] = False,
    ) -> None:
        """Run PLAN.json exactly as written (R6-R37); stops at gates and failures; resumable.

        Every step: check (already done? skip) -> run -> verify -> record in the journal
        (SQLite, mode 0600, before and after every side effect). Gates ask for approval
        (--yes approves all; without a terminal and without --yes the run stops at the gate,
        exit 3). A live plan is refused when the zone changed since it was made.

        \b
        Examples:
          nodeswap apply plan.json --firstbox root@10.16.100.2
          nodeswap apply plan.json --lab /var/lib/nodeswap-lab/default --yes
        Then: nodeswap status RUN | resume RUN | rollback RUN | report RUN
        """
        plan = read_plan(plan_file)
        reach = None if local else make_reach(
            lab=lab, firstbox=firstbox, user=user, identity_file=identity_file or [],
            known_hosts=known_hosts, direct=direct, connect_timeout=10.0, jump=jump)
        journal, run_id = start(plan, reach=reach, zone=zone, lock_path=lock_path,
                                state_dir=state_dir_for(state_dir, lab, firstbox),
                                plan_name=str(plan_file))
        opts = {"yes": yes, "break_lock": break_lock}
        with view(json_out) as events:
            asyncio.run(drive(journal, run_id, opts, events, action="apply",
                              approver=approver(yes, journal, run_id)))

    @app.command("resume")
    def resume(  # noqa: PLR0917
        run_id: Annotated[str, typer.Argument(metavar="RUN")],
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        firstbox: Annotated[str | None, Opt("--firstbox", help="[USER@]ADDRESS: the run must "
                                            "be of that zone")] = None,
        yes: Annotated[bool, Opt("--yes", help="approve every gate")] = False,
        break_lock: Annotated[bool, Opt("--break-lock")] = False,
        rerun_unchecked: Annotated[bool, Opt(
            "--rerun-unchecked", help="re-run an interrupted step that has no check")] = False,
        json_out: Annotated[bool, Opt("--json")] = False,
    ) -> None:
        """Continue a run that stopped (failure, gate, Ctrl-C, kill): checks, then goes on.

        An interrupted step is not blindly re-run: its check says whether it already ran.
        A step without a check that was cut mid-run needs --rerun-unchecked after a look.
        """
        journal = find_run(state_dir_for(state_dir, lab, firstbox), run_id)
        refuse_other_zone_for_run(journal, run_id, lab=lab, firstbox=firstbox)
        opts = {"yes": yes, "break_lock": break_lock, "rerun_unchecked": rerun_unchecked}
        with view(json_out) as events:
            asyncio.run(drive(journal, run_id, opts, events, action="resume",
                              approver=approver(yes, journal, run_id)))

    @app.command("rollback")
    def rollback(
        run_id: Annotated[str, typer.Argument(metavar="RUN")],
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        break_lock: Annotated[bool, Opt("--break-lock")] = False,
        json_out: Annotated[bool, Opt("--json")] = False,
    ) -> None:
        """Undo what run RUN did, last step first (each step's undo command).

        Before the archive (R37) it brings the old nodes back: new VMs destroyed and their
        images removed, an old VM already shut down started again at its address, settings
        restored from the R6 backup and packages rebuilt, firstbox's known_hosts cleaned.
        Once R37 began, it changes nothing and prints the manual restore instead.
        """
        journal = find_run(state_dir_for(state_dir, lab), run_id)
        with view(json_out) as events:
            asyncio.run(drive(journal, run_id, {"break_lock": break_lock}, events,
                              action="rollback"))

    @app.command("status")
    def status(
        run_id: Annotated[str | None, typer.Argument(metavar="[RUN]")] = None,
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        json_out: Annotated[bool, Opt("--json")] = False,
    ) -> None:
        """Where a run stands (every step's state) and the next move; no RUN: list runs."""
        folder = state_dir_for(state_dir, lab)
        if run_id is not None:
            journal = find_run(folder, run_id)
            if json_out:
                run = journal.run(run_id)
                body = {"run": run.id, "state": run.state, "message": run.message,
                        "steps": {s.step_id: s.state for s in journal.steps(run_id)}}  # fmt: skip
                typer.echo(json.dumps(body))
            else:
                typer.echo(status_text(journal, run_id), nl=False)
            return
        rows = []
        for path in journals(folder):
            j = Journal.open(path)
            rows += [(r.started, r.id, r.zone, r.state) for r in j.runs()]
            j.close()
        for _started, rid, zone_name, state in sorted(rows, reverse=True):
            typer.echo(f"{rid}  {zone_name}  {state}")
        if not rows:
            typer.echo(f"no runs under {folder}")
