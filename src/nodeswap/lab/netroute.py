"""Routing in a `--net netns` lab (issue 10): the lab's gateway namespace between the zone's
bridges, the routes of physical hosts and firstbox, and a VM's boot done for real.

Owns the gateway namespace (``nw<LABID>g``: one leg per zone network holding the topology's
gateway addresses, `ip_forward` on there only, and only connected routes), the routes a
physical host or firstbox gets to the other zone networks (via its settings' gateway), and a
VM's boot: every stanza of its own `/etc/network/interfaces` on a real veth (the `gateway`
line a default route), then rc.local (with the rc.local.head/.tail it sources) run for real,
but only its `ip` lines, each parsed with shlex and refused when it could leave the VM's own
namespace (docs/lab-netns.md, decision 10). Must not: run a shell, run anything but
/usr/sbin/ip in a VM's namespace, or give the gateway namespace a route that is not connected.
"""

from __future__ import annotations

import ipaddress
import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeswap.errors import LabError
from nodeswap.i18n import _

from . import netconf, netns, topology
from .netns import Net, NetLab

JSON = dict[str, Any]
IP = "/usr/sbin/ip"
RC_LOCAL = "etc/rc.local"
RC_SOURCED = ("/etc/rc.local.head", "/etc/rc.local.tail")  # what rc.local may source
IP_NAMES = ("ip", "/sbin/ip", "/bin/ip", "/usr/sbin/ip", "/usr/bin/ip")
IP_OBJECTS = {"route", "ro", "r", "addr", "address", "a", "rule", "ru", "neigh", "n", "link",
              "l"}
SHELL_CHARS = ";&|<>`$()*?"  # a line the lab would need a shell for is not run
LINE_TIMEOUT = 5.0
Log = Callable[[str], None]


# ---------------------------------------------------------------------- names and plans (pure)


def gateway_ns(names: netns.Names) -> str:
    return netns._short(f"nw{names.labid}g")


def gateway_leg(names: netns.Names, k: int) -> str:
    """The gateway's leg on bridge K (its other end is `ethK` in the gateway namespace)."""
    return netns._short(f"g{names.labid}n{k}")


def nic_veth(names: netns.Names, ns: str, nic: str) -> str:
    """The bridge end of host namespace ``ns``'s NIC ``nic`` (eth0's is ``host_veth``)."""
    n = ns[len(f"nw{names.labid}h"):]
    return netns._short(f"v{names.labid}h{n}{nic.replace('eth', 'i')}")


def gateway_addresses(t: JSON, nets: Sequence[Net]) -> dict[int, list[str]]:
    """``{zone network index: [gateway address, ...]}``: the topology's `gateway`,
    `vg_mgmt_network_gateway`, the physical hosts' own `gateway` and every EIP gateway, each
    in the zone network that holds it (one outside every zone network is left out)."""
    hosts = [t["firstbox"], *t["physical"], *t["vms"]]
    given = [t.get("gateway"), t.get("vg_mgmt_network_gateway"),
             *(h.get("gateway") for h in hosts),
             *((h.get("eip") or {}).get("gateway") for h in hosts)]
    out: dict[int, list[str]] = {}
    for addr in sorted({str(a) for a in given if a}, key=ipaddress.IPv4Address):
        ip = ipaddress.IPv4Address(addr)
        for k, net in enumerate(nets):
            if ip in net and ip not in (net.network_address, net.broadcast_address):
                out.setdefault(k, []).append(addr)
                break
    return out


def unroutable(t: JSON) -> str | None:
    """Why a topology cannot run as a netns lab, or None: hosts whose MGMT addresses are in
    several networks are routed by the lab's gateway namespace (lab/netroute.py), which needs
    a gateway address of the topology in each of those networks."""
    nets = netns.zone_networks(t)
    hosts = [t["firstbox"], *t["physical"], *t["vms"]]
    used = sorted({netns.network_of(str(h["address"]), nets) for h in hosts})
    if len(used) < 2:
        return None
    gws = gateway_addresses(t, nets)
    lost = [str(net) for k, net in used if k not in gws]
    if lost:
        return _("its hosts' MGMT addresses are in {n} networks and {networks} has no gateway "
                 "address in the topology for the lab's router (docs/lab-netns.md); use --net "
                 "loopback").format(n=len(used), networks=", ".join(lost))
    return None


NETNS_TOOLS = ("/usr/sbin/haproxy", "/usr/sbin/keepalived", "/usr/bin/arping", "/usr/bin/nsenter")


def netns_unavailable(t: JSON) -> str | None:
    """Why `--net auto` makes this zone a loopback lab, or None (a netns lab it is): a
    topology the lab cannot route (``unroutable``), a region (one VIP per zone: loopback
    only), a missing tool (scripts/setup.sh installs them), or no network namespaces here
    (`unshare --net` refused: not root, or a container without CAP_SYS_ADMIN)."""
    why = unroutable(t)
    if why:
        return why
    if len(topology.zone_vips(t)) > 1:  # the zone's power is then RegionPower (lab/zone.py)
        return _("a region topology (several zones) runs on loopback only")
    missing = [tool for tool in NETNS_TOOLS if not Path(tool).exists()]
    if missing:
        return _("{tools} not installed (scripts/setup.sh installs them)").format(
            tools=", ".join(missing))
    try:
        made = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _("no network namespaces here: {error}").format(error=exc)
    if made.returncode != 0:
        return _("no network namespaces here: unshare --net: {error}").format(
            error=made.stderr.strip() or made.returncode)
    return None


