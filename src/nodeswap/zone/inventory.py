"""The zone model: nodes, roles, groups, networks, VG, installer version, components. Pure.

Built from the zone's settings files (one ``SettingsFile`` per node, already parsed) plus a few
facts that live outside the settings files (installer version, deployed components, zone
variables). This module decides nothing about the upgrade (that is rules.py); it answers
questions about the zone as it is: which nodes are VMs, VG or KS nodes, which nodes a group name
of ``exec_nodes.sh`` selects (reference §3), every address and MAC in use.

It must not do I/O: sources.py reads files, the CLI reads arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network

from nodeswap.errors import InputError, Problem, SettingsError
from nodeswap.zone import values
from nodeswap.zone.settings import SettingsFile

COMPONENTS = ("boss", "boss2", "warehouse")

# Group names gen_node_list writes besides the fixed ones: a substring match on `role`.
KNOWN_ROLE_GROUPS = (
    "proxy", "webservice", "dnsmaster", "zoocassa", "pgpool", "seed", "vbr", "snapshot",
    "bm", "boss", "vdi", "eipctl", "swctl", "rsserver", "pgmaster", "pgslave",
)

_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_MAC = re.compile(r"(?<![0-9A-Fa-f:])([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})(?![0-9A-Fa-f:])")
_VERSION = re.compile(r"\d+(?:\.\d+){1,2}")


@dataclass(frozen=True, order=True)
class InstallerVersion:
    """The installer's version: 2 or 3 dotted numbers, missing = 0, compared numerically."""

    major: int
    minor: int
    revision: int

    @classmethod
    def parse(cls, text: str, *, source: str = "--installer-version") -> InstallerVersion:
        """Parse ``4.3.1`` or ``3.7``; anything else is an InputError naming the value."""
        value = text.strip()
        if not _VERSION.fullmatch(value):
            raise InputError([Problem(
                f"invalid installer version {text!r}: expected 2 or 3 dotted numbers "
                "such as 4.3.1 or 3.7", file=source, key="installer_version")])
        parts = [int(p) for p in value.split(".")] + [0]
        return cls(parts[0], parts[1], parts[2])

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.revision}"


V4_3 = InstallerVersion(4, 3, 0)


