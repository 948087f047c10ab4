"""`nodeswap exec` on the lab: groups, per-host output, summary, JSON shape, exit codes,
unreachable hosts and refused keys as outcomes (not crashes), command timeout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nodeswap.lab import Lab

pytestmark = pytest.mark.lab
NODESWAP = [sys.executable, "-m", "nodeswap"]


def nodeswap_exec(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NODESWAP, "exec", "--lab", str(lab.dir), *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def test_all_hosts_json_shape_and_exit_zero(plain_lab: Lab) -> None:
    done = nodeswap_exec(plain_lab, "--json", "all", "--", "hostname; echo e >&2")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    names = sorted(plain_lab.info().hosts)
    assert sorted(body["hosts"]) == names
    for name, r in body["hosts"].items():
        assert r == {"exit_status": 0, "stdout": f"{name}\n", "stderr": "e\n", "error": None}
    assert body["summary"] == {"ok": len(names), "failed": 0, "unreachable": 0}


def test_one_failing_host_fails_the_command_and_is_counted(plain_lab: Lab) -> None:
    done = nodeswap_exec(plain_lab, "h0001,h0002", "--", 'test "$(hostname)" = h0001')
    assert done.returncode == 1
    assert "h0001 (127." in done.stdout and "h0002 (127." in done.stdout
    assert "FAILED exit 1" in done.stdout
    assert done.stdout.rstrip().endswith("ok 1, failed 1, unreachable 0")


def test_hosts_file_with_an_unreachable_address(plain_lab: Lab, tmp_path: Path) -> None:
    good = plain_lab.info().address("h0003")
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{good}\n# comment\n127.20.250.251\n{good}\n")
    done = nodeswap_exec(plain_lab, "--hosts-file", str(hosts), "--connect-timeout", "3",
                         "--json", "--", "true")  # fmt: skip
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["hosts"][good]["exit_status"] == 0
    bad = body["hosts"]["127.20.250.251"]
    assert bad["exit_status"] is None and "cannot connect" in bad["error"]
    assert body["summary"] == {"ok": 1, "failed": 0, "unreachable": 1}


def test_unknown_host_key_is_reported_per_host(plain_lab: Lab, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    a1 = plain_lab.info().address("h0001")
    kh.write_text("".join(ln + "\n" for ln in Path(plain_lab.info().known_hosts).read_text()
                          .splitlines() if a1 in ln.split(" ", 1)[0].split(",")))  # fmt: skip
    done = nodeswap_exec(plain_lab, "--known-hosts", str(kh), "--json", "h0001,h0002", "--", "true")
    body = json.loads(done.stdout)
    assert body["hosts"]["h0001"]["exit_status"] == 0
    assert "not in known_hosts" in body["hosts"]["h0002"]["error"]
    assert done.returncode == 1


def test_command_timeout_counts_as_failed(plain_lab: Lab) -> None:
    done = nodeswap_exec(plain_lab, "--timeout", "0.5", "--json", "h0004", "--", "sleep 20")
    body = json.loads(done.stdout)
    assert body["hosts"]["h0004"]["error"] == "timed out after 0.5s"
    assert body["summary"] == {"ok": 0, "failed": 1, "unreachable": 0}


def test_unknown_group_is_input_error(plain_lab: Lab) -> None:
    done = nodeswap_exec(plain_lab, "nosuchgroup", "--", "true")
    assert done.returncode == 2 and "unknown node or group 'nosuchgroup'" in done.stderr


def test_forks_one_still_reaches_every_host(plain_lab: Lab) -> None:
    done = nodeswap_exec(plain_lab, "--forks", "1", "all", "--", "true")
    assert done.returncode == 0
    assert f"ok {len(plain_lab.info().hosts)}, failed 0" in done.stdout
