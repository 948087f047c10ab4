"""`--jump [USER@]HOST`: firstbox reached through a bastion (issue 6), strict keys all along."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nodeswap.lab import Lab

pytestmark = pytest.mark.lab
EXE = Path(__file__).resolve().parents[2] / ".venv/bin/nodeswap"


def _logins(lab: Lab, iid: str) -> int:
    log = lab.dir / "hostdata" / iid / "sshd.log"
    return sum("Accepted publickey" in ln for ln in log.read_text().splitlines())


def test_discover_through_a_jump_host(zone_lab: Lab) -> None:
    """webservice0 is no host discovery asks, so its one new login is the bastion's."""
    info = zone_lab.info()
    bastion = info.address("webservice0")
    before = _logins(zone_lab, "webservice0.1")
    res = subprocess.run([str(EXE), "discover", "--lab", str(zone_lab.dir), "--state-dir",
                          str(zone_lab.dir / "jump-test"), "--jump", f"root@{bastion}",
                          "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    snap = json.loads(res.stdout)
    assert all(n["error"] is None for n in snap["old_nodes"].values())
    assert _logins(zone_lab, "webservice0.1") == before + 1


def test_an_unreachable_jump_host_is_a_clear_error(zone_lab: Lab) -> None:
    info = zone_lab.info()
    dead = info.address("webservice0").rsplit(".", 1)[0] + ".199"  # nobody listens there
    res = subprocess.run([str(EXE), "discover", "--lab", str(zone_lab.dir), "--state-dir",
                          str(zone_lab.dir / "jump-test"), "--jump", f"root@{dead}"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1
    assert f"jump ({dead}): cannot connect" in res.stderr
