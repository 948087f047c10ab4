"""`nodeswap diff haproxy|rc` invoked as a program: exit status, output, JSON (R27, R28)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cliproc import run_nodeswap
from nodeswap.checks.validate import find_haproxy

FIX = Path(__file__).resolve().parent / "fixtures" / "checks"
HA = FIX / "haproxy"
RC = FIX / "rc"
AMAP = ["--address-map", "10.16.0.2=10.16.0.12"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_nodeswap("diff", *args, timeout=60,
                        env={"COLUMNS": "200", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def report(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    data = json.loads(result.stdout)
    assert list(data) == ["differences"]
    diffs: list[dict[str, Any]] = data["differences"]
    return diffs


def test_same_file_exits_0() -> None:
    result = run("haproxy", HA / "new.cfg", HA / "new.cfg")
    assert result.returncode == 0, result.stderr
    assert "nothing unexpected (0 ignored, 0 attention, 0 unexpected)" in result.stdout


def test_layout_changes_are_ignored_json() -> None:
    result = run("haproxy", HA / "old_layout.cfg", HA / "new.cfg", *AMAP, "--json")
    assert result.returncode == 0, result.stderr
    diffs = report(result)
    assert diffs and {d["class"] for d in diffs} == {"ignored"}
    assert set(diffs[0]) == {"section", "old", "new", "old_line", "new_line", "class", "rule",
                             "reason"}


def test_hand_edit_exits_1_and_is_shown() -> None:
    result = run("haproxy", HA / "old_handedit.cfg", HA / "new.cfg", *AMAP)
    assert result.returncode == 1
    assert "UNEXPECTED differences (6 ignored, 0 attention, 3 unexpected)" in result.stdout
    assert "server apiserver_2 10.16.0.23:7777" in result.stdout


def test_sub_region_attention_exits_0() -> None:
    result = run("haproxy", HA / "old_sub.cfg", HA / "new.cfg", "--sub-region", *AMAP,
                 "--json")
    assert result.returncode == 0
    assert sum(d["class"] == "attention" for d in report(result)) == 6
    plain = run("haproxy", HA / "old_sub.cfg", HA / "new.cfg", *AMAP, "--json")
    assert plain.returncode == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"global\n\x00\x00binary", "binary file"),
        (b"role=\"proxy\"\nhostname=\"proxy0\"\n", ":1: R27: not a haproxy keyword"),
        (b"frontend x\n  bind :80\n  log-format \"abc\n", ":3: R27: unmatched"),
    ],
)
def test_bad_input_exits_2_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "haproxy.cfg"
    bad.write_bytes(content)
    result = run("haproxy", HA / "new.cfg", bad)
    assert result.returncode == 2
    assert str(bad) in result.stderr and message in result.stderr
    assert result.stdout == ""


def test_missing_and_huge_files_are_reported_together(tmp_path: Path) -> None:
    huge = tmp_path / "huge.cfg"
    with huge.open("wb") as f:
        f.truncate(10 * 1024 * 1024 + 1)  # sparse: no 10 MB written to disk
    result = run("haproxy", tmp_path / "missing.cfg", huge)
    assert result.returncode == 2
    assert f"{tmp_path / 'missing.cfg'}: no such file" in result.stderr
    assert f"{huge}: file is 10485761 bytes, over the" in result.stderr


def test_bad_address_map_exits_2() -> None:
    result = run("haproxy", HA / "new.cfg", HA / "new.cfg", "--address-map", "10.0.0.1")
    assert result.returncode == 2 and "OLD=NEW" in result.stderr


@pytest.mark.skipif(find_haproxy() is None, reason="no haproxy binary (make setup)")
def test_haproxy_c_complaint_is_unexpected_unless_disabled(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n  daemon\n  bogus_keyword 1\n")
    result = run("haproxy", cfg, cfg, "--json")
    assert result.returncode == 1
    [finding] = report(result)
    assert finding["section"] == "haproxy -c" and finding["new_line"] == 3
    assert "bogus_keyword" in finding["new"]
    skipped = run("haproxy", cfg, cfg, "--no-validate")
    assert skipped.returncode == 0 and "not validated" in skipped.stdout


def test_rc_diff_exit_codes_and_json() -> None:
    result = run("rc", RC / "old_rc.local.tail", RC / "new_rc.local.tail", *AMAP, "--json")
    assert result.returncode == 1
    diffs = report(result)
    assert [(d["class"], d["section"], d["rule"]) for d in diffs] == [
        ("attention", "rc.local.tail", "R28"),
        ("unexpected", "rc.local.tail", "R28"),
        ("unexpected", "rc.local.tail", "R28"),
    ]
    same = run("rc", RC / "old_rc.local", RC / "new_rc.local")
    assert same.returncode == 0 and "nothing unexpected" in same.stdout


def test_rc_bad_input_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "rc.local"
    empty.write_text("\n")
    result = run("rc", RC / "old_rc.local", empty)
    assert result.returncode == 2 and f"{empty}: file is empty" in result.stderr
