"""haproxy.cfg as haproxy reads it: tokenizer, parser and renderer. Pure.

Owns ``tokenize`` (one line → words, with haproxy's quoting, escapes and ``#`` comments, as
its ``parse_line`` does), ``parse`` (text → ``HaproxyConfig``: sections, directives, line
numbers, every problem at once) and ``render`` (a config → text that parses back equal).
Must not do I/O. The R27 comparison lives in ``checks/haproxy.py`` (the diff engine) and
``checks/haproxy_rules.py`` (what is the same, how a difference is classed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.transport.redact import redact_line

RULE = "R27"

SECTION_KEYWORDS = frozenset(
    {
        "global", "defaults", "frontend", "backend", "listen", "userlist", "peers",
        "resolvers", "mailers", "program", "http-errors", "ring", "cache", "log-forward",
        "traces", "crt-store", "fcgi-app",
    }
)
CONDITIONALS = frozenset({".if", ".elif", ".else", ".endif", ".diag", ".notice", ".warning",
                          ".alert"})
TOP_LEVEL = "(top level)"

_SECRETS = (
    # stats auth USER:PASS
    re.compile(r"^(stats\s+auth\s+[^:\s]+:)(\S+)"),
    # userlist: user NAME password HASH / insecure-password PASS
    re.compile(r"^(user\s+\S+\s+(?:insecure-)?password\s+)(\S+)"),
)
_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_ESCAPES = {"\\": "\\", " ": " ", "#": "#", "'": "'", '"': '"', "r": "\r", "n": "\n",
            "t": "\t", "$": "$"}


class TokenError(ValueError):
    """A line haproxy could not tokenize (message says why)."""


@dataclass(frozen=True)
class Directive:
    """One configuration line: keyword and arguments as haproxy reads them."""

    words: tuple[str, ...]
    line: int
    text: str  # the source line, stripped (for messages)

    @property
    def keyword(self) -> str:
        return self.words[0]

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]


@dataclass(frozen=True)
class Section:
    """A section: kind (``listen``...), name (may be empty), its own line, its directives."""

    kind: str
    name: str
    args: tuple[str, ...]  # words after the name on the section line
    line: int
    text: str
    directives: tuple[Directive, ...]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}".strip()


@dataclass(frozen=True)
class HaproxyConfig:
    """A parsed haproxy.cfg: its sections in file order."""

    file: str
    sections: tuple[Section, ...]

    def section(self, kind: str, name: str = "") -> Section | None:
        return next((s for s in self.sections if s.kind == kind and s.name == name), None)


# ---------------------------------------------------------------------------- tokenize


def tokenize(line: str) -> tuple[str, ...]:
    """The words of one line as haproxy's ``parse_line`` splits them.

    Unquoted whitespace separates words; ``#`` outside quotes ends the line; ``"..."`` keeps
    spaces and honours backslash escapes; ``'...'`` keeps everything literally; quotes may
    join inside a word (``a"b c"d`` is one word). ``$VAR`` is kept as written (the node's
    environment is unknown here). Raises ``TokenError`` on an unmatched quote.
    """
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    quote = ""
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                cur.append(c)
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            i, text = _escape(line, i)
            cur.append(text)
            in_word = True
            continue
        if quote == '"':
            if c == '"':
                quote = ""
            else:
                cur.append(c)
            i += 1
            continue
        if c in "\"'":
            quote = c
            in_word = True
        elif c == "#":
            break
        elif c in " \t\r\n\f\v":
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(c)
            in_word = True
        i += 1
    if quote:
        raise TokenError(f"unmatched {quote} quote")
    if in_word:
        words.append("".join(cur))
    return tuple(words)


def _escape(line: str, i: int) -> tuple[int, str]:
    """Read the escape at ``line[i] == '\\'``: (next index, text it stands for)."""
    nxt = line[i + 1]
    if nxt in _ESCAPES:
        return i + 2, _ESCAPES[nxt]
    if nxt == "x" and re.match(r"[0-9A-Fa-f]{2}", line[i + 2 : i + 4]):
        return i + 4, chr(int(line[i + 2 : i + 4], 16))
    return i + 1, "\\"  # haproxy keeps an unknown escape's backslash


# ---------------------------------------------------------------------------- parse


def mask_secrets(text: str) -> str:
    """``text`` (a config line, for messages) with passwords shown as ``***``: haproxy's own
    forms, then every form of ``nodeswap.transport.redact`` (an ``Authorization`` header set
    by ``http-request``, a URL's ``user:pass@``...).

    Comparison uses the real words; only what reaches the screen, JSON and journal is masked.
    """
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return redact_line(text)


def parse(text: str, file: str = "haproxy.cfg") -> HaproxyConfig:
    """Parse haproxy configuration text; every problem at once as an ``InputError``.

    Refused (not haproxy syntax): a directive before any section, a keyword that is not a
    haproxy keyword shape, an unmatched quote, a file with no section at all.
    """
    problems: list[Problem] = []
    sections: list[Section] = []
    head: tuple[str, str, tuple[str, ...], int, str] | None = None
    body: list[Directive] = []

    def close() -> None:
        if head is not None:
            kind, name, args, line, src = head
            sections.append(Section(kind, name, args, line, src, tuple(body)))

    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            words = tokenize(raw)
        except TokenError as exc:
            problems.append(Problem(_("{exc}: {line!r}").format(exc=exc, line=raw.strip()), file,
                                    number, rule=RULE))
            continue
        if not words:
            continue
        shown = mask_secrets(raw.strip())
        if words[0] in SECTION_KEYWORDS:
            close()
            name = words[1] if len(words) > 1 else ""
            head, body = (words[0], name, words[2:], number, shown), []
        elif words[0] in CONDITIONALS:
            # haproxy 2.4+ conditional blocks: kept in order (their effect on which lines
            # are read is not evaluated: the node's environment is unknown here)
            if head is None:
                head, body = (TOP_LEVEL, "", (), number, shown), []
            body.append(Directive(words, number, shown))
        elif not _KEYWORD.match(words[0]):
            problems.append(
                Problem(_("not a haproxy keyword: {word!r} in {line!r}").format(word=words[0],
                          line=raw.strip()), file,
                        number, rule=RULE)
            )
        elif head is None:
            problems.append(
                Problem(_("{word!r} outside any section (not haproxy syntax): {line!r}").format(
                    word=words[0], line=raw.strip()), file, number, rule=RULE)
            )
        else:
            body.append(Directive(words, number, shown))
    close()
    if not sections and not problems:
        problems.append(Problem(_("no haproxy section (global, defaults, listen...) found"), file))
    if problems:
        raise InputError(problems[:20])
    return HaproxyConfig(file, tuple(sections))


# ---------------------------------------------------------------------------- render


def render(config: HaproxyConfig, quote: Callable[[str], str] | None = None) -> str:
    """Text of a parsed config (canonical layout; comments dropped). Parses back equal."""
    q = quote or quote_word
    lines: list[str] = []
    for sec in config.sections:
        head = (sec.kind, sec.name, *sec.args) if sec.name or sec.args else (sec.kind,)
        if sec.kind != TOP_LEVEL:
            lines.append(" ".join(q(w) for w in head))
        lines.extend("    " + " ".join(q(w) for w in d.words) for d in sec.directives)
        lines.append("")
    return "\n".join(lines)


def quote_word(word: str) -> str:
    """``word`` written so that ``tokenize`` reads it back unchanged."""
    if word and not re.search(r"[\s#'\"\\]", word):
        return word
    return "'" + word + "'" if "'" not in word else '"' + _escape_dq(word) + '"'


def _escape_dq(word: str) -> str:
    return word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
