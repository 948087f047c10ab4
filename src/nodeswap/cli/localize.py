"""The CLI in the operator's language (nodeswap.i18n): every command's help (its docstring),
every option's help, and typer's own words around them (``Options``, ``default: …``). The
help texts are written in English in the command modules; once the app is built (click
commands), ``localize`` replaces each with its translation from the catalog. The catalog
check (tests/unit/test_i18n_catalog.py) collects the same texts from the built app, so a new
option without its Chinese help fails that test.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.core
from typer import _click as click
from typer._click import _textwrap

from nodeswap.i18n import N_, _, language

PACKAGE = str(Path(__file__).resolve().parents[1])  # the installed nodeswap package

# typer's own messages (typer.core reads them through gettext's default domain)
TYPER_MESSAGES = (
    N_("Arguments"), N_("Options"), N_("Commands"), N_("default: {default}"), N_("required"),
    N_("env var: {var}"), N_("(dynamic)"), N_("Aborted!"), N_("Missing command."),
    N_("No such command {name!r}."), N_("Show this message and exit."),
)


def _key(text: str) -> str:
    """The catalog's form of a help text: the installed package's folder (where plan's help
    finds the examples, lab fault's the lab README) written as ``<nodeswap>``."""
    return text.replace(PACKAGE, "<nodeswap>")


def _tr(text: str) -> str:
    return _(_key(text)).replace("<nodeswap>", PACKAGE)


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


# a chunk of Chinese text: each CJK character (or full-width sign) may end a line, except
# before a closing sign, which stays with the character before it, and after an opening one
_CJK_CHUNKS = re.compile(r"(\s+|[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef])")
_CLOSING = set("，。；：、！？）」』》”’")  # noqa: RUF001 (Chinese punctuation)
_OPENING = set("（「『《“‘")  # noqa: RUF001 (and an opening sign stays with the next one)


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class CjkWrapper(_textwrap.TextWrapper):
    """click's wrapper for text without spaces between words: it may break between two
    Chinese characters, and counts their width in columns (click counts characters)."""

    def _split(self, text: str) -> list[str]:
        parts = [c for c in _CJK_CHUNKS.split(text) if c]
        chunks: list[str] = []
        for i, chunk in enumerate(parts):
            if not chunk.strip() and 0 < i < len(parts) - 1 \
                    and width(parts[i - 1][-1]) == width(parts[i + 1][0]) == 2:
                continue  # a line break of the source between two Chinese characters
            if chunks and (chunk in _CLOSING or chunks[-1][-1] in _OPENING):
                chunks[-1] += chunk
            else:
                chunks.append(chunk)
        return chunks

    def _wrap_chunks(self, chunks: list[str]) -> list[str]:
        lines: list[str] = []
        chunks.reverse()
        while chunks:
            indent = self.subsequent_indent if lines else self.initial_indent
            room = self.width - width(indent)
            if lines and not chunks[-1].strip():
                chunks.pop()  # no line starts with the space it was broken at
            line: list[str] = []
            used = 0
            while chunks and used + width(chunks[-1]) <= room:
                used += width(chunks[-1])
                line.append(chunks.pop())
            if not line and chunks:  # one word wider than the line: it gets a line
                line.append(chunks.pop())
            while line and not line[-1].strip():
                line.pop()
            if line:
                lines.append(indent + "".join(line))
        return lines


def localize(command: click.core.Command) -> click.core.Command:
    """``command`` (the built app) with its help in the language in effect; English: as is."""
    if language() == "en":
        return command
    typer.core._ = _  # type: ignore[attr-defined]
    _textwrap.TextWrapper = CjkWrapper  # type: ignore[misc]  # wrap_text imports it per call
    click.core.Command.get_help_option = _help_option  # type: ignore[method-assign]
    _translate(command)
    return command
