"""The runbook's decisions for the new settings files (R7-R17), one small function each. Pure.

Each function takes the zone (nodeswap.zone.inventory) and what the operator gave in the spec, and
returns a value or raises RuleError whose Problem names the rule, the spec key and the bad value.
Nothing here does I/O or builds commands (that is runbooks/).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network

from nodeswap.errors import Problem, RuleError
from nodeswap.i18n import N_, _
from nodeswap.zone.inventory import Node, Zone
from nodeswap.zone.settings import SettingsFile

EIP_SECTION = "Eip Network"
DEFAULT_EIP_START = IPv4Address("2.2.2.2")


def _fail(rule: str, message: str, *, source: str | None = None, key: str | None = None,
          file: str | None = None, line: int | None = None) -> RuleError:
    return RuleError([Problem(message, file=file or source, line=line, key=key, rule=rule)])


def _who_uses(zone: Zone, address: str) -> str:
    where = zone.address_index.get(address)
    if where is not None:
        return f"{where[0]}'s {where[1]}"
    if address == zone.facts.vip:
        return "the VIP"
    return "a host that answers ping"


# ---- R7, R8 -----------------------------------------------------------------------------
def os_values(os_name: str, os_version: str) -> dict[str, str]:
    """R7: os_name and os_version are set to the target release."""
    return {"os_name": os_name, "os_version": os_version}


def mgmt_gateway(zone: Zone, old: Node) -> str:
    """R8: the real MGMT gateway (the old node's); empty when the zone has VG nodes."""
    return "" if zone.has_vg else old.get("mgmt_network_gateway")


# ---- R9 ----------------------------------------------------------------------------------
def random_mac(rng: random.Random) -> str:
    """R9: one MAC in gen_mac.py's format: 00:16:3e plus three random bytes, lowercase."""
    return "00:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))


def choose_macs(zone: Zone, wanted: Sequence[tuple[str, str | None]], seed: int,
                *, source: str = "<spec>") -> list[str]:
    """R9: one new MAC per ``(spec key, given MAC or None)``, unique against every MAC in the
    zone and each other. Given MACs are checked; the rest drawn from ``Random(seed)``."""
    taken = set(zone.macs)
    problems: list[Problem] = []
    for key, mac in wanted:
        if mac is None:
            continue
        if mac in taken:
            used = "another new MAC" if mac not in zone.macs else "a MAC of the zone"
            problems.append(Problem(_("MAC {mac} collides with {used}").format(
                mac=mac, used=used), file=source, key=key,
                                    rule="R9"))
        taken.add(mac)
    if problems:
        raise RuleError(problems)
    rng = random.Random(seed)
    out: list[str] = []
    for _key, given in wanted:
        mac = given
        if mac is None:
            mac = random_mac(rng)
            while mac in taken:
                mac = random_mac(rng)
            taken.add(mac)
        out.append(mac)
    return out


# ---- R10, R11 ----------------------------------------------------------------------------
_ROUTE = re.compile(r"ip\s+route\s+add\s+(\S+)")


def ks_mgmt_network(zone: Zone) -> IPv4Network:
    """R10: ``{{ mgmt_network }}`` unless the spec gives it: the KS MGMT network, a CIDR from
    the KS nodes' address and netmask, which must agree."""
    nets = {n.network for n in zone.ks_nodes if n.network is not None}
    if len(nets) != 1:
        found = ", ".join(sorted(str(n) for n in nets)) or "no KS node"
        raise _fail("R10", _("cannot tell the KS MGMT network: KS nodes give {found}; set "
                             "mgmt_network in the spec").format(found=found), key="mgmt_network")
    return nets.pop()


def vg_in_ks_24(zone: Zone) -> bool:
    """R10: every VG node's MGMT address is in the /24 of the KS MGMT network (then no route
    is needed)."""
    ks_24 = {IPv4Network(f"{n.address}/24", strict=False) for n in zone.ks_nodes}
    vg_24 = {IPv4Network(f"{n.address}/24", strict=False) for n in zone.vg_nodes}
    return bool(ks_24) and vg_24 <= ks_24


def vg_mgmt_network_gateway(zone: Zone, given: str | None = None) -> str:
    """R10/R11: ``{{ vg_mgmt_network_gateway }}``: the spec's value, else the zone variable,
    else the VG nodes' ``mgmt_network_gateway``, which must all agree."""
    value = given or zone.facts.vg_mgmt_network_gateway
    if value:
        return value
    seen = {n.get("mgmt_network_gateway"): n for n in zone.vg_nodes}
    seen.pop("", None)
    if len(seen) == 1:
        return next(iter(seen))
    if not seen:
        raise _fail("R10", _("no VG node names its mgmt_network_gateway and no "
                             "vg_mgmt_network_gateway was given: set vg_mgmt_network_gateway "
                             "in the spec"),
                    key="vg_mgmt_network_gateway")
    raise RuleError([Problem(
        _("VG nodes disagree on mgmt_network_gateway: {gw!r}; set vg_mgmt_network_gateway in "
          "the spec").format(gw=gw), file=n.settings.path,
              line=n.settings.line_of("mgmt_network_gateway"),
        key="mgmt_network_gateway", rule="R10") for gw, n in sorted(seen.items())])


def vm_base_network(zone: Zone, old: Node, given: str | None = None) -> str:
    """R11: ``{{ vm_base_network }}``: the spec's, the zone fact, else parsed from the old
    node's ``vm_network_routing_rule`` (``ip route add NET src ... via ...``)."""
    value = given or zone.facts.vm_base_network
    if value:
        return value
    rule = old.get("vm_network_routing_rule")
    m = _ROUTE.search(rule)
    if m:
        try:
            return str(IPv4Network(m.group(1), strict=False))
        except ValueError:
            pass
    raise _fail("R11", _("cannot read the VM base network from "
                         "vm_network_routing_rule={rule!r}; set vm_base_network in the spec"
                         ).format(rule=rule), file=old.settings.path,
                line=old.settings.line_of("vm_network_routing_rule"),
                key="vm_network_routing_rule")


def mgmt_routing_rule(zone: Zone, mgmt_network: str | None, vg_gateway: str | None) -> str:
    """R10: no VG -> ""; VG in the KS nodes' /24 -> ""; else a route to the KS MGMT network
    via the VG MGMT gateway."""
    if not zone.has_vg or vg_in_ks_24(zone):
        return ""
    network = mgmt_network or str(ks_mgmt_network(zone))
    if not vg_gateway:
        raise _fail("R10", _("VG nodes are in another /24 but vg_mgmt_network_gateway is unknown"),
                    key="vg_mgmt_network_gateway")
    return f"ip route add {network} via {vg_gateway}"


def vm_routing_rule(vm_base_network: str, address: str, gateway: str, *,
                    node: str = "") -> str:
    """R11: ``ip route add {vm_base_network} src {address} via {gateway}``; the gateway is
    the R8 gateway, or the VG MGMT gateway when the zone has VG nodes."""
    if not gateway:
        raise _fail("R11", _("{node}: no gateway for vm_network_routing_rule (the old node's "
                             "mgmt_network_gateway is empty)").format(node=node),
                    key="mgmt_network_gateway")
    return f"ip route add {vm_base_network} src {address} via {gateway}"


def route_gateway(zone: Zone, old: Node, vg_gateway: str | None) -> str:
    """R11: the gateway written in the VM routing rule."""
    return (vg_gateway or "") if zone.has_vg else mgmt_gateway(zone, old)


# ---- R12 ---------------------------------------------------------------------------------
def eip_addresses(zone: Zone, given: Mapping[str, str | None], *,
                  source: str = "<spec>") -> dict[str, str | None]:
    """R12: without VG the EIP section is removed (None per node; an address given is an
    error); with VG each new VM gets its own unused internal address, 2.2.2.2, 2.2.2.3...
    never an address of the zone."""
    if not zone.has_vg:
        bad = [n for n, a in given.items() if a]
        if bad:
            raise RuleError([Problem(
                _("eip_temp_address {given} given but the zone has no VG node: the EIP section "
                  "is removed").format(given=given[n]), file=source,
                      key=f"nodes.{n}.eip_temp_address",
                rule="R12") for n in bad])
        return dict.fromkeys(given)
    used = set(zone.addresses)
    out: dict[str, str | None] = {}
    problems: list[Problem] = []
    for name, addr in given.items():
        if addr is None:
            continue
        if addr in used:
            who = _who_uses(zone, addr) if addr in zone.addresses else "another new VM"
            problems.append(Problem(
                _("EIP address {address} is in use ({who})").format(address=addr, who=who),
                file=source, key=f"nodes.{name}.eip_temp_address", rule="R12"))
        used.add(addr)
        out[name] = addr
    if problems:
        raise RuleError(problems)
    candidate = DEFAULT_EIP_START
    for name, addr in given.items():
        if addr is None:
            while str(candidate) in used:
                candidate += 1
            out[name] = str(candidate)
            used.add(str(candidate))
    return {n: out[n] for n in given}


# ---- R13 ---------------------------------------------------------------------------------
def _host_candidates(zone: Zone) -> list[Node]:
    """Hosts a new management VM may run on: VG nodes with VG, else KS physical nodes."""
    return list(zone.vg_nodes) if zone.has_vg else list(zone.ks_nodes)


def check_host(zone: Zone, old: Node, host: str, *, source: str = "<spec>") -> None:
    """R13: a given host must be a physical node of the zone, a VG node when the zone has VG
    nodes, and never the host of the old node."""
    key = f"nodes.{old.name}.physical_host"
    node = zone.node_by_address(host)
    if node is None or node.is_vm:
        what = _("no node of the zone") if node is None else _("the VM {node}").format(
            node=node.name)
        raise _fail("R13", _("physical_host {host} is {what}, not a physical node").format(
            host=host, what=what),
                    source=source, key=key)
    if host == old.physical_host:
        raise _fail("R13", _("physical_host {host} ({name}) is the host of the old {node}; "
                             "choose another host").format(host=host, name=node.name,
                                                           node=old.name),
                    source=source, key=key)
    if zone.has_vg and not node.is_vg:
        vgs = ", ".join(f"{n.name} ({n.address})" for n in zone.vg_nodes)
        raise _fail("R13", _("physical_host {host} ({name}) is not a VG node; with VG nodes "
                             "the new VM must run on one of: {vgs}").format(
                                 host=host, name=node.name, vgs=vgs), source=source, key=key)


def placement(zone: Zone, olds: Sequence[Node], given: Mapping[str, str | None], *,
              source: str = "<spec>") -> dict[str, str]:
    """R13: the physical host of each new VM. Given hosts are checked; otherwise two nodes
    swap hosts when allowed (preferred), else the first allowed host (by address) not the
    old one, preferring hosts not already chosen."""
    chosen: dict[str, str] = {}
    for old in olds:
        host = given.get(old.name)
        if host:
            check_host(zone, old, host, source=source)
            chosen[old.name] = host
    allowed = {n.address for n in _host_candidates(zone)}
    free = [o for o in olds if o.name not in chosen]
    if len(olds) == 2 and len(free) == 2:
        a, b = olds
        if a.physical_host != b.physical_host and {a.physical_host, b.physical_host} <= allowed:
            return {a.name: b.physical_host, b.name: a.physical_host}
    hosts = sorted(allowed, key=IPv4Address)
    for old in free:
        options = [h for h in hosts if h != old.physical_host]
        if not options:
            raise _fail("R13", _("no host for the new {node}: allowed hosts are {hosts} and "
                                 "{old_host} runs the old node").format(
                                     node=old.name, hosts=", ".join(hosts) or _("none"),
                                     old_host=old.physical_host),
                        source=source, key=f"nodes.{old.name}.physical_host")
        unused = [h for h in options if h not in chosen.values()]
        chosen[old.name] = (unused or options)[0]
    return {o.name: chosen[o.name] for o in olds}


# ---- R14, R15 ----------------------------------------------------------------------------
def bridges(zone: Zone, old: Node, mgmt: str | None, eip: str | None) -> tuple[str, str]:
    """R14/R15: the host's MGMT bridge (usually br0) and EIP bridge (usually br1; empty when
    the zone has no VG, since the EIP network is removed). Given values win, then the old
    file's, then the defaults."""
    mgmt_bridge = mgmt or old.get("physical_host_network_interface") or "br0"
    if not zone.has_vg:
        return mgmt_bridge, ""
    return mgmt_bridge, eip or old.get("physical_host_eip_network_interface") or "br1"


# ---- R16 ---------------------------------------------------------------------------------
def temp_network(old: Node) -> IPv4Network:
    """R16: the MGMT network the new VM sits in (the old node's: it takes the old address)."""
    net = old.network
    if net is None:
        raise _fail("R16", _("cannot tell {node}'s MGMT network from {address!r}/{netmask!r}"
                             ).format(node=old.name, address=old.address, netmask=old.netmask),
                    file=old.settings.path,
                    line=old.settings.line_of("mgmt_network_netmask"), key="mgmt_network_netmask")
    return net


def _temp_problem(zone: Zone, old: Node, addr: str, taken: set[str], gateways: set[str]
                  ) -> str | None:
    net = temp_network(old)
    ip = IPv4Address(addr)
    if ip not in net:
        return _("temporary address {address} is outside {node}'s MGMT network {net}").format(
            address=addr, node=old.name, net=net)
    if net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
        return _("temporary address {address} is the network or broadcast address of {net}"
                 ).format(address=addr, net=net)
    if addr in gateways:
        return _("temporary address {address} is a gateway").format(address=addr)
    if addr in zone.addresses:
        return _("temporary address {address} is taken: used by {who}").format(
            address=addr, who=_who_uses(zone, addr))
    if addr in taken:
        return _("temporary address {address} is already the temporary address of another "
                 "node").format(address=addr)
    return None


def temp_addresses(zone: Zone, olds: Sequence[Node], given: Mapping[str, str | None],
                   gateways: Sequence[str] = (), *, source: str = "<spec>") -> dict[str, str]:
    """R16: one borrowed MGMT address per new VM, inside its MGMT network, not the network,
    broadcast or a gateway address, not written in any settings file (nor known to answer
    ping), distinct per node. Given ones are checked; the rest are the highest free
    addresses of the old address's /24 (within the network), counting down, that do not
    look like a router's (``gateway_like``: .1, .253, .254, a network's edges): routers and
    their VRRP peers sit there by convention, no settings file names them and they may drop
    ping, so a pick there is found taken only by the arping probe before launch (after
    R17-R19: a rollback). Only when every free address looks so is one taken (warned)."""
    gws = {g for g in gateways if g} | {o.get("mgmt_network_gateway") for o in olds}
    taken: set[str] = set()
    out: dict[str, str] = {}
    problems: list[Problem] = []
    for old in olds:
        addr = given.get(old.name)
        if addr:
            why = _temp_problem(zone, old, addr, taken, gws)
            if why:
                problems.append(Problem(why, file=source, key=f"nodes.{old.name}.temp_address",
                                        rule="R16"))
            taken.add(addr)
            out[old.name] = addr
    if problems:
        raise RuleError(problems)
    for old in olds:
        if old.name in out:
            continue
        net = temp_network(old)
        block = IPv4Network(f"{old.address}/24", strict=False)
        scope = block if block.subnet_of(net) else net
        top, bottom = int(scope.broadcast_address), int(scope.network_address)
        fallback = None  # the highest free one that looks like a router's (R16's warning)
        for n in range(top, bottom - 1, -1):
            addr = str(IPv4Address(n))
            if _temp_problem(zone, old, addr, taken, gws) is not None:
                continue
            if gateway_like(addr, net) is None:
                break
            fallback = fallback or addr
        else:
            addr = fallback or ""
        if addr:
            out[old.name] = addr
            taken.add(addr)
        else:
            raise _fail("R16", _("no free temporary address left in {scope} for {node}").format(
                scope=scope, node=old.name),
                        source=source, key=f"nodes.{old.name}.temp_address")
    return {o.name: out[o.name] for o in olds}


GATEWAY_LIKE_ENDINGS = (0, 1, 253, 254, 255)  # last octet: routers, VRRP peers, broadcast
# R16's warning: plan data, in English; shown translated (i18n.retranslate, issue 13)
FIRST_HOST = N_("the first host of {network}")
LAST_HOST = N_("the last host of {network}")
NEXT_TO_LAST_HOST = N_("the next-to-last host of {network}")
ENDS_IN = N_("it ends in .{ending}")
R16_WARNING = N_("R16: temporary address {address} of {node} was chosen automatically and looks "
                 "like a gateway or broadcast address ({why}); no settings file names it, but a "
                 "router or a VRRP peer may hold it without answering ping: make sure it is "
                 "free, or set nodes.{node}.temp_address in the spec")


def gateway_like(address: str, network: IPv4Network) -> str | None:
    """Why ``address`` looks like a router's or a broadcast address (R16), or None.

    Gateways and their VRRP/HSRP peers usually sit at the first or last hosts of a network,
    and a /24 view of a larger network makes .0/.255 look like network/broadcast addresses.
    An address of the zone's settings is refused outright (``_temp_problem``); this only
    flags the ones no settings file names, which a router may hold without answering ping."""
    ip = IPv4Address(address)
    if network.prefixlen <= 29 and ip in network:
        first = network.network_address + 1
        last = network.broadcast_address - 1
        if ip == first:
            return FIRST_HOST.format(network=network)
        if ip in (last, last - 1):
            return (LAST_HOST if ip == last else NEXT_TO_LAST_HOST).format(network=network)
    ending = int(ip) & 0xFF
    if ending in GATEWAY_LIKE_ENDINGS:
        return ENDS_IN.format(ending=ending)
    return None


def temp_address_warnings(olds: Sequence[Node], temps: Mapping[str, str],
                          given: Mapping[str, str | None]) -> list[str]:
    """R16: a warning for each temporary address chosen automatically (not given in the spec)
    that is gateway- or broadcast-like (``gateway_like``): free by the settings and silent to
    ping, yet a router or a VRRP peer may hold it."""
    out = []
    for old in olds:
        addr = temps.get(old.name)
        if not addr or given.get(old.name):
            continue
        why = gateway_like(addr, temp_network(old))
        if why is not None:
            out.append(R16_WARNING.format(address=addr, node=old.name, why=why))
    return out


# ---- R17 ---------------------------------------------------------------------------------
def new_settings(old: SettingsFile, values: Mapping[str, str], *, drop_eip: bool
                 ) -> SettingsFile:
    """R17: the old file with only ``values`` changed (order, comments and sections kept);
    R12's EIP section dropped when ``drop_eip``."""
    new = old.set_many(values)
    if drop_eip and EIP_SECTION in new.sections():
        new = new.drop_section(EIP_SECTION)
    return new
