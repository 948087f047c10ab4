"""Discovery (R2): a read-only snapshot of the zone, gathered from firstbox and the nodes.

Before any change the environment must be fully known (R2). This module asks firstbox and the
role's old nodes, over one connection per host, for what planning and checking need, and
returns a ``Snapshot`` (zone/snapshot.py): plain data, saved as JSON with a fingerprint.
Nothing here writes to a host: every command is one of zone/facts.py's, each a read with its
parser beside it.

What it gathers: the settings folder, the installer version, the zone variables (R10/R11's
vg_mgmt_network_gateway, the VM base network, deployed boss/warehouse), the packages installed
on the old nodes (R24-R26), the old nodes' haproxy.cfg, rc.local files, interfaces file and
supervisor status (R27-R29 compare against them; rollback can show them), which node holds the
VIP, the candidate physical hosts' capacity and bridges, the OS images and repositories
prepared on firstbox (R4), firstbox's update scripts (their apt options per OS release,
R23-R26), and which addresses answer ping (R16).

This module only does the asking, in order; parsing is facts.py's, the model and its
cross-checks snapshot.py's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from nodeswap.errors import TransportError, ZoneError
from nodeswap.i18n import N_, _
from nodeswap.plan.model import Target
from nodeswap.runbooks import components_of, runbook_for
from nodeswap.transport.base import Connector, Result
from nodeswap.zone import facts as F
from nodeswap.zone.aptscript import UPDATE_SCRIPTS
from nodeswap.zone.inventory import Zone
from nodeswap.zone.snapshot import (
    HostCapacity,
    OldNode,
    Snapshot,
    bare_zone,
    cross_checked,
    variables_of,
)

T = TypeVar("T")
# a plan warning: data, in English; shown translated (i18n.retranslate, issue 13)
OLD_NODE_SILENT = N_("R2: old node {node} ({address}) did not answer: {error}")
NO_ZONE_VIP = N_("R23: firstbox resolves no {zone}-proxy (the floating name of zone {zone}'s "
                 "VIP): the VIP watch and the console checks have no VIP; set vip (and "
                 "console_url) in the spec")


class Asker:
    """Runs read-only commands on targets through one connector; collects failures."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    async def run(self, target: Target, command: str, timeout: float = 60.0) -> Result:
        t = await self.connector.transport(target)
        return await t.run(command, timeout=timeout)

    async def must(self, target: Target, command: str, what: str) -> str:
        res = await self.run(target, command)
        _check(target, res, what)
        return res.stdout

    async def answer(self, target: Target, fact: F.Fact[T]) -> Result:
        """What ``fact``'s command printed on ``target``, not yet parsed (a required fact
        that cannot be read is a ZoneError naming the host and what)."""
        res = await self.run(target, fact.command, timeout=fact.timeout)
        if fact.required:
            _check(target, res, fact.what)
        return res

    async def read(self, target: Target, fact: F.Fact[T]) -> T:
        """One fact of ``target``: its command run, its output parsed."""
        return fact.parse(await self.answer(target, fact))


def _check(target: Target, res: Result, what: str) -> None:
    if res.exit_status != 0:
        raise ZoneError(_("{host} ({address}): cannot read {what}: exit {status}: {output}"
                          ).format(host=target.name, address=target.address, what=what,
                                   status=res.exit_status, output=res.tail(5)))


async def _settings_and_version(ask: Asker, fb: Target) -> tuple[dict[str, str], str]:
    """The settings folder (by file name) and the installer version, read on firstbox."""
    settings = await ask.answer(fb, F.SETTINGS)  # parsed after the version is read
    version = await ask.read(fb, F.INSTALLER_VERSION)
    return F.SETTINGS.parse(settings), version


async def read_zone(connector: Connector, fb: Target) -> Zone:
    """The zone's nodes as its settings files and installer version on firstbox describe them
    (read as discover reads them; no other fact): enough for exec_nodes.sh's groups."""
    settings, version = await _settings_and_version(Asker(connector), fb)
    return bare_zone({"settings": settings, "version": version})


async def firstbox_part(ask: Asker, fb: Target) -> dict[str, Any]:
    """What discovery reads on firstbox (snapshot.py's ``part``), variables not yet parsed."""
    settings, version = await _settings_and_version(ask, fb)
    return {
        "settings": settings,
        "version": version,
        "variables_yaml": await ask.read(fb, F.file_text(f"{F.VARIABLES_DIR}/variables.yaml")),
        "variable_files": await ask.read(fb, F.VARIABLE_LISTING),
        "kernels": await ask.read(fb, F.KERNEL_IMAGES),
        "repos": await ask.read(fb, F.REPOSITORIES),
        "vip": await ask.read(fb, F.VIP),
        "update_scripts": {path: await ask.read(fb, F.file_text(path))
                           for path in UPDATE_SCRIPTS},
    }


