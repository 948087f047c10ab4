"""The `nodeswap` command: a thin skin. Parse arguments, call one library function, render.

Each command group lives in its own module with a ``register(app)`` function, so the
commands grow independently; what they share is declared once in ``options`` (the
connection, state-folder and output options) and ``render`` (the views), and no command
module imports another (tests/unit/test_thin_cli.py). Only the module of the command asked
for is imported (all of them for the top-level help): `nodeswap exec` on hundreds of hosts
should not pay for the planner, the lab and the report at start-up. Errors are caught only
here, at the edge, and mapped to the exit codes listed in nodeswap.errors.
"""

from __future__ import annotations

import importlib
import signal
import sys

import typer

import nodeswap
from nodeswap.errors import (
    EXIT_INTERRUPTED,
    InputError,
    Interrupted,
    NodeswapError,
    StoppedAtGate,
)
from nodeswap.run import interrupt

# command -> the module that registers it, in the order `nodeswap --help` lists them
COMMANDS = {
    "discover": "discover_cmd", "plan": "plan_cmd", "apply": "run_cmd", "resume": "run_cmd",
    "rollback": "run_cmd", "status": "run_cmd", "show": "show_cmd", "report": "report_cmd",
    "exec": "exec_cmd", "diff": "diff_cmd", "lab": "lab_cmd", "demo": "demo_cmd",
    "trust": "trust_cmd",
}

app = typer.Typer(
    name="nodeswap",
    help=(
        "Upgrade a Pitrix zone's management VMs (first the proxy nodes) by replacement: "
        "new VMs beside the old ones, checked against them, switched over node by node, "
        "old VMs archived only when all is well. Rules are cited as R0-R37 of the runbook.\n\n"
        "Exit codes: 0 ok; 1 a step, host or check failed; 2 invalid input (nothing changed); "
        "3 stopped at a gate; 4 zone locked by another run; 130 interrupted (Ctrl-C, SIGINT); "
        "143 terminated (SIGTERM). An interrupted run is recorded: `nodeswap resume RUN`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: paragraphs re-wrapped, \b blocks kept verbatim
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nodeswap {nodeswap.version()}")  # pyproject, via metadata
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """nodeswap."""


def register(argv: list[str]) -> None:
    """Register the module of the command in ``argv`` (every module when none is named)."""
    asked = next((a for a in argv if not a.startswith("-")), None)
    wanted = [COMMANDS[asked]] if asked in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(app)


def main() -> None:
    """Console entry point: run the app, turning nodeswap errors into messages and exit codes.
    SIGINT and SIGTERM are handled explicitly, even when inherited as ignored
    (nodeswap.run.interrupt):
    a run records where it stopped and exits 130 (SIGINT) or 143 (SIGTERM)."""
    interrupt.install()
    register(sys.argv[1:])
    try:
        # non-standalone click returns a typer.Exit's code instead of raising it
        code = app(standalone_mode=False)
        if code == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into this code, silently
            raise KeyboardInterrupt
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except Interrupted as exc:
        print(f"nodeswap: interrupted: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except NodeswapError as exc:
        label = ("invalid input" if isinstance(exc, InputError)
                 else "stopped" if isinstance(exc, StoppedAtGate) else "error")  # fmt: skip
        print(f"nodeswap: {label}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        signum = interrupt.received()
        print(f"nodeswap: interrupted by {interrupt.describe(signum or signal.SIGINT)}",
              file=sys.stderr)
        sys.exit(interrupt.exit_code(signum))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:  # a prompt got Ctrl-C (or SIGTERM) or end of input
        print("nodeswap: aborted", file=sys.stderr)
        sys.exit(interrupt.exit_code(interrupt.received()))
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        from typer import _click as click  # noqa: PLC0415 (typer vendors click; no package)

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
