"""`nodeswap apply PLAN.json`, `status`, `resume RUN`, `rollback RUN`: runs of a built plan.

Thin: read the plan file, open the zone's journal, build a connector (SSH via firstbox, or
--local), hand both to nodeswap.run.execute.Executor, render its events (rich on a terminal,
plain lines otherwise, JSON lines with --json). How to reach hosts is stored with the run,
so `resume` needs only the run id. Issue 6 adds discovery and the inventory check to apply.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.live.reach import Reach, make_reach
from nodeswap.plan import planfile
from nodeswap.run import journal as J
from nodeswap.run.events import QUIET, EventSink, RichView
from nodeswap.run.execute import to_undo
from nodeswap.run.gates import Gate
from nodeswap.run.hints import Hints, commands_in
from nodeswap.run.journal import Journal
from nodeswap.run.lock import DEFAULT_LOCK_PATH, operator_name
from nodeswap.run.runs import (
    DriveOptions,
    drive,
    effective_state,
    live,
    mirror_of,
    next_lines,
    read_plan,
    refuse_other_zone_for_run,
    run_summary,
    start,
    status_exit,
    status_text,
)
from nodeswap.run.statedir import find_run, journals, state_dir_for
from nodeswap.run.steps import Approver
from nodeswap.run.steps import mark_done as mark_step_done
from nodeswap.run.takeover import take_over as take_over_run

from .options import (
    DirectOpt,
    FirstboxOpt,
    IdentityOpt,
    JsonOpt,
    JumpOpt,
    KnownHostsOpt,
    LabOpt,
    LockPathOpt,
    LogFileOpt,
    QuietOpt,
    StateOpt,
    UserOpt,
    VerboseOpt,
    level_of,
)
from .render import view
from .runlog import logged, run_log

Opt = typer.Option


def _paused(events: EventSink) -> AbstractContextManager[None]:
    return events.paused() if isinstance(events, RichView) else nullcontext()


async def read_answer(prompt: str) -> str | None:
    """One line typed at the terminal, read without a thread (Ctrl-C cancels the wait);
    None at end of input."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()
    fd = sys.stdin.fileno()

    def readable() -> None:
        if not got.done():
            got.set_result(os.read(fd, 4096))

    loop.add_reader(fd, readable)
    try:
        data = await got
    finally:
        loop.remove_reader(fd)
    return data.decode(errors="replace") if data else None


ANSWERS = {"y": True, "yes": True, "n": False, "no": False}


def approver(yes: bool, approve: Sequence[str] = (), events: EventSink | None = None
             ) -> Approver:  # fmt: skip
    """Gates named with --approve pass; --yes passes every gate whose checks, run again at
    the gate, pass; at a terminal the operator is asked (y/yes, n/no, d/details, any case);
    without a terminal the run stops at the gate (exit 3, resumable)."""
    named = set(approve)
    interactive = sys.stdin.isatty()

    async def decide(gate: Gate) -> bool:
        if gate.id in named:
            return True
        if yes and not gate.failed_checks():
            return True
        if yes:
            typer.echo("nodeswap: " + _(
                "--yes does not pass gate {id}: a check failed when run again at the gate; "
                "after a look, approve it by name (--approve {id})").format(id=gate.id),
                err=True)  # fmt: skip
        if not interactive:
            return False
        with _paused(events) if events is not None else nullcontext():
            return await ask(gate)

    return decide


async def ask(gate: Gate) -> bool:
    # the answers stay y / n / d in every language
    prompt = _("Approve gate {id} ({rule})? [y]es, [n]o, [d]etails: ").format(
        id=gate.id, rule=gate.rule)
    while True:
        line = await read_answer(prompt)
        if line is None:
            typer.echo("")
            return False
        answer = line.strip().lower()
        if answer in ANSWERS:
            return ANSWERS[answer]
        if answer in ("d", "details"):
            typer.echo(gate.details(), nl=False)
        else:
            typer.echo(_("Answer y (yes: run it), n (no: stop here, resumable) or d "
                         "(details)."))


def hints_of(lab: Path | None, state_dir: Path | None, firstbox: str | None = None) -> Hints:
    return Hints.of(lab=lab, state_dir=state_dir, firstbox=firstbox)


