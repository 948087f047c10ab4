"""Runs of a plan: how they start (their journal: nodeswap.run.statedir), and driving them
(apply, resume, rollback) through the executor. Library code shared by the CLI and the demo:
it never prints (events go to the EventSink) and never asks (the approver is passed in).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeswap.errors import InputError, Interrupted, NodeswapError, Problem
from nodeswap.i18n import _, retranslate, word
from nodeswap.live.planning import offline_plan_matches, zone_unchanged
from nodeswap.live.reach import Reach, make_reach
from nodeswap.live.worldcheck import ZoneMarks, accepted_lines
from nodeswap.live.zonecheck import refuse_other_zone, write_label
from nodeswap.live.zonelock import acquire, lock_for, log_refusal, release
from nodeswap.plan import planfile
from nodeswap.plan.model import Plan, Target
from nodeswap.run import journal as J
from nodeswap.run.deadman import status_lines
from nodeswap.run.events import EventSink
from nodeswap.run.execute import Executor
from nodeswap.run.hints import Hints
from nodeswap.run.interrupt import cancel_on_signals
from nodeswap.run.journal import Journal, journal_path
from nodeswap.run.lock import DEFAULT_LOCK_PATH, operator_name
from nodeswap.run.mirror import mirror_dir
from nodeswap.run.statedir import firstbox_folder, own_known_hosts
from nodeswap.run.steps import Approver, marked_done, was_cut_mid_run
from nodeswap.transport.base import Connector
from nodeswap.transport.local import LocalConnector
from nodeswap.transport.ssh import SshConnector
from nodeswap.zone.knownhosts import with_key, without_host


def read_plan(path: Path) -> Plan:
    """The plan file at ``path``, checked (nodeswap.plan.planfile: its digest, its schema);
    PlanFileError (exit 2) naming the file and the JSON path of every problem otherwise."""
    return planfile.read(path)


def make_connector(conn: dict[str, Any], journal: Journal, run_id: str) -> Connector:
    if conn.get("mode") == "local":
        return LocalConnector()
    return SshConnector(Reach.from_dict(conn).ssh, keys=journal, run_id=run_id)


def journal_name(plan: Plan, reach: Reach | None) -> str:
    """The journal's (and the runs') zone name: the zone id(s) the plan names, else the
    firstbox address; a plan may name it (``journal_zone``); local runs: "local"."""
    if plan.journal_zone:
        return plan.journal_zone
    if plan.zone is not None and plan.zone.zone_ids:
        return "+".join(plan.zone.zone_ids)
    if reach is not None and reach.firstbox is not None:
        return firstbox_folder(reach.firstbox.address)
    return "local"


async def _zone_checks(connector: Connector, fb: Target, plan: Plan, *,
                       offline_plan: bool) -> None:  # fmt: skip
    if plan.zone is not None and plan.zone.offline and offline_plan:
        await offline_plan_matches(connector, fb, plan)
    else:
        await zone_unchanged(connector, fb, plan)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


async def start(plan: Plan, *, reach: Reach | None, state_dir: Path, zone: str | None = None,
                lock_path: str | None = DEFAULT_LOCK_PATH, plan_name: str = "the plan",
                offline_plan: bool = False, break_lock: bool = False,
                notice: Callable[[str], None] | None = None,
                switch_deadline: int | None = None) -> tuple[Journal, str]:
    """Record a new run of ``plan`` (reach None: every step on this machine), holding the zone
    lock for it.

    Nothing is recorded until every refusal has passed: another zone's plan (exit 2;
    zonecheck: no connection, then one to firstbox alone for its host key), then, under the
    zone lock taken on firstbox for the run about to be recorded (exit 4 when another run
    holds it), a live plan whose zone changed since it was made (the fingerprint), or an
    offline plan (refused unless ``offline_plan``: then compared with the live zone, R9 and
    R16 checked again). A refusal records no run: it is logged in ``STATE/refusals.log`` and
    the lock released. The state folder is labelled with the zone (zone.json). The executor
    driving the run in this process finds the lock its own (``Lock.is_this_process``).
    ``switch_deadline`` (seconds; None: 600) is the run's dead-man deadline (run.deadman).
    Awaited in the command's one event loop, before ``drive`` in the same loop."""
    run_id = new_run_id()
    try:
        if reach is None:
            conn: dict[str, Any] = {"mode": "local"}
        else:
            await refuse_other_zone(plan, reach, state_dir, name=plan_name,
                                    offline_plan=offline_plan)
            conn = {"mode": "ssh", **reach.to_dict()}
            conn["known_hosts"] = own_known_hosts(state_dir, reach.ssh.known_hosts,
                                                  given=reach.given_known_hosts)
        await _admit(plan, reach, conn, run_id, lock_path=lock_path,
                     offline_plan=offline_plan, break_lock=break_lock, notice=notice)
    except NodeswapError as exc:
        log_refusal(state_dir, plan_name, str(exc))
        raise
    if reach is not None and reach.firstbox is not None:
        write_label(state_dir, reach.firstbox.address,
                    plan.zone.zone_ids if plan.zone is not None else ())
    conn["lock_path"] = lock_path
    if switch_deadline is not None:
        conn["switch_deadline"] = switch_deadline
    zone_name = zone or journal_name(plan, reach)
    journal = Journal.open(journal_path(state_dir, zone_name))
    journal.create_run(plan, operator=operator_name(), zone=zone_name, connection=conn,
                       run_id=run_id)
    return journal, run_id


