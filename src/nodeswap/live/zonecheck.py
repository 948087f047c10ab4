"""Refuse another zone's plan before touching anything (issue 9).

A plan names the zone it was made on (``Plan.zone``: firstbox's address, the zone ids, and
firstbox's host key when planned live). ``refuse_other_zone`` compares that with the zone the
operator gave (``--lab`` / ``--firstbox``) in two stages:

1. without any connection: the plan's format and zone, firstbox's address, the zone ids (the
   lab's lab.json, or the state folder's ``zone.json`` label), an offline plan;
2. with one connection to firstbox itself, at the address the operator gave (and through the
   ``--jump`` bastion when there is one), without logging in: the host key it presents,
   of the plan's key type, must be the plan's.

Either stage raises InputError (exit 2) naming both sides; nothing else was contacted and no
run is recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.live.reach import Reach
from nodeswap.plan.model import Plan

LABEL = "zone.json"


@dataclass(frozen=True)
class Given:
    """The zone the operator named on the command line."""

    how: str  # "--lab DIR" / "--firstbox ADDR"
    firstbox: str | None
    zone_ids: tuple[str, ...]  # empty: not known without asking the zone


def given_zone(reach: Reach, state_dir: Path | None = None) -> Given:
    fb = reach.firstbox.address if reach.firstbox is not None else None
    if reach.lab is not None:
        return Given(f"--lab {reach.lab.get('state_dir', '?')}", fb, reach.lab_zone_ids)
    label = read_label(state_dir) if state_dir is not None else None
    ids = tuple(str(z) for z in label["zone_ids"]) if label and label.get("firstbox") == fb else ()
    return Given(f"--firstbox {fb}", fb, ids)


def read_label(state_dir: Path) -> dict[str, Any] | None:
    """The state folder's zone.json: which firstbox and zone ids it keeps the state of."""
    try:
        data = json.loads((state_dir / LABEL).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_label(state_dir: Path, firstbox: str, zone_ids: tuple[str, ...]) -> None:
    """Label the state folder with the zone it keeps the state of (for people and for
    ``given_zone``). The zone ids stay those first seen for this firstbox."""
    old = read_label(state_dir)
    if old and old.get("firstbox") == firstbox and old.get("zone_ids") and not zone_ids:
        return
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (state_dir / LABEL).write_text(json.dumps(
        {"firstbox": firstbox, "zone_ids": list(zone_ids)}, indent=2) + "\n")


def problems_before_contact(plan: Plan, given: Given, *, name: str = "the plan",
                            offline_plan: bool = False) -> list[Problem]:  # fmt: skip
    """Stage 1: what the plan and the command line say, compared without any connection.
    ``offline_plan`` (apply --offline-plan): an offline plan goes on to be compared with the
    live zone (``planning.offline_plan_matches``) instead of being refused here."""
    z = plan.zone
    if z is None:
        if given.firstbox is None:
            return []  # a hand-made plan on a lab without a zone (plain hosts): nothing to compare
        return [Problem(_("{name} names no zone (not made by `nodeswap plan`, or by an older "
                          "one), so it cannot be checked against {how}: make a new plan with "
                          "`nodeswap plan`").format(name=name, how=given.how), key="zone")]
    out: list[Problem] = []
    if given.firstbox is None:
        out.append(Problem(_("{name} was made on {zone}; {how} has no firstbox (a lab of "
                             "plain hosts)").format(name=name, zone=z.describe(),
                             how=given.how), key="zone.firstbox"))
        return out
    if (z.offline or not z.host_key) and not (offline_plan and z.offline):
        out.append(Problem(_("{name} was made offline from a copy of the settings "
                             "({zone}): it cannot be applied to {how}; plan the zone live "
                             "with `nodeswap plan --firstbox ...` (or --lab) and apply that "
                             "plan, or apply it with --offline-plan to have it compared with "
                             "the live zone first").format(name=name, zone=z.describe(),
                             how=given.how), key="zone.offline"))
        return out
    if z.firstbox != given.firstbox:
        out.append(Problem(_("{name} was made on firstbox {firstbox}, but {how} is firstbox "
                             "{given}: another zone's plan").format(
                                 name=name, firstbox=z.firstbox, how=given.how,
                                 given=given.firstbox),
                           key="zone.firstbox"))
    if given.zone_ids and set(given.zone_ids) != set(z.zone_ids):
        out.append(Problem(_("{name} is for zone {zone}, but {how} is zone {given}").format(
                                 name=name, zone="+".join(z.zone_ids) or "?", how=given.how,
                                 given="+".join(given.zone_ids)),
                           key="zone.zone_ids"))
    return out


async def key_problems(plan: Plan, reach: Reach, given: Given, *,
                       name: str = "the plan") -> list[Problem]:  # fmt: skip
    """Stage 2: one connection to firstbox (no login) for the host key it presents now."""
    from nodeswap.transport.hostkey import key_name, scan_key  # noqa: PLC0415 (asyncssh)

    z = plan.zone
    if z is None or not z.host_key or given.firstbox is None:
        return []
    key = await scan_key(reach.ssh, given.firstbox, like=z.host_key)
    if key is None:
        return [Problem(_("{name} was made on firstbox {firstbox} with host key {host_key}; "
                          "{how} presents no {type} key at all: another machine").format(name=name,
                          firstbox=z.firstbox, host_key=z.host_key, how=given.how,
                          type=z.host_key.split()[0]), key="zone.host_key")]
    now = key_name(key)
    if now != z.host_key:
        return [Problem(_("{name} was made on firstbox {firstbox} with host key {host_key}; "
                          "{how} presents host key {now}: another machine at that address (a "
                          "twin zone, or firstbox was replaced): make a new plan there").format(
                              name=name,
                          firstbox=z.firstbox, host_key=z.host_key, how=given.how, now=now),
                        key="zone.host_key")]
    return []


async def refuse_other_zone(plan: Plan, reach: Reach, state_dir: Path | None = None, *,
                            name: str = "the plan", offline_plan: bool = False) -> None:
    """Raise InputError (exit 2) when ``plan`` was not made on the zone ``reach`` names (an
    offline plan: unless ``offline_plan``; it has no host key to compare)."""
    given = given_zone(reach, state_dir)
    problems = problems_before_contact(plan, given, name=name, offline_plan=offline_plan)
    if problems:
        raise InputError(problems)
    problems = await key_problems(plan, reach, given, name=name)
    if problems:
        raise InputError(problems)