def finish(journal: Journal, run_id: str, hints: Hints, *, json_out: bool, level: int) -> None:
    """After apply/resume/rollback: the closing summary and what to do next (not in -q or
    --json; errors and their next: lines go to stderr through the CLI's edge)."""
    if json_out or level == QUIET:
        return
    state = journal.run(run_id).state
    typer.echo(run_summary(journal, run_id), nl=False)
    if state in (J.RUN_DONE, J.RUN_ROLLED_BACK):
        typer.echo(hints.next("report", run_id, "--html", f"report-{run_id}.html"))


def run_and_finish(begin: Callable[[], Awaitable[tuple[Journal, str]]], opts: DriveOptions,
                   *, action: str, json_out: bool, level: int, hints: Hints, yes: bool = False,
                   approve: Sequence[str] = (), log_file: Path | None = None) -> None:  # fmt: skip
    """One event loop for the whole command: ``begin`` (start's refusals and lock, or
    resume's zone check) then ``drive``, in one ``asyncio.run``; logged to the run's
    STATE/logs/RUN.log (and ``log_file``)."""
    began: list[tuple[Journal, str]] = []

    async def go() -> None:
        journal, run_id = await begin()
        began.append((journal, run_id))
        with run_log(journal.path.parent, run_id, action, log_file), \
                view(json_out, show_output=False, level=level) as events, live(journal, run_id):
            await drive(journal, run_id, opts, logged(events), action=action, hints=hints,
                        approver=approver(yes, approve, events))

    try:
        asyncio.run(go())
    finally:  # after the view: a progress bar is off the screen by now
        if began and sys.exc_info()[0] is not KeyboardInterrupt:
            finish(*began[0], hints, json_out=json_out, level=level)


APPROVE_OPT = Opt("--approve", metavar="GATE",
                  help="Approve this gate (a step id, e.g. r30-settings-proxy1); repeatable.")
YES_OPT = Opt("--yes", "-y", help="Approve every gate whose checks pass when run again there.")
BREAK_LOCK_OPT = Opt("--break-lock", help="Break another run's zone lock (only when that run "
                     "is gone: the refusal names who holds the lock and since when).")
ACCEPT_OPT = Opt("--accept-zone-change",
                 help="Go on although the zone changed since the run last recorded it in ways "
                      "it does not explain (recorded with who and when; look first).")


STATUS_HELP = """Where a run stands (every step's state) and the next move; no RUN: list runs.

\b
Exit status of `status RUN`:
  0  done, or rolled back
  1  failed, or its rollback failed
  3  stopped at a gate (approve it: resume RUN --approve GATE)
  4  running (or rolling back): a nodeswap process on this machine drives it now
  5  interrupted (Ctrl-C, SIGTERM, a kill, a lost machine): resume RUN; or its
     rollback was cut (state rolling_back): rollback RUN goes on with it
Without RUN: 0 (the list, newest first; --json for scripts).
"""


