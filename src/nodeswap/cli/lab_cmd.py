"""`nodeswap lab up | down | status | fault | faults`: the simulated zone (thin skin over
nodeswap.lab). Every lab command takes the lab's folder as ``--lab DIR`` (``--state-dir``,
its older name, still works)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nodeswap.errors import InputError, LabError, Problem
from nodeswap.i18n import _
from nodeswap.lab import DEFAULT_STATE_DIR, README, Lab
from nodeswap.lab.api import NETS
from nodeswap.lab.faults import HELP as FAULT_HELP
from nodeswap.lab.faults import KINDS as FAULT_KINDS
from nodeswap.lab.timing import PROFILES
from nodeswap.lab.topology import checked as checked_topology

from .options import JsonOpt, LabDirOpt

Opt = typer.Option

lab_app = typer.Typer(
    help="A simulated Pitrix zone of real OpenSSH hosts on 127.0.0.0/8 (needs root). "
    "`nodeswap lab faults` lists the faults it can inject.",
    no_args_is_help=True,
)

KEY_TYPES = ("ed25519", "rsa", "ecdsa")


def _table(lab: Lab) -> Table:
    info = lab.info()
    table = Table(title=f"lab in {lab.dir}")
    for col in ("host", "address", "role", "kind", "up"):
        table.add_column(col)
    rows = sorted(info.hosts.items(), key=lambda kv: [int(x) for x in kv[1].address.split(".")])
    for key, h in rows:
        table.add_row(key, h.address, h.role, h.kind, "yes" if h.up else "no")
    return table


def _key_types(text: str | None) -> list[str] | None:
    if not text:
        return None
    kinds = [k.strip() for k in text.split(",")]
    bad = [k for k in kinds if k not in KEY_TYPES]
    if bad:
        raise InputError([Problem(_("unknown host key type {bad!r}: one of {types}").format(
            bad=bad[0], types=", ".join(KEY_TYPES)), key="--key-types")])
    return kinds


@lab_app.command("up")
def up(  # noqa: PLR0917 (typer maps parameters to options)
    topology: Annotated[str | None, Opt(
        "--topology", "-t", metavar="NAME|FILE",
        help="Topology name (default, vg-same-24, vg-other-24, installer-4.2, "
        "boss1-warehouse, sub-region) or a YAML file.")] = None,
    hosts: Annotated[int | None, Opt(
        "--hosts", "-n", metavar="N", min=1, help="Start N plain hosts (no zone).")] = None,
    lab_dir: LabDirOpt = DEFAULT_STATE_DIR,
    key_types: Annotated[str | None, Opt(
        "--key-types", metavar="TYPES", help="Host key types, comma list of ed25519, rsa, "
        "ecdsa (default: ed25519,rsa; plain labs over 64 hosts: ed25519).")] = None,
    as_json: JsonOpt = False,
    timing: Annotated[str, Opt(
        "--timing", metavar="off|realistic",
        help="off: every boot, shutdown, launch, install and apt is immediate; realistic: "
        "real-world durations scaled down 1/30 (a VM boot of ~60 s takes 2 s; "
        "lab/timing.py).")] = "off",
    net: Annotated[str, Opt(
        "--net", metavar="auto|netns|loopback",
        help="netns: a topology's hosts in their own network namespaces on 10.200.a.b with "
        "real routes, ARP, haproxy and keepalived, reached only through firstbox (ssh.jump in "
        "lab.json; docs/lab-netns.md); loopback: hosts on 127/8 addresses, the network "
        "simulated (faster; --hosts labs always); auto: netns for a topology where this "
        "machine can run it, else loopback with the reason in lab.json's net_note.")] = "auto",
) -> None:
    """Bring a lab up and print its hosts; writes DIR/lab.json."""
    if hosts is not None and topology is not None:
        raise InputError([Problem(_("give --hosts N or --topology NAME, not both"),
                                  key="--topology")])
    kinds = _key_types(key_types)
    if timing not in PROFILES:
        raise InputError([Problem(_("{timing!r} is not a timing: one of {profiles}").format(
            timing=timing, profiles=", ".join(PROFILES)),
                                  key="--timing")])
    if net not in NETS or (net == "netns" and hosts is not None):
        raise InputError([Problem(_("--net {net!r}: auto, loopback, or netns with a topology "
                                    "(--hosts labs are always loopback)").format(net=net),
                                  key="--net")])
    if hosts is None:
        checked_topology(topology or "default")
    lab = Lab.up(lab_dir, hosts=hosts, topology=None if hosts else (topology or "default"),
                 key_types=kinds, timing=timing, net=net)
    if as_json:
        typer.echo(json.dumps(lab.status(), indent=2))
        return
    Console().print(_table(lab))
    info = lab.info()
    if info.raw.get("ssh", {}).get("jump"):
        typer.echo(_("network: netns (hosts in their own network namespaces, reached through "
                     "firstbox: ssh -F {config} -J {jump} root@ADDRESS)").format(
                         config=info.raw["ssh"]["config"], jump=info.raw["ssh"]["jump"]))
    elif info.raw.get("net_note"):
        typer.echo(_("network: loopback ({why})").format(why=info.raw["net_note"]))
    typer.echo(f"lab.json: {lab.dir / 'lab.json'}")


@lab_app.command("down")
def down(lab_dir: LabDirOpt = DEFAULT_STATE_DIR, as_json: JsonOpt = False) -> None:
    """Stop exactly what the lab started, unmount what it mounted (safe to run twice)."""
    result = Lab(lab_dir).down()
    if as_json:
        typer.echo(json.dumps({"lab": str(lab_dir), **result}, default=str))
        return
    typer.echo(f"lab in {lab_dir} is down ({len(result['unmounted'])} leftover mounts "
               f"removed, {len(result['forced'])} leftover processes stopped)")


@lab_app.command("status")
def status(lab_dir: LabDirOpt = DEFAULT_STATE_DIR, as_json: JsonOpt = False) -> None:
    """Say whether the lab runs, and list its hosts (exit 1 when it does not run)."""
    lab = Lab(lab_dir)
    st = lab.status()
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    elif st["running"]:
        Console().print(_table(lab))
    if not st["running"]:
        raise LabError(_("no lab running in {dir}").format(dir=lab_dir))


@lab_app.command("fault", help=f"Inject (or --clear) a fault in a running lab.\n\n\b\n"
                 f"Kinds: nodeswap lab faults; parameters: \"Fault API\" in\n{README}")
def fault(  # noqa: PLR0917 (typer maps parameters to options)
    kind: Annotated[str, typer.Argument(
        metavar="KIND", help=" | ".join(FAULT_KINDS) + " (nodeswap lab faults: what each "
        "does and takes)")],
    host: Annotated[str | None, Opt("--host", metavar="HOST",
                                    help="Host name (or instance id).")] = None,
    command: Annotated[str | None, Opt(
        "--command", metavar="NAME", help="Command name (command-*; foreign-job: the "
        "script's name, default update.sh).")] = None,
    program: Annotated[str | None, Opt("--program", metavar="NAME",
                                       help="Supervisor program (supervisor-fatal).")] = None,
    address: Annotated[str | None, Opt("--address", metavar="ADDRESS",
                                       help="Address (address-taken).")] = None,
    clear: Annotated[bool, Opt("--clear", help="Remove the fault instead.")] = False,
    lab_dir: LabDirOpt = DEFAULT_STATE_DIR,
    as_json: JsonOpt = False,
) -> None:
    if kind not in FAULT_HELP:
        raise InputError([Problem(_("unknown fault {kind!r}: one of {fault_kinds} (nodeswap "
                                    "lab faults)").format(kind=kind,
                                    fault_kinds=", ".join(FAULT_KINDS)), key="KIND")])
    params = {k: v for k, v in (("host", host), ("command", command), ("program", program),
                                ("address", address)) if v is not None}
    lab = Lab(lab_dir)
    result = lab.clear_fault(kind, **params) if clear else lab.fault(kind, **params)
    if as_json:
        typer.echo(json.dumps(result))
        return
    done = "cleared" if clear else "injected"
    where = ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("fault", "cleared"))
    typer.echo(f"fault {kind} {done}" + (f" ({where})" if where else "") + f" in {lab_dir}")


@lab_app.command("faults")
def faults(as_json: JsonOpt = False) -> None:
    """List the faults `nodeswap lab fault KIND` injects: what each takes and does."""
    if as_json:
        typer.echo(json.dumps([{"kind": k, "params": p, "effect": e}
                               for k, (p, e) in FAULT_HELP.items()], indent=2))  # fmt: skip
        return
    for kind, (params, effect) in FAULT_HELP.items():
        typer.echo(f"{kind}  ({params})\n    {effect}")


def register(app: typer.Typer) -> None:
    """Add `nodeswap lab ...` to the app."""
    app.add_typer(lab_app, name="lab")
