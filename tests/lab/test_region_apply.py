"""Issue 10 on a real lab: a region (two zones on one firstbox, tests/lab/topologies/
region-2z.yaml) is upgraded one zone at a time with `nodeswap apply --lab`. Each zone's plan
takes that zone's VIP (its floating name `<zone>-proxy`) and console, its fingerprint covers
that zone's variables, and the other zone's proxies are left alone. Both zones the same day:
each keeps its own R6 backup."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from upgrade_kit import Ssh, Zone, today

from cliproc import run_nodeswap
from nodeswap.demo import demo_spec
from nodeswap.errors import EXIT_INPUT
from nodeswap.lab import Lab
from nodeswap.lab.api import LabInfo
from nodeswap.lab.hostroot import HostPaths
from nodeswap.live.reach import make_reach

pytestmark = [pytest.mark.lab, pytest.mark.slow]
STATE_ROOT = Path("/var/lib/nodeswap-lab")
TOPOLOGY = Path(__file__).parent / "topologies" / "region-2z.yaml"
SPEC = "role: proxy\ntarget: {os_name: bionic, os_version: \"18.04.6\"}\nzone: %s\n"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    up = Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-region-apply", topology=str(TOPOLOGY))
    try:
        yield up
    finally:
        up.down()
        up.cleanup()


def ssh(info: LabInfo, address: str, command: str) -> str:
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={info.known_hosts}", "-i", info.identity_file,
            f"{info.user}@{address}", command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def plan_zone(lab: Lab, tmp_path: Path, zone: str) -> tuple[Path, dict[str, object]]:
    spec = tmp_path / f"spec-{zone}.yaml"
    spec.write_text(SPEC % zone)
    out = tmp_path / f"plan-{zone}.json"
    res = run_nodeswap("plan", "--lab", lab.dir, "--spec", spec, "--out", out, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return out, json.loads(out.read_text())


def apply(lab: Lab, plan: Path) -> subprocess.CompletedProcess[str]:
    return run_nodeswap("apply", plan, "--lab", lab.dir, "--yes", timeout=600)


def test_a_change_to_the_planned_zones_variables_refuses_its_plan(
        lab: Lab, tmp_path: Path) -> None:
    """The fingerprint covers the planned zone's variables, not only the first zone's: pek3b's
    vm_base_network changed after planning (R11 would write another route) refuses apply."""
    plan, _ = plan_zone(lab, tmp_path, "pek3b")
    variables = HostPaths.of(lab.dir, "firstbox").root / "pitrix/conf/variables/variables.yaml"
    before = variables.read_text()
    assert "172.22.0.0/16" in before
    variables.write_text(before.replace("172.22.0.0/16", "172.23.0.0/16"))
    try:
        res = apply(lab, plan)
    finally:
        variables.write_text(before)
    assert res.returncode == EXIT_INPUT, res.stdout + res.stderr
    assert "the zone changed since this plan was made" in res.stderr
    assert "r6-backup" not in res.stdout  # refused before any step


def test_each_zone_of_the_region_is_upgraded_with_its_own_vip(lab: Lab, tmp_path: Path) -> None:
    info = lab.info()
    zones = info.raw["zone"]["zones"]
    fb = info.address(info.firstbox or "")
    vip_a, vip_b = zones["pek3a"]["vip"], zones["pek3b"]["vip"]
    hosts = info.raw["hosts"]
    proxies = {z: [h["address"] for k, h in sorted(hosts.items())
                   if k.startswith(f"{z}-proxy")] for z in ("pek3a", "pek3b")}
    for zone, vip, other in (("pek3b", vip_b, vip_a),):
        path, plan = plan_zone(lab, tmp_path, zone)
        text = json.dumps(plan["steps"])
        assert vip in text and other not in text  # R23/R35/R36: this zone's VIP, console
        res = apply(lab, path)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr
        for address in proxies[zone]:  # switched: the target OS at the old address
            assert "DISTRIB_RELEASE=18.04.6" in ssh(info, address, "cat /etc/lsb-release")
        holders = [a for a in proxies[zone] if f" {vip}/" in ssh(info, a, "ip -4 -o addr show")]
        assert len(holders) == 1, holders
        page = ssh(info, fb, f"curl -s --max-time 10 http://{vip}/")
        assert f"console of zone {zone} via {zone}-proxy" in page
        if zone == "pek3b":  # the other zone's proxies are left alone
            for address in proxies["pek3a"]:
                assert "DISTRIB_RELEASE=16.04.5" in ssh(info, address, "cat /etc/lsb-release")
        backup = f"/pitrix/conf/settings.{today()}.{zone}"  # R6: one per zone, same day
        assert ssh(info, fb, f"ls {backup}").split(), backup
    # then pek3a, the same day, with the e2e kit's end state (issue 6 and 10: old addresses
    # only, the whole interfaces file, no temporary address in any /etc/hosts of the region,
    # the console through pek3a's VIP, R6's backup verified)
    z = Zone(lab, str(TOPOLOGY), demo_spec("region").model_copy(update={"zone": "pek3a"}),
             make_reach(lab=lab.dir, firstbox=None), Ssh(info))
    try:
        plan = z.plan()
        assert z.snap is not None and z.snap.vip == vip_a
        assert sorted(plan.nodes) == ["pek3a-proxy0", "pek3a-proxy1"]
        commands = " ".join(s.command for s in plan.steps)
        assert vip_a in commands and vip_b not in commands
        z.run()
        z.assert_upgraded()
    finally:
        if z.journal is not None:
            z.journal.close()
    assert ssh(info, fb, f"ls /pitrix/conf/settings.{today()}.pek3a").split()
    # pek3a was upgraded last: pek3b's proxies kept their VIP and console meanwhile
    page = ssh(info, fb, f"curl -s --max-time 10 http://{vip_b}/")
    assert "console of zone pek3b via pek3b-proxy" in page
