"""Zone files: what the installer left on the zone's hosts, rendered from the topology.

Owns the settings files (one per node, as the installer writes them), firstbox's /pitrix
tree (version, variables, node groups, logs, base images, the Pitrix script stand-ins), the
zone's root key and every host's known_hosts, a VM's own files (OS release, interfaces,
rc.local*), each host's command stand-ins, and physical hosts' disk figures. Packages are
packages.py's; starting hosts is the controller's. Must not: start processes or write
outside the lab's host roots and state dir.
"""

from __future__ import annotations

import ipaddress
import json
import random
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from . import hostroot, netconf
from .labhost import Host, Machines
from .libvirt import base_image
from .standins import pitrixlab as pl

JSON = dict[str, Any]
STANDINS = Path(__file__).parent / "standins"
VM_DISK_GB = 50
HOST_OS_GB = 20  # what a physical host's own OS takes on the disk of /pitrix/kernels
FIRSTBOX_SCRIPTS = {
    "gen_mac": "pitrix/bin/gen_mac.py",
    "dump_hosts": "pitrix/bin/dump_hosts.py",
    "gen_node_list": "pitrix/bin/gen_node_list",  # .py or .sh by installer version
    "build_pkgs_allinone": "pitrix/build/build_pkgs_allinone",
    "launch_vms.sh": "pitrix/install/launch_vms.sh",
    "install_nodes.sh": "pitrix/install/install_nodes.sh",
    "update.sh": "pitrix/upgrade/update.sh",
    "exec_nodes.sh": "pitrix/upgrade/exec_nodes.sh",
    "build_global_conf.sh": "pitrix/upgrade/build_global_conf.sh",
}
# The OS releases firstbox's _update_node.sh has an apt branch for (topology key
# `update_node_releases`): every shipped installer knows 18.04; a topology may leave it out to
# rehearse the public script, where apt-get install on 18.04 runs without --yes (R23).
UPDATE_NODE_RELEASES = ("12.04", "14.04", "16.04", "18.04")
APT_OPTIONS = {"12.04": "--yes --force-yes --allow-unauthenticated --reinstall",
               "14.04": "--yes --force-yes --allow-unauthenticated --reinstall"}
APT_OPTIONS_DEFAULT = "--yes --allow-unauthenticated --reinstall"  # --force-yes: deprecated
HOST_COMMANDS = ("ping", "virsh", "supervisorctl", "apt-get", "dpkg-query", "shutdown",
                 "reboot", "poweroff", "ip", "service", "systemctl", "df", "ps", "arping")


def random_mac(rng: random.Random) -> str:
    return "00:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))


def node_settings(t: JSON, node: JSON, *, physical: bool, mac: Callable[[], str]) -> str:
    """The settings file of one node, as the installer wrote it (reference section 2)."""
    vg = any("vgateway" in p["role"] for p in t["physical"])
    # with VG nodes a proxy's default route is on its EIP network and its MGMT routes go via
    # vg_mgmt_network_gateway (R10/R11); the other VMs sit in the KS network with its gateway
    vg_proxy = vg and not physical and node["role"] == "proxy"
    gw = "" if vg_proxy else node.get("gateway", t["gateway"])
    via = t.get("vg_mgmt_network_gateway") if vg_proxy else node.get("gateway", t["gateway"])
    mgmt_rule = ""
    if vg_proxy and not all(_same24(t["network"], v) for v in _listed(t.get("vg_network"))):
        mgmt_rule = f"ip route add {t['network']} via {t['vg_mgmt_network_gateway']}"
    region = t.get("region") or {}
    name = node["name"]
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        ("Role", [("role", node["role"])]),
        ("Region", [("is_region", "1" if region else "0"),
                    ("region_id", region.get("region_id", "")),
                    ("zone_id", str(node.get("zone_id", t["zone_id"])))]),
        ("Feature", [("feature_vmnode", "on"), ("feature_ksnode", "on"),
                     ("feature_vgnode", "on" if "vgateway" in node["role"] else "off"),
                     ("feature_hypernode", "off"), ("feature_conntrack", "off")]),
        ("Firstbox", [("firstbox_address", t["firstbox"]["address"])]),
        ("General", [("cpu_arch", "x86_64"), ("cpu_cores", str(node.get("cpu", 4))),
                     ("memory_size", str(node.get("memory", 8000))),
                     ("os_name", t["os"][0]), ("os_version", t["os"][1]),
                     ("hostname", name)]),
    ]
    mgmt = [("mgmt_network_interface", "eth0"), ("mgmt_network_address", node["address"]),
            ("mgmt_network_netmask", netmask_of(t, node["address"])),
            ("mgmt_network_gateway", gw),
            ("mgmt_network_dns_servers", t.get("dns", t["gateway"])),
            ("mgmt_network_mac_address", mac())]
    if physical:
        sections.append(("Mgmt Network", mgmt))
        if "vgateway" in node["role"]:
            sections.append(("Eip Network", _eip(t, node, mac)))
        sections.append(("Host", [("physical_host_network_interface", "")]))
        return pl.render_settings(sections)
    with_eip = node["role"] == "proxy"
    sections.append(("Mgmt Network", mgmt + ([("mgmt_network_routing_rule", mgmt_rule)]
                                             if with_eip else [])))
    base = zone_variable(t, str(node.get("zone_id", t["zone_id"])), "vm_base_network")
    rule = f"ip route add {base} src {node['address']} via {via}"
    sections.append(("VM Network", [("vm_network_routing_rule", rule)]))
    if with_eip and vg:
        sections.append(("Eip Network", _eip(t, node, mac)))
    phys = next(p for p in t["physical"] if p["name"] == node["physical"])
    sections.append(("Host", [("physical_host", phys["address"]),
                              ("physical_host_network_interface", "br0"),
                              ("physical_host_eip_network_interface",
                               "br1" if with_eip and vg else "")]))
    return pl.render_settings(sections)


