"""`nodeswap lab up | down | status | fault`: the simulated zone (thin skin over nodeswap.lab)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from nodeswap.errors import InputError, LabError
from nodeswap.lab import DEFAULT_STATE_DIR, README, Lab
from nodeswap.lab.faults import KINDS as FAULT_KINDS

from .options import JsonOpt

lab_app = typer.Typer(
    help="A simulated Pitrix zone of real OpenSSH hosts on 127.0.0.0/8 (needs root).",
    no_args_is_help=True,
)

STATE_DIR = typer.Option(DEFAULT_STATE_DIR, "--state-dir", help="The lab's state folder "
                         "(not under /tmp: sshd refuses chroots below world-writable folders).")


def _table(lab: Lab) -> Table:
    info = lab.info()
    table = Table(title=f"lab in {lab.dir}")
    for col in ("host", "address", "role", "kind", "up"):
        table.add_column(col)
    rows = sorted(info.hosts.items(), key=lambda kv: [int(x) for x in kv[1].address.split(".")])
    for key, h in rows:
        table.add_row(key, h.address, h.role, h.kind, "yes" if h.up else "no")
    return table


@lab_app.command("up")
def up(
    topology: str = typer.Option(None, "--topology", "-t",
                                 help="Topology name (default, vg-same-24, ...) or YAML file."),
    hosts: int = typer.Option(None, "--hosts", "-n", help="Start N plain hosts (no zone)."),
    state_dir: Path = STATE_DIR,
    key_types: str = typer.Option(None, "--key-types",
                                  help="Host key types, e.g. ed25519,rsa (default: both; "
                                  "plain labs over 64 hosts: ed25519)."),
) -> None:
    """Bring a lab up and print its hosts; writes STATE_DIR/lab.json."""
    if hosts is not None and topology is not None:
        raise InputError("give --hosts N or --topology NAME, not both")
    kinds = key_types.split(",") if key_types else None
    lab = Lab.up(state_dir, hosts=hosts, topology=None if hosts else (topology or "default"),
                 key_types=kinds)
    Console().print(_table(lab))
    typer.echo(f"lab.json: {lab.dir / 'lab.json'}")


@lab_app.command("down")
def down(state_dir: Path = STATE_DIR) -> None:
    """Stop exactly what the lab started, unmount what it mounted (safe to run twice)."""
    result = Lab(state_dir).down()
    typer.echo(f"lab in {state_dir} is down ({len(result['unmounted'])} leftover mounts "
               f"removed, {len(result['forced'])} leftover processes stopped)")


@lab_app.command("status")
def status(state_dir: Path = STATE_DIR, as_json: JsonOpt = False) -> None:
    """Say whether the lab runs, and list its hosts."""
    lab = Lab(state_dir)
    st = lab.status()
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    elif st["running"]:
        Console().print(_table(lab))
    if not st["running"]:
        raise LabError(f"no lab running in {state_dir}")


@lab_app.command("fault", help=f'Inject (or --clear) a fault.\n\n\b\nKinds and parameters: '
                 f'"Fault API" in\n{README}')
def fault(  # noqa: PLR0917 (typer maps parameters to options)
    kind: str = typer.Argument(..., help=" | ".join(FAULT_KINDS)),
    host: str = typer.Option(None, "--host", help="Host name (or instance id)."),
    command: str = typer.Option(None, "--command", help="Command name (command-*; "
                                "foreign-job: the script's name, default update.sh)."),
    program: str = typer.Option(None, "--program", help="Supervisor program (supervisor-fatal)."),
    address: str = typer.Option(None, "--address", help="Address (address-taken)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the fault instead."),
    state_dir: Path = STATE_DIR,
) -> None:
    params = {k: v for k, v in (("host", host), ("command", command), ("program", program),
                                ("address", address)) if v is not None}
    lab = Lab(state_dir)
    result = lab.clear_fault(kind, **params) if clear else lab.fault(kind, **params)
    typer.echo(json.dumps(result))


def register(app: typer.Typer) -> None:
    """Add `nodeswap lab ...` to the app."""
    app.add_typer(lab_app, name="lab")
