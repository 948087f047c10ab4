"""exec_nodes.sh's node groups (reference §3): which nodes a group name selects. Pure.

Owns the fixed groups gen_node_list writes (all, phy, vm, ks, vg, hyper, dns, non-…), the
role groups (a substring match on ``role``), region mode's ``<zone>-<group>`` names, and
``resolve_targets`` (a comma list of groups and node names, as exec_nodes.sh takes it). It asks
the zone model (inventory.py) about nodes and must not do I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.zone.inventory import Node, Zone

# Group names gen_node_list writes besides the fixed ones: a substring match on `role`.
KNOWN_ROLE_GROUPS = (
    "proxy", "webservice", "dnsmaster", "zoocassa", "pgpool", "seed", "vbr", "snapshot",
    "bm", "boss", "vdi", "eipctl", "swctl", "rsserver", "pgmaster", "pgslave",
)

Selector = Callable[[Node], bool]


def group(zone: Zone, name: str) -> tuple[str, ...] | None:
    """Members of group ``name`` as exec_nodes.sh sees them, or None if no such group.

    In region mode ``<zone>-<group>`` selects the group's nodes of that zone."""
    plain = _plain_group(zone, name)
    if plain is not None:
        return plain
    for z in zone.zone_ids:
        if name.startswith(z + "-"):
            inner = _plain_group(zone, name[len(z) + 1:])
            if inner is not None:
                return tuple(n for n in inner if zone.zone_of(zone.nodes[n]) == z)
    return None


def resolve_targets(zone: Zone, targets: str) -> tuple[str, ...]:
    """A comma list of groups and/or node names -> node names, sorted, deduplicated.

    A group name wins over a node name (as in exec_nodes.sh); every other name must have
    a settings file."""
    out: set[str] = set()
    problems: list[Problem] = []
    for name in (t.strip() for t in targets.split(",")):
        if not name:
            continue
        members = group(zone, name)
        if members is not None:
            out.update(members)
        elif name in zone.nodes:
            out.add(name)
        else:
            problems.append(Problem(
                _("unknown node or group {name!r} in targets {targets!r}").format(
                    name=name, targets=targets), key="targets"))
    if problems:
        raise InputError(problems)
    return tuple(sorted(out))


def role_groups(zone: Zone) -> frozenset[str]:
    """Names written as role groups: the known ones and every role token of the zone."""
    tokens = {r for n in zone.nodes.values() for r in n.roles}
    return frozenset(KNOWN_ROLE_GROUPS) | tokens


def _plain_group(zone: Zone, name: str) -> tuple[str, ...] | None:
    select = _FIXED_GROUPS.get(name)
    if select is None and name in role_groups(zone):
        return tuple(n.name for n in zone.nodes.values() if name in n.role)
    if select is None:
        return None
    return tuple(n.name for n in zone.nodes.values() if select(n))


def _phy(n: Node) -> bool:
    return not n.get("physical_host_network_interface")


def _ks_group(n: Node) -> bool:
    return not n.is_hyper and "vgateway" not in n.role


def _vg_group(n: Node) -> bool:
    return "vgateway" in n.role


def _hyper_group(n: Node) -> bool:
    return n.is_hyper


def _mode(mode: str) -> Selector:
    return lambda n: n.is_hyper and n.get("container_mode") == mode


def _non(sel: Selector, *, phy: bool = False) -> Selector:
    return lambda n: not sel(n) and (not phy or _phy(n))


# The fixed groups gen_node_list writes (reference §3); other names are role substrings.
_FIXED_GROUPS: dict[str, Selector] = {
    "all": lambda n: True,
    "phy": _phy,
    "vm": lambda n: not _phy(n),
    "ks": _ks_group,
    "vg": _vg_group,
    "vgateway": _vg_group,
    "hyper": _hyper_group,
    "pgserver": lambda n: any(r in n.role for r in ("pgserver", "pgmaster", "pgslave")),
    "dns": lambda n: "dnsmaster" in n.role or "dnsslave" in n.role,
    # quirk: "ks-vm" selects KS *physical* nodes without IPMI
    "ks-vm": lambda n: _phy(n) and _ks_group(n) and not n.get("bm_ipmi_address"),
    **{f"hyper-{m}": _mode(m) for m in ("pair", "repl", "sanc", "local")},
    **{f"non-{name}": _non(sel) for name, sel in
       (("ks", _ks_group), ("vg", _vg_group), ("hyper", _hyper_group))},
    **{f"non-{name}-phy": _non(sel, phy=True) for name, sel in
       (("ks", _ks_group), ("vg", _vg_group), ("hyper", _hyper_group))},
}
