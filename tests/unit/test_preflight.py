"""Preflight (R4, R13-R16): what stops a live plan before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodeswap.live.sources import read_spec, read_zone
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan
from nodeswap.plan.preflight import check
from nodeswap.zone.snapshot import HostCapacity, Snapshot

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def plan() -> Plan:
    spec = read_spec(EXAMPLES / "upgrade.yaml")
    zone = read_zone(EXAMPLES / "zone", "4.3.1", "boss2", spec)
    return build_plan(zone, spec, today="20261127")


def _snap(plan: Plan, **kw: object) -> Snapshot:
    settings = {p.name: p.read_text() for p in (EXAMPLES / "zone").iterdir()}
    roomy = HostCapacity(cpus=32, memory_mb=64000, disk_free_mb=500000, bridges=("br0", "br1"))
    base: dict[str, object] = dict(
        firstbox="10.16.100.2", settings=settings, installer_version="4.3.1", variables={},
        kernels=("ksnode16045a.img", "ksnode18046a.img"), repos=("16.04.5", "18.04.6"),
        old_nodes={}, vip=None, capacity={n: roomy for n in settings},
        update_scripts={UPDATE_NODE: WITH_1804})
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


UPDATE_NODE = "/pitrix/upgrade/_update_node.sh"
BRANCHES = """\
#!/bin/bash
. /pitrix/conf/settings/$1
if [[ ${os_version} == "14.04"* ]]; then
    apt_options="--yes --force-yes --allow-unauthenticated --reinstall"
elif [[ ${os_version} == "16.04"* ]]; then
    apt_options="--yes --allow-unauthenticated --reinstall"
fi
ssh $node "apt-get ${apt_options} install ${packages[@]}"
"""
WITH_1804 = BRANCHES.replace("fi\n", 'elif [[ ${os_version} == "18.04"* ]]; then\n'
                             '    apt_options="--yes --allow-unauthenticated --reinstall"\nfi\n')


def test_a_prepared_roomy_zone_whose_script_knows_the_target_passes(plan: Plan) -> None:
    problems, warnings = check(plan, _snap(plan, update_scripts={UPDATE_NODE: WITH_1804}))
    assert problems == [] and warnings == []


def test_no_branch_for_the_target_os_stops_naming_file_and_fix(plan: Plan) -> None:
    """R23: the real _update_node.sh without an 18.04 branch runs apt-get install without
    --yes on the new VMs (it aborts); before issue 10 this was a warning saying the 16.04
    options would be used."""
    problems, warnings = check(plan, _snap(plan, update_scripts={
        UPDATE_NODE: BRANCHES, "/pitrix/upgrade/update_nodes.sh": None}))
    assert warnings == []
    (problem,) = problems
    assert (problem.rule, problem.file, problem.line, problem.key) == (
        "R23", UPDATE_NODE, 5, "target.os_version")
    text = str(problem)
    assert "sets apt options for os_version 14.04*, 16.04* only" in text
    assert "without --yes (line 8)" in text
    assert ('elif [[ ${os_version} == "18.04"* ]]; then apt_options="--yes '
            '--allow-unauthenticated --reinstall"') in text
    assert "16.04 options" not in text
    assert "before the `fi` that closes the branch of line 5, add `elif" in text


def test_an_install_line_without_options_or_yes_stops_with_its_fix(plan: Plan) -> None:
    script = '#!/bin/bash\nssh $node "apt-get --reinstall install ${packages[@]}"\n'
    (problem,) = check(plan, _snap(plan, update_scripts={UPDATE_NODE: script}))[0]
    assert problem.line == 2 and problem.rule == "R23"
    assert "runs `ssh $node \"apt-get --reinstall install ${packages[@]}\"`" in problem.message
    assert "Fix: add --yes to the apt-get install line of " + UPDATE_NODE in problem.message


def test_an_unreadable_script_is_a_warning_that_says_what_the_script_does(plan: Plan) -> None:
    for scripts in ({}, {UPDATE_NODE: None}, {UPDATE_NODE: "#!/bin/bash\nexit 0\n"}):
        problems, warnings = check(plan, _snap(plan, update_scripts=scripts))
        assert problems == []
        (warning,) = warnings
        assert warning.startswith("R23-R26: could not read how update.sh runs apt-get")
        assert "without one `apt-get install` runs without --yes and aborts" in warning
        assert "bionic 18.04.6" in warning


def test_missing_base_image_and_repo_are_r4(plan: Plan) -> None:
    problems, _ = check(plan, _snap(plan, kernels=("ksnode16045a.img",), repos=("16.04.5",)))
    assert [p.rule for p in problems] == ["R4", "R4"]
    assert "ksnode18046" in str(problems[0]) and "/pitrix/repo/18.04.6" in str(problems[1])


def test_a_temporary_address_that_answers_is_r16(plan: Plan) -> None:
    temp = plan.nodes["proxy0"].temp_address
    problems, _ = check(plan, _snap(plan, answering=(temp,)))
    assert len(problems) == 1 and problems[0].rule == "R16" and temp in str(problems[0])


@pytest.mark.parametrize(("cap", "needle"), [
    (HostCapacity(cpus=2, memory_mb=64000, disk_free_mb=500000, bridges=("br0",)), "CPUs"),
    (HostCapacity(cpus=32, memory_mb=4000, disk_free_mb=500000, bridges=("br0",)), "memory"),
    (HostCapacity(cpus=32, memory_mb=64000, disk_free_mb=100, bridges=("br0",)), "free in"),
    (HostCapacity(cpus=32, memory_mb=64000, disk_free_mb=500000, bridges=("br9",)), "no bridge"),
    (HostCapacity(error="connection refused"), "capacity unknown"),
])
def test_a_host_without_room_stops_the_plan(plan: Plan, cap: HostCapacity, needle: str) -> None:
    snap = _snap(plan)
    host = next(n for n, t in snap.settings.items()
                if f'mgmt_network_address="{plan.nodes["proxy0"].physical_host}"' in t)
    snap = _snap(plan, capacity={**snap.capacity, host: cap})
    problems, _ = check(plan, snap)
    assert len(problems) == 1, problems
    assert needle in str(problems[0]) and "proxy0" in str(problems[0])