async def _admit(plan: Plan, reach: Reach | None, conn: dict[str, Any], run_id: str, *,
                 lock_path: str | None, offline_plan: bool, break_lock: bool,
                 notice: Callable[[str], None] | None) -> None:  # fmt: skip
    """Take the zone lock for ``run_id`` (as the executor will find it) and check the live
    zone under it; on any refusal the lock is released again."""
    connector: Connector = LocalConnector() if reach is None \
        else SshConnector(Reach.from_dict(conn).ssh)
    try:
        target = plan.firstbox
        locked = None
        if lock_path is not None and target is not None:
            t = await connector.transport(target)
            await acquire(t, target, lock_path, lock_for(run_id), break_lock=break_lock,
                          notice=notice)
            locked = t
        try:
            if reach is not None and reach.firstbox is not None:
                await _zone_checks(connector, reach.firstbox, plan, offline_plan=offline_plan)
        except BaseException:
            if locked is not None and lock_path is not None:
                await release(locked, lock_path, run_id)
            raise
    finally:
        await connector.close()


async def refuse_other_zone_for_run(journal: Journal, run_id: str, *, lab: Path | None = None,
                                    firstbox: str | None = None) -> None:
    """Resume's guard: the stored run's plan must be of the zone given now (--lab /
    --firstbox, when given) and of the zone the run was started on, whose firstbox must
    still present the plan's host key (exit 2 otherwise; nothing else contacted)."""
    run = journal.run(run_id)
    if run.connection.get("mode") != "ssh":
        return
    stored = Reach.from_dict(dict(run.connection))
    reach = stored
    if lab is not None or firstbox is not None:
        reach = make_reach(lab=lab, firstbox=firstbox)
        was = stored.firstbox.address if stored.firstbox is not None else None
        now = reach.firstbox.address if reach.firstbox is not None else None
        if was != now:
            raise InputError([Problem(
                _("run {run_id} was started on firstbox {was}, but {given} is firstbox {now}"
                  ).format(run_id=run_id, was=was, now=now,
                           given=f"--lab {lab}" if lab is not None else f"--firstbox {firstbox}"),
                key="--firstbox")])  # fmt: skip
    await refuse_other_zone(run.plan(), reach, journal.path.parent, name=f"run {run_id}")


@dataclass(frozen=True)
class DriveOptions:
    """What the operator allowed this apply, resume or rollback (gates are the approver's:
    --yes and --approve build it)."""

    break_lock: bool = False  # --break-lock: take over another run's zone lock
    rerun_unchecked: bool = False  # --rerun-unchecked: re-run a cut step that has no check
    accept_zone_change: bool = False  # --accept-zone-change: go on past unexplained changes


