"""Formatting shared by the model's notes and both renderings: times, durations, exit
statuses, a finding's line, a check's verdict. Pure; plain text (each rendering escapes it).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import CheckLine, StepLine


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def fmt_exit(status: int | None) -> str:
    return "—" if status is None else str(status)


def fmt_line(text: str | None, line: int | None) -> str:
    if text is None:
        return "—"
    return f"{text} (line {line})" if line is not None else text


def verdict(c: CheckLine) -> str:
    if c.state != "compared":
        return c.state + (f": {c.note}" if c.note else "")
    counts = [f"{c.count(k)} {k}" for k in ("unexpected", "attention", "ignored") if c.count(k)]
    return ("ok" if c.ok else "UNEXPECTED") + (f" ({', '.join(counts)})" if counts else
                                                " (no findings)")


def fmt_clock(ts: float | None) -> str:
    """The time of day (UTC) alone: the time line's ends, a session's end."""
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def step_note(s: StepLine) -> str:
    """A step's note for the step table, with its run count when it ran more than once."""
    runs = f"{s.attempts} runs" if s.attempts > 1 else ""
    return "; ".join(p for p in (s.note, runs) if p)
