"""Bytes of a fetched or given file → text, refusing what is not a text file. Pure.

Owns the input limits every check shares: empty, binary, over 10 MB or not UTF-8 text is an
``InputError`` naming the file (and line where known). Reading the bytes is the caller's job.
"""

from __future__ import annotations

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

MAX_BYTES = 10 * 1024 * 1024  # bigger than any real haproxy.cfg / rc.local by far


def too_big(size: int, file: str) -> InputError:
    """The error for a file over ``MAX_BYTES`` (callers check the size before reading)."""
    return _error(_("file is {size} bytes, over the {limit} byte limit: not a config file"
                    ).format(size=size, limit=MAX_BYTES),
                  file)


def decode(data: bytes, file: str) -> str:
    """The text of ``data``, or an ``InputError`` saying why it is not a text file."""
    if len(data) > MAX_BYTES:
        raise too_big(len(data), file)
    if not data.strip():
        raise _error(_("file is empty"), file)
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise _error(_("binary file (contains NUL bytes), not a text file"), file, line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _error(
            _("not UTF-8 text (byte {byte:#04x} at offset {offset})").format(
                byte=data[exc.start], offset=exc.start), file, line
        ) from exc
    bad = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f\v")
    if bad * 20 > len(text):
        raise _error(_("binary file ({bad} control characters)").format(bad=bad), file)
    return text


def _error(message: str, file: str, line: int | None = None) -> InputError:
    return InputError([Problem(message, file, line)])
