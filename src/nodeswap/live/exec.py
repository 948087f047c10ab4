"""`nodeswap exec`'s library: a command on a node group (or a hosts file's hosts), in parallel.

The successor of /pitrix/upgrade/exec_nodes.sh: groups as it names them (all, a role, vm,
phy, a node name, a comma list), resolved from the zone's settings files on firstbox (read as
discover reads them, nodeswap.live.discover.read_zone), or from a lab's lab.json for a
plain-hosts lab; or the hosts of a hosts file (nodeswap.zone.hostsfile). Every host at once
(bounded by ``forks``, nodeswap.transport.fanout), one outcome per host. Never prints: each
host's outcome goes to ``on_result`` as it finishes, the whole to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.live.reach import Reach
from nodeswap.plan.model import Target
from nodeswap.run.events import HostDone
from nodeswap.transport.fanout import run_on_hosts, summary
from nodeswap.transport.ssh import SshConnector
from nodeswap.zone.hostsfile import HostEntry, parse_hosts

if TYPE_CHECKING:
    from nodeswap.zone.inventory import Zone

HOSTS_FILE_MAX = 16 * 1024 * 1024  # bytes; a hosts file is a list of addresses, not a disk


def resolve_from_zone(zone: Zone, group: str, direct: bool) -> list[Target]:
    """exec_nodes.sh's groups over the zone's settings files (read from firstbox)."""
    from nodeswap.zone.groups import resolve_targets  # noqa: PLC0415 (only exec on a zone pays)

    names = resolve_targets(zone, group)
    return [Target(n, zone.node(n).address, n, via_firstbox=not direct) for n in names]


def resolve_from_lab(data: dict[str, Any], group: str) -> list[Target]:
    """exec_nodes.sh's groups over lab.json's hosts (a plain-hosts lab has no settings)."""
    hosts: dict[str, dict[str, Any]] = {
        k: v for k, v in data["hosts"].items() if v.get("kind") != "firstbox"
    }
    out: set[str] = set()
    problems = []
    for name in (g.strip() for g in group.split(",") if g.strip()):
        if name == "all":
            members = set(hosts)
        elif name in ("vm", "phy"):
            members = {k for k, v in hosts.items() if (v.get("kind") == "vm") == (name == "vm")}
        else:
            members = {k for k, v in hosts.items() if name in str(v.get("role", "")).split(",")}
            members |= {name} if name in hosts else set()
        if not members and name not in ("vm", "phy"):
            problems.append(Problem(_("unknown node or group {name!r}").format(name=name),
                                    key="GROUP"))
        out |= members
    if problems:
        raise InputError(problems)
    fb = data.get("firstbox")
    return [Target(k, hosts[k]["address"], k, via_firstbox=bool(fb)) for k in sorted(out)]


def read_hosts_file(path: Path) -> list[HostEntry]:
    """The hosts file's entries; InputError naming the file (and line) for anything wrong."""
    try:
        with path.open("rb") as f:
            data = f.read(HOSTS_FILE_MAX + 1)
    except OSError as exc:
        raise InputError([Problem(_("cannot read: {error}").format(error=exc.strerror or exc),
                                  file=str(path))]) \
            from exc
    if len(data) > HOSTS_FILE_MAX:
        raise InputError([Problem(_("larger than {limit} bytes: not a hosts file").format(
            limit=HOSTS_FILE_MAX),
                                  file=str(path))])  # fmt: skip
    return parse_hosts(data, str(path))


@dataclass(frozen=True)
class Job:
    """What to run where: a GROUP, or a hosts file's entries instead; the remote command."""

    group: str | None
    hosts: tuple[HostEntry, ...] | None  # from --hosts-file, instead of a group
    command: str
    forks: int = 64
    timeout: float = 600.0


@dataclass(frozen=True)
class ExecResult:
    """Every host's outcome (in the order of the targets), each target's node name (None:
    an address no zone or lab names) and how long it all took."""

    results: list[HostDone]
    nodes: dict[str, str | None]
    took: float

    @property
    def counts(self) -> dict[str, int]:
        """ok, failed, unreachable (nodeswap.transport.fanout.summary)."""
        return summary(self.results)

    @property
    def ok(self) -> bool:
        """Every host ran the command with status 0."""
        return self.counts["ok"] == len(self.results)

    def to_dict(self) -> dict[str, Any]:
        """The --json object: {"hosts": {KEY: {...}}, "summary": {...}}."""
        return {
            "hosts": {r.host: {"exit_status": r.exit_status, "stdout": r.stdout,
                               "stderr": r.stderr, "error": r.error,
                               "node": self.nodes.get(r.host), "address": r.address}
                      for r in self.results},
            "summary": self.counts,
        }  # fmt: skip


async def resolve(
    reach: Reach, job: Job, connector: SshConnector
) -> tuple[list[Target], dict[str, str | None]]:
    """The job's targets, and each target's node name by target name (None: unknown)."""
    if job.hosts is not None:
        via = reach.ssh.jump is not None
        targets = [Target(e.text, e.host, e.host, via_firstbox=via) for e in job.hosts]
        return targets, {t.name: _lab_name(reach.lab, t.address) for t in targets}
    if reach.lab is not None and not reach.lab.get("firstbox"):
        targets = resolve_from_lab(reach.lab, job.group or "")
    elif reach.firstbox is not None:
        from nodeswap.live.discover import read_zone  # noqa: PLC0415 (only exec on a zone pays)

        zone = await read_zone(connector, reach.firstbox)
        targets = resolve_from_zone(zone, job.group or "", reach.ssh.jump is None)
    else:
        raise InputError([Problem(_("GROUP needs --firstbox or --lab (or use --hosts-file)"),
                                  key="GROUP")])  # fmt: skip
    return targets, {t.name: t.name for t in targets}


def _lab_name(lab: dict[str, Any] | None, host: str) -> str | None:
    """The lab's name for a hosts file's host (an address or a name), None if not the lab's."""
    hosts: dict[str, Any] = (lab or {}).get("hosts", {})
    if host in hosts:
        return host
    return next((k for k, v in sorted(hosts.items()) if v.get("address") == host), None)


async def exec_job(reach: Reach, job: Job,
                   on_result: Callable[[HostDone], None] | None = None) -> ExecResult:  # fmt: skip
    """Resolve the job's hosts and run its command on them; ``on_result`` is called as each
    host finishes, with the host shown by its node name when it has one."""
    started = time.monotonic()
    logins = {(e.text, e.host): (e.user, e.port) for e in job.hosts or ()}
    connector = SshConnector(reach.ssh, logins=logins)
    try:
        targets, nodes = await resolve(reach, job, connector)

        def named(done: HostDone) -> None:
            if on_result is not None:
                on_result(replace(done, host=nodes.get(done.host) or done.host))

        results = await run_on_hosts(targets, job.command, connector, forks=job.forks,
                                     timeout=job.timeout, on_result=named)  # fmt: skip
    finally:
        await connector.close()
    return ExecResult(results, nodes, time.monotonic() - started)
