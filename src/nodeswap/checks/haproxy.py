"""The R27 semantic comparison of two haproxy.cfg files. Pure.

Owns ``compare`` (old, new ``HaproxyConfig`` → ``Difference`` list, each classified with its
rule) and ``compare_text``. Reading the files as haproxy does (``tokenize``, ``parse``,
``render``) is ``checks/haproxy_parse.py``, re-exported here. Must not do I/O: running
``haproxy -c`` lives in ``checks/validate.py``.

How the comparison sees a file (R27):

- Whitespace, comments, blank lines and quoting style never matter: directives are
  compared as word tuples; ``timeout`` values by duration (``5s`` = ``5000``) and binds on
  all IPv4 addresses by meaning (``:80`` = ``*:80`` = ``0.0.0.0:80``).
- A ``frontend F`` whose traffic all goes to ``default_backend B`` (B used by nobody else, no
  ``use_backend``) is the same proxy as ``listen F`` holding both: the unit of comparison is
  that *proxy*. An address on a section line (``listen F 0.0.0.0:7777``, old syntax) is a
  ``bind``. So "the place of the port bindings changed" compares equal and is reported as
  *ignored* (R27), once per moved bind.
- Order matters only where haproxy gives it meaning: ``acl``, ``use_backend``,
  ``http-request``, ``tcp-request <phase>`` and the other rule lists are sequences;
  ``server`` lines, ``bind`` lines and everything else are compared as sets.
- Classes: *ignored* — binds moved, the ``website`` forward on 8081, lines equal once the
  new node's temporary address is mapped back (``AddressMap``); *attention* — in a sub
  region, ``server`` lines of ``api-front`` (the runbook's "api-server"), ``ws-front`` and
  ``io-front``, with the edit to make; *unexpected* — everything else.
- Passwords (``stats auth``, userlist ``password``) are compared but shown as ``***``.
- Known limits: ``.if``/``.endif`` blocks (haproxy 2.4+) are compared as an ordered list but
  not evaluated; which ``defaults`` section a proxy inherits from is not resolved (each
  ``defaults`` is compared on its own).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Generic, TypeVar

from nodeswap.errors import InputError, Problem

from .findings import AddressMap, Difference, Klass
from .haproxy_parse import (
    CONDITIONALS,
    SECTION_KEYWORDS,
    TOP_LEVEL,
    Directive,
    HaproxyConfig,
    Section,
    TokenError,
    mask_secrets,
    parse,
    quote_word,
    render,
    tokenize,
)

__all__ = [
    "ATTENTION_PROXIES", "RULE", "SECTION_KEYWORDS", "TOP_LEVEL", "Directive", "HaproxyConfig",
    "Section", "TokenError", "compare", "compare_text", "mask_secrets", "parse", "quote_word",
    "render", "tokenize",
]

RULE = "R27"

PROXY_KINDS = frozenset({"frontend", "backend", "listen", "defaults"})
# Sections named by the runbook (R27) whose servers are hand-edited in a sub region.
ATTENTION_PROXIES = frozenset({"api-front", "api-server", "ws-front", "io-front"})
WEBSITE_PORT = "8081"
# Rule lists haproxy evaluates in file order.
ORDERED = frozenset(
    {
        "acl", "use_backend", "use-server", "http-request", "http-response",
        "http-after-response", "tcp-request", "tcp-response", "redirect", "block", "stick",
        "filter", "http-check", "tcp-check", "conditional", "reqadd", "reqrep", "reqirep",
        "reqdel", "reqidel", "reqallow", "reqdeny", "reqpass", "reqtarpit", "rspadd", "rsprep",
        "rspirep", "rspdel", "rspidel", "rspdeny",
    }
)
# Keywords whose first argument names the thing set (so `timeout connect` pairs with itself).
SUBKEYED = frozenset(
    {
        "option", "timeout", "stats", "errorfile", "compression", "server", "server-template",
        "peer", "user", "group", "nameserver", "mailer", "tcp-request", "tcp-response",
        "acl", "errorloc", "errorloc302", "errorloc303", "email-alert", "unique-id-format",
        "cookie", "stick-table", "hash-type", "source", "set-var", "setenv", "presetenv",
        "resetenv", "unsetenv",
    }
)
# ---------------------------------------------------------------------------- proxies


@dataclass(frozen=True)
class _Bind:
    directive: Directive
    origin: str  # section label it sits in, "+line" when it is the section line's address
    index: int  # its position among its section's directives (-1: the section line)


@dataclass(frozen=True)
class _Unit:
    """What is compared as one: a proxy (listen, or frontend + its only backend) or a section."""

    key: str
    label: str
    names: frozenset[str]
    directives: tuple[Directive, ...]  # binds excluded
    binds: tuple[_Bind, ...]
    head: Section

    @property
    def is_website(self) -> bool:
        if any("website" in n for n in self.names):
            return True
        ports = (_port(b.directive.args[0]) for b in self.binds if b.directive.args)
        return WEBSITE_PORT in ports


def _port(address: str) -> str:
    return address.rsplit(":", 1)[-1] if ":" in address else ""


def _units(config: HaproxyConfig) -> dict[str, _Unit]:
    """The comparison units of a config, keyed so both files' units meet by key."""
    merge = _merges(config)
    merged_backends = set(merge.values())
    units: dict[str, _Unit] = {}
    anonymous = 0
    for sec in config.sections:
        if sec.kind == "backend" and sec.name in merged_backends:
            continue
        parts = [sec]
        if sec.kind == "frontend" and sec.name in merge:
            back = config.section("backend", merge[sec.name])
            assert back is not None
            parts.append(back)
        if sec.kind in ("frontend", "listen"):
            key = f"proxy {sec.name}"
        elif sec.kind == "defaults" and not sec.name:
            anonymous += 1
            key = f"defaults #{anonymous}"
        else:
            key = sec.label
        unit = _unit(key, parts, drop_default_backend=len(parts) > 1)
        if key in units and sec.kind == "global":
            # haproxy reads several global sections as one
            first = units[key]
            unit = _Unit(key, first.label, first.names, first.directives + unit.directives,
                         first.binds, first.head)
        elif key in units:
            key = f"{key} #{sum(1 for k in units if k.startswith(key))+1}"
        units[key] = unit
    return units