def host_routes(address: str, gateway: str | None, nets: Sequence[Net]) -> list[str]:
    """The other zone networks a physical host (or firstbox) at ``address`` reaches via its
    gateway: every zone network but its own, when the gateway is in its own network."""
    if not gateway:
        return []
    _k, own = netns.network_of(address, nets)
    if ipaddress.IPv4Address(gateway) not in own:
        return []
    return [str(n) for n in nets if n != own]


@dataclass(frozen=True)
class Stanza:
    """One static stanza of an interfaces file: ``nic``, ``address`` (A/P), ``gateway``."""

    nic: str
    address: str
    gateway: str | None


def stanzas(text: str) -> list[Stanza]:
    """The static stanzas (loopback left out) of an ifupdown interfaces file, in order."""
    out: list[Stanza] = []
    cur: dict[str, str] = {}

    def flush() -> None:
        if cur.get("nic") and cur.get("address"):
            a = cur["address"]
            pfx = a if "/" in a else f"{a}/{cur.get('netmask') or '255.255.255.0'}"
            out.append(Stanza(cur["nic"], str(ipaddress.IPv4Interface(pfx)),
                              cur.get("gateway") or None))

    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["iface"]:
            flush()
            cur = ({"nic": words[1]} if len(words) > 3 and words[3] == "static"
                   and words[1] != "lo" else {})
        elif words[:1] in (["auto"], ["allow-hotplug"], ["source"], ["mapping"]):
            flush()
            cur = {}
        elif len(words) == 2 and words[0] in ("address", "netmask", "gateway") and cur:
            cur[words[0]] = words[1]
    flush()
    return out


