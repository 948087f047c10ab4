"""`nodeswap apply` stopped by a signal in the middle of a remote command, on the lab: SIGTERM
(a job scheduler's cancel), SIGINT inherited as ignored (a background job), Ctrl-C typed at a
real terminal (a pty). Each time: the remote command is stopped (its process group is gone
from the lab host), the run and the step are recorded as interrupted, the zone lock on
firstbox is released, the exit code says which signal, and a plain `resume` continues."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from nodeswap.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from nodeswap.lab import Lab
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal
from nodeswap.shell import cmd

pytestmark = pytest.mark.lab
NODESWAP = [sys.executable, "-m", "nodeswap"]
DEADLINE = 10.0  # seconds from the signal to the exit, with everything recorded


@dataclass
class Rig:
    """A plan of three steps on two plain lab hosts (``fb`` the firstbox, ``a`` reached
    through it); the middle one sleeps 300 s unless a flag file exists on ``a``."""

    lab: Lab
    tmp: Path
    tag: str

    def path(self, what: str) -> str:
        return f"/root/sig-{self.tag}.{what}"

    @property
    def lock(self) -> str:
        return f"/root/locks/{self.tag}.lock"

    def plan(self, *, gate_at_slow: bool = False) -> Path:
        info = self.lab.info()
        names = sorted(info.hosts)[:2]
        targets = {
            "fb": Target("fb", info.address(names[0]), "fb", via_firstbox=False),
            "a": Target("a", info.address(names[1]), "a"),
        }
        log, pid, fast = (cmd(self.path(w)) for w in ("log", "pid", "fast"))
        steps = (
            Step("s0", "p", "R1", "first", "a", command=f"echo s0 >> {log}",
                 check=f"grep -qx s0 {log}"),
            Step("slow", "p", "R2", "a long command", "a", gate=gate_at_slow,
                 command=f"echo $$ > {pid}; echo started; [ -e {fast} ] || sleep 300;"
                         f" echo slow >> {log}",
                 check=f"grep -qx slow {log}"),
            Step("s2", "p", "R3", "last", "fb", command=f"echo s2 >> {log}",
                 check=f"grep -qx s2 {log}"),
        )  # fmt: skip
        plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, targets, steps,
                    firstbox_target="fb", journal_zone=f"z{self.tag}")  # fmt: skip
        path = self.tmp / "plan.json"
        path.write_text(json.dumps(plan.to_dict()))
        return path

    def apply_args(self, *more: str) -> list[str]:
        return [*NODESWAP, "apply", str(self.tmp / "plan.json"), "--lab", str(self.lab.dir),
                "--state-dir", str(self.tmp / "state"), "--lock-path", self.lock,
                *more]  # fmt: skip

    def remote(self, host_index: int, command: str) -> subprocess.CompletedProcess[str]:
        info = self.lab.info()
        name = sorted(info.hosts)[host_index]
        return subprocess.run(info.ssh_command(name, command), capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip

    def journal(self) -> Journal:
        return Journal.open(next((self.tmp / "state").glob("*.journal.sqlite")))

    def slow_group(self) -> int:
        """The process group of the slow step's command on host ``a`` (sshd made its
        shell a session leader, so the shell's PID is the group's id)."""
        return int(self.remote(1, f"cat {cmd(self.path('pid'))}").stdout)

    def group_members(self, pgid: int) -> str:
        """The command lines of the live processes of that group. The lab's hosts share
        this machine's process table (no PID namespace; their chroot has no /proc), so it
        is read here, keeping only processes whose root is the lab's host root."""
        lines = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) != pgid or fields[0] == "Z":
                    continue
                root = os.readlink(proc / "root")
                args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except (OSError, IndexError, ValueError):
                continue
            if root.startswith(str(self.lab.dir)):
                lines.append(args)
        return "\n".join(lines)

    def assert_stopped_and_recorded(self, run_id: str) -> None:
        """The remote command's process group is gone, the run and the step are recorded
        interrupted, the zone lock on firstbox is released."""
        j = self.journal()
        run = j.run(run_id)
        assert run.state == J.RUN_INTERRUPTED, run.message
        assert f"nodeswap resume {run_id}" in (run.message or "")
        assert j.step(run_id, "slow").state == J.INTERRUPTED
        cut = [a for a in j.attempts(run_id, "slow") if a.kind == "run"]
        assert [a.outcome for a in cut] == ["interrupted"] and cut[0].ended is not None
        j.close()
        lock = self.remote(0, f"test -e {cmd(self.lock)}")
        assert lock.returncode == 1, f"the lock {self.lock} is still on firstbox"
        group = self.slow_group()
        deadline = time.monotonic() + DEADLINE
        while self.group_members(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.group_members(group) == "", "the remote command still runs"
        assert self.remote(1, f"cat {cmd(self.path('log'))}").stdout.split() == ["s0"]

    def resume_plainly(self, run_id: str) -> None:
        """Plain `resume` (no --break-lock): the slow step runs again, quickly now, and the
        run ends done; no stale lock was found on the way."""
        self.remote(1, f"touch {cmd(self.path('fast'))}")
        done = subprocess.run(
            [*NODESWAP, "resume", run_id, "--state-dir", str(self.tmp / "state")],
            capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "reclaimed" not in done.stdout and "broken" not in done.stdout
        assert self.remote(1, f"cat {cmd(self.path('log'))}").stdout.split() == ["s0", "slow"]
        assert self.remote(0, f"cat {cmd(self.path('log'))}").stdout.split() == ["s2"]
        assert self.journal().run(run_id).state == J.RUN_DONE


@pytest.fixture
def rig(plain_lab: Lab, tmp_path: Path) -> Rig:
    return Rig(plain_lab, tmp_path, uuid.uuid4().hex[:8])


# Starts the command with SIGINT ignored, as a background job (`nohup make test &`) starts
# its children (bash's `trap '' INT` sets SIG_IGN, which exec keeps; same PID).
SIGINT_IGNORED = ["bash", "-c", 'trap "" INT; exec "$@"', "bash"]


@pytest.mark.parametrize(("sig", "code", "sigint_ignored"), [
    (signal.SIGTERM, EXIT_TERMINATED, False),
    (signal.SIGINT, EXIT_INTERRUPTED, True),
])  # fmt: skip
def test_signal_mid_remote_command(rig: Rig, sig: int, code: int, sigint_ignored: bool) -> None:
    rig.plan()
    proc = subprocess.Popen(
        [*(SIGINT_IGNORED if sigint_ignored else []), *rig.apply_args("--json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        run_id = ""
        for line in proc.stdout:
            event = json.loads(line)
            run_id = run_id or str(event.get("run_id", ""))
            if event["event"] == "StepOutput" and event["step_id"] == "slow":
                break
        assert "sleep 300" in rig.group_members(rig.slow_group())  # mid-command, for real
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert took < DEADLINE, took
    assert "Traceback" not in err, err
    assert signal.Signals(sig).name in err and f"nodeswap resume {run_id}" in err, err
    rig.assert_stopped_and_recorded(run_id)
    rig.resume_plainly(run_id)


def spawn(args: list[str]) -> pexpect.spawn:
    """nodeswap on a real terminal (a pty of its own, as an operator's shell gives it)."""
    return pexpect.spawn(args[0], args[1:], env=dict(os.environ, COLUMNS="160", TERM="xterm"),
                         encoding="utf-8", timeout=60, dimensions=(50, 160))  # fmt: skip


def run_id_of(rig: Rig) -> str:
    j = rig.journal()
    try:
        return j.runs()[0].id
    finally:
        j.close()


def ctrl_c(child: pexpect.spawn) -> str:
    """Type Ctrl-C at the terminal: nodeswap ends within the deadline, exit 130, no traceback.
    Returns what the terminal showed."""
    try:
        sent = time.monotonic()
        child.sendcontrol("c")
        child.expect(pexpect.EOF, timeout=DEADLINE + 5)
        took = time.monotonic() - sent
        child.close()
    finally:
        child.close(force=True)
    shown = str(child.before)
    assert child.exitstatus == EXIT_INTERRUPTED, shown
    assert took < DEADLINE, took
    assert "Traceback" not in shown, shown
    return shown


def test_ctrl_c_typed_at_a_terminal_mid_command(rig: Rig) -> None:
    rig.plan()
    child = spawn(rig.apply_args("--yes", "--verbose"))
    child.expect("started")
    assert "sleep 300" in rig.group_members(rig.slow_group())
    shown = ctrl_c(child)
    run_id = run_id_of(rig)
    assert f"nodeswap resume {run_id}" in shown, shown
    rig.assert_stopped_and_recorded(run_id)
    rig.resume_plainly(run_id)


def test_ctrl_c_at_the_gate_prompt(rig: Rig) -> None:
    """Ctrl-C while the gate asks for approval ends the run at once (no Enter needed),
    recorded as interrupted; nothing of the gated step ran."""
    rig.plan(gate_at_slow=True)
    child = spawn(rig.apply_args())
    child.expect(r"Approve gate slow \(R2\)\?")
    ctrl_c(child)
    run_id = run_id_of(rig)
    j = rig.journal()
    assert j.run(run_id).state == J.RUN_INTERRUPTED
    assert [a for a in j.attempts(run_id, "slow") if a.kind == "run"] == []
    j.close()
    assert rig.remote(0, f"test -e {cmd(rig.lock)}").returncode == 1
    assert rig.remote(1, f"cat {cmd(rig.path('log'))}").stdout.split() == ["s0"]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, EXIT_TERMINATED),
                                           (signal.SIGINT, EXIT_INTERRUPTED)])  # fmt: skip
def test_exec_stopped_by_a_signal_stops_the_command_on_every_host(
    rig: Rig, sig: int, code: int
) -> None:
    pid = rig.path("pid")
    proc = subprocess.Popen(
        [*NODESWAP, "exec", "--lab", str(rig.lab.dir), "h0001,h0002", "--",
         f"echo $$ > {cmd(pid)}; sleep 300"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        groups: list[int] = []
        deadline = time.monotonic() + 30
        while len(groups) < 2 and time.monotonic() < deadline:
            groups = [int(out) for i in (0, 1)
                      if (out := rig.remote(i, f"cat {cmd(pid)} 2>/dev/null").stdout.strip())]
        assert len(groups) == 2, "the command did not start on both hosts"
        assert all("sleep 300" in rig.group_members(g) for g in groups)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert took < DEADLINE, took
    assert "Traceback" not in err and signal.Signals(sig).name in err, err
    deadline = time.monotonic() + DEADLINE
    while any(rig.group_members(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [rig.group_members(g) for g in groups] == ["", ""], "the command still runs"
