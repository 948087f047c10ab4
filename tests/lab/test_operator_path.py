"""The operator's path, as a person takes it (issue 9): at a real terminal (pexpect), answering
gates with d, n and y, pressing Ctrl-C, and pasting the `next:` commands nodeswap prints, on a
lab of the default topology; and without a terminal, executing every printed hint verbatim.

Each test replays what was seen before the fix: the interactive gate crashed (SQLite used
from the approver's thread), a gate without a terminal showed nothing to decide on, and the
printed hints left out the --lab the operator used, so they did not paste.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from nodeswap import journal as J
from nodeswap.errors import EXIT_GATE, EXIT_INTERRUPTED
from nodeswap.hints import commands_in
from nodeswap.journal import Journal
from nodeswap.lab import Lab

pytestmark = pytest.mark.lab

SPEC = 'role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
PROMPT = r"\? \[y\]es, \[n\]o, \[d\]etails: "
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
       "COLUMNS": "80", "TERM": "xterm"}  # fmt: skip
NODESWAP = [sys.executable, "-m", "nodeswap"]


@pytest.fixture
def lab(fresh_zone_lab: Lab) -> Iterator[Lab]:
    yield fresh_zone_lab


def plan_file(lab: Lab, tmp: Path, *more: str) -> Path:
    spec, out = tmp / "upgrade.yaml", tmp / "plan.json"
    spec.write_text(SPEC)
    done = subprocess.run([*NODESWAP, "plan", "--lab", str(lab.dir), "--spec", str(spec),
                           "--out", str(out), *more], capture_output=True, text=True, env=ENV,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def terminal(command: str, cwd: Path) -> pexpect.spawn:
    """``command`` (a line as an operator types it) in bash at an 80x24 terminal."""
    child = pexpect.spawn("/bin/bash", ["--norc", "--noprofile", "-c", command], cwd=str(cwd),
                          env=ENV, encoding="utf-8", timeout=240, dimensions=(24, 80))
    child.logfile_read = open(cwd / "terminal.log", "a")  # noqa: SIM115 (closed with child)
    return child


def finish(child: pexpect.spawn) -> tuple[str, int]:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, f"killed by signal {child.signalstatus}"
    return child.before, child.exitstatus


def hints(text: str) -> list[str]:
    return commands_in(text.replace("\r\n", "\n"))


def journal(lab: Lab) -> Journal:
    (path,) = (lab.dir / "nodeswap").glob("*.journal.sqlite")
    return Journal.open(path)


def refuse_first_gate(lab: Lab, plan: Path, tmp: Path) -> tuple[str, str]:
    """apply at a terminal; at the first gate: details, a wrong answer, then no."""
    child = terminal(f"nodeswap apply {plan} --lab {lab.dir}", tmp)
    child.expect(r"GATE (r30-settings-proxy\d) \(R30\) on firstbox")
    first = child.match.group(1)
    child.expect("change it makes:")
    child.expect(r"\+mgmt_network_address=")
    child.expect("checks, run again now:")
    child.expect(r"R27 r27-haproxy-proxy\d: ok")
    child.expect(PROMPT)
    child.sendline("D")
    child.expect(r"\[ignored\]")  # details list the ignored differences too
    child.expect(PROMPT)
    child.sendline("maybe")
    child.expect("Answer y")
    child.expect(PROMPT)
    child.sendline("n")
    out, code = finish(child)
    assert code == EXIT_GATE, out
    assert "Traceback" not in out
    nxt = hints(out)
    assert nxt[0].startswith("nodeswap resume ") and f"--approve {first}" in nxt[0]
    assert f"--lab {lab.dir}" in nxt[0]
    assert nxt[1].startswith("nodeswap rollback ")
    return first, nxt[0]


def test_whole_rehearsal_at_a_terminal(lab: Lab, tmp_path: Path) -> None:
    """apply; d then n at the first gate; paste the printed resume; y at the second gate;
    Ctrl-C at R37's gate; status; paste resume; y; paste the report command."""
    plan = plan_file(lab, tmp_path)
    first, resume = refuse_first_gate(lab, plan, tmp_path)
    run_id = shlex.split(resume)[2]
    assert journal(lab).run(run_id).state == J.RUN_GATE

    # the operator pastes the printed command: that gate passes by name; the next one asks
    child = terminal(resume, tmp_path)
    child.expect(f"GATE {first}: approved")
    child.expect(r"GATE r30-settings-proxy\d \(R30\)")
    child.expect(r"R35 r35-supervisor-proxy\d: ok")  # the node switched first, checked again
    child.expect(PROMPT)
    child.sendline("yes")
    child.expect(r"GATE r37-list-proxy\d \(R37\)")
    child.expect("what the command sees now:")
    child.expect(r"proxy\d")  # the domain list
    child.expect(PROMPT)
    child.sendintr()  # Ctrl-C while the operator reads
    out, code = finish(child)
    assert code == EXIT_INTERRUPTED, out
    assert "Traceback" not in out
    assert journal(lab).run(run_id).state == J.RUN_INTERRUPTED

    status = subprocess.run([*NODESWAP, "status", run_id, "--lab", str(lab.dir)],
                            capture_output=True, text=True, env=ENV, check=False)
    assert status.returncode == 5, status.stdout + status.stderr
    (resume, _rollback) = hints(status.stdout)
    assert resume == f"nodeswap resume {run_id} --lab {lab.dir}"

    child = terminal(resume, tmp_path)
    child.expect(r"GATE r37-list-proxy\d \(R37\)")
    child.expect(PROMPT)
    child.sendline("y")
    out, code = finish(child)
    assert code == 0, out
    assert re.search(r"2 nodes replaced \(proxy\d, proxy\d\) by bionic 18\.04\.6", out)
    assert "3 gates approved by" in out
    (report,) = hints(out)
    done = subprocess.run(["bash", "-c", report], cwd=tmp_path, capture_output=True,
                          text=True, env=ENV, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"report-{run_id}.html").stat().st_size > 0
    status = subprocess.run([*NODESWAP, "status", run_id, "--lab", str(lab.dir)],
                            capture_output=True, text=True, env=ENV, check=False)
    assert status.returncode == 0, status.stdout


