"""Golden plans: the offline plan of each sample zone, byte for byte (issue 12).

A change to the rules or the runbooks that changes a plan shows up here as a diff of
``tests/golden/*.plan.json``. Rewrite them with ``NODESWAP_UPDATE_GOLDEN=1`` (or
``make golden``) and review the diff like code: every changed line is a changed command, file
or check on a real zone.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from cliproc import run_nodeswap

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
DATE = "20261202"
CASES = {  # golden file stem -> arguments of `nodeswap plan` (the examples' own comments)
    "zone": ["--settings-dir", "examples/zone", "--installer-version", "4.3.1",
             "--components", "boss2,warehouse", "--spec", "examples/upgrade.yaml"],
    "zone-vg": ["--settings-dir", "examples/zone-vg", "--installer-version", "4.2.1",
                "--spec", "examples/upgrade-vg.yaml"],
}


def plan_json(args: list[str], out: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = run_nodeswap("plan", *args, "--seed", "1", "--date", DATE, "--out", out, cwd=ROOT,
                       env=env)
    assert res.returncode == 0, res.stderr
    return out.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_offline_plan_matches_its_golden_file(name: str, tmp_path: Path) -> None:
    got = plan_json(CASES[name], tmp_path / "plan.json")
    golden = GOLDEN / f"{name}.plan.json"
    if os.environ.get("NODESWAP_UPDATE_GOLDEN") == "1":
        golden.write_text(got)
    want = golden.read_text()
    if got != want:
        diff = "".join(list(difflib.unified_diff(
            want.splitlines(keepends=True), got.splitlines(keepends=True),
            f"tests/golden/{name}.plan.json", "re-planned"))[:80])
        pytest.fail(f"the plan of examples/{name} changed; review, then rewrite with "
                    f"NODESWAP_UPDATE_GOLDEN=1:\n{diff}")
