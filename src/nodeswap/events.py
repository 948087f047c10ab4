"""Events the executor and `exec` announce, and the views that render them.

The executor never prints: it calls an ``EventSink`` with these frozen values. Views listen:
``PlainView`` (one line per event, for pipes and logs), ``JsonView`` (one JSON object per
line, for scripts) and ``RichView`` (a terminal with a progress bar). The journal is written
by the executor itself, not through events, so a broken view cannot lose a record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    total_steps: int
    resumed: bool = False


@dataclass(frozen=True)
class StepStarted:
    run_id: str
    step_id: str
    kind: str  # check | run | verify | undo
    host: str
    rule: str
    title: str
    position: int = 0


@dataclass(frozen=True)
class StepOutput:
    step_id: str
    host: str
    stream: str  # stdout | stderr
    text: str  # redacted, whole lines


@dataclass(frozen=True)
class StepEnded:
    run_id: str
    step_id: str
    host: str
    state: str  # done | skipped | failed | interrupted | undone | undo_failed
    exit_status: int | None = None
    duration: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class GateReached:
    run_id: str
    step_id: str
    host: str
    rule: str
    title: str
    command: str
    approved: bool | None = None  # None: waiting (stopped), True/False: answer


@dataclass(frozen=True)
class RunEnded:
    run_id: str
    state: str
    message: str = ""


@dataclass(frozen=True)
class Notice:
    text: str
    run_id: str = ""


@dataclass(frozen=True)
class HostDone:
    """`nodeswap exec`: one host's outcome (exit_status None: not run; error says why)."""

    host: str
    address: str
    exit_status: int | None
    stdout: str
    stderr: str
    error: str | None = None
    duration: float = 0.0


Event = (
    RunStarted | StepStarted | StepOutput | StepEnded | GateReached | RunEnded | Notice | HostDone
)
EventSink = Callable[[Event], None]


def event_dict(event: Event) -> dict[str, Any]:
    """The JSON form of an event: its fields plus ``"event"``: the type's name."""
    return {"event": type(event).__name__, **asdict(event)}


def discard(event: Event) -> None:
    """A sink that ignores everything."""


class Fanout:
    """Sends each event to every sink."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def __call__(self, event: Event) -> None:
        for s in self._sinks:
            s(event)


class JsonView:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout

    def __call__(self, event: Event) -> None:
        self._out.write(json.dumps(event_dict(event), ensure_ascii=False) + "\n")
        self._out.flush()


def _indent(host: str, text: str) -> str:
    return "".join(f"  {host}| {line}\n" for line in text.splitlines())


class PlainView:
    """One line per event; output lines prefixed with their host."""

    def __init__(self, out: TextIO | None = None, *, show_output: bool = True) -> None:
        self._out = out or sys.stdout
        self._show_output = show_output

    def __call__(self, event: Event) -> None:
        line = plain_line(event, self._show_output)
        if line:
            self._out.write(line)
            self._out.flush()


def plain_line(event: Event, show_output: bool = True) -> str:
    """The plain text of an event ('' for events not shown)."""
    if isinstance(event, RunStarted):
        verb = "resuming" if event.resumed else "starting"
        return f"run {event.run_id}: {verb}, {event.total_steps} steps\n"
    if isinstance(event, StepStarted):
        if event.kind != "run":
            return ""
        where = f"{event.step_id} ({event.rule}) on {event.host}"
        return f"[{event.position + 1}] {where}: {event.title}\n"
    if isinstance(event, StepOutput):
        return _indent(event.host, event.text) if show_output else ""
    if isinstance(event, StepEnded):
        status = "" if event.exit_status is None else f" (exit {event.exit_status})"
        msg = f": {event.message}" if event.message else ""
        return f"    {event.step_id}: {event.state}{status} {event.duration:.1f}s{msg}\n"
    if isinstance(event, GateReached):
        if event.approved is None:
            where = f"{event.step_id} ({event.rule}) on {event.host}"
            return f"GATE {where}: {event.title}\n    $ {event.command}\n"
        return f"GATE {event.step_id}: {'approved' if event.approved else 'not approved'}\n"
    if isinstance(event, RunEnded):
        msg = f": {event.message}" if event.message else ""
        return f"run {event.run_id}: {event.state}{msg}\n"
    if isinstance(event, Notice):
        return f"note: {event.text}\n"
    return host_block(event)


def host_block(event: HostDone) -> str:
    """`exec` output for one host: a header line, then its output prefixed by the host."""
    if event.error is not None:
        head = f"{event.host} ({event.address}): UNREACHABLE: {event.error}\n"
    else:
        tag = "ok" if event.exit_status == 0 else f"FAILED exit {event.exit_status}"
        head = f"{event.host} ({event.address}): {tag} {event.duration:.2f}s\n"
    return head + _indent(event.host, event.stdout) + _indent(event.host + "!", event.stderr)


class RichView:
    """A terminal view: step lines with colours and a progress bar of the run's steps."""

    def __init__(self, *, show_output: bool = True) -> None:
        self._console = Console(highlight=False)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task: Any = None
        self._show_output = show_output

    def __enter__(self) -> RichView:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        p = self._progress
        if isinstance(event, RunStarted):
            self._task = p.add_task(f"run {event.run_id}", total=event.total_steps)
        elif isinstance(event, StepStarted) and event.kind == "run" and self._task is not None:
            p.update(self._task, description=f"{event.step_id} on {event.host}")
        elif (
            isinstance(event, StepEnded)
            and self._task is not None
            and event.state in ("done", "skipped")
        ):
            p.advance(self._task)
        good = getattr(event, "state", "") in ("done", "skipped", "undone")
        style = {
            StepEnded: "green" if good else "red",
            GateReached: "yellow", RunEnded: "bold", Notice: "cyan", HostDone: "",
        }.get(type(event), "")  # fmt: skip
        text = plain_line(event, self._show_output)
        if isinstance(event, HostDone) and (event.error or event.exit_status != 0):
            style = "red"
        if text:
            body = escape(text.rstrip("\n"))
            self._console.print(f"[{style}]{body}[/]" if style else body)


def fields_of(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
