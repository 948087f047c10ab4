"""Every lab topology's settings files pass the validation of issue 14 and plan offline, and so
do the settings files the plan writes (R7-R17, R30): the lab tests run on real settings."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodeswap.errors import RuleError
from nodeswap.lab.topology import relocate
from nodeswap.lab.zonefiles import node_settings, random_mac
from nodeswap.plan.build import build_plan
from nodeswap.plan.spec import Spec
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.values import node_name_problem, settings_problems

TOPOLOGIES = sorted((Path(__file__).parents[2] / "src/nodeswap/lab/topologies").glob("*.yaml"))
# the test-only shapes (issue 10): a /23 MGMT network, two VG networks and a /25 EIP network
SHAPES = sorted(p for p in (Path(__file__).parents[1] / "lab/topologies").glob("*.yaml")
                if p.stem != "region-2z")  # a region: planned one zone at a time, below


def lab_settings(topo: dict[str, Any]) -> dict[str, str]:
    """The settings files the lab writes for a topology (zonefiles.node_settings, no lab up)."""
    rng = random.Random(str(topo["zone_id"]))
    return {n["name"]: node_settings(topo, n, physical=n in topo["physical"],
                                     mac=lambda: random_mac(rng))
            for n in topo["physical"] + topo["vms"]}


def test_there_are_topologies() -> None:
    assert len(TOPOLOGIES) >= 6


@pytest.mark.parametrize("path", TOPOLOGIES + SHAPES, ids=[p.stem for p in TOPOLOGIES + SHAPES])
def test_lab_topology_settings_validate_and_plan(path: Path) -> None:
    topo = relocate(yaml.safe_load(path.read_text()), 16)
    files = {name: SettingsFile.from_text(text, path=f"{path.stem}/{name}")
             for name, text in lab_settings(topo).items()}
    for name, sf in files.items():
        assert node_name_problem(name) is None
        assert settings_problems(sf) == [], name
    assert node_name_problem(topo["firstbox"]["name"]) is None
    components = {0: set(), 1: {"boss"}, 2: {"boss2"}}[int(topo["deploy_boss"])]
    components |= {"warehouse"} if topo["deploy_warehouse"] else set()
    facts = ZoneFacts(InstallerVersion.parse(str(topo["installer"])), frozenset(components),
                      vg_mgmt_network_gateway=topo["vg_mgmt_network_gateway"] or None,
                      vm_base_network=topo["vm_base_network"], vip=topo["vip"])
    zone = Zone.build(files, facts)
    spec = Spec.model_validate({"role": "proxy", "seed": 1,
                                "target": {"os_name": "bionic", "os_version": "18.04.6"}})
    plan = build_plan(zone, spec, today="20261127")
    assert plan.files
    for f in plan.files:
        written = SettingsFile.from_text(f.content, path=f.path)
        assert settings_problems(written) == [], f.path


REGION_TOPOLOGY = Path(__file__).parents[1] / "lab/topologies/region-2z.yaml"


def test_the_lab_region_topology_plans_one_zone_at_a_time() -> None:
    """tests/lab/topologies/region-2z.yaml (issue 10): two zones on one firstbox; a plan
    without `zone:` is refused naming both (R5), with it only that zone's nodes and hosts."""
    topo = relocate(yaml.safe_load(REGION_TOPOLOGY.read_text()), 16)
    files = {name: SettingsFile.from_text(text, path=f"region/{name}")
             for name, text in lab_settings(topo).items()}
    assert all(settings_problems(sf) == [] for sf in files.values())
    zone = Zone.build(files, ZoneFacts(InstallerVersion.parse("4.3.1"), frozenset({"boss2"})))
    assert zone.zone_ids == ("pek3a", "pek3b")
    spec = {"role": "proxy", "target": {"os_name": "bionic", "os_version": "18.04.6"},
            "seed": 1}
    with pytest.raises(RuleError, match=r"pek3a: pek3a-proxy0, pek3a-proxy1; pek3b: "
                                        r"pek3b-proxy0, pek3b-proxy1"):
        build_plan(zone, Spec.model_validate(spec), today="20261202")
    plan = build_plan(zone, Spec.model_validate({**spec, "zone": "pek3b"}), today="20261202")
    assert sorted(plan.nodes) == ["pek3b-proxy0", "pek3b-proxy1"]
    assert {n.physical_host for n in plan.nodes.values()} == {"127.16.110.11", "127.16.110.12"}
    assert all(n.temp_address.startswith("127.16.110.") for n in plan.nodes.values())
    assert all("ip route add 172.22.0.0/16 src 127.16.110." in n.old_settings
               for n in plan.nodes.values())
