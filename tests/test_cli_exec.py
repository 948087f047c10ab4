"""The run commands as a program, on the local transport (no root): apply, status, resume
after a failure, gates and their exit code, rollback; exec's argument errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cliproc import run_nodeswap
from nodeswap.errors import (
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
)
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.shell import cmd

NODESWAP = [sys.executable, "-m", "nodeswap"]


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args)


def write_plan(tmp: Path, *, gate: bool = False) -> Path:
    log, flag = str(tmp / "log"), str(tmp / "flag")
    steps = (
        Step("one", "p", "R6", "first", "fb", command=f"echo one >> {cmd(log)}",
             check=f"grep -qx one {cmd(log)}", undo=f"sed -i /^one$/d {cmd(log)}"),
        Step("two", "p", "R7", "needs the flag", "fb", command=f"test -e {cmd(flag)}", gate=gate),
        Step("three", "p", "R8", "third", "fb", command=f"echo three >> {cmd(log)}",
             check=f"grep -qx three {cmd(log)}", undo=f"sed -i /^three$/d {cmd(log)}"),
    )  # fmt: skip
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, steps,
                transport="local")  # fmt: skip
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    return path


def apply(tmp: Path, plan: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return ns("apply", str(plan), "--local", "--state-dir", str(tmp / "state"),
              "--lock-path", str(tmp / "zone.lock"), *more)  # fmt: skip


def test_failed_step_then_status_then_resume(tmp_path: Path) -> None:
    done = apply(tmp_path, write_plan(tmp_path))
    assert done.returncode == EXIT_FAILED
    assert "step two (R7: needs the flag) on fb failed (exit status 1)" in done.stderr
    run_id = done.stdout.split()[1].rstrip(":")
    st = ns("status", run_id, "--state-dir", str(tmp_path / "state"))
    assert "failed" in st.stdout and f"nodeswap resume {run_id}" in st.stdout
    assert "done        one" in st.stdout and "failed      two" in st.stdout
    (tmp_path / "flag").touch()
    again = ns("resume", run_id, "--state-dir", str(tmp_path / "state"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "log").read_text() == "one\nthree\n"
    listing = ns("status", "--state-dir", str(tmp_path / "state"))
    assert f"{run_id}  local  done" in listing.stdout  # a --local run names no zone


def test_gate_exit_code_then_resume_yes(tmp_path: Path) -> None:
    (tmp_path / "flag").touch()
    done = apply(tmp_path, write_plan(tmp_path, gate=True), "--json")
    assert done.returncode == EXIT_GATE
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["event"] for e in events][-1] == "RunEnded" and events[-1]["state"] == "gate"
    run_id = events[0]["run_id"]
    again = ns("resume", run_id, "--yes", "--state-dir", str(tmp_path / "state"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "log").read_text() == "one\nthree\n"


def test_rollback_undoes_in_reverse(tmp_path: Path) -> None:
    (tmp_path / "flag").touch()
    done = apply(tmp_path, write_plan(tmp_path))
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[1].rstrip(":")
    back = ns("rollback", run_id, "--yes", "--state-dir", str(tmp_path / "state"))
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "log").read_text() == ""
    assert "rolled_back" in ns("status", run_id, "--state-dir", str(tmp_path / "state")).stdout


def test_bad_plan_file_is_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"role": "proxy"}')
    done = apply(tmp_path, bad)
    assert done.returncode == EXIT_INPUT and "not a nodeswap plan" in done.stderr


def test_unknown_run_is_input_error(tmp_path: Path) -> None:
    done = ns("resume", "nope", "--state-dir", str(tmp_path))
    assert done.returncode == EXIT_INPUT and "no run 'nope'" in done.stderr


def test_exec_needs_a_command_and_a_source(tmp_path: Path) -> None:
    assert ns("exec", "all").returncode == EXIT_INPUT
    done = ns("exec", "all", "--", "true")
    assert done.returncode == EXIT_INPUT and "--firstbox or --lab" in done.stderr
    done = ns("exec", "--lab", str(tmp_path), "all", "--", "true")
    assert done.returncode == EXIT_INPUT and "not a lab state folder" in done.stderr


# Starts the command with SIGINT ignored, as a background job (`nohup make test &`) starts
# its children (bash's `trap '' INT` sets SIG_IGN, which exec keeps; same PID).
SIGINT_IGNORED = ["bash", "-c", 'trap "" INT; exec "$@"', "bash"]


def interrupt_slow_apply(tmp: Path, sig: int, *, sigint_ignored: bool = False
                         ) -> tuple[subprocess.Popen[str], str, str, float]:  # fmt: skip
    """Apply a one-step plan whose command sleeps; once it runs, send ``sig``. With
    ``sigint_ignored`` the child starts with SIGINT set to SIG_IGN, as in a background job
    (`nohup make test &`). Returns the process, the run id, stderr and the seconds between
    the signal and the exit."""
    log, pid = cmd(str(tmp / "log")), cmd(str(tmp / "pid"))
    slow = Step("slow", "p", "R1", "slow", "fb", check=f"grep -qx late {log}",
                command=f"echo $$ > {pid}; echo started; sleep 30; echo late >> {log}")  # fmt: skip
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, (slow,),
                transport="local")  # fmt: skip
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))

    proc, err, took, run_id = signal_at_output(
        ["apply", str(path), "--local", "--state-dir", str(tmp / "state"),
         "--lock-path", str(tmp / "zone.lock")], sig,
        prefix=SIGINT_IGNORED if sigint_ignored else [])  # fmt: skip
    return proc, run_id, err, took


def assert_interrupted(tmp: Path, run_id: str, err: str, took: float) -> None:
    """Recorded as interrupted within 10 s, resume named, no traceback, and the command's
    whole process group (bash and its sleep) gone."""
    assert took < 10, took
    assert "Traceback" not in err, err
    assert f"nodeswap resume {run_id}" in err, err
    st = ns("status", run_id, "--state-dir", str(tmp / "state"), "--json")
    body = json.loads(st.stdout)
    assert body["state"] == "interrupted" and body["steps"] == {"slow": "interrupted"}, body
    assert not (tmp / "zone.lock").exists()
    group = int((tmp / "pid").read_text())  # bash leads the command's own process group
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and group_alive(group):
        time.sleep(0.05)
    assert not group_alive(group), f"the command's process group {group} is still running"
    assert not (tmp / "log").exists()


def group_alive(pgid: int) -> bool:
    """Whether a process group still has a live (not zombie) member."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_ctrl_c_is_recorded_and_exit_130(tmp_path: Path) -> None:
    proc, run_id, err, took = interrupt_slow_apply(tmp_path, signal.SIGINT)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert_interrupted(tmp_path, run_id, err, took)


