"""Zone + spec -> Plan: apply the rules (R7-R17) per node, then the runbook's steps. Pure.

``build_plan`` is a pure function of its inputs (the date for R6's backup folder included), so
the same zone and spec always give the same plan, byte for byte. Every rule problem of every
node is collected and raised at once as one RuleError.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from nodeswap.errors import BugError, InputError, Problem, RuleError
from nodeswap.i18n import _
from nodeswap.plan.model import NodePlan, Plan, PlannedFile, ZoneId
from nodeswap.runbooks import common, runbook_for
from nodeswap.runbooks.base import Context, NodeContext
from nodeswap.runbooks.commands import settings_path
from nodeswap.zone import values
from nodeswap.zone.groups import group
from nodeswap.zone.inventory import V4_3, Node, Zone, sorted_names
from nodeswap.zone.settings import SettingsFile

from . import rules

if TYPE_CHECKING:  # the spec is pydantic, whose plugin registry loads importlib.metadata
    from nodeswap.plan.spec import Spec

T = TypeVar("T")


@dataclass(frozen=True)
class Choices:
    """R9, R12, R13, R16 decisions for all nodes of the role."""

    hosts: dict[str, str]
    temps: dict[str, str]
    eips: dict[str, str | None]
    macs: dict[str, tuple[str, str | None]]


def _collect(problems: list[Problem], fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except InputError as exc:
        problems.extend(exc.problems)
        return None


def _s(value: object | None) -> str | None:
    return None if value is None else str(value)


def scope_zone(zone: Zone, spec: Spec) -> Zone:
    """The zone the plan is for (R2, R5): on a firstbox that manages several zones (a region),
    one plan replaces one zone's nodes. ``spec.zone`` names it; without it, the zone the role's
    nodes are in, refused when they are in several. The other zones' nodes stay known as
    ``outside`` (their addresses and MACs are in use) but no rule picks them."""
    if spec.zone is not None:
        if spec.zone not in zone.region_zone_ids:
            raise RuleError([Problem(
                _("zone {zone} is not a zone of these settings files (zones: {zones})").format(
                    zone=repr(spec.zone), zones=", ".join(zone.region_zone_ids)
                    or _("none named")), file=spec.path,
                key="zone", rule="R2")])
        return zone.scoped(spec.zone)
    by_zone: dict[str, list[str]] = {}
    for node in zone.role_nodes(spec.role):
        by_zone.setdefault(zone.zone_of(node), []).append(node.name)
    named = sorted(z for z in by_zone if z)
    if len(named) > 1:
        spread = "; ".join(f"{z}: {', '.join(sorted_names(by_zone[z]))}" for z in named)
        raise RuleError([Problem(
            _("the {role} nodes are in {n} zones ({spread}): a plan replaces one zone's nodes; "
              "name it in the spec, e.g. `zone: {example}`").format(
                  role=spec.role, n=len(named), spread=spread, example=named[0]), file=spec.path,
            key="zone", rule="R5")])
    return zone.scoped(named[0]) if named else zone


def role_nodes(zone: Zone, spec: Spec) -> list[Node]:
    """The nodes to replace, in switch order: spec.order, else the runbook order (natural
    name order) with the node holding the VIP last when the zone knows it. ``zone`` is
    already scoped (``scope_zone``)."""
    olds = {n.name: n for n in zone.role_nodes(spec.role)}
    problems: list[Problem] = []
    if not olds:
        where = f" {spec.zone!r}" if spec.zone else ""
        raise RuleError([Problem(_("no VM of role {role} in the zone{where}").format(
            role=repr(spec.role), where=where),
                                 file=spec.path, key="role", rule="R5")])
    for old in olds.values():  # the Pitrix scripts take a group file over a node name
        members = group(zone, old.name)
        if members is not None:
            problems.append(Problem(
                _("node name {node} is also the name of a group ({n} nodes): launch_vms.sh, "
                  "install_nodes.sh, update.sh and exec_nodes.sh would act on the whole group; "
                  "rename the node").format(node=repr(old.name), n=len(members)),
                file=old.settings.path,
                line=old.settings.line_of("hostname"), key="hostname"))
    for name in spec.nodes:
        if name not in olds:
            other = zone.outside.get(name)
            also = (_(" ({node} is in zone {zone}, not this plan's)").format(
                node=name, zone=zone.zone_of(other)) if other is not None else "")
            problems.append(Problem(
                _("unknown node {node}: the {role} nodes are {nodes}").format(
                    node=repr(name), role=spec.role, nodes=", ".join(sorted(olds)))
                + also, file=spec.path, key=f"nodes.{name}"))
    if spec.order is not None and sorted(spec.order) != sorted(olds):
        problems.append(Problem(
            _("order {order} must name each {role} node once: {nodes}").format(
                order=spec.order, role=spec.role, nodes=", ".join(sorted(olds))),
            file=spec.path, key="order"))
    if problems:
        raise RuleError(problems)
    if spec.order is not None:
        return [olds[n] for n in spec.order]
    names = sorted_names(olds)
    holder = zone.facts.vip_holder
    if holder in names:
        names = [n for n in names if n != holder] + [holder]
    return [olds[n] for n in names]


def _seed(zone: Zone, spec: Spec) -> int:
    """R9's seed: the spec's, else one derived from the zone (reproducible plans)."""
    return spec.seed if spec.seed is not None else int(zone.fingerprint()[:16], 16)


def choose(zone: Zone, spec: Spec, olds: list[Node], vg_gw: str | None) -> Choices:
    """Run R13, R16, R12 and R9 for all nodes; every problem at once."""
    problems: list[Problem] = []
    src = spec.path
    hosts = _collect(problems, lambda: rules.placement(
        zone, olds, {o.name: _s(spec.node(o.name).physical_host) for o in olds}, source=src))
    temps = _collect(problems, lambda: rules.temp_addresses(
        zone, olds, {o.name: _s(spec.node(o.name).temp_address) for o in olds},
        [vg_gw or ""], source=src))
    eips = _collect(problems, lambda: rules.eip_addresses(
        zone, {o.name: _s(spec.node(o.name).eip_temp_address) for o in olds}, source=src))
    wanted: list[tuple[str, str | None]] = []
    for o in olds:
        wanted.append((f"nodes.{o.name}.mgmt_mac", spec.node(o.name).mgmt_mac))
        if zone.has_vg:
            wanted.append((f"nodes.{o.name}.eip_mac", spec.node(o.name).eip_mac))
        elif spec.node(o.name).eip_mac:
            problems.append(Problem(_("eip_mac given but the zone has no VG node: the EIP "
                                      "section is removed"), file=src,
                                    key=f"nodes.{o.name}.eip_mac", rule="R12"))
    mac_list = _collect(problems, lambda: rules.choose_macs(zone, wanted, _seed(zone, spec),
                                                            source=src))
    if problems or hosts is None or temps is None or eips is None or mac_list is None:
        raise RuleError(problems)
    it = iter(mac_list)
    macs = {o.name: (next(it), next(it) if zone.has_vg else None) for o in olds}
    return Choices(hosts, temps, eips, macs)


def node_values(zone: Zone, spec: Spec, old: Node, ch: Choices, *, vg_gw: str | None,
                address: str) -> dict[str, str]:
    """R7-R16: the keys of the new settings file that differ from the old one, for the new
    VM at ``address`` (the temporary address; the old one again for R30)."""
    ns = spec.node(old.name)
    gateway = rules.route_gateway(zone, old, vg_gw)
    base = rules.vm_base_network(zone, old, _s(spec.vm_base_network))
    mgmt_bridge, eip_bridge = rules.bridges(zone, old, ns.physical_host_network_interface,
                                            ns.physical_host_eip_network_interface)
    values = {
        **rules.os_values(spec.target.os_name, spec.target.os_version),
        "mgmt_network_address": address,
        "mgmt_network_gateway": rules.mgmt_gateway(zone, old),
        "mgmt_network_mac_address": ch.macs[old.name][0],
        "mgmt_network_routing_rule": rules.mgmt_routing_rule(
            zone, _s(spec.mgmt_network), vg_gw),
        "vm_network_routing_rule": rules.vm_routing_rule(base, address, gateway, node=old.name),
        "physical_host": ch.hosts[old.name],
        "physical_host_network_interface": mgmt_bridge,
        "physical_host_eip_network_interface": eip_bridge,
    }
    eip_mac = ch.macs[old.name][1]
    if zone.has_vg and eip_mac is not None:
        values["eip_network_mac_address"] = eip_mac
        values["eip_network_address"] = ch.eips[old.name] or ""
    return values


def _node_context(zone: Zone, spec: Spec, old: Node, ch: Choices, vg_gw: str | None
                  ) -> tuple[NodeContext, NodePlan]:
    temp = ch.temps[old.name]
    values = node_values(zone, spec, old, ch, vg_gw=vg_gw, address=temp)
    new_text = rules.new_settings(old.settings, values, drop_eip=not zone.has_vg).render()
    # R30: the same file with the old MGMT address (and routing rule src) and old EIP address.
    back = node_values(zone, spec, old, ch, vg_gw=vg_gw, address=old.address)
    if "eip_network_address" in back:
        back["eip_network_address"] = old.get("eip_network_address")
    switched = rules.new_settings(old.settings, back, drop_eip=not zone.has_vg).render()
    old_host = zone.node_by_address(old.physical_host)
    new_host = zone.node_by_address(ch.hosts[old.name])
    if old_host is None or new_host is None:
        raise RuleError([Problem(
            _("{node}'s physical_host {host} is no node of the zone").format(
                node=old.name, host=old.physical_host),
            file=old.settings.path, line=old.settings.line_of("physical_host"),
            key="physical_host", rule="R13")])
    ctx = NodeContext(
        name=old.name, old_address=old.address, temp_address=temp,
        old_host_name=old_host.name, old_host_address=old_host.address,
        new_host_name=new_host.name, new_host_address=new_host.address,
        settings=new_text, switched_settings=switched, old_settings=old.settings.render(),
        eip_temp_address=ch.eips[old.name] if zone.has_vg else None,
        old_eip_address=(old.get("eip_network_address") or None) if zone.has_vg else None,
        nics=(old.get("mgmt_network_interface") or "eth0",
              old.get("eip_network_interface") or "eth1"),
        bridges=(values["physical_host_network_interface"],
                 values["physical_host_eip_network_interface"]))
    node_plan = NodePlan(
        name=old.name, old_address=old.address, temp_address=temp,
        old_physical_host=old.physical_host, physical_host=ch.hosts[old.name],
        old_settings=old.settings.render(), settings=new_text, mgmt_mac=ch.macs[old.name][0],
        eip_mac=ch.macs[old.name][1], eip_temp_address=ch.eips[old.name])
    return ctx, node_plan


def firstbox_address(nodes: list[Node]) -> str:
    values = sorted({n.get("firstbox_address") for n in nodes} - {""})
    return values[0] if values else ""


def settings_digests(zone: Zone) -> dict[str, str]:
    """Each settings file of the zone (as the plan read it) by name: sha256 of its text,
    16 hex digits; apply --offline-plan compares it with the live zone's (issue 14)."""
    return {name: hashlib.sha256(n.settings.render().encode()).hexdigest()[:16]
            for name, n in zone.all_nodes.items()}  # fmt: skip


