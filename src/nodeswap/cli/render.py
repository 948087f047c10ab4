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
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nodeswap.i18n import _, language, phase_title, retranslate, rule_title
from nodeswap.plan.model import Plan, Step
from nodeswap.run.events import EventSink, JsonView, PlainView, RichView
from nodeswap.runbooks import components_of, deadman, probe
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
    console.print("[bold]" + _("Plan") + "[/]: " + _(
        "replace the {role} nodes with {os} {version} (installer {installer}; switch order "
        "{order})").format(role=plan.role, os=plan.target_os[0], version=plan.target_os[1],
                           installer=plan.installer_version,
                           order=plan.meta.get("switch_order", "")))
    table = Table(_("node"), _("old address"), _("temporary"), _("old host"), _("new host"),
                  "MGMT MAC", "EIP MAC", _("EIP temp"),
                  title=_("Nodes (R9, R12, R13, R16)"))
    for n in plan.nodes.values():
        table.add_row(n.name, n.old_address, n.temp_address, n.old_physical_host,
                      n.physical_host, n.mgmt_mac, n.eip_mac or "-", n.eip_temp_address or "-")
    console.print(table)
    for n in plan.nodes.values():
        console.print("\n[bold]" + _("Settings {node}").format(node=n.name) + "[/] (R7-R17):")
        console.print(_diff(clean(n.old_settings), clean(n.settings), n.name), end="",
                      soft_wrap=True)
    phase = None
    for i, step in enumerate(plan.steps, 1):
        if step.phase != phase:
            phase = step.phase
            console.print(f"\n[bold]{phase_title(phase)}[/]")
        target = plan.targets[step.target]
        gate = "[yellow]" + _("GATE") + "[/] " if step.gate else ""
        title = step.title if language() == "en" \
            else f"{rule_title(step.rule)}: {retranslate(step.title)}"
        console.print(f"{i:3d}. {gate}[magenta]{step.rule}[/] {escape(title)}  "
                      f"[dim]@{target.name} ({target.address})[/]")
        console.print(Text(f"       $ {clean(step.command)}", style="dim"), soft_wrap=True)
        if step.after != tuple(s.id for s in plan.steps[i - 2:i - 1]):  # not just the last
            console.print(Text(f"       {after_line(plan, step)}", style="dim"), soft_wrap=True)
        if step.side_effect:  # how resume decides after a cut (issue 11)
            console.print(Text(f"       {resume_line(plan, step)}", style="dim"),
                          soft_wrap=True)
        job = _("dead-man job (its deadline: apply --switch-deadline, default {n} s):").format(
            n=deadman.DEFAULT_DEADLINE) if step.id.startswith(deadman.ARM) else \
            _("console probe (on firstbox until its stop step, {hours:g} h at most):").format(
                hours=probe.DEFAULT_MAX / 3600) if step.id == probe.START else None
        if job and step.stdin:  # the job, as it will run
            console.print(Text("       " + job, style="dim"), soft_wrap=True)
            console.print(Text("".join(f"       | {ln}\n" for ln in
                                       clean(step.stdin).splitlines()), style="dim"),
                          end="", soft_wrap=True)
    for w in plan.warnings:
        console.print("[yellow]" + _("warning") + f"[/]: {escape(retranslate(w))}")
    console.print("\n" + _("inventory fingerprint {fingerprint}").format(
        fingerprint=plan.inventory_fingerprint))


def after_line(plan: Plan, step: Step) -> str:
    """When the step may start (the plan's graph, issue 11), by step number."""
    if not step.after:
        return _("starts first (beside the steps around it)")
    nums = {s.id: i for i, s in enumerate(plan.steps, 1)}
    return _("starts after {steps}").format(
        steps=", ".join(str(nums[d]) for d in step.after))


def resume_line(plan: Plan, step: Step) -> str:
    """How resume decides about the step when it was cut while running."""
    if step.check is not None:
        where = plan.targets[step.check_target].name if step.check_target else _("its target")
        return _("if cut: resume asks {where}: $ {check}").format(where=where, check=step.check)
    if step.rerun_safe:
        return _("if cut: resume runs it again: {why}").format(why=step.rerun_safe)
    return _("if cut: resume needs a person (--rerun-unchecked, or --mark-done after a look)")


def plan_console() -> Console:
    """The console a plan is shown on: the terminal's, else 160 columns (a pipe, a file)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def render_snapshot(snap: Snapshot, console: Console) -> None:
    none = _("none")
    console.print("[bold]" + _("Zone") + "[/] " + _(
        "behind firstbox {firstbox}: installer {installer}, {n} settings files, components "
        "{components} (R24-R26)").format(
            firstbox=snap.firstbox, installer=snap.installer_version, n=len(snap.settings),
            components=", ".join(sorted(components_of(snap))) or none))
    console.print(_("VIP {vip} held by {holder} (R23); prepared on firstbox (R4): images "
                    "{images}; repos {repos}").format(
        vip=snap.vip or "?", holder=snap.vip_holder or _("no old node"),
        images=", ".join(snap.kernels) or none, repos=", ".join(snap.repos) or none))
    t = Table(_("old node"), _("address"), _("packages"), _("supervisor programs"), _("error"),
              title=_("Old {role} nodes (R27-R29 references kept)").format(role=snap.role))
    for n in snap.old_nodes.values():
        progs = sum(1 for ln in n.supervisor.splitlines() if ln.strip())
        t.add_row(n.name, n.address, ", ".join(n.packages), str(progs), n.error or "")
    console.print(t)
    c = Table(_("physical host"), "CPUs", _("memory MB"), _("free disk MB"), _("bridges"),
              _("error"), title=_("Candidate physical hosts (R13-R15)"))
    for name, cap in snap.capacity.items():
        c.add_row(name, _s(cap.cpus), _s(cap.memory_mb), _s(cap.disk_free_mb),
                  ", ".join(cap.bridges), cap.error or "")
    console.print(c)
    for w in snap.warnings:
        console.print("[yellow]" + _("warning") + f"[/]: {escape(retranslate(w))}")
    console.print(_("fingerprint {fingerprint}").format(fingerprint=snap.state_fingerprint()))


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
