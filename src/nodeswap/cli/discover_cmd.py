"""`nodeswap discover`: the read-only snapshot of a zone (R2), saved as JSON with a fingerprint.

Thin: reach the zone (nodeswap.live.reach, options from nodeswap.cli.options), discover it
(nodeswap.live.discover), render (nodeswap.cli.render) or print and save the JSON.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nodeswap.live.discover import discover
from nodeswap.live.reach import reach_of, using_zone

from .options import (
    DirectOpt,
    FirstboxOpt,
    IdentityOpt,
    JsonOpt,
    JumpOpt,
    KnownHostsOpt,
    LabOpt,
    StateOpt,
    UserOpt,
)
from .render import render_snapshot, write_atomic

Opt = typer.Option


def register(app: typer.Typer) -> None:
    @app.command("discover")
    def discover_command(  # noqa: PLR0917 (typer maps parameters to options)
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        user: UserOpt = None,
        identity_file: IdentityOpt = None,
        known_hosts: KnownHostsOpt = None,
        direct: DirectOpt = False,
        jump: JumpOpt = None,
        state_dir: StateOpt = None,
        role: Annotated[str, Opt("--role", metavar="ROLE",
                                 help="The role whose nodes are replaced.")] = "proxy",
        out: Annotated[Path | None, Opt("--out", metavar="FILE", help="Save the snapshot as JSON "
                                        "(inventory.json).")] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Read-only snapshot of the zone (R2): settings, installer version, variables, the old
        nodes' files and services, the VIP holder, physical hosts' room, prepared OS images.

        Example: nodeswap discover --firstbox root@10.16.100.2 --out inventory.json
        """
        reach = reach_of(lab, firstbox, user, identity_file=identity_file,
                         known_hosts=known_hosts, direct=direct, state_dir=state_dir,
                         jump=jump)
        snap = asyncio.run(using_zone(reach, lambda c, fb: discover(c, fb, role=role)))
        text = json.dumps(snap.to_dict(), indent=2, sort_keys=True) + "\n"
        if out is not None:
            write_atomic(out, text)
        if as_json:
            typer.echo(text, nl=False)
        else:
            render_snapshot(snap, Console())
