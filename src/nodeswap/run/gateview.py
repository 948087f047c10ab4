"""What a gate shows, gathered live: the file the gated step rewrites as a diff against the
host's copy now, the gated command's own output when it only reads, R20's foreign jobs on
firstbox, and every read-only check that still applies, run again now (each recorded in the
journal as a ``gate-check`` attempt). The Gate itself (data) is nodeswap.run.gates'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from nodeswap.errors import BugError, TransportError
from nodeswap.i18n import _, retranslate
from nodeswap.live import fence
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run.gates import Gate, GateCheck, file_diff, group_findings, rechecks, written_path
from nodeswap.run.journal import Journal, OutputRecorder
from nodeswap.run.lock import LOCK_TIMEOUT
from nodeswap.shell import cmd
from nodeswap.transport.base import Connector
from nodeswap.transport.redact import Redactor

# (kind, output, reference, options) -> a verdict (see _verdict); nodeswap.checks.analyze.
Analyzer = Callable[[str, str, "str | None", Mapping[str, str]], object]


def verdict(result: object) -> tuple[bool, str]:
    """(ok, text) of an analyzer's answer: a bool, an object with ``ok``, or a list of
    findings (ok when empty)."""
    if isinstance(result, bool):
        return result, ""
    ok = getattr(result, "ok", None)
    if isinstance(ok, bool):
        findings = getattr(result, "findings", None)  # nodeswap.checks.CheckResult
        text = "\n".join(str(f) for f in findings) if findings is not None else str(result)
        return ok, text
    if isinstance(result, Sequence) and not isinstance(result, str):
        return len(result) == 0, "\n".join(str(f) for f in result)
    raise BugError(f"analyzer returned {result!r}: expected bool, .ok or a list of findings")


class GateViews:
    """Builds the Gate of a gated step, reading the zone as it is now."""

    def __init__(self, journal: Journal, connector: Connector, *, analyzer: Analyzer,
                 redact: Redactor) -> None:  # fmt: skip
        self.journal = journal
        self._conn = connector
        self._analyze = analyzer
        self._redact = redact

    async def view(self, run_id: str, plan: Plan, step: Step, target: Target) -> Gate:
        """The gate as the operator sees it: the file the step rewrites as a diff against the
        host's copy now, the gated command's own output when it only reads (R37's domain
        list), and every read-only check that still applies, run again now (recorded as
        ``gate-check`` attempts)."""
        notes: list[str] = []
        diff: tuple[str, ...] = ()
        preview = ""
        path = written_path(step)
        try:
            t = await self._conn.transport(target)
            if path is not None and step.stdin is not None:
                now = await t.run(cmd("cat", "--", path), timeout=LOCK_TIMEOUT)
                if now.exit_status != 0:
                    notes.append(_("{path} cannot be read on {host}: shown as new").format(
                        path=path, host=target.name))
                diff = file_diff(path, self._redact(now.stdout if now.ok else ""),
                                 self._redact(step.stdin), step.rule)  # fmt: skip
            if not step.side_effect:
                seen = await t.run(step.command, timeout=step.timeout)
                preview = self._redact(seen.stdout + seen.stderr)
        except TransportError as exc:
            notes.append(_("could not read {host}: {error}").format(
                host=target.name, error=self._redact(str(exc))))
        notes += await self._fence_notes(plan)  # before the checks: some run exec_nodes.sh
        checks = await asyncio.gather(*(self._recheck(run_id, plan, s)
                                        for s in rechecks(plan, step)))  # fmt: skip
        return Gate(run_id, step, target.name, target.address, self._redact(step.command),
                    self.journal.run(run_id).plan_fingerprint, diff, preview, tuple(checks),
                    tuple(notes))  # fmt: skip

    async def _fence_notes(self, plan: Plan) -> list[str]:
        """R20 at every gate: update, build or exec jobs nodeswap did not start running on
        firstbox, and cron entries that push pitrix-hosts (nodeswap.live.fence)."""
        fb = plan.firstbox
        if fb is None:
            return []
        try:
            t = await self._conn.transport(fb)
            res = await t.run(fence.FENCE_COMMAND, timeout=LOCK_TIMEOUT)
        except TransportError as exc:
            return [_("R20: could not look for foreign jobs on {host}: {error}").format(
                host=fb.name, error=self._redact(str(exc)))]
        return [self._redact(retranslate(w)) for w in fence.warnings(fence.parse(res.stdout))]

    async def _recheck(self, run_id: str, plan: Plan, step: Step) -> GateCheck:
        """Run a read-only check step again (its fetch, then its analysis) for a gate."""
        a = step.analysis
        assert a is not None
        target = plan.targets[step.target]
        aid = self.journal.begin_attempt(run_id, step.id, "gate-check", target.name,
                                         self._redact(step.command))  # fmt: skip
        rec = OutputRecorder(self._redact)

        def end(outcome: str, text: str, error: str | None = None) -> None:
            rec.feed("stdout", text)
            out_z, err_z, _, _ = rec.finish()
            self.journal.end_attempt(aid, outcome=outcome, exit_status=None, error=error,
                                     stdout_z=out_z, stderr_z=err_z)  # fmt: skip

        try:
            t = await self._conn.transport(target)
            res = await t.run(step.command, stdin=step.stdin, timeout=step.timeout)
        except TransportError as exc:
            why = _("could not reach {host}: {error}").format(host=target.name,
                                                               error=self._redact(str(exc)))
            end("error", "", why)
            return GateCheck(step.id, step.rule, a.kind, False, (), why)
        if res.exit_status != 0:
            why = _("{host}: exit status {status}: {output}").format(
                host=target.name, status=res.exit_status, output=self._redact(res.tail()))
            end("failed", "", why)
            return GateCheck(step.id, step.rule, a.kind, False, (), why)
        reference = None if a.against is None else self.journal.last_output(run_id, a.against)
        ok, text = verdict(self._analyze(a.kind, self._redact(res.stdout), reference,
                                          dict(a.options)))  # fmt: skip
        text = self._redact(text)
        end("ok" if ok else "failed", text)
        return GateCheck(step.id, step.rule, a.kind, ok, group_findings(text))
