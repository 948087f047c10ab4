"""VIP watch (R23): which node holds the keepalived VIP, from ``ip addr`` output. Pure.

Owns ``addresses`` (``ip addr`` / ``ip -o addr`` text → (interface, address) pairs),
``holds_vip``, ``keepalived_state`` (a keepalived log or state file → MASTER/BACKUP/FAULT)
and ``check_holders`` (per-node outputs → findings), ``check_one_holder`` (the last look
before R32). Must not do I/O.

R23 warns that installing pitrix-ks-proxy on the new pair can disturb the VIP and make the
console unreachable. Findings (all *unexpected*, rule R23): a new node still at its
temporary address holds the VIP (with the remedy), nobody holds it, more than one node
holds it (split brain).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nodeswap.i18n import _

from .findings import Difference, Klass

RULE = "R23"
# `2: eth0    inet 10.16.0.2/24 brd ... scope global eth0` (ip -o) or the indented
# `    inet 10.16.0.100/32 scope global eth0` (ip addr); the label ends the line.
_INET = re.compile(r"\binet (?P<addr>\d{1,3}(?:\.\d{1,3}){3})(?:/\d+)?\b(?P<rest>.*)$")
_IFACE_HEAD = re.compile(r"^\d+:\s+(?P<iface>[^:@\s]+)")
_STATE = re.compile(r"\b(?:Entering\s+)?(?P<state>MASTER|BACKUP|FAULT)(?:\s+STATE)?\b")


@dataclass(frozen=True)
class Holding:
    """A node's view: does it hold the VIP, on which interface."""

    node: str
    holds: bool
    interface: str | None


def addresses(text: str) -> list[tuple[str, str]]:
    """(interface, IPv4 address) pairs found in ``ip addr`` or ``ip -o addr`` output."""
    out: list[tuple[str, str]] = []
    iface = ""
    for raw in text.splitlines():
        head = _IFACE_HEAD.match(raw)
        if head:
            iface = head.group("iface")
        m = _INET.search(raw)
        if m:
            out.append((iface, m.group("addr")))
    return out


def holds_vip(text: str, vip: str) -> Holding:
    """Whether the ``ip addr`` output shows ``vip`` on one of the node's interfaces."""
    for iface, addr in addresses(text):
        if addr == vip:
            return Holding("", True, iface or None)
    return Holding("", False, None)


def keepalived_state(text: str) -> str | None:
    """The last keepalived VRRP state named in ``text`` (log lines or a state file)."""
    states = [m.group("state") for m in _STATE.finditer(text)]
    return states[-1] if states else None


def remedy(node: str, vip: str) -> str:
    """What to do when a new node at its temporary address holds the VIP (R23)."""
    return (
        f"new node {node} at its temporary address holds the VIP {vip}: stop keepalived "
        f"on {node} now (`service keepalived stop`), check the VIP is back on an old proxy "
        "(`ip addr` there) and the console answers (R36), then continue"
    )


def check_holders(
    outputs: Mapping[str, str], vip: str, temporary: Iterable[str] = ()
) -> list[Difference]:
    """Findings from every proxy node's ``ip addr`` output (node name → text)."""
    temporary = set(temporary)
    holders = [n for n, text in outputs.items() if holds_vip(text, vip).holds]
    out = [_finding(n, vip, remedy(n, vip)) for n in holders if n in temporary]
    if not holders:
        out.append(_finding("", vip, _("no proxy node holds the VIP {vip}: the console is "
                                       "unreachable; check keepalived on the old proxies"
                                       ).format(vip=vip)))
    elif len(holders) > 1:
        out.append(_finding(",".join(holders), vip, _("more than one node holds the VIP {vip} "
                                                      "({holders}): split brain, stop "
                                                      "keepalived on the new nodes").format(
                                vip=vip, holders=", ".join(holders))))
    return out


def check_one_holder(outputs: Mapping[str, str], vip: str, temporary: Iterable[str] = (),
                     rule: str = "R32") -> list[Difference]:
    """The last look before R32 (per host label → its ``ip addr`` output): exactly one host
    holds the VIP (none: the console is down; several: split brain; both *unexpected*). A
    new VM at its temporary address holding it is reported (*attention*), not fatal: the
    zone is served, and R32/R33 give that node the old address."""
    temporary = set(temporary)
    holders = [h for h, text in outputs.items() if holds_vip(text, vip).holds]
    if not holders:
        return [_finding("", vip, _("no proxy holds the VIP {vip}: the console is unreachable; "
                                    "check keepalived before stopping an old node"
                                    ).format(vip=vip), rule=rule)]
    if len(holders) > 1:
        return [_finding(",".join(holders), vip, _("more than one host holds the VIP {vip} "
                                                   "({holders}): split brain; stop keepalived "
                                                   "on the new nodes before stopping an old "
                                                   "node").format(
                             vip=vip, holders=", ".join(holders)), rule=rule)]
    if holders[0] in temporary:
        return [_finding(holders[0], vip, _("the new VM {node} (temporary address) holds "
                                            "the VIP {vip}; it serves the zone now (reported, "
                                            "not fatal)").format(node=holders[0], vip=vip),
                         klass="attention", rule=rule)]
    return []


def check_node(text: str, vip: str, node: str, temporary: bool) -> list[Difference]:
    """Finding for one node: a new node at a temporary address must not hold the VIP."""
    held = holds_vip(text, vip)
    if held.holds and temporary:
        return [_finding(node, vip, remedy(node, vip), held.interface)]
    return []


def _finding(node: str, vip: str, reason: str, iface: str | None = None, *,
             klass: Klass = "unexpected", rule: str = RULE) -> Difference:
    where = f"{vip} on {iface}" if iface else vip
    return Difference(f"vip {node}".strip(), None, where, None, None, klass, rule, reason)
