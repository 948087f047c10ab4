"""Planning against a live zone: discover (R2), draw MACs with gen_mac.py (R9), make sure the
temporary addresses are free (R16), preflight (R4, R13-R15), then the pure build_plan.

Every command it sends is a read (gen_mac.py only prints a random MAC). The plan that comes out
carries the fingerprint of the zone state it was built on (settings folder, installer version,
zone variables); apply refuses it when the zone no longer matches (``zone_unchanged``).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nodeswap.errors import PlanFileError, Problem, RuleError, ZoneError
from nodeswap.i18n import _
from nodeswap.live import fence
from nodeswap.live.discover import Asker, discover, firstbox_part, ping_from, read_zone
from nodeswap.plan.build import build_plan, scope_zone, settings_digests
from nodeswap.plan.model import Plan, Target, ZoneId
from nodeswap.plan.planfile import FINGERPRINT_KIND
from nodeswap.plan.preflight import check as preflight
from nodeswap.runbooks import components_of
from nodeswap.shell import cmd
from nodeswap.transport.base import Connector
from nodeswap.transport.hostkey import presented_key
from nodeswap.zone.inventory import Zone
from nodeswap.zone.snapshot import Snapshot, variables_of

if TYPE_CHECKING:  # the spec is pydantic: loaded by the callers that read one
    from nodeswap.plan.spec import Spec

GEN_MAC = "/pitrix/bin/gen_mac.py"
_MAC = re.compile(r"^00:16:3e(?::[0-9a-f]{2}){3}$")
MAX_TRIES = 20


def _overrides(spec: Spec) -> dict[str, Any]:
    return {
        "vg_mgmt_network_gateway": str(spec.vg_mgmt_network_gateway)
        if spec.vg_mgmt_network_gateway else None,
        "vm_base_network": str(spec.vm_base_network) if spec.vm_base_network else None,
        "vip": str(spec.vip) if spec.vip else None,
        "console_url": spec.console_url,
    }


async def draw_macs(connector: Connector, fb: Target, spec: Spec, snap: Snapshot) -> Spec:
    """R9 live: each MAC the spec leaves open comes from gen_mac.py on firstbox, drawn again
    while it collides with the zone or another new MAC. Only the nodes of the plan's zone
    (``scope_zone``): a region's other zones are not in the spec's ``nodes``."""
    zone = scope_zone(snap.zone(components=components_of(snap), **_overrides(spec)), spec)
    taken = set(zone.macs)
    ask = Asker(connector)
    nodes = {}
    for old in zone.role_nodes(spec.role):
        ns = spec.node(old.name)
        wanted = ["mgmt_mac"] + (["eip_mac"] if zone.has_vg else [])
        update: dict[str, str] = {}
        for key in wanted:
            if getattr(ns, key):
                taken.add(getattr(ns, key))
                continue
            update[key] = await _one_mac(ask, fb, taken)
            taken.add(update[key])
        nodes[old.name] = ns.model_copy(update=update)
    return spec.model_copy(update={"nodes": {**spec.nodes, **nodes}})


async def _one_mac(ask: Asker, fb: Target, taken: set[str]) -> str:
    for _try in range(MAX_TRIES):
        out = (await ask.must(fb, cmd(GEN_MAC), GEN_MAC)).strip().lower()
        if not _MAC.match(out):
            raise ZoneError(_("{gen_mac} on firstbox printed {out!r}, not a MAC (R9)").format(
                gen_mac=GEN_MAC, out=out))
        if out not in taken:
            return out
    raise ZoneError(_("R9: {gen_mac} gave only MACs already in the zone in {tries} tries"
                      ).format(gen_mac=GEN_MAC, tries=MAX_TRIES))


async def zone_of_plan(connector: Connector, fb: Target, spec: Spec) -> Spec:
    """The spec with the zone the plan is for (R5, in a region): refused before discovery
    asks any node when the role's nodes span several zones and the spec names none."""
    if spec.zone is not None:
        return spec
    zone = await read_zone(connector, fb)
    scoped = scope_zone(zone, spec)  # RuleError: several zones and no `zone:`
    if len(zone.region_zone_ids) > 1 and len(scoped.zone_ids) == 1:
        return spec.model_copy(update={"zone": scoped.zone_ids[0]})
    return spec