def rc_command(line: str) -> tuple[list[str] | None, str | None]:
    """What the lab runs for one rc.local line: ``(argv, None)`` (the real ip, no shell),
    ``(None, why)`` (logged as not run by the lab) or ``(None, None)`` (blank, comment)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None, None
    try:
        words = shlex.split(text, comments=True)
    except ValueError as exc:
        return None, f"not parsed ({exc})"
    if not words:
        return None, None
    if words[0] not in IP_NAMES:
        return None, "not an ip command"
    if any(c in w for w in words for c in SHELL_CHARS):
        return None, "shell syntax"
    args = words[1:]
    opts = [a for a in args if a.startswith("-")]
    if any(o.lstrip("-") not in ("4", "6", "s", "d", "o") for o in opts):
        return None, "an ip option the lab does not run (only -4 -6 -s -d -o)"
    rest = [a for a in args if not a.startswith("-")]
    if any("netns" in w for w in rest):
        return None, "touches another namespace"
    if not rest or rest[0] not in IP_OBJECTS:
        return None, "an ip object the lab does not run (route, addr, rule, neigh, link set)"
    if rest[0] in ("link", "l") and not _link_set_ok(rest[1:]):
        return None, "an ip link command other than `ip link set DEV up|down|mtu N`"
    return [IP, *args], None


def _link_set_ok(words: list[str]) -> bool:
    """`set [dev] DEV` followed only by up, down or mtu N."""
    if words[:1] != ["set"]:
        return False
    words = words[2:] if words[1:2] == ["dev"] else words[1:]
    return len(words) >= 2 and all(w in ("up", "down", "mtu") or w.isdigit() for w in words[1:])


def rc_lines(root: Path) -> list[tuple[str, str]]:
    """``(file, line)`` of what rc.local runs, in order: its own lines, with the lines of
    /etc/rc.local.head and /etc/rc.local.tail where it sources them (`. FILE`)."""
    out: list[tuple[str, str]] = []
    path = root / RC_LOCAL
    if not path.is_file():
        return out
    for line in path.read_text(errors="replace").splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in (".", "source") and words[1] in RC_SOURCED:
            sourced = root / words[1].lstrip("/")
            if sourced.is_file():
                out += [(words[1], ln) for ln in sourced.read_text(errors="replace")
                        .splitlines()]
            continue
        out.append(("/etc/rc.local", line))
    return out


# ---------------------------------------------------------------------- the machine


def create_gateway(net: NetLab) -> str:
    """The lab's router: its namespace (recorded), one leg per zone network with a gateway
    address on its bridge, `ip_forward` on in that namespace only. Its routes are the
    connected ones of its legs: nothing leads out of the zone."""
    ns = gateway_ns(net.names)
    net._new_ns(ns)
    br_ns = net.names.bridge_ns
    for k, addrs in sorted(gateway_addresses(net.t, net.nets).items()):
        leg, inside = gateway_leg(net.names, k), f"eth{k}"
        netns.ip("-n", br_ns, "link", "add", leg, "type", "veth", "peer", "name", inside,
                 "netns", ns)
        netns.ip("-n", br_ns, "link", "set", leg, "master", net.names.bridge(k), "up")
        for a in addrs:
            netns.ip("-n", ns, "addr", "add", f"{a}/{net.nets[k].prefixlen}", "dev", inside)
        netns.ip("-n", ns, "link", "set", inside, "up")
    netns.ip("netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    return ns


def route_host(net: NetLab, ns: str, address: str, gateway: str | None, log: Log) -> None:
    """A physical host's or firstbox's routes to the other zone networks via its gateway."""
    for dest in host_routes(address, gateway, net.nets):
        _ip_in(ns, ["route", "replace", dest, "via", str(gateway), "dev", "eth0"], log)


def boot_vm(net: NetLab, ns: str, root: Path, macs: Sequence[str], log: Log) -> list[str]:
    """A VM boots: each stanza of its interfaces file on a real NIC (eth0 is there; another
    gets a veth on the bridge of its address's network, else of the EIP network), the
    `gateway` lines as default routes, then rc.local's `ip` lines. Returns its addresses."""
    wanted = stanzas(netconf.config_text(root))
    down(ns, log)
    for st in wanted:
        i = int(st.nic[3:]) if st.nic[:3] == "eth" and st.nic[3:].isdigit() else -1
        _nic(net, ns, st, macs[i] if 0 <= i < len(macs) else None, log)
    for st in wanted:
        if st.gateway:
            _ip_in(ns, ["route", "replace", "default", "via", st.gateway, "dev", st.nic], log)
    for where, line in rc_lines(root):
        argv, why = rc_command(line)
        if why:
            log(f"{where}: not run by the lab ({why}): {line.strip()}")
        elif argv:
            _ip_in(ns, argv[1:], log, where=where)
    return [st.address.split("/")[0] for st in wanted]


def wire_nic(net: NetLab, ns: str, st: Stanza, log: Log) -> None:
    """A NIC of a host that is not a VM (a VG node's EIP on eth1), with the kernel's MAC."""
    _nic(net, ns, st, None, log)


def _nic(net: NetLab, ns: str, st: Stanza, mac: str | None, log: Log) -> None:
    if st.nic != "eth0" and not netns.link_exists(st.nic, ns):
        veth = nic_veth(net.names, ns, st.nic)
        k = _network_for(net, st)
        netns.ip("-n", net.names.bridge_ns, "link", "add", veth, "type", "veth", "peer", "name",
                 st.nic, "netns", ns)
        netns.ip("-n", net.names.bridge_ns, "link", "set", veth, "master", net.names.bridge(k),
                 "up")
    if mac:
        netns.ip("-n", ns, "link", "set", "dev", st.nic, "address", mac)
    netns.ip("-n", ns, "link", "set", "dev", st.nic, "up")
    _ip_in(ns, ["addr", "add", st.address, "dev", st.nic], log)


def _network_for(net: NetLab, st: Stanza) -> int:
    """The bridge of a NIC: its address's zone network, else (a dummy EIP such as 2.2.2.2,
    R12) the network of the zone's EIP gateways."""
    ip = ipaddress.IPv4Interface(st.address).ip
    for k, n in enumerate(net.nets):
        if ip in n:
            return k
    hosts = [*net.t["physical"], *net.t["vms"]]
    eip_gw = next((str(h["eip"]["gateway"]) for h in hosts
                   if isinstance(h.get("eip"), dict) and h["eip"].get("gateway")), None)
    if eip_gw is None:
        raise LabError(_("{nic} {address}: no zone network of the lab holds it").format(
            nic=st.nic, address=st.address))
    return netns.network_of(eip_gw, net.nets)[0]


def nics(ns: str) -> list[str]:
    """The host's ethN links."""
    out = netns.ip("-n", ns, "-o", "link", "show", check=False)
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
             if line.count(":") >= 2]
    return [n for n in names if n.startswith("eth")]


def down(ns: str, log: Log) -> None:
    """The host is off: every ethN loses its addresses and routes and goes down."""
    if ns not in netns.namespaces():
        return
    for nic in nics(ns):
        netns.ip("-n", ns, "addr", "flush", "dev", nic, check=False)
        netns.ip("-n", ns, "route", "flush", "dev", nic, check=False)
        netns.ip("-n", ns, "link", "set", "dev", nic, "down", check=False)


def _ip_in(ns: str, args: list[str], log: Log, where: str = "boot") -> bool:
    """The real ip inside namespace ``ns`` (nsenter, no shell); a failure is logged."""
    argv = ["nsenter", f"--net=/run/netns/{ns}", IP, *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=LINE_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        log(f"{where}: ip {shlex.join(args)}: timed out")
        return False
    if done.returncode != 0:
        log(f"{where}: ip {shlex.join(args)}: failed ({done.stderr.strip()})")
        return False
    if where != "boot":
        log(f"{where}: ran ip {shlex.join(args)}")
    return True
