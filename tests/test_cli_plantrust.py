"""Issue 14 at the command line: `plan` writes and prints the plan's digest, `show`, `apply`
(at the run's start), every gate and the report show it; `apply` refuses a changed plan, a
plan that is not the --expect'ed one, and --local for a plan not made for this machine, all
with exit 2 before anything runs or is recorded. Plans from examples/ (10.x addresses) are
only planned offline here, never applied: each refusal comes before any connection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_GATE, EXIT_INPUT
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.shell import cmd

NODESWAP = [sys.executable, "-m", "nodeswap"]
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, cwd=ROOT)


def example_plan(tmp: Path, *more: str) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp / "plan.json"
    done = ns("plan", "--settings-dir", str(EXAMPLES / "zone"), "--installer-version", "4.3.1",
              "--spec", str(EXAMPLES / "upgrade.yaml"), "--components", "boss2,warehouse",
              "--seed", "1", "--date", "20261127", "--out", str(out), *more)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, done


def local_plan(tmp: Path, *, gate: bool = False) -> Path:
    log = cmd(str(tmp / "log"))
    steps = (Step("a", "p", "R6", "append a", "fb", command=f"echo a >> {log}", gate=gate),
             Step("b", "p", "R7", "append b", "fb", command=f"echo b >> {log}", gate=gate))
    plan = Plan("proxy", "4.3.0", ("bionic", "18.04.6"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, steps,
                transport="local")  # fmt: skip
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    return path


def apply_local(tmp: Path, plan: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return ns("apply", str(plan), "--local", "--state-dir", str(tmp / "state"),
              "--lock-path", str(tmp / "zone.lock"), *more)  # fmt: skip


def test_plan_writes_and_prints_the_digest_and_show_shows_it(tmp_path: Path) -> None:
    out, done = example_plan(tmp_path)
    digest = json.loads(out.read_text())["digest"]
    assert len(digest) == 64
    assert f"plan saved to {out}\nplan sha256 {digest}\n" in done.stderr
    assert json.loads(ns("plan", "--settings-dir", str(EXAMPLES / "zone"), "--installer-version",
                         "4.3.1", "--spec", str(EXAMPLES / "upgrade.yaml"), "--components",
                         "boss2,warehouse", "--seed", "1", "--date", "20261127", "--json"
                         ).stdout)["digest"] == digest  # fmt: skip
    shown = ns("show", str(out))
    assert shown.returncode == 0 and f"plan sha256 {digest}" in shown.stdout
    assert json.loads(ns("show", str(out), "--json").stdout)["digest"] == digest


def test_a_changed_plan_is_refused_before_anything_runs(tmp_path: Path) -> None:
    path = local_plan(tmp_path)
    data = json.loads(path.read_text())
    data["steps"][0]["command"] += "; touch " + cmd(str(tmp_path / "pwned"))
    path.write_text(json.dumps(data))
    done = apply_local(tmp_path, path)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert f"{path}: digest: the content does not match the plan's digest" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "log").exists()
    assert not (tmp_path / "state").exists()  # no run recorded
    shown = ns("show", str(path))  # show refuses it too: a reviewer never reads a changed plan
    assert shown.returncode == EXIT_INPUT and "digest" in shown.stderr


def test_a_schema_error_names_the_file_and_the_path_without_a_traceback(tmp_path: Path) -> None:
    path = local_plan(tmp_path)
    data = json.loads(path.read_text())
    data["steps"][1]["command"] = 42
    data["digest"] = Plan.from_dict(data).to_dict()["digest"]  # a digest nodeswap would compute
    path.write_text(json.dumps(data))
    done = apply_local(tmp_path, path)
    assert done.returncode == EXIT_INPUT
    assert f"{path}: steps[1].command: must be a string, not an integer" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "state").exists()


def test_expect_refuses_another_plan_and_the_run_starts_with_the_digest(tmp_path: Path) -> None:
    path = local_plan(tmp_path)
    digest = json.loads(path.read_text())["digest"]
    other = "0" * 64
    done = apply_local(tmp_path, path, "--expect", other)
    assert done.returncode == EXIT_INPUT
    assert f"is plan sha256 {digest}, not the expected {other} (--expect)" in done.stderr
    assert not (tmp_path / "log").exists() and not (tmp_path / "state").exists()
    done = apply_local(tmp_path, path, "--expect", digest)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith(f"starting, 2 steps, plan sha256 {digest}")
    assert (tmp_path / "log").read_text() == "a\nb\n"


def test_every_gate_and_the_report_show_the_digest(tmp_path: Path) -> None:
    path = local_plan(tmp_path, gate=True)
    digest = json.loads(path.read_text())["digest"]
    done = apply_local(tmp_path, path, "--approve", "a")
    assert done.returncode == EXIT_GATE, done.stderr
    run_id = done.stdout.split()[1].rstrip(":")
    assert f"  run {run_id}, plan sha256 {digest}\n" in done.stdout  # the gate at b
    again = ns("resume", run_id, "--approve", "b", "--state-dir", str(tmp_path / "state"))
    assert again.returncode == 0, again.stderr
    assert f"resuming, 2 steps, plan sha256 {digest}" in again.stdout
    report = ns("report", run_id, "--state-dir", str(tmp_path / "state"))
    assert report.returncode == 0, report.stderr
    assert digest in report.stdout


def test_local_refuses_a_plan_made_for_a_zone(tmp_path: Path) -> None:
    """An offline plan of the example zone names firstbox 10.16.100.2: --local would run its
    steps (R32's shutdown among them) on this machine. Refused, nothing recorded."""
    plan, _ = example_plan(tmp_path)
    done = apply_local(tmp_path, plan)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert "made for firstbox 10.16.100.2" in done.stderr and "--local" in done.stderr
    assert not (tmp_path / "state").exists()
    unmarked = local_plan(tmp_path)
    data = json.loads(unmarked.read_text())
    data["transport"] = None
    data["digest"] = Plan.from_dict(data).to_dict()["digest"]
    unmarked.write_text(json.dumps(data))
    done = apply_local(tmp_path, unmarked)
    assert done.returncode == EXIT_INPUT and "not marked for --local" in done.stderr
    both = ns("apply", str(local_plan(tmp_path)), "--local", "--firstbox", "root@10.16.100.2",
              "--state-dir", str(tmp_path / "state"))
    assert both.returncode == EXIT_INPUT and "drop --lab/--firstbox" in both.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "log").exists()
