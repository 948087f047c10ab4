"""Issue 9 at the command line, without a lab: --known-hosts must exist (every command that
takes it), and an apply refused at the zone lock leaves no ghost "running" run. Nothing here
connects anywhere: the refusals come before any connection (--known-hosts) or the steps run
on this machine (--local)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodeswap.errors import EXIT_INPUT, EXIT_LOCKED
from nodeswap.execute import Lock
from nodeswap.model import Plan, Step, Target

NODESWAP = [sys.executable, "-m", "nodeswap"]
ROOT = Path(__file__).resolve().parents[1]


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NODESWAP, *args], capture_output=True, text=True, timeout=120,
                          check=False, stdin=subprocess.DEVNULL, env=env)  # fmt: skip


def local_plan(tmp: Path) -> Path:
    """A one-step plan whose firstbox (the lock's host) is this machine."""
    step = Step("one", "p", "R6", "first", "firstbox", command=f"echo one >> {tmp / 'log'}")
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"firstbox": Target("firstbox", "127.0.0.1", "firstbox", via_firstbox=False)},
                (step,), meta={"transport": "local"})  # fmt: skip
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan.to_dict()))
    return path


@pytest.mark.parametrize("command", ["discover", "plan", "apply", "exec", "trust"])
def test_a_known_hosts_that_does_not_exist_is_refused_naming_it(tmp_path: Path,
                                                                command: str) -> None:
    missing = tmp_path / "no-such-known_hosts"
    where = ["--firstbox", "root@127.0.0.9", "--known-hosts", str(missing)]
    args = {
        "discover": ["discover", *where],
        "plan": ["plan", *where, "--spec", str(ROOT / "examples/upgrade.yaml")],
        "apply": ["apply", str(local_plan(tmp_path)), *where],
        "exec": ["exec", *where, "all", "--", "true"],
        "trust": ["trust", *where, "--yes"],
    }[command]
    done = ns(*args, "--state-dir", str(tmp_path / "state")) if command != "exec" else ns(*args)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert str(missing) in done.stderr and "no such file" in done.stderr
    assert not (tmp_path / "state").exists()


def test_an_apply_refused_by_the_lock_leaves_no_ghost_running_run(tmp_path: Path) -> None:
    lock = tmp_path / "zone.lock"
    other = Lock("20260101-000000-other", "alice@elsewhere", "elsewhere", 1, time.time())
    lock.write_text(other.to_line() + "\n")
    state = str(tmp_path / "state")
    done = ns("apply", str(local_plan(tmp_path)), "--local", "--state-dir", state,
              "--lock-path", str(lock), "--json")
    assert done.returncode == EXIT_LOCKED, done.stderr
    assert "zone locked by run 20260101-000000-other" in done.stderr
    run_id = json.loads(done.stdout.splitlines()[0])["run_id"]
    listing = ns("status", "--state-dir", state).stdout
    assert listing.split() == [run_id, "local", "failed"]
    st = ns("status", run_id, "--state-dir", state)
    assert "refused before any step" in st.stdout and "running" not in st.stdout.split("\n")[0]
    assert not (tmp_path / "log").exists()  # nothing ran
    lock.unlink()  # the other run ended: this one goes on from the start
    again = ns("resume", run_id, "--state-dir", state)  # the run keeps its --lock-path
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "log").read_text() == "one\n"