def test_ctrl_c_with_sigint_inherited_ignored_exit_130(tmp_path: Path) -> None:
    """A background job (`nohup make test &`) starts with SIGINT ignored: nodeswap installs
    its handler anyway."""
    proc, run_id, err, took = interrupt_slow_apply(tmp_path, signal.SIGINT, sigint_ignored=True)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert_interrupted(tmp_path, run_id, err, took)


def test_sigterm_is_recorded_and_exit_143(tmp_path: Path) -> None:
    """What AWX, Rundeck or systemd send to cancel a job."""
    proc, run_id, err, took = interrupt_slow_apply(tmp_path, signal.SIGTERM)
    assert proc.returncode == EXIT_TERMINATED, err
    assert "SIGTERM" in err, err
    assert_interrupted(tmp_path, run_id, err, took)


def test_exec_options_after_the_group_are_options(tmp_path: Path) -> None:
    """issue 9 item 9: `exec GROUP --lab DIR -- CMD` reads --lab (it was swallowed into CMD)."""
    done = ns("exec", "all", "--lab", str(tmp_path), "--", "true")
    assert done.returncode == EXIT_INPUT and "not a lab state folder" in done.stderr
    # after `--` everything is the remote command, options included
    done = ns("exec", "all", "--", "ls", "--lab", str(tmp_path))
    assert done.returncode == EXIT_INPUT and "--firstbox or --lab" in done.stderr


def test_exec_command_must_follow_double_dash(tmp_path: Path) -> None:
    done = ns("exec", "all", "uptime")
    assert done.returncode == EXIT_INPUT and "after --" in done.stderr
    done = ns("exec", "all", "--")
    assert done.returncode == EXIT_INPUT and "no COMMAND" in done.stderr
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\n")
    done = ns("exec", "all", "--hosts-file", str(hosts), "--", "true")
    assert done.returncode == EXIT_INPUT and "not both" in done.stderr


def _listener() -> socket.socket:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    return srv


@pytest.mark.parametrize(("content", "where", "says"), [
    (b"", ":", "no hosts"),
    (b"# only a comment\n\n   \n", ":", "no hosts"),
    (b"127.0.0.1\n\x00\x01\x02binary\n", ":2:", "binary"),
    (b"127.0.0.1\n\xff\xfe\n", ":2:", "not UTF-8"),
    (b"127.0.0.1\nbad host\n", ":2:", "space"),
    (b"127.0.0.1\n127.0.0.1:99999\n", ":2:", "port"),
    (b"127.0.0.1\n@127.0.0.1\n", ":2:", "empty user"),
    (b"127.0.0.1\n# ok\nho$t;reboot\n", ":3:", "not a valid host"),
])  # fmt: skip
def test_exec_bad_hosts_file_is_input_error_before_any_connection(
    tmp_path: Path, content: bytes, where: str, says: str
) -> None:
    """issue 9 item 5: an empty, binary or malformed hosts file: exit 2 naming FILE:LINE, no
    traceback, and no host dialled (the good line's listener sees no connection)."""
    srv = _listener()
    port = srv.getsockname()[1]
    hosts = tmp_path / "hosts"
    hosts.write_bytes(content.replace(b"127.0.0.1\n", f"127.0.0.1:{port}\n".encode(), 1))
    try:
        done = ns("exec", "--hosts-file", str(hosts), "--connect-timeout", "2", "--", "true")
        with pytest.raises(BlockingIOError):
            srv.accept()
    finally:
        srv.close()
    assert done.returncode == EXIT_INPUT, done
    assert done.stderr.startswith(f"nodeswap: invalid input: {hosts}{where}"), done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr


