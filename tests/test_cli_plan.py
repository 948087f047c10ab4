"""`nodeswap plan` invoked as a program: exit codes, output, and nothing written on bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cliproc import run_nodeswap

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SPEC = """\
role: proxy
target: {os_name: bionic, os_version: "18.04.6"}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_nodeswap("plan", *args, timeout=60, cwd=ROOT)


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    dest = tmp_path / "settings"
    shutil.copytree(EXAMPLES / "zone", dest)
    return dest


def plan_args(settings: Path, spec: Path, out: Path, version: str = "4.3.1") -> list[str]:
    return ["--settings-dir", str(settings), "--installer-version", version, "--spec", str(spec),
            "--out", str(out), "--seed", "1", "--date", "20261127"]


def test_plans_the_example_zone_as_json(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    res = run("--settings-dir", str(EXAMPLES / "zone"), "--installer-version", "4.3.1",
              "--spec", str(EXAMPLES / "upgrade.yaml"), "--components", "boss2,warehouse",
              "--seed", "1", "--json", "--out", str(out))
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["role"] == "proxy" and data["installer_version"] == "4.3.1"
    node = data["nodes"]["proxy0"]
    for key in ("old_address", "temp_address", "old_physical_host", "physical_host", "settings"):
        assert node[key]
    assert node["temp_address"] == "10.16.100.51"
    assert {"id", "phase", "host", "command", "rule"} <= set(data["steps"][0])
    assert [s["rule"] for s in data["steps"]].count("R26") == 1
    saved = json.loads(out.read_text())
    assert len(saved["inventory_fingerprint"]) == 64
    assert saved["steps"] == [{k: v for k, v in s.items() if k not in ("host", "address")}
                              for s in data["steps"]]


def test_human_output_of_the_vg_example() -> None:
    res = run("--settings-dir", str(EXAMPLES / "zone-vg"), "--installer-version", "4.2.1",
              "--spec", str(EXAMPLES / "upgrade-vg.yaml"), "--seed", "1")
    assert res.returncode == 0, res.stderr
    for text in ("switch:proxy1", "R19", "+eip_network_address=\"2.2.2.2\"", "GATE",
                 "+physical_host=\"10.16.101.11\"", "archive"):
        assert text in res.stdout, text


def test_help_teaches() -> None:
    res = run("--help")
    assert res.returncode == 0
    assert "Examples" in res.stdout and "--settings-dir" in res.stdout


@pytest.mark.parametrize(("case", "spec_extra", "expected"), [
    ("unknown node", "nodes:\n  proxy9: {temp_address: 10.16.100.51}\n",
     ["key nodes.proxy9", "unknown node 'proxy9'"]),
    ("taken temporary address", "nodes:\n  proxy0: {temp_address: 10.16.100.23}\n",
     ["R16", "10.16.100.23", "webservice0", "key nodes.proxy0.temp_address"]),
    ("host breaks R13", "nodes:\n  proxy0: {physical_host: 10.16.100.11}\n",
     ["R13", "10.16.100.11", "host of the old proxy0"]),
    ("MAC collision", "nodes:\n  proxy0: {mgmt_mac: PROXY1_MAC}\n",
     ["R9", "PROXY1_MAC", "collides"]),
    ("bad spec value", "seed: many\n", ["key seed", "'many'"]),
])
def test_bad_input_exits_2_and_writes_nothing(zone: Path, tmp_path: Path, case: str,
                                              spec_extra: str, expected: list[str]) -> None:
    proxy1_mac = next(line.split('"')[1] for line in (zone / "proxy1").read_text().splitlines()
                      if line.startswith("mgmt_network_mac_address="))
    spec = tmp_path / "up.yaml"
    spec.write_text(SPEC + spec_extra.replace("PROXY1_MAC", proxy1_mac))
    out = tmp_path / "plan.json"
    res = run(*plan_args(zone, spec, out))
    assert res.returncode == 2, (case, res.stdout, res.stderr)
    for text in expected:
        assert text.replace("PROXY1_MAC", proxy1_mac) in res.stderr, (case, res.stderr)
    assert str(spec) in res.stderr or "nodes." not in expected[0]
    assert not out.exists() and res.stdout == ""


def test_a_role_without_a_runbook_exits_2_naming_the_known_roles(zone: Path,
                                                                  tmp_path: Path) -> None:
    spec = tmp_path / "up.yaml"
    spec.write_text(SPEC.replace("role: proxy", "role: toy"))
    out = tmp_path / "plan.json"
    res = run(*plan_args(zone, spec, out))
    assert res.returncode == 2, res.stderr
    assert f"{spec}:1: key role: no runbook for role 'toy': the known roles are " in res.stderr
    assert "proxy" in res.stderr.split("the known roles are ", 1)[1]
    assert not out.exists()


def test_malformed_settings_name_file_and_line(zone: Path, tmp_path: Path) -> None:
    text = (zone / "proxy0").read_text().replace('role="proxy"', 'role="proxy')
    (zone / "proxy0").write_text(text)
    (zone / "webservice1").write_text((zone / "webservice1").read_text()
                                      + 'extra="$(reboot)"\n')
    spec = tmp_path / "up.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "plan.json"
    res = run(*plan_args(zone, spec, out))
    assert res.returncode == 2, res.stderr
    assert f"{zone / 'proxy0'}:2" in res.stderr
    assert str(zone / "webservice1") in res.stderr  # every problem at once
    assert not out.exists()


def test_invalid_version_and_components_together(zone: Path, tmp_path: Path) -> None:
    spec = tmp_path / "up.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "plan.json"
    res = run(*plan_args(zone, spec, out, version="4.x"), "--components", "boss9")
    assert res.returncode == 2
    assert "'4.x'" in res.stderr and "'boss9'" in res.stderr
    assert not out.exists()


def _rename(zone: Path, old: str, new: str) -> None:
    text = (zone / old).read_text().replace(f'hostname="{old}"', f'hostname="{new}"')
    (zone / old).unlink()
    (zone / new).write_text(text)


def _set(zone: Path, node: str, key: str, raw: str) -> None:
    lines = [f"{key}={raw}" if ln.startswith(key + "=") else ln
             for ln in (zone / node).read_text().splitlines()]
    (zone / node).write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("case", "expected"), [
    ("node named -rf", ["-rf", "key hostname", "not a node name"]),
    ("node named --help", ["--help", "key hostname", "not a node name"]),
    ("hash in a name", ["a#b", "key hostname", "not a node name"]),
    ("cpu_cores four", ["proxy0:21: key cpu_cores", "'four' is not a whole number"]),
    ("value on two lines", ["proxy0:37: key vm_network_routing_rule", "spans 2 lines"]),
    ("option in a bridge", ["key physical_host_network_interface", "not an interface name"]),
    ("duplicate key", ["proxy0:43: key os_name", "assigned again (first on line 23)"]),
    ("symlink to a secret", ["proxy9", "symbolic link"]),
    ("option as an order entry", ["key order.1", "'--help' is not a node name"]),
])
def test_names_and_values_typed_at_the_edge_exit_2(zone: Path, tmp_path: Path, case: str,
                                                    expected: list[str]) -> None:
    """Issue 14: each of these planned (or gave a traceback) before; now exit 2, no traceback,
    the file, line and key named, nothing written, nothing of a linked file shown."""
    spec = tmp_path / "up.yaml"
    spec.write_text(SPEC + ("order: [proxy1, --help]\n" if "order" in case else ""))
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    if case.startswith("node named") or case == "hash in a name":
        _rename(zone, "proxy0", {"node named -rf": "-rf", "node named --help": "--help"}
                .get(case, "a#b"))
    elif case == "cpu_cores four":
        _set(zone, "proxy0", "cpu_cores", '"four"')
    elif case == "value on two lines":
        _set(zone, "proxy0", "vm_network_routing_rule", '"ip route add 172.21.130.0/24\nreboot"')
    elif case == "option in a bridge":
        _set(zone, "proxy0", "physical_host_network_interface", '"br0 -o ProxyCommand=touch"')
    elif case == "duplicate key":
        (zone / "proxy0").write_text((zone / "proxy0").read_text() + 'os_name="bionic"\n')
    elif case == "symlink to a secret":
        (zone / "proxy9").symlink_to(secret)
    out = tmp_path / "plan.json"
    res = run(*plan_args(zone, spec, out))
    assert res.returncode == 2, (case, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "SECRETHASH" not in res.stderr
    for text in expected:
        assert text in res.stderr, (case, res.stderr)
    assert not out.exists() and res.stdout == ""


REGION = ROOT / "tests" / "fixtures" / "region"  # two zones on one firstbox (issue 10)


def test_a_region_plan_without_zone_exits_2_naming_the_zones(tmp_path: Path) -> None:
    spec = tmp_path / "upgrade.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "plan.json"
    res = run(*plan_args(REGION, spec, out))
    assert res.returncode == 2, res.stderr
    assert f"{spec}: R5: key zone:" in res.stderr
    assert "zz1a: zz1a-proxy0, zz1a-proxy1; zz1b: zz1b-proxy0, zz1b-proxy1" in res.stderr
    assert "zone: zz1a" in res.stderr
    assert not out.exists() and res.stdout == ""


def test_a_region_plan_for_the_zone_the_spec_names(tmp_path: Path) -> None:
    spec = tmp_path / "upgrade.yaml"
    spec.write_text(SPEC + "zone: zz1b\n")
    out = tmp_path / "plan.json"
    res = run(*plan_args(REGION, spec, out))
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert sorted(data["nodes"]) == ["zz1b-proxy0", "zz1b-proxy1"]
    for node in data["nodes"].values():  # R13: hosts of zz1b (zz1br01n01..03), never zz1a's
        assert node["physical_host"] in ("10.16.110.11", "10.16.110.12", "10.16.110.13")
    assert data["zone"]["zone_ids"] == ["zz1a", "zz1b"]  # the settings folder is the region's
    assert data["steps"] and not [s["id"] for s in data["steps"] if "zz1a-" in s["command"]]


def test_a_region_plan_for_a_zone_that_is_not_there(tmp_path: Path) -> None:
    spec = tmp_path / "upgrade.yaml"
    spec.write_text(SPEC + "zone: zz1c\n")
    res = run(*plan_args(REGION, spec, tmp_path / "plan.json"))
    assert res.returncode == 2
    assert "key zone: zone 'zz1c' is not a zone of these settings files (zones: zz1a, zz1b)" \
        in res.stderr
