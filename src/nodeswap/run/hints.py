"""The `next:` lines nodeswap prints: complete commands that paste as they are. Pure.

A hint repeats the options of the invocation that printed it (``--lab``, ``--state-dir``,
``--firstbox``, made absolute so they work from any folder), so the operator never has to
remember where the journal is. Each hint is one line: words quoted only where the shell needs
it (``shlex.quote``), never wrapped by a renderer (views print them as they are).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

PREFIX = "next: "


@dataclass(frozen=True)
class Hints:
    """How to write a command that finds the same journal: the options that locate it."""

    options: tuple[str, ...] = ()

    @classmethod
    def of(cls, *, lab: Path | None = None, state_dir: Path | None = None,
           firstbox: str | None = None) -> Hints:  # fmt: skip
        opts: list[str] = []
        if lab is not None:
            opts += ["--lab", str(lab.absolute())]
        if state_dir is not None:
            opts += ["--state-dir", str(state_dir.absolute())]
        if firstbox is not None:
            opts += ["--firstbox", firstbox]
        return cls(tuple(opts))

    def command(self, verb: str, *args: str) -> str:
        """``nodeswap VERB ARGS... OPTIONS`` with every word quoted where the shell needs it.
        ``args`` holds the run id and the verb's own flags (e.g. ``--approve GATE``)."""
        words = ["nodeswap", *verb.split(), *args, *self.options]
        return " ".join(shlex.quote(w) for w in words)

    def next(self, verb: str, *args: str) -> str:
        """One ``next:`` line (no newline)."""
        return PREFIX + self.command(verb, *args)


def commands_in(text: str) -> list[str]:
    """The commands of every ``next:`` line in ``text`` (what an operator would paste)."""
    return [ln.strip()[len(PREFIX):] for ln in text.splitlines()
            if ln.strip().startswith(PREFIX)]  # fmt: skip