def _merges(config: HaproxyConfig) -> dict[str, str]:
    """frontend name → backend name, for frontends that are a listen split in two."""
    backends = {s.name for s in config.sections if s.kind == "backend"}
    refs: Counter[str] = Counter()
    for sec in config.sections:
        for d in sec.directives:
            if d.keyword in ("default_backend", "use_backend") and d.args:
                refs[d.args[0]] += 1
    merge: dict[str, str] = {}
    for sec in config.sections:
        if sec.kind != "frontend":
            continue
        defaults = [d.args[0] for d in sec.directives if d.keyword == "default_backend" and d.args]
        routed = any(d.keyword == "use_backend" for d in sec.directives)
        if len(defaults) == 1 and not routed and defaults[0] in backends and refs[defaults[0]] == 1:
            merge[sec.name] = defaults[0]
    return merge


def _unit(key: str, parts: Sequence[Section], drop_default_backend: bool) -> _Unit:
    binds: list[_Bind] = []
    rest: list[Directive] = []
    for sec in parts:
        if sec.kind in ("frontend", "listen") and sec.args:
            # old syntax: `listen NAME ADDR[,ADDR...]` binds on the section line
            for address in sec.args[0].split(","):
                d = Directive(("bind", address, *sec.args[1:]), sec.line, sec.text)
                binds.append(_Bind(d, sec.label + " (section line)", -1))
        for index, d in enumerate(sec.directives):
            if d.keyword == "bind":
                binds.append(_Bind(d, sec.label, index))
            elif not (drop_default_backend and d.keyword == "default_backend"):
                rest.append(d)
    label = " + ".join(p.label for p in parts)
    names = frozenset(p.name for p in parts)
    return _Unit(key, label, names, tuple(rest), tuple(binds), parts[0])


# ---------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class _Context:
    sub_region: bool
    amap: AddressMap


@dataclass(frozen=True)
class _Scope:
    """The pair of units being compared, with the comparison's context."""

    section: str
    ou: _Unit
    nu: _Unit
    ctx: _Context