async def plan_live(
    connector: Connector, fb: Target, spec: Spec, *, today: str
) -> tuple[Plan, Snapshot]:
    """Discover the zone and plan the upgrade; raises RuleError with every preflight problem."""
    spec = await zone_of_plan(connector, fb, spec)
    snap = await discover(connector, fb, role=spec.role, zone_id=spec.zone)
    spec = await draw_macs(connector, fb, spec, snap)
    given = {str(n.temp_address) for n in spec.nodes.values() if n.temp_address}
    for _try in range(MAX_TRIES):  # R16: pick, ping, pick again without what answered
        plan = build_plan(snap.zone(components=components_of(snap), **_overrides(spec)), spec,
                          today=today)
        temps = {n.temp_address for n in plan.nodes.values()}
        answering = await ping_from(connector, fb, temps - set(snap.answering))
        snap = replace(snap, answering=tuple(sorted(set(snap.answering) | answering)))
        if not answering or answering <= given:
            break
    else:
        raise RuleError([Problem(_("every temporary address tried answers ping"), rule="R16")])
    problems, warnings = preflight(plan, snap)
    if problems:
        raise RuleError(problems)
    seen = await Asker(connector).run(fb, fence.FENCE_COMMAND)  # R20: foreign jobs, cron
    warnings = [*warnings, *fence.warnings(fence.parse(seen.stdout))]
    targets = dict(plan.targets)
    targets["firstbox"] = replace(targets["firstbox"], address=fb.address)
    zone_ids = plan.zone.zone_ids if plan.zone is not None else ()
    made_on = ZoneId(firstbox=fb.address, zone_ids=zone_ids,
                     host_key=await presented_key(connector, fb), offline=False)
    plan = replace(
        plan, targets=targets, inventory_fingerprint=snap.state_fingerprint(), zone=made_on,
        warnings=(*plan.warnings, *warnings, *snap.warnings),
        fingerprint_kind=FINGERPRINT_KIND, meta={**plan.meta, "vip_holder": snap.vip_holder or ""})
    return plan, snap


async def zone_unchanged(connector: Connector, fb: Target, plan: Plan) -> None:
    """Apply's guard: the zone must still be the one the plan was built on. A plan made live
    always carries its fingerprint's kind: without it (a field deleted), the plan is refused,
    never waved through."""
    zone = plan.zone
    if plan.fingerprint_kind != FINGERPRINT_KIND:
        if zone is not None and not zone.offline:
            raise PlanFileError([Problem(
                _("the plan was made live on {zone} but carries no fingerprint_kind "
                  "{fingerprint_kind!r}: the zone-changed check cannot run; make a new plan "
                  "with `nodeswap plan`").format(zone=zone.describe(),
                  fingerprint_kind=FINGERPRINT_KIND), key="fingerprint_kind")])
        return  # an offline plan: built from a copy, nothing live to compare
    part = await firstbox_part(Asker(connector), fb)
    now = Snapshot(firstbox=fb.address, settings=part["settings"],
                   installer_version=part["version"], variables=variables_of(part),
                   kernels=(), repos=(), old_nodes={}, vip=None, capacity={})
    if now.state_fingerprint() != plan.inventory_fingerprint:
        raise PlanFileError([Problem(
            _("the zone changed since this plan was made (settings folder, installer version or "
              "zone variables differ): make a new plan with `nodeswap plan`"),
            key="inventory_fingerprint")])


