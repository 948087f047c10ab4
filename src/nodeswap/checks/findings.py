"""Findings shared by every check: the ``Difference`` value, its classes, the address map. Pure.

Owns: the one shape a comparison reports (R23, R27-R29, R35, R36), its JSON form, and the
old→new address map (the temporary addresses of R3/R16). Must not do I/O.

JSON shape of a report (``report_json``)::

    {"differences": [{"section": "...", "old": "...", "new": "...", "old_line": n,
                      "new_line": n, "class": "ignored|attention|unexpected",
                      "rule": "R27", "reason": "..."}]}

``old``/``new`` are the text of the line (or lines, joined by a newline) on each side and
``old_line``/``new_line`` their 1-based line numbers; a side that has nothing is ``null``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

Klass = Literal["ignored", "attention", "unexpected"]
KLASSES: tuple[Klass, ...] = ("ignored", "attention", "unexpected")


class Located(Protocol):
    """A parsed line: its text and its 1-based line number."""

    @property
    def text(self) -> str: ...

    @property
    def line(self) -> int: ...


@dataclass(frozen=True)
class Difference:
    """One difference between an old and a new node (or one unhealthy fact), explained.

    ``klass`` says what the operator must do: nothing (*ignored*), a known hand edit
    (*attention*), or stop and look (*unexpected*). ``rule`` cites the runbook.
    """

    section: str
    old: str | None
    new: str | None
    old_line: int | None
    new_line: int | None
    klass: Klass
    rule: str
    reason: str

    @classmethod
    def of_lines(cls, section: str, old: Located | None, new: Located | None, *,
                 klass: Klass, rule: str, reason: str) -> Difference:
        """A difference between two parsed lines (either may be missing)."""
        return cls(section, old.text if old else None, new.text if new else None,
                   old.line if old else None, new.line if new else None, klass, rule, reason)

    def __str__(self) -> str:
        parts = [f"[{self.klass}] {self.section} ({self.rule}): {self.reason}"]
        if self.old is not None:
            parts.append(f"old{_at(self.old_line)}: {self.old}")
        if self.new is not None:
            parts.append(f"new{_at(self.new_line)}: {self.new}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this difference (key ``class``, not ``klass``)."""
        return {
            "section": self.section,
            "old": self.old,
            "new": self.new,
            "old_line": self.old_line,
            "new_line": self.new_line,
            "class": self.klass,
            "rule": self.rule,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Difference:
        """Read back what ``to_json`` wrote."""
        klass = data["class"]
        if klass not in KLASSES:
            raise InputError([Problem(_("unknown class {klass!r}").format(klass=klass),
                                      key="class")])
        return cls(
            section=str(data["section"]),
            old=data["old"],
            new=data["new"],
            old_line=data["old_line"],
            new_line=data["new_line"],
            klass=klass,
            rule=str(data["rule"]),
            reason=str(data["reason"]),
        )


@dataclass(frozen=True)
class CheckResult:
    """What a check found: ``ok`` when nothing is unexpected."""

    kind: str
    findings: tuple[Difference, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not any(d.klass == "unexpected" for d in self.findings)

    def of_class(self, klass: Klass) -> tuple[Difference, ...]:
        return tuple(d for d in self.findings if d.klass == klass)


def _at(line: int | None) -> str:
    return f" line {line}" if line is not None else ""


def has_unexpected(findings: Iterable[Difference]) -> bool:
    """True when any finding is *unexpected* (exit 1 for ``nodeswap diff``)."""
    return any(d.klass == "unexpected" for d in findings)


def report_json(findings: Sequence[Difference]) -> dict[str, Any]:
    """The documented JSON report: ``{"differences": [...]}``."""
    return {"differences": [d.to_json() for d in findings]}


_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")


@dataclass(frozen=True)
class AddressMap:
    """Old node address → new node address (the temporary address of R3/R16).

    The new side's text is mapped *back* (new → old) before comparing, so a line that
    differs only by the temporary address compares equal after mapping.
    """

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_items(cls, items: Iterable[str], source: str = "--address-map") -> AddressMap:
        """Parse ``OLD=NEW`` items (each item may also be a comma list); all problems at once."""
        pairs: list[tuple[str, str]] = []
        problems: list[Problem] = []
        for item in items:
            for part in (p.strip() for p in item.split(",")):
                if not part:
                    continue
                old, sep, new = part.partition("=")
                old, new = old.strip(), new.strip()
                if not sep or not _IPV4.match(old) or not _IPV4.match(new):
                    problems.append(
                        Problem(_("expected OLD=NEW with two IPv4 addresses, got {part!r}").format(
                            part=part),
                                key=source)
                    )
                    continue
                pairs.append((old, new))
        news = [n for _, n in pairs]
        for n in sorted({n for n in news if news.count(n) > 1}):
            problems.append(Problem(_("new address {n} is mapped from two old ones").format(n=n),
                                    key=source))
        if problems:
            raise InputError(problems)
        return cls(tuple(pairs))

    @classmethod
    def from_option(cls, value: str | None) -> AddressMap:
        """Parse the registry option form ``"old=new,old2=new2"`` (empty → no map)."""
        return cls.from_items([value] if value else [], source="address_map")

    def __bool__(self) -> bool:
        return bool(self.pairs)

    @property
    def new_addresses(self) -> frozenset[str]:
        return frozenset(n for _, n in self.pairs)

    def back(self, text: str) -> str:
        """``text`` with every new (temporary) address replaced by its old address."""
        for old, new in self.pairs:
            text = _address_pattern(new).sub(old, text)
        return text

    def mentions_new(self, text: str) -> bool:
        """True when ``text`` contains one of the new (temporary) addresses."""
        return any(_address_pattern(n).search(text) for _, n in self.pairs)


def _address_pattern(address: str) -> re.Pattern[str]:
    # Whole address only: 10.0.0.1 must not match inside 10.0.0.15 or 110.0.0.1.
    return re.compile(r"(?<![0-9.])" + re.escape(address) + r"(?![0-9]|\.[0-9])")
