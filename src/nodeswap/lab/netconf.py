"""A lab VM's network configuration, as its boot reads it: ifupdown's `/etc/network/interfaces`,
or netplan's `/etc/netplan/*.yaml` (issue 10, R29: "ifupdown's /etc/network/interfaces or
netplan on 18.04"). A topology's ``netplan_releases`` (e.g. ``["18.04"]``) makes install_nodes.sh
write netplan instead of ifupdown on new VMs of those releases; the old VMs keep ifupdown, so
nodeswap's R29/R31/R33 compare the two formats and R31 rewrites the netplan file.

The lab's readers (a VM's boot on the netns lab, the `ip` stand-in, power's "where does it come
back") read ``config_text``: the interfaces file, or netplan's files given as the equivalent
interfaces text (one stanza per ethernet: first address and netmask, gateway4, nameservers).
Controller side only (PyYAML).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml

from . import hostroot
from .standins import pitrixlab as pl

INTERFACES = "etc/network/interfaces"
NETPLAN_DIR = "etc/netplan"
NETPLAN_FILE = f"{NETPLAN_DIR}/01-netcfg.yaml"


def prefix(netmask: str) -> int:
    """A netmask's prefix length (a /24 for a missing or malformed one)."""
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
    except ValueError:
        return 24


def render_netplan(s: dict[str, str]) -> str:
    """/etc/netplan/01-netcfg.yaml from a settings file (MGMT, and EIP when present), as an
    18.04 image's installer writes it (networkd)."""
    ethernets: dict[str, Any] = {}
    nics = [("mgmt", "eth0")] + ([("eip", "eth1")] if s.get("eip_network_address") else [])
    for net, default in nics:
        dev: dict[str, Any] = {"addresses": [
            f"{s.get(f'{net}_network_address', '')}/"
            f"{prefix(s.get(f'{net}_network_netmask', ''))}"]}
        if s.get(f"{net}_network_gateway"):
            dev["gateway4"] = s[f"{net}_network_gateway"]
        if net == "mgmt" and s.get("mgmt_network_dns_servers"):
            dev["nameservers"] = {"addresses": s["mgmt_network_dns_servers"].split()}
        ethernets[s.get(f"{net}_network_interface") or default] = dev
    doc = {"network": {"version": 2, "renderer": "networkd", "ethernets": ethernets}}
    return "# written by install_nodes.sh (netplan, 18.04)\n" + yaml.safe_dump(
        doc, default_flow_style=False, sort_keys=False)


def netplan_as_interfaces(text: str) -> str:
    """netplan's ethernets as interfaces stanzas (what the lab's boot and `ip` read); a file
    that is not YAML or has no ethernets gives no stanza (the VM comes up without them)."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return ""
    net = doc.get("network") if isinstance(doc, dict) else None
    devices = net.get("ethernets") if isinstance(net, dict) else None
    out = ["auto lo", "iface lo inet loopback", ""]
    for name, raw in (devices or {}).items():
        dev = raw if isinstance(raw, dict) else {}
        addrs = [str(a) for a in dev.get("addresses") or []]
        if not addrs:
            continue
        iface = ipaddress.IPv4Interface(addrs[0])
        out += [f"auto {name}", f"iface {name} inet static", f"    address {iface.ip}",
                f"    netmask {iface.netmask}"]
        if dev.get("gateway4"):
            out.append(f"    gateway {dev['gateway4']}")
        dns = (dev.get("nameservers") or {}).get("addresses") or []
        if dns:
            out.append(f"    dns-nameservers {' '.join(str(d) for d in dns)}")
        out.append("")
    return "\n".join(out)


def config_text(root: Path) -> str:
    """The host's network configuration as interfaces text: its interfaces file if it has
    one, else its netplan files (in name order, as netplan reads them), else nothing."""
    iface = root / INTERFACES
    if iface.exists():
        return iface.read_text()
    plans = sorted((root / NETPLAN_DIR).glob("*.yaml")) if (root / NETPLAN_DIR).is_dir() else []
    return "".join(netplan_as_interfaces(p.read_text()) for p in plans)


def uses_netplan(t: dict[str, Any], s: dict[str, str]) -> bool:
    """Does a VM of settings ``s`` configure its network with netplan (its release is in
    topology ``t``'s ``netplan_releases``; default none: ifupdown everywhere)?"""
    release = ".".join(s.get("os_version", "").split(".")[:2])
    return release in (t.get("netplan_releases") or [])


def write_config(root: Path, s: dict[str, str], t: dict[str, Any]) -> None:
    """A VM's network file as its launch (the image's first boot) and install_nodes.sh
    write it from its settings ``s``: netplan's (the interfaces file removed) on a release of
    topology ``t``'s ``netplan_releases``, else ifupdown's."""
    if uses_netplan(t, s):
        (root / INTERFACES).unlink(missing_ok=True)
        hostroot.write(root / NETPLAN_FILE, render_netplan(s), 0o600)
    else:
        hostroot.write(root / INTERFACES, pl.render_interfaces(s))
