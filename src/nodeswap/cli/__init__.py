"""The `nodeswap` command: a thin skin. Parse arguments, call one library function, render.

Each command group lives in its own module with a ``register(app)`` function, so the
commands grow independently. Errors are caught only here, at the edge, and mapped to the
exit codes listed in nodeswap.errors.
"""

from __future__ import annotations

import sys

import typer

from nodeswap import __version__
from nodeswap.errors import EXIT_INTERRUPTED, InputError, NodeswapError

from . import (
    demo_cmd,
    diff_cmd,
    discover_cmd,
    exec_cmd,
    lab_cmd,
    plan_cmd,
    report_cmd,
    run_cmd,
)

app = typer.Typer(
    name="nodeswap",
    help=(
        "Upgrade a Pitrix zone's management VMs (first the proxy nodes) by replacement: "
        "new VMs beside the old ones, checked against them, switched over node by node, "
        "old VMs archived only when all is well. Rules are cited as R0-R37 of the runbook.\n\n"
        "Exit codes: 0 ok; 1 a step, host or check failed; 2 invalid input (nothing changed); "
        "3 stopped at a gate; 4 zone locked by another run; 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: paragraphs re-wrapped, \b blocks kept verbatim
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nodeswap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """nodeswap."""


for _module in (discover_cmd, plan_cmd, run_cmd, report_cmd, exec_cmd, diff_cmd, lab_cmd,
                demo_cmd):
    _module.register(app)


def main() -> None:
    """Console entry point: run the app, turning nodeswap errors into messages and exit codes."""
    try:
        # non-standalone click returns a typer.Exit's code instead of raising it
        code = app(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except NodeswapError as exc:
        label = "invalid input" if isinstance(exc, InputError) else "error"
        print(f"nodeswap: {label}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("nodeswap: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("nodeswap: aborted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        from typer import _click as click  # noqa: PLC0415 (typer vendors click; no package)

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
