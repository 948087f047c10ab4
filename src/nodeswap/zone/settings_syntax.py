"""How bash reads a settings file's lines and values, and how to write a value it reads back.

Owns the lexer (``lex_file``: text → logical lines, each assignment's value *as bash assigns
it*, every problem at once; ``parse_value``: one right-hand side) and the writer's side
(``quote_value``, ``in_style``, ``edit_problems``). The file model (keys, sections, edits,
rendering) is settings.py. Pure: no I/O.

A settings file is sourced by bash, so a line is accepted only if we can say exactly what bash
does with it. Accepted:

- blank lines (spaces/tabs only), comment lines (``#`` after optional spaces/tabs); a line that
  starts with ``## `` (or ``##<tab>``) and has a non-empty title is a *section* header;
- ``key=value`` assignments, optionally indented, optionally prefixed by ``export `` (kept as
  is; the value bash assigns is the same), optionally followed by spaces/tabs and a ``#``
  comment. ``value`` is one shell word made of any concatenation of:

  - double-quoted text: ``\\`` escapes only ``$ ` " \\`` and newline (backslash-newline is
    removed), any other backslash is literal; newlines inside are part of the value;
  - single-quoted text: everything literal up to the next ``'``, newlines included;
  - bare text: letters, digits and ``_ . / : , @ % + = - ! ^ # ] `` and non-ASCII; a backslash
    quotes the next character (backslash-newline is removed);
  - a ``$`` that bash keeps literally (followed by a space, tab, newline, end of word, one of
    ``% + , . / : = ] } ^ ~``, or, inside double quotes, the closing quote).

Rejected, with file, line, key and why (every problem in the file at once): any expansion
(``$var``, ``${...}``, ``$(...)``, ``$((...))``, ``$[...]``, backticks, ``$'...'``, ``$"..."``),
unquoted glob characters ``* ? [``, ``~`` and braces, arrays ``a=(...)``, ``a[i]=``, ``a+=``,
several assignments or commands on one line, ``; & | < > ( )``, a line that is not an
assignment, a key that is not a shell identifier or that bash manages itself (``RANDOM``,
``BASH_*``...), unterminated quotes, a backslash-newline after the value, a backslash at the end
of the file, NUL bytes anywhere, control characters in bare text, and carriage returns outside
quotes and comments: CRLF files are rejected, because bash would read the CR into the value
(and a CRLF blank line is a command named ``$'\\r'``).

Writing: ``quote_value`` double-quotes and escapes ``\\ " $ ` `` only; ``!`` stays as is, since
history expansion is off when bash sources a file non-interactively (tested against bash).
``in_style`` keeps a line's quoting style when that style can hold the value (single quotes
without ``'``, bare words of safe characters), else writes the double-quoted form. Values with
NUL or lone surrogates cannot be written (``edit_problems``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from nodeswap.errors import Problem, SettingsError
from nodeswap.i18n import N_, _

__all__ = ["Line", "edit_problems", "in_style", "lex_file", "parse_value", "quote_value"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT_FULL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Variables bash computes or protects itself: a value assigned to them does not read back.
_BASH_MANAGED = frozenset(
    {
        "_", "BASHOPTS", "BASHPID", "COMP_WORDBREAKS", "DIRSTACK", "EPOCHREALTIME",
        "EPOCHSECONDS", "EUID", "FUNCNAME", "GROUPS", "HISTCMD", "LINENO", "OPTIND",
        "PIPESTATUS", "PPID", "RANDOM", "SECONDS", "SHELLOPTS", "SRANDOM", "UID",
    }
)  # fmt: skip

# The common case in one regex: a whole physical line that is blank, a comment, or an assignment
# of a simple double-quoted, single-quoted or bare value, with an optional trailing comment.
_FAST = re.compile(
    r"""[ \t]*
    (?:
        (?P<comment>\#[^\n]*)
      | (?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)=
        (?P<val>"[^"\\$`\n]*"|'[^'\n]*'|[A-Za-z0-9_./:,@%+=!^-]*)
        (?:[ \t]+(?:\#[^\n]*)?)?
    )?
    (?:\n|\Z)""",
    re.VERBOSE,
)
_HEAD = re.compile(r"[ \t]*(?P<export>export[ \t]+)?")
_AFTER = re.compile(r"(?:[ \t]+(?:#[^\n]*)?)?(?:\n|\Z)")
_BARE_RUN = re.compile(r"[^ \t\n\"'\\$`()|&;<>*?\[~{}\x00-\x08\x0b-\x1f\x7f]+")
_DQ_RUN = re.compile(r'[^"\\$`]+')
_BARE_SAFE = re.compile(r"[A-Za-z0-9_./:,@%+=-]*\Z")
_DQ_ESCAPE = re.compile(r'([\\"$`])')
_DOLLAR_LITERAL_NEXT = frozenset(" \t\n%+,./:=]}^~")
_UNTERMINATED = N_("unterminated quote: bash would fail to source the file")


class Line(NamedTuple):
    """One logical line: its raw text (with its line break, possibly several physical lines)."""

    kind: str  # "blank" | "comment" | "section" | "assign"
    text: str
    line: int  # 1-based first physical line
    key: str | None = None
    value: str | None = None
    title: str | None = None  # section title
    section: str | None = None  # the section an assignment sits in
    vstart: int = 0  # the raw value is text[vstart:vend]
    vend: int = 0
    style: str = ""  # "dq" | "sq" | "bare" | "mixed": how the raw value is written


class _Word(NamedTuple):
    end: int
    value: str
    style: str
    problem: str | None
    fatal: bool  # an unterminated quote: the rest of the text is swallowed


def quote_value(value: str) -> str:
    """The double-quoted form that bash reads back as exactly ``value``."""
    if "\x00" in value:
        raise SettingsError([Problem(
            _("value {value!r} contains a NUL byte; bash cannot hold it").format(value=value))])
    if not _is_utf8(value):
        raise SettingsError([Problem(
            _("value {value!r} is not valid text (lone surrogate)").format(value=value))])
    return '"' + _DQ_ESCAPE.sub(r"\\\1", value) + '"'


def parse_value(raw: str) -> str:
    """The value bash assigns for the right-hand side ``raw`` (supported forms only)."""
    word = _lex_word(raw, 0)
    problem = word.problem
    if problem is None and word.end != len(raw):
        problem = f"{raw[word.end :]!r} after the value: only one shell word is supported"
    if problem is not None:
        raise SettingsError([Problem(_("value {raw!r}: {problem}").format(
            raw=raw, problem=problem))])
    return word.value


# ---------------------------------------------------------------------------------------------
# Lexing one shell word (the right-hand side of an assignment)


def _dollar_is_literal(text: str, pos: int, in_dq: bool) -> bool:
    nxt = text[pos + 1] if pos + 1 < len(text) else ""
    return nxt == "" or nxt in _DOLLAR_LITERAL_NEXT or (in_dq and nxt == '"')


def _dollar_problem(text: str, pos: int) -> str:
    rest = text[pos : pos + 3]
    if rest.startswith("$(("):
        return _("arithmetic expansion $((...)) cannot be read without evaluating it")
    if rest.startswith("$("):
        return _("command substitution $(...) cannot be read without running it")
    if rest.startswith("${"):
        return _("parameter expansion ${...} depends on the environment")
    if rest.startswith("$'"):
        return _("ANSI-C quoting $'...' is not supported; use double quotes")
    if rest.startswith('$"'):
        return _('locale translation $"..." is not supported; use double quotes')
    if rest.startswith("$["):
        return _("arithmetic expansion $[...] cannot be read without evaluating it")
    m = _IDENT.match(text, pos + 1)
    name = m.group() if m else text[pos + 1 : pos + 2]
    return _("variable expansion ${name} depends on the environment; escape it as \\$").format(
        name=name)


def _shell_operator() -> str:
    return _("shell operator {c!r}: only one plain assignment per line is supported")


def _bare_problem(c: str, at_start: bool) -> str:
    if c == "(" and at_start:
        return _("array assignment (...) is not supported")
    if c == "`":
        return _("command substitution `...` cannot be read without running it")
    if c in "*?[":
        return _("unquoted glob character {c!r}: quote the value").format(c=c)
    if c == "~":
        return _("unquoted '~' (tilde expansion): quote the value")
    if c in "{}":
        return _("unquoted brace {c!r}: quote the value").format(c=c)
    if c == "\r":
        return _("carriage return outside quotes (CRLF line ending?): bash reads it into "
                 "the value")
    if c in ";&|<>()":
        return _shell_operator().format(c=c)
    return _("control character {c!r} outside quotes: quote the value").format(c=c)


def _lex_dq(text: str, pos: int) -> tuple[int, str, str | None]:
    """Lex a double-quoted segment from just after its opening quote.

    Returns (position after the closing quote, value, first problem); position -1 when
    unterminated. After a problem it keeps scanning to the closing quote so that the lines
    that follow are not misread.
    """
    parts: list[str] = []
    problem: str | None = None
    n = len(text)
    while True:
        m = _DQ_RUN.match(text, pos)
        if m:
            parts.append(m.group())
            pos = m.end()
        if pos >= n:
            return -1, "", problem
        c = text[pos]
        if c == '"':
            return pos + 1, "".join(parts), problem
        if c == "\\":
            nxt = text[pos + 1 : pos + 2]
            if nxt and nxt in '$`"\\':
                parts.append(nxt)
                pos += 2
            elif nxt == "\n":
                pos += 2
            else:
                parts.append("\\")
                pos += 1
        elif c == "$":
            if _dollar_is_literal(text, pos, in_dq=True):
                parts.append("$")
            elif problem is None:
                problem = _dollar_problem(text, pos)
            pos += 1
        else:  # a backtick
            problem = problem or _("command substitution `...` cannot be read without running it")
            pos += 1


def _lex_word(text: str, pos: int) -> _Word:
    """Lex one shell word starting at ``pos``; it ends at an unquoted space, tab, newline or end.

    On a problem outside quotes it stops there (``end`` is where it stopped).
    """
    start, n = pos, len(text)
    parts: list[str] = []
    kinds: list[str] = []
    problem: str | None = None
    while pos < n:
        c = text[pos]
        if c in " \t\n":
            break
        m = _BARE_RUN.match(text, pos)
        if m:
            parts.append(m.group())
            kinds.append("bare")
            pos = m.end()
        elif c == '"':
            end, seg, prob = _lex_dq(text, pos + 1)
            if end < 0:
                return _Word(n, "", "mixed", _(_UNTERMINATED), True)
            problem = problem or prob
            parts.append(seg)
            kinds.append("dq")
            pos = end
        elif c == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                return _Word(n, "", "mixed", _(_UNTERMINATED), True)
            parts.append(text[pos + 1 : end])
            kinds.append("sq")
            pos = end + 1
        elif c == "\\":
            nxt = text[pos + 1 : pos + 2]
            if nxt == "":
                return _Word(pos, "", "mixed", _("backslash at the end of the file"), False)
            if nxt != "\n":
                parts.append(nxt)
            kinds.append("escape")
            pos += 2
        elif c == "$" and _dollar_is_literal(text, pos, in_dq=False):
            parts.append("$")
            kinds.append("escape")
            pos += 1
        else:
            prob = _dollar_problem(text, pos) if c == "$" else _bare_problem(c, pos == start)
            return _Word(pos, "", "mixed", problem or prob, False)
    style = kinds[0] if len(kinds) == 1 and kinds[0] != "escape" else "mixed"
    if not kinds or all(k == "bare" for k in kinds):
        style = "bare"
    return _Word(pos, "".join(parts), style, problem, False)


# ---------------------------------------------------------------------------------------------
# Lexing one logical line


def _line_end(text: str, pos: int) -> int:
    """The position just after the physical line containing ``pos``."""
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _not_an_assignment(text: str, pos: int, has_export: bool) -> tuple[str, str | None]:
    """Why the logical line at ``pos`` (after indentation/export) is not an assignment."""
    m = _IDENT.match(text, pos)
    if m and text.startswith("+=", m.end()):
        return _("append assignment '+=' is not supported"), m.group()
    if m and text.startswith("[", m.end()):
        return _("array element assignment is not supported"), m.group()
    end = pos
    while end < len(text) and text[end] not in " \t\n":
        end += 1
    word = text[pos:end]
    if "=" in word:
        key = word.split("=", 1)[0]
        return _("{key!r} is not a shell identifier (letters, digits, '_'; not a digit first)"
                 ).format(key=key), None
    if has_export:
        return _("'export' without an assignment is not supported"), None
    shown = text[pos : _line_end(text, pos)].rstrip("\n")
    return (
        _('not an assignment: {shown!r} is a command; only key="value" lines, '
          "comments and blank lines are allowed").format(shown=shown)
    ), None


def _after_problem(text: str, pos: int) -> str:
    """Why the rest of an assignment's line (from just after its value) is not accepted."""
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    c = text[pos]
    if c == "\\" and text.startswith("\\\n", pos):
        return _("line continuation after the value is not supported")
    if c == "\r":
        return _bare_problem(c, False)
    if c in ";&|<>()":
        return _shell_operator().format(c=c)
    m = _IDENT.match(text, pos)
    if m and text.startswith("=", m.end()):
        return _("several assignments on one line are not supported")
    shown = text[pos : _line_end(text, pos)].rstrip("\n")
    return _("{shown!r} after the value: bash would run it as a command").format(shown=shown)


def _lex_slow(text: str, pos: int, line: int, section: str | None) -> tuple[int, Line | Problem]:
    """Lex the logical line at ``pos`` character by character (the rare, hard cases)."""
    head = _HEAD.match(text, pos)
    assert head is not None  # the pattern matches the empty string
    kpos = head.end()
    m = _IDENT.match(text, kpos)
    if not m or not text.startswith("=", m.end()):
        why, key = _not_an_assignment(text, kpos, head.group("export") is not None)
        return _line_end(text, kpos), Problem(why, line=line, key=key)
    key = m.group()
    if key in _BASH_MANAGED or key.startswith("BASH"):
        why = _("{key} is managed by bash itself; a value assigned to it would not read "
                "back").format(key=key)
        return _line_end(text, kpos), Problem(why, line=line, key=key)
    vstart = m.end() + 1
    word = _lex_word(text, vstart)
    if word.fatal:
        return word.end, Problem(word.problem or _(_UNTERMINATED), line=line, key=key)
    if word.problem is not None:
        return _line_end(text, word.end), Problem(word.problem, line=line, key=key)
    after = _AFTER.match(text, word.end)
    if after is None:
        return _line_end(text, word.end), Problem(
            _after_problem(text, word.end), line=line, key=key
        )
    end = after.end()
    return end, Line(
        "assign", text[pos:end], line, key, word.value, None, section,
        vstart - pos, word.end - pos, word.style,
    )  # fmt: skip


def _fast_line(m: re.Match[str], line: int, section: str | None) -> Line:
    text = m.group()
    comment = m.group("comment")
    if comment is not None:
        if m.start("comment") == m.start() and comment[:3] in ("## ", "##\t"):
            title = comment[3:].strip()
            if title:
                return Line("section", text, line, title=title)
        return Line("comment", text, line)
    key = m.group("key")
    if key is None:
        return Line("blank", text, line)
    raw = m.group("val")
    if raw[:1] == '"':
        value, style = raw[1:-1], "dq"
    elif raw[:1] == "'":
        value, style = raw[1:-1], "sq"
    else:
        value, style = raw, "bare"
    base = m.start()
    return Line(
        "assign", text, line, key, value, None, section,
        m.start("val") - base, m.end("val") - base, style,
    )  # fmt: skip


def lex_file(text: str, path: str) -> tuple[list[Line], list[Problem]]:
    """Split ``text`` into logical lines; collect every problem."""
    lines: list[Line] = []
    problems: list[Problem] = []
    pos, line, n = 0, 1, len(text)
    section: str | None = None
    fast = _FAST.match
    while pos < n:
        m = fast(text, pos)
        if m is not None and (m.group("key") is None or _key_ok(m.group("key"))):
            entry: Line | Problem = _fast_line(m, line, section)
            end = m.end()
        else:
            end, entry = _lex_slow(text, pos, line, section)
        if isinstance(entry, Problem):
            problems.append(Problem(entry.message, file=path, line=entry.line, key=entry.key))
        else:
            if entry.kind == "section":
                section = entry.title
            lines.append(entry)
        line += text.count("\n", pos, end)
        pos = end
    if "\x00" in text:
        reported = {p.line for p in problems}
        for i, physical in enumerate(text.split("\n"), start=1):
            if "\x00" in physical and i not in reported:
                problems.append(Problem(_("NUL byte: bash cannot hold it"), file=path, line=i))
        problems.sort(key=lambda p: p.line or 0)
    return lines, problems


def _key_ok(key: str) -> bool:
    """False for keys the fast path must hand to the slow path (which explains the problem)."""
    return not (key in _BASH_MANAGED or key.startswith("BASH"))


# ---------------------------------------------------------------------------------------------
# Writing


def in_style(value: str, style: str) -> str:
    """``value`` written in ``style`` if that style can hold it, else double-quoted."""
    if style == "sq" and "'" not in value:
        return "'" + value + "'"
    if style == "bare" and _BARE_SAFE.match(value):
        return value
    return quote_value(value)


def edit_problems(path: str, key: str, value: str) -> list[Problem]:
    """Why ``key=value`` cannot be written so that bash reads it back (empty: it can)."""
    if not _IDENT_FULL.match(key):
        return [Problem(_("{key!r} is not a shell identifier").format(key=key), file=path,
                        key=key)]
    if key in _BASH_MANAGED or key.startswith("BASH"):
        msg = _("{key} is managed by bash itself; a value assigned to it would not read "
                "back").format(key=key)
        return [Problem(msg, file=path, key=key)]
    if "\x00" in value:
        return [Problem(_("value {value!r} contains a NUL byte").format(value=value), file=path,
                        key=key)]
    if not _is_utf8(value):
        msg = _("value {value!r} is not valid text (a lone surrogate cannot be written as "
                "UTF-8)").format(value=value)
        return [Problem(msg, file=path, key=key)]
    return []


def _is_utf8(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
