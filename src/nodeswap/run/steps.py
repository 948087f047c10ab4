"""The step protocol: one step of a run, as the executor drives it, recorded in the journal.

Each step: gate (ask) -> check (exit 0: already done, skip) -> run -> verify -> analysis ->
record; every command is one attempt, written to the journal before and after it runs.
Which steps may run at once is the plan's graph (nodeswap.plan.graph, run.schedule).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Mapping

from nodeswap.errors import (
    BugError,
    InputError,
    Problem,
    StepFailed,
    StoppedAtGate,
    TransportError,
)
from nodeswap.i18n import N_, _
from nodeswap.plan.model import Plan, Step, Target, gathered
from nodeswap.run import journal as J
from nodeswap.run.deadman import command_for
from nodeswap.run.events import (
    EventSink,
    GateReached,
    StepEnded,
    StepOutput,
    StepStarted,
)
from nodeswap.run.gates import Gate
from nodeswap.run.gateview import Analyzer, GateViews, verdict
from nodeswap.run.hints import Hints
from nodeswap.run.interrupt import cause
from nodeswap.run.journal import Journal, OutputRecorder
from nodeswap.run.lock import operator_name
from nodeswap.transport.base import Connector, Result, Transport
from nodeswap.transport.redact import Redactor

# An approver gets the Gate (data only, never the journal). A plain function is called in a
# worker thread; a coroutine function (the CLI's terminal prompt) is awaited, so Ctrl-C or
# SIGTERM while the operator reads cancels it like any other wait.
Approver = Callable[[Gate], "bool | Awaitable[bool]"]
# Called after a step (kind "run") or its undo ("undo") succeeded, before it is marked done:
# records the zone's fingerprint where the step may have changed it (nodeswap.live.worldcheck).
ZoneMark = Callable[[str, Plan, Step, str], Awaitable[None]]

def default_analyzer(
    kind: str, output: str, reference: str | None, options: Mapping[str, str]
) -> object:
    """Calls ``nodeswap.checks.analyze`` (issue 5), imported when first needed."""
    from nodeswap import checks  # noqa: PLC0415 (the checks registry is optional here)

    analyze = getattr(checks, "analyze", None)
    if analyze is None:
        raise BugError(f"nodeswap.checks.analyze is missing: cannot run analysis {kind!r}")
    return analyze(kind, output, reference, options)


MARK_DONE = "mark_done"  # the attempt kind of `resume --mark-done STEP --reason WHY`


def was_cut_mid_run(journal: Journal, run_id: str, step_id: str) -> bool:
    """Whether the step's latest ``run`` attempt was cut (kill -9: no end recorded; Ctrl-C or
    SIGTERM: interrupted), so nobody knows whether its command took effect. It stays so until
    the step runs again (``--rerun-unchecked``) or a person marks it done (``--mark-done``):
    a refused resume does not clear it."""
    last = None
    for a in journal.attempts(run_id, step_id):
        if a.kind in ("run", MARK_DONE):
            last = a
    if last is None or last.kind == MARK_DONE:
        return False
    return last.ended is None or last.outcome == "interrupted"


def mark_done(journal: Journal, run_id: str, step_id: str, *, reason: str, operator: str,
              redact: Redactor | None = None) -> None:
    """`resume --mark-done STEP --reason WHY`: a person judged on the hosts that step
    ``step_id`` took effect (what no check can tell). Journaled as an attempt of kind
    ``mark_done`` (host: the operator, command: the reason, redacted), and the step is
    done; status and the report show who and why. InputError (exit 2) for an unknown step,
    one already done, or an empty reason."""
    plan = journal.run(run_id).plan()
    if step_id not in {s.id for s in plan.steps}:
        raise InputError([Problem(_("run {run_id} has no step {step_id!r}").format(
            run_id=run_id, step_id=step_id), key="--mark-done")])
    if not reason.strip():
        raise InputError([Problem(_("--mark-done needs --reason WHY: what you saw on the host"),
                                  key="--reason")])
    if journal.step(run_id, step_id).state in (J.DONE, J.SKIPPED):
        raise InputError([Problem(_("step {step_id} of run {run_id} is done already").format(
                                    step_id=step_id, run_id=run_id),
                                  key="--mark-done")])
    text = (redact or Redactor.of(()))(reason.strip())
    aid = journal.begin_attempt(run_id, step_id, MARK_DONE, operator, text)
    journal.end_attempt(aid, outcome="ok", exit_status=0)
    journal.set_step_state(run_id, step_id, J.DONE)


def marked_done(journal: Journal, run_id: str) -> dict[str, tuple[str, str]]:
    """step id -> (operator, reason) of the steps a person marked done (--mark-done)."""
    return {a.step_id: (a.host, a.command) for a in journal.attempts(run_id)
            if a.kind == MARK_DONE}


class StepRunner:
    """Runs one step of a run, recorded (run.schedule runs several of them at once)."""

    def __init__(self, journal: Journal, connector: Connector, *, events: EventSink,
                 approver: Approver | None, analyzer: Analyzer, redact: Redactor, hints: Hints,
                 rerun_unchecked: bool = False, zone_mark: ZoneMark | None = None,
                 before_effect: Callable[[str], Awaitable[None]] | None = None,
                 wrap: Callable[[str, Step, str], str] | None = None,
                 ) -> None:  # fmt: skip
        self.journal = journal
        self._conn = connector
        self._emit = events
        self._approve = approver
        self._analyze = analyzer
        self._redact = redact
        self._hints = hints
        self._rerun_unchecked = rerun_unchecked
        self._zone_mark = zone_mark
        self._before_effect = before_effect  # the mirror (issue 11): a cut step is seen there
        self._wrap = wrap  # (run, step, command) -> the command as sent (the console probe's)
        self._views = GateViews(journal, connector, analyzer=analyzer, redact=redact)

    # --- one step ---------------------------------------------------------------------------

    async def step(self, run_id: str, plan: Plan, step: Step, pos: int) -> None:
        """One step; a host that cannot be reached (or whose connection breaks during the
        check or verify) fails the step like a failed command: StepFailed names the step,
        the rule and the host, with the transport's error as its cause."""
        try:
            await self._one_step(run_id, plan, step, pos)
        except TransportError as exc:
            target = plan.targets[step.target]
            try:
                self._fail(run_id, step, target, None, f"could not reach the host: {exc}")
            except StepFailed as failed:
                raise failed from exc

    async def _one_step(self, run_id: str, plan: Plan, step: Step, pos: int) -> None:
        rec = self.journal.step(run_id, step.id)
        if rec.state in (J.DONE, J.SKIPPED):
            return
        target = plan.targets[step.target]
        if step.gate and not rec.approved:
            await self._gate(run_id, plan, step, target)
        was_cut = rec.state in (J.RUNNING, J.INTERRUPTED) or was_cut_mid_run(
            self.journal, run_id, step.id)
        started = time.monotonic()
        # a check on another host (check_target) decides before the step's own target is
        # contacted: that one may be down on purpose (R32's shutdown, R33's reboot)
        checker = plan.targets[step.check_target or step.target]
        transport = await self._conn.transport(checker)
        self._emit(StepStarted(run_id, step.id, "run", target.name, step.rule, step.title, pos))
        if step.check is not None:
            res = await self.attempt(
                run_id, step, "check", step.check, transport, timeout=step.timeout
            )
            if res.exit_status == 0:
                self.journal.set_step_state(run_id, step.id, J.SKIPPED)
                why = "check says done" + (" (the interrupted attempt had run)" if was_cut else "")
                self._emit(StepEnded(run_id, step.id, target.name, J.SKIPPED, 0,
                                     time.monotonic() - started, why))  # fmt: skip
                return
        elif (was_cut and step.side_effect and step.rerun_safe is None
              and not self._rerun_unchecked):
            self._fail(run_id, step, target, None, "was interrupted while running and has no"
                       " check, so nodeswap cannot tell whether it ran: look on the host, then"
                       " resume with --rerun-unchecked to run it again, or with --mark-done "
                       f"{step.id} --reason WHY if it did run",
                       resume_flags=("--rerun-unchecked",))  # fmt: skip
        if checker is not target:
            transport = await self._conn.transport(target)
        self.journal.set_step_state(run_id, step.id, J.RUNNING)
        res = await self._run_command(run_id, step, target, transport)
        if step.verify is not None:
            transport = await self._conn.transport(target)
            v = await self.attempt(
                run_id, step, "verify", step.verify, transport, timeout=step.timeout
            )
            if v.exit_status != 0:
                self._fail(run_id, step, target, v, N_("ran but its verify failed"))
        if self._zone_mark is not None:  # issue 14: the zone's fingerprint after the step
            await self._zone_mark(run_id, plan, step, "run")
        if step.analysis is not None:
            await self._analysis(run_id, plan, step, target, res)
        self.journal.set_step_state(run_id, step.id, J.DONE)
        self._emit(StepEnded(run_id, step.id, target.name, J.DONE, res.exit_status,
                             time.monotonic() - started))  # fmt: skip

    async def _run_command(
        self, run_id: str, step: Step, target: Target, transport: Transport
    ) -> Result:
        try:
            command = command_for(self.journal, run_id, step)
            if self._wrap is not None:
                command = self._wrap(run_id, step, command)
            res = await self.attempt(run_id, step, "run", command, transport, stdin=step.stdin,
                                     timeout=step.timeout)
        except TransportError as exc:
            if not step.disconnects:
                self._fail(run_id, step, target, None, f"lost its connection: {exc}")
            res = Result(target.name, step.command, 0, "", "")
        if step.disconnects:
            await self._conn.forget(target)  # the host went down on purpose: reconnect later
            if res.exit_status is None and not res.timed_out:
                res = Result(target.name, step.command, 0, res.stdout, res.stderr)
        if res.exit_status != 0:
            why = f"timed out after {step.timeout:g}s" if res.timed_out else N_("failed")
            self._fail(run_id, step, target, res, why)
        return res

    async def _gate(self, run_id: str, plan: Plan, step: Step, target: Target) -> None:
        """Show the gate (what it changes, the checks run again now) and ask the approver,
        in a worker thread with nothing but the Gate: the journal stays in this thread."""
        gate = await self._views.view(run_id, plan, step, target)
        shown = self._redact(step.command)
        self._emit(GateReached(run_id, step.id, target.name, step.rule, step.title, shown,
                               None, gate.summary()))  # fmt: skip
        ok = await self._ask(gate)
        self._emit(GateReached(run_id, step.id, target.name, step.rule, step.title, shown, ok))
        if not ok:
            self.journal.set_step_state(run_id, step.id, J.GATE)
            raise StoppedAtGate(
                _("run {run_id} stopped at gate {step} ({rule}: {title}) on {host}; to approve "
                  "it and go on, or to undo the run:\n{hint}\n{hint2}").format(run_id=run_id,
                  step=step.id, rule=step.rule, title=step.title, host=target.name,
                  hint=self._hints.next("resume", run_id, "--approve", step.id),
                  hint2=self._hints.next("rollback", run_id))
            )
        self.journal.approve(run_id, step.id, operator_name())  # who and when: the report

    async def _ask(self, gate: Gate) -> bool:
        if self._approve is None:
            return False
        if inspect.iscoroutinefunction(self._approve):
            answer = await self._approve(gate)
        else:
            answer = await asyncio.to_thread(self._approve, gate)
        return answer is True

    async def _analysis(
        self, run_id: str, plan: Plan, step: Step, target: Target, res: Result
    ) -> None:
        a = step.analysis
        assert a is not None
        output = self.journal.last_output(run_id, step.id) or ""
        reference = None
        if gathered(step):  # several hosts' outputs, by label
            outputs = {label: self.journal.last_output(run_id, sid)
                       for label, sid in gathered(step).items()}
            missing = sorted(sid for label, sid in gathered(step).items() if outputs[label] is None)
            if missing:
                self._fail(run_id, step, target, None,
                           f"has no output of step(s) {', '.join(missing)} to look at")
            reference = json.dumps(outputs, sort_keys=True)
        elif a.against is not None:
            reference = self.journal.last_output(run_id, a.against)
            if reference is None:
                self._fail(
                    run_id,
                    step,
                    target,
                    None,
                    f"has no output of step {a.against!r} to compare with",
                )
        aid = self.journal.begin_attempt(run_id, step.id, "analysis", target.name, a.kind)
        ok, text = verdict(self._analyze(a.kind, output, reference, dict(a.options)))
        rec = OutputRecorder(self._redact)
        rec.feed("stdout", text)
        out_z, err_z, _, _ = rec.finish()
        self.journal.end_attempt(aid, outcome="ok" if ok else "failed", exit_status=0 if ok else 1,
                                 stdout_z=out_z, stderr_z=err_z)  # fmt: skip
        if text:
            self._emit(StepOutput(step.id, target.name, "stdout", self._redact(text) + "\n"))
        if not ok:
            r = Result(target.name, a.kind, 1, text, "")
            self._fail(run_id, step, target, r, f"analysis {a.kind!r} found differences")

    def _fail(self, run_id: str, step: Step, target: Target, res: Result | None, why: str,
              *, resume_flags: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.journal.set_step_state(run_id, step.id, J.FAILED)
        why = self._redact(why)  # a TransportError's text may quote the host's output
        tail = self._redact(res.tail()) if res is not None else ""
        status = None if res is None else res.exit_status
        self._emit(StepEnded(run_id, step.id, target.name, J.FAILED, status, 0.0, why))
        shown = _("\n--- last lines ---\n{tail}").format(tail=tail) if tail else ""
        raise StepFailed(
            _("step {step} ({rule}: {title}) on {host} {why} (exit status {status}); command: "
              "{command}{shown}\nfix the cause, then resume the run, or undo "
              "it:\n{hint}\n{hint2}").format(step=step.id, rule=step.rule, title=step.title,
              host=target.name, why=_(why), status=status, command=self._redact(step.command),
              shown=shown, hint=self._hints.next("resume", run_id, *resume_flags),
              hint2=self._hints.next("rollback", run_id)),
            host=target.name, step=step.id, rule=step.rule, command=self._redact(step.command),
            exit_status=status, output_tail=tail,
        )  # fmt: skip

    # --- one command, recorded --------------------------------------------------------------

    async def attempt(self, run_id: str, step: Step, kind: str, command: str, transport: Transport,
                       *, stdin: str | None = None, timeout: float) -> Result:  # fmt: skip
        """Run one command, recorded before (start) and after (end, output) it runs."""
        aid = self.journal.begin_attempt(
            run_id, step.id, kind, transport.host, self._redact(command)
        )
        rec = OutputRecorder(self._redact)
        loud = kind in ("run", "undo")
        if loud and step.side_effect and self._before_effect is not None:
            await self._before_effect(run_id)  # begun, on firstbox before its command is sent

        def sink(stream: str, text: str) -> None:
            clean = rec.feed(stream, text)
            if clean and loud:
                self._emit(StepOutput(step.id, transport.host, stream, clean))

        def finish(outcome: str, res: Result | None = None, error: str | None = None) -> None:
            out_z, err_z, out_rest, err_rest = rec.finish()
            for stream, rest in (("stdout", out_rest), ("stderr", err_rest)):
                if rest and loud:
                    self._emit(StepOutput(step.id, transport.host, stream, rest))
            self.journal.end_attempt(
                aid, outcome=outcome, exit_status=None if res is None else res.exit_status,
                timed_out=res is not None and res.timed_out, error=error,
                stdout_z=out_z, stderr_z=err_z,
            )  # fmt: skip

        try:
            res = await transport.run(command, stdin=stdin, timeout=timeout, sink=sink)
        except TransportError as exc:
            finish("disconnected" if step.disconnects else "error", error=self._redact(str(exc)))
            raise
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            finish("interrupted", error=f"stopped by {cause(exc)}")
            self.journal.set_step_state(run_id, step.id, J.INTERRUPTED)
            raise
        outcome = "ok" if res.ok else ("timeout" if res.timed_out else "failed")
        finish(outcome, res)
        return res