def offline_differences(plan: Plan, zone: Zone) -> list[Problem]:
    """Pure: where the live ``zone`` is not the zone an offline ``plan`` was made from (the
    settings files, the installer version, the components), and its new MACs (R9) and
    temporary addresses (R16) that the live settings already use. Empty: it may be applied."""
    out: list[Problem] = []
    key = "inventory_fingerprint"
    if str(zone.installer_version) != plan.installer_version:
        out.append(Problem(_("installer version: the plan was made for {was}, the zone has {now}"
                             ).format(was=plan.installer_version, now=zone.installer_version),
                           key=key))
    was_c, now_c = plan.meta.get("components", ""), ",".join(sorted(zone.components))
    if was_c != now_c:
        out.append(Problem(_("components: the plan was made for {was}, the zone has {now}").format(
            was=was_c or _("none"), now=now_c or _("none")), key=key))
    known = plan.meta.get("settings_files")
    if known:
        was: dict[str, str] = json.loads(known)
        now = settings_digests(zone)
        for what, names in (("changed", [n for n in was if n in now and was[n] != now[n]]),
                            ("new in the zone", [n for n in now if n not in was]),
                            ("gone from the zone", [n for n in was if n not in now])):
            if names:
                out.append(Problem(_("settings files {what} since the plan was made: {names}"
                                     ).format(what=what, names=", ".join(sorted(names))),
                                   key=key))
    else:  # a plan from before the settings digests: its own nodes' settings at least
        for node in plan.nodes.values():
            live = zone.nodes.get(node.name)
            if live is None or live.settings.render() != node.old_settings:
                out.append(Problem(_("settings file {node} changed since the plan was made").format(
                    node=node.name), key=key))
    macs: dict[str, str] = {}
    for node in plan.nodes.values():
        for what, mac in (("mgmt", node.mgmt_mac), ("eip", node.eip_mac)):
            if not mac:
                continue
            where = f"nodes.{node.name}.{what}_mac"
            if mac.lower() in zone.macs:
                out.append(Problem(_("new MAC {mac} of {node} is in the zone's settings now: not "
                                     "unique").format(mac=mac, node=node.name), rule="R9",
                                   key=where))
            if mac.lower() in macs:
                out.append(Problem(_("new MAC {mac} of {node} is also {other}'s").format(
                    mac=mac, node=node.name, other=macs[mac.lower()]),
                                   rule="R9", key=where))
            if not _MAC.match(mac.lower()):
                out.append(Problem(_("new MAC {mac} of {node} is not one {gen_mac} draws").format(
                    mac=mac, node=node.name, gen_mac=GEN_MAC),
                                   rule="R9", key=where))
            macs[mac.lower()] = node.name
        for what, addr in (("temp_address", node.temp_address),
                           ("eip_temp_address", node.eip_temp_address)):
            if addr and addr in zone.address_index:
                other, k = zone.address_index[addr]
                out.append(Problem(_("temporary address {addr} of {node} is in the zone's "
                                     "settings now ({k} of {other})").format(addr=addr,
                                     node=node.name, k=k, other=other), rule="R16",
                                   key=f"nodes.{node.name}.{what}"))
    return out


async def offline_plan_matches(connector: Connector, fb: Target, plan: Plan) -> None:
    """Apply --offline-plan's guard: the live zone must be the one the offline plan was made
    from, its new MACs still unique (R9) and its temporary addresses still free and silent
    (R16: ping from firstbox, as planning does). Read-only; PlanFileError (exit 2) naming
    every difference."""
    snap = await discover(connector, fb, role=plan.role)
    problems = offline_differences(plan, snap.zone(components=components_of(snap)))
    temps = {n.temp_address: n.name for n in plan.nodes.values()}
    for addr in sorted(await ping_from(connector, fb, temps)):
        problems.append(Problem(_("temporary address {address} of {node} answers ping from "
                                  "firstbox now: it is in use").format(address=addr,
                                                                       node=temps[addr]),
                                rule="R16",
                                key=f"nodes.{temps[addr]}.temp_address"))
    if problems:
        raise PlanFileError([Problem(_("the offline plan does not fit the live zone (apply "
                                       "--offline-plan compares it first); make a new plan on "
                                       "the zone with `nodeswap plan --firstbox ...` (or --lab)"),
                                     key="zone.offline"), *problems])