async def _old_node(ask: Asker, name: str, address: str, paths: Iterable[str]) -> OldNode:
    """The files the role's runbook keeps from an old node (R27, R28, R31...), its
    supervisor status (R29/R35), packages (R24-R26) and addresses (the VIP)."""
    target = Target(f"{name}-old", address, f"{name}-old")
    try:
        files = {path: await ask.read(target, F.file_text(path)) for path in paths}
        sup = await ask.read(target, F.SUPERVISOR_STATUS)
        pkgs = await ask.read(target, F.PITRIX_PACKAGES)
        addrs = await ask.read(target, F.ADDRESSES)
    except TransportError as exc:
        return OldNode(name, address, {}, "", (), (), error=str(exc))
    return OldNode(name, address, files, sup, pkgs, addrs)


async def _capacity(ask: Asker, name: str, address: str) -> HostCapacity:
    target = Target(name, address, name)
    try:
        cpus, mem = await ask.read(target, F.NODEINFO)
        disk = await ask.read(target, F.DISK_FREE)
        links = await ask.read(target, F.LINKS)
    except TransportError as exc:
        return HostCapacity(error=str(exc))
    return HostCapacity(cpus, mem, disk, links)


HOSTS_AT_ONCE = 16  # discovery's hosts asked at once (the scheduler's MAX_AT_ONCE)


async def _in_order(jobs: list[Coroutine[Any, Any, T]], at_once: int = HOSTS_AT_ONCE
                    ) -> list[T]:
    """``jobs`` run at once (at most ``at_once``: a zone of hundreds of physical hosts is not
    asked all at once), each to its end; their results in order, or the first failure in
    order (what running them one after the other would have raised first)."""
    limit = asyncio.Semaphore(at_once)

    async def one(job: Coroutine[Any, Any, T]) -> T:
        async with limit:
            return await job

    got = await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
    out: list[T] = []
    for r in got:
        if isinstance(r, BaseException):
            raise r
        out.append(r)
    return out


async def ping_from(connector: Connector, fb: Target, addresses: Iterable[str]) -> set[str]:
    """Which of ``addresses`` answer ping from firstbox (R16: a temporary address must not),
    all pinged at once (a free address is silent for the whole ping: on a real network one
    after the other took about 2 s each)."""
    ask = Asker(connector)
    addrs = sorted(set(addresses))
    answered = await _in_order([ask.read(fb, F.answers_ping(a)) for a in addrs])
    return {a for a, yes in zip(addrs, answered, strict=True) if yes}


async def discover(connector: Connector, firstbox: Target, *, role: str = "proxy",
                   zone_id: str | None = None) -> Snapshot:
    """The snapshot of the zone (R2). Read-only: every command only reads. ``zone_id`` (the
    spec's ``zone``, in a region): only that zone's old nodes are asked, and its variables are
    the ones planning uses."""
    ask = Asker(connector)
    fb = await firstbox_part(ask, firstbox)
    zone = bare_zone(fb)
    variables = variables_of(fb, zone)
    own = variables_of(fb, zone, zone_id) if zone_id else {}
    warnings: list[str] = []
    paths = runbook_for(role).fetched_files
    nodes = [n for n in zone.role_nodes(role) if not zone_id or zone.zone_of(n) in (zone_id, "")]
    phys = list(zone.physical_nodes)
    # the old nodes at once, then the physical hosts at once, each host's commands in turn on
    # its own connection (one after the other through a jump, 49 commands took 4.6 s); a
    # failure raised is the first in order
    old_list = await _in_order([_old_node(ask, n.name, n.address, paths) for n in nodes])
    olds = {n.name: r for n, r in zip(nodes, old_list, strict=True)}
    for node in olds.values():
        if node.error:
            warnings.append(OLD_NODE_SILENT.format(node=node.name, address=node.address,
                                                   error=node.error))
    cap_list = await _in_order([_capacity(ask, n.name, n.address) for n in phys])
    capacity = {n.name: r for n, r in zip(phys, cap_list, strict=True)}
    vip = fb["vip"]
    if zone_id and len(zone.region_zone_ids) > 1:  # a region: the zone's own VIP (R23)
        vip = await ask.read(firstbox, F.zone_vip(zone_id))
        if vip is None:
            warnings.append(NO_ZONE_VIP.format(zone=zone_id))
    snap = Snapshot(
        firstbox=firstbox.address, settings=fb["settings"], installer_version=fb["version"],
        variables=variables, kernels=fb["kernels"], repos=fb["repos"], old_nodes=olds,
        vip=vip, capacity=capacity, warnings=tuple(warnings), role=role,
        update_scripts=fb["update_scripts"], zone_variables=own)
    return cross_checked(snap, components_of(snap))