def apt_branches(releases: Iterable[str]) -> str:
    """_update_node.sh's `if` on os_version: one branch per release (as the Pitrix script)."""
    lines: list[str] = []
    for i, release in enumerate(releases):
        lines += [f'{"if" if i == 0 else "elif"} [[ ${{os_version}} == "{release}"* ]]; then',
                  f'    apt_options="{APT_OPTIONS.get(release, APT_OPTIONS_DEFAULT)}"']
    return "\n".join([*lines, "fi"] if lines else ["# no release known"])


def update_node_script(t: JSON) -> str:
    """The _update_node.sh stand-in with the topology's apt branches."""
    releases = t.get("update_node_releases", UPDATE_NODE_RELEASES)
    text = (STANDINS / "pitrix" / "_update_node.sh").read_text()
    return text.replace("# @APT_BRANCHES@", apt_branches(releases))


def zone_variable(t: JSON, zone_id: str, key: str) -> str:
    """A zone variable: the topology's `zone_variables.<zone>.<key>` (a region's other zone),
    else its top-level key."""
    return str(((t.get("zone_variables") or {}).get(zone_id) or {}).get(key, t[key]))


def zone_ids_of(t: JSON) -> list[str]:
    """The topology's zone first, then the other zones its nodes name (a region)."""
    others = sorted({str(n["zone_id"]) for n in t["physical"] + t["vms"] if n.get("zone_id")}
                    - {t["zone_id"]})
    return [t["zone_id"], *others]


def _listed(value: Any) -> list[str]:
    """A topology network key: one CIDR, a list of them, or absent."""
    if not value:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def mgmt_networks(t: JSON) -> list[str]:
    """The topology's MGMT networks: ``network`` (the KS MGMT network), every VG network
    (``vg_network``: one CIDR or a list) and a region's other zones' ``mgmt_network``."""
    zones = (t.get("zone_variables") or {}).values()
    return [str(t["network"]), *_listed(t.get("vg_network")),
            *(str(z["mgmt_network"]) for z in zones if (z or {}).get("mgmt_network"))]


def _netmask_in(address: str, networks: Iterable[str]) -> str:
    """The netmask of the first network holding ``address`` (a /24 when none does)."""
    if address:
        ip = ipaddress.IPv4Address(address)
        for cidr in networks:
            net = ipaddress.IPv4Network(cidr, strict=False)
            if ip in net:
                return str(net.netmask)
    return "255.255.255.0"


def netmask_of(t: JSON, address: str) -> str:
    """A node's MGMT netmask: its network's prefix (a /23 zone writes 255.255.254.0, as the
    installer does, so settings, interfaces and the R10 routes agree)."""
    return _netmask_in(address, mgmt_networks(t))


def _eip(t: JSON, node: JSON, mac: Callable[[], str]) -> list[tuple[str, str]]:
    eip = node.get("eip") or {}
    address = eip.get("address", "")
    nets = [eip["network"]] if eip.get("network") else _listed(t.get("eip_network"))
    return [("eip_network_interface", "eth1"), ("eip_network_address", address),
            ("eip_network_netmask", _netmask_in(address, nets)),
            ("eip_network_gateway", eip.get("gateway", "")),
            ("eip_network_mac_address", mac())]


