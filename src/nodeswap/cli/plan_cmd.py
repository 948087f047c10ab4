"""`nodeswap plan`: build the whole plan offline from a copy of the settings folder.

Thin: plan offline or live (nodeswap.live.planzone), render with rich or as JSON
(nodeswap.cli.render), and optionally save it atomically (``--out``). Invalid input raises
InputError, which the CLI turns into every problem on stderr and exit status 2; nothing is
written then.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nodeswap.errors import InputError, Problem
from nodeswap.examples import ROOT as EXAMPLES
from nodeswap.i18n import _
from nodeswap.live.planzone import plan_offline, plan_zone
from nodeswap.live.reach import reach_of, using_zone
from nodeswap.live.zonecheck import write_label
from nodeswap.plan import planfile
from nodeswap.run.hints import Hints
from nodeswap.run.lock import DEFAULT_LOCK_PATH
from nodeswap.run.statedir import state_dir_for

from .options import (
    DirectOpt,
    FirstboxOpt,
    IdentityOpt,
    JsonOpt,
    JumpOpt,
    KnownHostsOpt,
    LabOpt,
    LockPathOpt,
    StateOpt,
    UserOpt,
)
from .render import plan_console, plan_json, render

HELP = """Plan an upgrade of the role's nodes without touching anything.

Reads a copy of the zone's settings folder (/pitrix/conf/settings) and the spec, applies \
the runbook's rules R7-R17 (new settings per node: OS, MACs, temporary address, host, \
routes, EIP) and lists every step of R6-R37 in order: phase, host, exact command line, rule.

\b
Examples (the sample zones ship with nodeswap; 10.x addresses: plan them, never apply):
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
  zone: zz1a             # the zone to upgrade: required on a region's firstbox when
                         # the role's nodes are in several zones (exit 2 otherwise, R5)

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


def register(app: typer.Typer) -> None:
    @app.command("plan", help=HELP.replace(" examples/", f" {EXAMPLES}/"))  # installed path
    def plan_command(  # noqa: PLR0917 (typer maps parameters to options)
        spec_file: Annotated[Path, typer.Option(
            "--spec", metavar="FILE", help="The upgrade spec (YAML).")],
        settings_dir: Annotated[Path | None, typer.Option(
            "--settings-dir", metavar="DIR",
            help="Offline: copy of the zone's /pitrix/conf/settings (one "
            "file per node).")] = None,
        installer_version: Annotated[str | None, typer.Option(
            "--installer-version", metavar="VERSION",
            help="Offline: e.g. 4.3.1 (R18 from 4.3.0, else R19).")
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
            "--components", metavar="LIST",
            help="Deployed components, comma list of boss,boss2,warehouse "
            "(R24-R26).")] = "",
        seed: Annotated[int | None, typer.Option(
            "--seed", metavar="N",
            help="Seed for new MACs (R9); default: derived from the zone.")] = None,
        as_json: JsonOpt = False,
        out: Annotated[Path | None, typer.Option(
            "--out", metavar="FILE",
            help="Save the plan (JSON, with the inventory fingerprint and the "
            "plan's digest) for `nodeswap apply`.")] = None,
        today: Annotated[str, typer.Option(
            "--date", metavar="YYYYMMDD",
            help="YYYYMMDD for R6's backup folder (default: today).")] = "",
        lock_path: LockPathOpt = DEFAULT_LOCK_PATH,
        ignore_unfinished: Annotated[bool, typer.Option(
            "--ignore-unfinished", help="Live: plan even though a run of this zone in the "
            "state folder is unfinished (neither done nor rolled back) and holds no lock; "
            "without it such a plan is refused (exit 2).")] = False,
    ) -> None:
        date = today or _today()
        if len(date) != 8 or not date.isdigit():
            raise InputError([Problem(_("--date must be YYYYMMDD, not {value}").format(
                value=repr(date)), key="date")])
        if out is not None and not out.parent.is_dir():
            raise InputError([Problem(_("no folder {folder} to save the plan in").format(
                folder=repr(str(out.parent))),
                                      key="out")])
        live = lab is not None or firstbox is not None
        if live:
            if settings_dir is not None or installer_version is not None or components:
                raise InputError([Problem(
                    _("live planning reads the settings, version and components from the zone: "
                      "drop --settings-dir/--installer-version/--components"),
                    key="--firstbox")])
            state = state_dir_for(state_dir, lab, firstbox)
            reach = reach_of(lab, firstbox, user, identity_file=identity_file,
                             known_hosts=known_hosts, direct=direct, state_dir=state_dir,
                             jump=jump)
            hints = Hints.of(lab=lab, state_dir=state_dir, firstbox=firstbox)
            plan = asyncio.run(using_zone(reach, lambda c, fb: plan_zone(
                c, fb, spec_file, seed=seed, today=date, lock_path=lock_path, hints=hints,
                state=state, ignore_unfinished=ignore_unfinished, argv=sys.argv[1:])))
            if plan.zone is not None:  # label the zone's state folder with its zone ids
                write_label(state, plan.zone.firstbox, plan.zone.zone_ids)
        else:
            if settings_dir is None or installer_version is None:
                raise InputError([Problem(
                    _("offline planning needs --settings-dir and --installer-version (or plan "
                      "a live zone with --firstbox / --lab)"), key="--settings-dir")])
            plan = plan_offline(settings_dir, installer_version, spec_file, components=components,
                             seed=seed, today=date)
        if out is not None:
            planfile.save(plan, out)
        if as_json:
            typer.echo(json.dumps(plan_json(plan), indent=2))
        else:
            render(plan, plan_console())
        if out is not None:
            typer.echo(_("plan saved to {file}").format(file=out), err=True)
        typer.echo(f"plan sha256 {plan.fingerprint()}", err=True)