async def drive(journal: Journal, run_id: str, options: DriveOptions, events: EventSink, *,
                action: str, approver: Approver | None = None,
                hints: Hints | None = None) -> None:  # fmt: skip
    """Apply (or resume, or roll back) run ``run_id`` to its end, a gate or a failure.

    SIGINT (Ctrl-C) and SIGTERM stop it cleanly (whatever dispositions the process
    inherited): the command running is stopped on its host, the run recorded as interrupted,
    the zone lock released, then Interrupted (exit 130 or 143) says how to continue."""
    with cancel_on_signals() as stop:
        try:
            await _drive(journal, run_id, options, events, action=action, approver=approver,
                         hints=hints)
        except asyncio.CancelledError:
            if stop.signum is None:
                raise  # a library caller cancelled it: not ours to explain
            raise Interrupted(interrupted(journal, run_id, action, stop.describe(),
                                          hints or Hints()),
                              exit_code=stop.exit_code) from None


def interrupted(journal: Journal, run_id: str, action: str, how: str, hints: Hints) -> str:
    """Record run ``run_id`` as interrupted (when it was cut before the executor could) and
    say what happened and how to continue."""
    verb = "rollback" if action == "rollback" else "resume"
    run = journal.run(run_id)
    if run.state == J.RUN_RUNNING:
        journal.set_run_state(run_id, J.RUN_INTERRUPTED,
                              f"stopped by {how}; to go on: {hints.command(verb, run_id)}")
    plan = run.plan()
    cut = [s.step_id for s in journal.steps(run_id) if s.state == J.INTERRUPTED]
    during = "".join(_(" during step {step} ({rule}) on {host}").format(
        step=sid, rule=plan.step(sid).rule, host=plan.step(sid).target) for sid in cut[:1])
    what = _("rollback of run {run}") if action == "rollback" else _("run {run}")
    stopped = _(", its command stopped on the host") if cut else ""
    if action == "rollback":
        return _("{what} stopped by {how}{during}{stopped}; recorded in the journal as {state}. "
                 "To go on:\n{hint}").format(what=what.format(run=run_id), how=how,
                                              during=during, stopped=stopped,
                                              state=word(journal.run(run_id).state),
                                              hint=hints.next(verb, run_id))
    # as `status` says it: go on, or undo (the operator who pressed Ctrl-C at the switch may
    # want the old node back more than the new one)
    head = _("{what} stopped by {how}{during}{stopped}; recorded in the journal as "
             "{state}.").format(what=what.format(run=run_id), how=how, during=during,
                                  stopped=stopped, state=word(journal.run(run_id).state))
    return "\n".join([head, *next_lines(journal, run_id, hints)])


async def _drive(journal: Journal, run_id: str, options: DriveOptions, events: EventSink, *,
                 action: str, approver: Approver | None = None,
                 hints: Hints | None = None) -> None:  # fmt: skip
    conn = journal.run(run_id).connection
    connector = make_connector(dict(conn), journal, run_id)
    marks = ZoneMarks(journal, connector, events=events)  # issue 14: the zone's fingerprint
    ex = Executor(
        journal, connector, events=events,
        approver=approver,
        lock_path=conn.get("lock_path", DEFAULT_LOCK_PATH),
        break_lock=options.break_lock,
        rerun_unchecked=options.rerun_unchecked,
        hints=hints, zone_mark=marks.after,
    )  # fmt: skip
    try:
        if action == "apply":
            await marks.start(run_id)
        else:  # before anything runs: the zone must be as this run left it, or explained
            await marks.recheck(run_id, action=action, operator=operator_name(), hints=hints,
                                accept=options.accept_zone_change)
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


def _live_path(journal: Journal, run_id: str) -> Path:
    return journal.path.parent / "live" / f"{run_id}.pid"


