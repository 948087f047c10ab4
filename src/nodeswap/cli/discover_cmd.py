"""`nodeswap discover`: the read-only snapshot of a zone (R2), saved as JSON with a fingerprint.

Also holds the zone connection options shared by the commands that talk to a live zone
(discover, plan --firstbox/--lab): ``--lab DIR`` or ``--firstbox [USER@]ADDR`` with
``--identity-file``, ``--known-hosts``, ``--user``, ``--direct``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from nodeswap.errors import InputError, Problem
from nodeswap.live.discover import discover
from nodeswap.live.reach import Reach, make_reach
from nodeswap.plan.model import Target
from nodeswap.run.runs import own_known_hosts, state_dir_for
from nodeswap.transport.ssh import SshConnector
from nodeswap.zone.snapshot import Snapshot

T = TypeVar("T")
Opt = typer.Option

LabOpt = Annotated[Path | None, Opt("--lab", help="A lab's state folder (firstbox and keys "
                                     "from its lab.json).")]
FirstboxOpt = Annotated[str | None, Opt("--firstbox", help="[USER@]ADDRESS of firstbox.")]
UserOpt = Annotated[str | None, Opt("--user", help="Login user (default root).")]
IdentityOpt = Annotated[list[Path] | None, Opt("--identity-file", "-i",
                                               help="Private key (repeatable).")]
KnownHostsOpt = Annotated[Path | None, Opt("--known-hosts", help="A known_hosts file (must "
                                            "exist), merged into nodeswap's own known_hosts "
                                            "for this firstbox: its keys win for the hosts it "
                                            "names. nodeswap's own file is seeded once from "
                                            "~/.ssh/known_hosts (or the lab's); `nodeswap "
                                            "trust` adds firstbox's key.")]
DirectOpt = Annotated[bool, Opt("--direct", help="Reach nodes directly, not through firstbox "
                                 "as a jump host.")]
JumpOpt = Annotated[str | None, Opt("--jump", help="[USER@]HOST of a bastion in front of "
                                    "firstbox (firstbox is reached through it).")]
StateOpt = Annotated[Path | None, Opt("--state-dir", help="nodeswap's state folder (journals, "
                                      "its own known_hosts); default one per firstbox, "
                                      "/var/lib/nodeswap/ADDRESS as root, LAB/nodeswap with "
                                      "--lab.")]


def reach_of(lab: Path | None, firstbox: str | None, user: str | None, *,
             identity_file: list[Path] | None, known_hosts: Path | None,
             direct: bool, state_dir: Path | None = None,
             jump: str | None = None) -> Reach:  # fmt: skip
    """Where the zone is and how to log in; host keys are checked against nodeswap's own
    known_hosts in the zone's state folder (seeded from the lab's or the operator's file the
    first time, --known-hosts merged in whenever given; apply keeps it up to date after a
    switch), as apply checks them."""
    if lab is None and firstbox is None:
        raise InputError([Problem("say where the zone is: --firstbox [USER@]ADDR or --lab DIR",
                                  key="--firstbox")])
    reach = make_reach(lab=lab, firstbox=firstbox, user=user,
                       identity_file=identity_file or [], known_hosts=known_hosts,
                       direct=direct, connect_timeout=10.0, jump=jump)
    own = own_known_hosts(state_dir_for(state_dir, lab, firstbox), reach.ssh.known_hosts,
                          given=reach.given_known_hosts)
    return replace(reach, ssh=replace(reach.ssh, known_hosts=own))


def with_zone(reach: Reach, work: Callable[[SshConnector, Target], Awaitable[T]]) -> T:
    """Run ``work`` with one connector to the zone (closed after), in the CLI's asyncio.run."""
    fb = reach.firstbox
    if fb is None:
        raise InputError([Problem("this lab has no firstbox (a plain-hosts lab)", key="--lab")])

    async def go() -> T:
        connector = SshConnector(reach.ssh)
        try:
            return await work(connector, fb)
        finally:
            await connector.close()

    return asyncio.run(go())


def render_snapshot(snap: Snapshot, console: Console) -> None:
    console.print(f"[bold]Zone[/] behind firstbox {snap.firstbox}: installer "
                  f"{snap.installer_version}, {len(snap.settings)} settings files, components "
                  f"{', '.join(sorted(snap.components)) or 'none'} (R24-R26)")
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
        role: Annotated[str, Opt("--role", help="The role whose nodes are replaced.")] = "proxy",
        out: Annotated[Path | None, Opt("--out", help="Save the snapshot as JSON "
                                        "(inventory.json).")] = None,
        as_json: Annotated[bool, Opt("--json", help="Print the snapshot as JSON.")] = False,
    ) -> None:
        """Read-only snapshot of the zone (R2): settings, installer version, variables, the old
        nodes' files and services, the VIP holder, physical hosts' room, prepared OS images.

        Example: nodeswap discover --firstbox root@10.16.100.2 --out inventory.json
        """
        reach = reach_of(lab, firstbox, user, identity_file=identity_file,
                         known_hosts=known_hosts, direct=direct, state_dir=state_dir,
                         jump=jump)
        snap = with_zone(reach, lambda c, fb: discover(c, fb, role=role))
        text = json.dumps(snap.to_dict(), indent=2, sort_keys=True) + "\n"
        if out is not None:
            from .plan_cmd import write_atomic  # noqa: PLC0415

            write_atomic(out, text)
        if as_json:
            typer.echo(text, nl=False)
        else:
            render_snapshot(snap, Console())
