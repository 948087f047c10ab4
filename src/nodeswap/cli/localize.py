"""The CLI in the operator's language (nodeswap.i18n): every command's help (its docstring),
every option's help, and typer's own words around them (``Options``, ``default: …``). The
help texts are written in English in the command modules; once the app is built (click
commands), ``localize`` replaces each with its translation from the catalog. The catalog
check (tests/unit/test_i18n_catalog.py) collects the same texts from the built app, so a new
option without its Chinese help fails that test.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import typer.core
from typer import _click as click

from nodeswap.i18n import N_, _, language

# typer's own messages (typer.core reads them through gettext's default domain)
TYPER_MESSAGES = (
    N_("Arguments"), N_("Options"), N_("Commands"), N_("default: {default}"), N_("required"),
    N_("env var: {var}"), N_("(dynamic)"), N_("Aborted!"), N_("Missing command."),
    N_("No such command {name!r}."), N_("Show this message and exit."),
)


@cache
def _package() -> str:
    """The installed nodeswap package's folder."""
    return str(Path(__file__).resolve().parents[1])


def _key(text: str) -> str:
    """The catalog's form of a help text: the installed package's folder (where plan's help
    finds the examples, lab fault's the lab README) written as ``<nodeswap>``."""
    return text.replace(_package(), "<nodeswap>")


def _tr(text: str) -> str:
    return _(_key(text)).replace("<nodeswap>", _package())


def help_texts(command: click.core.Command) -> Iterator[str]:
    """Every help text of ``command`` and its subcommands, in the catalog's form."""
    for text in (command.help, command.short_help):
        if text:
            yield _key(text)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            yield _key(text)
    for sub in getattr(command, "commands", {}).values():  # a group's
        yield from help_texts(sub)


def _translate(command: click.core.Command) -> None:
    if command.help:
        command.help = _tr(command.help)
    if command.short_help:
        command.short_help = _tr(command.short_help)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            param.help = _tr(text)  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        _translate(sub)


def _help_option(self: click.core.Command, ctx: click.core.Context) -> Any:
    option = _ORIGINAL_HELP_OPTION(self, ctx)
    if option is not None and getattr(option, "help", None):
        option.help = _(str(option.help))
    return option


_ORIGINAL_HELP_OPTION = click.core.Command.get_help_option


def localize(command: click.core.Command) -> click.core.Command:
    """``command`` (the built app) with its help in the language in effect; English: as is."""
    if language() == "en":
        return command
    typer.core._ = _  # type: ignore[attr-defined]
    from typer._click import _textwrap  # noqa: PLC0415 (Chinese only: start-up)

    from .cjkwrap import CjkWrapper  # noqa: PLC0415

    _textwrap.TextWrapper = CjkWrapper  # type: ignore[misc]  # wrap_text imports it per call
    click.core.Command.get_help_option = _help_option  # type: ignore[method-assign]
    _translate(command)
    return command
