"""`nodeswap plan`: build the whole plan offline from a copy of the settings folder.

Thin: read the inputs (nodeswap.live.sources), call nodeswap.plan.build.build_plan, render
with rich or as JSON, and optionally save it atomically (``--out``). Invalid input raises
InputError, which the CLI turns into every problem on stderr and exit status 2; nothing is
written then.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from nodeswap.errors import InputError, LockHeld, Problem
from nodeswap.live.discover import Snapshot
from nodeswap.live.planning import plan_live
from nodeswap.live.reach import Reach
from nodeswap.live.sources import read_spec, read_zone
from nodeswap.live.zonecheck import write_label
from nodeswap.live.zonelock import read_held
from nodeswap.plan import planfile
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan, Target
from nodeswap.plan.spec import Spec
from nodeswap.run.hints import PREFIX, Hints
from nodeswap.run.lock import DEFAULT_LOCK_PATH
from nodeswap.run.runs import effective_state, next_lines, state_dir_for, unfinished_runs
from nodeswap.transport.redact import Redactor
from nodeswap.transport.ssh import SshConnector

from .discover_cmd import (
    DirectOpt,
    FirstboxOpt,
    IdentityOpt,
    JumpOpt,
    KnownHostsOpt,
    LabOpt,
    StateOpt,
    UserOpt,
    reach_of,
    with_zone,
)

HELP = """Plan an upgrade of the role's nodes without touching anything.

Reads a copy of the zone's settings folder (/pitrix/conf/settings) and the spec, applies \
the runbook's rules R7-R17 (new settings per node: OS, MACs, temporary address, host, \
routes, EIP) and lists every step of R6-R37 in order: phase, host, exact command line, rule.

\b
Examples:
  nodeswap plan --settings-dir examples/zone --installer-version 4.3.1 \\
      --spec examples/upgrade.yaml --components boss2,warehouse --seed 1
  nodeswap plan --settings-dir examples/zone-vg --installer-version 4.2.1 \\
      --spec examples/upgrade-vg.yaml --json | jq .digest
  nodeswap plan --settings-dir ./settings --installer-version 4.3 \\
      --spec upgrade.yaml --out plan.json       # saved for `nodeswap apply`
  nodeswap plan --firstbox root@10.16.100.2 --spec upgrade.yaml --out plan.json
                                  # live: discovery, MACs from gen_mac.py, preflight
  nodeswap plan --lab /var/lib/nodeswap-lab/default --spec upgrade.yaml   # the lab

\b
Spec (YAML):
  role: proxy
  target: {os_name: bionic, os_version: "18.04.6"}
  nodes:                 # optional; what is missing is chosen by the rules
    proxy0: {temp_address: 10.16.100.51, physical_host: 10.16.100.12}
  order: [proxy1, proxy0]    # switch order (default proxy0, proxy1; VIP holder last)

Live, a zone is not planned while a run upgrades it (firstbox's zone lock is held: exit 4,
naming the run), nor when a run of it in the state folder is unfinished and holds no lock
(exit 2, with the commands that finish or undo it; --ignore-unfinished plans anyway, with a
warning). Preflight warns when firstbox runs update, build or exec jobs nodeswap did not
start, or has cron entries that push pitrix-hosts (R20).

The saved plan carries its digest (`digest`: sha256 of the canonical JSON of every other \
field), also printed on stderr (`plan sha256 ...`): `show`, `apply` and every gate show it, \
and `apply --expect DIGEST` refuses any other plan.

