"""Build small test zones as data: no VG, VG in the KS /24, VG in another /24; optional zone
prefix on VM names (region mode). Shared by test_inventory, test_rules and test_plan."""

from __future__ import annotations

from typing import Any

from nodeswap.plan.spec import Spec
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile

KINDS = ("novg", "vg-ks24", "vg-other24")
GW = "10.16.100.1"
VG_GW_OTHER = "10.16.101.1"
BASE = "172.21.130.0/24"


def _mac(n: int) -> str:
    return f"00:16:3e:00:{n // 256:02x}:{n % 256:02x}"


def node_text(name: str, *, role: str, address: str, zone_id: str = "zz1a", host: str = "",
              gw: str = GW, vg: bool = False, ks: bool = True, mac: int = 1,
              eip: str | None = None, mgmt_rule: str = "", vm_rule: str | None = None,
              region: bool = False) -> str:
    vm = bool(host)
    lines = [
        "## Role", f'role="{role}"', "",
        "## Region", f'is_region="{1 if region else 0}"', 'region_id=""', f'zone_id="{zone_id}"',
        "",
        "## Feature", f'feature_vmnode="{"on" if vm else "off"}"',
        f'feature_ksnode="{"on" if ks else "off"}"', f'feature_vgnode="{"on" if vg else "off"}"',
        'feature_hypernode="off"', "",
        "## Firstbox", 'firstbox_address="10.16.100.2"', "",
        "## General", 'os_name="xenial"', 'os_version="16.04.5"', f'hostname="{name}"', "",
        "## Mgmt Network", 'mgmt_network_interface="eth0"',
        f'mgmt_network_address="{address}"', 'mgmt_network_netmask="255.255.255.0"',
        f'mgmt_network_gateway="{gw}"', 'mgmt_network_dns_servers="10.16.100.25 10.16.100.26"',
        f'mgmt_network_mac_address="{_mac(mac)}"', f'mgmt_network_routing_rule="{mgmt_rule}"', "",
    ]
    if vm:
        lines += ["## VM Network", f'vm_network_routing_rule="{vm_rule or ""}"', ""]
    if eip is not None:
        lines += ["## Eip Network", 'eip_network_interface="eth1"',
                  f'eip_network_address="{eip}"', 'eip_network_netmask="255.255.255.0"',
                  'eip_network_gateway="198.51.100.1"',
                  f'eip_network_mac_address="{_mac(mac + 100)}"', ""]
    lines += ["## Host", f'physical_host="{host}"',
              f'physical_host_network_interface="{"br0" if vm else ""}"',
              f'physical_host_eip_network_interface="{"br1" if vm and eip else ""}"']
    return "\n".join(lines) + "\n"


def zone_texts(kind: str = "novg", prefix: str = "") -> dict[str, str]:
    """{file name: text} for a zone of ``kind``; ``prefix`` (e.g. "devops1a") names VMs
    ``devops1a-proxy0`` in region mode."""
    assert kind in KINDS, kind
    zone_id = prefix or "zz1a"
    region = bool(prefix)
    out: dict[str, str] = {}
    ks = [("zz1ar01n01", "10.16.100.11", "seed,vbr,snapshot"),
          ("zz1ar01n02", "10.16.100.12", "seed,vbr,snapshot"),
          ("zz1ar01n03", "10.16.100.13", "TBD")]
    for i, (name, addr, role) in enumerate(ks):
        out[name] = node_text(name, role=role, address=addr, zone_id=zone_id, mac=10 + i,
                              region=region)
    vg_gw: str | None = None
    proxy_net, proxy_hosts = "10.16.100", ["10.16.100.11", "10.16.100.12"]
    if kind != "novg":
        vg_net = "10.16.100" if kind == "vg-ks24" else "10.16.101"
        vg_gw = GW if kind == "vg-ks24" else VG_GW_OTHER
        for i in (1, 2):
            name = f"zz1ar02n0{i}"
            out[name] = node_text(name, role="vgateway", address=f"{vg_net}.3{i}", zone_id=zone_id,
                                  gw=vg_gw, vg=True, ks=False, mac=20 + i,
                                  eip=f"198.51.100.3{i}", region=region)
        proxy_net, proxy_hosts = vg_net, [f"{vg_net}.31", f"{vg_net}.32"]
    p = f"{prefix}-" if prefix else ""
    for i in (0, 1):
        name = f"{p}proxy{i}"
        addr = f"{proxy_net}.2{i + 1}"
        via = vg_gw or GW
        rule = f"ip route add 10.16.100.0/24 via {vg_gw}" if kind == "vg-other24" else ""
        out[name] = node_text(
            name, role="proxy", address=addr, zone_id=zone_id, host=proxy_hosts[i],
            gw="" if vg_gw else GW, mac=30 + i, eip=f"198.51.100.2{i + 1}" if vg_gw else None,
            mgmt_rule=rule, vm_rule=f"ip route add {BASE} src {addr} via {via}", region=region)
    for i, (role, last) in enumerate((("webservice", 23), ("webservice", 24),
                                      ("dnsmaster", 25), ("dnsmaster", 26))):
        name = f"{p}{role}{i % 2}"
        addr = f"10.16.100.{last}"
        out[name] = node_text(name, role=role, address=addr, zone_id=zone_id,
                              host=ks[i % 2][1], mac=40 + i,
                              vm_rule=f"ip route add {BASE} src {addr} via {GW}", region=region)
    return out


def files_of(texts: dict[str, str]) -> dict[str, SettingsFile]:
    return {n: SettingsFile.from_text(t, path=f"settings/{n}") for n, t in texts.items()}


def make_zone(kind: str = "novg", *, prefix: str = "", version: str = "4.3.1",
              components: frozenset[str] = frozenset(), texts: dict[str, str] | None = None,
              **facts: Any) -> Zone:
    files = files_of(texts if texts is not None else zone_texts(kind, prefix))
    return Zone.build(files, ZoneFacts(InstallerVersion.parse(version), components, **facts))


def make_spec(**kw: Any) -> Spec:
    data: dict[str, Any] = {"role": "proxy",
                            "target": {"os_name": "bionic", "os_version": "18.04.6"}}
    data.update(kw)
    return Spec.model_validate(data)
