"""The executor: runs a Plan's steps exactly as written, recording each one in the journal.

Each step: gate (ask) -> check (exit 0: already done, skip) -> run -> verify -> analysis ->
record. The journal is written before and after every command, so a run cut at any instant
(Ctrl-C, kill -9, a lost host) resumes where it stopped: an interrupted step's ``check`` tells
whether it ran. A failed step stops the run (StepFailed), a gate without approval stops it
(StoppedAtGate); both are resumable. ``rollback`` runs the ``undo`` of the steps this run did,
in reverse order, and treats a step that failed or was cut as possibly done (see ``to_undo``).

Steps run along the plan's graph (each step's ``after``, nodeswap.plan.graph): a step starts
once the steps it depends on are done, beside others (run.schedule: a few at once, one side
effect per host at a time); resume skips what is done and goes on along the same graph.
Rollback undoes in reverse plan order, one undo at a time: plan order is a topological order
of the graph, so its reverse undoes every step before the steps it depended on. The executor
never prints: it announces events.
It owns no connection policy: a Connector hands it one transport per target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

from nodeswap.errors import (
    BugError,
    NodeswapError,
    StepFailed,
    StoppedAtGate,
    TransportError,
    ZoneError,
)
from nodeswap.i18n import N_, _
from nodeswap.plan.model import Plan, Step
from nodeswap.run import journal as J
from nodeswap.run.deadman import Deadman, DeadmanFired
from nodeswap.run.events import (
    EventSink,
    Notice,
    RunEnded,
    RunStarted,
    StepEnded,
    StepStarted,
    discard,
)
from nodeswap.run.gateview import Analyzer
from nodeswap.run.hints import Hints
from nodeswap.run.interrupt import cause
from nodeswap.run.journal import Journal
from nodeswap.run.lock import DEFAULT_LOCK_PATH, ZoneLock, operator_name
from nodeswap.run.mirror import MirrorWriter
from nodeswap.run.probe import ConsoleProbe
from nodeswap.run.schedule import Scheduler
from nodeswap.run.schema import RETIRED_BY_ROLLBACK
from nodeswap.run.sessionlog import APPLY, RESUME, ROLLBACK
from nodeswap.run.steps import (
    MARK_DONE,
    Approver,
    StepRunner,
    ZoneMark,
    default_analyzer,
)
from nodeswap.transport.base import Connector, Result
from nodeswap.transport.redact import Redactor, Secret


class Executor:
    """Runs and rolls back the runs of one zone's journal."""

    def __init__(
        self,
        journal: Journal,
        connector: Connector,
        *,
        events: EventSink = discard,
        approver: Approver | None = None,
        analyzer: Analyzer = default_analyzer,
        secrets: Iterable[Secret | str] = (),
        lock_path: str | None = DEFAULT_LOCK_PATH,
        break_lock: bool = False,
        rerun_unchecked: bool = False,
        hints: Hints | None = None,
        zone_mark: ZoneMark | None = None,
    ) -> None:
        self.journal = journal
        self._zone_mark = zone_mark
        self._hints = hints or Hints()
        self._conn = connector
        self._emit = events
        self._approve = approver
        self._analyze = analyzer
        self._redact = Redactor.of(secrets)
        self._zone_lock = ZoneLock(connector, lock_path, events=events, break_lock=break_lock)
        # issue 11: the run's record on firstbox, for `resume --take-over` from elsewhere
        self.mirror = MirrorWriter(journal, connector, lock_path, events=events,
                                   redact=self._redact)
        self._deadman = Deadman(journal, connector, self._zone_lock, events=events,
                                hints=self._hints)
        # issue 10: the console probe on firstbox, in the run's folder there
        self._probe = ConsoleProbe(journal, connector, lock_path, events=events)
        self._steps = StepRunner(journal, connector, events=events, approver=approver,
                                 analyzer=analyzer, redact=self._redact, hints=self._hints,
                                 rerun_unchecked=rerun_unchecked, zone_mark=zone_mark,
                                 before_effect=self.mirror.sync, wrap=self._probe.command)

    # --- runs -------------------------------------------------------------------------------

    def start(self, plan: Plan, *, zone: str = "default", operator: str | None = None,
              connection: Mapping[str, Any] | None = None) -> str:  # fmt: skip
        """Record a new run of ``plan`` (nothing runs yet); returns its id."""
        return self.journal.create_run(
            plan, operator=operator or operator_name(), zone=zone, connection=connection
        )

    async def execute(self, run_id: str, *, resumed: bool = False) -> None:
        """Run (or continue) ``run_id`` to its end. Raises StepFailed, StoppedAtGate,
        LockHeld; on cancellation (Ctrl-C) records the interruption and re-raises."""
        try:
            with self._session(run_id, RESUME if resumed else APPLY):
                await self._execute(run_id, resumed=resumed)
        finally:  # how it ended (done, gate, failure, Ctrl-C), on firstbox too
            await self.mirror.sync(run_id)
            self.mirror.log_cost(run_id)

    @contextmanager
    def _session(self, run_id: str, action: str) -> Iterator[None]:
        """Record this apply, resume or rollback as a session of the run (who, when, the
        run's state at its end: for the report), whatever way it ends."""
        sid = self.journal.begin_session(run_id, action, operator_name())
        try:
            yield
        finally:
            self.journal.end_session(sid, self.journal.run(run_id).state)

    async def _execute(self, run_id: str, *, resumed: bool) -> None:
        run = self.journal.run(run_id)
        plan = run.plan()
        if plan.fingerprint() != run.plan_fingerprint:
            raise BugError(f"run {run_id}: stored plan does not match its fingerprint")
        if run.state in (J.RUN_ROLLING_BACK, J.RUN_ROLLBACK_FAILED, J.RUN_ROLLED_BACK):
            raise ZoneError(_("run {run_id} is {state}: its rollback began, so it is not "
                              "resumed (steps it undid would run again); go on with it:\n"
                              "{hint}").format(run_id=run_id, state=run.state,
                                               hint=self._hints.next("rollback", run_id)))
        self._emit(RunStarted(run_id, len(plan.steps), resumed, run.plan_fingerprint))
        try:
            await self._zone_lock.take(plan, run_id, run.operator)
        except NodeswapError as exc:  # refused (zone locked) or firstbox unreachable
            if run.state == J.RUN_RUNNING and not self.journal.attempts(run_id):
                # a run just recorded that never began: not a ghost "running" run
                self._stopped(run_id, J.RUN_FAILED, f"refused before any step: {exc}")
            raise
        try:
            self.journal.set_run_state(run_id, J.RUN_RUNNING)
            self.mirror.soon(run_id)
            if resumed:  # a dead-man armed by an earlier process: fired, adopted or re-armed
                await self._deadman.adopt(run_id, plan, RESUME)
                self._probe.adopt(run_id)  # the console probe: adopted or started again
            finished = {r.step_id for r in self.journal.steps(run_id)
                        if r.state in (J.DONE, J.SKIPPED)}

            async def one(step: Step, pos: int) -> None:
                await self._steps.step(run_id, plan, step, pos)
                await self._deadman.after(run_id, plan, [(pos, step)])
                self.mirror.soon(run_id)  # after each step: one command, while others run

            await Scheduler(plan, finished, one).run()
        except asyncio.CancelledError as exc:
            self._stopped(run_id, J.RUN_INTERRUPTED, f"stopped by {cause(exc)}; to go on:"
                          f" {self._hints.command('resume', run_id)}")  # fmt: skip
            raise
        except StoppedAtGate as exc:
            self._stopped(run_id, J.RUN_GATE, str(exc))
            raise
        except NodeswapError as exc:
            if not isinstance(exc, DeadmanFired):  # a switch left to firstbox: said first
                why = await self._deadman.explain(run_id, plan)
                exc.args = (f"{why}\n{exc}",) if why else exc.args
            self._stopped(run_id, J.RUN_FAILED, str(exc))
            raise
        finally:  # stopped before its stop step: the probe stops, unless a switch is open
            await self._probe.end(run_id, plan)
            await self._zone_lock.release(run_id)
        self.journal.set_run_state(run_id, J.RUN_DONE)
        self._emit(RunEnded(run_id, J.RUN_DONE))

    def _stopped(self, run_id: str, state: str, message: str) -> None:
        message = self._redact(message)  # a NodeswapError's text may quote the zone
        self.journal.set_run_state(run_id, state, message)
        self._emit(RunEnded(run_id, state, message))

    # --- rollback ---------------------------------------------------------------------------

    async def rollback(self, run_id: str) -> None:
        """Run the ``undo`` of every side-effect step this run may have done, last first.

        A step counts (``to_undo``) when it has a ``run`` attempt in this run and is done or
        skipped, or possibly done: failed, cut (running, interrupted), or its undo failed or
        was cut (a later rollback retries it). Steps already undone are left alone, so a
        rollback cut or failed midway goes on where it stopped. Every undo is idempotent
        (runbooks.common). The run is ``rolling_back`` from the first undo to the last;
        stops at the first undo that fails (StepFailed naming step and rule, run
        rollback_failed).
        """
        try:
            with self._session(run_id, ROLLBACK):
                await self._rollback(run_id)
        finally:
            await self.mirror.sync(run_id)

    async def _rollback(self, run_id: str) -> None:
        run = self.journal.run(run_id)
        plan = run.plan()
        todo = to_undo(self.journal, run_id)
        self._refuse_past_no_return(plan, [s.step_id for s in todo])
        self._emit(RunStarted(run_id, len(todo), resumed=True))
        await self._zone_lock.take(plan, run_id, run.operator)
        again = self._hints.command("rollback", run_id)
        try:
            self.journal.set_run_state(run_id, J.RUN_ROLLING_BACK,
                                       f"rolling back ({len(todo)} steps to undo); if it is"
                                       f" cut, go on with it: {again}")  # fmt: skip
            await self._deadman.adopt(run_id, plan, ROLLBACK)  # disarmed before any undo
            await self._probe.end(run_id, plan, rollback=True)  # and the console probe
            for srec in reversed(todo):
                await self._undo(run_id, plan, plan.step(srec.step_id), srec.position)
                self.mirror.soon(run_id)
        except asyncio.CancelledError as exc:
            self._stopped(run_id, J.RUN_ROLLING_BACK, f"rollback stopped by {cause(exc)}; to go"
                          f" on with it: {again}")  # fmt: skip
            raise
        except NodeswapError as exc:
            self._stopped(run_id, J.RUN_ROLLBACK_FAILED, str(exc))
            raise
        finally:
            await self._zone_lock.release(run_id)
        self._forget_pins(run_id)
        self._stopped(run_id, J.RUN_ROLLED_BACK, f"{len(todo)} steps considered")

    def _forget_pins(self, run_id: str) -> None:
        """Every undo ran, so the hosts this run created (the only ones it pins) are gone:
        retire its pins (kept, with time and reason, for the report and later messages). A
        rollback that stops midway retires none: its VMs may still be there."""
        retired = self.journal.retire_pins(run_id, RETIRED_BY_ROLLBACK.format(run_id=run_id))
        if retired:
            names = ", ".join(sorted({p.key_id for p in retired}))
            self._emit(Notice(f"forgot the host keys this run pinned ({names}): its rollback "
                              "destroyed those VMs", run_id))  # fmt: skip

    @staticmethod
    def _refuse_past_no_return(plan: Plan, done: list[str]) -> None:
        """A plan may name a phase after which rollback is no longer possible (R37 archives
        the old VMs): then say what manual restore is possible instead, and change nothing."""
        phase = plan.irreversible_phase
        if not phase:
            return
        past = [sid for sid in done
                if plan.step(sid).phase == phase and plan.step(sid).side_effect]
        if past:
            raise ZoneError(
                _("rollback is not possible any more: the {phase} phase has begun ({steps}). "
                  "Nothing was changed.\n").format(
                    phase=phase, steps=", ".join(f"{sid} ({plan.step(sid).rule})" for sid in past))
                + plan.manual_restore)

    async def _undo(self, run_id: str, plan: Plan, step: Step, pos: int) -> None:
        target = plan.targets[step.undo_target or step.target]
        if not step.side_effect or step.undo is None:
            if step.side_effect:
                self._emit(Notice(f"step {step.id} has no undo: left as it is", run_id))
            return
        started = time.monotonic()
        self._emit(StepStarted(run_id, step.id, "undo", target.name, step.rule, step.title, pos))
        try:
            transport = await self._conn.transport(target)
            res = await self._steps.attempt(run_id, step, "undo",
                                            self._probe.command(run_id, step, step.undo),
                                            transport, timeout=step.timeout)
        except TransportError as exc:  # the host is down or lost: name the step and rule
            await self._conn.forget(target)
            self._undo_failed(run_id, step, target.name, None, f"could not reach the host: {exc}",
                              cause=exc)  # fmt: skip
        if res.exit_status != 0:
            why = f"timed out after {step.timeout:g}s" if res.timed_out else N_("failed")
            self._undo_failed(run_id, step, target.name, res, why)
        if self._zone_mark is not None:  # issue 14: the zone's fingerprint after the undo
            await self._zone_mark(run_id, plan, step, "undo")
        self.journal.set_step_state(run_id, step.id, J.UNDONE)
        self._emit(StepEnded(run_id, step.id, target.name, J.UNDONE, 0, time.monotonic() - started))

    def _undo_failed(self, run_id: str, step: Step, host: str, res: Result | None, why: str, *,
                     cause: BaseException | None = None) -> NoReturn:  # fmt: skip
        """Record the failed undo (the next rollback retries it) and raise StepFailed naming
        the step, its rule and the host."""
        self.journal.set_step_state(run_id, step.id, J.UNDO_FAILED)
        status = None if res is None else res.exit_status
        tail = self._redact(res.tail()) if res is not None else ""
        why = self._redact(why)
        self._emit(StepEnded(run_id, step.id, host, J.UNDO_FAILED, status, 0.0, why))
        shown = _("\n--- last lines ---\n{tail}").format(tail=tail) if tail else ""
        raise StepFailed(
            _("undo of step {step} ({rule}: {title}) on {host} {why} (exit status {status}); "
              "command: {command}{shown}\nfix the cause, then roll back again (undone steps "
              "are not run twice; this one is tried again):\n{hint}").format(step=step.id,
              rule=step.rule, title=step.title, host=host, why=_(why), status=status,
              command=self._redact(step.undo or ""), shown=shown,
              hint=self._hints.next("rollback", run_id)),
            host=host, step=step.id, rule=step.rule, command=self._redact(step.undo or ""),
            exit_status=status, output_tail=tail,
        ) from cause  # fmt: skip


# A step in one of these states, with a run attempt in this run, may have changed the zone.
_MAYBE_DONE = (J.DONE, J.SKIPPED, J.FAILED, J.INTERRUPTED, J.RUNNING, J.UNDO_FAILED)


def to_undo(journal: Journal, run_id: str) -> list[J.StepRecord]:
    """The steps a rollback of ``run_id`` considers, in plan order: those with a ``run``
    attempt in this run (a step skipped because it was done before the run is left alone)
    that are done, skipped, or possibly done: failed or cut while running (its command may
    have taken effect: a cut ``shutdown -h`` left the old VM off), or whose undo failed or
    was cut (tried again); and those a person marked done (``resume --mark-done``: judged to
    have taken effect, so undone like any done step, even one marked before it ever ran).
    Steps already undone are not."""
    ran = {a.step_id for a in journal.attempts(run_id) if a.kind in ("run", MARK_DONE)}
    return [s for s in journal.steps(run_id) if s.step_id in ran and s.state in _MAYBE_DONE]
