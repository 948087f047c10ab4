"""How to reach a zone: firstbox's address, the login, keys, known_hosts, jump or direct.

From ``--lab DIR`` (a lab's lab.json) or ``--firstbox [USER@]ADDR`` and the ssh options
(``make_reach``; ``reach_of`` also checks host keys against nodeswap's own known_hosts, as
discover, plan and apply do). Stored with a run (``to_dict``) so that resume and rollback
need only the run id. ``using_zone`` runs some work with one connector to the zone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.plan.model import Target
from nodeswap.run.statedir import own_known_hosts, state_dir_for
from nodeswap.transport.ssh import SshConfig, SshConnector

T = TypeVar("T")


@dataclass(frozen=True)
class Reach:
    """Where firstbox is and how to log in (from --lab or --firstbox and the ssh options)."""

    ssh: SshConfig
    firstbox: Target | None
    lab: dict[str, Any] | None = None
    # --known-hosts as given on this command line (not stored with a run): merged into
    # nodeswap's own known_hosts (runs.own_known_hosts), never silently ignored.
    given_known_hosts: str | None = None

    @property
    def lab_zone_ids(self) -> tuple[str, ...]:
        """The zone ids the lab's lab.json names: a region's ``zone_ids``, else its
        ``zone_id`` (empty: not a zone lab, or not a lab)."""
        zone = (self.lab or {}).get("zone") or {}
        if zone.get("zone_ids"):
            return tuple(str(z) for z in zone["zone_ids"])
        return (str(zone["zone_id"]),) if zone.get("zone_id") else ()

    def to_dict(self) -> dict[str, Any]:
        fb = self.firstbox
        return {
            "user": self.ssh.user, "identity_files": list(self.ssh.identity_files),
            "known_hosts": self.ssh.known_hosts, "connect_timeout": self.ssh.connect_timeout,
            "firstbox": None if fb is None else [fb.name, fb.address],
            "direct": self.ssh.jump is None,
            "jump": None if self.ssh.bastion is None
            else [self.ssh.bastion_user, self.ssh.bastion.address],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reach:
        fb = None
        if d.get("firstbox"):
            fb = Target(d["firstbox"][0], d["firstbox"][1], d["firstbox"][0], via_firstbox=False)
        ssh = SshConfig(
            user=d.get("user", "root"), identity_files=tuple(d.get("identity_files", ())),
            known_hosts=d.get("known_hosts"), jump=None if d.get("direct") else fb,
            connect_timeout=float(d.get("connect_timeout", 10.0)),
            bastion=_bastion(d["jump"][1]) if d.get("jump") else None,
            bastion_user=d["jump"][0] if d.get("jump") else None,
        )  # fmt: skip
        return cls(ssh, fb)


def _bastion(address: str) -> Target:
    return Target("jump", address, "jump", via_firstbox=False)


def read_lab(folder: Path) -> dict[str, Any]:
    path = folder / "lab.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        data["hosts"], data["ssh"]  # shape check
    except (OSError, ValueError, KeyError) as exc:
        raise InputError([Problem(_("not a lab state folder: {error}").format(error=exc),
                                  file=str(path))]) from exc
    return data


def make_reach(
    *, lab: Path | None, firstbox: str | None, user: str | None = None,
    identity_file: list[Path] | None = None, known_hosts: Path | None = None,
    direct: bool = False, connect_timeout: float = 10.0, jump: str | None = None,
) -> Reach:  # fmt: skip
    """Combine --lab / --firstbox with --user, --identity-file, --known-hosts, --direct and
    --jump [USER@]HOST (a bastion in front of firstbox). Host keys are always checked: with
    no --known-hosts, against the lab's file (--lab) or the operator's ~/.ssh/known_hosts.
    A --known-hosts that is not a readable file is refused (exit 2), as are --firstbox
    values that are no [USER@]ADDRESS."""
    if lab is not None and firstbox is not None:
        raise InputError([Problem(_("give --lab or --firstbox, not both"), key="--firstbox")])
    if known_hosts is not None and not known_hosts.is_file():
        raise InputError([Problem(_("--known-hosts {file}: no such file").format(
            file=known_hosts),
                                  file=str(known_hosts), key="--known-hosts")])
    data = read_lab(lab) if lab is not None else None
    fb: Target | None = None
    login = user or "root"
    ids = tuple(str(p) for p in identity_file or ())
    kh = str(known_hosts) if known_hosts else None
    if data is not None:
        login = user or data["ssh"]["user"]
        ids = ids or (data["ssh"]["identity_file"],)
        kh = kh or data["ssh"]["known_hosts"]
        name = data.get("firstbox")
        if name:
            fb = Target(name, data["hosts"][name]["address"], name, via_firstbox=False)
        # a netns lab (issue 10): this machine reaches firstbox only at its /30 address, the
        # lab's `ssh.jump`; it is the bastion, firstbox and the zone are reached through it
        jump = jump or data["ssh"].get("jump")
    elif firstbox is not None:
        who, _at, addr = firstbox.rpartition("@")
        if not addr or any(c.isspace() or c in "/@" for c in addr):
            raise InputError([Problem(_("--firstbox takes [USER@]ADDRESS, not {value}").format(
                value=repr(firstbox)),
                                      key="--firstbox")])
        login = user or who or "root"
        fb = Target("firstbox", addr, "firstbox", via_firstbox=False)
    bastion = bastion_user = None
    if jump:
        who, _at, addr = jump.rpartition("@")
        if not addr or any(c.isspace() for c in jump):
            raise InputError([Problem(_("--jump takes [USER@]HOST, not {value}").format(
                value=repr(jump)), key="--jump")])
        bastion, bastion_user = _bastion(addr), who or login
    ssh = SshConfig(user=login, identity_files=ids, known_hosts=kh,
                    jump=None if direct else fb, connect_timeout=connect_timeout,
                    bastion=bastion, bastion_user=bastion_user)  # fmt: skip
    return Reach(ssh, fb, data, given_known_hosts=str(known_hosts) if known_hosts else None)


def reach_of(lab: Path | None, firstbox: str | None, user: str | None, *,
             identity_file: list[Path] | None, known_hosts: Path | None,
             direct: bool, state_dir: Path | None = None,
             jump: str | None = None) -> Reach:  # fmt: skip
    """Where the zone is and how to log in; host keys are checked against nodeswap's own
    known_hosts in the zone's state folder (seeded from the lab's or the operator's file the
    first time, --known-hosts merged in whenever given; apply keeps it up to date after a
    switch), as apply checks them."""
    if lab is None and firstbox is None:
        raise InputError([Problem(_("say where the zone is: --firstbox [USER@]ADDR or --lab DIR"),
                                  key="--firstbox")])
    reach = make_reach(lab=lab, firstbox=firstbox, user=user,
                       identity_file=identity_file or [], known_hosts=known_hosts,
                       direct=direct, connect_timeout=10.0, jump=jump)
    own = own_known_hosts(state_dir_for(state_dir, lab, firstbox), reach.ssh.known_hosts,
                          given=reach.given_known_hosts)
    return replace(reach, ssh=replace(reach.ssh, known_hosts=own))


async def using_zone(reach: Reach, work: Callable[[SshConnector, Target], Awaitable[T]]) -> T:
    """Run ``work`` with one connector to the zone and its firstbox (closed after); the
    caller runs it in its one event loop."""
    fb = reach.firstbox
    if fb is None:
        raise InputError([Problem(_("this lab has no firstbox (a plain-hosts lab)"),
                                  key="--lab")])
    connector = SshConnector(reach.ssh)
    try:
        return await work(connector, fb)
    finally:
        await connector.close()
