"""What a lab host's `ip`, `df` and `ps` show: its interfaces, addresses, disk, processes.

The zone answers the `links`, `df` and `ps` operations from here; the stand-ins
(standins/bin/ip, df, ps) only print. Interfaces: `lo` and `eth0` everywhere;
a VM's `eth0` carries its live address (and keepalived's VIP while it holds it), its
`eth1` the EIP address of its interfaces file as it was at boot (an edit shows at the next
boot); a physical host's `eth0` is enslaved to `br0` which carries the address,
`eth1`/`br1` exist where the host has an EIP network (a VG host, or one whose VMs bridge
into br1), and each running guest NIC is a `vnetN`.
Disk: the host's capacity figures (`lab/state/capacity.json`), nearly nothing left under
the disk-full fault. Processes: what runs in the host's root (`ps`). Must not: change any
state (reads only).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import netconf
from .standins import pitrixlab as pl

if TYPE_CHECKING:
    from .labhost import Host

JSON = dict[str, Any]
KIB_PER_GB = 1024 * 1024
DISK_FULL_LEFT_KIB = 1228  # what `df` still shows available on a host whose disk is full


def _mac(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def _inet(address: str, prefix: int, label: str) -> JSON:
    net = ipaddress.IPv4Network(f"{address}/{prefix}", strict=False)
    brd = str(net.broadcast_address) if prefix < 31 else ""
    return {"family": "inet", "address": address, "prefix": prefix, "brd": brd,
            "scope": "global", "label": label}


def _stanzas(text: str) -> dict[str, dict[str, str]]:
    """`iface NIC inet static` stanzas of an interfaces file: NIC -> {address, netmask}."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        m = re.match(r"\s*iface\s+(\S+)\s+inet\s+static\b", line)
        if m:
            current = out.setdefault(m.group(1), {})
            continue
        if re.match(r"\s*(auto|iface|allow-|mapping|source)\b", line):
            current = None
            continue
        words = line.split()
        if current is not None and len(words) >= 2:
            current[words[0]] = words[1]
    return out


def eth0_mac(h: Host) -> str:
    """A host's MGMT MAC: its domain's first NIC (a VM), its settings' (physical), else one
    made from its instance id (a netns lab puts it on the real eth0)."""
    nics = h.extra.get("nics") or []
    return str(nics[0]["mac"] if nics else h.extra.get("mac") or _mac(h.iid))


def links(h: Host, *, root: Path, fb_root: Path, vip: str | None,
          guests: list[tuple[str, JSON]]) -> list[JSON]:
    """The host's interfaces in ifindex order (name, mac, master, state, addresses).

    ``root``: the host's root; ``fb_root``: firstbox's (the settings); ``vip``: the VIP
    when this host holds it; ``guests``: a physical host's running domains."""
    out: list[JSON] = [{"name": "lo", "kind": "loopback", "mac": "00:00:00:00:00:00",
                        "master": None, "addrs": [{"family": "inet", "address": "127.0.0.1",
                                                   "prefix": 8, "brd": "", "scope": "host",
                                                   "label": "lo"}]}]
    if h.kind == "physical":
        return out + _physical_links(h, fb_root, guests)
    # the interfaces file as it was when the host booted (a later edit shows at the next boot)
    booted = h.extra.get("boot_interfaces")
    if booted is None:
        booted = netconf.config_text(root)
    stanzas = _stanzas(str(booted))
    nics = h.extra.get("nics") or []
    mgmt = stanzas.get("eth0", {})
    eth0: JSON = {"name": "eth0", "kind": "ether", "master": None, "mac": eth0_mac(h),
            "addrs": [_inet(h.address, netconf.prefix(mgmt.get("netmask", "")), "eth0")]}
    if vip:
        eth0["addrs"].append(_inet(vip, 32, "eth0"))
    out.append(eth0)
    eip = stanzas.get("eth1", {})
    if len(nics) > 1 or eip.get("address"):
        addrs = [_inet(eip["address"], netconf.prefix(eip.get("netmask", "")), "eth1")] \
            if eip.get("address") else []
        out.append({"name": "eth1", "kind": "ether", "master": None, "addrs": addrs,
                    "mac": nics[1]["mac"] if len(nics) > 1 else _mac(h.iid + "/eth1")})
    return out


def _physical_links(h: Host, fb_root: Path, guests: list[tuple[str, JSON]]) -> list[JSON]:
    settings = pl.read_settings(h.name, fb_root) if (fb_root / "pitrix/conf/settings" /
                                                     h.name).exists() else {}
    mac = h.extra.get("mac") or _mac(h.iid)
    eip_addr = settings.get("eip_network_address", "")
    has_br1 = bool(eip_addr) or any(n["bridge"] == "br1" for _, d in guests for n in d["nics"])
    if not has_br1:
        for s in pl.all_settings(fb_root).values():
            if s.get("physical_host") == h.address and s.get("physical_host_eip_network_interface"):
                has_br1 = True
    eth: list[JSON] = [{"name": "eth0", "kind": "ether", "mac": mac, "master": "br0", "addrs": []}]
    bridges: list[JSON] = [{"name": "br0", "kind": "bridge", "mac": mac, "master": None,
                "addrs": [_inet(h.address, netconf.prefix(settings.get("mgmt_network_netmask", "")),
                                "br0")]}]
    if has_br1:
        mac1 = settings.get("eip_network_mac_address") or _mac(h.iid + "/eth1")
        eth.append({"name": "eth1", "kind": "ether", "mac": mac1, "master": "br1",
                    "addrs": []})
        addrs = [_inet(eip_addr, netconf.prefix(settings.get("eip_network_netmask", "")), "br1")] \
            if eip_addr else []
        bridges.append({"name": "br1", "kind": "bridge", "mac": mac1, "master": None,
                        "addrs": addrs})
    vnets = [{"name": f"vnet{i}", "kind": "tap", "mac": "fe" + nic["mac"][2:],
              "master": nic["bridge"] or "br0", "addrs": []}
             for i, nic in enumerate(n for _, d in guests for n in d["nics"])]
    return eth + bridges + vnets


def df(h: Host, root: Path, *, disk_full: bool) -> JSON:
    """The filesystem of a physical host's /pitrix/kernels in KiB (total, used, available)."""
    if h.kind != "physical":
        raise LookupError(f"{h.name} is not a physical host (df is simulated on those only)")
    path = root / "lab/state/capacity.json"
    cap = json.loads(path.read_text())
    total = int(cap.get("disk_total_gb", cap["disk_gb"])) * KIB_PER_GB
    avail = max(0, int(cap["disk_gb"])) * KIB_PER_GB
    if disk_full:
        avail = min(avail, DISK_FULL_LEFT_KIB)
    return {"device": "/dev/sda2", "mount": "/", "total_kib": total,
            "used_kib": max(0, total - avail), "avail_kib": avail, "fstype": "ext4"}


def processes(root: Path, *, live: bool = False) -> list[list[Any]]:
    """The processes running inside a host root, as [pid, ppid, args], read from /proc
    outside the chroot (the `ps` stand-in: host roots have no /proc); ``live``: zombies
    (ended, not yet reaped) left out (tests waiting for a command to be gone)."""
    real = os.path.realpath(root)
    out: list[list[Any]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/root") != real:
                continue
            with open(f"/proc/{entry}/stat") as f:
                state, ppid_text = f.read().rsplit(")", 1)[1].split()[:2]
            if live and state == "Z":
                continue
            ppid = int(ppid_text)
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or a kernel thread
        out.append([int(entry), ppid, args])
    return out
