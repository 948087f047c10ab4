"""Rollback from each phase before the archive (issue 6): after launch (update.sh failed),
after deploy and the checks (refused at the first switch's gate), after the first switch
(refused at the second's); and no rollback once R37 began. The first is rolled back from
another machine after `resume --take-over` (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from upgrade_kit import zone

from nodeswap.errors import EXIT_LOCKED, ZoneError
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal
from nodeswap.run.lock import CLIENT_HOST_ENV, DEFAULT_LOCK_PATH, Lock, client_host
from nodeswap.run.mirror import mirror_dir, parse
from nodeswap.run.runs import status_text
from nodeswap.run.sessionlog import ROLLBACK, TAKE_OVER
from nodeswap.shell import cmd

pytestmark = pytest.mark.lab
NODESWAP = [sys.executable, "-m", "nodeswap"]
UPDATE = "/pitrix/upgrade/update.sh"


def nodeswap(*args: str, host: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({CLIENT_HOST_ENV: host} if host else {})}
    return subprocess.run([*NODESWAP, *args], capture_output=True, text=True, timeout=600,
                          env=env, stdin=subprocess.DEVNULL, check=False)  # fmt: skip


@pytest.mark.slow  # ~16 s: make test-slow (make test's 5-minute budget)
def test_rollback_after_launch_when_update_sh_fails_from_another_machine(
    tmp_path: Path,
) -> None:
    """A fault during apply (update.sh fails, R23) stops the run naming the step and rule;
    rollback then removes the new VMs and restores the settings. Issue 11: the rollback is
    run from another machine (its own state folder, client host laptop-b) after `resume
    --take-over` imported the run from its mirror on firstbox (refused first while the lock
    names a live process of this machine)."""
    with zone() as z:
        plan = z.plan()
        fb = z.info.firstbox or ""
        assert plan.firstbox is not None
        z.lab.fault("command-fails", host=fb, command=UPDATE)
        assert z.run() == J.RUN_FAILED  # machine A (this process); the lock is released
        assert "r23-update" in str(z.errors[-1]) and "R23" in str(z.errors[-1])
        assert z.step_state("r21-launch-proxy0") == "done"
        run_id, lab, b = z.run_id, str(z.lab.dir), str(tmp_path / "b")
        take_over = ["resume", run_id, "--take-over", "--lab", lab, "--state-dir", b, "--yes"]
        # the lock names this run and a live process of this machine: not taken over
        alive = Lock(run_id, "alice@here", client_host(), os.getpid(), 0.0)
        z.ssh.run(z.firstbox, f"printf '%s\\n' {cmd(alive.to_line())} > "
                              f"{cmd(DEFAULT_LOCK_PATH)}")  # fmt: skip
        refused = nodeswap(*take_over)
        assert refused.returncode == EXIT_LOCKED, refused.stdout + refused.stderr
        assert f"still driven by pid {os.getpid()}" in refused.stderr
        assert not list((tmp_path / "b").glob("*.journal.sqlite"))  # nothing imported
        z.ssh.run(z.firstbox, f"rm -f {cmd(DEFAULT_LOCK_PATH)}")
        # from B: taken over, resumed, fails again at R23 (the fault is still there)
        failed = nodeswap(*take_over, host="laptop-b")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "r23-update" in failed.stderr and f"run {run_id} taken over" in failed.stdout
        z.lab.clear_fault("command-fails", host=fb, command=UPDATE)
        undone = nodeswap("rollback", run_id, "--state-dir", b, "--yes", host="laptop-b")
        assert undone.returncode == 0, undone.stdout + undone.stderr
        (path,) = (tmp_path / "b").glob("*.journal.sqlite")
        assert z.journal is not None
        z.journal.close()
        z.journal = j = Journal.open(path)  # the zone's run as machine B knows it
        z.assert_rolled_back()  # the new VMs A launched are gone, settings restored
        assert j.run(run_id).state == J.RUN_ROLLED_BACK
        where = f"mirror: {mirror_dir(DEFAULT_LOCK_PATH, run_id)} on {plan.firstbox.name}"
        assert where in status_text(j, run_id)
        actions = [(s.action, s.operator.rpartition("@")[2]) for s in j.sessions(run_id)]
        assert actions[-3:] == [(TAKE_OVER, "laptop-b"), ("resume", "laptop-b"),
                                (ROLLBACK, "laptop-b")], actions  # fmt: skip
        mirrored = parse(z.ssh.out(z.firstbox, f"cat {cmd(mirror_dir(DEFAULT_LOCK_PATH, run_id))}"
                                               "/journal.jsonl"))  # fmt: skip
        assert mirrored.run["state"] == J.RUN_ROLLED_BACK


@pytest.mark.slow
def test_rollback_after_deploy_at_the_first_gate() -> None:
    with zone() as z:
        plan = z.plan()
        first = plan.meta["switch_order"].split(",")[0]
        assert z.run(stop_at_gate=f"r30-settings-{first}") == "gate"
        assert z.step_state("r29-exec") == "done"
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()


@pytest.mark.slow  # two whole runs on one lab (make test-slow)
def test_a_new_run_after_a_rollback_upgrades_the_zone() -> None:
    """Issue 9 item 4: rollback destroyed the new VMs; a new plan and apply on the same zone
    (same journal) launches new ones at the same temporary addresses, with new host keys, and
    trusts them: the first run's pins are its own, not the zone's."""
    with zone() as z:
        plan = z.plan()
        first = plan.meta["switch_order"].split(",")[0]
        assert z.run(stop_at_gate=f"r30-settings-{first}") == "gate"
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()
        assert z.journal is not None
        first_run = z.run_id
        retired = [p for p in z.journal.pins() if p.run_id == first_run]
        assert {p.key_id for p in retired} >= {f"{n}-new" for n in plan.nodes}
        assert all(p.retired is not None and p.retired_reason ==
                   f"destroyed by rollback of run {first_run}" for p in retired), retired
        z.new_run()
        z.plan()
        assert z.run() == "done", z.errors
        z.assert_upgraded()


def test_rollback_after_the_first_switch() -> None:
    """The first node already runs on the new VM at its old address: rollback destroys it
    there, starts the old VM again at that address and re-enables its autostart."""
    with zone() as z:
        plan = z.plan()
        first, second = plan.meta["switch_order"].split(",")
        assert z.run(stop_at_gate=f"r30-settings-{second}") == "gate"
        assert z.step_state(f"r33-identity-{first}") == "done"
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()


@pytest.mark.slow
def test_no_rollback_once_archiving_began() -> None:
    with zone() as z:
        assert z.run() == "done"
        assert z.rollback() == "done"  # refused: the run stays done, nothing changed
        err = z.errors[-1]
        assert isinstance(err, ZoneError) and "rollback is not possible" in str(err)
        assert "Manual restore" in str(err) and "virsh define" in str(err)
        z.assert_upgraded()