def build_plan(zone: Zone, spec: Spec, *, today: str) -> Plan:
    """The whole plan for replacing the role's nodes: R6-R37, every file and command."""
    rb = runbook_for(spec.role)
    zone = scope_zone(zone, spec)
    olds = role_nodes(zone, spec)
    vg_gw = rules.vg_mgmt_network_gateway(zone, _s(spec.vg_mgmt_network_gateway)) \
        if zone.has_vg else None
    # Decisions in name order (proxy0 gets 2.2.2.2 and the highest free address), whatever
    # the switch order.
    ch = choose(zone, spec, sorted(olds, key=lambda o: sorted_names(x.name for x in olds)
                                   .index(o.name)), vg_gw)
    problems: list[Problem] = []
    pairs = [_collect(problems, lambda o=o: _node_context(zone, spec, o, ch, vg_gw))  # type: ignore[misc]
             for o in olds]
    if problems:
        raise RuleError(problems)
    done = [p for p in pairs if p is not None]
    ctx = Context(
        role=spec.role, new_tools=zone.installer_version >= V4_3,
        components=zone.components, firstbox_address=firstbox_address(olds),
        nodes=tuple(c for c, _ in done), today=today,
        vip=_s(spec.vip) or zone.facts.vip, console_url=spec.console_url or zone.facts.console_url,
        sub_region=spec.sub_region, outage_timeout=spec.outage_timeout,
        backup_zone=zone.zone_ids[0] if len(zone.region_zone_ids) > 1 and zone.zone_ids else "")
    files = tuple(
        PlannedFile("firstbox", settings_path(c.name), text, rule=rule)
        for c, _ in done
        for text, rule in ((c.settings, "R7-R17"), (c.switched_settings, "R30")))
    for f in files:  # what the rules wrote holds to the same types as what was read
        wrong = values.settings_problems(SettingsFile.from_text(f.content, path=f.path))
        if wrong:
            raise BugError(f"{f.rule} would write a settings file that is not valid: "
                           + "; ".join(str(p) for p in wrong))
    return Plan(
        role=spec.role, installer_version=str(zone.installer_version),
        target_os=(spec.target.os_name, spec.target.os_version),
        nodes={p.name: p for _name, p in done}, targets=common.targets(ctx),
        steps=common.steps(rb, ctx), files=files, inventory_fingerprint=zone.fingerprint(),
        warnings=(*common.warnings(rb, ctx), *rules.temp_address_warnings(
            olds, ch.temps, {o.name: _s(spec.node(o.name).temp_address) for o in olds})),
        meta={"today": today, "switch_order": ",".join(c.name for c, _ in done),
              "vg": "yes" if zone.has_vg else "no",
              "components": ",".join(sorted(zone.components)),
              "settings_files": json.dumps(settings_digests(zone), sort_keys=True)},
        irreversible_phase="archive", manual_restore=common.manual_restore(ctx),
        # Offline until planning.plan_live says where it was made: firstbox as the settings
        # name it, the zone ids of the settings files, no host key (nothing was contacted).
        zone=ZoneId(firstbox=ctx.firstbox_address, zone_ids=zone.region_zone_ids, offline=True))
