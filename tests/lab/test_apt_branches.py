"""Issue 10 on a real lab: firstbox's _update_node.sh without an 18.04 branch (the public
copies know 12.04, 14.04 and 16.04 only) runs `apt-get install` without --yes on an 18.04 node,
which aborts; `nodeswap plan` reads the script and refuses (exit 2, R23) with the branch to add,
and plans once that branch is pasted in.

One lab for the module: the default topology with the opt-in key
``update_node_releases: ["12.04", "14.04", "16.04"]``. The tests run in file order."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_INPUT
from nodeswap.lab import Lab
from nodeswap.lab.hostroot import HostPaths
from nodeswap.lab.topology import TOPOLOGY_DIR

pytestmark = pytest.mark.lab
STATE_ROOT = Path("/var/lib/nodeswap-lab")
SPEC = "role: proxy\ntarget: {os_name: bionic, os_version: \"18.04.6\"}\n"
UPDATE_NODE = "/pitrix/upgrade/_update_node.sh"


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, timeout=600)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("aptbranch")
    (tmp / "spec.yaml").write_text(SPEC)
    topo = (TOPOLOGY_DIR / "default.yaml").read_text()
    (tmp / "no-1804.yaml").write_text(
        topo + 'update_node_releases: ["12.04", "14.04", "16.04"]\n')
    return tmp


@pytest.fixture(scope="module")
def lab(work: Path) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    up = Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-aptbranch",
                topology=str(work / "no-1804.yaml"))
    try:
        yield up
    finally:
        up.down()
        up.cleanup()


def on(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess[str]:
    info = lab.info()
    target = info.firstbox if host == "firstbox" and info.firstbox else host
    return subprocess.run(info.ssh_command(target, command), capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_lab_script_branches_like_the_real_one(lab: Lab) -> None:
    text = (HostPaths.of(lab.dir, "firstbox").root / UPDATE_NODE.lstrip("/")).read_text()
    assert re.findall(r'os_version\} == "([\d.]+)"\*', text) == ["12.04", "14.04", "16.04"]
    # a 16.04 node gets --yes: the package lands
    ok = on(lab, "firstbox", f"{UPDATE_NODE} webservice0 pitrix-hosts")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the same node called 18.04 in its settings: no branch, no --yes, apt aborts (R23)
    settings = "/pitrix/conf/settings/webservice0"
    swap = (f"cp {settings} /tmp/ws0 && sed -i 's/^os_version=.*/os_version=\"18.04.6\"/' "
            f"{settings} && {UPDATE_NODE} webservice0 pitrix-hosts; rc=$?; "
            f"cp /tmp/ws0 {settings}; exit $rc")
    bad = on(lab, "firstbox", swap)
    assert bad.returncode != 0
    assert "Do you want to continue? [Y/n] Abort." in bad.stderr
    log = on(lab, "firstbox", "cat /pitrix/log/update_nodes/update_webservice0.log").stdout
    assert "apt options: []" in log and "apt options: [--yes" in log


def test_plan_refuses_naming_the_file_and_the_branch_to_add(lab: Lab, work: Path) -> None:
    out = work / "plan.json"
    res = ns("plan", "--lab", str(lab.dir), "--spec", str(work / "spec.yaml"),
             "--out", str(out))
    assert res.returncode == EXIT_INPUT, res.stdout + res.stderr
    assert not out.exists()
    assert f"{UPDATE_NODE}:" in res.stderr and ": R23: key target.os_version:" in res.stderr
    assert "sets apt options for os_version 12.04*, 14.04*, 16.04* only" in res.stderr
    assert "without --yes" in res.stderr
    fix = re.search(r"before the `fi` that closes the branch of line \d+, add `([^`]+)`",
                    res.stderr)
    assert fix is not None and fix.group(1) == (
        'elif [[ ${os_version} == "18.04"* ]]; then '
        'apt_options="--yes --allow-unauthenticated --reinstall"')
    (work / "fix.txt").write_text(fix.group(1))


def test_with_the_branch_pasted_in_the_plan_is_made(lab: Lab, work: Path) -> None:
    """The operator adds the printed line before the script's `fi` and plans again."""
    path = HostPaths.of(lab.dir, "firstbox").root / UPDATE_NODE.lstrip("/")
    text = path.read_text()
    fix = (work / "fix.txt").read_text()
    head, sep, tail = text.partition("\nfi\n")
    assert sep
    path.write_text(head + "\n" + fix + sep + tail)
    out = work / "plan.json"
    res = ns("plan", "--lab", str(lab.dir), "--spec", str(work / "spec.yaml"),
             "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    plan = json.loads(out.read_text())
    warnings = plan["warnings"]
    assert not [w for w in warnings if "apt" in w or "R23-R26" in w]
    # R16 (issue 10): the live choice of temporary addresses (the highest free, silent to
    # ping from firstbox) passes .254/.253 by: .252/.251, no warning
    assert not [w for w in warnings if "looks like a gateway" in w]
    assert sorted(n["temp_address"].rsplit(".", 1)[1] for n in plan["nodes"].values()) == [
        "251", "252"]