def test_without_a_terminal_every_printed_hint_runs_as_printed(lab: Lab, tmp_path: Path) -> None:
    """No terminal: each gate stops with what is decided on stdout and the next commands on
    stderr; executing each printed hint verbatim (bash -c) carries the run to its end."""
    # this module's lab may have been upgraded by the test before: plan the zone as it is now,
    # with another date for R6's backup folder (today's is taken)
    plan = plan_file(lab, tmp_path, "--date", "20300101")
    line = f"nodeswap apply {shlex.quote(str(plan))} --lab {shlex.quote(str(lab.dir))}"
    gates = 0
    for _ in range(5):
        done = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True,
                              text=True, env=ENV, stdin=subprocess.DEVNULL, check=False)
        assert "Traceback" not in done.stderr
        if done.returncode == 0:
            break
        assert done.returncode == EXIT_GATE, done.stderr
        gates += 1
        assert "GATE " in done.stdout and "command:" in done.stdout
        if "(R30)" in done.stdout.split("GATE ", 1)[1].splitlines()[0]:
            assert "change it makes:" in done.stdout and "checks, run again now:" in done.stdout
        assert "$ cat > " not in done.stdout
        line = hints(done.stderr)[0]
        assert "--approve" in line
    assert gates == 3
    assert "2 nodes replaced" in done.stdout
    lines = done.stdout.splitlines()
    assert any(re.match(r"\[\d+/\d+\] (done|skipped) ", ln) for ln in lines)
    assert not any("| " in ln for ln in lines)  # no remote output without -v
