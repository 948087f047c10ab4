"""The physical hosts' libvirt: domains, what `virsh` answers, and host power with autostart.

Owns each physical host's domain table (name -> VM instance, UUID, autostart, Id, image,
vCPUs, memory) and answers the virsh stand-in (`op_virsh`): list, domstate, dominfo,
define, start, shutdown, destroy, undefine, autostart, nodeinfo. Texts follow libvirt 4.0
(Ubuntu 18.04): `Domain NAME started`, errors as `error: ...` lines (the stand-in adds the
prefix; the controller sends the lines). A domain is running while its VM's sshd is up.
A physical host's halt or reboot powers off its guests; the reboot starts again every
domain marked autostart (the trap R32 closes). Must not: boot a VM whose image file is
missing on the host, or a second live host at an address that is taken.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from nodeswap.errors import LabError

from . import hostroot

if TYPE_CHECKING:
    from pathlib import Path

    from .labhost import Host, Machines
    from .power import Power

JSON = dict[str, Any]
KERNELS = "/pitrix/kernels"


def base_image(os_version: str) -> str:
    """The base image file of an OS release on firstbox (e.g. ksnode16045a.img)."""
    return f"ksnode{os_version.replace('.', '')}a.img"


class VirshError(ValueError):
    """A refused virsh command; its text is the `error:` lines virsh prints (no prefix)."""


def domain_xml(name: str, dom_uuid: str, s: dict[str, str]) -> str:
    """The domain XML launch_vms.sh writes: disk image, one bridged virtio NIC per network."""
    nics = "".join(
        f"    <interface type='bridge'>\n      <mac address='{s[f'{n}_network_mac_address']}'/>\n"
        f"      <source bridge='{br}'/>\n      <model type='virtio'/>\n    </interface>\n"
        for n, br in (("mgmt", s.get("physical_host_network_interface") or "br0"),
                      ("eip", s.get("physical_host_eip_network_interface") or "br1"))
        if s.get(f"{n}_network_mac_address") and (n == "mgmt" or s.get("eip_network_address")))
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n  <uuid>{dom_uuid}</uuid>\n"
            f"  <memory unit='MiB'>{s.get('memory_size', '8000')}</memory>\n"
            f"  <vcpu>{s.get('cpu_cores', 4)}</vcpu>\n  <os>\n    <type arch='x86_64'>hvm</type>"
            f"\n  </os>\n  <devices>\n    <disk type='file' device='disk'>\n"
            f"      <driver name='qemu' type='qcow2'/>\n"
            f"      <source file='{KERNELS}/{name}.img'/>\n      <target dev='vda' bus='virtio'/>"
            f"\n    </disk>\n{nics}  </devices>\n</domain>\n")


def parse_domain_xml(text: str, source: str) -> JSON:
    """Name, UUID, memory (KiB), vCPUs, disk image and NICs (mac, bridge) of a domain XML."""
    try:
        root = ET.fromstring(text)  # noqa: S314 (a host's own file; the stdlib parser
        # does not fetch external entities)
    except ET.ParseError as exc:
        raise VirshError(f"Failed to define domain from {source}\n"
                         f"(domain_definition):{exc.position[0]}: {exc}") from exc
    name = (root.findtext("name") or "").strip()
    if root.tag != "domain" or not name:
        raise VirshError(f"Failed to define domain from {source}\n"
                         "XML error: missing domain name information")
    mem = root.find("memory")
    amount = int((mem.text or "0").strip()) if mem is not None else 0
    unit = (mem.get("unit") if mem is not None else None) or "KiB"
    factor = {"KiB": 1, "k": 1, "MiB": 1024, "M": 1024, "GiB": 1024 * 1024, "G": 1024 * 1024}
    disk = root.find("devices/disk/source")
    nics = [{"mac": _attr(i, "mac", "address"), "bridge": _attr(i, "source", "bridge")}
            for i in root.findall("devices/interface")]
    return {"name": name, "uuid": (root.findtext("uuid") or "").strip(),
            "memory_kib": amount * factor.get(unit, 1),
            "vcpus": int((root.findtext("vcpu") or "1").strip()),
            "image": disk.get("file", "") if disk is not None else "", "nics": nics}


def _attr(node: ET.Element, child: str, name: str) -> str:
    found = node.find(child)
    return (found.get(name) if found is not None else None) or ""


class Libvirt:
    """Every physical host's domains (state guarded by the zone's power lock for changes).

    ``machines``: the lab's hosts (a domain's VM, its root); ``power``: booting and halting
    VMs under the power lock; ``rng``: the zone's seeded sequence (domain UUIDs)."""

    def __init__(self, machines: Machines, power: Power, rng: random.Random) -> None:
        self.machines = machines
        self.power = power
        self.rng = rng
        self.domains: dict[str, dict[str, JSON]] = {}  # physical iid -> name -> domain
        self.uuids: dict[str, str] = {}  # domain UUID -> VM instance id
        self.next_id: dict[str, int] = {}
        self.lock = threading.RLock()

    def root(self, phys: Host) -> Path:
        return self.machines.paths(phys.iid).root

    # ------------------------------------------------------------------ domains

    def define_vm(self, phys: Host, name: str, iid: str, s: dict[str, str]) -> None:
        """A launched VM's domain: image, XML, .Done marker, defined with autostart."""
        kernels = self.root(phys) / KERNELS.lstrip("/")
        hostroot.write(kernels / f"{name}.img",
                       f"qcow2 overlay of {base_image(s['os_version'])}\n")
        dom_uuid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        text = domain_xml(name, dom_uuid, s)
        hostroot.write(kernels / f"{name}.xml", text)
        hostroot.write(kernels / f"{name}.Done", "")
        self.uuids[dom_uuid] = iid
        vm = self.machines.hosts.get(iid)
        if vm is not None:
            vm.extra["nics"] = parse_domain_xml(text, name)["nics"]
        with self.lock:
            self.domains.setdefault(phys.iid, {})[name] = {
                **parse_domain_xml(text, f"{KERNELS}/{name}.xml"), "iid": iid,
                "autostart": True, "persistent": True, "id": None, "reason": "booted"}

    def remove(self, phys: Host, name: str) -> bool:
        """launch -f: destroy and undefine the domain, delete NAME.* (True if an image went)."""
        with self.lock:
            d = self.domains.get(phys.iid, {}).pop(name, None)
        if d is not None:
            vm = self.vm_of(d)
            if vm is not None and (vm.up or vm.booting):
                self.machines.stop_host(vm)
        kernels = self.root(phys) / KERNELS.lstrip("/")
        had_image = (kernels / f"{name}.img").exists()
        for f in kernels.glob(f"{name}.*"):
            f.unlink()
        return had_image

    def vm_of(self, d: JSON) -> Host | None:
        return self.machines.hosts.get(d["iid"] or "")

    def running(self, d: JSON) -> bool:
        """Up, or booting (with timing a started domain runs before its VM answers)."""
        vm = self.vm_of(d)
        return bool(vm is not None and (vm.up or vm.booting))

    def table(self, phys: Host) -> dict[str, JSON]:
        """The host's domains, Ids kept current (a domain gets a new Id each time it starts;
        a transient domain, undefined while running, is gone once it stops)."""
        with self.lock:
            doms = self.domains.setdefault(phys.iid, {})
            for name, d in list(doms.items()):
                if self.running(d):
                    if d["id"] is None:
                        d["id"] = new_id = self.next_id.get(phys.iid, 1)
                        self.next_id[phys.iid] = new_id + 1
                else:
                    d["id"] = None
                    if not d["persistent"]:
                        del doms[name]
            return doms

    def guests(self, phys: Host) -> list[tuple[str, JSON]]:
        """Running domains of a host (name, domain), for its links (vnetN) and power."""
        return [(n, d) for n, d in sorted(self.table(phys).items()) if self.running(d)]

    # ------------------------------------------------------------------ virsh

    def op_virsh(self, caller: Host | None, body: JSON) -> JSON:
        """One virsh command of a physical host (the stand-in prints the answer)."""
        assert caller is not None
        if caller.kind != "physical":
            raise VirshError("failed to connect to the hypervisor\n"
                             "Failed to connect socket to '/var/run/libvirt/libvirt-sock': "
                             "No such file or directory")
        action = body["action"]
        if action == "nodeinfo":
            return self.nodeinfo(caller)
        if action == "list":
            return {"domains": [{"name": n, "id": d["id"], "running": self.running(d),
                                 "autostart": d["autostart"], "persistent": d["persistent"]}
                                for n, d in sorted(self.table(caller).items())]}
        if action == "define":
            return self.define(caller, str(body["xml"]), str(body["file"]))
        name = str(body.get("name", ""))
        doms = self.table(caller)
        if name not in doms:
            raise VirshError(f"failed to get domain '{name}'\n"
                             f"Domain not found: no domain with matching name '{name}'")
        d = doms[name]
        if action in ("dominfo", "domstate"):
            return {"name": name, **{k: v for k, v in d.items() if k != "nics"},
                    "running": self.running(d)}
        if action == "autostart":
            if not d["persistent"]:
                raise VirshError(f"Failed to mark domain {name} as autostarted\nRequested "
                                 "operation is not valid: cannot set autostart for transient "
                                 "domain")
            d["autostart"] = not body.get("disable", False)
        elif action == "start":
            self.start(caller, name, d)
        elif action in ("destroy", "shutdown"):
            vm = self.vm_of(d)
            if vm is None or not self.running(d):
                raise VirshError(f"Failed to {action} domain {name}\nRequested operation is "
                                 "not valid: domain is not running")
            self.power_off(vm, d, action)
        elif action == "undefine":
            with self.lock:
                if self.running(d):
                    d["persistent"] = False
                    d["autostart"] = False
                else:
                    del doms[name]
        else:
            raise VirshError(f"unknown command: '{action}'")
        self.machines.write_lab_json()
        return {}

    def power_off(self, vm: Host, d: JSON, action: str) -> None:
        """`virsh destroy` (at once) or `shutdown` (the guest takes its shutdown time, with
        timing, before it stops answering; virsh returns at once, as ACPI shutdown does)."""
        wait = self.power.delays.get("shutdown", 0.0) if action == "shutdown" else 0.0
        if wait <= 0 or not vm.up:
            with self.power.lock:
                self.power.halt(vm)
            d["reason"] = "destroyed" if action == "destroy" else "shutdown"
            return

        def later() -> None:
            time.sleep(wait)
            with self.power.lock:
                if vm.up:
                    self.power.halt(vm)
                    d["reason"] = "shutdown"
            self.machines.write_lab_json()
        threading.Thread(target=later, daemon=True).start()

    def define(self, phys: Host, text: str, source: str) -> JSON:
        """`virsh define FILE`: a domain from its XML (the VM behind it found by UUID)."""
        spec = parse_domain_xml(text, source)
        name = spec["name"]
        with self.lock:
            doms = self.table(phys)
            old = doms.get(name)
            if old is not None and spec["uuid"] and old["uuid"] != spec["uuid"]:
                raise VirshError(f"Failed to define domain from {source}\noperation failed: "
                                 f"domain '{name}' already exists with uuid {old['uuid']}")
            if not spec["uuid"]:
                spec["uuid"] = old["uuid"] if old else str(uuid.uuid4())
            doms[name] = {**spec, "iid": self.uuids.get(spec["uuid"]),
                          "autostart": bool(old and old["autostart"]), "persistent": True,
                          "id": old["id"] if old else None,
                          "reason": old["reason"] if old else "unknown"}
        self.machines.write_lab_json()
        return {"name": name}

    def start(self, phys: Host, name: str, d: JSON) -> None:
        """`virsh start`: boot the domain's VM at the address in ITS interfaces file."""
        if self.running(d):
            raise VirshError("Domain is already active")
        with self.power.lock:
            try:
                self.boot_locked(phys, d)
            except VirshError as exc:
                raise VirshError(f"Failed to start domain {name}\n{exc}") from exc

    def nodeinfo(self, phys: Host) -> JSON:
        """The host's CPUs and memory as `virsh nodeinfo` reports them: the totals."""
        cap = self.capacity(phys)
        return {"cpus": int(cap.get("cpu", 32)), "memory_kib": int(cap["memory_mb"]) * 1024}

    def capacity(self, phys: Host) -> JSON:
        path = self.root(phys) / "lab/state/capacity.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}

    # ------------------------------------------------------------------ host power

    def power_off_guests(self, phys: Host) -> None:
        """The host goes down: every guest with it (their domains end up shut off)."""
        for _name, d in self.guests(phys):
            vm = self.vm_of(d)
            if vm is not None:
                self.machines.stop_host(vm)  # also cancels a boot under way
                d["reason"] = "destroyed"
        self.table(phys)

    def autostart(self, phys: Host) -> list[str]:
        """After the host's boot (power lock held): start each domain marked autostart, as
        libvirtd does. What cannot start is logged to the host's
        /var/log/libvirt/autostart.log and returned."""
        failed: list[str] = []
        for name, d in sorted(self.table(phys).items()):
            if d["autostart"] and not self.running(d):
                try:
                    self.boot_locked(phys, d)
                except VirshError as exc:
                    failed.append(f"{name}: " + str(exc).replace("\n", ": "))
        if failed:
            log = self.root(phys) / "var/log/libvirt/autostart.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as f:
                f.writelines(f"autostart failed: {line}\n" for line in failed)
        return failed

    def boot_locked(self, phys: Host, d: JSON) -> None:
        """Boot a domain's VM (the caller holds the zone's power lock)."""
        image = d.get("image") or ""
        if image and not (self.root(phys) / image.lstrip("/")).exists():
            raise VirshError(f"Cannot access storage file '{image}': No such file or directory")
        vm = self.vm_of(d)
        if vm is None:
            raise VirshError("internal error: the lab has no VM behind this domain (it boots "
                             "only VMs that launch_vms.sh made)")
        try:
            self.power.start(vm)  # with timing: booting until its boot time has passed
        except LabError as exc:
            raise VirshError(f"internal error: {exc}") from exc
        d["reason"] = "booted"
