"""How `--help` names values: the metavar as written (``RUN``, ``FILE``, ``N``, ``SECONDS``),
never typer's type labels (``<int range>``, ``<list[Path]>``) or its usage braces
(``{PLAN.json}``, ``[[RUN]]``). Typer has no setting for this, so its two parameter classes
get these methods once, when the CLI is imported; an option declared without a metavar is
shown by its type in words (``N``, ``NUMBER``, ``PATH``, ``TEXT``), a test keeps every help
free of the old labels (tests/test_cli_conventions.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer import _click as click
from typer.core import TyperArgument, TyperOption

_WORDS = {int: "N", float: "NUMBER", Path: "PATH", str: "TEXT", bool: "BOOLEAN"}


def _type_word(param: Any) -> str:
    annotation = param.type_descriptor.annotation
    origin = getattr(annotation, "__args__", None)
    if origin and getattr(annotation, "__origin__", None) is list:
        annotation = origin[0]
    return _WORDS.get(annotation, "VALUE")


def _argument_usage(self: TyperArgument) -> str:
    name = self.metavar or (self.name or "arg").upper()
    if not self.required and not name.startswith("["):
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


def _argument_type(self: TyperArgument, ctx: click.Context) -> str | None:
    return None  # the argument's name (its metavar) says it


def _option_type(self: TyperOption, ctx: click.Context) -> str | None:
    if self.metavar is not None:
        return str(self.metavar)
    word = _type_word(self)
    return word + ("..." if self.nargs != 1 else "")


def install() -> None:
    """Give typer's parameter classes the human names (idempotent)."""
    TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
    TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
