"""Planning a zone from what the operator gives: offline from a copy of the settings folder
and the spec (``plan_offline``), or live on the zone itself (``plan_zone``), which is refused
while a run upgrades the zone (its lock held: exit 4) or left it half-applied (an unfinished
run of it in the state folder holding no lock: exit 2 unless ignored). The library behind
`nodeswap plan`; it never prints, and runs in the caller's event loop.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from nodeswap.errors import InputError, LockHeld, Problem
from nodeswap.i18n import _, retranslate
from nodeswap.live.planning import plan_live
from nodeswap.live.sources import read_spec, read_zone
from nodeswap.live.zonelock import read_held
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan, Target
from nodeswap.plan.spec import Spec
from nodeswap.run.hints import PREFIX, Hints
from nodeswap.run.runs import effective_state, next_lines
from nodeswap.run.statedir import PLANNED_ANYWAY, UNFINISHED, unfinished_runs
from nodeswap.transport.base import Connector


def plan_offline(settings_dir: Path, installer_version: str, spec_file: Path, *,
                 components: str, seed: int | None, today: str) -> Plan:  # fmt: skip
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


async def plan_zone(connector: Connector, fb: Target, spec_file: Path, *, seed: int | None,
                    today: str, lock_path: str, hints: Hints | None = None,
                    state: Path | None = None, ignore_unfinished: bool = False,
                    argv: Sequence[str] | None = None) -> Plan:  # fmt: skip
    """Refuse a zone being upgraded (its lock held: exit 4) or left half-applied by a run
    that holds no lock (exit 2 unless ``ignore_unfinished``); then discover the zone, draw
    MACs on firstbox (R9), check temporary addresses (R16) and the hosts' room (R4,
    R13-R15), and plan (nodeswap.live.planning). ``argv``: the command's words, repeated in
    the refusal with --ignore-unfinished added."""
    spec = read_spec(spec_file)
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    hints = hints or Hints()
    await refuse_locked(connector, fb, lock_path, hints)
    warnings: list[str] = []
    if state is not None:
        warnings = refuse_unfinished(state, fb.address, hints, ignore=ignore_unfinished,
                                     argv=argv)
    plan, _snap = await plan_live(connector, fb, spec, today=today)
    if warnings:
        plan = replace(plan, warnings=(*plan.warnings, *warnings))
    return plan


async def refuse_locked(connector: Connector, fb: Target, lock_path: str,
                        hints: Hints) -> None:  # fmt: skip
    """LockHeld (exit 4) while firstbox's zone lock is held: the zone is being upgraded."""
    held = await read_held(await connector.transport(fb), lock_path)
    if held is None:
        return
    lock, raw = held
    if lock is None:
        raise LockHeld(_("zone locked: {lock_path} on firstbox {address} holds {text!r}: a "
                         "run is upgrading the zone; plan it after that run ends").format(
                             lock_path=lock_path, address=fb.address, text=raw.strip()))
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lock.since))
    raise LockHeld(
        _("zone locked by run {run_id} of {operator} (pid {pid} on {client_host}, since "
          "{since}), lock file {lock_path} on firstbox {address}: that run is upgrading the "
          "zone, and a plan made now would take its half-done state for the zone's; plan again "
          "when it has ended. Where it stands:\n").format(run_id=lock.run_id,
          operator=lock.operator, pid=lock.pid, client_host=lock.client_host, since=since,
          lock_path=lock_path, address=fb.address)
        + hints.next("status", lock.run_id))


def refuse_unfinished(state: Path, firstbox: str, hints: Hints, *, ignore: bool,
                      argv: Sequence[str] | None = None) -> list[str]:  # fmt: skip
    """A run of this zone that began and neither finished nor was rolled back, and holds no
    lock (checked before): refused (exit 2) with what to do next, or with ``ignore``
    (--ignore-unfinished) a warning for each such run. ``argv`` (default: this process's
    arguments) is the command shown to plan anyway."""
    found = unfinished_runs(state, firstbox)
    try:
        texts = [(rid, UNFINISHED.format(run=rid, firstbox=firstbox,
                                         state=effective_state(j, rid)),
                  next_lines(j, rid, hints)) for j, rid in found]  # fmt: skip
    finally:
        for j in {id(j): j for j, _rid in found}.values():
            j.close()
    if not texts:
        return []
    if ignore:
        return [PLANNED_ANYWAY.format(text=text) for _run, text, _next in texts]
    lines: list[str] = []
    for _run, text, nexts in texts:
        lines += [retranslate(text) + _("; finish it or undo it first:"), *nexts]
    words = sys.argv[1:] if argv is None else list(argv)
    again = [w for w in words if w != "--ignore-unfinished"] + ["--ignore-unfinished"]
    lines += [_("or plan anyway, knowing it (--ignore-unfinished):"),
              PREFIX + " ".join(shlex.quote(w) for w in ["nodeswap", *again])]
    raise InputError([Problem("\n".join(lines), key="--ignore-unfinished")])
