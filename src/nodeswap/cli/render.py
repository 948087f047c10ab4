"""The CLI's views, shared by its commands: a plan (`plan`, `show`), a snapshot (`discover`),
the run's events (`apply`, `resume`, `rollback`, `demo`: rich, plain lines or JSON lines),
and writing a rendered file atomically. Rendering only: no decision, no connection.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from nodeswap.plan.model import Plan, Step
from nodeswap.run.events import EventSink, JsonView, PlainView, RichView
from nodeswap.runbooks import components_of
from nodeswap.transport.redact import Redactor

if TYPE_CHECKING:
    from nodeswap.report import RunReport
    from nodeswap.zone.snapshot import Snapshot

REPORT_FORMAT = 1  # `report --json`'s "report_format" (docs/report-json.md)


@contextmanager
def view(json_out: bool, *, show_output: bool = True, level: int | None = None
         ) -> Iterator[EventSink]:  # fmt: skip
    """JSON lines, rich on a terminal, else plain lines (``level``: QUIET, NORMAL, VERBOSE;
    by default VERBOSE when ``show_output``)."""
    if json_out:
        yield JsonView()
    elif sys.stdout.isatty():
        with RichView(show_output=show_output, level=level) as rich:
            yield rich
    else:
        yield PlainView(show_output=show_output, level=level)


def plan_json(plan: Plan) -> dict[str, Any]:
    """Plan.to_dict() plus, per step, ``host`` (the target's name) and ``address``: a view,
    not a plan file (``digest`` is the plan file's, which has neither; save with --out)."""
    data = plan.to_dict()
    for step in data["steps"]:
        target = plan.targets[step["target"]]
        step["host"] = target.name
        step["address"] = target.address
    return data


def _renamed(value: Any) -> Any:
    """JSON-ready: a finding's ``klass`` is ``class`` (as `diff --json` writes it)."""
    if isinstance(value, dict):
        return {("class" if k == "klass" else k): _renamed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_renamed(v) for v in value]
    return value


def report_dict(rep: RunReport) -> dict[str, Any]:
    """`nodeswap report --json`: the report's own data (every field of the report model,
    texts already redacted), plus the totals the rendered report shows."""
    data = _renamed(dataclasses.asdict(rep))
    outcomes = sorted({s.outcome for s in rep.steps})
    return {"report_format": REPORT_FORMAT, **data, "duration": rep.duration,
            "totals": {"steps": len(rep.steps), "unexpected": rep.unexpected,
                       "attention": len(rep.attention),
                       "outcomes": {o: rep.count(o) for o in outcomes}}}  # fmt: skip


def _diff(old: str, new: str, name: str) -> Text:
    out = Text()
    for line in difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                     f"{name} (old)", f"{name} (new)", n=0):
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan"
        out.append(line if line.endswith("\n") else line + "\n", style=style)
    return out


def render(plan: Plan, console: Console) -> None:
    """The human view: nodes, settings diffs, steps by phase, warnings; secrets masked (the
    JSON plan, for `apply`, keeps every value)."""
    clean = Redactor()
    console.print(f"[bold]Plan[/]: replace the {plan.role} nodes with "
                  f"{plan.target_os[0]} {plan.target_os[1]} (installer {plan.installer_version}"
                  f"; switch order {plan.meta.get('switch_order', '')})")
    table = Table("node", "old address", "temporary", "old host", "new host", "MGMT MAC",
                  "EIP MAC", "EIP temp", title="Nodes (R9, R12, R13, R16)")
    for n in plan.nodes.values():
        table.add_row(n.name, n.old_address, n.temp_address, n.old_physical_host,
                      n.physical_host, n.mgmt_mac, n.eip_mac or "-", n.eip_temp_address or "-")
    console.print(table)
    for n in plan.nodes.values():
        console.print(f"\n[bold]Settings {n.name}[/] (R7-R17):")
        console.print(_diff(clean(n.old_settings), clean(n.settings), n.name), end="",
                      soft_wrap=True)
    phase = None
    for i, step in enumerate(plan.steps, 1):
        if step.phase != phase:
            phase = step.phase
            console.print(f"\n[bold]{phase}[/]")
        target = plan.targets[step.target]
        gate = "[yellow]GATE[/] " if step.gate else ""
        console.print(f"{i:3d}. {gate}[magenta]{step.rule}[/] {step.title}  "
                      f"[dim]@{target.name} ({target.address})[/]")
        console.print(Text(f"       $ {clean(step.command)}", style="dim"), soft_wrap=True)
        if step.side_effect:  # how resume decides after a cut (issue 11)
            console.print(Text(f"       {resume_line(plan, step)}", style="dim"),
                          soft_wrap=True)
    for w in plan.warnings:
        console.print(f"[yellow]warning[/]: {w}")
    console.print(f"\ninventory fingerprint {plan.inventory_fingerprint}")


def resume_line(plan: Plan, step: Step) -> str:
    """How resume decides about the step when it was cut while running."""
    if step.check is not None:
        where = plan.targets[step.check_target].name if step.check_target else "its target"
        return f"if cut: resume asks {where}: $ {step.check}"
    if step.rerun_safe:
        return f"if cut: resume runs it again: {step.rerun_safe}"
    return "if cut: resume needs a person (--rerun-unchecked, or --mark-done after a look)"


def plan_console() -> Console:
    """The console a plan is shown on: the terminal's, else 160 columns (a pipe, a file)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def render_snapshot(snap: Snapshot, console: Console) -> None:
    console.print(f"[bold]Zone[/] behind firstbox {snap.firstbox}: installer "
                  f"{snap.installer_version}, {len(snap.settings)} settings files, components "
                  f"{', '.join(sorted(components_of(snap))) or 'none'} (R24-R26)")
    console.print(f"VIP {snap.vip or '?'} held by {snap.vip_holder or 'no old node'} (R23); "
                  f"prepared on firstbox (R4): images {', '.join(snap.kernels) or 'none'}; "
                  f"repos {', '.join(snap.repos) or 'none'}")
    t = Table("old node", "address", "packages", "supervisor programs", "error",
              title=f"Old {snap.role} nodes (R27-R29 references kept)")
    for n in snap.old_nodes.values():
        progs = sum(1 for ln in n.supervisor.splitlines() if ln.strip())
        t.add_row(n.name, n.address, ", ".join(n.packages), str(progs), n.error or "")
    console.print(t)
    c = Table("physical host", "CPUs", "memory MB", "free disk MB", "bridges", "error",
              title="Candidate physical hosts (R13-R15)")
    for name, cap in snap.capacity.items():
        c.add_row(name, _s(cap.cpus), _s(cap.memory_mb), _s(cap.disk_free_mb),
                  ", ".join(cap.bridges), cap.error or "")
    console.print(c)
    for w in snap.warnings:
        console.print(f"[yellow]warning[/]: {w}")
    console.print(f"fingerprint {snap.state_fingerprint()}")


def _s(v: Any) -> str:
    return "?" if v is None else str(v)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