def compare(
    old: HaproxyConfig,
    new: HaproxyConfig,
    *,
    sub_region: bool = False,
    address_map: AddressMap | None = None,
) -> list[Difference]:
    """Every difference between the old and the new node's haproxy.cfg, classified (R27).

    Ordered by section (old file order, then sections only in the new file), then line.
    """
    ctx = _Context(sub_region, address_map or AddressMap())
    old_units, new_units = _units(old), _units(new)
    out: list[Difference] = []
    for key, ou in old_units.items():
        nu = new_units.get(key)
        if nu is None:
            out.append(_whole(ou, "old", ctx))
        else:
            out.extend(_compare_units(ou, nu, ctx))
    for key, nu in new_units.items():
        if key not in old_units:
            out.append(_whole(nu, "new", ctx))
    return out


def _whole(unit: _Unit, side: str, ctx: _Context) -> Difference:
    """A section present on one side only: its whole text, so it can be recreated."""
    lines = sorted({(d.line, d.text) for d in (*unit.directives,
                                               *(b.directive for b in unit.binds))})
    text = "\n".join([unit.head.text,
                      *("    " + t for line, t in lines if line != unit.head.line)])
    if unit.is_website:
        klass: Klass = "ignored"
        reason = f"the website forward (port {WEBSITE_PORT}) is not compared (R27)"
    else:
        klass = "unexpected"
        where = (
            "the old node only (a hand edit the package does not recreate?): recreate it on "
            "the new node if it is still needed" if side == "old"
            else "the new node only: the old node does not have it"
        )
        reason = f"section `{unit.label}` is on {where}"
    old_side = side == "old"
    return Difference(
        section=unit.label,
        old=text if old_side else None,
        new=None if old_side else text,
        old_line=unit.head.line if old_side else None,
        new_line=None if old_side else unit.head.line,
        klass=klass,
        rule=RULE,
        reason=reason,
    )


def _compare_units(ou: _Unit, nu: _Unit, ctx: _Context) -> list[Difference]:
    out: list[Difference] = []
    section = nu.label
    if ou.label != nu.label:
        out.append(
            Difference(section, ou.head.text, nu.head.text, ou.head.line, nu.head.line,
                       "ignored", RULE,
                       f"section layout changed (`{ou.label}` → `{nu.label}`); "
                       "its contents are compared as one proxy (R27)")
        )
    scope = _Scope(section, ou, nu, ctx)
    out.extend(_compare_binds(scope))
    families = sorted({_family(d) for d in (*ou.directives, *nu.directives)})
    for fam in families:
        olds = [d for d in ou.directives if _family(d) == fam]
        news = [d for d in nu.directives if _family(d) == fam]
        if fam[0] in ORDERED:
            out.extend(_compare_sequence(olds, news, scope))
        else:
            out.extend(_compare_set(olds, news, scope))
    return sorted(out, key=lambda d: (d.old_line or 0, d.new_line or 0))


def _family(d: Directive) -> tuple[str, ...]:
    if d.keyword in CONDITIONALS:
        return ("conditional",)
    if d.keyword in ("tcp-request", "tcp-response") and d.args:
        return (d.keyword, d.args[0])
    if d.keyword in ("no", "default") and d.args:
        return (d.args[0],)
    return (d.keyword,)


def _identity(d: Directive) -> tuple[str, ...]:
    """What a directive sets: lines with the same identity are 'the same thing, changed'."""
    words = d.words[1:] if d.keyword in ("no", "default") and d.args else d.words
    if words[0] in SUBKEYED and len(words) > 1:
        return words[:2]
    return words[:1]


_T = TypeVar("_T")