def parse_components(text: str, *, source: str = "--components") -> frozenset[str]:
    """A comma list of deployed optional components: boss (v1), boss2, warehouse."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in COMPONENTS]
    if bad:
        raise InputError([Problem(
            f"unknown component {b!r}: expected a comma list of {', '.join(COMPONENTS)}",
            file=source, key="components") for b in bad])
    return frozenset(names)


@dataclass(frozen=True)
class ZoneFacts:
    """What the zone tells outside its settings files (offline: from arguments and the spec).

    ``answering`` are addresses known to answer ping (gathered at discovery; R16 refuses them).
    ``vip_holder`` is the node holding the role's VIP, when known.
    """

    installer_version: InstallerVersion
    components: frozenset[str] = frozenset()
    vg_mgmt_network_gateway: str | None = None
    vm_base_network: str | None = None
    vip: str | None = None
    vip_holder: str | None = None
    console_url: str | None = None
    answering: frozenset[str] = frozenset()


def _on(value: str | None) -> bool:
    return (value or "").strip().lower() == "on"


@dataclass(frozen=True)
class Node:
    """One node of the zone, as its settings file describes it."""

    name: str
    settings: SettingsFile

    def get(self, key: str) -> str:
        return self.settings.get(key) or ""

    @property
    def role(self) -> str:
        return self.get("role")

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.role.split(",") if r.strip())

    @property
    def address(self) -> str:
        return self.get("mgmt_network_address")

    @property
    def netmask(self) -> str:
        return self.get("mgmt_network_netmask")

    @property
    def physical_host(self) -> str:
        return self.get("physical_host")

    @property
    def zone_id(self) -> str:
        return self.get("zone_id")

    @property
    def is_vm(self) -> bool:
        """A libvirt guest: it names a physical host or a host bridge.

        As gen_node_list does (``vm`` = physical_host_network_interface set): feature_vmnode
        does not tell, since the proxy template and physical KS hosts may both carry "on".
        """
        return bool(self.physical_host or self.get("physical_host_network_interface"))

    @property
    def is_vg(self) -> bool:
        return "vgateway" in self.roles or _on(self.get("feature_vgnode"))

    @property
    def is_hyper(self) -> bool:
        return _on(self.get("feature_hypernode"))

    @property
    def is_ks(self) -> bool:
        """A KS node: a physical node with feature_ksnode on (management VMs carry it too),
        neither a VG node nor a hyper node (as gen_node_list's ``ks`` group: not vgateway,
        not hypernode) — a VG host may carry feature_ksnode="on" as well."""
        return (not self.is_vm and _on(self.get("feature_ksnode")) and not self.is_vg
                and not self.is_hyper)

    @property
    def network(self) -> IPv4Network | None:
        try:
            return IPv4Network(f"{self.address}/{self.netmask}", strict=False)
        except ValueError:
            return None


def _validate(name: str, sf: SettingsFile) -> list[Problem]:
    """Problems of one node file that make the zone model unusable: a file name that is no
    node name, a hostname value that differs from it, and every value problem (values.py:
    types, multi-line values, duplicate keys)."""
    problems = values.settings_problems(sf)
    hostname = sf.get("hostname")
    name_problem = values.node_name_problem(name)
    if name_problem is not None and hostname != name:  # else the hostname line says it
        problems.append(Problem(f"file name {name_problem}", file=sf.path))
    if hostname != name:
        problems.append(Problem(
            f"file name '{values.shown(name)}' differs from its hostname value "
            f"'{values.shown(hostname or '')}' (a settings file must be named after its node)",
            file=sf.path, line=sf.line_of("hostname"), key="hostname"))
    if not sf.get("mgmt_network_address"):
        problems.append(Problem("no mgmt_network_address: every node has one", file=sf.path,
                                line=sf.line_of("mgmt_network_address"),
                                key="mgmt_network_address"))
    return problems


@dataclass(frozen=True)
class Zone:
    """A zone: its nodes (by name, sorted) and its facts. Build with ``Zone.build``."""

    nodes: Mapping[str, Node]
    facts: ZoneFacts

    @classmethod
    def build(cls, files: Mapping[str, SettingsFile], facts: ZoneFacts) -> Zone:
        """The zone from ``{node name: settings}``; every problem of every file at once."""
        problems: list[Problem] = []
        for name in sorted(files):
            problems.extend(_validate(name, files[name]))
        if problems:
            raise SettingsError(problems)
        nodes = {name: Node(name, files[name]) for name in sorted(files)}
        return cls(nodes, facts)

    # ---- questions about nodes -------------------------------------------------------
    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise InputError([Problem(f"unknown node {name!r}: no settings file of that name "
                                      f"(nodes: {', '.join(self.nodes)})")]) from None

    @property
    def installer_version(self) -> InstallerVersion:
        return self.facts.installer_version

    @property
    def components(self) -> frozenset[str]:
        return self.facts.components

    @cached_property
    def vg_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes.values() if n.is_vg)

    @property
    def has_vg(self) -> bool:
        return bool(self.vg_nodes)

    @cached_property
    def ks_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes.values() if n.is_ks)

    @cached_property
    def physical_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes.values() if not n.is_vm)

    def node_by_address(self, address: str) -> Node | None:
        for n in self.nodes.values():
            if n.address == address:
                return n
        return None

    def role_nodes(self, role: str) -> tuple[Node, ...]:
        """The VMs whose role list holds exactly ``role`` (proxy0, proxy1...), sorted."""
        return tuple(n for n in self.nodes.values() if role in n.roles and n.is_vm)

    # ---- everything in use --------------------------------------------------------------
    @cached_property
    def address_index(self) -> Mapping[str, tuple[str, str]]:
        """Every IPv4 address written in any value of any settings file (routes, gateways,
        DNS servers, addresses) -> (node, key) of its first appearance."""
        seen: dict[str, tuple[str, str]] = {}
        for n in self.nodes.values():
            for key, value in n.settings.as_dict().items():
                for m in _IPV4.finditer(value):
                    try:
                        addr = str(IPv4Address(m.group(1)))
                    except ValueError:
                        continue
                    seen.setdefault(addr, (n.name, key))
        return seen

    @cached_property
    def addresses(self) -> frozenset[str]:
        """Every address in use: in any settings file, the VIP, hosts known to answer ping."""
        return frozenset(self.address_index) | self.facts.answering | (
            {self.facts.vip} if self.facts.vip else set())

    @cached_property
    def macs(self) -> frozenset[str]:
        """Every MAC address in any settings file, lowercase."""
        found: set[str] = set()
        for n in self.nodes.values():
            for value in n.settings.as_dict().values():
                found.update(m.group(1).lower() for m in _MAC.finditer(value))
        return frozenset(found)

    # ---- groups (reference §3) ----------------------------------------------------------
    def _zone_of(self, node: Node) -> str:
        if node.zone_id:
            return node.zone_id
        for z in self.zone_ids:
            if node.name.startswith(z + "-"):
                return z
        return ""

    @cached_property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(sorted({n.zone_id for n in self.nodes.values() if n.zone_id}))

    @property
    def is_region(self) -> bool:
        return any(n.get("is_region") == "1" for n in self.nodes.values())

    def _plain_group(self, group: str) -> tuple[str, ...] | None:
        select = _FIXED_GROUPS.get(group)
        if select is None and group in self.role_groups:
            return tuple(n.name for n in self.nodes.values() if group in n.role)
        if select is None:
            return None
        return tuple(n.name for n in self.nodes.values() if select(n))

    @cached_property
    def role_groups(self) -> frozenset[str]:
        """Names written as role groups: the known ones and every role token of the zone."""
        tokens = {r for n in self.nodes.values() for r in n.roles}
        return frozenset(KNOWN_ROLE_GROUPS) | tokens

    def group(self, name: str) -> tuple[str, ...] | None:
        """Members of group ``name`` as exec_nodes.sh sees them, or None if no such group.

        In region mode ``<zone>-<group>`` selects the group's nodes of that zone."""
        plain = self._plain_group(name)
        if plain is not None:
            return plain
        for z in self.zone_ids:
            if name.startswith(z + "-"):
                inner = self._plain_group(name[len(z) + 1:])
                if inner is not None:
                    return tuple(n for n in inner if self._zone_of(self.nodes[n]) == z)
        return None

    def resolve_targets(self, targets: str) -> tuple[str, ...]:
        """A comma list of groups and/or node names -> node names, sorted, deduplicated.

        A group name wins over a node name (as in exec_nodes.sh); every other name must have
        a settings file."""
        out: set[str] = set()
        problems: list[Problem] = []
        for name in (t.strip() for t in targets.split(",")):
            if not name:
                continue
            members = self.group(name)
            if members is not None:
                out.update(members)
            elif name in self.nodes:
                out.add(name)
            else:
                problems.append(Problem(
                    f"unknown node or group {name!r} in targets {targets!r}", key="targets"))
        if problems:
            raise InputError(problems)
        return tuple(sorted(out))

    # ---- identity -----------------------------------------------------------------------
    def fingerprint(self) -> str:
        """sha256 over the canonical inputs: every settings file's text and the facts."""
        facts = self.facts
        body = {
            "files": {name: n.settings.render() for name, n in self.nodes.items()},
            "installer_version": str(facts.installer_version),
            "components": sorted(facts.components),
            "vg_mgmt_network_gateway": facts.vg_mgmt_network_gateway,
            "vm_base_network": facts.vm_base_network,
            "vip": facts.vip,
            "vip_holder": facts.vip_holder,
            "console_url": facts.console_url,
            "answering": sorted(facts.answering),
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


Selector = Callable[[Node], bool]


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


def sorted_names(names: Iterable[str]) -> list[str]:
    """Node names in natural order (proxy2 before proxy10)."""
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t
                                        for t in re.split(r"(\d+)", s)])