def _same24(a: str, b: str | None) -> bool:
    if not b:
        return True
    na = ipaddress.IPv4Network(a, strict=False)
    nb = ipaddress.IPv4Network(b, strict=False)
    return na.supernet(new_prefix=24) == nb.supernet(new_prefix=24) if na.prefixlen >= 24 \
        else nb.subnet_of(na)


def keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True)


class ZoneFiles:
    """The zone's files in the host roots (the topology ``t`` already placed)."""

    def __init__(self, t: JSON, rng: random.Random, machines: Machines,
                 new_installer: bool) -> None:
        self.t = t
        self.rng = rng  # settings' MACs (and libvirt's UUIDs): one seeded sequence
        self.machines = machines
        self.new_installer = new_installer

    def root(self, iid: str) -> Path:
        return self.machines.paths(iid).root

    @property
    def fb_root(self) -> Path:
        return self.root("firstbox")

    @property
    def key(self) -> Path:
        return self.machines.dir / "zone" / "firstbox_id_ed25519"

    def settings_of(self, name: str) -> dict[str, str]:
        return pl.read_settings(name, self.fb_root)

    def mac(self) -> str:
        return random_mac(self.rng)

    def extra_authorized(self) -> list[str]:
        """firstbox's root key (made once), authorized on every zone host."""
        if not self.key.exists():
            self.key.parent.mkdir(parents=True, exist_ok=True)
            keygen(self.key, "root@" + self.t["firstbox"]["name"])
        return [self.key.with_suffix(".pub").read_text().strip()]

    def write_settings(self) -> None:
        """The settings files of every node, then the node groups gen_node_list makes."""
        t, fb = self.t, self.fb_root
        for node in t["physical"] + t["vms"]:
            hostroot.write(fb / "pitrix/conf/settings" / node["name"],
                           node_settings(t, node, physical=node in t["physical"], mac=self.mac))
        groups = pl.node_groups(pl.all_settings(fb))
        for g, members in groups.items():
            hostroot.write(fb / "pitrix/conf/nodes" / g, pl.render_group(members))

    def install_standins(self, h: Host) -> None:
        root = self.root(h.iid)
        shutil.copy2(STANDINS / "pitrixlab.py", root / "lab/lib/pitrixlab.py")
        for cmd in HOST_COMMANDS:
            shutil.copy2(STANDINS / "bin" / cmd, root / "lab/bin" / cmd)
            (root / "lab/bin" / cmd).chmod(0o755)
        hostroot.write(root / "etc/os-release", 'NAME="Ubuntu"\n')

    def write_firstbox(self) -> None:
        """firstbox's /pitrix: version, variables, templates, logs, base images, scripts."""
        t, fb = self.t, self.fb_root
        version = {"current": {"installer": str(t["installer"]), "qingcloud": "20230601",
                               "upgrade": "", "patch": ""}, "old": []}
        hostroot.write(fb / "pitrix/version.json", json.dumps(version, indent=2) + "\n")
        self.write_variables(fb / "pitrix/conf/variables")
        hostroot.write(fb / "pitrix/conf/templates/empty_setting", "")
        for rel in ("exec_nodes", "update_nodes", "launch_vms", "install_nodes", "build_pkgs"):
            (fb / "pitrix/log" / rel).mkdir(parents=True, exist_ok=True)
        for ver in t["prepared"]:
            hostroot.write(fb / "pitrix/kernels" / base_image(ver), "base image\n")
        (fb / "pitrix/repo/indep").mkdir(parents=True, exist_ok=True)
        for src, dest in FIRSTBOX_SCRIPTS.items():
            target = fb / dest
            if src in ("gen_node_list", "build_pkgs_allinone"):
                ext = ".py" if self.new_installer else ".sh"
                target = target.with_name(target.name + ext)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(STANDINS / "pitrix" / src, target)
            target.chmod(0o755)
        hostroot.write(fb / "pitrix/upgrade/_update_node.sh", update_node_script(t), 0o755)
        hostroot.write(fb / "root/.ssh/id_ed25519", self.key.read_text(), 0o600)
        hostroot.write(fb / "root/.ssh/id_ed25519.pub", self.key.with_suffix(".pub").read_text())

    def write_variables(self, var_dir: Path) -> None:
        """The installer's variables: one YAML file (4.3+) or one file per key (4.2)."""
        t = self.t
        zone_id = t["zone_id"]
        zone_ids = zone_ids_of(t)  # a region topology names other zones on its nodes
        variables = {
            "vg_mgmt_network_gateway": t.get("vg_mgmt_network_gateway", ""),
            "vm_base_network": t["vm_base_network"], "mgmt_network": t["network"],
            "deploy_boss": str(t["deploy_boss"] if t["deploy_boss"] == 2 else 0),
            "deploy_warehouse": "1" if t["deploy_warehouse"] else "0",
            "webservice_floating_ip": t.get("webservice_vip", ""),
            "is_global_zone": "0" if t.get("region") else "1", "cloud_type": "private",
        }
        def per_zone(z: str) -> dict[str, str]:  # `vip`: the lab's, not a variable
            return {**variables, **{k: str(v) for k, v in
                                    ((t.get("zone_variables") or {}).get(z) or {}).items()
                                    if k != "vip"}}

        common = {"ssh_port": 22, "firstbox_address": t["firstbox"]["address"],
                  "cloud_type": "private", "domain": t["domain"],
                  "is_region": 1 if t.get("region") else 0,
                  "region_id": (t.get("region") or {}).get("region_id", ""),
                  "console_id": "qingcloud", "console_name": "console",
                  "site_protocol": "http", "zone_ids": zone_ids}
        if self.new_installer:
            hostroot.write(var_dir / "variables.yaml", yaml.safe_dump(
                {"common": common, **{z: per_zone(z) for z in zone_ids}}, sort_keys=False))
        else:
            for k, v in common.items():
                hostroot.write(var_dir / k, (" ".join(v) if isinstance(v, list) else str(v)) + "\n")
            for z in zone_ids:
                for k, v in per_zone(z).items():
                    hostroot.write(var_dir / f"{k}.{z}", f"{v}\n")
        hostroot.write(var_dir / "hosts", "")
        (var_dir / "global").mkdir(parents=True, exist_ok=True)
        hostroot.write(var_dir / "global" / f"zone.yaml.{zone_id}", f"zone_id: {zone_id}\n")
        if t["deploy_boss"] == 1:
            hostroot.write(var_dir / "global/boss.yaml", "boss: v1\n")
        if t["deploy_boss"] == 2:
            hostroot.write(var_dir / f"boss2/boss2.yaml.{zone_id}", "boss: v2\n")

    def write_zone_json(self, facts: JSON) -> None:
        """The zone facts the stand-ins read on firstbox (/pitrix/lab/zone.json)."""
        hostroot.write(self.fb_root / "pitrix/lab/zone.json", json.dumps(facts))

    def write_capacity(self, p: JSON) -> None:
        """A physical host's disk: the topology's disk_gb is what is free for launches; the
        host OS and the images of the VMs it runs already fill the rest (df shows both)."""
        free = p.get("disk_gb", 500)
        guests = sum(1 for v in self.t["vms"] if v["physical"] == p["name"])
        hostroot.write(self.root(p["name"]) / "lab/state/capacity.json",
                       json.dumps({"cpu": 32, "memory_mb": 131072, "disk_gb": free,
                                   "disk_total_gb": free + HOST_OS_GB + VM_DISK_GB * guests}))

    def write_node_known_hosts(self, hosts: Iterable[Host]) -> None:
        """Every zone host knows every other by name and address (as a real zone does)."""
        hosts = list(hosts)
        lines: list[str] = []
        for h in hosts:
            keys = hostroot.public_keys(self.machines.paths(h.iid))
            lines += hostroot.known_hosts_lines([h.name, h.address], keys)
        text = "".join(line + "\n" for line in lines)
        for h in hosts:
            hostroot.write(self.root(h.iid) / "root/.ssh/known_hosts", text, 0o600)

    def write_known_for(self, vm: Host) -> None:
        """A new VM's known_hosts: the zone's hosts as firstbox knows them."""
        src = self.fb_root / "root/.ssh/known_hosts"
        hostroot.write(self.root(vm.iid) / "root/.ssh/known_hosts", src.read_text(), 0o600)

    def write_vm(self, h: Host, s: dict[str, str], *, initial: bool) -> None:
        """A VM's own files: OS release, network (interfaces, or netplan: lab/netconf.py);
        initial VMs also their rc.local files."""
        root = self.root(h.iid)
        hostroot.write(root / "etc/lsb-release",
                       f"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={s['os_version']}\n"
                       f"DISTRIB_CODENAME={s['os_name']}\n")
        netconf.write_config(root, s, self.t)
        if initial:
            self.write_rc_files(h, s)

    def write_rc_files(self, h: Host, s: dict[str, str]) -> None:
        """rc.local* as install_nodes.sh writes them from the node's settings."""
        for rel, text in pl.render_rc_files(s).items():
            hostroot.write(self.root(h.iid) / rel, text, 0o755)
