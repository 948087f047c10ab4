"""Who did what when, for the report: the sessions of a run (apply, resume, rollback) placed on
one time line, the gates with who approved them and when, and each node's settings changes.
Built from ``RunRecords`` (journal schema 4; a run recorded before it has no sessions and its
gates no approver: the report says so). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodeswap.errors import SettingsError
from nodeswap.run import journal as J
from nodeswap.transport.redact import MASK, Redactor
from nodeswap.zone.settings import SettingsFile

from .records import RunRecords

# How a session ended, in words (the run's state when it ended; None: cut short).
SESSION_ENDS = {
    J.RUN_DONE: "finished", J.RUN_FAILED: "failed", J.RUN_GATE: "stopped at a gate",
    J.RUN_INTERRUPTED: "interrupted", J.RUN_ROLLED_BACK: "rolled back",
    J.RUN_ROLLBACK_FAILED: "rollback failed", J.RUN_RUNNING: "running",
}  # fmt: skip


@dataclass(frozen=True)
class SessionLine:
    """One apply, resume or rollback; ``left``/``width``: its place on the run's time line,
    in percent of the span from the first session's start to the last one's end."""

    number: int
    action: str
    operator: str
    started: float
    ended: float | None
    state: str | None  # the run's state at its end; None: no end recorded (process gone?)
    steps: int  # steps with an attempt that began in this session
    left: float
    width: float

    @property
    def outcome(self) -> str:
        if self.state is None:
            return "no end recorded (its process was killed or is still running)"
        return SESSION_ENDS.get(self.state, self.state)

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


@dataclass(frozen=True)
class GateLine:
    """A gate step: approved (by whom, when), waiting for approval, or not reached."""

    step_id: str
    rule: str
    title: str
    target: str
    state: str  # approved | waiting | not reached
    operator: str | None  # None: not approved, or approved before schema 4 (not recorded)
    approved: float | None
    at: float | None = None  # place on the time line (percent), when approved

    @property
    def who(self) -> str:
        if self.state != "approved":
            return self.state
        return self.operator or "approved (who and when not recorded)"


@dataclass(frozen=True)
class SettingChange:
    """One key of a node's settings file, old vs new (R30); secret values masked."""

    key: str
    old: str | None
    new: str | None


def sessions(rec: RunRecords, started: float, ended: float | None
             ) -> tuple[tuple[SessionLine, ...], float, float]:
    """The run's sessions on one time line, with the line's (start, end)."""
    rows = rec.sessions
    end = max([ended or started] + [s.ended or s.started for s in rows]
              + [a.ended or a.started for a in rec.attempts])
    start = min([started] + [s.started for s in rows])
    span = max(end - start, 1e-9)
    out = []
    for i, s in enumerate(rows, start=1):
        until = s.ended if s.ended is not None else (
            rows[i].started if i < len(rows) else end)
        steps = {a.step_id for a in rec.attempts if s.started <= a.started <= until}
        left = 100.0 * (s.started - start) / span
        width = max(100.0 * (until - s.started) / span, 0.5)
        out.append(SessionLine(i, s.action, s.operator, s.started, s.ended, s.state,
                               len(steps), round(left, 2), round(min(width, 100 - left), 2)))
    return tuple(out), start, end


def gates(rec: RunRecords, states: dict[str, str], start: float, end: float
          ) -> tuple[GateLine, ...]:
    approvals = {a.step_id: a for a in rec.approvals}  # the latest approval of each gate
    approved = {s.step_id for s in rec.steps if s.approved}
    span = max(end - start, 1e-9)
    out = []
    for step in rec.plan.steps:
        if not step.gate:
            continue
        a = approvals.get(step.id)
        if states.get(step.id) == J.GATE:
            state = "waiting"
        elif a is not None or step.id in approved:
            state = "approved"
        else:
            state = "not reached"
        at = None if a is None else round(100.0 * (a.approved - start) / span, 2)
        out.append(GateLine(step.id, step.rule, step.title, step.target, state,
                            a.operator if a else None, a.approved if a else None, at))
    return tuple(out)


def settings_changes(old_text: str, new_text: str) -> tuple[SettingChange, ...]:
    """The keys whose value differs between a node's old and new settings files, in the new
    file's order (then keys only the old one has); a value whose key names a secret is
    masked (nodeswap.transport.redact)."""
    try:
        old = SettingsFile.from_text(old_text).as_dict()
        new = SettingsFile.from_text(new_text).as_dict()
    except SettingsError:
        return ()
    keys = list(new) + [k for k in old if k not in new]
    return tuple(SettingChange(k, _shown(k, old.get(k)), _shown(k, new.get(k)))
                 for k in keys if old.get(k) != new.get(k))


def _shown(key: str, value: str | None) -> str | None:
    if value is None:
        return None
    line = f'{key}="{value}"'
    return value if Redactor()(line) == line else MASK
