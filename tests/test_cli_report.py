"""`nodeswap report` invoked as a program: a run executed for real on the local transport
(bash; R27 and R29 analyses on recorded outputs, a failing R33 step), then reported as
Markdown on stdout, as files, for the latest run or a named one, from --state-dir or --lab.
Exit 2 for an unknown run or a missing journal."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import subprocess
from pathlib import Path

import pytest

from cliproc import run_nodeswap
from nodeswap.errors import StepFailed
from nodeswap.plan.model import Analysis, NodePlan, Plan, Step, Target
from nodeswap.run.execute import Executor
from nodeswap.run.journal import Journal
from nodeswap.shell import cmd
from nodeswap.transport.local import LocalConnector

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINaRCD+C5zO23fd/SZbVnKbCI+yRtjOSmuBHj6nXiIg5 test"
KEY_FP = "SHA256:SIlwTyK1PEoKxeE2yaxh5SmvwBwrUkrYnyZDItsYeCA"
OLD_HA = ("global\n    daemon\ndefaults\n    mode tcp\n    timeout client 60m\n"
          "listen api-front\n    bind 0.0.0.0:7777\n    server api_0 10.10.0.21:443 check\n")
NEW_HA = OLD_HA.replace("10.10.0.21:443", "10.16.0.21:7777")  # attention only (sub region)
OLD_SUP = "haproxy RUNNING pid 1, uptime 1:00:00\nkeepalived RUNNING pid 2, uptime 1:00:00\n"
SETTINGS = 'os_name="{}"\nos_version="{}"\n'
SRC = Path(__file__).resolve().parents[1] / "src"  # this checkout's code, not an installed one


def _printf(text: str) -> str:
    return cmd("printf", "%s", text)


def make_plan() -> Plan:
    local = "127.0.0.1"
    targets = {n: Target(n, local, k) for n, k in (
        ("firstbox", "firstbox"), ("proxy0-old", "proxy0-old"), ("proxy0-new", "proxy0-new"))}
    node = NodePlan("proxy0", "10.16.0.2", "10.16.0.12", "10.16.0.5", "10.16.0.6",
                    SETTINGS.format("xenial", "16.04.5"), SETTINGS.format("jammy", "22.04"),
                    "00:16:3e:00:00:01", None, None)  # fmt: skip
    steps = (
        Step("fetch-proxy0-haproxy", "prepare", "R27", "keep the old haproxy.cfg", "proxy0-old",
             _printf(OLD_HA), side_effect=False),
        Step("fetch-proxy0-supervisor", "prepare", "R29", "keep the old status", "proxy0-old",
             _printf(OLD_SUP), side_effect=False),
        Step("r27-haproxy-proxy0", "check", "R27", "compare haproxy.cfg", "proxy0-new",
             _printf(NEW_HA), side_effect=False,
             analysis=Analysis("haproxy", "fetch-proxy0-haproxy",
                               (("sub_region", "1"), ("node", "proxy0")))),
        Step("r29-supervisor-proxy0", "check", "R29", "supervisor status", "proxy0-new",
             _printf(OLD_SUP), side_effect=False,
             analysis=Analysis("supervisor", "fetch-proxy0-supervisor", (("node", "proxy0"),))),
        Step("r33-hosts-proxy0", "switch:proxy0", "R33", "install pitrix-hosts", "proxy0-new",
             "echo 'E: <script>alert(1)</script>'; echo 'no such package' >&2; exit 100"),
        Step("r35-supervisor-proxy0", "switch:proxy0", "R35", "supervisor status, switched",
             "proxy0-new", _printf(OLD_SUP), side_effect=False),
    )  # fmt: skip
    return Plan("proxy", "4.3.1", ("jammy", "22.04"), {"proxy0": node}, targets, steps)


def run_failing(state: Path, zone: str = "zone1") -> str:
    """Execute the plan on the local transport until R33 fails; returns the run id."""
    journal = Journal.open(state / f"{zone}.journal.sqlite")
    ex = Executor(journal, LocalConnector(), lock_path=str(state / "zone.lock"))
    rid = ex.start(make_plan(), zone=zone, operator="tester")
    with pytest.raises(StepFailed):
        asyncio.run(ex.execute(rid))
    journal.pin_key("proxy0-new", KEY, "127.0.0.1", rid)
    journal.close()
    return rid


def nodeswap(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_nodeswap("report", *args, timeout=60, env={
        "COLUMNS": "200", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(SRC),
        "NODESWAP_CONFIG": "none"})


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("state")
    return folder, run_failing(folder)


def test_latest_run_as_markdown_on_stdout(state: tuple[Path, str]) -> None:
    folder, rid = state
    r = nodeswap("--state-dir", folder)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"# nodeswap report: run {rid}\n")
    for step in make_plan().steps:
        assert re.search(rf"\| {re.escape(step.id)} \| .*\|", out), step.id
        row = next(line for line in out.splitlines() if f"| {step.id} |" in line)
        assert f"| {step.rule} |" in row
    assert re.search(r"\| r33-hosts-proxy0 \| .* \| FAILED \| \d+\.\d+ s \| 100 \| 1 \|", out)
    assert "| r35-supervisor-proxy0 | proxy0-new (127.0.0.1) | supervisor status, switched " \
           "| not run | — | — | 0 |" in out
    assert "## Failed step: r33-hosts-proxy0 (R33)" in out
    assert "no such package" in out
    assert "| ATTENTION | R27 | listen api-front |" in out and "## ⚠ Attention" in out
    assert "xenial 16.04.5 → xenial 16.04.5 (planned: jammy 22.04)" in out and KEY_FP in out


def test_html_and_markdown_files(state: tuple[Path, str], tmp_path: Path) -> None:
    folder, rid = state
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    r = nodeswap(rid, "--state-dir", folder, "--html", html, "--markdown", md)
    assert r.returncode == 0, r.stderr
    assert str(html) in r.stdout and str(md) in r.stdout
    page = html.read_text()
    assert "E: &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"<script|<link|src=|href=|url\(|@import", page, re.IGNORECASE)
    assert md.read_text().startswith(f"# nodeswap report: run {rid}\n")


def test_json_is_the_reports_data(state: tuple[Path, str], tmp_path: Path) -> None:
    folder, rid = state
    r = nodeswap(rid, "--state-dir", folder, "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["report_format"], data["run_id"], data["state"]) == (1, rid, "failed")
    steps = [s for phase in data["phases"] for s in phase["steps"]]
    assert [s["step_id"] for s in steps] == [s.id for s in make_plan().steps]
    assert {s["step_id"]: s["outcome"] for s in steps}["r33-hosts-proxy0"] == "failed"
    assert data["failure"]["step"]["step_id"] == "r33-hosts-proxy0"
    assert "no such package" in data["failure"]["stderr_tail"]
    (ha,) = [c for c in data["diffs"] if c["step_id"] == "r27-haproxy-proxy0"]
    assert {f["class"] for f in ha["findings"]} >= {"attention"}  # named as `diff --json`
    assert data["totals"]["steps"] == len(steps) and data["totals"]["attention"] >= 1
    assert data["nodes"][0]["new_key"].startswith(KEY_FP)
    both = nodeswap(rid, "--state-dir", folder, "--json", "--html", tmp_path / "r.html")
    assert both.returncode == 2 and "--json prints the report" in both.stderr
    assert not (tmp_path / "r.html").exists()


def test_md_is_a_synonym_of_markdown(state: tuple[Path, str], tmp_path: Path) -> None:
    """Issue 13: `report --md FILE` writes what `--markdown FILE` writes."""
    folder, rid = state
    short, long = tmp_path / "short.md", tmp_path / "long.md"
    for flag, path in (("--md", short), ("--markdown", long)):
        r = nodeswap(rid, "--state-dir", folder, flag, path)
        assert r.returncode == 0, r.stderr
        assert f"Markdown in {path}" in r.stdout
    assert short.read_text() == long.read_text()
    assert short.read_text().startswith(f"# nodeswap report: run {rid}\n")


def test_lab_option_reads_the_labs_journal(tmp_path: Path) -> None:
    rid = run_failing(tmp_path / "nodeswap")
    r = nodeswap("--lab", tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"run {rid}" in r.stdout


def test_latest_of_several_journals(tmp_path: Path) -> None:
    run_failing(tmp_path, "older")
    newest = run_failing(tmp_path, "newer")
    r = nodeswap("--state-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"# nodeswap report: run {newest}\n")


def test_unknown_run_exits_2(state: tuple[Path, str]) -> None:
    r = nodeswap("no-such-run", "--state-dir", state[0])
    assert r.returncode == 2
    assert "no run 'no-such-run'" in r.stderr


def test_missing_journal_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    where = tmp_path / "empty"
    r = nodeswap("--state-dir", where)
    assert r.returncode == 2
    assert f"no nodeswap journal in {where}" in r.stderr
    assert not where.exists()


def test_unwritable_report_file_exits_2(state: tuple[Path, str], tmp_path: Path) -> None:
    r = nodeswap("--state-dir", state[0], "--html", tmp_path / "missing" / "r.html")
    assert r.returncode == 2
    assert "cannot write the report" in r.stderr


def test_report_files_are_private_and_the_command_says_so(state: tuple[Path, str],
                                                          tmp_path: Path) -> None:
    """Mode 0600, also over an existing file of mode 0644 (replaced, not reused)."""
    folder, rid = state
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    md.write_text("old report\n")
    md.chmod(0o644)
    r = nodeswap(rid, "--state-dir", folder, "--html", html, "--markdown", md)
    assert r.returncode == 0, r.stderr
    for path in (html, md):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert f"{path} (mode 0600: only you can read it)" in r.stdout
    assert md.read_text().startswith("# nodeswap report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.md"]  # no temp left
