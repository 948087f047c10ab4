"""The zone model: nodes, roles, networks, VG, installer version, components. Pure.

Built from the zone's settings files (one ``SettingsFile`` per node, already parsed) plus a few
facts that live outside the settings files (installer version, deployed components, zone
variables). This module decides nothing about the upgrade (that is rules.py); it answers
questions about the zone as it is: which nodes are VMs, VG or KS nodes, every address and MAC
in use. Which nodes a group name of ``exec_nodes.sh`` selects (reference §3) is groups.py.

It must not do I/O: sources.py reads files, the CLI reads arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network

from nodeswap.errors import InputError, Problem, SettingsError
from nodeswap.i18n import _
from nodeswap.zone import values
from nodeswap.zone.settings import SettingsFile

COMPONENTS = ("boss", "boss2", "warehouse")

_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_MAC = re.compile(r"(?<![0-9A-Fa-f:])([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})(?![0-9A-Fa-f:])")
_VERSION = re.compile(r"\d+(?:\.\d+){1,2}")
_RACK_SLOT = re.compile(r"r\d+n\d+")  # a physical host's name after its zone id (zz1ar01n03)


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
                _("invalid installer version {text!r}: expected 2 or 3 dotted numbers such as "
                  "4.3.1 or 3.7").format(text=text), file=source, key="installer_version")])
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
            _("unknown component {name!r}: expected a comma list of {components}").format(
                name=b, components=", ".join(COMPONENTS)),
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
        problems.append(Problem(_("file name {problem}").format(problem=name_problem),
                                file=sf.path))
    if hostname != name:
        problems.append(Problem(
            _("file name '{name}' differs from its hostname value '{hostname}' (a settings file "
              "must be named after its node)").format(name=values.shown(name),
                                                      hostname=values.shown(hostname or "")),
            file=sf.path, line=sf.line_of("hostname"), key="hostname"))
    if not sf.get("mgmt_network_address"):
        problems.append(Problem(_("no mgmt_network_address: every node has one"), file=sf.path,
                                line=sf.line_of("mgmt_network_address"),
                                key="mgmt_network_address"))
    return problems


@dataclass(frozen=True)
class Zone:
    """A zone: its nodes (by name, sorted) and its facts. Build with ``Zone.build``.

    On a firstbox that manages several zones (a region), ``scoped`` keeps one zone's nodes in
    ``nodes``; the other zones' nodes move to ``outside``: no rule picks them (role nodes,
    hosts, KS and VG nodes), but their addresses and MACs stay in use (R9, R16) and their files
    stay in the fingerprint (the settings folder is one for the region).
    """

    nodes: Mapping[str, Node]
    facts: ZoneFacts
    outside: Mapping[str, Node] = field(default_factory=dict)

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
            raise InputError([Problem(_("unknown node {name!r}: no settings file of that name "
                                        "(nodes: {nodes})").format(
                name=name, nodes=", ".join(self.nodes)))]) from None

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

    # ---- zones of a region ----------------------------------------------------------------
    @property
    def all_nodes(self) -> Mapping[str, Node]:
        """Every node of the settings folder: this zone's and, when scoped, the others'."""
        return dict(sorted({**self.nodes, **self.outside}.items()))

    def zone_of(self, node: Node) -> str:
        """The node's zone: its zone_id, else the zone id that prefixes its name (region
        mode's ``<zone>-proxy0``, reference §3; a physical host's ``<zone>r01n03``, §1),
        else "" (unknown)."""
        if node.zone_id:
            return node.zone_id
        for z in self.region_zone_ids:
            rest = node.name[len(z):] if node.name.startswith(z) else None
            if rest is not None and (rest.startswith("-") or _RACK_SLOT.fullmatch(rest)):
                return z
        return ""

    def scoped(self, zone_id: str) -> Zone:
        """This zone reduced to the nodes of ``zone_id`` (and the nodes whose zone is unknown);
        every other node moves to ``outside``."""
        everything = self.all_nodes
        inside = {k: n for k, n in everything.items() if self.zone_of(n) in (zone_id, "")}
        rest = {k: n for k, n in everything.items() if k not in inside}
        return Zone(inside, self.facts, rest)

    # ---- everything in use --------------------------------------------------------------
    @cached_property
    def address_index(self) -> Mapping[str, tuple[str, str]]:
        """Every IPv4 address written in any value of any settings file (routes, gateways,
        DNS servers, addresses) -> (node, key) of its first appearance."""
        seen: dict[str, tuple[str, str]] = {}
        for n in (*self.nodes.values(), *self.outside.values()):
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
        """Every MAC address in any settings file (of any zone of a region), lowercase."""
        found: set[str] = set()
        for n in (*self.nodes.values(), *self.outside.values()):
            for value in n.settings.as_dict().values():
                found.update(m.group(1).lower() for m in _MAC.finditer(value))
        return frozenset(found)

    # ---- the zone's identity and mode ---------------------------------------------------
    @cached_property
    def zone_ids(self) -> tuple[str, ...]:
        """The zone ids this zone's settings files name (one, once ``scoped``)."""
        return tuple(sorted({n.zone_id for n in self.nodes.values() if n.zone_id}))

    @cached_property
    def region_zone_ids(self) -> tuple[str, ...]:
        """The zone ids of every settings file of the folder, the other zones' included."""
        return tuple(sorted({n.zone_id for n in self.all_nodes.values() if n.zone_id}))

    @property
    def is_region(self) -> bool:
        return any(n.get("is_region") == "1" for n in self.nodes.values())

    # ---- identity -----------------------------------------------------------------------
    def fingerprint(self) -> str:
        """sha256 over the canonical inputs: every settings file's text and the facts."""
        facts = self.facts
        body = {
            "files": {name: n.settings.render() for name, n in self.all_nodes.items()},
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


def sorted_names(names: Iterable[str]) -> list[str]:
    """Node names in natural order (proxy2 before proxy10)."""
    return sorted(names, key=lambda s: [int(t) if t.isdigit() else t
                                        for t in re.split(r"(\d+)", s)])