def register(app: typer.Typer) -> None:

    @app.command("apply")
    def apply(  # noqa: PLR0917 (typer maps parameters to options)
        plan_file: Annotated[Path, typer.Argument(
            metavar="PLAN.json", help="A plan saved by `nodeswap plan --out`.")],
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        local: Annotated[bool, Opt("--local", help="Run every step on this machine (only a "
                                   "plan made for it: no zone, meta.transport \"local\").")
                         ] = False,
        expect: Annotated[str | None, Opt(
            "--expect", metavar="DIGEST", help="Refuse any plan but this one (its sha256, as "
            "`nodeswap plan` and `show` print it).")] = None,
        user: UserOpt = None,
        identity_file: IdentityOpt = None,
        known_hosts: KnownHostsOpt = None,
        direct: DirectOpt = False,
        jump: JumpOpt = None,
        state_dir: StateOpt = None,
        zone: Annotated[str | None, Opt("--zone", metavar="NAME", help="The journal's name "
                                        "(default: the plan's zone).")] = None,
        lock_path: LockPathOpt = DEFAULT_LOCK_PATH,
        yes: Annotated[bool, YES_OPT] = False,
        approve: Annotated[list[str] | None, APPROVE_OPT] = None,
        break_lock: Annotated[bool, BREAK_LOCK_OPT] = False,
        switch_deadline: Annotated[int, Opt(
            "--switch-deadline", metavar="SECONDS", min=5, max=86400,
            help="The dead-man at each switch: armed on firstbox before R32 stops the old node, "
                 "it reverts the node by itself (new VM destroyed, old VM started, settings "
                 "restored) unless the switched node is confirmed (R33, R35) within SECONDS.")
        ] = 600,
        offline_plan: Annotated[bool, Opt(
            "--offline-plan", help="Apply a plan made offline (--settings-dir) after comparing "
            "it with the live zone (settings, installer version, components; R9 MACs and R16 "
            "temporary addresses checked again).")] = False,
        verbose: VerboseOpt = False,
        quiet: QuietOpt = False,
        json_out: JsonOpt = False,
        log_file: LogFileOpt = None,
    ) -> None:
        """Run PLAN.json exactly as written (R6-R37); stops at gates and failures; resumable.

        Every step: check (already done? skip) -> run -> verify -> record in the journal
        (SQLite, mode 0600, before and after every side effect). One line per step (-v: every
        command's output too; -q: only gates and errors). A live plan is refused when the zone
        changed since it was made; an offline plan unless --offline-plan (then it is compared
        with the live zone first). The zone lock is taken before the run is recorded: a
        refused apply (exit 2, or 4 when another run holds the lock) records no run and logs
        one line in STATE/refusals.log.

        The plan file must be as `nodeswap plan` wrote it: its content matching its digest,
        every field present and well typed (exit 2 otherwise, naming the file and the JSON
        path, before any connection). The run starts with the plan's sha256, and every gate
        shows it; --expect DIGEST refuses any other plan. --local accepts only a plan made
        for this machine (no zone; meta.transport "local").

        At each gate nodeswap shows what is decided: the settings change as a diff, the
        checks (R27-R29, R35, R36) run again at that moment with every attention item, the
        exact command. At a terminal it asks: y (yes), n (no: stop, resumable), d (details).
        --approve GATE passes the named gate; --yes every gate whose checks pass again.
        Without a terminal, an unapproved gate stops the run (exit 3) with the command that
        approves it.

        \b
        Examples:
          nodeswap apply plan.json --firstbox root@10.16.100.2
          nodeswap apply plan.json --firstbox root@10.16.100.2 --expect SHA256  # as reviewed
          nodeswap apply plan.json --lab /var/lib/nodeswap-lab/try
          nodeswap apply plan.json --lab /var/lib/nodeswap-lab/try --approve r30-settings-proxy1
        Then: nodeswap status RUN | resume RUN | rollback RUN | report RUN (each prints
        the exact next command, with the options used here).
        """
        level = level_of(verbose, quiet)
        plan = read_plan(plan_file)  # its digest and schema, before anything else
        planfile.refuse_unexpected(plan, expect, str(plan_file))
        if local:
            if lab is not None or firstbox is not None:
                raise InputError([Problem(_("--local runs every step on this machine: drop "
                                            "--lab/--firstbox"), key="--local")])
            planfile.refuse_not_local(plan, str(plan_file))
        reach = None if local else make_reach(
            lab=lab, firstbox=firstbox, user=user, identity_file=identity_file or [],
            known_hosts=known_hosts, direct=direct, connect_timeout=10.0, jump=jump)
        begin = partial(start, plan, reach=reach, zone=zone, lock_path=lock_path,
                        state_dir=state_dir_for(state_dir, lab, firstbox),
                        plan_name=str(plan_file), offline_plan=offline_plan,
                        break_lock=break_lock, switch_deadline=switch_deadline,
                        notice=lambda text: typer.echo(f"nodeswap: {text}", err=True))
        run_and_finish(begin, DriveOptions(),
                       action="apply", json_out=json_out, level=level,
                       hints=hints_of(lab, state_dir, firstbox), yes=yes, approve=approve or (),
                       log_file=log_file)

    @app.command("resume")
    def resume(  # noqa: PLR0917
        run_id: Annotated[str, typer.Argument(
            metavar="RUN", help="The run id (YYYYMMDD-HHMMSS-xxxxxx), as printed.")],
        state_dir: StateOpt = None,
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        yes: Annotated[bool, YES_OPT] = False,
        approve: Annotated[list[str] | None, APPROVE_OPT] = None,
        break_lock: Annotated[bool, BREAK_LOCK_OPT] = False,
        rerun_unchecked: Annotated[bool, Opt(
            "--rerun-unchecked", help="Re-run an interrupted step that has no check.")] = False,
        mark_done: Annotated[str | None, Opt(
            "--mark-done", metavar="STEP",
            help="Record STEP as done (you saw on the hosts that it took effect); needs "
                 "--reason. Journaled; status and report show it.")] = None,
        reason: Annotated[str | None, Opt(
            "--reason", metavar="WHY", help="Why --mark-done STEP is done (what you saw).")] = None,
        accept_zone_change: Annotated[bool, ACCEPT_OPT] = False,
        take_over: Annotated[bool, Opt(
            "--take-over", help="Go on with a run driven from another machine (or from a "
            "lost state folder): import it from its mirror on firstbox (needs --lab or "
            "--firstbox), take its zone lock over, then resume.")] = False,
        lock_path: LockPathOpt = DEFAULT_LOCK_PATH,
        user: UserOpt = None,
        identity_file: IdentityOpt = None,
        known_hosts: KnownHostsOpt = None,
        verbose: VerboseOpt = False,
        quiet: QuietOpt = False,
        json_out: JsonOpt = False,
        log_file: LogFileOpt = None,
    ) -> None:
        """Continue a run that stopped (failure, gate, Ctrl-C, kill): checks, then goes on.

        An interrupted step is not blindly re-run: its check (on a host that is up: the
        physical host for R32's shutdown, firstbox for R33's reboot) says whether it already
        ran; a step the plan declares safe to run again runs again. A step with neither that
        was cut mid-run needs --rerun-unchecked after a look on the host, or --mark-done STEP
        --reason WHY when it did run (the refusal holds until one is given).
        Gates are shown and asked as in apply (--approve GATE, --yes).

        The operator's machine died? From another one, --take-over --firstbox (or --lab)
        reads the run's mirror on firstbox (LOCK-FOLDER/runs/RUN, written after every step),
        checks its plan digest, takes the zone lock over (refused while the old process may
        still run on this machine; the lock names the old holder and host), imports the run
        into this machine's journal (journaled as a take_over session) and resumes it.

        \b
        Example (the command nodeswap printed when the run stopped):
          nodeswap resume 20261202-071500-ab12cd --approve r30-settings-proxy1 \\
              --lab /var/lib/nodeswap-lab/try
          nodeswap resume 20261202-071500-ab12cd --take-over --firstbox root@10.16.100.2
        """
        level = level_of(verbose, quiet)
        folder = state_dir_for(state_dir, lab, firstbox)
        journal = None if take_over else find_run(folder, run_id)
        if (mark_done is None) != (reason is None):
            raise InputError([Problem(_("--mark-done STEP and --reason WHY go together"),
                                      key="--mark-done" if mark_done is None else "--reason")])

        async def begin() -> tuple[Journal, str]:
            j = journal or await taken_over(folder, run_id, lock_path, make_reach(
                lab=lab, firstbox=firstbox, user=user, identity_file=identity_file or [],
                known_hosts=known_hosts))
            await refuse_other_zone_for_run(j, run_id, lab=lab, firstbox=firstbox)
            if mark_done is not None and reason is not None:
                mark_step_done(j, run_id, mark_done, reason=reason, operator=operator_name())
            return j, run_id

        opts = DriveOptions(break_lock=break_lock, rerun_unchecked=rerun_unchecked,
                            accept_zone_change=accept_zone_change)
        run_and_finish(begin, opts, action="resume", json_out=json_out, level=level,
                       hints=hints_of(lab, state_dir, firstbox), yes=yes, approve=approve or (),
                       log_file=log_file)

    @app.command("rollback")
    def rollback(  # noqa: PLR0917
        run_id: Annotated[str, typer.Argument(
            metavar="RUN", help="The run id (YYYYMMDD-HHMMSS-xxxxxx), as printed.")],
        state_dir: StateOpt = None,
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        yes: Annotated[bool, Opt("--yes", "-y", help="Do not ask for confirmation.")] = False,
        break_lock: Annotated[bool, BREAK_LOCK_OPT] = False,
        accept_zone_change: Annotated[bool, ACCEPT_OPT] = False,
        verbose: VerboseOpt = False,
        quiet: QuietOpt = False,
        json_out: JsonOpt = False,
        log_file: LogFileOpt = None,
    ) -> None:
        """Undo what run RUN did, last step first (each step's undo command).

        Before the archive (R37) it brings the old nodes back: new VMs destroyed and their
        images removed, an old VM already shut down started again at its address, settings
        restored from the R6 backup and packages rebuilt, firstbox's known_hosts cleaned.
        Once R37 began, it changes nothing and prints the manual restore instead.
        It lists what it will undo and asks first (--yes: do not ask; without a terminal
        --yes is required).
        """
        level = level_of(verbose, quiet)
        hints = hints_of(lab, state_dir, firstbox)
        journal = find_run(state_dir_for(state_dir, lab, firstbox), run_id)
        if not yes:
            confirm_rollback(journal, run_id, hints,
                             *(("--accept-zone-change",) if accept_zone_change else ()))
        opts = DriveOptions(break_lock=break_lock, accept_zone_change=accept_zone_change)

        async def begin() -> tuple[Journal, str]:
            return journal, run_id

        run_and_finish(begin, opts, action="rollback",
                       json_out=json_out, level=level, hints=hints, log_file=log_file)

    @app.command("status", help=STATUS_HELP)
    def status(
        run_id: Annotated[str | None, typer.Argument(
            metavar="RUN", help="A run id (YYYYMMDD-HHMMSS-xxxxxx); none: list the runs.")
        ] = None,
        state_dir: StateOpt = None,
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        folder = state_dir_for(state_dir, lab, firstbox)
        hints = hints_of(lab, state_dir, firstbox)
        if run_id is None:
            list_runs(folder, json_out)
            return
        journal = find_run(folder, run_id)
        state = effective_state(journal, run_id)
        if json_out:
            run = journal.run(run_id)
            body = {"run": run.id, "state": run.state, "effective_state": state,
                    "message": run.message, "exit_status": status_exit(journal, run_id),
                    "next": commands_in("\n".join(next_lines(journal, run_id, hints))),
                    "steps": {s.step_id: s.state for s in journal.steps(run_id)},
                    "mirror": mirror_of(journal, run_id)}  # fmt: skip
            typer.echo(json.dumps(body))
        else:
            typer.echo(status_text(journal, run_id, hints), nl=False)
        raise typer.Exit(status_exit(journal, run_id))


async def taken_over(folder: Path, run_id: str, lock_path: str, reach: Reach) -> Journal:
    """`resume --take-over`: the run imported from its mirror on firstbox, lock taken over."""
    return await take_over_run(folder, run_id, reach, lock_path=lock_path,
                               notice=lambda text: typer.echo(f"nodeswap: {text}"))


def confirm_rollback(journal: Journal, run_id: str, hints: Hints, *flags: str) -> None:
    """Show what a rollback would undo and ask; refuse without a terminal (exit 2) with the
    command that confirms (``flags``: this invocation's own, kept in it)."""
    run = journal.run(run_id)
    plan = run.plan()
    todo = [plan.step(s.step_id) for s in to_undo(journal, run_id)
            if plan.step(s.step_id).side_effect]  # fmt: skip
    lines = [_("rollback of run {run} ({state}) would undo, last first:").format(
        run=run_id, state=run.state)]
    lines += ["  " + _("{step} ({rule}) on {host}: ").format(
                  step=s.id, rule=s.rule, host=s.undo_target or s.target)
              + (s.undo or _("(no undo: left as it is)")) for s in reversed(todo)]  # fmt: skip
    if not todo:
        lines.append("  " + _("nothing: no step of this run changed the zone"))
    if not sys.stdin.isatty():
        raise InputError([Problem("\n".join(lines) + "\n" + _(
            "rollback asks for confirmation: run it at a terminal, or confirm with --yes:")
            + "\n" + hints.next("rollback", run_id, *flags, "--yes"), key="--yes")])
    typer.echo("\n".join(lines))
    if not typer.confirm(_("Roll back run {run}?").format(run=run_id), default=False):
        typer.echo(_("nothing done"))
        raise typer.Exit(0)


def list_runs(folder: Path, json_out: bool) -> None:
    rows = []
    for path in journals(folder):
        j = Journal.open(path)
        rows += [(r.started, r.id, r.zone, effective_state(j, r.id)) for r in j.runs()]
        j.close()
    rows.sort(reverse=True)
    if json_out:
        typer.echo(json.dumps([{"run": rid, "zone": z, "state": st, "started": started}
                               for started, rid, z, st in rows]))  # fmt: skip
        return
    for _started, rid, zone_name, state in rows:
        typer.echo(f"{rid}  {zone_name}  {state}")
    if not rows:
        typer.echo(_("no runs under {folder}").format(folder=folder))
