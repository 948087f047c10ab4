"""`nodeswap exec GROUP -- COMMAND`: a command on a node group, in parallel, structured.

The successor of /pitrix/upgrade/exec_nodes.sh: groups as it names them (all, a role, vm,
phy, a node name, a comma list), resolved from the zone's settings files on firstbox (read as
discover reads them, nodeswap.live.discover.read_zone), or from a lab's lab.json for a plain-hosts
lab; or the hosts of a hosts file (nodeswap.zone.hostsfile). Every host at once (bounded by
--forks), each host printed as it finishes, then a summary. Exit 0 only if every host ran the
command with status 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from nodeswap.errors import EXIT_FAILED, EXIT_OK, InputError, Problem
from nodeswap.live.reach import Reach, make_reach
from nodeswap.plan.model import Target
from nodeswap.run.events import HostDone, host_block
from nodeswap.shell import cmd
from nodeswap.transport.fanout import run_on_hosts, summary
from nodeswap.transport.ssh import SshConnector
from nodeswap.zone.hostsfile import HostEntry, parse_hosts

if TYPE_CHECKING:
    from typer import _click as click

    from nodeswap.zone.inventory import Zone

HOSTS_FILE_MAX = 16 * 1024 * 1024  # bytes; a hosts file is a list of addresses, not a disk

HELP = """Run COMMAND on a node group in parallel; exit 0 only if every host exited 0.

What /pitrix/upgrade/exec_nodes.sh does, judged by each host's own exit status. GROUP is a \
group as exec_nodes.sh names it (all, phy, vm, ks, vg, a role such as proxy, a node name, or a \
comma list of them), resolved from the zone's settings files on firstbox (--firstbox, or \
--lab of a zone lab) or from a plain lab's lab.json. Instead of GROUP, --hosts-file FILE \
lists the hosts: one [USER@]HOST[:PORT] per line, '#' comments and blank lines allowed.

Options go before or after GROUP; everything after -- is the remote command. One word after \
-- is a shell command line, run as written; several words are an argument list, each word \
quoted, so none is split again or expanded on the host.

Each host is printed as it finishes: NODE (ADDRESS): ok, FAILED exit N or UNREACHABLE, then \
its output lines prefixed with NODE| (stderr NODE!|); then a summary. --json prints one \
object: {"hosts": {KEY: {"exit_status", "stdout", "stderr", "error", "node", "address"}}, \
"summary": {"ok", "failed", "unreachable"}}, KEY being the node's name or the hosts file's \
entry; "node" is null for an address no zone names.

\b
Examples (the lab ones after `nodeswap lab up`):
  nodeswap exec --lab /var/lib/nodeswap-lab/default proxy -- supervisorctl status
  nodeswap exec proxy,webservice --lab /var/lib/nodeswap-lab/default --json -- uname -n
  nodeswap exec proxy --lab /var/lib/nodeswap-lab/default \\
      -- 'grep DISTRIB_RELEASE /etc/lsb-release | cut -d= -f2'     # one word: a shell line
  nodeswap exec proxy --firstbox root@10.16.100.2 -- supervisorctl status
  nodeswap exec --hosts-file hosts.txt -i ~/.ssh/id_ed25519 --forks 20 -- uptime

Exit status: 0 every host ran COMMAND with status 0; 1 a host failed, timed out or was \
unreachable; 2 invalid input (nothing run).
"""


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
            problems.append(Problem(f"unknown node or group {name!r}", key="GROUP"))
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
        raise InputError([Problem(f"cannot read: {exc.strerror or exc}", file=str(path))]) \
            from exc
    if len(data) > HOSTS_FILE_MAX:
        raise InputError([Problem(f"larger than {HOSTS_FILE_MAX} bytes: not a hosts file",
                                  file=str(path))])  # fmt: skip
    return parse_hosts(data, str(path))


@dataclass(frozen=True)
class Job:
    group: str | None
    hosts: tuple[HostEntry, ...] | None  # from --hosts-file, instead of a group
    command: str
    forks: int = 64
    timeout: float = 600.0
    json_out: bool = False


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
        raise InputError([Problem("GROUP needs --firstbox or --lab (or use --hosts-file)",
                                  key="GROUP")])  # fmt: skip
    return targets, {t.name: t.name for t in targets}


def _lab_name(lab: dict[str, Any] | None, host: str) -> str | None:
    """The lab's name for a hosts file's host (an address or a name), None if not the lab's."""
    hosts: dict[str, Any] = (lab or {}).get("hosts", {})
    if host in hosts:
        return host
    return next((k for k, v in sorted(hosts.items()) if v.get("address") == host), None)