class _Pool(Generic[_T]):
    """Items to match, indexed by one or more keys; each item is taken at most once.

    Keeps matching linear: a file with thousands of server lines compares in milliseconds.
    """

    def __init__(self, items: Sequence[_T], *keys: Callable[[_T], Hashable]) -> None:
        self._items = list(items)
        self._taken: set[int] = set()
        self._index: list[dict[Hashable, deque[int]]] = []
        for key in keys:
            index: dict[Hashable, deque[int]] = defaultdict(deque)
            for i, item in enumerate(self._items):
                index[key(item)].append(i)
            self._index.append(index)

    def take(self, which: int, key: Hashable) -> _T | None:
        """The first untaken item whose key number ``which`` equals ``key`` (now taken)."""
        queue = self._index[which].get(key)
        while queue:
            i = queue.popleft()
            if i not in self._taken:
                self._taken.add(i)
                return self._items[i]
        return None

    def rest(self) -> list[_T]:
        """Untaken items, in their original order."""
        return [x for i, x in enumerate(self._items) if i not in self._taken]


def _compare_binds(scope: _Scope) -> list[Difference]:
    ou, nu, section, ctx = scope.ou, scope.nu, scope.section, scope.ctx
    out: list[Difference] = []
    pool = _Pool(nu.binds, lambda b: _canon(_mapped(b.directive, ctx)))
    leftover_old: list[Directive] = []
    for ob in ou.binds:
        match = pool.take(0, _canon(ob.directive.words))
        if match is None:
            leftover_old.append(ob.directive)
            continue
        o, n = ob.directive, match.directive
        if (ob.origin, ob.index) != (match.origin, match.index):
            where = (
                f"within `{ob.origin}`" if ob.origin == match.origin
                else f"from `{ob.origin}` to `{match.origin}`"
            )
            extra = "" if _canon(o.words) == _canon(n.words) else (
                "; it differs only by the new node's temporary address")
            out.append(Difference(section, o.text, n.text, o.line, n.line, "ignored", RULE,
                                  f"bind moved {where}; the place of port bindings is "
                                  f"ignored (R27){extra}"))
        elif _canon(o.words) != _canon(n.words):
            out.append(_address_only(section, o, n, ctx))
    out.extend(_leftovers(leftover_old, [b.directive for b in pool.rest()], scope))
    return out


def _compare_set(olds: list[Directive], news: list[Directive], scope: _Scope) -> list[Difference]:
    section, ctx = scope.section, scope.ctx
    out: list[Difference] = []
    pool = _Pool(news, lambda n: _canon(n.words), lambda n: _canon(_mapped(n, ctx)))
    leftover_old: list[Directive] = []
    for o in olds:
        match = pool.take(0, _canon(o.words)) or pool.take(1, _canon(o.words))
        if match is None:
            leftover_old.append(o)
        elif _canon(match.words) != _canon(o.words):
            out.append(_address_only(section, o, match, ctx))
    out.extend(_leftovers(leftover_old, pool.rest(), scope))
    return out


def _compare_sequence(
    olds: list[Directive], news: list[Directive], scope: _Scope
) -> list[Difference]:
    """Rule lists: equal when the mapped word sequences are equal; moves are reported."""
    section, ctx = scope.section, scope.ctx
    a = [_canon(o.words) for o in olds]
    b = [_canon(_mapped(n, ctx)) for n in news]
    out: list[Difference] = []
    deleted: list[int] = []
    inserted: list[int] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            for o, n in zip(olds[i1:i2], news[j1:j2], strict=True):
                if _canon(o.words) != _canon(n.words):
                    out.append(_address_only(section, o, n, ctx))
            continue
        deleted.extend(range(i1, i2))
        inserted.extend(range(j1, j2))
    pool = _Pool(inserted, lambda j: b[j])
    still_deleted: list[Directive] = []
    for i in deleted:
        j = pool.take(0, a[i])
        if j is None:
            still_deleted.append(olds[i])
            continue
        o, moved = olds[i], news[j]
        klass = _klass(o, scope)
        out.append(Difference(
            section, o.text, moved.text, o.line, moved.line, klass, RULE,
            f"`{o.keyword}` rules are evaluated in order and this one moved "
            f"(position {i + 1} → {j + 1})"
            + ("; website forward, not compared (R27)" if klass == "ignored" else ""),
        ))
    out.extend(_leftovers(still_deleted, [news[j] for j in pool.rest()], scope))
    return out


