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

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_INPUT, EXIT_LOCKED
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run.lock import Lock

NODESWAP = [sys.executable, "-m", "nodeswap"]
ROOT = Path(__file__).resolve().parents[1]


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, env=env)


def local_plan(tmp: Path) -> Path:
    """A one-step plan whose firstbox (the lock's host) is this machine."""
    step = Step("one", "p", "R6", "first", "firstbox", command=f"echo one >> {tmp / 'log'}")
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {},
                {"firstbox": Target("firstbox", "127.0.0.1", "firstbox", via_firstbox=False)},
                (step,), transport="local")  # fmt: skip
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


def test_an_apply_refused_by_the_lock_records_no_run(tmp_path: Path) -> None:
    """Issue 14: the lock is taken before the run is written; refused, nothing is recorded
    in the journal, the refusal is logged (STATE/refusals.log, 0600) and the lock left to its
    holder."""
    lock = tmp_path / "zone.lock"
    other = Lock("20260101-000000-other", "alice@elsewhere", "elsewhere", 1, time.time())
    lock.write_text(other.to_line() + "\n")
    state = tmp_path / "state"
    plan = local_plan(tmp_path)
    done = ns("apply", str(plan), "--local", "--state-dir", str(state),
              "--lock-path", str(lock), "--json")
    assert done.returncode == EXIT_LOCKED, done.stderr
    assert "zone locked by run 20260101-000000-other" in done.stderr
    assert done.stdout == ""  # no run started
    assert ns("status", "--state-dir", str(state)).stdout.startswith("no runs under")
    assert not list(state.glob("*.journal.sqlite"))
    [line] = (state / "refusals.log").read_text().splitlines()
    assert f"\t{plan}\t" in line and "zone locked by run 20260101-000000-other" in line
    assert (state / "refusals.log").stat().st_mode & 0o777 == 0o600
    assert lock.read_text() == other.to_line() + "\n"  # the holder's lock, untouched
    assert not (tmp_path / "log").exists()  # nothing ran
    lock.unlink()  # the other run ended: a new apply runs, under a lock of its own
    again = ns("apply", str(plan), "--local", "--state-dir", str(state),
               "--lock-path", str(lock))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "log").read_text() == "one\n"
    assert not lock.exists()  # released at the end
    assert len(ns("status", "--state-dir", str(state)).stdout.splitlines()) == 1


def test_apply_takes_the_lock_once_and_breaks_another_only_on_request(tmp_path: Path) -> None:
    """start() takes the lock for the run it records; the executor finds it its own (no
    "held", no "reclaimed"); --break-lock breaks another run's lock, said on stderr."""
    lock = tmp_path / "zone.lock"
    other = Lock("20260101-000000-other", "alice@elsewhere", "elsewhere", 1, time.time())
    lock.write_text(other.to_line() + "\n")
    state = str(tmp_path / "state")
    done = ns("apply", str(local_plan(tmp_path)), "--local", "--state-dir", state,
              "--lock-path", str(lock), "--break-lock")
    assert done.returncode == 0, done.stderr
    assert "broken on request (--break-lock)" in done.stderr
    assert "reclaimed" not in done.stdout + done.stderr
    assert (tmp_path / "log").read_text() == "one\n" and not lock.exists()
