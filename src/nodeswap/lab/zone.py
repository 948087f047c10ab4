"""The simulated zone: a topology turned into hosts, zone files, and the zone's behaviour.

Owns what crosses hosts: VM launches, power (shutdown, reboot, virsh), ping, the keepalived
VIP, package installs (the files a package writes), the console behind the VIP, and faults.
The controller calls ``hosts()``/``populate()`` at start and dispatches the stand-ins' calls
to the ``op_*`` methods (protocol: lab/README.md). Must not: reach outside the lab's roots.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nodeswap.errors import LabError

from . import hostinfo, hostroot
from .labhost import Host, port_free
from .libvirt import Libvirt, base_image
from .standins import pitrixlab as pl

if TYPE_CHECKING:
    from .controller import Controller

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
HOST_COMMANDS = ("ping", "virsh", "supervisorctl", "apt-get", "dpkg-query", "shutdown",
                 "reboot", "poweroff", "ip", "service", "systemctl", "df", "ps")
REPO_PACKAGES = ("pitrix-ks-proxy", "pitrix-ks-proxy-boss", "pitrix-ks-proxy-boss2",
                 "pitrix-ks-proxy-warehouse", "pitrix-hosts", "pitrix-global-conf",
                 "pitrix-ks-webservice", "pitrix-alert-agent")


def installer_tuple(v: str) -> tuple[int, int, int]:
    parts = [int(p) for p in v.split(".")] + [0, 0, 0]
    return parts[0], parts[1], parts[2]


def relocate(topology: JSON, block: int) -> JSON:
    """The topology with every 127.16.* address moved to 127.<block>.* (side-by-side labs)."""
    text = json.dumps(topology).replace("127.16.", f"127.{block}.")
    return dict(json.loads(text))


class Zone:
    """The zone of one lab (state guarded by the controller's lock)."""

    def __init__(self, ctl: Controller, config: JSON) -> None:
        self.ctl = ctl
        self.t = self._place(config["zone"])
        self.new_installer = installer_tuple(str(self.t["installer"])) >= (4, 3, 0)
        self.rng = random.Random(str(self.t["zone_id"]))
        self.vip_holder: str | None = None
        self.vip_forced: str | None = None
        self.squatters: dict[str, socket.socket] = {}
        self.foreign_jobs: dict[str, subprocess.Popen[bytes]] = {}
        self.disk_full: set[str] = set()
        self.counter = 1
        self.console: ThreadingHTTPServer | None = None
        self.power_lock = threading.Lock()
        self.libvirt = Libvirt(self)
        ops: dict[str, Callable[[Host | None, JSON], JSON]] = {
            "ping": self.op_ping, "power": self.op_power, "virsh": self.libvirt.op_virsh,
            "links": self.op_links, "df": self.op_df,
            "launch": self.op_launch, "install_node": self.op_install_node,
            "apt": self.op_apt, "ipaddr": self.op_ipaddr, "fault": self.op_fault,
            "service": self.op_service, "ps": self.op_ps,
        }
        ctl.ops.update(ops)

    # ------------------------------------------------------------------ topology

    def _place(self, topo: JSON) -> JSON:
        for block in range(16, 100):
            t = relocate(topo, block)
            addrs = [t["firstbox"]["address"], t["vip"]]
            addrs += [h["address"] for h in t["physical"] + t["vms"]]
            if all(port_free(a) for a in addrs) and all(port_free(t["vip"], p) for p in (80,)):
                return t
        raise LabError("no free 127.N.x.y block for the zone's addresses")

    def hosts(self) -> list[Host]:
        t = self.t
        out = [Host(iid="firstbox", name=t["firstbox"]["name"], address=t["firstbox"]["address"],
                    role="firstbox", kind="firstbox")]
        out += [Host(iid=p["name"], name=p["name"], address=p["address"], role=p["role"],
                     kind="physical") for p in t["physical"]]
        phys = {p["name"]: p["name"] for p in t["physical"]}
        for v in t["vms"]:
            out.append(Host(iid=v["name"] + ".1", name=v["name"], address=v["address"],
                            role=v["role"], kind="vm", physical=phys[v["physical"]]))
        return out

    def settings_of(self, name: str) -> dict[str, str]:
        return pl.read_settings(name, self.fb_root)

    @property
    def fb_root(self) -> Path:
        return self.ctl.paths("firstbox").root

    def root(self, iid: str) -> Path:
        return self.ctl.paths(iid).root

    def etc_hosts(self) -> str:
        t = self.t
        lines = ["127.0.0.1 localhost", f"{t['firstbox']['address']} {t['firstbox']['name']}"]
        for h in t["physical"] + t["vms"]:
            lines.append(f"{h['address']} {h['name']}.mgmt.pitrix.yunify.com {h['name']}")
        lines.append(f"{t['vip']} proxy.mgmt.pitrix.yunify.com proxy")
        return "\n".join(lines) + "\n"

    def extra_authorized(self) -> list[str]:
        key = self.ctl.dir / "zone" / "firstbox_id_ed25519"
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            hostroot_keygen(key, "root@" + self.t["firstbox"]["name"])
        return [key.with_suffix(".pub").read_text().strip()]

    def public(self) -> JSON:
        t = self.t
        return {"zone_id": t["zone_id"], "installer": t["installer"], "vip": t["vip"],
                "vip_holder": self.vip_holder, "network": t["network"],
                "gateway": t["gateway"], "domain": t["domain"],
                "console_url": f"http://{t['vip']}/"}

    def mac(self) -> str:
        return "00:16:3e:" + ":".join(f"{self.rng.randrange(256):02x}" for _ in range(3))

    # ------------------------------------------------------------------ zone files

    def node_settings(self, node: JSON, physical: bool) -> str:
        """The settings file of one node, as the installer wrote it (reference section 2)."""
        t = self.t
        vg = any("vgateway" in p["role"] for p in t["physical"])
        gw = "" if vg and not physical else node.get("gateway", t["gateway"])
        via = t.get("vg_mgmt_network_gateway") if vg else t["gateway"]
        mgmt_rule = ""
        if vg and not physical and not _same24(t["network"], t["vg_network"]):
            mgmt_rule = f"ip route add {t['network']} via {t['vg_mgmt_network_gateway']}"
        region = t.get("region") or {}
        name = node["name"]
        sections: list[tuple[str, list[tuple[str, str]]]] = [
            ("Role", [("role", node["role"])]),
            ("Region", [("is_region", "1" if region else "0"),
                        ("region_id", region.get("region_id", "")), ("zone_id", t["zone_id"])]),
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
                ("mgmt_network_netmask", "255.255.255.0"), ("mgmt_network_gateway", gw),
                ("mgmt_network_dns_servers", t.get("dns", t["gateway"])),
                ("mgmt_network_mac_address", self.mac())]
        if physical:
            sections.append(("Mgmt Network", mgmt))
            if "vgateway" in node["role"]:
                sections.append(("Eip Network", self._eip(node)))
            sections.append(("Host", [("physical_host_network_interface", "")]))
            return pl.render_settings(sections)
        with_eip = node["role"] == "proxy"
        sections.append(("Mgmt Network", mgmt + ([("mgmt_network_routing_rule", mgmt_rule)]
                                                 if with_eip else [])))
        rule = f"ip route add {t['vm_base_network']} src {node['address']} via {via}"
        sections.append(("VM Network", [("vm_network_routing_rule", rule)]))
        if with_eip and vg:
            sections.append(("Eip Network", self._eip(node)))
        phys = next(p for p in t["physical"] if p["name"] == node["physical"])
        sections.append(("Host", [("physical_host", phys["address"]),
                                  ("physical_host_network_interface", "br0"),
                                  ("physical_host_eip_network_interface",
                                   "br1" if with_eip and vg else "")]))
        return pl.render_settings(sections)

    def _eip(self, node: JSON) -> list[tuple[str, str]]:
        eip = node.get("eip") or {}
        return [("eip_network_interface", "eth1"), ("eip_network_address", eip.get("address", "")),
                ("eip_network_netmask", "255.255.255.0"),
                ("eip_network_gateway", eip.get("gateway", "")),
                ("eip_network_mac_address", self.mac())]

    def populate(self) -> None:
        """Write the zone's files into every host root and install the stand-ins."""
        t = self.t
        for h in self.ctl.hosts.values():
            self.install_standins(h)
        fb = self.fb_root
        for node in t["physical"] + t["vms"]:
            hostroot.write(fb / "pitrix/conf/settings" / node["name"],
                           self.node_settings(node, node in t["physical"]))
        self.write_firstbox(fb)
        self.write_firstbox_key(fb)
        groups = pl.node_groups(pl.all_settings(fb))
        for g, members in groups.items():
            hostroot.write(fb / "pitrix/conf/nodes" / g, pl.render_group(members))
        for v in t["vms"]:
            vm = self.ctl.hosts[v["name"] + ".1"]
            self.write_vm(vm, self.settings_of(v["name"]), initial=True)
            self.libvirt.define_vm(self.ctl.hosts[v["physical"]], v["name"], vm.iid,
                                   self.settings_of(v["name"]))
        for p in t["physical"]:
            # the topology's disk_gb is what is free for launches; the host OS and the
            # images of the VMs it runs already fill the rest (df shows both)
            free = p.get("disk_gb", 500)
            guests = sum(1 for v in t["vms"] if v["physical"] == p["name"])
            hostroot.write(self.root(p["name"]) / "lab/state/capacity.json",
                           json.dumps({"cpu": 32, "memory_mb": 131072, "disk_gb": free,
                                       "disk_total_gb": free + HOST_OS_GB
                                       + VM_DISK_GB * guests}))
            mac = self.settings_of(p["name"]).get("mgmt_network_mac_address", "")
            self.ctl.hosts[p["name"]].extra["mac"] = mac
        hostroot.write(fb / "pitrix/lab/zone.json", json.dumps(
            {**self.public(), "firstbox": t["firstbox"]["name"],
             "firstbox_address": t["firstbox"]["address"], "deploy_boss": t["deploy_boss"],
             "deploy_warehouse": t["deploy_warehouse"], "new_installer": self.new_installer}))
        self.write_node_known_hosts()

    def install_standins(self, h: Host) -> None:
        root = self.root(h.iid)
        shutil.copy2(STANDINS / "pitrixlab.py", root / "lab/lib/pitrixlab.py")
        for cmd in HOST_COMMANDS:
            shutil.copy2(STANDINS / "bin" / cmd, root / "lab/bin" / cmd)
            (root / "lab/bin" / cmd).chmod(0o755)
        hostroot.write(root / "etc/os-release", 'NAME="Ubuntu"\n')

    def write_firstbox(self, fb: Path) -> None:
        t = self.t
        zone_id = t["zone_id"]
        version = {"current": {"installer": str(t["installer"]), "qingcloud": "20230601",
                               "upgrade": "", "patch": ""}, "old": []}
        hostroot.write(fb / "pitrix/version.json", json.dumps(version, indent=2) + "\n")
        variables = {
            "vg_mgmt_network_gateway": t.get("vg_mgmt_network_gateway", ""),
            "vm_base_network": t["vm_base_network"], "mgmt_network": t["network"],
            "deploy_boss": str(t["deploy_boss"] if t["deploy_boss"] == 2 else 0),
            "deploy_warehouse": "1" if t["deploy_warehouse"] else "0",
            "webservice_floating_ip": t.get("webservice_vip", ""),
            "is_global_zone": "0" if t.get("region") else "1", "cloud_type": "private",
        }
        common = {"ssh_port": 22, "firstbox_address": t["firstbox"]["address"],
                  "cloud_type": "private", "domain": t["domain"],
                  "is_region": 1 if t.get("region") else 0,
                  "region_id": (t.get("region") or {}).get("region_id", ""),
                  "console_id": "qingcloud", "console_name": "console",
                  "site_protocol": "http", "zone_ids": [zone_id]}
        var_dir = fb / "pitrix/conf/variables"
        if self.new_installer:
            hostroot.write(var_dir / "variables.yaml",
                           yaml.safe_dump({"common": common, zone_id: variables}, sort_keys=False))
        else:
            for k, v in common.items():
                hostroot.write(var_dir / k, (" ".join(v) if isinstance(v, list) else str(v)) + "\n")
            for k, v in variables.items():
                hostroot.write(var_dir / f"{k}.{zone_id}", f"{v}\n")
        hostroot.write(var_dir / "hosts", "")
        (var_dir / "global").mkdir(parents=True, exist_ok=True)
        hostroot.write(var_dir / "global" / f"zone.yaml.{zone_id}", f"zone_id: {zone_id}\n")
        if t["deploy_boss"] == 1:
            hostroot.write(var_dir / "global/boss.yaml", "boss: v1\n")
        if t["deploy_boss"] == 2:
            hostroot.write(var_dir / f"boss2/boss2.yaml.{zone_id}", "boss: v2\n")
        hostroot.write(fb / "pitrix/conf/templates/empty_setting", "")
        for rel in ("exec_nodes", "update_nodes", "launch_vms", "install_nodes", "build_pkgs"):
            (fb / "pitrix/log" / rel).mkdir(parents=True, exist_ok=True)
        for ver in t["prepared"]:
            repo = fb / "pitrix/repo" / ver
            for pkg in REPO_PACKAGES:
                hostroot.write(repo / f"{pkg}_1.0.{ver}_all.deb", f"{pkg}\n")
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

    def write_firstbox_key(self, fb: Path) -> None:
        key = self.ctl.dir / "zone" / "firstbox_id_ed25519"
        hostroot.write(fb / "root/.ssh/id_ed25519", key.read_text(), 0o600)
        hostroot.write(fb / "root/.ssh/id_ed25519.pub", key.with_suffix(".pub").read_text())

    def write_node_known_hosts(self) -> None:
        """Every zone host knows every other by name and address (as a real zone does)."""
        lines: list[str] = []
        for h in self.ctl.hosts.values():
            keys = hostroot.public_keys(self.ctl.paths(h.iid))
            lines += hostroot.known_hosts_lines([h.name, h.address], keys)
        text = "".join(line + "\n" for line in lines)
        for h in self.ctl.hosts.values():
            hostroot.write(self.root(h.iid) / "root/.ssh/known_hosts", text, 0o600)

    def write_vm(self, h: Host, s: dict[str, str], *, initial: bool) -> None:
        """A VM's own files: OS release, interfaces; initial VMs also their installed state."""
        root = self.root(h.iid)
        hostroot.write(root / "etc/lsb-release",
                       f"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={s['os_version']}\n"
                       f"DISTRIB_CODENAME={s['os_name']}\n")
        hostroot.write(root / "etc/network/interfaces", pl.render_interfaces(s))
        if not initial:
            return
        for rel, text in pl.render_rc_files(s).items():
            hostroot.write(root / rel, text, 0o755)
        pkgs = ["pitrix-hosts", "pitrix-global-conf"]
        if h.role == "proxy":
            pkgs.append("pitrix-ks-proxy")
            boss = self.t["deploy_boss"]
            pkgs += ["pitrix-ks-proxy-boss"] if boss == 1 else []
            pkgs += ["pitrix-ks-proxy-boss2"] if boss == 2 else []
            pkgs += ["pitrix-ks-proxy-warehouse"] if self.t["deploy_warehouse"] else []
        elif h.role == "webservice":
            pkgs.append("pitrix-ks-webservice")
        self.install_packages(h, pkgs, old_installer=True)

    # ------------------------------------------------------------------ packages

    def install_packages(self, h: Host, pkgs: list[str], *, old_installer: bool = False) -> None:
        """What each package writes on a node (the rendering lives in pitrixlab)."""
        root = self.root(h.iid)
        status_path = root / "var/lib/dpkg/lab-status.json"
        installed: dict[str, str] = json.loads(status_path.read_text()) if status_path.exists() \
            else {}
        os_version = _lsb(root).get("DISTRIB_RELEASE", self.t["os"][1])
        for p in pkgs:
            installed[p] = f"1.0.{os_version}"
        hostroot.write(status_path, json.dumps(installed, indent=1))
        if "pitrix-hosts" in pkgs:
            built = self.fb_root / "pitrix/build/packages/deb/pitrix-hosts/hosts"
            hostroot.write(root / "etc/hosts", built.read_text() if built.exists()
                           else self.etc_hosts())
        if any(p.startswith("pitrix-ks-proxy") for p in pkgs):
            backends = self.proxy_backends()
            cfg = pl.render_haproxy(backends, list(installed), old_installer=old_installer)
            hostroot.write(root / "etc/haproxy/haproxy.cfg", cfg)
            hostroot.write(root / "etc/keepalived/keepalived.conf",
                           f"vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51"
                           f"\n    virtual_ipaddress {{\n        {self.t['vip']}\n    }}\n}}\n")
            if "pitrix-ks-proxy-boss" in pkgs:
                boss = "server { listen 80; }\n"
                hostroot.write(root / "etc/nginx/sites-enabled/boss.conf", boss)
            h.extra["keepalived"] = True
            self.set_service(h, "haproxy", True)
            self.set_service(h, "keepalived", True)
        for p in pkgs:
            for prog in pl.SUPERVISOR_PROGRAMS.get(p, []):
                hostroot.write(root / f"etc/supervisor/conf.d/{prog}.conf", pl.render_program(prog))
        if old_installer and self.t.get("region") and h.role == "proxy":
            self.hand_edit_region(h)

    def proxy_backends(self) -> list[str]:
        return [v["address"] for v in self.t["vms"] if v["role"] == "webservice"]

    def hand_edit_region(self, h: Host) -> None:
        """Sub zone: the old proxies' api/ws/io servers point at the global webservices."""
        cfg = self.root(h.iid) / "etc/haproxy/haproxy.cfg"
        text = cfg.read_text()
        for old, new in zip(self.proxy_backends(), self.t["region"]["global_webservices"],
                            strict=False):
            text = text.replace(f" {old}:7777", f" {new}:7777").replace(
                f" {old}:8565", f" {new}:8565").replace(f" {old}:8000", f" {new}:8000")
        cfg.write_text(text)

    def set_service(self, h: Host, name: str, running: bool) -> None:
        path = self.root(h.iid) / "run/lab/services.json"
        state = json.loads(path.read_text()) if path.exists() else {}
        state[name] = running
        hostroot.write(path, json.dumps(state))

    def service_running(self, h: Host, name: str) -> bool:
        path = self.root(h.iid) / "run/lab/services.json"
        return bool(path.exists() and json.loads(path.read_text()).get(name))

    # ------------------------------------------------------------------ startup, VIP, console

    def starts_up(self, h: Host) -> bool:
        return True

    def after_start(self) -> None:
        first = next(v["name"] for v in self.t["vms"] if v["role"] == "proxy")
        self.vip_holder = first + ".1"
        self.start_console()

    def by_address(self, address: str) -> Host | None:
        with self.ctl.lock:
            return next((h for h in self.ctl.hosts.values() if h.up and h.address == address),
                        None)

    def update_vip(self) -> None:
        """keepalived: the holder keeps the VIP while it is eligible; else the first eligible
        proxy (old nodes first) takes it. A forced holder (fault) wins while eligible."""
        with self.ctl.lock:
            def eligible(iid: str | None) -> bool:
                h = self.ctl.hosts.get(iid or "")
                return bool(h and h.up and h.extra.get("keepalived")
                            and self.service_running(h, "keepalived"))
            if self.vip_forced and eligible(self.vip_forced):
                self.vip_holder = self.vip_forced
            elif not eligible(self.vip_holder):
                cands = sorted((h for h in self.ctl.hosts.values() if eligible(h.iid)),
                               key=lambda h: (int(h.iid.rsplit(".", 1)[-1]), h.iid))
                self.vip_holder = cands[0].iid if cands else None

    def start_console(self) -> None:
        zone = self

        class Console(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                zone.update_vip()
                holder = zone.ctl.hosts.get(zone.vip_holder or "")
                ok = holder is not None and zone.service_running(holder, "haproxy")
                body = (f"<html><title>QingCloud Console</title><body>console of zone "
                        f"{zone.t['zone_id']} via {holder.name if holder else '-'}</body></html>"
                        if ok else "<html><body>503 Service Unavailable</body></html>")
                raw = body.encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.console = ThreadingHTTPServer((self.t["vip"], 80), Console)
        self.console.daemon_threads = True
        threading.Thread(target=self.console.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.console is not None:
            self.console.shutdown()
            self.console.server_close()
        for s in self.squatters.values():
            s.close()
        for job in list(self.foreign_jobs.values()):
            _end_job(job)
        self.foreign_jobs.clear()

    # ------------------------------------------------------------------ operations

    def op_ping(self, caller: Host | None, body: JSON) -> JSON:
        """Does this address answer ping? Only hosts that are up (and squatted addresses)."""
        addr = body["address"]
        if addr in self.squatters:
            return {"alive": True}
        self.update_vip()
        if addr == self.t["vip"]:
            return {"alive": self.vip_holder is not None}
        h = self.by_address(addr)
        return {"alive": h is not None and not h.stalled}

    def op_ps(self, caller: Host | None, body: JSON) -> JSON:
        """The processes running inside the caller's root (the ps stand-in): [pid, ppid,
        args], read from /proc outside the chroot."""
        assert caller is not None
        root = os.path.realpath(self.root(caller.iid))
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/root") != root:
                    continue
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    args = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile, or a kernel thread
            out.append([int(entry), ppid, args])
        return {"processes": out}

    def op_ipaddr(self, caller: Host | None, body: JSON) -> JSON:
        assert caller is not None
        self.update_vip()
        extra = [self.t["vip"]] if self.vip_holder == caller.iid else []
        return {"address": caller.address, "extra": extra}

    def op_links(self, caller: Host | None, body: JSON) -> JSON:
        """The caller's interfaces and addresses (for the `ip` stand-in)."""
        assert caller is not None
        return {"links": hostinfo.links(self, caller)}

    def op_df(self, caller: Host | None, body: JSON) -> JSON:
        """The filesystem under a physical host's /pitrix/kernels (for the `df` stand-in)."""
        assert caller is not None
        return hostinfo.df(self, caller)

    def op_service(self, caller: Host | None, body: JSON) -> JSON:
        assert caller is not None
        name, action = body["name"], body["action"]
        if action in ("start", "restart"):
            self.set_service(caller, name, True)
        elif action == "stop":
            self.set_service(caller, name, False)
        self.update_vip()
        return {"running": self.service_running(caller, name)}

    def op_power(self, caller: Host | None, body: JSON) -> JSON:
        """shutdown -h / -r, reboot: answered now, done a moment later (the session ends)."""
        assert caller is not None
        action = body["action"]
        if action not in ("halt", "reboot"):
            raise ValueError(f"unknown power action {action!r}")
        threading.Thread(target=self._power, args=(caller, action, 0.3), daemon=True).start()
        return {"scheduled": action}

    def _power(self, h: Host, action: str, delay: float) -> None:
        time.sleep(delay)  # let the caller's ssh session print and close, as on a real host
        with self.power_lock:
            if h.kind == "physical":
                self.libvirt.power_off_guests(h)  # its VMs go down with it
            self.ctl.stop_host(h)
            self.update_vip()
            if action == "reboot":
                self.boot(h)
                if h.kind == "physical":
                    self.libvirt.autostart(h)  # libvirtd starts the autostart domains
            self.ctl.write_lab_json()

    def boot(self, h: Host) -> None:
        """Start a host at the address in its /etc/network/interfaces (run rc.local)."""
        root = self.root(h.iid)
        iface = root / "etc/network/interfaces"
        addr = pl.interfaces_address(iface.read_text()) if iface.exists() else None
        other = self.by_address(addr or h.address)
        if (other is not None and other is not h) or (addr or h.address) in self.squatters:
            raise LabError(f"{h.iid} cannot come up at {addr or h.address}: the address is "
                           f"taken by {other.iid if other else 'something else'} (the lab "
                           "cannot run two hosts on one address)")
        if addr:
            h.address = addr
        shutil.rmtree(root / "run/lab", ignore_errors=True)
        (root / "run/lab").mkdir(parents=True, exist_ok=True)
        if h.extra.get("keepalived"):
            self.set_service(h, "keepalived", True)
            self.set_service(h, "haproxy", True)
        self.ctl.start_host(h)
        self.ctl.wait_ready([h])
        self.ctl.write_known_hosts()
        self.update_vip()

    def op_launch(self, caller: Host | None, body: JSON) -> JSON:
        """launch_vms.sh: a new VM from its settings file (reference section 4)."""
        name, force = body["name"], bool(body.get("force"))
        s = self.settings_of(name)
        phys = self.by_address(s.get("physical_host", ""))
        if phys is None or phys.kind != "physical":
            raise LabError(f"{name}: physical host {s.get('physical_host')!r} is not reachable")
        kernels = self.root(phys.iid) / "pitrix/kernels"
        if (kernels / f"{name}.Done").exists() and not force:
            return {"skipped": True, "physical": phys.name}
        ver = s.get("os_version", "")
        if not (self.fb_root / "pitrix/kernels" / base_image(ver)).exists() or \
                not (self.fb_root / "pitrix/repo" / ver).is_dir():
            raise LabError(f"{name}: base image and repository of {s.get('os_name')} {ver} are "
                           "not prepared on firstbox (R4)")
        cap_path = self.root(phys.iid) / "lab/state/capacity.json"
        cap = json.loads(cap_path.read_text())
        if force and self.libvirt.remove(phys, name):  # -f: the old domain and files go first
            cap["disk_gb"] += VM_DISK_GB
            cap_path.write_text(json.dumps(cap))
        if phys.iid in self.disk_full or cap["disk_gb"] < VM_DISK_GB:
            raise LabError(f"{name}: cannot create {kernels}/{name}.img on {phys.name}: "
                           "No space left on device")
        self.counter += 1
        vm = Host(iid=f"{name}.{self.counter}", name=name, address=s["mgmt_network_address"],
                  role=s.get("role", ""), kind="vm", physical=phys.iid)
        if self.by_address(vm.address) is not None or vm.address in self.squatters:
            raise LabError(f"{name}: address {vm.address} is already in use")
        with self.ctl.lock:
            self.ctl.hosts[vm.iid] = vm
        self.ctl.build_host(vm, self.fb_hosts(), [self.ctl.lab_key(),
                                                 *self.extra_authorized()])
        self.install_standins(vm)
        self.write_vm(vm, s, initial=False)
        self.write_known_for(vm)
        self.libvirt.define_vm(phys, name, vm.iid, s)
        cap["disk_gb"] -= VM_DISK_GB
        cap_path.write_text(json.dumps(cap))
        with self.power_lock:
            self.boot(vm)
        self.ctl.write_lab_json()
        return {"launched": vm.iid, "physical": phys.name, "address": vm.address}

    def fb_hosts(self) -> str:
        return (self.fb_root / "etc/hosts").read_text()

    def write_known_for(self, vm: Host) -> None:
        """A new VM's known_hosts: the zone's hosts as firstbox knows them."""
        src = self.fb_root / "root/.ssh/known_hosts"
        hostroot.write(self.root(vm.iid) / "root/.ssh/known_hosts", src.read_text(), 0o600)

    def op_install_node(self, caller: Host | None, body: JSON) -> JSON:
        """install_nodes.sh for one VM: interfaces and rc.local files from its settings."""
        name = body["name"]
        s = self.settings_of(name)
        vm = self.by_address(s.get("mgmt_network_address", ""))
        if vm is None or vm.name != name:
            raise LabError(f"{name}: no running node at {s.get('mgmt_network_address')}")
        root = self.root(vm.iid)
        hostroot.write(root / "etc/network/interfaces", pl.render_interfaces(s))
        for rel, text in pl.render_rc_files(s).items():
            hostroot.write(root / rel, text, 0o755)
        return {"node": vm.iid}

    def op_apt(self, caller: Host | None, body: JSON) -> JSON:
        """apt-get install on a node: packages must be in firstbox's repo of the node's OS."""
        assert caller is not None
        ver = _lsb(self.root(caller.iid)).get("DISTRIB_RELEASE", "")
        repo = self.fb_root / "pitrix/repo" / ver
        pkgs = list(body["packages"])
        missing = [p for p in pkgs if not list(repo.glob(f"{p}_*"))]
        if missing:
            raise LabError(f"Unable to locate package {missing[0]}")
        self.install_packages(caller, pkgs)
        self.update_vip()
        return {"installed": pkgs}

    # ------------------------------------------------------------------ faults

    def find(self, name: str) -> Host:
        """A host by instance id, else by name (the live instance, newest first)."""
        with self.ctl.lock:
            if name in self.ctl.hosts:
                return self.ctl.hosts[name]
            same = [h for h in self.ctl.hosts.values() if h.name == name]
        if not same:
            raise LookupError(f"no host {name!r} in the lab")
        same.sort(key=lambda h: (h.up, h.iid), reverse=True)
        return same[0]

    def op_fault(self, caller: Host | None, body: JSON) -> JSON:
        """Inject or clear a fault (the Fault API, lab/README.md)."""
        if caller is not None:
            raise PermissionError("faults are injected by the lab's owner only")
        kind, clear = body["kind"], bool(body.get("clear"))
        handler = getattr(self, "fault_" + kind.replace("-", "_"), None)
        if handler is None:
            raise LookupError(f"unknown fault {kind!r}")
        result: JSON = handler(body, clear)
        self.ctl.write_lab_json()
        return {"fault": kind, "cleared": clear, **result}

    def fault_host_down(self, body: JSON, clear: bool) -> JSON:
        h = self.find(body["host"])
        with self.power_lock:
            if clear:
                self.boot(h)
            else:
                self.ctl.stop_host(h)
                self.update_vip()
        return {"host": h.iid}

    def fault_host_hang(self, body: JSON, clear: bool) -> JSON:
        h = self.find(body["host"])
        self.ctl.stall_host(h, not clear)
        return {"host": h.iid}

    def _fault_script(self, body: JSON, clear: bool, script: str) -> JSON:
        """A plain name is shadowed on PATH (/lab/faults/bin); an absolute path (a Pitrix
        script such as /pitrix/upgrade/update.sh, which callers run by its path) is replaced
        in the host root, its original kept beside it and put back on clear."""
        h = self.find(body["host"])
        cmd = body["command"]
        if cmd.startswith("/"):
            return self._fault_path(h, cmd, clear, script)
        if "/" in cmd or not cmd:
            raise ValueError(f"command must be a plain name or an absolute path, not {cmd!r}")
        path = self.root(h.iid) / "lab/faults/bin" / cmd
        if clear:
            path.unlink(missing_ok=True)
        else:
            hostroot.write(path, script.format(cmd=cmd), 0o755)
        return {"host": h.iid, "command": cmd}

    def _fault_path(self, h: Host, cmd: str, clear: bool, script: str) -> JSON:
        parts = Path(cmd).parts[1:]
        if not parts or ".." in parts or parts[0] in ("usr", "bin", "sbin", "lib", "lib64",
                                                       "dev", "proc"):
            raise ValueError(f"cannot fault {cmd!r}: a path in the host's own root is needed")
        path = self.root(h.iid).joinpath(*parts)
        keep = path.with_name(path.name + ".lab-orig")
        if clear:
            if keep.exists():
                keep.replace(path)
        else:
            if not path.exists():
                raise LookupError(f"no {cmd} on {h.iid}")
            if not keep.exists():
                path.replace(keep)
            hostroot.write(path, script.format(cmd=Path(cmd).name), 0o755)
        return {"host": h.iid, "command": cmd}

    def fault_command_fails(self, body: JSON, clear: bool) -> JSON:
        return self._fault_script(body, clear, "#!/bin/sh\necho \"{cmd}: injected failure\" >&2\n"
                                  "exit 1\n")

    def fault_command_hangs(self, body: JSON, clear: bool) -> JSON:
        return self._fault_script(body, clear, "#!/bin/sh\nexec sleep 3600\n")

    def fault_supervisor_fatal(self, body: JSON, clear: bool) -> JSON:
        h = self.find(body["host"])
        path = self.root(h.iid) / "lab/state/faults.json"
        faults = json.loads(path.read_text()) if path.exists() else {}
        fatal = set(faults.get("fatal", []))
        (fatal.discard if clear else fatal.add)(body["program"])
        faults["fatal"] = sorted(fatal)
        hostroot.write(path, json.dumps(faults))
        return {"host": h.iid, "program": body["program"]}

    def fault_address_taken(self, body: JSON, clear: bool) -> JSON:
        addr = str(ipaddress.IPv4Address(body["address"]))
        if not addr.startswith("127."):
            raise ValueError(f"lab addresses are in 127.0.0.0/8, not {addr}")
        if clear:
            s = self.squatters.pop(addr, None)
            if s is not None:
                s.close()
        elif addr not in self.squatters:
            s = socket.socket()
            s.bind((addr, 22))
            s.listen(16)  # accepts TCP, never speaks SSH: "something else is there"
            self.squatters[addr] = s
        return {"address": addr}

    def fault_vip_to(self, body: JSON, clear: bool) -> JSON:
        self.vip_forced = None if clear else self.find(body["host"]).iid
        self.update_vip()
        return {"vip_holder": self.vip_holder}

    def fault_disk_full(self, body: JSON, clear: bool) -> JSON:
        h = self.find(body["host"])
        (self.disk_full.discard if clear else self.disk_full.add)(h.iid)
        return {"host": h.iid}

    def fault_foreign_job(self, body: JSON, clear: bool) -> JSON:
        """R20: a job nodeswap did not start runs on the host (default firstbox): a script
        named like ``command`` (default update.sh), run by bash with ``args``, inside the
        host's root, sleeping until cleared (a process the lab records and ends)."""
        h = self.find(body.get("host") or self.t["firstbox"]["name"])
        name = Path(body.get("command") or "update.sh").name
        key = f"{h.iid}/{name}"
        if clear:
            job = self.foreign_jobs.pop(key, None)
            if job is not None:
                _end_job(job)
            return {"host": h.iid, "command": name}
        if key not in self.foreign_jobs:
            root = self.root(h.iid)
            hostroot.write(root / "lab/faults/jobs" / name, "#!/bin/bash\nsleep 3600\n", 0o755)
            args = str(body.get("args") or "-f all pitrix-hosts").split()
            self.foreign_jobs[key] = subprocess.Popen(
                ["chroot", str(root), "/bin/bash", f"/lab/faults/jobs/{name}", *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        return {"host": h.iid, "command": name, "pid": self.foreign_jobs[key].pid}

    def fault_cron_push(self, body: JSON, clear: bool) -> JSON:
        """R20: a cron entry on the host (default firstbox) that pushes pitrix-hosts
        (/etc/cron.d/lab-pitrix-hosts; nothing runs it)."""
        h = self.find(body.get("host") or self.t["firstbox"]["name"])
        path = self.root(h.iid) / "etc/cron.d/lab-pitrix-hosts"
        if clear:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            hostroot.write(path, "# pushed every night (lab fault)\n"
                           "0 3 * * * root /pitrix/upgrade/update.sh -f all pitrix-hosts\n")
        return {"host": h.iid, "path": "/etc/cron.d/lab-pitrix-hosts"}

    def fault_haproxy_hand_edit(self, body: JSON, clear: bool) -> JSON:
        h = self.find(body["host"])
        cfg = self.root(h.iid) / "etc/haproxy/haproxy.cfg"
        marker = "# hand edit (lab fault)\n"
        text = cfg.read_text()
        block = (marker + "listen hand-made-front\n    bind 0.0.0.0:9999\n    balance source\n"
                 f"    server hand_0 {self.t['firstbox']['address']}:9999 check\n")
        if clear:
            text = text.split(marker)[0]
        elif marker not in text:
            text += "\n" + block
        cfg.write_text(text)
        return {"host": h.iid}


def _end_job(job: subprocess.Popen[bytes]) -> None:
    """End a foreign job the lab started (its whole session: bash and its sleep)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=10)


def _same24(a: str, b: str | None) -> bool:
    if not b:
        return True
    na = ipaddress.IPv4Network(a, strict=False)
    nb = ipaddress.IPv4Network(b, strict=False)
    return na.supernet(new_prefix=24) == nb.supernet(new_prefix=24) if na.prefixlen >= 24 \
        else nb.subnet_of(na)


def _lsb(root: Path) -> dict[str, str]:
    path = root / "etc/lsb-release"
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def hostroot_keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True)

