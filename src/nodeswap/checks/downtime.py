"""The console's availability through the VIP, from the probe's samples (issue 10, R32-R36).
Pure: no I/O.

The probe (nodeswap.runbooks.probe) runs on firstbox for the whole switch phase and appends one
``EPOCH_MS STATUS`` line per request (every 0.25 s; STATUS is curl's ``%{http_code}``, ``000``
when nothing answered within its timeout). The step that stops it prints them as *runs*
(``runs``: consecutive samples of one status, ``FIRST_MS LAST_MS STATUS COUNT``), which keeps
everything ``windows`` needs and stays small however long the probe ran.

A sample is *answered* when its status is 2xx or 3xx (R36: a page, or a redirect to one).
A window of unavailability is a run of unanswered samples with no gap (``GAP_MS``: the probe
was stopped, or stalled) between two of them: it starts at its first unanswered sample and
ends at the answered sample right after it (``closed``), or, when a gap or the end of the
samples follows, at its last unanswered sample (not closed: its duration is a lower bound).

Per switch (``per_switch``): the windows that overlap the node's switch span, from its R32
(the old node's services stop) to the end of its R36 (the console answers), clipped to it. The
span comes from the journal (this machine's clock); the samples carry firstbox's:
``clock_offset`` estimates firstbox's clock minus this machine's from a step on firstbox that
printed firstbox's time (``now_ms=``), within half that step's round trip.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

INTERVAL = 0.25  # seconds between two requests
TIMEOUT = 2.0  # curl --max-time, seconds: a request not answered by then is unanswered
GAP_MS = 10_000  # two samples further apart than this: the probe was not running between them
_SAMPLE = re.compile(r"^(\d{10,16}) (\d{3})$")
_RUN = re.compile(r"^(\d{10,16}) (\d{10,16}) (\d{3}) (\d+)$")
_NOW = re.compile(r"^now_ms=(\d{10,16})$", re.M)


def answered(status: int) -> bool:
    """R36: a page (2xx) or a redirect to one (3xx)."""
    return 200 <= status < 400


@dataclass(frozen=True)
class Sample:
    ms: int  # firstbox's clock, milliseconds since the epoch
    status: int  # HTTP status, 0: no answer


@dataclass(frozen=True)
class Run:
    """Consecutive samples of one status, no gap between two of them."""

    first_ms: int
    last_ms: int
    status: int
    count: int

    @property
    def answered(self) -> bool:
        return answered(self.status)


@dataclass(frozen=True)
class Window:
    """A time the console did not answer, in firstbox's milliseconds."""

    start_ms: int
    end_ms: int
    closed: bool  # ended by an answered sample (else the probe stopped or paused: a bound)
    statuses: tuple[int, ...]  # the distinct unanswered statuses seen (0: no answer)

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def parse_samples(text: str) -> list[Sample]:
    """The ``EPOCH_MS STATUS`` lines of a text (others ignored), sorted by time."""
    out = [Sample(int(m.group(1)), int(m.group(2)))
           for m in map(_SAMPLE.match, (ln.strip() for ln in text.splitlines())) if m]
    return sorted(out, key=lambda s: s.ms)


def firstbox_now(text: str) -> int | None:
    """The ``now_ms=`` line a probe step printed: firstbox's clock when it ran."""
    m = _NOW.search(text)
    return int(m.group(1)) if m else None


def runs(samples: Sequence[Sample], gap_ms: int = GAP_MS) -> list[Run]:
    """The samples as runs (what the stop step prints: its awk program, runbooks.probe, does
    the same): consecutive samples of one status with no gap between two of them."""
    out: list[Run] = []
    for s in samples:
        r = out[-1] if out else None
        if r is not None and r.status == s.status and s.ms - r.last_ms <= gap_ms:
            out[-1] = Run(r.first_ms, s.ms, r.status, r.count + 1)
        else:
            out.append(Run(s.ms, s.ms, s.status, 1))
    return out


def parse_runs(text: str) -> list[Run]:
    """The ``FIRST_MS LAST_MS STATUS COUNT`` lines of a text (others ignored), in time order."""
    out = [Run(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)))
           for m in map(_RUN.match, (ln.strip() for ln in text.splitlines())) if m]
    return sorted(out, key=lambda r: r.first_ms)


