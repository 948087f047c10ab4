"""`nodeswap apply` on the lab, killed with SIGKILL at many points, then `resume` until done:
the same end state as an uninterrupted run, no side-effect step run twice. Also gates, the
zone lock on firstbox, and redaction in the journal, through the CLI."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodeswap.errors import EXIT_GATE, EXIT_LOCKED
from nodeswap.lab import Lab
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal
from nodeswap.run.mirror import mirror_dir, parse
from nodeswap.shell import cmd

pytestmark = pytest.mark.lab
NODESWAP = [sys.executable, "-m", "nodeswap"]
STEPS = 8


@dataclass
class Rig:
    lab: Lab
    tmp: Path
    tag: str

    @property
    def log(self) -> str:
        return f"/root/resume-{self.tag}.log"

    @property
    def lock(self) -> str:
        return f"/root/locks/{self.tag}.lock"

    def plan(self, *, gate_at: int | None = None, extra: tuple[Step, ...] = ()) -> Path:
        info = self.lab.info()
        names = sorted(info.hosts)[:3]
        targets = {
            "fb": Target("fb", info.address(names[0]), "fb", via_firstbox=False),
            "a": Target("a", info.address(names[1]), "a"),
            "b": Target("b", info.address(names[2]), "b"),
        }
        steps = []
        for i in range(STEPS):
            host = ("a", "b", "fb")[i % 3]
            mark = f"s{i}"
            steps.append(Step(
                id=mark, phase="p", rule=f"R{i}", title=f"append {mark} on {host}", target=host,
                command=f"echo {mark} >> {cmd(self.log)}; echo applied {mark}; sleep 0.05",
                check=f"grep -qx {mark} {cmd(self.log)}",
                gate=i == gate_at,
            ))  # fmt: skip
            if i == 3:
                steps.append(Step("ro", "p", "R0", "read-only", "a", command="uptime -p || true",
                                  side_effect=False))  # fmt: skip
        plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, targets,
                    tuple(steps) + extra, firstbox_target="fb", journal_zone=f"z{self.tag}")
        path = self.tmp / "plan.json"
        path.write_text(json.dumps(plan.to_dict()))
        return path

    def apply_args(self, plan: Path, *more: str) -> list[str]:
        return [*NODESWAP, "apply", str(plan), "--lab", str(self.lab.dir), "--state-dir",
                str(self.tmp / "state"), "--lock-path", self.lock, *more]  # fmt: skip

    def resume_args(self, run_id: str, *more: str) -> list[str]:
        return [*NODESWAP, "resume", run_id, "--state-dir", str(self.tmp / "state"), *more]

    def remote(self, host_index: int, command: str) -> str:
        info = self.lab.info()
        name = sorted(info.hosts)[host_index]
        done = subprocess.run(info.ssh_command(name, command), capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
        return done.stdout

    def logs(self) -> list[str]:
        return [
            ln
            for i in range(3)
            for ln in self.remote(i, f"cat {cmd(self.log)} 2>/dev/null").split()
        ]

    def journal(self) -> Journal:
        return Journal.open(next((self.tmp / "state").glob("*.journal.sqlite")))


@pytest.fixture
def rig(plain_lab: Lab, tmp_path: Path) -> Rig:
    return Rig(plain_lab, tmp_path, uuid.uuid4().hex[:8])


def run_killed(
    args: list[str], after_events: int | None, *, at_output: bool = False,
    step: str | None = None,
) -> tuple[int, list[dict[str, object]]]:
    """Run nodeswap with --json; SIGKILL it after ``after_events`` events (None: let it end),
    or (``at_output``) at the first step output (of ``step``, when given): mid-command, after
    its side effect."""
    proc = subprocess.Popen([*args, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    events: list[dict[str, object]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        events.append(json.loads(line))
        mid = at_output and events[-1]["event"] == "StepOutput" \
            and step in (None, events[-1]["step_id"])
        if mid or (after_events is not None and len(events) >= after_events):
            proc.kill()
            break
    proc.communicate(timeout=60)
    return proc.wait(timeout=60), events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_many_points_then_resume_ends_like_an_uninterrupted_run(
    rig: Rig, seed: int
) -> None:
    rnd = random.Random(seed)
    plan = rig.plan()
    # first kill: mid-command, after s0's side effect, before its end is recorded
    code, events = run_killed(rig.apply_args(plan, "--yes"), None, at_output=True)
    assert code == -9
    run_id = str(events[0]["run_id"])
    cut = [a for a in rig.journal().attempts(run_id, "s0") if a.kind == "run"]
    assert len(cut) == 1 and cut[0].ended is None
    kills = 1
    for _ in range(40):
        state = rig.journal().run(run_id).state
        if state == J.RUN_DONE:
            break
        kill_at = rnd.randint(1, 10) if kills < 6 else None
        code, _ = run_killed(rig.resume_args(run_id, "--yes"), kill_at)
        kills += code == -9
    j = rig.journal()
    assert j.run(run_id).state == J.RUN_DONE, j.run(run_id).message
    # the end state of an uninterrupted run: every mark once, in plan order per host
    assert sorted(rig.logs()) == sorted(f"s{i}" for i in range(STEPS))
    for i in range(3):
        got = rig.remote(i, f"cat {cmd(rig.log)}").split()
        assert got == [
            f"s{k}" for k in range(STEPS) if ("a", "b", "fb")[k % 3] == ("fb", "a", "b")[i]
        ]
    assert {s.state for s in j.steps(run_id)} <= {J.DONE, J.SKIPPED}
    assert j.step(run_id, "s0").state == J.SKIPPED  # resume's check saw the cut step had run
    assert kills >= 2


def test_status_explains_an_interrupted_run(rig: Rig) -> None:
    plan = rig.plan()
    _, events = run_killed(rig.apply_args(plan, "--yes"), 6)
    run_id = str(events[0]["run_id"])
    st = subprocess.run([*NODESWAP, "status", run_id, "--state-dir", str(rig.tmp / "state")],
                        capture_output=True, text=True, check=False)  # fmt: skip
    out = st.stdout
    assert st.returncode == 5  # recorded running, its process killed: interrupted
    assert f"run {run_id}" in out and "running" in out and f"nodeswap resume {run_id}" in out
    assert "its process is gone (killed?)" in out
    done = subprocess.run(rig.resume_args(run_id, "--yes"), capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "reclaimed" in done.stdout  # the dead process's lock, same run


def test_gate_stops_without_a_terminal_and_resume_yes_continues(rig: Rig) -> None:
    plan = rig.plan(gate_at=2)
    done = subprocess.run(rig.apply_args(plan), capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == EXIT_GATE, done.stderr
    assert "stopped at gate s2" in done.stderr
    assert sorted(rig.logs()) == ["s0", "s1"]
    run_id = rig.journal().runs()[0].id
    assert rig.journal().run(run_id).state == J.RUN_GATE
    again = subprocess.run(rig.resume_args(run_id, "--yes"), capture_output=True, text=True,
                           check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(rig.logs()) == STEPS


def test_lock_held_by_another_run_stops_apply(rig: Rig) -> None:
    owner = {"run_id": "other-run", "operator": "alice@elsewhere", "client_host": "elsewhere",
             "pid": 4242, "since": 0}  # fmt: skip
    rig.remote(
        0, f"mkdir -p /root/locks && printf '%s\\n' {cmd(json.dumps(owner))} > {cmd(rig.lock)}"
    )
    plan = rig.plan()
    done = subprocess.run(rig.apply_args(plan), capture_output=True, text=True, check=False)
    assert done.returncode == EXIT_LOCKED
    assert (
        "locked by run other-run of alice@elsewhere" in done.stderr
        and "--break-lock" in done.stderr
    )
    assert rig.logs() == []
    done = subprocess.run(rig.apply_args(plan, "--break-lock"), capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        rig.remote(0, f"ls {cmd(rig.lock)} 2>&1 || true")
        .strip()
        .endswith("No such file or directory")
    )


def test_secrets_are_redacted_in_the_journal_and_events(rig: Rig) -> None:
    """A fetched config file holding secrets: its output is stored and shown redacted."""
    conf = f"/root/{rig.tag}.conf"
    rig.remote(1, f"printf '%s\\n' db_password=Sup3rS3cret 'api_key: abcdef123' > {cmd(conf)}")
    noisy = Step("noisy", "p", "R0", "fetch a config", "a", side_effect=False,
                 command=cmd("cat", conf))  # fmt: skip
    plan = rig.plan(extra=(noisy,))
    code, events = run_killed(rig.apply_args(plan, "--yes"), None)
    assert code == 0
    text = json.dumps(events)
    assert "Sup3rS3cret" not in text and "abcdef123" not in text and "db_password=***" in text
    j = rig.journal()
    run_id = j.runs()[0].id
    attempt = next(a for a in j.attempts(run_id, "noisy") if a.kind == "run")
    out, _ = j.output(attempt.id)
    assert "Sup3rS3cret" not in out and "api_key: ***" in out
    raw = j.path.read_bytes() + Path(str(j.path) + "-wal").read_bytes()
    assert b"Sup3rS3cret" not in raw
    log = (rig.tmp / "state" / "logs" / f"{run_id}.log").read_text()  # the run's log (0600)
    assert "Sup3rS3cret" not in log and "abcdef123" not in log
    assert "db_password=***" in log and '"event": "StepOutput"' in log
    # issue 11: the run's mirror on firstbox is redacted like the journal
    mirror = parse(rig.remote(0, f"cat {cmd(mirror_dir(rig.lock, run_id))}/journal.jsonl"))
    outputs = "".join(zlib.decompress(base64.b64decode(a["stdout"])).decode()
                      for a in mirror.rows("attempt") if a["stdout"])  # fmt: skip
    assert "api_key: ***" in outputs and "Sup3rS3cret" not in outputs
    assert "abcdef123" not in outputs


def test_the_rerun_unchecked_guard_holds_until_given_and_mark_done_is_journaled(
    rig: Rig,
) -> None:
    """issue 11: a cut step without a check is refused by every plain resume (not only the
    first: the step's state is then failed, but its last run attempt is still cut), the hint
    names the flags; --mark-done STEP --reason records a person's judgement and goes on; a
    step the plan declares safe to run again (rerun_safe) is simply run again."""
    unchecked = Step("u", "p", "R0", "append u on a", "a", side_effect=True,
                     command=f"echo u >> {cmd(rig.log)}; echo applied u; sleep 0.3")
    again = Step("w", "p", "R0", "append w on b", "b", side_effect=True,
                 command=f"echo w >> {cmd(rig.log)}; echo applied w; sleep 0.3",
                 rerun_safe="the test says so")
    plan = rig.plan(extra=(unchecked, again))
    code, events = run_killed(rig.apply_args(plan, "--yes"), None, at_output=True, step="u")
    assert code == -9
    run_id = str(events[0]["run_id"])
    for _ in range(2):  # the second plain resume is refused like the first (it re-ran it)
        done = subprocess.run(rig.resume_args(run_id, "--yes"), capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert "has no check" in done.stderr and "--mark-done u --reason" in done.stderr
        assert f"next: nodeswap resume {run_id} --rerun-unchecked" in done.stderr
        assert rig.logs().count("u") == 1
    st = subprocess.run([*NODESWAP, "status", run_id, "--state-dir", str(rig.tmp / "state")],
                        capture_output=True, text=True, check=False)  # fmt: skip
    assert f"next: nodeswap resume {run_id} --rerun-unchecked" in st.stdout, st.stdout
    bad = subprocess.run(rig.resume_args(run_id, "--yes", "--mark-done", "u"),
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "--reason" in bad.stderr
    # the next step (w) is cut too; once u is marked done, a plain resume runs w again
    code, _ = run_killed(rig.resume_args(run_id, "--yes", "--mark-done", "u", "--reason",
                                         "u is in the log on a"), None, at_output=True, step="w")
    assert code == -9
    assert rig.logs().count("u") == 1 and rig.logs().count("w") == 1
    done = subprocess.run(rig.resume_args(run_id, "--yes"), capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert rig.logs().count("u") == 1 and rig.logs().count("w") == 2
    j = rig.journal()
    assert j.step(run_id, "u").state == J.DONE
    st = subprocess.run([*NODESWAP, "status", run_id, "--state-dir", str(rig.tmp / "state")],
                        capture_output=True, text=True, check=False)  # fmt: skip
    assert "marked done by " in st.stdout and ": u is in the log on a" in st.stdout, st.stdout
