"""Secrets: a masked value type and the redaction applied to every output that is kept.

Pure (no I/O). A ``Secret`` prints as ``***``; its value is reached only through ``reveal()``.
A ``Redactor`` replaces known secret values and obvious ``password=...`` style assignments
in text before it reaches the journal, the events or the screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MASK = "***"

# key=value / key: value / --key value for keys that name a secret.
_SECRET_KEYS = r"(?:pass(?:word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"  # noqa: S105
_PATTERNS = (
    re.compile(
        rf"(?i)(\b[\w.-]*{_SECRET_KEYS}[\w.-]*\s*[=:]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;&]+)"
    ),
    re.compile(rf"(?i)(--?[\w-]*{_SECRET_KEYS}[\w-]*[ =])(\S+)"),
    re.compile(
        r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(?=-----END [A-Z ]*PRIVATE KEY-----)"
    ),
)


@dataclass(frozen=True)
class Secret:
    """A secret value: never shown by str/repr/format."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return MASK


@dataclass(frozen=True)
class Redactor:
    """Masks known secret values (longest first) and secret-looking assignments."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[Secret | str]) -> Redactor:
        vals = {s.reveal() if isinstance(s, Secret) else s for s in secrets}
        return cls(tuple(sorted((v for v in vals if len(v) >= 3), key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for v in self.values:
            text = text.replace(v, MASK)
        for pat in _PATTERNS:
            text = pat.sub(lambda m: m.group(1) + MASK, text)
        return text


_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END [A-Z ]*PRIVATE KEY-----")


class LineRedactor:
    """Streaming redaction, line by line, whatever the chunking: a secret split across two
    chunks is still found, and the body of a private key block is masked across lines.
    ``feed`` returns the redacted complete lines; ``flush`` the rest."""

    def __init__(self, redactor: Redactor) -> None:
        self._redact = redactor
        self._pending = ""
        self._in_key = False

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        cut = text.rfind("\n") + 1
        self._pending = text[cut:]
        if len(self._pending) > 64 * 1024:  # a huge line without newline: do not hold it all
            cut, self._pending = len(text), ""
        return "".join(self._line(ln) for ln in text[:cut].splitlines(keepends=True))

    def _line(self, line: str) -> str:
        if self._in_key:
            if _KEY_END.search(line):
                self._in_key = False
                return line[line.index("-----END") :]
            return MASK + "\n" if line.endswith("\n") else MASK
        if _KEY_BEGIN.search(line) and not _KEY_END.search(line):
            self._in_key = True
        return self._redact(line)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._line(rest) if rest else ""
