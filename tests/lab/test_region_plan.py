"""Issue 10 on a real lab: a region (two zones on one firstbox, tests/lab/topologies/
region-2z.yaml) is planned live one zone at a time. Plan only: nothing is applied."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_INPUT
from nodeswap.lab import Lab
from nodeswap.lab.hostroot import HostPaths

pytestmark = pytest.mark.lab
STATE_ROOT = Path("/var/lib/nodeswap-lab")
TOPOLOGY = Path(__file__).parent / "topologies" / "region-2z.yaml"
SPEC = "role: proxy\ntarget: {os_name: bionic, os_version: \"18.04.6\"}\n"


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, timeout=600)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    up = Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-region", topology=str(TOPOLOGY))
    try:
        yield up
    finally:
        up.down()
        up.cleanup()


def test_a_live_plan_over_two_zones_is_refused(lab: Lab, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "plan.json"
    res = ns("plan", "--lab", str(lab.dir), "--spec", str(spec), "--out", str(out))
    assert res.returncode == EXIT_INPUT, res.stdout + res.stderr
    assert f"{spec}: R5: key zone: the proxy nodes are in 2 zones (pek3a: pek3a-proxy0, " \
        "pek3a-proxy1; pek3b: pek3b-proxy0, pek3b-proxy1)" in res.stderr
    assert not out.exists()


def test_a_live_plan_of_the_zone_the_spec_names(lab: Lab, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC + "zone: pek3b\n")
    out = tmp_path / "plan.json"
    res = ns("plan", "--lab", str(lab.dir), "--spec", str(spec), "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads(out.read_text())
    assert sorted(plan["nodes"]) == ["pek3b-proxy0", "pek3b-proxy1"]
    hosts = lab.info().raw["hosts"]
    pek3b = {h["address"] for k, h in hosts.items() if k.startswith("pek3b")}
    for node in plan["nodes"].values():  # R13: a host of pek3b; R16: an address of its /24
        assert node["physical_host"] in pek3b
        assert node["temp_address"].rsplit(".", 1)[0] == node["old_address"].rsplit(".", 1)[0]
    assert not [s["id"] for s in plan["steps"] if "pek3a-" in s["command"]]
    # R11: pek3b's own VM base network (its section of variables.yaml), not pek3a's
    for node in plan["nodes"].values():
        assert 'vm_network_routing_rule="ip route add 172.22.0.0/16 src ' in node["settings"]
    assert plan["zone"]["zone_ids"] == ["pek3a", "pek3b"] and not plan["zone"]["offline"]


def test_a_role_in_one_zone_of_the_region_plans_with_that_zones_variables(
        lab: Lab, tmp_path: Path) -> None:
    """Without `zone:`, the zone the role's nodes are in: here pek3b once pek3a's proxies'
    settings files are moved away (put back after); R11 then uses pek3b's own variables."""
    settings = HostPaths.of(lab.dir, "firstbox").root / "pitrix/conf/settings"
    aside = tmp_path / "aside"
    aside.mkdir()
    moved = [settings / "pek3a-proxy0", settings / "pek3a-proxy1"]
    for f in moved:
        f.rename(aside / f.name)
    try:
        spec = tmp_path / "spec.yaml"
        spec.write_text(SPEC)
        out = tmp_path / "plan.json"
        res = ns("plan", "--lab", str(lab.dir), "--spec", str(spec), "--out", str(out))
    finally:
        for f in moved:
            (aside / f.name).rename(f)
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads(out.read_text())
    assert sorted(plan["nodes"]) == ["pek3b-proxy0", "pek3b-proxy1"]
    for node in plan["nodes"].values():
        assert 'vm_network_routing_rule="ip route add 172.22.0.0/16 src ' in node["settings"]
