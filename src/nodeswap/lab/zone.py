"""The simulated zone: a topology's hosts, files, packages, power and faults, put together.

Composes the zone's parts: topology.py (what the zone is), zonefiles.py (what the installer
left on its hosts), packages.py (+ lab/roles: what installs write), power.py (power, VIP,
console), libvirt.py (domains, virsh), hostinfo.py (what `ip`, `df`, `ps` show) and
faults.py (the ``{kind: handler}`` table). Each part gets the ``Machines`` interface (or
less), never the controller. The controller calls ``hosts()``/``populate()`` at start and
dispatches the stand-ins' calls to ``ops()`` (protocol: lab/README.md); VM launches and
install_nodes.sh cross the parts, so they live here. Must not: reach outside the lab's roots.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodeswap.errors import LabError

from . import faults, hostinfo, netconf, netroute, packages, timing, topology
from .faults import FaultState
from .labhost import Host, Machines
from .libvirt import Libvirt, base_image
from .netns import NetLab
from .packages import Packages
from .power import Power
from .proxyd import ProxyDaemons
from .regionvip import RegionPower
from .zonefiles import VM_DISK_GB, ZoneFiles

JSON = dict[str, Any]
Op = Callable[[Host | None, JSON], JSON]


def op_key(op: str, caller: Host | None, body: JSON, out: JSON) -> str:
    """``op:host:what`` of a zone-changing operation that succeeded, e.g. ``launch:firstbox:
    proxy0`` (``launch-skipped`` when launch_vms.sh found the .Done marker), ``power:proxy0.3:
    halt``, ``virsh:zz1ar01n01:autostart proxy0``, ``apt:proxy0.3:pitrix-hosts``."""
    who = caller.iid if caller is not None else "-"
    if op == "launch":
        return f"{'launch-skipped' if out.get('skipped') else 'launch'}:{who}:{body['name']}"
    if op == "virsh":
        return f"virsh:{who}:{body.get('action')} {body.get('name', '')}".rstrip()
    if op == "apt":
        return f"apt:{who}:{' '.join(body.get('packages', ()))}"
    if op == "power":
        return f"power:{who}:{body.get('action')}"
    if op == "service":
        return f"service:{who}:{body.get('action')} {body.get('name')}"
    return f"{op}:{who}:{body.get('name', '')}"


class Zone:
    """The zone of one lab (state guarded by the controller's lock)."""

    def __init__(self, machines: Machines, config: JSON) -> None:
        self.machines = machines
        self.net: NetLab | None = None  # --net netns: the zone in 10.200.a.b (lab/netns.py)
        if config.get("net") == "netns":
            self.net = NetLab.place(machines.dir, config["zone"])
            self.net.create()  # its bridges and this machine's unreachable routes
            self.net.gateway_ns = netroute.create_gateway(self.net)  # the router between them
            self.t = self.net.t
        else:
            self.t = topology.place(config["zone"])
        self.firstbox: JSON = self.t["firstbox"]
        self.new_installer = topology.installer_tuple(str(self.t["installer"])) >= (4, 3, 0)
        self.rng = random.Random(str(self.t["zone_id"]))
        self.faults = FaultState()
        vips = topology.zone_vips(self.t)
        self.power = Power(machines, self.t["vip"], self.faults.squatters) if len(vips) < 2 \
            else RegionPower(machines, vips, topology.zone_of_names(self.t), self.faults.squatters)
        if self.net is not None:  # real haproxy, keepalived, backends (lab/proxyd.py)
            self.power.proxyd = ProxyDaemons(machines, self.t["vip"], str(self.t["zone_id"]),
                                             bool(self.t["deploy_warehouse"]))
        self.files = ZoneFiles(self.t, self.rng, machines, self.new_installer)
        self.packages = Packages(self.t, self.root, self.etc_hosts, self.power.update_vip)
        self.libvirt = Libvirt(machines, self.power, self.rng)
        self.power.hypervisor = self.libvirt
        self.power.delays = timing.delays(str(config.get("timing", "off")))
        self.counter = 1
        self.counts: Counter[str] = Counter()

    def ops(self) -> dict[str, Op]:
        """The controller operations the zone answers (lab/README.md, controller protocol).
        The operations that change the zone are counted (``op_counts``)."""
        changing = {
            "power": self.power.op_power, "service": self.power.op_service,
            "virsh": self.libvirt.op_virsh, "apt": self.packages.op_apt,
            "launch": self.op_launch, "install_node": self.op_install_node,
        }
        return {
            "ping": self.power.op_ping, "arp": self.power.op_arp,
            "ipaddr": self.power.op_ipaddr,
            "links": self.op_links, "df": self.op_df, "ps": self.op_ps,
            **{op: self._counted(op, fn) for op, fn in changing.items()},
            "fault": self.op_fault, "counts": self.op_counts,
        }

    def _counted(self, op: str, fn: Op) -> Op:
        def counted(caller: Host | None, body: JSON) -> JSON:
            out = fn(caller, body)
            self.counts[op_key(op, caller, body, out)] += 1
            return out
        return counted

    def op_counts(self, caller: Host | None, body: JSON) -> JSON:
        """How many times each zone-changing operation succeeded, by key (``op_key``): for
        tests asserting that no step's command ran twice (the lab's owner only)."""
        if caller is not None:
            raise PermissionError("the operation counts are the lab's owner's")
        return {"counts": dict(self.counts)}

    # ------------------------------------------------------------------ the controller's hooks

    def hosts(self) -> list[Host]:
        return topology.hosts(self.t)

    def etc_hosts(self) -> str:
        return topology.etc_hosts(self.t)

    def extra_authorized(self) -> list[str]:
        return self.files.extra_authorized()

    def public(self) -> JSON:
        holders = self.power.holders if isinstance(self.power, RegionPower) else None
        return topology.public(self.t, self.power.vip_holder, holders)

    def publish(self, data: JSON) -> None:
        """lab.json's ``zone``; a netns lab adds ``ssh.jump``, ``ssh.config`` and ``net``."""
        data["zone"] = self.public()
        if self.net is not None:
            data["ssh"].update(self.net.ssh_keys(self.machines.dir / "ssh"))
            data["net"] = self.net.public()

    def populate(self) -> None:
        """Write the zone's files into every host root and install the stand-ins."""
        t, hosts = self.t, self.machines.hosts
        for h in hosts.values():
            self.files.install_standins(h)
        self.files.write_settings()
        self.files.write_firstbox()
        self.packages.write_repo()
        for v in t["vms"]:
            vm, s = hosts[v["name"] + ".1"], self.files.settings_of(v["name"])
            self.files.write_vm(vm, s, initial=True)
            self.packages.install_initial(vm)
            self.libvirt.define_vm(hosts[v["physical"]], v["name"], vm.iid, s)
        for p in t["physical"]:
            self.files.write_capacity(p)
            hosts[p["name"]].extra["mac"] = \
                self.files.settings_of(p["name"]).get("mgmt_network_mac_address", "")
        self.files.write_zone_json(
            {**self.public(), "firstbox": self.firstbox["name"],
             "firstbox_address": self.firstbox["address"], "deploy_boss": t["deploy_boss"],
             "deploy_warehouse": t["deploy_warehouse"], "new_installer": self.new_installer,
             "packages": list(packages.repo_packages())})
        self.files.write_node_known_hosts(hosts.values())

    def starts_up(self, h: Host) -> bool:
        return True

    def after_start(self) -> None:
        self.power.vip_holder = topology.first_proxy(self.t)
        if isinstance(self.power, RegionPower):
            self.power.start_holders(topology.first_proxies(self.t))
        if self.net is None:  # netns: the proxies' real haproxy serves it (lab/proxyd.py)
            self.power.start_console(str(self.t["zone_id"]), f"console.{self.t['domain']}")
        elif self.power.proxyd is not None:  # keepalived elects a holder (VRRP, ~3 s)
            self.power.update_vip()
            self.power.proxyd.wait_holder(self.power.vip_holder or "", timeout=30.0)
            self.power.update_vip()

    def close(self) -> None:
        self.power.close()
        self.faults.close()

    # ------------------------------------------------------------------ hosts

    def root(self, iid: str) -> Path:
        return self.machines.paths(iid).root

    def find(self, name: str) -> Host:
        """A host by instance id, else by name (the live instance, newest first)."""
        with self.machines.lock:
            if name in self.machines.hosts:
                return self.machines.hosts[name]
            same = [h for h in self.machines.hosts.values() if h.name == name]
        if not same:
            raise LookupError(f"no host {name!r} in the lab")
        same.sort(key=lambda h: (h.up, h.iid), reverse=True)
        return same[0]

    # ------------------------------------------------------------------ operations

    def op_links(self, caller: Host | None, body: JSON) -> JSON:
        """The caller's interfaces and addresses (for the `ip` stand-in)."""
        assert caller is not None
        guests = self.libvirt.guests(caller) if caller.kind == "physical" else []
        if isinstance(self.power, RegionPower):
            vip = self.power.held_vip(caller)
        else:
            self.power.update_vip()
            vip = self.t["vip"] if self.power.vip_holder == caller.iid else None
        return {"links": hostinfo.links(caller, root=self.root(caller.iid),
                                        fb_root=self.root("firstbox"), vip=vip, guests=guests)}

    def op_df(self, caller: Host | None, body: JSON) -> JSON:
        """The filesystem under a physical host's /pitrix/kernels (for the `df` stand-in)."""
        assert caller is not None
        return hostinfo.df(caller, self.root(caller.iid),
                           disk_full=caller.iid in self.faults.disk_full)

    def op_ps(self, caller: Host | None, body: JSON) -> JSON:
        """The processes running inside the caller's root (the ps stand-in)."""
        assert caller is not None
        return {"processes": hostinfo.processes(self.root(caller.iid))}

    def op_fault(self, caller: Host | None, body: JSON) -> JSON:
        """Inject or clear a fault (the Fault API, lab/README.md)."""
        if caller is not None:
            raise PermissionError("faults are injected by the lab's owner only")
        return faults.inject(self, body)

    def op_launch(self, caller: Host | None, body: JSON) -> JSON:
        """launch_vms.sh: a new VM from its settings file (reference section 4)."""
        name, force = body["name"], bool(body.get("force"))
        s = self.files.settings_of(name)
        phys = self.power.by_address(s.get("physical_host", ""))
        if phys is None or phys.kind != "physical":
            raise LabError(f"{name}: physical host {s.get('physical_host')!r} is not reachable")
        kernels = self.root(phys.iid) / "pitrix/kernels"
        if (kernels / f"{name}.Done").exists() and not force:
            return {"skipped": True, "physical": phys.name}
        ver = s.get("os_version", "")
        fb = self.root("firstbox")
        if not (fb / "pitrix/kernels" / base_image(ver)).exists() or \
                not (fb / "pitrix/repo" / ver).is_dir():
            raise LabError(f"{name}: base image and repository of {s.get('os_name')} {ver} are "
                           "not prepared on firstbox (R4)")
        cap_path = self.root(phys.iid) / "lab/state/capacity.json"
        cap = json.loads(cap_path.read_text())
        if force and self.libvirt.remove(phys, name):  # -f: the old domain and files go first
            cap["disk_gb"] += VM_DISK_GB
            cap_path.write_text(json.dumps(cap))
        if phys.iid in self.faults.disk_full or cap["disk_gb"] < VM_DISK_GB:
            raise LabError(f"{name}: cannot create {kernels}/{name}.img on {phys.name}: "
                           "No space left on device")
        time.sleep(self.power.delays.get("launch", 0.0))  # timing: overlay, XML, define
        self.counter += 1
        vm = Host(iid=f"{name}.{self.counter}", name=name, address=s["mgmt_network_address"],
                  role=s.get("role", ""), kind="vm", physical=phys.iid)
        if self.power.by_address(vm.address) is not None or vm.address in self.faults.squatters:
            raise LabError(f"{name}: address {vm.address} is already in use")
        self._build_vm(vm, phys, name, s)
        cap["disk_gb"] -= VM_DISK_GB
        cap_path.write_text(json.dumps(cap))
        with self.power.lock:
            self.power.start(vm)  # with timing: the VM answers once its boot time has passed
        self.machines.write_lab_json()
        return {"launched": vm.iid, "physical": phys.name, "address": vm.address}

    def _build_vm(self, vm: Host, phys: Host, name: str, s: dict[str, str]) -> None:
        """A launched VM's root: keys, mounts, stand-ins, its files and its domain."""
        with self.machines.lock:
            self.machines.hosts[vm.iid] = vm
        fb_hosts = (self.root("firstbox") / "etc/hosts").read_text()
        self.machines.build_host(vm, fb_hosts, [self.machines.lab_key(),
                                                *self.files.extra_authorized()])
        self.files.install_standins(vm)
        # a netns lab: the launcher leaves rc.local* too (a VG proxy in another /24 needs its
        # R10 route to answer firstbox at all; docs/lab-netns.md, decision 10)
        self.files.write_vm(vm, s, initial=self.net is not None)
        self.files.write_known_for(vm)
        self.libvirt.define_vm(phys, name, vm.iid, s)

    def op_install_node(self, caller: Host | None, body: JSON) -> JSON:
        """install_nodes.sh for one VM: its network file (interfaces, or netplan's on a
        ``netplan_releases`` release) and rc.local files from its settings."""
        name = body["name"]
        s = self.files.settings_of(name)
        vm = self.power.by_address(s.get("mgmt_network_address", ""))
        if vm is None or vm.name != name:
            raise LabError(f"{name}: no running node at {s.get('mgmt_network_address')}")
        time.sleep(self.power.delays.get("install_node", 0.0))  # timing: its components
        netconf.write_config(self.root(vm.iid), s, self.t)
        self.files.write_rc_files(vm, s)
        return {"node": vm.iid}