def _leftovers(olds: list[Directive], news: list[Directive], scope: _Scope) -> list[Difference]:
    """Lines without an equal on the other side: paired by identity (changed), else alone."""
    pool = _Pool(news, _identity)
    out = [_changed(o, pool.take(0, _identity(o)), scope) for o in olds]
    out.extend(_changed(None, n, scope) for n in pool.rest())
    return out


def _changed(o: Directive | None, n: Directive | None, scope: _Scope) -> Difference:
    section = scope.section
    d = o if o is not None else n
    assert d is not None
    klass = _klass(d, scope)
    if klass == "attention":
        reason = _attention_reason(section, o, n)
    elif klass == "ignored":
        reason = f"the website forward (port {WEBSITE_PORT}) is not compared (R27)"
    elif o is None:
        reason = f"`{d.keyword}` line only on the new node"
    elif n is None:
        reason = f"`{d.keyword}` line missing on the new node"
    else:
        reason = f"`{' '.join(_identity(d))}` differs"
    return Difference.of_lines(section, o, n, klass=klass, rule=RULE, reason=reason)


def _klass(d: Directive, scope: _Scope) -> Klass:
    if scope.ou.is_website or scope.nu.is_website:
        return "ignored"
    if (
        scope.ctx.sub_region
        and d.keyword in ("server", "server-template")
        and (scope.ou.names | scope.nu.names) & ATTENTION_PROXIES
    ):
        return "attention"
    return "unexpected"


def _attention_reason(section: str, o: Directive | None, n: Directive | None) -> str:
    head = (
        f"sub region (R27): the servers of `{section}` are hand-edited to point at the "
        "global webservices: "
    )
    if o is not None and n is not None:
        return head + f"on the new node replace `{n.text}` with `{o.text}`"
    if o is not None:
        return head + f"on the new node add `{o.text}`"
    assert n is not None
    return head + f"on the new node remove `{n.text}` (the old node has no such server)"


_TIME = re.compile(r"^(?P<n>\d+)(?P<unit>us|ms|s|m|h|d)?$")
_TIME_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_ALL_V4 = ("", "*", "0.0.0.0", "ipv4@", "ipv4@0.0.0.0", "ipv4@*")  # noqa: S104 (a spelling, not a bind)


def _canon(words: tuple[str, ...]) -> tuple[str, ...]:
    """Words as haproxy means them: ``timeout`` values in ms (``5s`` = ``5000``), and a bind
    on every IPv4 address written one way (``:80`` = ``*:80`` = ``0.0.0.0:80``)."""
    if words[0] == "timeout" and len(words) == 3:
        m = _TIME.match(words[2])
        if m:
            ms = int(m.group("n")) * _TIME_MS[m.group("unit") or "ms"]
            return (*words[:2], f"{ms:g}ms")
    if words[0] == "bind" and len(words) > 1:
        addresses = []
        for address in words[1].split(","):
            host, sep, port = address.rpartition(":")
            addresses.append(f"0.0.0.0:{port}" if sep and host in _ALL_V4 else address)
        return (words[0], ",".join(addresses), *words[2:])
    return words


def _mapped(d: Directive, ctx: _Context) -> tuple[str, ...]:
    if not ctx.amap:
        return d.words
    return tuple(ctx.amap.back(w) for w in d.words)


def _address_only(section: str, o: Directive, n: Directive, ctx: _Context) -> Difference:
    return Difference(
        section, o.text, n.text, o.line, n.line, "ignored", RULE,
        "differs only by the new node's temporary address (address map "
        + ", ".join(f"{a}={b}" for a, b in ctx.amap.pairs)
        + ")",
    )


# ---------------------------------------------------------------------------- helpers


def compare_text(
    old_text: str,
    new_text: str,
    *,
    old_file: str = "old/haproxy.cfg",
    new_file: str = "new/haproxy.cfg",
    sub_region: bool = False,
    address_map: AddressMap | None = None,
) -> list[Difference]:
    """Parse both texts (problems of both files at once) and compare them."""
    problems: list[Problem] = []
    configs: list[HaproxyConfig] = []
    for text, file in ((old_text, old_file), (new_text, new_file)):
        try:
            configs.append(parse(text, file))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return compare(configs[0], configs[1], sub_region=sub_region, address_map=address_map)