async def exec_async(reach: Reach, job: Job) -> int:
    """Resolve the hosts, run the job's command on them, print; returns the exit code."""
    started = time.monotonic()
    logins = {(e.text, e.host): (e.user, e.port) for e in job.hosts or ()}
    connector = SshConnector(reach.ssh, logins=logins)
    try:
        targets, nodes = await resolve(reach, job, connector)

        def show(done: HostDone) -> None:
            sys.stdout.write(host_block(replace(done, host=nodes.get(done.host) or done.host)))
            sys.stdout.flush()

        results = await run_on_hosts(targets, job.command, connector, forks=job.forks,
                                     timeout=job.timeout,
                                     on_result=None if job.json_out else show)  # fmt: skip
    finally:
        await connector.close()
    counts = summary(results)
    if job.json_out:
        body = {
            "hosts": {r.host: {"exit_status": r.exit_status, "stdout": r.stdout,
                               "stderr": r.stderr, "error": r.error,
                               "node": nodes.get(r.host), "address": r.address}
                      for r in results},
            "summary": counts,
        }  # fmt: skip
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    else:
        took = time.monotonic() - started
        sys.stdout.write(
            f"-- {len(results)} hosts in {took:.2f}s: ok {counts['ok']}, failed "
            f"{counts['failed']}, unreachable {counts['unreachable']}\n"
        )
    return EXIT_OK if counts["ok"] == len(results) else EXIT_FAILED


def remote_command(words: list[str] | None, before: list[str]) -> str:
    """The remote command from the words after ``--`` (None: there was no ``--``): one word
    is a shell command line as written; several are an argument list, each word quoted."""
    if words is None:
        got = f" (got {' '.join(before)!r}, and no --)" if before else ""
        raise InputError([Problem("the COMMAND goes after --: nodeswap exec GROUP -- COMMAND"
                                  + got, key="COMMAND")])  # fmt: skip
    if not words:
        raise InputError([Problem("no COMMAND given after --", key="COMMAND")])
    return words[0] if len(words) == 1 else cmd(*words)


def group_of(words: list[str], hosts_file: Path | None) -> str | None:
    """GROUP, the one argument before ``--`` (none with --hosts-file)."""
    if hosts_file is not None:
        if words:
            raise InputError([Problem(f"give GROUP ({' '.join(words)!r}) or --hosts-file, "
                                      "not both", key="GROUP")])  # fmt: skip
        return None
    if not words:
        raise InputError([Problem("no GROUP: name a node group (all, proxy, vm, phy, a node, "
                                  "a comma list) or give --hosts-file", key="GROUP")])
    if len(words) > 1:
        raise InputError([Problem(f"one GROUP (a comma list for several), not {words!r}: the "
                                  "COMMAND goes after --", key="GROUP")])  # fmt: skip
    return words[0]


_REMOTE = "nodeswap.exec.remote"


class _RemoteAfterDoubleDash(TyperCommand):
    """Everything after the first ``--`` is the remote command, kept as typed (in
    ``ctx.meta``); what comes before it is parsed as usual, options before or after GROUP."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[_REMOTE] = args[at + 1 :]
            args = args[:at]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS] [GROUP] -- COMMAND..."]


Opt = typer.Option


def register(app: typer.Typer) -> None:
    @app.command("exec", cls=_RemoteAfterDoubleDash, help=HELP,
                 context_settings={"allow_interspersed_args": True})  # fmt: skip
    def exec_(  # noqa: PLR0917 (typer maps parameters to options)
        ctx: typer.Context,
        group: Annotated[list[str] | None, typer.Argument(
            metavar="GROUP", show_default=False,
            help="node group (all, proxy, vm, phy, a name, a comma list); none with "
                 "--hosts-file. COMMAND: everything after --")] = None,
        firstbox: Annotated[str | None, Opt("--firstbox", help="[USER@]ADDRESS")] = None,
        lab: Annotated[Path | None, Opt("--lab", help="a lab's state folder (lab.json)")] = None,
        hosts_file: Annotated[Path | None, Opt(
            "--hosts-file", help="one [USER@]HOST[:PORT] per line; replaces GROUP")] = None,
        forks: Annotated[int, Opt("--forks", min=1, help="hosts at once")] = 64,
        user: Annotated[str | None, Opt("--user", help="login name (default root)")] = None,
        identity_file: Annotated[list[Path] | None, Opt(
            "--identity-file", "-i", help="private key (repeatable)")] = None,
        known_hosts: Annotated[Path | None, Opt(
            "--known-hosts", help="known_hosts file (host keys are always checked)")] = None,
        direct: Annotated[bool, Opt(
            "--direct", help="connect to each host directly, not via firstbox")] = False,
        jump: Annotated[str | None, Opt(
            "--jump", help="[USER@]HOST of a bastion in front of firstbox")] = None,
        timeout: Annotated[float, Opt("--timeout", help="seconds per command")] = 600.0,
        connect_timeout: Annotated[float, Opt("--connect-timeout", help="seconds")] = 10.0,
        json_out: Annotated[bool, Opt("--json", help="print one JSON object")] = False,
    ) -> None:
        before = list(group or ())
        command = remote_command(ctx.meta.get(_REMOTE), before)
        name = group_of(before, hosts_file)
        hosts = None if hosts_file is None else tuple(read_hosts_file(hosts_file))
        reach = make_reach(lab=lab, firstbox=firstbox, user=user,
                           identity_file=identity_file or [], known_hosts=known_hosts,
                           direct=direct, connect_timeout=connect_timeout,
                           jump=jump)  # fmt: skip
        job = Job(name, hosts, command, forks, timeout, json_out)
        raise typer.Exit(asyncio.run(exec_async(reach, job)))
