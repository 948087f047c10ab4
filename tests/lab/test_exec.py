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
        assert r == {"exit_status": 0, "stdout": f"{name}\n", "stderr": "e\n", "error": None,
                     "node": name, "address": plain_lab.info().address(name)}
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


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NODESWAP, *args], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def test_group_on_a_zone_lab_readme_example(zone_lab: Lab) -> None:
    """issue 9 item 5: the README's `exec proxy -- supervisorctl status` on a zone (it failed
    with "invalid installer version '0'"); groups come from firstbox's settings."""
    info = zone_lab.info()
    done = ns("exec", "--lab", str(zone_lab.dir), "proxy", "--", "supervisorctl", "status")
    assert done.returncode == 0, done.stderr
    for name in ("proxy0", "proxy1"):
        assert f"{name} ({info.address(name)}): ok" in done.stdout
        assert f"{name}| " in done.stdout  # its supervisorctl lines, prefixed with the node
    assert "webservice0" not in done.stdout
    last = done.stdout.splitlines()[-1]
    assert last.startswith("-- 2 hosts in ") and last.endswith("ok 2, failed 0, unreachable 0")


def test_group_on_a_zone_by_firstbox_and_options_after_the_group(zone_lab: Lab) -> None:
    """The same zone given by --firstbox (live, as discover reads it), every option after the
    group; JSON rows name the node and its address."""
    info = zone_lab.info()
    fb = info.address(info.firstbox)
    done = ns("exec", "proxy,webservice0", "--firstbox", f"root@{fb}", "-i", info.identity_file,
              "--known-hosts", info.known_hosts, "--json", "--", "hostname")  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert sorted(body["hosts"]) == ["proxy0", "proxy1", "webservice0"]
    for name, row in body["hosts"].items():
        assert row["node"] == name and row["address"] == info.address(name)
        assert row["stdout"] == f"{name}\n" and row["exit_status"] == 0


def test_options_after_the_group_on_a_plain_lab(plain_lab: Lab) -> None:
    done = ns("exec", "h0002", "--lab", str(plain_lab.dir), "--json", "--", "echo", "a  b")
    assert done.returncode == 0, done.stderr
    # several words after -- are an argument list: each is quoted, so "a  b" stays one word
    assert json.loads(done.stdout)["hosts"]["h0002"]["stdout"] == "a  b\n"


def test_hosts_file_user_and_port_are_used_and_rows_name_the_node(
    plain_lab: Lab, tmp_path: Path
) -> None:
    info = plain_lab.info()
    a1, a2, a3 = (info.address(h) for h in ("h0001", "h0002", "h0003"))
    hosts = tmp_path / "hosts"
    hosts.write_text(f"root@{a1}:22   # explicit user and port\n{a2}:2\nnosuchuser@{a3}\n")
    done = nodeswap_exec(plain_lab, "--hosts-file", str(hosts), "--connect-timeout", "2",
                         "--", "hostname")  # fmt: skip
    assert done.returncode == 1
    assert f"h0001 ({a1}): ok" in done.stdout and "h0001| h0001" in done.stdout
    assert f"h0002 ({a2}): UNREACHABLE" in done.stdout  # port 2: nothing listens
    assert f"h0003 ({a3}): UNREACHABLE" in done.stdout and "login as nosuchuser" in done.stdout
    js = nodeswap_exec(plain_lab, "--hosts-file", str(hosts), "--connect-timeout", "2",
                       "--json", "--", "hostname")  # fmt: skip
    rows = json.loads(js.stdout)["hosts"]
    assert rows[f"root@{a1}:22"]["node"] == "h0001" and rows[f"root@{a1}:22"]["address"] == a1
    assert rows[f"{a2}:2"]["error"] and rows[f"nosuchuser@{a3}"]["node"] == "h0003"