Exit status: 0 a plan; 2 invalid input (every problem on stderr, nothing written); 4 the
zone is locked by a run.
"""


def _today() -> str:
    return _dt.date.today().strftime("%Y%m%d")


def make_plan(settings_dir: Path, installer_version: str, spec_file: Path, *, components: str,
              seed: int | None, today: str) -> Plan:
    """Read the inputs (reporting every problem of every file at once) and plan."""
    problems: list[Problem] = []
    spec: Spec | None = None
    try:
        spec = read_spec(spec_file)
        if seed is not None:
            spec = spec.model_copy(update={"seed": seed})
    except InputError as exc:
        problems.extend(exc.problems)
    try:
        zone = read_zone(settings_dir, installer_version, components, spec)
    except InputError as exc:
        problems.extend(exc.problems)
    if problems or spec is None:
        raise InputError(problems)
    return build_plan(zone, spec, today=today)


def _live_plan(reach: Reach, spec_file: Path, *, seed: int | None, today: str,
               lock_path: str = DEFAULT_LOCK_PATH, hints: Hints | None = None,
               state: Path | None = None, ignore_unfinished: bool = False) -> Plan:  # fmt: skip
    """Refuse a zone being upgraded (its lock held: exit 4) or left half-applied by a run
    that holds no lock (exit 2 unless ``ignore_unfinished``); then discover the zone, draw
    MACs on firstbox (R9), check temporary addresses (R16) and the hosts' room (R4,
    R13-R15), and plan (nodeswap.live.planning)."""
    spec = read_spec(spec_file)
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    hints = hints or Hints()
    warnings: list[str] = []

    async def work(c: SshConnector, fb: Target) -> tuple[Plan, Snapshot]:
        await refuse_locked(c, fb, lock_path, hints)
        if state is not None:
            warnings.extend(refuse_unfinished(state, fb.address, hints,
                                              ignore=ignore_unfinished))
        return await plan_live(c, fb, spec, today=today)

    plan, _snap = with_zone(reach, work)
    if warnings:
        plan = replace(plan, warnings=(*plan.warnings, *warnings))
    return plan


async def refuse_locked(connector: SshConnector, fb: Target, lock_path: str,
                        hints: Hints) -> None:  # fmt: skip
    """LockHeld (exit 4) while firstbox's zone lock is held: the zone is being upgraded."""
    held = await read_held(await connector.transport(fb), lock_path)
    if held is None:
        return
    lock, raw = held
    if lock is None:
        raise LockHeld(f"zone locked: {lock_path} on firstbox {fb.address} holds "
                       f"{raw.strip()!r}: a run is upgrading the zone; plan it after that "
                       "run ends")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lock.since))
    raise LockHeld(
        f"zone locked by run {lock.run_id} of {lock.operator} (pid {lock.pid} on "
        f"{lock.client_host}, since {since}), lock file {lock_path} on firstbox "
        f"{fb.address}: that run is upgrading the zone, and a plan made now would take its "
        "half-done state for the zone's; plan again when it has ended. Where it stands:\n"
        + hints.next("status", lock.run_id))


def refuse_unfinished(state: Path, firstbox: str, hints: Hints, *,
                      ignore: bool) -> list[str]:  # fmt: skip
    """A run of this zone that began and neither finished nor was rolled back, and holds no
    lock (checked before): refused (exit 2) with what to do next, or with ``ignore``
    (--ignore-unfinished) a warning for each such run."""
    found = unfinished_runs(state, firstbox)
    try:
        texts = [(rid, f"run {rid} of this zone (firstbox {firstbox}) is unfinished "
                       f"({effective_state(j, rid)}) and holds no lock: the zone may be "
                       "half-applied (a temporary address in use, settings rewritten), and a "
                       "plan made on it would take that for the zone's state",
                  next_lines(j, rid, hints)) for j, rid in found]  # fmt: skip
    finally:
        for j in {id(j): j for j, _ in found}.values():
            j.close()
    if not texts:
        return []
    if ignore:
        return [f"{text}; planned anyway (--ignore-unfinished)" for _, text, _ in texts]
    lines: list[str] = []
    for _, text, nexts in texts:
        lines += [text + "; finish it or undo it first:", *nexts]
    again = [w for w in sys.argv[1:] if w != "--ignore-unfinished"] + ["--ignore-unfinished"]
    lines += ["or plan anyway, knowing it (--ignore-unfinished):",
              PREFIX + " ".join(shlex.quote(w) for w in ["nodeswap", *again])]
    raise InputError([Problem("\n".join(lines), key="--ignore-unfinished")])


def plan_json(plan: Plan) -> dict[str, Any]:
    """Plan.to_dict() plus, per step, ``host`` (the target's name) and ``address``: a view,
    not a plan file (``digest`` is the plan file's, which has neither; save with --out)."""
    data = plan.to_dict()
    for step in data["steps"]:
        target = plan.targets[step["target"]]
        step["host"] = target.name
        step["address"] = target.address
    return data


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
    for w in plan.warnings:
        console.print(f"[yellow]warning[/]: {w}")
    console.print(f"\ninventory fingerprint {plan.inventory_fingerprint}")


