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
import os
import signal
import sys

import typer

import nodeswap
from nodeswap import config, i18n
from nodeswap.errors import (
    EXIT_INTERRUPTED,
    InputError,
    Interrupted,
    NodeswapError,
    Problem,
    StoppedAtGate,
)
from nodeswap.i18n import _
from nodeswap.run import interrupt

from . import helpfmt
from .localize import localize
from .options import lang_option, output_synonym

helpfmt.install()

# command -> the module that registers it, in the order `nodeswap --help` lists them
COMMANDS = {
    "discover": "discover_cmd", "plan": "plan_cmd", "apply": "run_cmd", "resume": "run_cmd",
    "rollback": "run_cmd", "status": "run_cmd", "show": "show_cmd", "report": "report_cmd",
    "exec": "exec_cmd", "diff": "diff_cmd", "lab": "lab_cmd", "demo": "demo_cmd",
    "trust": "trust_cmd", "version": "version_cmd",
}

ROOT_HELP = (
    "Upgrade a Pitrix zone's management VMs (first the proxy nodes) by replacement: "
    "new VMs beside the old ones, checked against them, switched over node by node, "
    "old VMs archived only when all is well. Rules are cited as R0-R37 of the runbook.\n\n"
    "Exit codes: 0 ok; 1 a step, host or check failed; 2 invalid input (nothing changed); "
    "3 stopped at a gate; 4 zone locked by another run; 130 interrupted (Ctrl-C, SIGINT); "
    "143 terminated (SIGTERM). An interrupted run is recorded: `nodeswap resume RUN`.\n\n"
    "Defaults, lowest first (the last one given wins): /etc/nodeswap/config.yaml, then "
    "~/.config/nodeswap/config.yaml (keys firstbox, user, identity, known_hosts, "
    "state_dir, language), then the environment (NODESWAP_FIRSTBOX, NODESWAP_USER, "
    "NODESWAP_IDENTITY, NODESWAP_KNOWN_HOSTS, NODESWAP_STATE_DIR, NODESWAP_LANG), then "
    "the command line. --lab ignores a configured firstbox and login. "
    "NODESWAP_CONFIG=FILE reads only FILE; NODESWAP_CONFIG=none reads no file.\n\n"
    "Output: text for people; --json (or -o json) for scripts; errors as text on stderr. "
    "Shell completion: nodeswap --install-completion."
)

app = typer.Typer(
    name="nodeswap",
    help=ROOT_HELP,
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: paragraphs re-wrapped, \b blocks kept verbatim
)


def version_text() -> str:
    """What `nodeswap --version` and `nodeswap version` print."""
    return f"nodeswap {nodeswap.version()}"  # pyproject, via metadata


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True,
        help="Print the version and exit."),
    lang: str | None = typer.Option(  # taken out of the command line first (lang_option)
        None, "--lang", metavar="en|zh",
        help="Language of messages, help, gate prompts and the report: en (default) or "
             "zh (Chinese). Also after any command (nodeswap plan --lang zh ...); else "
             "NODESWAP_LANG, the config's language, then LANGUAGE, LC_ALL, LC_MESSAGES, "
             "LANG (zh_CN.UTF-8 is Chinese)."),
) -> None:
    """nodeswap."""


def configured_defaults() -> dict[str, dict[str, str | list[str]]]:
    """The config files' values as every command's option defaults (click's default_map:
    below NODESWAP_* variables and the command line); state_dir and language become
    NODESWAP_STATE_DIR and NODESWAP_LANG when those are not set (nodeswap.config)."""
    cfg = config.load()
    os.environ.update(config.environment_defaults(cfg, os.environ))
    defaults = config.option_defaults(cfg)
    # not "version": the root's own --version would read that entry as its default
    return {name: dict(defaults) for name in COMMANDS if name != "version"}


def choose_language(flag: str | None) -> None:
    """The language: --lang, else NODESWAP_LANG (or the config's language), else the locale
    variables (nodeswap.i18n); a value not en or zh is an input error (exit 2)."""
    given, source = (flag, "--lang") if flag else (os.environ.get("NODESWAP_LANG"),
                                                   "NODESWAP_LANG")
    try:
        i18n.set_language(given.strip() if given and given.strip() else None)
    except ValueError:
        raise InputError([Problem(_("one of {choices}, not {value}").format(
            choices="en, zh", value=repr(given)), key=source)]) from None


def register(argv: list[str]) -> None:
    """Register the module of the command in ``argv`` (every module when none is named)."""
    asked = next((a for a in argv if not a.startswith("-")), None)
    wanted = [COMMANDS[asked]] if asked in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(app)


HELP_ONLY = frozenset({"-h", "--help", "-V", "--version", "version"})


def defaults_for(args: list[str]) -> dict[str, dict[str, str | list[str]]]:
    """The configured defaults; when the config is broken (exit 2, naming file and line), help
    and the version are still shown, with the problem as a warning: the operator reads how
    to fix it."""
    try:
        return configured_defaults()
    except InputError as exc:
        if args and not HELP_ONLY & set(args[:args.index("--")] if "--" in args else args):
            raise
        print(f"nodeswap: {_('warning')}: {exc}", file=sys.stderr)
        return {}


def main() -> None:
    """Console entry point: run the app, turning nodeswap errors into messages and exit codes.
    SIGINT and SIGTERM are handled explicitly, even when inherited as ignored
    (nodeswap.run.interrupt):
    a run records where it stopped and exits 130 (SIGINT) or 143 (SIGTERM)."""
    interrupt.install()
    try:
        lang, args = lang_option(output_synonym(sys.argv[1:]))
        defaults = defaults_for(args)  # may set NODESWAP_LANG from the config's language
        choose_language(lang)
        register(args)
        # non-standalone click returns a typer.Exit's code instead of raising it
        command = localize(typer.main.get_command(app))
        code = command.main(args=args, prog_name="nodeswap", standalone_mode=False,
                            default_map=defaults)
        if code == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into this code, silently
            raise KeyboardInterrupt
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except Interrupted as exc:
        print(f"nodeswap: {_('interrupted')}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except NodeswapError as exc:
        label = (_("invalid input") if isinstance(exc, InputError)
                 else _("stopped") if isinstance(exc, StoppedAtGate) else _("error"))  # fmt: skip
        print(f"nodeswap: {label}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        signum = interrupt.received()
        print("nodeswap: " + _("interrupted by {signal}").format(
            signal=interrupt.describe(signum or signal.SIGINT)), file=sys.stderr)
        sys.exit(interrupt.exit_code(signum))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:  # a prompt got Ctrl-C (or SIGTERM) or end of input
        print("nodeswap: " + _("aborted"), file=sys.stderr)
        sys.exit(interrupt.exit_code(interrupt.received()))
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        from typer import _click as click  # noqa: PLC0415 (typer vendors click; no package)

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