@contextmanager
def live(journal: Journal, run_id: str) -> Iterator[None]:
    """While this process drives ``run_id`` it holds an flock on ``STATE/live/RUN.pid`` (the
    kernel drops it when the process dies, even by kill -9), so ``status`` on this machine
    tells a run that is being driven from one whose process is gone."""
    path = _live_path(journal, run_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def is_live(journal: Journal, run_id: str) -> bool:
    """True when a process on this machine is driving ``run_id`` now (see ``live``)."""
    path = _live_path(journal, run_id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


# `nodeswap status RUN` exit codes (documented in its --help)
STATUS_EXIT = {J.RUN_DONE: 0, J.RUN_ROLLED_BACK: 0, J.RUN_FAILED: 1, J.RUN_ROLLBACK_FAILED: 1,
               J.RUN_GATE: 3, J.RUN_RUNNING: 4, J.RUN_INTERRUPTED: 5,
               J.RUN_ROLLING_BACK: 5}  # fmt: skip


def status_exit(journal: Journal, run_id: str) -> int:
    """`nodeswap status RUN`'s exit code: STATUS_EXIT of the effective state; a rollback
    being driven by a process here is 4, like a running run."""
    state = effective_state(journal, run_id)
    if state == J.RUN_ROLLING_BACK and is_live(journal, run_id):
        return STATUS_EXIT[J.RUN_RUNNING]
    return STATUS_EXIT[state]


def effective_state(journal: Journal, run_id: str) -> str:
    """The run's state, where "running" with no live process here reads as interrupted."""
    state = journal.run(run_id).state
    if state == J.RUN_RUNNING and not is_live(journal, run_id):
        return J.RUN_INTERRUPTED
    return state


def needs_rerun_unchecked(journal: Journal, run_id: str) -> bool:
    """Whether the run stopped on a side-effect step without a check (nor a reason to run it
    again) that was cut mid-run: resume then needs --rerun-unchecked (or --mark-done), after
    a look on the host, however many plain resumes were refused since."""
    plan = journal.run(run_id).plan()
    for s in journal.steps(run_id):
        if s.state not in (J.FAILED, J.INTERRUPTED, J.RUNNING):
            continue
        step = plan.step(s.step_id)
        if step.side_effect and step.check is None and step.rerun_safe is None \
                and was_cut_mid_run(journal, run_id, s.step_id):
            return True
    return False


def next_lines(journal: Journal, run_id: str, hints: Hints) -> list[str]:
    """What the operator can do next with the run, as lines; ``next:`` lines paste as is."""
    run = journal.run(run_id)
    state = effective_state(journal, run_id)
    flags = ("--rerun-unchecked",) if needs_rerun_unchecked(journal, run_id) else ()
    resume, rollback = hints.next("resume", run_id, *flags), hints.next("rollback", run_id)
    rolling_back = any(a.kind == "undo" for a in journal.attempts(run_id))
    if state == J.RUN_RUNNING or (state == J.RUN_ROLLING_BACK and is_live(journal, run_id)):
        return [_("a nodeswap process on this machine is driving this run now")]
    if state in (J.RUN_DONE, J.RUN_ROLLED_BACK):
        return [hints.next("report", run_id)]
    if state == J.RUN_ROLLING_BACK:  # cut (Ctrl-C, a crash): undone steps are not run twice
        return [_("its rollback was cut: go on with it (not resume):"), rollback]
    if state == J.RUN_ROLLBACK_FAILED or (state == J.RUN_INTERRUPTED and rolling_back):
        return [_("fix the cause, then roll back again (the failed undo is tried again):"),
                rollback]
    if state == J.RUN_GATE:
        gate = next((s.step_id for s in journal.steps(run_id) if s.state == J.GATE), "")
        return [_("approve the gate and go on, or undo the run:"),
                hints.next("resume", run_id, "--approve", gate), rollback]
    why = _("look on the host first (a step was cut and has no check); ") if flags else ""
    if state == J.RUN_INTERRUPTED and run.state == J.RUN_RUNNING:
        why += _("its process is gone (killed?); ")
    return [why + _("go on, or undo the run:"), resume, rollback]


def run_summary(journal: Journal, run_id: str) -> str:
    """One paragraph a person can read: what became of the nodes, the steps, the gates."""
    run = journal.run(run_id)
    plan = run.plan()
    steps = journal.steps(run_id)
    count: dict[str, int] = {}
    for s in steps:
        count[s.state] = count.get(s.state, 0) + 1
    shown = ", ".join(f"{n} {word(st)}" for st, n in sorted(count.items()) if st != J.PENDING)
    todo = count.get(J.PENDING, 0)
    took = (run.ended or time.time()) - run.started
    nodes = ", ".join(plan.nodes)
    os_name = " ".join(plan.target_os)
    head = {
        J.RUN_DONE: _("{n} nodes replaced ({nodes}) by {os}").format(
            n=len(plan.nodes), nodes=nodes, os=os_name),
        J.RUN_ROLLED_BACK: _("rolled back: the old nodes ({nodes}) are in service again"
                             ).format(nodes=nodes),
    }.get(run.state, _("{state}: {nodes} not yet replaced").format(state=word(run.state),
                                                                   nodes=nodes))
    approved = [s for s in steps if s.approved]
    gates = _("; {n} gates approved by {who}").format(n=len(approved), who=run.operator) \
        if approved else ""
    rest = _(", {n} to go").format(n=todo) if todo else ""
    return _("run {run}: {head}; {n} steps: {shown}{rest}{gates}; {took} s since it started"
             ).format(run=run_id, head=head, n=len(steps), shown=shown or _("none run"),
                      rest=rest, gates=gates, took=f"{took:.0f}") + "\n"


def mirror_of(journal: Journal, run_id: str) -> tuple[str, str] | None:
    """(firstbox's name, folder) of the run's mirror (issue 11); None for a local run."""
    run = journal.run(run_id)
    fb = run.plan().firstbox
    if run.connection.get("mode") != "ssh" or fb is None:
        return None
    return fb.name, mirror_dir(run.connection.get("lock_path", DEFAULT_LOCK_PATH), run_id)


def status_text(journal: Journal, run_id: str, hints: Hints | None = None) -> str:
    run = journal.run(run_id)
    plan = run.plan()
    lines = [_("run {run} (zone {zone}, operator {operator}): {state}").format(
        run=run.id, zone=run.zone, operator=run.operator, state=word(run.state))]
    if run.message:  # its own next: lines are replaced by this invocation's, below
        kept = [ln for ln in run.message.splitlines() if not ln.startswith("next: ")]
        lines += ["  " + ln for ln in kept]
    marked = marked_done(journal, run_id)
    for s in journal.steps(run_id):
        step = plan.step(s.step_id)
        tries = [a for a in journal.attempts(run_id, s.step_id) if a.kind == "run"]
        extra = _(", {n} run attempts").format(n=len(tries)) if len(tries) > 1 else ""
        cut = " " + _("(cut: started, no end recorded)") \
            if tries and tries[-1].ended is None else ""
        if s.step_id in marked:
            cut += " " + _("(marked done by {who}: {why})").format(who=marked[s.step_id][0],
                                                                  why=marked[s.step_id][1])
        on = _("on {host}").format(host=step.target)
        lines.append(f"  [{s.position + 1:>3}] {word(s.state):<11} {s.step_id} ({step.rule}) "
                     f"{on}: {retranslate(step.title)}{extra}{cut}")
    lines += ["  " + ln for ln in accepted_lines(journal, run_id)]
    where = mirror_of(journal, run_id)
    if where is not None:
        lines.append("  " + _("mirror: {folder} on {host} (resume --take-over reads it from "
                              "another machine)").format(folder=where[1], host=where[0]))
    lines += ["  " + ln for ln in status_lines(journal, run_id)]
    state = effective_state(journal, run_id)
    if state != run.state:
        lines.append("  " + _("(recorded as {recorded}, but no nodeswap process here drives "
                              "it: {state})").format(recorded=run.state, state=state))
    lines += next_lines(journal, run_id, hints or Hints())
    return "\n".join(lines) + "\n"


