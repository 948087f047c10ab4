"""The one command builder: every value that reaches a shell is quoted here. Pure.

Call sites pass argument lists; nothing else in nodeswap concatenates shell text from values.
"""

from __future__ import annotations

import shlex


def cmd(*args: str) -> str:
    """One command line from its arguments, each quoted for POSIX sh/bash."""
    return " ".join(shlex.quote(a) for a in args)


def chain(*commands: str) -> str:
    """Commands run in order, stopping at the first failure (``a && b``)."""
    return " && ".join(c for c in commands if c)


def write_file_atomic(path: str, mode: int = 0o644) -> str:
    """A command that writes its stdin to ``path`` atomically (temp file + rename).

    The file's content is the step's ``stdin``, so the plan holds the full text.
    """
    tmp = f"{path}.nodeswap-tmp"
    return chain(
        cmd("cat") + " > " + shlex.quote(tmp),
        cmd("chmod", f"{mode:o}", tmp),
        cmd("mv", "-f", tmp, path),
    )