def test_exec_unreadable_hosts_file(tmp_path: Path) -> None:
    done = ns("exec", "--hosts-file", str(tmp_path / "missing"), "--", "true")
    assert done.returncode == EXIT_INPUT and "cannot read" in done.stderr
    assert f"{tmp_path / 'missing'}:" in done.stderr and "Traceback" not in done.stderr


def test_exec_help_shows_examples() -> None:
    done = ns("exec", "--help")
    assert done.returncode == 0
    assert "nodeswap exec --lab /var/lib/nodeswap-lab/default proxy -- supervisorctl status" \
        in done.stdout
    assert "--hosts-file" in done.stdout and "[USER@]HOST[:PORT]" in done.stdout


def test_exec_hosts_file_port_is_the_one_dialled(tmp_path: Path) -> None:
    """The control of the test above: a valid line's host:port is dialled (the listener never
    speaks SSH, so the host ends unreachable, exit 1)."""
    srv = _listener()
    port = srv.getsockname()[1]
    hosts = tmp_path / "hosts"
    hosts.write_text(f"# one host\nroot@127.0.0.1:{port}\n")
    try:
        done = ns("exec", "--hosts-file", str(hosts), "--connect-timeout", "1", "--json",
                  "--", "true")  # fmt: skip
        conn, _ = srv.accept()
        conn.close()
    finally:
        srv.close()
    assert done.returncode == EXIT_FAILED, done.stderr
    row = json.loads(done.stdout)["hosts"][f"root@127.0.0.1:{port}"]
    assert row["exit_status"] is None and row["address"] == "127.0.0.1" and row["node"] is None


def signal_at_output(args: list[str], sig: int, *, prefix: list[str] | None = None
                     ) -> tuple[subprocess.Popen[str], str, float, str]:  # fmt: skip
    """Run nodeswap with --json (after ``prefix``, e.g. SIGINT_IGNORED); send ``sig`` at the
    first command output (mid-command). Returns the process, its stderr, the seconds from the
    signal to its end, the run id."""
    proc = subprocess.Popen([*(prefix or []), *NODESWAP, *args, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = ""
    for line in proc.stdout:
        event = json.loads(line)
        run_id = run_id or event.get("run_id", "")
        if event["event"] == "StepOutput":
            break
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc, err, time.monotonic() - sent, run_id


def test_resume_and_rollback_stopped_by_sigterm(tmp_path: Path) -> None:
    """resume and rollback are stopped like apply: 143, recorded, the way on named."""
    log, pid, fast = (cmd(str(tmp_path / n)) for n in ("log", "pid", "fast"))
    slow = Step("slow", "p", "R1", "slow", "fb", check=f"grep -qx late {log}",
                command=f"echo $$ > {pid}; echo started; [ -e {fast} ] || sleep 30;"
                        f" echo late >> {log}",
                undo=f"echo $$ > {pid}; echo undoing; [ -e {fast}.undo ] || sleep 30;"
                     f" sed -i /^late$/d {log}")  # fmt: skip
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, (slow,),
                transport="local")  # fmt: skip
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    state = ["--state-dir", str(tmp_path / "state")]
    proc, err, _, run_id = signal_at_output(["apply", str(path), "--local", *state,
                                             "--lock-path", str(tmp_path / "zone.lock")],
                                            signal.SIGINT)  # fmt: skip
    assert proc.returncode == EXIT_INTERRUPTED, err
    proc, err, took, _ = signal_at_output(["resume", run_id, *state], signal.SIGTERM)
    assert proc.returncode == EXIT_TERMINATED and took < 10, err
    assert "SIGTERM" in err and f"nodeswap resume {run_id}" in err and "Traceback" not in err
    assert json.loads(ns("status", run_id, *state, "--json").stdout)["state"] == "interrupted"
    (tmp_path / "fast").touch()
    assert ns("resume", run_id, *state).returncode == 0
    assert (tmp_path / "log").read_text() == "late\n"
    proc, err, took, _ = signal_at_output(["rollback", run_id, "--yes", *state], signal.SIGTERM)
    assert proc.returncode == EXIT_TERMINATED and took < 10, err
    assert "rollback" in err and f"nodeswap rollback {run_id}" in err and "Traceback" not in err
    body = json.loads(ns("status", run_id, *state, "--json").stdout)
    # issue 11: a cut rollback leaves the run rolling_back (status suggests rollback, exit 5)
    assert body["state"] == "rolling_back" and "nodeswap rollback" in body["message"], body
    assert body["exit_status"] == 5, body
    assert body["next"] == [f"nodeswap rollback {run_id} --state-dir {tmp_path / 'state'}"]
    assert not (tmp_path / "zone.lock").exists()
    group = int((tmp_path / "pid").read_text())  # the undo's shell
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and group_alive(group):
        time.sleep(0.05)
    assert not group_alive(group)
    assert (tmp_path / "log").read_text() == "late\n"  # the undo was cut before its sed
