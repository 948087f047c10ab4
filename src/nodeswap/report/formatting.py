"""Formatting shared by the model's notes and both renderings: times, durations, exit
statuses, a finding's line, a check's verdict. Pure; plain text (each rendering escapes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from nodeswap.i18n import N_, _

if TYPE_CHECKING:
    from .downtime import Downtime, DowntimeWindow
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


def fmt_windows(windows: Sequence[DowntimeWindow]) -> str:
    """A switch's windows of console downtime: ``HH:MM:SS 1.2 s (503)``, a ``+`` after a
    duration that is a lower bound (the probe stopped before an answer came)."""
    if not windows:
        return _("none")
    return "; ".join(
        f"{fmt_clock(w.start).removesuffix(' UTC')} {fmt_duration(w.duration)}"
        + ("" if w.closed else "+") + " ("
        + "/".join(str(c) if c else _("no answer") for c in w.statuses) + ")"
        for w in windows)


def probe_sentence(d: Downtime) -> str:
    return _("Measured on firstbox: {url} through the VIP every {interval:g} s (timeout "
             "{timeout:g} s), {samples} requests; a window runs from the first unanswered "
             "request to the next answer (2xx/3xx).").format(
        url=d.url, interval=d.interval, timeout=d.timeout, samples=d.samples)


NOT_COLLECTED = N_("The probe's samples were not collected (the run stopped before its stop "
                   "step): they stay on firstbox in the run's folder.")
