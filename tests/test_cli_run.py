"""apply / resume / rollback / status / show as a program on the local transport (no root,
no lab): gates approved by name, -q and -v, status exit codes (a live run, a killed one),
rollback's confirmation at a terminal and without one, and every printed `next:` command
executed as printed (issue 9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_FAILED, EXIT_GATE, EXIT_INPUT
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run.hints import commands_in
from nodeswap.shell import cmd

NODESWAP = [sys.executable, "-m", "nodeswap"]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}


def ns(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, env=ENV, cwd=cwd)


def sh(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A printed command, executed exactly as printed."""
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=120,
                          check=False, stdin=subprocess.DEVNULL, env=ENV, cwd=cwd)  # fmt: skip


def appender(name: str, log: Path, **kw: object) -> Step:
    return Step(name, "p", "R6", f"append {name}", "fb", command=f"echo {name} >> {cmd(str(log))}",
                check=f"grep -qx {name} {cmd(str(log))}",
                undo=f"sed -i /^{name}$/d {cmd(str(log))}", **kw)  # type: ignore[arg-type]


def write_plan(tmp: Path, steps: list[Step]) -> Path:
    plan = Plan("proxy", "4.3.0", ("bionic", "18.04.6"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, tuple(steps),
                transport="local")  # made for --local
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    return path


def apply_args(tmp: Path, plan: Path, *more: str) -> list[str]:
    return ["apply", str(plan), "--local", "--state-dir", str(tmp / "state"),
            "--lock-path", str(tmp / "zone.lock"), *more]  # fmt: skip


def run_id_of(text: str) -> str:
    return next(w for w in text.split() if w.count("-") == 2 and w[:8].isdigit()).rstrip(":")


def test_approve_names_one_gate_and_the_printed_hints_carry_on(tmp_path: Path) -> None:
    log = tmp_path / "log"
    plan = write_plan(tmp_path, [appender("a", log, gate=True), appender("b", log, gate=True)])
    done = ns(*apply_args(tmp_path, plan, "--approve", "a"), cwd=tmp_path)
    assert done.returncode == EXIT_GATE, done.stderr
    assert log.read_text() == "a\n"
    assert "GATE a: approved" in done.stdout and "GATE b (R6) on fb (127.0.0.1)" in done.stdout
    assert done.stderr.startswith("nodeswap: stopped: ")
    resume, rollback = commands_in(done.stderr)
    rid = run_id_of(done.stdout)
    assert resume == f"nodeswap resume {rid} --approve b --state-dir {tmp_path / 'state'}"
    st = ns("status", rid, "--state-dir", str(tmp_path / "state"))
    assert st.returncode == EXIT_GATE and commands_in(st.stdout) == [resume, rollback]
    again = sh(resume, tmp_path)
    assert again.returncode == 0, again.stderr
    assert log.read_text() == "a\nb\n"
    assert "nodes replaced" in again.stdout and "2 steps: 2 done; 2 gates approved" in again.stdout
    (report,) = commands_in(again.stdout)
    assert report.startswith(f"nodeswap report {rid} --html report-{rid}.html --state-dir")


def test_quiet_and_verbose(tmp_path: Path) -> None:
    log = tmp_path / "log"
    noisy = Step("noisy", "p", "R0", "says hello", "fb", command="echo hello-from-the-host",
                 side_effect=False)  # fmt: skip
    plan = write_plan(tmp_path, [appender("a", log), noisy])
    quiet = ns(*apply_args(tmp_path, plan, "-q"))
    assert quiet.returncode == 0 and quiet.stdout == "", quiet.stdout
    plan = write_plan(tmp_path, [appender("c", log), noisy])
    normal = ns(*apply_args(tmp_path, plan))
    assert "[2/2] done    noisy (R0) on fb: says hello" in normal.stdout
    assert "hello-from-the-host" not in normal.stdout
    verbose = ns(*apply_args(tmp_path, write_plan(tmp_path, [noisy]), "-v"))
    assert "fb| hello-from-the-host" in verbose.stdout
    both = ns(*apply_args(tmp_path, plan, "-v", "-q"))
    assert both.returncode == EXIT_INPUT


def test_status_exit_codes_live_killed_failed(tmp_path: Path) -> None:
    started = tmp_path / "started"
    slow = Step("slow", "p", "R1", "takes a while", "fb",
                command=f"touch {cmd(str(started))}; sleep 60")  # no check: cut, it needs a look
    plan = write_plan(tmp_path, [slow])
    proc = subprocess.Popen([*NODESWAP, *apply_args(tmp_path, plan)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        listing = ns("status", "--state-dir", str(tmp_path / "state"), "--json")
        (row,) = json.loads(listing.stdout)
        rid = row["run"]
        st = ns("status", rid, "--state-dir", str(tmp_path / "state"))
        assert st.returncode == 4 and "driving this run now" in st.stdout, st.stdout
        assert commands_in(st.stdout) == []
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group of this one apply
        proc.wait()
    st = ns("status", rid, "--state-dir", str(tmp_path / "state"))
    assert st.returncode == 5, st.stdout
    assert "its process is gone (killed?)" in st.stdout
    resume = commands_in(st.stdout)[0]
    assert resume.endswith("--rerun-unchecked --state-dir " + str(tmp_path / "state"))
    js = json.loads(ns("status", rid, "--state-dir", str(tmp_path / "state"), "--json").stdout)
    assert js["state"] == "running" and js["effective_state"] == "interrupted"
    assert js["exit_status"] == 5 and js["next"][0] == resume


def test_failed_run_status_is_1(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [Step("bad", "p", "R7", "fails", "fb", command="false")])
    done = ns(*apply_args(tmp_path, plan))
    assert done.returncode == EXIT_FAILED
    rid = run_id_of(done.stdout)
    st = ns("status", rid, "--state-dir", str(tmp_path / "state"))
    assert st.returncode == EXIT_FAILED
    assert [c.split()[1] for c in commands_in(st.stdout)] == ["resume", "rollback"]


def test_rollback_asks_and_without_a_terminal_wants_yes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    done = ns(*apply_args(tmp_path, write_plan(tmp_path, [appender("a", log),
                                                          appender("b", log)])))
    assert done.returncode == 0, done.stderr
    rid = run_id_of(done.stdout)
    refused = ns("rollback", rid, "--state-dir", str(tmp_path / "state"))
    assert refused.returncode == EXIT_INPUT
    assert "would undo, last first:" in refused.stderr and "b (R6) on fb" in refused.stderr
    assert log.read_text() == "a\nb\n"
    (with_yes,) = commands_in(refused.stderr)
    assert "--yes" in with_yes

    state = str(tmp_path / "state")
    child = pexpect.spawn(NODESWAP[0], [*NODESWAP[1:], "rollback", rid, "--state-dir", state],
                          env=ENV, encoding="utf-8", timeout=60)
    child.expect(r"Roll back run .*\? \[y/N\]: ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and log.read_text() == "a\nb\n"

    child = pexpect.spawn(NODESWAP[0], [*NODESWAP[1:], "rollback", rid, "--state-dir", state],
                          env=ENV, encoding="utf-8", timeout=60)
    child.expect(r"\? \[y/N\]: ")
    child.sendline("y")
    child.expect("rolled back")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert log.read_text() == ""


def test_show_renders_a_saved_plan_and_refuses_a_broken_one(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, [appender("a", tmp_path / "log", gate=True)])
    shown = ns("show", str(plan))
    assert shown.returncode == 0
    assert "GATE" in shown.stdout and "append a" in shown.stdout and "plan sha256" in shown.stdout
    as_json = json.loads(ns("show", str(plan), "--json").stdout)
    assert as_json["steps"][0]["id"] == "a" and as_json["steps"][0]["address"] == "127.0.0.1"
    broken = tmp_path / "broken.json"
    broken.write_text('{"role": "proxy"}')
    done = ns("show", str(broken))
    assert done.returncode == EXIT_INPUT and "not a nodeswap plan" in done.stderr


def test_show_says_how_resume_decides_each_side_effect_step() -> None:
    """issue 11: per side-effect step, the check and the host it runs on, or why it may run
    again (the example plan: R32's shutdown is asked of the physical host)."""
    golden = Path(__file__).parent / "golden" / "zone.plan.json"
    shown = ns("show", str(golden))
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())  # the console wraps long lines
    assert "if cut: resume asks zz1ar01n01: $ virsh domstate -- proxy0 | grep -qx 'shut off'" \
        in text
    assert "if cut: resume runs it again: apt-get update only refreshes the package lists" in text


def test_show_says_when_a_step_may_start_where_it_is_not_just_after_the_last() -> None:
    """issue 11 (the plan's graph): proxy1's launch (R21) starts after the packages are
    built and both new hosts' address probes (R16, issue 10), beside proxy0's launch and
    wait; R22 after both nodes' name checks; a fetch at once."""
    golden = Path(__file__).parent / "golden" / "zone.plan.json"
    text = " ".join(ns("show", str(golden)).stdout.split())
    num = {s["id"]: i for i, s in enumerate(json.loads(golden.read_text())["steps"], 1)}
    launch1 = text.split("launch the new proxy1")[1]
    assert launch1.split("$ ")[1].split(" starts after ")[1].startswith(
        f"{num['r18-build-pkgs']}, {num['r16-free-proxy0']}, {num['r16-free-proxy1']} ")
    # each node's name check (issue 10) right after its own wait; R22's install after both
    assert f"starts after {num['r21-wait-proxy0']} " in text.split("the new proxy0's host keys")[1]
    assert (f"starts after {num['r22-known-name-proxy0']}, {num['r22-known-name-proxy1']} "
            in text)
    assert text.count("starts first (beside the steps around it)") == 11  # fetches 2-12
    assert "resume needs a person" not in text
