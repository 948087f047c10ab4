"""Events the executor and `exec` announce, and the views that render them.

The executor never prints: it calls an ``EventSink`` with these frozen values. Views listen:
``PlainView`` (one line per event, for pipes and logs), ``JsonView`` (one JSON object per
line, for scripts) and ``RichView`` (a terminal with a progress bar). The journal is written
by the executor itself, not through events, so a broken view cannot lose a record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nodeswap.i18n import _, retranslate, word


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    total_steps: int
    resumed: bool = False
    plan_sha256: str = ""  # the plan's digest (what `plan` printed and wrote into the file)


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
    summary: str = ""  # what is decided: the change, the checks run again (nodeswap.run.gates)


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


class JsonView:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout

    def __call__(self, event: Event) -> None:
        self._out.write(json.dumps(event_dict(event), ensure_ascii=False) + "\n")
        self._out.flush()


def _indent(host: str, text: str) -> str:
    return "".join(f"  {host}| {line}\n" for line in text.splitlines())


QUIET, NORMAL, VERBOSE = 0, 1, 2


class StepLines:
    """Turns a run's events into text lines, at one of three levels:

    - QUIET: gates, failures and notices only;
    - NORMAL: one line per step (when it ends: ``[26/84] done r21-launch-proxy0 (R21) on
      firstbox: ... 0.4s``), the gates, the run's start and end;
    - VERBOSE: also a line when each step starts and every command's output.
    """

    def __init__(self, level: int = NORMAL) -> None:
        self.level = level
        self._total = 0
        self._started: dict[str, StepStarted] = {}
        self._running: set[str] = set()  # steps started and not ended (several: overlapping)

    def _pos(self, position: int) -> str:
        return f"[{position + 1}/{self._total}]" if self._total else f"[{position + 1}]"

    def __call__(self, event: Event) -> str:
        quiet, verbose = self.level <= QUIET, self.level >= VERBOSE
        if isinstance(event, RunStarted):
            if event.resumed is False or self._total == 0:
                self._total = event.total_steps
            verb = _("resuming") if event.resumed else _("starting")
            digest = (_(", plan sha256 {digest}").format(digest=event.plan_sha256)
                      if event.plan_sha256 else "")
            return "" if quiet else _("run {run}: {verb}, {n} steps").format(
                run=event.run_id, verb=verb, n=event.total_steps) + f"{digest}\n"
        if isinstance(event, StepStarted):
            self._started[event.step_id] = event
            self._running.add(event.step_id)
            if not verbose or event.kind not in ("run", "undo"):
                return ""
            verb = _("undo") + " " if event.kind == "undo" else ""
            where = _where(event.step_id, event.rule, event.host)
            return f"{self._pos(event.position)} {verb}{where}: {retranslate(event.title)}\n"
        if isinstance(event, StepOutput):
            # steps that overlap (the plan's graph) may share a host: then name the step too
            who = event.host if len(self._running) < 2 else f"{event.host} {event.step_id}"
            return _indent(who, event.text) if verbose else ""
        if isinstance(event, StepEnded):
            self._running.discard(event.step_id)
            return self._ended(event, quiet=quiet, verbose=verbose)
        if isinstance(event, GateReached):
            return gate_text(event)
        if isinstance(event, RunEnded):
            if quiet:
                return ""
            # why it stopped, and what to do next, is said once: on stderr, by the CLI's edge
            return _("run {run}: {state}").format(run=event.run_id,
                                                  state=state_word(event.state)) + "\n"
        if isinstance(event, Notice):
            return _("note: {note}").format(note=event.text) + "\n"
        return host_block(event)

    def _ended(self, event: StepEnded, *, quiet: bool, verbose: bool) -> str:
        failed = event.state in ("failed", "undo_failed")
        if quiet and not failed:
            return ""
        status = "" if event.exit_status is None else f" (exit {event.exit_status})"
        msg = f": {event.message}" if event.message else ""
        state = state_word(event.state)
        if verbose:
            return f"    {event.step_id}: {state}{status} {event.duration:.1f}s{msg}\n"
        st = self._started.get(event.step_id)
        if st is None:
            return f"{state:<8} {event.step_id} {_on(event.host)}{status}{msg}\n"
        where = _where(event.step_id, st.rule, event.host)
        status = "" if event.exit_status in (0, None) else f" (exit {event.exit_status})"
        return (f"{self._pos(st.position)} {state:<7} {where}: {retranslate(st.title)}"
                f" {event.duration:.1f}s{status}{msg}\n")  # fmt: skip


def state_word(state: str) -> str:
    """A step's or run's state in the operator's language (nodeswap.i18n.word)."""
    return word(state)


