"""rc.local, rc.local.head, rc.local.tail of the old and new node, compared line by line (R28).

Pure. Owns ``parse`` (text → significant lines: blank lines, full-line comments and trailing
whitespace dropped, line numbers kept) and ``compare`` (old, new → ``Difference`` list).
Must not do I/O.

Order matters (a shell script runs top to bottom), so lines are compared as a sequence; a
line present on both sides at another place is reported as moved. Classes:

- *attention* (R28): a line equal to the old one once the new node's temporary address is
  mapped back. Unlike haproxy.cfg (which binds 0.0.0.0) such a line is wrong after the
  switch: ``install_nodes.sh`` wrote the temporary address into ``vm_network_routing_rule``
  (``ip route add ... src <temporary>``) in rc.local.tail, and the runbook's switch (R31)
  edits only ``/etc/network/interfaces`` (reference/pitrix.md §8). The reason names the edit.
  When the plan itself rewrites the file at the switch (``rewritten_at_switch``: nodeswap's
  R31 step also fixes rc.local.tail), such a line is *ignored*, and the reason says so.
- *unexpected* (R28): every other difference (a hand-made line on the old node the package
  does not recreate, a missing route...).

Lines are compared as they are, but shown with secrets masked (``curl -u backup:***``,
``nodeswap.transport.redact``); a line that differs only in a secret says so in its reason.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from nodeswap.i18n import _
from nodeswap.transport.redact import Redactor

from .findings import AddressMap, Difference

RULE = "R28"
RC_FILES = ("rc.local", "rc.local.head", "rc.local.tail")
_REDACT = Redactor()


@dataclass(frozen=True)
class RcLine:
    """One significant line of an rc file (trailing whitespace removed) and its number."""

    text: str
    line: int


def parse(text: str) -> tuple[RcLine, ...]:
    """The significant lines of an rc file (none for an empty or absent file: the runbook
    fetches these files with "cat if present", and a node may have no rc.local.head)."""
    return tuple(
        RcLine(raw.rstrip(), number)
        for number, raw in enumerate(text.splitlines(), start=1)
        if raw.strip() and not raw.lstrip().startswith("#")
    )


def compare(
    old: tuple[RcLine, ...],
    new: tuple[RcLine, ...],
    *,
    section: str = "rc.local",
    address_map: AddressMap | None = None,
    rewritten_at_switch: bool = False,
) -> list[Difference]:
    """Every difference between the old and new node's rc file, classified (R28)."""
    amap = address_map or AddressMap()
    a = [o.text for o in old]
    b = [amap.back(n.text) for n in new]
    out: list[Difference] = []
    deleted: list[RcLine] = []
    inserted: list[RcLine] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(
                _temporary(section, o, n, amap, rewritten_at_switch)
                for o, n in zip(old[i1:i2], new[j1:j2], strict=True)
                if o.text != n.text
            )
        else:
            deleted.extend(old[i1:i2])
            inserted.extend(new[j1:j2])
    by_text: dict[str, deque[RcLine]] = defaultdict(deque)
    for n in inserted:
        by_text[amap.back(n.text)].append(n)
    moved: set[int] = set()
    still_deleted: list[RcLine] = []
    for o in deleted:
        queue = by_text.get(o.text)
        if not queue:
            still_deleted.append(o)
            continue
        n = queue.popleft()
        moved.add(n.line)
        out.append(_diff(section, o, n, _("line moved: rc files run top to bottom, "
                         "so the order can matter")))
    rest = [n for n in inserted if n.line not in moved]
    out.extend(_pair_changes(section, still_deleted, rest))
    return sorted((_masked(d) for d in out), key=lambda d: (d.old_line or 0, d.new_line or 0))


def _masked(d: Difference) -> Difference:
    """``d`` as it may be shown: its lines with secrets masked."""
    old = None if d.old is None else _REDACT(d.old)
    new = None if d.new is None else _REDACT(d.new)
    if (old, new) == (d.old, d.new):
        return d
    reason = d.reason
    if old is not None and old == new and d.old != d.new:
        reason += _(" (in a secret, shown as ***)")
    return replace(d, old=old, new=new, reason=reason)


def compare_text(
    old_text: str,
    new_text: str,
    *,
    old_file: str = "old/rc.local",
    new_file: str = "new/rc.local",
    section: str = "rc.local",
    address_map: AddressMap | None = None,
    rewritten_at_switch: bool = False,
) -> list[Difference]:
    """Parse both texts and compare them (``old_file``/``new_file`` name them in reasons)."""
    old, new = parse(old_text), parse(new_text)
    out = compare(old, new, section=section, address_map=address_map,
                  rewritten_at_switch=rewritten_at_switch)
    for lines, file in ((old, old_file), (new, new_file)):
        if not lines and (old or new):
            out = [_note_absent(d, file) for d in out]
    return out


def _note_absent(d: Difference, file: str) -> Difference:
    return replace(d, reason=d.reason + _(" ({file} is empty or absent)").format(file=file))


def _pair_changes(
    section: str, deleted: list[RcLine], inserted: list[RcLine]
) -> list[Difference]:
    """Lines without an equal: a line whose first word matches is 'changed', else alone."""
    out: list[Difference] = []
    by_head: dict[str, deque[RcLine]] = defaultdict(deque)
    for n in inserted:
        by_head[_head(n.text)].append(n)
    paired: set[int] = set()
    for o in deleted:
        queue = by_head.get(_head(o.text))
        if queue:
            n = queue.popleft()
            paired.add(n.line)
            out.append(_diff(section, o, n, _("line differs")))
        else:
            out.append(_diff(section, o, None, _("line missing on the new node")))
    out.extend(_diff(section, None, n, _("line only on the new node"))
               for n in inserted if n.line not in paired)
    return out


def _head(text: str) -> str:
    words = _REDACT.line(text).split()  # `curl -u u:A` and `curl -u u:B` pair as changed
    return " ".join(words[:3]) if words else ""


def _diff(section: str, o: RcLine | None, n: RcLine | None, reason: str) -> Difference:
    return Difference.of_lines(section, o, n, klass="unexpected", rule=RULE, reason=reason)


def _temporary(section: str, o: RcLine, n: RcLine, amap: AddressMap,
               rewritten_at_switch: bool) -> Difference:
    pairs = ", ".join(_("{old} (now {new})").format(old=old, new=new)
                      for old, new in amap.pairs if new in n.text)
    if rewritten_at_switch:
        return Difference(
            section, o.text, n.text, o.line, n.line, "ignored", RULE,
            _("differs only by the new node's temporary address, which the plan's switch step "
              "(R31) rewrites to the old address {pairs}").format(pairs=pairs))
    return Difference(
        section, o.text, n.text, o.line, n.line, "attention", RULE,
        _("differs only by the new node's temporary address; after the switch it must read the "
          "old address {pairs}: edit this line on the new node when switching (R30-R31 change "
          "only the interfaces file)").format(pairs=pairs),
    )
