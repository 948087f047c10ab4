"""Plan data (step titles, plan warnings) matched back to the N_ template that made it, to be
shown in the operator's language (``nodeswap.i18n.retranslate``, issue 13). Pure: no I/O.

A template is an N_-marked message with ``{name}`` placeholders; each is compiled once into
an anchored regex, a placeholder becoming a non-greedy group (a name used twice must hold the
same value twice). Templates are tried most specific first (the most literal characters,
then the template's own text: deterministic), after a cheap prefix/suffix test. A message
without placeholders matches only itself. A captured value that holds a space is itself
retranslated (a title may be made of another's: R33's early steps, R16's reasons); names,
addresses and paths hold none and stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
DEPTH = 3  # a value within a value within a title, at most


@dataclass(frozen=True)
class Template:
    text: str  # the English msgid
    pattern: re.Pattern[str]
    prefix: str  # the literal text before the first placeholder
    suffix: str  # ... after the last
    literal: int  # characters outside placeholders: more is more specific


def compile_template(text: str) -> Template | None:
    """The matcher of ``text``; None when it has no placeholder or braces of another kind
    (``{{``, ``{0}``, ``{x!r}``: not a data template)."""
    holes = list(PLACEHOLDER.finditer(text))
    if not holes or PLACEHOLDER.sub("", text).count("{") or PLACEHOLDER.sub("", text).count("}"):
        return None
    parts: list[str] = []
    seen: set[str] = set()
    pos = 0
    for m in holes:
        parts.append(re.escape(text[pos:m.start()]))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        pos = m.end()
    parts.append(re.escape(text[pos:]))
    literal = len(PLACEHOLDER.sub("", text))
    return Template(text, re.compile("".join(parts), re.DOTALL), text[:holes[0].start()],
                    text[holes[-1].end():], literal)


@dataclass(frozen=True)
class Registry:
    """The templates of a set of marked messages, compiled once."""

    plain: frozenset[str]  # messages without placeholders
    templates: tuple[Template, ...]  # most specific first

    @classmethod
    def of(cls, messages: Iterable[str]) -> Registry:
        plain: set[str] = set()
        found: list[Template] = []
        for text in messages:
            t = compile_template(text)
            if t is not None:
                found.append(t)
            elif "{" not in text:
                plain.add(text)
        found.sort(key=lambda t: (-t.literal, t.text))
        return cls(frozenset(plain), tuple(found))

    def matches(self, text: str) -> list[tuple[Template, dict[str, str]]]:
        """Every template that could have made ``text``, most specific first, with the values
        it would hold."""
        out = []
        for t in self.templates:
            if len(text) < t.literal or not text.startswith(t.prefix) \
                    or not text.endswith(t.suffix):
                continue
            m = t.pattern.fullmatch(text)
            if m is not None:
                out.append((t, m.groupdict()))
        return out


_registries: dict[tuple[str, ...], Registry] = {}


def registry(messages: tuple[str, ...]) -> Registry:
    """The compiled registry of ``messages`` (one per distinct tuple: N_ may mark more later)."""
    found = _registries.get(messages)
    if found is None:
        found = _registries[messages] = Registry.of(messages)
    return found


def match(text: str, messages: tuple[str, ...], translate: Callable[[str], str],
          depth: int = DEPTH) -> str:
    """``text`` made again from the translation of the template that made it (see the module
    doc); ``text`` as it is when none did."""
    reg = registry(messages)
    if text in reg.plain:
        return translate(text)
    for t, found in reg.matches(text)[:1]:
        values = {k: match(v, messages, translate, depth - 1) if " " in v and depth > 1 else v
                  for k, v in found.items()}
        try:
            return translate(t.text).format(**values)
        except (KeyError, IndexError, ValueError):  # a translation naming other placeholders
            return text
    return text
