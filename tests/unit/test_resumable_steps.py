"""Issue 11: every side-effect step of every runbook plan can be decided by resume after a cut
(kill -9 while it ran): it has a read-only ``check``, or the plan says why it is safe to run
again (``rerun_safe``). Plans of every lab topology, of the examples (the golden files) and of a
toy runbook of another role; and the archive (R37) never overwrites an earlier archive."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from test_lab_topologies_plan import TOPOLOGIES, lab_settings
from test_runbooks import toy, toy_plan  # noqa: F401 (toy: the fixture)

from nodeswap.lab.topology import relocate
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan
from nodeswap.plan.spec import Spec
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile

ROOT = Path(__file__).parents[2]
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.plan.json"))


def undecidable(plan: Plan) -> list[str]:
    """Side-effect steps a cut would leave to a person (--rerun-unchecked / --mark-done)."""
    return [s.id for s in plan.steps
            if s.side_effect and s.check is None and not (s.rerun_safe or "").strip()]


def assert_resumable(plan: Plan) -> None:
    assert undecidable(plan) == []
    for s in plan.steps:
        assert s.check_target is None or s.check_target in plan.targets, s.id
        assert not (s.check is not None and s.rerun_safe), f"{s.id}: a check and a reason"
        if s.disconnects:  # decided on a host that is up, never the one that went down
            assert s.check is not None and s.check_target not in (None, s.target), s.id


def topology_plan(path: Path) -> Plan:
    topo = relocate(yaml.safe_load(path.read_text()), 16)
    files = {name: SettingsFile.from_text(text, path=f"{path.stem}/{name}")
             for name, text in lab_settings(topo).items()}
    components = {0: set(), 1: {"boss"}, 2: {"boss2"}}[int(topo["deploy_boss"])]
    components |= {"warehouse"} if topo["deploy_warehouse"] else set()
    facts = ZoneFacts(InstallerVersion.parse(str(topo["installer"])), frozenset(components),
                      vg_mgmt_network_gateway=topo["vg_mgmt_network_gateway"] or None,
                      vm_base_network=topo["vm_base_network"], vip=topo["vip"])
    spec = Spec.model_validate({"role": "proxy", "seed": 1,
                                "target": {"os_name": "bionic", "os_version": "18.04.6"}})
    return build_plan(Zone.build(files, facts), spec, today="20261202")


@pytest.mark.parametrize("path", TOPOLOGIES, ids=[p.stem for p in TOPOLOGIES])
def test_every_side_effect_step_of_each_lab_topology_plan_is_resumable(path: Path) -> None:
    assert_resumable(topology_plan(path))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_every_side_effect_step_of_the_example_plans_is_resumable(path: Path) -> None:
    assert_resumable(Plan.from_dict(json.loads(path.read_text())))


@pytest.mark.usefixtures("toy")
def test_every_side_effect_step_of_another_roles_plan_is_resumable() -> None:
    assert_resumable(toy_plan())


def test_a_step_without_check_or_reason_is_found() -> None:
    plan = Plan.from_dict(json.loads(GOLDEN[0].read_text()))
    bare = plan.steps[0].__class__(id="bare", phase="p", rule="R0", title="t",
                                   target="firstbox", command="true")
    assert undecidable(Plan(**{**plan.__dict__, "steps": (*plan.steps, bare)})) == ["bare"]


def r37(plan: Plan, node: str, ext: str) -> tuple[str, str]:
    s = plan.step(f"r37-rename-{ext}-{node}")
    assert s.check is not None
    return s.command, s.check


@pytest.mark.parametrize("earlier", [(), ("old-p.img",), ("old-p.img", "old-p.20261202.img")])
def test_r37_keeps_an_earlier_archive(tmp_path: Path, earlier: tuple[str, ...]) -> None:
    """R37's rename (run here by bash on a folder that stands for /pitrix/kernels): an earlier
    upgrade's old-NODE.img is never overwritten: the dated name instead, refused if both
    are taken; its check says done only once the file was moved."""
    plan = Plan.from_dict(json.loads(GOLDEN[0].read_text()))
    node = next(iter(plan.nodes))
    command, check = r37(plan, node, "img")
    k = tmp_path / "kernels"
    k.mkdir()
    (k / "p.img").write_text("the old VM")
    for name in earlier:
        (k / name).write_text(f"earlier {name}")

    def sh(text: str) -> int:
        text = text.replace("/pitrix/kernels", str(k)).replace(node, "p")
        return subprocess.run(["bash", "-c", text], check=False).returncode

    assert sh(check) != 0
    code = sh(command)
    for name in earlier:  # untouched
        assert (k / name).read_text() == f"earlier {name}"
    if len(earlier) == 2:
        assert code != 0 and (k / "p.img").exists() and sh(check) != 0
        return
    kept = "old-p.20261202.img" if earlier else "old-p.img"
    assert code == 0 and (k / kept).read_text() == "the old VM"
    assert not (k / "p.img").exists() and sh(check) == 0