def windows(rs: Sequence[Run], gap_ms: int = GAP_MS) -> list[Window]:
    """The windows of unavailability, in time order (see the module docstring)."""
    out: list[Window] = []
    first: Run | None = None  # the open window's first unanswered run
    last: Run | None = None  # and its latest
    seen: list[int] = []
    for r in rs:
        if first is not None and last is not None and r.first_ms - last.last_ms > gap_ms:
            out.append(Window(first.first_ms, last.last_ms, False, tuple(seen)))  # a gap
            first = last = None
        if r.answered:
            if first is not None:
                out.append(Window(first.first_ms, r.first_ms, True, tuple(seen)))
                first = last = None
            continue
        if first is None:
            first, seen = r, []
        last = r
        if r.status not in seen:
            seen.append(r.status)
    if first is not None and last is not None:
        out.append(Window(first.first_ms, last.last_ms, False, tuple(seen)))
    return out


def clip(ws: Iterable[Window], start_ms: int, end_ms: int) -> list[Window]:
    """The windows overlapping [start_ms, end_ms], cut to it."""
    return [Window(max(w.start_ms, start_ms), min(w.end_ms, end_ms), w.closed, w.statuses)
            for w in ws if w.end_ms >= start_ms and w.start_ms <= end_ms]


def covered(rs: Sequence[Run], start_ms: int, end_ms: int, gap_ms: int = GAP_MS) -> bool:
    """The probe ran from ``start_ms`` to ``end_ms`` with no gap."""
    before = [i for i, r in enumerate(rs) if r.first_ms <= start_ms]
    after = [i for i, r in enumerate(rs) if r.last_ms >= end_ms]
    if not before or not after or after[0] < before[-1]:
        return False
    part = rs[before[-1]:after[0] + 1]
    return all(b.first_ms - a.last_ms <= gap_ms for a, b in pairwise(part))


def clock_offset(pairs: Iterable[tuple[float, float, int]]) -> tuple[int, int] | None:
    """(firstbox's clock minus this machine's, its uncertainty), milliseconds, from steps
    that ran on firstbox: (started, ended) of the attempt on this machine's clock (seconds),
    and the ``now_ms`` it printed. The attempt with the shortest round trip wins."""
    best: tuple[int, int] | None = None
    for started, ended, now_ms in pairs:
        half = max(0, round((ended - started) * 500))
        offset = now_ms - round((started + ended) * 500)
        if best is None or half < best[1]:
            best = (offset, half)
    return best


@dataclass(frozen=True)
class SwitchDowntime:
    """The console's downtime during one node's switch (R32 to R36)."""

    node: str
    span: tuple[float, float]  # seconds since the epoch, this machine's clock
    complete: bool  # R36 ended (else the span ends at the last sample)
    probed: bool  # the samples cover the whole span with no gap
    windows: tuple[Window, ...]  # firstbox's clock, clipped to the span

    @property
    def longest_ms(self) -> int:
        return max((w.duration_ms for w in self.windows), default=0)

    @property
    def total_ms(self) -> int:
        return sum(w.duration_ms for w in self.windows)


def per_switch(rs: Sequence[Run], spans: Sequence[tuple[str, float, float | None]],
               offset_ms: int, gap_ms: int = GAP_MS) -> list[SwitchDowntime]:
    """Each node's downtime: ``spans`` (node, R32's start, R36's end or None) on this
    machine's clock; ``offset_ms`` maps it to firstbox's (``clock_offset``)."""
    ws = windows(rs, gap_ms)
    out = []
    for node, start, end in spans:
        # whole ms inside the span (ceil/floor): a window cut to it never starts before it
        lo = math.ceil(start * 1000) + offset_ms
        hi = math.floor(end * 1000) + offset_ms if end is not None else \
            max([lo] + [r.last_ms for r in rs])
        # a span shorter than a ms may hold no whole ms (249.5-249.5): then no window is in it
        cut = tuple(clip(ws, lo, hi)) if hi >= lo else ()
        hi = max(hi, lo)
        shown_end = end if end is not None else (hi - offset_ms) / 1000
        out.append(SwitchDowntime(node, (start, shown_end), end is not None,
                                  covered(rs, lo, hi, gap_ms), cut))
    return out