def _on(host: str) -> str:
    return _("on {host}").format(host=host)


def _where(step_id: str, rule: str, host: str) -> str:
    return f"{step_id} ({rule}) {_on(host)}"


def gate_text(event: GateReached) -> str:
    if event.approved is None:
        if event.summary:
            return event.summary
        where = _where(event.step_id, event.rule, event.host)
        return _("GATE {where}: {title}").format(where=where, title=retranslate(event.title)) \
            + f"\n    $ {event.command}\n"
    return _("GATE {id}: {verdict}").format(
        id=event.step_id, verdict=_("approved") if event.approved else _("not approved")) + "\n"


class PlainView:
    """One line per event; output lines prefixed with their host (see StepLines)."""

    def __init__(self, out: TextIO | None = None, *, show_output: bool = True,
                 level: int | None = None) -> None:  # fmt: skip
        self._out = out or sys.stdout
        self._lines = StepLines(level if level is not None
                                else (VERBOSE if show_output else NORMAL))  # fmt: skip

    def __call__(self, event: Event) -> None:
        line = self._lines(event)
        if line:
            self._out.write(line)
            self._out.flush()


def plain_line(event: Event, show_output: bool = True) -> str:
    """The plain text of one event on its own ('' for events not shown)."""
    return StepLines(VERBOSE if show_output else NORMAL)(event)


def host_block(event: HostDone) -> str:
    """`exec` output for one host: a header line, then its output prefixed by the host."""
    if event.error is not None:
        head = f"{event.host} ({event.address}): {_('UNREACHABLE')}: {event.error}\n"
    else:
        tag = _("ok") if event.exit_status == 0 else _("FAILED exit {status}").format(
            status=event.exit_status)
        head = f"{event.host} ({event.address}): {tag} {event.duration:.2f}s\n"
    return head + _indent(event.host, event.stdout) + _indent(event.host + "!", event.stderr)


class RichView:
    """A terminal view: step lines with colours and a progress bar of the run's steps.
    ``paused()`` takes the bar off the screen while the operator answers a gate."""

    def __init__(self, *, show_output: bool = True, level: int | None = None) -> None:
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
        self._lines = StepLines(level if level is not None
                                else (VERBOSE if show_output else NORMAL))  # fmt: skip

    def __enter__(self) -> RichView:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No progress bar (and no redraws) while the operator reads and types."""
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()

    def __call__(self, event: Event) -> None:
        p = self._progress
        if isinstance(event, RunStarted) and self._task is None:
            self._task = p.add_task(_("run {run}").format(run=event.run_id),
                                    total=event.total_steps)
        elif isinstance(event, StepStarted) and event.kind == "run" and self._task is not None:
            p.update(self._task, description=f"{event.step_id} {_on(event.host)}")
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
        text = self._lines(event)
        if isinstance(event, HostDone) and (event.error or event.exit_status != 0):
            style = "red"
        if text:
            body = escape(text.rstrip("\n"))
            # soft_wrap: long lines (commands, paths) are never cut or broken by rich
            self._console.print(f"[{style}]{body}[/]" if style else body, soft_wrap=True)


def fields_of(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