def register(app: typer.Typer) -> None:
    @app.command("plan", help=HELP)
    def plan_command(  # noqa: PLR0917 (typer maps parameters to options)
        spec_file: Annotated[Path, typer.Option("--spec", help="The upgrade spec (YAML).")],
        settings_dir: Annotated[Path | None, typer.Option(
            "--settings-dir", help="Offline: copy of the zone's /pitrix/conf/settings (one "
            "file per node).")] = None,
        installer_version: Annotated[str | None, typer.Option(
            "--installer-version", help="Offline: e.g. 4.3.1 (R18 from 4.3.0, else R19).")
        ] = None,
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        user: UserOpt = None,
        identity_file: IdentityOpt = None,
        known_hosts: KnownHostsOpt = None,
        direct: DirectOpt = False,
        jump: JumpOpt = None,
        state_dir: StateOpt = None,
        components: Annotated[str, typer.Option(
            "--components", help="Deployed components, comma list of boss,boss2,warehouse "
            "(R24-R26).")] = "",
        seed: Annotated[int | None, typer.Option(
            "--seed", help="Seed for new MACs (R9); default: derived from the zone.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
        out: Annotated[Path | None, typer.Option(
            "--out", help="Save the plan (JSON, with the inventory fingerprint and the "
            "plan's digest) for `nodeswap apply`.")] = None,
        today: Annotated[str, typer.Option(
            "--date", help="YYYYMMDD for R6's backup folder (default: today).")] = "",
        lock_path: Annotated[str, typer.Option(
            "--lock-path", help="Live: the zone lock on firstbox (a zone being upgraded is "
            "not planned: exit 4).")] = DEFAULT_LOCK_PATH,
        ignore_unfinished: Annotated[bool, typer.Option(
            "--ignore-unfinished", help="Live: plan even though a run of this zone in the "
            "state folder is unfinished (neither done nor rolled back) and holds no lock; "
            "without it such a plan is refused (exit 2).")] = False,
    ) -> None:
        date = today or _today()
        if len(date) != 8 or not date.isdigit():
            raise InputError([Problem(f"--date must be YYYYMMDD, not {date!r}", key="date")])
        if out is not None and not out.parent.is_dir():
            raise InputError([Problem(f"no folder {str(out.parent)!r} to save the plan in",
                                      key="out")])
        live = lab is not None or firstbox is not None
        if live:
            if settings_dir is not None or installer_version is not None or components:
                raise InputError([Problem(
                    "live planning reads the settings, version and components from the zone: "
                    "drop --settings-dir/--installer-version/--components", key="--firstbox")])
            plan = _live_plan(reach_of(lab, firstbox, user, identity_file=identity_file,
                                       known_hosts=known_hosts, direct=direct,
                                       state_dir=state_dir, jump=jump),
                              spec_file, seed=seed, today=date, lock_path=lock_path,
                              hints=Hints.of(lab=lab, state_dir=state_dir, firstbox=firstbox),
                              state=state_dir_for(state_dir, lab, firstbox),
                              ignore_unfinished=ignore_unfinished)
            if plan.zone is not None:  # label the zone's state folder with its zone ids
                write_label(state_dir_for(state_dir, lab, firstbox), plan.zone.firstbox,
                            plan.zone.zone_ids)
        else:
            if settings_dir is None or installer_version is None:
                raise InputError([Problem(
                    "offline planning needs --settings-dir and --installer-version (or plan a "
                    "live zone with --firstbox / --lab)", key="--settings-dir")])
            plan = make_plan(settings_dir, installer_version, spec_file, components=components,
                             seed=seed, today=date)
        if out is not None:
            planfile.save(plan, out)
        if as_json:
            typer.echo(json.dumps(plan_json(plan), indent=2))
        else:
            console = Console()
            render(plan, console if console.is_terminal else Console(width=160))
        if out is not None:
            typer.echo(f"plan saved to {out}", err=True)
        typer.echo(f"plan sha256 {plan.fingerprint()}", err=True)
