"""A run's records as the report reads them from the journal: ``RunRecords.from_journal`` is the
one place that reads a journal, through the small ``JournalReader`` protocol (the records and the
outputs the report shows, the run's sessions, gate approvals and the host keys it saw; nothing
else).

Every text the report may show is redacted again as it is read (with the forms known today: a
journal written by an older nodeswap may hold what it did not know): the run's message, the
attempts' commands and errors, the outputs read. Only the outputs the report shows are read
(analysis inputs, the failed step's last attempt). Must not: build the report, render, print.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from nodeswap.plan.model import Plan, gathered
from nodeswap.run import journal as J
from nodeswap.run.sessionlog import ApprovalRecord, SessionRecord
from nodeswap.runbooks import probe as P
from nodeswap.runbooks.common import BACKUP_STEP
from nodeswap.transport.redact import Redactor


class JournalReader(Protocol):
    """What the report reads from a journal (nodeswap.run.journal.Journal has it)."""

    def run(self, run_id: str) -> J.RunRecord: ...
    def steps(self, run_id: str) -> list[J.StepRecord]: ...
    def attempts(self, run_id: str, step_id: str | None = None) -> list[J.AttemptRecord]: ...
    def output(self, attempt_id: int) -> tuple[str, str]: ...
    def pinned_keys(self, run_id: str | None, *, retired: bool = False) -> dict[str, str]: ...
    def seen_keys(self, run_id: str | None) -> dict[str, str]: ...
    def sessions(self, run_id: str) -> list[SessionRecord]: ...
    def approvals(self, run_id: str) -> list[ApprovalRecord]: ...


@dataclass(frozen=True)
class RunRecords:
    """A run's journal records, read once. ``outputs``: (stdout, stderr) by attempt id, only
    for the attempts the report shows (analysis inputs, the failed step's last attempt, the
    R6 backup's last passed check or verify: it printed the backup's path and digest)."""

    run: J.RunRecord
    plan: Plan
    steps: tuple[J.StepRecord, ...]
    attempts: tuple[J.AttemptRecord, ...]
    outputs: Mapping[int, tuple[str, str]]
    pinned_keys: Mapping[str, str]
    seen_keys: Mapping[str, str] = field(default_factory=dict)  # known hosts' keys (old nodes)
    sessions: tuple[SessionRecord, ...] = ()  # apply, resume, rollback (journal schema 4)
    approvals: tuple[ApprovalRecord, ...] = ()  # gates approved: who, when (schema 4)

    @classmethod
    def from_journal(cls, journal: JournalReader, run_id: str) -> RunRecords:
        """The records, every text the report may show redacted (see the module doc)."""
        clean = Redactor()
        run = journal.run(run_id)
        plan = run.plan()
        run = replace(run, message=None if run.message is None else clean(run.message))
        steps = tuple(journal.steps(run_id))
        attempts = tuple(replace(a, command=clean(a.command),
                                 error=None if a.error is None else clean(a.error))
                         for a in journal.attempts(run_id))  # fmt: skip
        wanted = _attempts_shown(plan, steps, attempts)
        outputs = {i: (clean(out), clean(err))
                   for i in sorted(wanted) for out, err in (journal.output(i),)}  # fmt: skip
        return cls(run, plan, steps, attempts, outputs,
                   dict(journal.pinned_keys(run_id, retired=True)),
                   dict(journal.seen_keys(run_id)), tuple(journal.sessions(run_id)),
                   tuple(journal.approvals(run_id)))


def last_attempt(attempts: Iterable[J.AttemptRecord], step_id: str, kinds: Sequence[str]
                 ) -> J.AttemptRecord | None:
    """The latest attempt of ``step_id`` of one of ``kinds`` (finished ones first)."""
    mine = [a for a in attempts if a.step_id == step_id and a.kind in kinds]
    done = [a for a in mine if a.ended is not None]
    pick = done or mine
    return pick[-1] if pick else None


def last_complete_run(attempts: Iterable[J.AttemptRecord], step_id: str
                      ) -> J.AttemptRecord | None:
    """The latest ``run`` attempt of ``step_id`` that ended with exit status 0: the only
    output the executor analyzed (a cut or failed run's output is partial: never compared)."""
    done = [a for a in attempts if a.step_id == step_id and a.kind == "run"
            and a.ended is not None and a.exit_status == 0]
    return done[-1] if done else None


def backup_attempt(attempts: Iterable[J.AttemptRecord]) -> J.AttemptRecord | None:
    """The R6 backup step's latest check or verify that passed (exit 0): its output names the
    backup and its digest (``runbooks.commands.same_tree_digest``)."""
    passed = [a for a in attempts if a.step_id == BACKUP_STEP and a.kind in ("check", "verify")
              and a.ended is not None and a.exit_status == 0]  # fmt: skip
    return passed[-1] if passed else None


def probe_attempts(plan: Plan, attempts: Sequence[J.AttemptRecord]) -> list[int]:
    """The console probe's attempts whose output the downtime reads (issue 10): its start
    step's runs and undos (firstbox's time; an undo's samples) and its stop step's runs."""
    if not any(s.id == P.START for s in plan.steps):
        return []
    return [a.id for a in attempts if a.ended is not None and a.exit_status == 0
            and ((a.step_id == P.START and a.kind in ("run", "undo"))
                 or (a.step_id == P.STOP and a.kind == "run"))]


def _attempts_shown(plan: Plan, steps: Sequence[J.StepRecord],
                    attempts: Sequence[J.AttemptRecord]) -> set[int]:
    ids: set[int] = set()
    for step in plan.steps:
        if step.analysis is None:
            continue
        for sid in (step.id, step.analysis.against, *gathered(step).values()):
            a = last_complete_run(attempts, sid) if sid else None
            if a is not None:
                ids.add(a.id)
    for rec in steps:
        if rec.state in (J.FAILED, J.INTERRUPTED, J.UNDO_FAILED):
            a = last_attempt(attempts, rec.step_id, ("check", "run", "verify", "analysis", "undo"))
            if a is not None:
                ids.add(a.id)
    backup = backup_attempt(attempts)
    if backup is not None:
        ids.add(backup.id)
    return ids | set(probe_attempts(plan, attempts))
