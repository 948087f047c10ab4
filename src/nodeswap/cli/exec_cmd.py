"""`nodeswap exec GROUP -- COMMAND`: a command on a node group, in parallel, structured.

The successor of /pitrix/upgrade/exec_nodes.sh: groups as it names them (all, a role, vm,
phy, a node name, a comma list), resolved from the zone's settings files on firstbox
(nodeswap.inventory), or from a lab's lab.json for a plain-hosts lab; every host at once
(bounded by --forks), each host printed as it finishes, then a summary. Exit 0 only if every
host ran the command with status 0. Also holds the connection options shared with `apply`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from nodeswap.errors import EXIT_FAILED, EXIT_OK, InputError, Problem, TransportError
from nodeswap.events import HostDone, host_block
from nodeswap.model import Target
from nodeswap.reach import Reach, make_reach
from nodeswap.shell import cmd
from nodeswap.transport.fanout import run_on_hosts, summary
from nodeswap.transport.ssh import SshConnector

SETTINGS_DIR = "/pitrix/conf/settings"


async def read_settings(connector: SshConnector, fb: Target) -> dict[str, str]:
    """Every settings file on firstbox, by name, in one command (NUL separated)."""
    t = await connector.transport(fb)
    script = (
        f"cd {cmd(SETTINGS_DIR)} && for f in *; do [ -f \"$f\" ] || continue; "
        "printf '%s\\0' \"$f\"; cat -- \"$f\"; printf '\\0'; done"
    )
    res = await t.run(script, timeout=60.0)
    if res.exit_status != 0:
        raise TransportError(f"{fb.name}: cannot read {SETTINGS_DIR}: {res.tail(5)}")
    parts = res.stdout.split("\0")
    return {parts[i]: parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def resolve_from_settings(files: dict[str, str], group: str, direct: bool) -> list[Target]:
    from nodeswap.inventory import InstallerVersion, Zone, ZoneFacts  # noqa: PLC0415
    from nodeswap.settings import SettingsFile  # noqa: PLC0415

    parsed = {n: SettingsFile.from_text(text, f"{SETTINGS_DIR}/{n}") for n, text in files.items()}
    zone = Zone.build(parsed, ZoneFacts(InstallerVersion.parse("0")))
    names = zone.resolve_targets(group)
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


def read_hosts_file(path: Path) -> list[Target]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError([Problem(f"cannot read: {exc}", file=str(path))]) from exc
    addrs = [ln.split("#")[0].strip() for ln in lines]
    return [Target(a, a, a, via_firstbox=False) for a in dict.fromkeys(a for a in addrs if a)]


@dataclass(frozen=True)
class Job:
    group: str | None
    hosts_file: Path | None
    command: str
    forks: int = 64
    timeout: float = 600.0
    json_out: bool = False


async def exec_async(reach: Reach, job: Job) -> int:
    """Resolve the hosts, run the job's command on them, print; returns the exit code."""
    group, hosts_file, json_out = job.group, job.hosts_file, job.json_out
    started = time.monotonic()
    connector = SshConnector(reach.ssh)
    try:
        if hosts_file is not None:
            targets = read_hosts_file(hosts_file)
            if reach.ssh.jump is not None:
                targets = [Target(t.name, t.address, t.key_id) for t in targets]
        elif reach.lab is not None and not reach.lab.get("firstbox"):
            targets = resolve_from_lab(reach.lab, group or "")
        elif reach.firstbox is not None:
            files = await read_settings(connector, reach.firstbox)
            targets = resolve_from_settings(files, group or "", reach.ssh.jump is None)
        else:
            raise InputError([Problem("GROUP needs --firstbox or --lab (or use --hosts-file)",
                                      key="GROUP")])  # fmt: skip
        show = None if json_out else _print_host
        results = await run_on_hosts(targets, job.command, connector, forks=job.forks,
                                     timeout=job.timeout, on_result=show)  # fmt: skip
    finally:
        await connector.close()
    counts = summary(results)
    if json_out:
        body = {
            "hosts": {r.host: {"exit_status": r.exit_status, "stdout": r.stdout,
                               "stderr": r.stderr, "error": r.error} for r in results},
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


def _print_host(done: HostDone) -> None:
    sys.stdout.write(host_block(done))
    sys.stdout.flush()


Opt = typer.Option


def register(app: typer.Typer) -> None:
    @app.command("exec", context_settings={"allow_interspersed_args": False})
    def exec_(  # noqa: PLR0917 (typer maps parameters to options)
        args: Annotated[list[str], typer.Argument(
            metavar="GROUP -- COMMAND...",
            help="node group (all, proxy, vm, phy, a name, a comma list), then the command;"
                 " no GROUP with --hosts-file")],
        firstbox: Annotated[str | None, Opt("--firstbox", help="[USER@]ADDRESS")] = None,
        lab: Annotated[Path | None, Opt("--lab", help="a lab's state folder (lab.json)")] = None,
        hosts_file: Annotated[Path | None, Opt(
            "--hosts-file", help="one address per line; replaces GROUP")] = None,
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
        """Run COMMAND on a node group in parallel; exit 0 only if every host exited 0."""
        words = list(args)
        group = None
        if hosts_file is None:
            if len(words) < 2:
                raise InputError([Problem("usage: nodeswap exec GROUP -- COMMAND", key="GROUP")])
            group = words.pop(0)
        if words and words[0] == "--":
            words.pop(0)
        if not words:
            raise InputError([Problem("no COMMAND given (after --)", key="COMMAND")])
        reach = make_reach(lab=lab, firstbox=firstbox, user=user,
                           identity_file=identity_file or [], known_hosts=known_hosts,
                           direct=direct, connect_timeout=connect_timeout,
                           jump=jump)  # fmt: skip
        job = Job(group, hosts_file, " ".join(words), forks, timeout, json_out)
        raise typer.Exit(asyncio.run(exec_async(reach, job)))
