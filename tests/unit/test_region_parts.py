"""Issue 10, a region on one firstbox: the pure parts that make each zone's plan its own.
The lab's per-zone VIPs and floating names, lab.json's zone ids, the `<zone>-proxy` answer
discovery reads, the fingerprinted variables of every zone, and R6's backup per zone."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from nodeswap.lab import topology
from nodeswap.lab.zonefiles import node_settings, random_mac
from nodeswap.live.reach import Reach
from nodeswap.plan.build import build_plan
from nodeswap.plan.spec import Spec
from nodeswap.transport.ssh import SshConfig
from nodeswap.zone.facts import parse_getent
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.snapshot import Snapshot, variables_of

REGION = Path(__file__).parents[1] / "lab/topologies/region-2z.yaml"
VARIABLES = """common: {domain: lab.qingcloud.test}
pek3a: {vm_base_network: 172.21.0.0/16, mgmt_network: 127.16.100.0/24}
pek3b: {vm_base_network: 172.22.0.0/16, mgmt_network: 127.16.110.0/24}
"""


def region() -> dict[str, Any]:
    return topology.relocate(yaml.safe_load(REGION.read_text()), 16)


def region_settings(t: dict[str, Any]) -> dict[str, str]:
    rng = random.Random(1)
    return {n["name"]: node_settings(t, n, physical=n in t["physical"],
                                     mac=lambda: random_mac(rng))
            for n in t["physical"] + t["vms"]}


def test_the_lab_gives_each_zone_its_vip_and_floating_name() -> None:
    t = region()
    assert topology.zone_vips(t) == {"pek3a": "127.16.100.250", "pek3b": "127.16.110.250"}
    hosts = topology.etc_hosts(t)
    assert "127.16.110.250 pek3b-proxy.mgmt.pitrix.yunify.com pek3b-proxy\n" in hosts
    assert "127.16.100.250 pek3a-proxy.mgmt.pitrix.yunify.com pek3a-proxy\n" in hosts
    public = topology.public(t, "pek3a-proxy0.1", {"pek3a": "pek3a-proxy0.1",
                                                   "pek3b": "pek3b-proxy1.1"})
    assert public["zone_ids"] == ["pek3a", "pek3b"]
    assert public["zones"]["pek3b"] == {"vip": "127.16.110.250", "vip_holder": "pek3b-proxy1.1",
                                        "console_url": "http://127.16.110.250/"}
    assert topology.first_proxies(t) == {"pek3a": "pek3a-proxy0.1", "pek3b": "pek3b-proxy0.1"}
    assert topology.zone_of_names(t)["pek3b-proxy1"] == "pek3b"
    one = topology.relocate(yaml.safe_load((Path(topology.TOPOLOGY_DIR) / "default.yaml")
                                           .read_text()), 16)
    assert "zones" not in topology.public(one, None) and "-proxy" not in topology.etc_hosts(one)


def test_a_region_lab_names_both_zones_in_lab_json() -> None:
    """zonecheck compares the plan's zone ids with these: a region plan (pek3a+pek3b) was
    refused with --lab, which named pek3a only."""
    ssh = SshConfig()
    lab = {"zone": {"zone_id": "pek3a", "zone_ids": ["pek3a", "pek3b"]}}
    assert Reach(ssh, None, lab).lab_zone_ids == ("pek3a", "pek3b")
    assert Reach(ssh, None, {"zone": {"zone_id": "pek3a"}}).lab_zone_ids == ("pek3a",)
    assert Reach(ssh, None, None).lab_zone_ids == ()


def test_getent_hosts_gives_the_floating_address() -> None:
    assert parse_getent("127.16.110.250  pek3b-proxy.mgmt.pitrix.yunify.com pek3b-proxy\n") \
        == "127.16.110.250"
    assert parse_getent("") is None
    assert parse_getent("fe80::1 pek3b-proxy\n") is None


def test_the_fingerprint_covers_every_zone_of_the_region() -> None:
    settings = region_settings(region())
    part = {"settings": settings, "version": "4.3.1",
            "variables_yaml": VARIABLES, "variable_files": ""}
    got = variables_of(part)
    assert got["vm_base_network"] == "172.21.0.0/16"  # the first zone's, as before
    assert got["pek3b.vm_base_network"] == "172.22.0.0/16"
    assert variables_of(part, zone_id="pek3b")["vm_base_network"] == "172.22.0.0/16"

    def fingerprint(text: str) -> str:
        variables = variables_of({**part, "variables_yaml": text})
        return Snapshot(firstbox="", settings=settings, installer_version="4.3.1",
                        variables=variables, kernels=(), repos=(), old_nodes={}, vip=None,
                        capacity={}).state_fingerprint()
    assert fingerprint(VARIABLES) != fingerprint(VARIABLES.replace("172.22.", "172.23."))


def test_each_zone_of_a_region_keeps_its_own_r6_backup() -> None:
    files = {name: SettingsFile.from_text(text, path=f"region/{name}")
             for name, text in region_settings(region()).items()}
    zone = Zone.build(files, ZoneFacts(InstallerVersion.parse("4.3.1"), frozenset({"boss2"})))
    spec = {"role": "proxy", "target": {"os_name": "bionic", "os_version": "18.04.6"},
            "seed": 1}
    for z in ("pek3a", "pek3b"):
        plan = build_plan(zone, Spec.model_validate({**spec, "zone": z}), today="20261202")
        backup = next(s for s in plan.steps if s.id == "r6-backup")
        assert f"/pitrix/conf/settings.20261202.{z} " in backup.command + " "
        undo = [s.undo for s in plan.steps if s.rule == "R7-R17" and s.undo]
        assert undo and all(f"settings.20261202.{z}/" in u for u in undo)
