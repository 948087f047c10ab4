"""The console's downtime per switch in the report (issue 10), from the console probe's samples
as the journal recorded them: the stop step's output (or the start step's undo's, after a
rollback), the switch spans from the attempts of each node's R32 and R36 steps, firstbox's clock
from the ``now_ms=`` the probe's steps printed (nodeswap.checks.downtime). Pure.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from nodeswap.checks import downtime as D
from nodeswap.runbooks import probe as P

from .records import RunRecords, probe_attempts


@dataclass(frozen=True)
class DowntimeWindow:
    """A time the console did not answer through the VIP (this machine's clock)."""

    start: float
    end: float
    duration: float  # seconds
    closed: bool  # an answer ended it (else the probe stopped first: a lower bound)
    statuses: tuple[int, ...]  # unanswered statuses seen (0: no answer within the timeout)


@dataclass(frozen=True)
class SwitchDowntime:
    """The console's downtime during one node's switch: from its R32 to its R36."""

    node: str
    start: float
    end: float
    complete: bool  # its R36 ended (else the span ends at the last sample)
    probed: bool  # the probe ran through the whole span
    longest: float  # seconds: the longest window
    total: float  # seconds: every window together
    windows: tuple[DowntimeWindow, ...]


@dataclass(frozen=True)
class Downtime:
    """The console probe's findings: ``state`` ``collected`` (its samples were read back) or
    ``not collected`` (on firstbox still: the run stopped before its stop step)."""

    url: str
    interval: float  # seconds between two requests
    timeout: float  # a request unanswered by then counts as no answer
    state: str
    samples: int  # requests made
    clock_offset: float | None  # firstbox's clock minus this machine's, seconds
    clock_uncertainty: float | None
    windows: tuple[DowntimeWindow, ...]  # every window of the probe, switches or not
    switches: tuple[SwitchDowntime, ...]


def build(rec: RunRecords) -> Downtime | None:
    """The downtime of ``rec``'s run, or None when its plan has no console probe."""
    start_step = next((s for s in rec.plan.steps if s.id == P.START), None)
    if start_step is None:
        return None
    url = next((shlex.split(ln.split("=", 1)[1])[0] for ln in
                (start_step.stdin or "").splitlines() if ln.startswith("URL=")), "")
    read = [a for a in rec.attempts if a.id in probe_attempts(rec.plan, rec.attempts)
            and a.id in rec.outputs]
    collected = [a for a in read if a.step_id == P.STOP or a.kind == "undo"]
    offset = D.clock_offset((a.started, a.ended, now) for a in read
                            for now in (D.firstbox_now(rec.outputs[a.id][0]),)
                            if now is not None and a.ended is not None)
    off_ms = offset[0] if offset else 0
    text = rec.outputs[collected[-1].id][0] if collected else ""
    rs = D.parse_runs(text)
    spans = switch_spans(rec)
    switches = tuple(_switch(s, off_ms) for s in D.per_switch(rs, spans, off_ms))
    return Downtime(
        url=url, interval=D.INTERVAL, timeout=D.TIMEOUT,
        state="collected" if collected else "not collected",
        samples=sum(r.count for r in rs),
        clock_offset=offset[0] / 1000 if offset else None,
        clock_uncertainty=offset[1] / 1000 if offset else None,
        windows=tuple(_window(w, off_ms) for w in D.windows(rs)),
        switches=switches if collected else ())


def switch_spans(rec: RunRecords) -> list[tuple[str, float, float | None]]:
    """(node, start of its R32, end of its R36 or None) for each node whose R32 began, in
    switch order, on this machine's clock."""
    out: list[tuple[str, float, float | None]] = []
    for step in rec.plan.steps:
        if not step.id.startswith("r32-stop-"):
            continue
        node = step.id.removeprefix("r32-stop-")
        began = [a.started for a in rec.attempts if a.step_id == step.id
                 and a.kind in ("check", "run")]
        if not began:
            continue
        ended = [a.ended for a in rec.attempts if a.step_id == f"r36-console-{node}"
                 and a.kind == "run" and a.ended is not None and a.exit_status == 0]
        out.append((node, min(began), ended[-1] if ended else None))
    return out


def _window(w: D.Window, off_ms: int) -> DowntimeWindow:
    return DowntimeWindow((w.start_ms - off_ms) / 1000, (w.end_ms - off_ms) / 1000,
                          w.duration_ms / 1000, w.closed, w.statuses)


def _switch(s: D.SwitchDowntime, off_ms: int) -> SwitchDowntime:
    return SwitchDowntime(s.node, s.span[0], s.span[1], s.complete, s.probed,
                          s.longest_ms / 1000, s.total_ms / 1000,
                          tuple(_window(w, off_ms) for w in s.windows))
