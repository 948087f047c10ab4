"""R27's rules for two haproxy.cfg files: what is the same, and how a difference is classed. Pure.

Owns how the comparison sees a file (its units, each directive's family and identity, words by
meaning) and how a difference is classified and explained (``klass_of``, ``changed``,
``whole``, ``address_only``). The matching of old lines with new ones is ``checks/haproxy.py``;
reading the files is ``checks/haproxy_parse.py``. Must not do I/O.

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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from nodeswap.i18n import _

from .findings import AddressMap, Difference, Klass
from .haproxy_parse import CONDITIONALS, Directive, HaproxyConfig, Section

RULE = "R27"

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


# ---------------------------------------------------------------------------- units


@dataclass(frozen=True)
class Bind:
    directive: Directive
    origin: str  # section label it sits in, "+line" when it is the section line's address
    index: int  # its position among its section's directives (-1: the section line)


@dataclass(frozen=True)
class Unit:
    """What is compared as one: a proxy (listen, or frontend + its only backend) or a section."""

    key: str
    label: str
    names: frozenset[str]
    directives: tuple[Directive, ...]  # binds excluded
    binds: tuple[Bind, ...]
    head: Section

    @property
    def is_website(self) -> bool:
        if any("website" in n for n in self.names):
            return True
        ports = (_port(b.directive.args[0]) for b in self.binds if b.directive.args)
        return WEBSITE_PORT in ports


def _website() -> str:
    return _("the website forward (port {port}) is not compared (R27)")


def _port(address: str) -> str:
    return address.rsplit(":", 1)[-1] if ":" in address else ""


def units(config: HaproxyConfig) -> dict[str, Unit]:
    """The comparison units of a config, keyed so both files' units meet by key."""
    merge = _merges(config)
    merged_backends = set(merge.values())
    units: dict[str, Unit] = {}
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
            unit = Unit(key, first.label, first.names, first.directives + unit.directives,
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


def _unit(key: str, parts: Sequence[Section], drop_default_backend: bool) -> Unit:
    binds: list[Bind] = []
    rest: list[Directive] = []
    for sec in parts:
        if sec.kind in ("frontend", "listen") and sec.args:
            # old syntax: `listen NAME ADDR[,ADDR...]` binds on the section line
            for address in sec.args[0].split(","):
                d = Directive(("bind", address, *sec.args[1:]), sec.line, sec.text)
                binds.append(Bind(d, sec.label + " (section line)", -1))
        for index, d in enumerate(sec.directives):
            if d.keyword == "bind":
                binds.append(Bind(d, sec.label, index))
            elif not (drop_default_backend and d.keyword == "default_backend"):
                rest.append(d)
    label = " + ".join(p.label for p in parts)
    names = frozenset(p.name for p in parts)
    return Unit(key, label, names, tuple(rest), tuple(binds), parts[0])


# ---------------------------------------------------------------------------- lines


@dataclass(frozen=True)
class Context:
    """What the comparison knows besides the files: a sub region, the temporary addresses."""

    sub_region: bool
    amap: AddressMap


@dataclass(frozen=True)
class Scope:
    """The pair of units being compared, with the comparison's context."""

    section: str
    ou: Unit
    nu: Unit
    ctx: Context


def family(d: Directive) -> tuple[str, ...]:
    if d.keyword in CONDITIONALS:
        return ("conditional",)
    if d.keyword in ("tcp-request", "tcp-response") and d.args:
        return (d.keyword, d.args[0])
    if d.keyword in ("no", "default") and d.args:
        return (d.args[0],)
    return (d.keyword,)


def identity(d: Directive) -> tuple[str, ...]:
    """What a directive sets: lines with the same identity are 'the same thing, changed'."""
    words = d.words[1:] if d.keyword in ("no", "default") and d.args else d.words
    if words[0] in SUBKEYED and len(words) > 1:
        return words[:2]
    return words[:1]


_TIME = re.compile(r"^(?P<n>\d+)(?P<unit>us|ms|s|m|h|d)?$")
_TIME_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_ALL_V4 = ("", "*", "0.0.0.0", "ipv4@", "ipv4@0.0.0.0", "ipv4@*")  # noqa: S104 (a spelling, not a bind)


def canon(words: tuple[str, ...]) -> tuple[str, ...]:
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


def mapped(d: Directive, ctx: Context) -> tuple[str, ...]:
    if not ctx.amap:
        return d.words
    return tuple(ctx.amap.back(w) for w in d.words)


# ---------------------------------------------------------------------------- classifying


def whole(unit: Unit, side: str, ctx: Context) -> Difference:
    """A section present on one side only: its whole text, so it can be recreated."""
    lines = sorted({(d.line, d.text) for d in (*unit.directives,
                                               *(b.directive for b in unit.binds))})
    text = "\n".join([unit.head.text,
                      *("    " + t for line, t in lines if line != unit.head.line)])
    if unit.is_website:
        klass: Klass = "ignored"
        reason = _website().format(port=WEBSITE_PORT)
    else:
        klass = "unexpected"
        where = (
            "the old node only (a hand edit the package does not recreate?): recreate it on "
            "the new node if it is still needed" if side == "old"
            else "the new node only: the old node does not have it"
        )
        reason = _("section `{label}` is on {where}").format(label=unit.label, where=where)
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


def changed(o: Directive | None, n: Directive | None, scope: Scope) -> Difference:
    section = scope.section
    d = o if o is not None else n
    assert d is not None
    klass = klass_of(d, scope)
    if klass == "attention":
        reason = _attention_reason(section, o, n)
    elif klass == "ignored":
        reason = _website().format(port=WEBSITE_PORT)
    elif o is None:
        reason = _("`{keyword}` line only on the new node").format(keyword=d.keyword)
    elif n is None:
        reason = _("`{keyword}` line missing on the new node").format(keyword=d.keyword)
    else:
        reason = _("`{line}` differs").format(line=" ".join(identity(d)))
    return Difference.of_lines(section, o, n, klass=klass, rule=RULE, reason=reason)


def klass_of(d: Directive, scope: Scope) -> Klass:
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
    head = _("sub region (R27): the servers of `{section}` are hand-edited to point at the "
             "global webservices: ").format(section=section)
    if o is not None and n is not None:
        return head + _("on the new node replace `{new}` with `{old}`").format(new=n.text,
                                                                                 old=o.text)
    if o is not None:
        return head + _("on the new node add `{old}`").format(old=o.text)
    assert n is not None
    return head + _("on the new node remove `{new}` (the old node has no such server)").format(
        new=n.text)


def address_only(section: str, o: Directive, n: Directive, ctx: Context) -> Difference:
    return Difference(
        section, o.text, n.text, o.line, n.line, "ignored", RULE,
        _("differs only by the new node's temporary address (address map {pairs})").format(
            pairs=", ".join(f"{a}={b}" for a, b in ctx.amap.pairs)),
    )
