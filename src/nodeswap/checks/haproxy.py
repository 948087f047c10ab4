"""The R27 semantic comparison of two haproxy.cfg files: the diff engine. Pure.

Owns ``compare`` (old, new ``HaproxyConfig`` → ``Difference`` list, each classified with its
rule) and ``compare_text``: it pairs each unit of the old file with the new file's, and within
a unit matches lines as sets or, for rule lists, as sequences, in linear time. What counts as
the same and how a difference is classed and explained (R27) is ``checks/haproxy_rules.py``,
whose docstring says how the comparison sees a file. Reading the files as haproxy does
(``tokenize``, ``parse``, ``render``) is ``checks/haproxy_parse.py``, re-exported here. Must
not do I/O: running ``haproxy -c`` lives in ``checks/validate.py``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Sequence
from difflib import SequenceMatcher
from typing import Generic, TypeVar

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

from .findings import AddressMap, Difference
from .haproxy_parse import (
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
from .haproxy_rules import (
    ATTENTION_PROXIES,
    ORDERED,
    RULE,
    Context,
    Scope,
    Unit,
    address_only,
    canon,
    changed,
    family,
    identity,
    klass_of,
    mapped,
    units,
    whole,
)

__all__ = [
    "ATTENTION_PROXIES", "RULE", "SECTION_KEYWORDS", "TOP_LEVEL", "Directive", "HaproxyConfig",
    "Section", "TokenError", "compare", "compare_text", "mask_secrets", "parse", "quote_word",
    "render", "tokenize",
]


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
    ctx = Context(sub_region, address_map or AddressMap())
    old_units, new_units = units(old), units(new)
    out: list[Difference] = []
    for key, ou in old_units.items():
        nu = new_units.get(key)
        if nu is None:
            out.append(whole(ou, "old", ctx))
        else:
            out.extend(_compare_units(ou, nu, ctx))
    for key, nu in new_units.items():
        if key not in old_units:
            out.append(whole(nu, "new", ctx))
    return out


def _compare_units(ou: Unit, nu: Unit, ctx: Context) -> list[Difference]:
    out: list[Difference] = []
    section = nu.label
    if ou.label != nu.label:
        out.append(
            Difference(section, ou.head.text, nu.head.text, ou.head.line, nu.head.line,
                       "ignored", RULE,
                       _("section layout changed (`{old}` → `{new}`); its contents are "
                         "compared as one proxy (R27)").format(old=ou.label, new=nu.label))
        )
    scope = Scope(section, ou, nu, ctx)
    out.extend(_compare_binds(scope))
    families = sorted({family(d) for d in (*ou.directives, *nu.directives)})
    for fam in families:
        olds = [d for d in ou.directives if family(d) == fam]
        news = [d for d in nu.directives if family(d) == fam]
        if fam[0] in ORDERED:
            out.extend(_compare_sequence(olds, news, scope))
        else:
            out.extend(_compare_set(olds, news, scope))
    return sorted(out, key=lambda d: (d.old_line or 0, d.new_line or 0))


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


def _compare_binds(scope: Scope) -> list[Difference]:
    ou, nu, section, ctx = scope.ou, scope.nu, scope.section, scope.ctx
    out: list[Difference] = []
    pool = _Pool(nu.binds, lambda b: canon(mapped(b.directive, ctx)))
    leftover_old: list[Directive] = []
    for ob in ou.binds:
        match = pool.take(0, canon(ob.directive.words))
        if match is None:
            leftover_old.append(ob.directive)
            continue
        o, n = ob.directive, match.directive
        if (ob.origin, ob.index) != (match.origin, match.index):
            where = (
                f"within `{ob.origin}`" if ob.origin == match.origin
                else f"from `{ob.origin}` to `{match.origin}`"
            )
            extra = "" if canon(o.words) == canon(n.words) else (
                "; it differs only by the new node's temporary address")
            out.append(Difference(section, o.text, n.text, o.line, n.line, "ignored", RULE,
                                  _("bind moved {where}; the place of port bindings is ignored "
                                    "(R27){extra}").format(where=where, extra=extra)))
        elif canon(o.words) != canon(n.words):
            out.append(address_only(section, o, n, ctx))
    out.extend(_leftovers(leftover_old, [b.directive for b in pool.rest()], scope))
    return out


def _compare_set(olds: list[Directive], news: list[Directive], scope: Scope) -> list[Difference]:
    section, ctx = scope.section, scope.ctx
    out: list[Difference] = []
    pool = _Pool(news, lambda n: canon(n.words), lambda n: canon(mapped(n, ctx)))
    leftover_old: list[Directive] = []
    for o in olds:
        match = pool.take(0, canon(o.words)) or pool.take(1, canon(o.words))
        if match is None:
            leftover_old.append(o)
        elif canon(match.words) != canon(o.words):
            out.append(address_only(section, o, match, ctx))
    out.extend(_leftovers(leftover_old, pool.rest(), scope))
    return out


def _compare_sequence(
    olds: list[Directive], news: list[Directive], scope: Scope
) -> list[Difference]:
    """Rule lists: equal when the mapped word sequences are equal; moves are reported."""
    section, ctx = scope.section, scope.ctx
    a = [canon(o.words) for o in olds]
    b = [canon(mapped(n, ctx)) for n in news]
    out: list[Difference] = []
    deleted: list[int] = []
    inserted: list[int] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            for o, n in zip(olds[i1:i2], news[j1:j2], strict=True):
                if canon(o.words) != canon(n.words):
                    out.append(address_only(section, o, n, ctx))
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
        klass = klass_of(o, scope)
        out.append(Difference(
            section, o.text, moved.text, o.line, moved.line, klass, RULE,
            _("`{keyword}` rules are evaluated in order and this one moved (position {old} → "
              "{new})").format(keyword=o.keyword, old=i + 1, new=j + 1)
            + (_("; website forward, not compared (R27)") if klass == "ignored" else ""),
        ))
    out.extend(_leftovers(still_deleted, [news[j] for j in pool.rest()], scope))
    return out


def _leftovers(olds: list[Directive], news: list[Directive], scope: Scope) -> list[Difference]:
    """Lines without an equal on the other side: paired by identity (changed), else alone."""
    pool = _Pool(news, identity)
    out = [changed(o, pool.take(0, identity(o)), scope) for o in olds]
    out.extend(changed(None, n, scope) for n in pool.rest())
    return out




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
