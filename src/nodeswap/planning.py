"""Planning against a live zone: discover (R2), draw MACs with gen_mac.py (R9), make sure the
temporary addresses are free (R16), preflight (R4, R13-R15), then the pure build_plan.

Every command it sends is a read (gen_mac.py only prints a random MAC). The plan that comes out
carries the fingerprint of the zone state it was built on (settings folder, installer version,
zone variables); apply refuses it when the zone no longer matches (``zone_unchanged``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from nodeswap.discover import Asker, Snapshot, discover, firstbox_part, ping_from, variables_of
from nodeswap.errors import PlanFileError, Problem, RuleError, ZoneError
from nodeswap.model import Plan, Target, ZoneId
from nodeswap.plan import build_plan
from nodeswap.planfile import FINGERPRINT_KIND
from nodeswap.preflight import check as preflight
from nodeswap.shell import cmd
from nodeswap.spec import Spec
from nodeswap.transport.base import Connector
from nodeswap.transport.hostkey import presented_key

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
    while it collides with the zone or another new MAC."""
    zone = snap.zone(**_overrides(spec))
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
    for _ in range(MAX_TRIES):
        out = (await ask.must(fb, cmd(GEN_MAC), GEN_MAC)).strip().lower()
        if not _MAC.match(out):
            raise ZoneError(f"{GEN_MAC} on firstbox printed {out!r}, not a MAC (R9)")
        if out not in taken:
            return out
    raise ZoneError(f"R9: {GEN_MAC} gave only MACs already in the zone in {MAX_TRIES} tries")


async def plan_live(
    connector: Connector, fb: Target, spec: Spec, *, today: str
) -> tuple[Plan, Snapshot]:
    """Discover the zone and plan the upgrade; raises RuleError with every preflight problem."""
    snap = await discover(connector, fb, role=spec.role)
    spec = await draw_macs(connector, fb, spec, snap)
    given = {str(n.temp_address) for n in spec.nodes.values() if n.temp_address}
    for _ in range(MAX_TRIES):  # R16: pick, ping, pick again without what answered
        plan = build_plan(snap.zone(**_overrides(spec)), spec, today=today)
        temps = {n.temp_address for n in plan.nodes.values()}
        answering = await ping_from(connector, fb, temps - set(snap.answering))
        snap = replace(snap, answering=tuple(sorted(set(snap.answering) | answering)))
        if not answering or answering <= given:
            break
    else:
        raise RuleError([Problem("every temporary address tried answers ping", rule="R16")])
    problems, warnings = preflight(plan, snap)
    if problems:
        raise RuleError(problems)
    targets = dict(plan.targets)
    targets["firstbox"] = replace(targets["firstbox"], address=fb.address)
    zone_ids = plan.zone.zone_ids if plan.zone is not None else ()
    made_on = ZoneId(firstbox=fb.address, zone_ids=zone_ids,
                     host_key=await presented_key(connector, fb), offline=False)
    plan = replace(
        plan, targets=targets, inventory_fingerprint=snap.state_fingerprint(), zone=made_on,
        warnings=(*plan.warnings, *warnings, *snap.warnings),
        meta={**plan.meta, "fingerprint_kind": FINGERPRINT_KIND,
              "vip_holder": snap.vip_holder or ""})
    return plan, snap


async def zone_unchanged(connector: Connector, fb: Target, plan: Plan) -> None:
    """Apply's guard: the zone must still be the one the plan was built on. A plan made live
    always carries its fingerprint's kind: without it (a field deleted), the plan is refused,
    never waved through."""
    zone = plan.zone
    if plan.meta.get("fingerprint_kind") != FINGERPRINT_KIND:
        if zone is not None and not zone.offline:
            raise PlanFileError([Problem(
                f"the plan was made live on {zone.describe()} but carries no "
                f"meta.fingerprint_kind {FINGERPRINT_KIND!r}: the zone-changed check cannot "
                "run; make a new plan with `nodeswap plan`", key="meta.fingerprint_kind")])
        return  # an offline plan: built from a copy, nothing live to compare
    part = await firstbox_part(Asker(connector), fb)
    now = Snapshot(firstbox=fb.address, settings=part["settings"],
                   installer_version=part["version"], variables=variables_of(part),
                   kernels=(), repos=(), old_nodes={}, vip=None, capacity={})
    if now.state_fingerprint() != plan.inventory_fingerprint:
        raise PlanFileError([Problem(
            "the zone changed since this plan was made (settings folder, installer version or "
            "zone variables differ): make a new plan with `nodeswap plan`",
            key="inventory_fingerprint")])
