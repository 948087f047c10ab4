"""Pitrix settings files (`/pitrix/conf/settings/<host>`): read as bash would, edit in place.

Owns the file model: its logical lines in order, each key's effective value, sections, editing
values in place (same line, same quoting style when it can hold the value), appending keys,
dropping a ``## Section`` (R12), and rendering byte for byte. Pure: no I/O. What bash accepts
in a line and how it reads a value (and how to write one it reads back) is settings_syntax.py,
whose docstring lists the accepted and rejected forms.

Writing: ``set`` edits the effective assignment in place and keeps its quoting style when that
style can hold the value, else writes the double-quoted form; an absent key goes after the
last non-blank line of the first section with that title (or at the end of the file).
``drop_section`` drops every section with the title. Values with NUL or lone surrogates cannot
be written. Every edit is parsed again and each value read back; a mismatch is a BugError,
never a silently wrong file.

The last assignment of a key wins, as in bash. ``line_of`` gives the first physical line of the
effective assignment (a multi-line value spans several lines).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from nodeswap.errors import BugError, Problem, SettingsError
from nodeswap.i18n import _
from nodeswap.zone.settings_syntax import Line, edit_problems, in_style, lex_file, quote_value

__all__ = ["Assignment", "SettingsFile", "decode"]


class Assignment(NamedTuple):
    """One ``key=value`` line as read: the value bash assigns, where, over how many lines."""

    key: str
    value: str
    line: int  # 1-based first physical line
    lines: int  # physical lines the assignment spans (more than 1: a multi-line value)


def decode(data: bytes, path: str = "<settings>") -> str:
    """A settings file's bytes as text: UTF-8 only; the offending line named, not shown."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SettingsError([Problem(
            _("not UTF-8 text: byte 0x{byte:02x} cannot be decoded").format(
                byte=data[exc.start]),
            file=path, line=line)]) from None


def _terminated(text: str) -> str:
    """A logical line's text ended so that a line appended after it stays a separate line.

    A last line ending in backslash-newline would continue into the appended line: an empty
    line ends it instead (bash reads the same value).
    """
    text = text if text.endswith("\n") else text + "\n"
    return text + "\n" if text.endswith("\\\n") else text


@dataclass(frozen=True)
class SettingsFile:
    """One parsed settings file: its logical lines, in order, with their exact text."""

    path: str
    lines: tuple[Line, ...]
    _last: Mapping[str, int] = field(repr=False, compare=False)  # key -> index in lines
    _order: tuple[str, ...] = field(repr=False, compare=False)  # first-appearance order

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<settings>") -> SettingsFile:
        """Parse a file's bytes: UTF-8 text only (the offending line named, not shown)."""
        return cls.from_text(decode(data, path), path)

    @classmethod
    def from_text(cls, text: str, path: str = "<settings>") -> SettingsFile:
        """Parse ``text``; raise SettingsError listing every problem (file, line, key, why)."""
        lines, problems = lex_file(text, path)
        if problems:
            raise SettingsError(problems)
        last: dict[str, int] = {}
        for i, entry in enumerate(lines):
            if entry.key is not None:
                last[entry.key] = i
        order = tuple(dict.fromkeys(e.key for e in lines if e.key is not None))
        return cls(path, tuple(lines), last, order)

    # -- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        """The value bash holds for ``key`` after sourcing the file; None if never assigned."""
        i = self._last.get(key)
        return None if i is None else self.lines[i].value

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(f"{self.path}: no key {key!r}")
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._last

    def assignments(self) -> list[Assignment]:
        """Every assignment in file order, a key assigned twice included (twice)."""
        out = []
        for e in self.lines:
            if e.key is not None:
                body = e.text[:-1] if e.text.endswith("\n") else e.text
                out.append(Assignment(e.key, e.value or "", e.line, body.count("\n") + 1))
        return out

    def keys(self) -> list[str]:
        """Assigned keys in the order they first appear."""
        return list(self._order)

    def as_dict(self) -> dict[str, str]:
        return {k: self.lines[self._last[k]].value or "" for k in self._order}

    def line_of(self, key: str) -> int | None:
        """1-based (first physical) line of the effective assignment of ``key``."""
        i = self._last.get(key)
        return None if i is None else self.lines[i].line

    def sections(self) -> list[str]:
        """The ``## Title`` titles, in order."""
        return [e.title for e in self.lines if e.title is not None]

    def section_of(self, key: str) -> str | None:
        """The section holding the effective assignment of ``key`` (None: before any, absent)."""
        i = self._last.get(key)
        return None if i is None else self.lines[i].section

    def render(self) -> str:
        """The file's text: byte for byte the input when nothing was changed."""
        return "".join(e.text for e in self.lines)

    # -- editing (each returns a new file) ---------------------------------------------------

    def set(self, key: str, value: str, *, section: str | None = None) -> SettingsFile:
        """Set ``key`` in place (keeping the line's quoting style if it can hold ``value``).

        An absent key is appended at the end of ``section`` (or of the file).
        """
        return self._edit({key: value}, section)

    def set_many(self, values: Mapping[str, str]) -> SettingsFile:
        """``set`` for each item; absent keys are appended at the end of the file, in order."""
        return self._edit(values, None)

    def drop_section(self, title: str) -> SettingsFile:
        """Remove every ``## title`` header and all lines up to the next section (R12)."""
        if title not in self.sections():
            raise SettingsError([Problem(
                _("no section '## {title}' to remove").format(title=title), file=self.path)])
        kept, dropping = [], False
        for e in self.lines:
            if e.kind == "section":
                dropping = e.title == title
            if not dropping:
                kept.append(e.text)
        return self._reparsed("".join(kept), {})

    def _edit(self, values: Mapping[str, str], section: str | None) -> SettingsFile:
        problems = [p for k, v in values.items() for p in edit_problems(self.path, k, v)]
        if section is not None and section not in self.sections():
            problems.append(Problem(_("no section '## {section}' to add keys to").format(
                section=section), file=self.path))
        if problems:
            raise SettingsError(problems)
        texts = [e.text for e in self.lines]
        appended: list[str] = []
        for key, value in values.items():
            i = self._last.get(key)
            if i is None:
                appended.append(f"{key}={quote_value(value)}\n")
                continue
            e = self.lines[i]
            texts[i] = e.text[: e.vstart] + in_style(value, e.style) + e.text[e.vend :]
        if appended:
            at = self._append_index(section)
            if at > 0:
                texts[at - 1] = _terminated(texts[at - 1])
            texts[at:at] = appended
        return self._reparsed("".join(texts), values)

    def _append_index(self, section: str | None) -> int:
        """Where appended keys go: after the last non-blank line of ``section``, or the end."""
        if section is None:
            return len(self.lines)
        start = next(i for i, e in enumerate(self.lines) if e.title == section)
        at = start + 1
        for i in range(start + 1, len(self.lines)):
            if self.lines[i].kind == "section":
                break
            if self.lines[i].kind != "blank":
                at = i + 1
        return at

    def _reparsed(self, text: str, expected: Mapping[str, str]) -> SettingsFile:
        """The edited file, parsed again; an edit that does not read back is a bug."""
        try:
            new = SettingsFile.from_text(text, self.path)
        except SettingsError as exc:
            raise BugError(f"{self.path}: an edit produced an unreadable file: {exc}") from exc
        for key, value in expected.items():
            if new.get(key) != value:
                raise BugError(f"{self.path}: key {key}: wrote {value!r}, reads {new.get(key)!r}")
        return new
