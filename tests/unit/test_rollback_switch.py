"""Rollback at the switch (issue 11), on the local transport (real bash, temp folders): a
failed or cut side-effect step counts as possibly done and is undone; a failed undo is tried
again by the next rollback, undone steps are not; the run is ``rolling_back`` while undoing
(status then suggests rollback, not resume, and resume refuses it); every error names the
step and the rule, a host that cannot be reached too."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from nodeswap.errors import StepFailed, ZoneError
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.events import Event, StepStarted
from nodeswap.run.execute import Executor, to_undo
from nodeswap.run.hints import Hints
from nodeswap.run.journal import Journal
from nodeswap.run.runs import next_lines, status_exit
from nodeswap.shell import cmd
from nodeswap.transport.local import LocalConnector
from nodeswap.transport.ssh import SshConfig, SshConnector


def plan_of(steps: list[Step], **targets: Target) -> Plan:
    t = {"firstbox": Target("firstbox", "127.0.0.1", "fb", via_firstbox=False), **targets}
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, t, tuple(steps))


def logged(i: int, log: Path, *, command: str = "true", undo_fails_if: Path | None = None
           ) -> Step:
    """A side effect noted in ``log``; its undo notes ``undo<i>`` (failing while the file
    ``undo_fails_if`` exists)."""
    guard = f"test ! -e {cmd(str(undo_fails_if))} && " if undo_fails_if else ""
    return Step(f"s{i}", "p", f"R3{i}", f"step {i}", "firstbox",
                command=f"echo s{i} >> {cmd(str(log))}; {command}",
                undo=f"{guard}echo undo{i} >> {cmd(str(log))}")


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.log = tmp / "log"
        self.journal = Journal.open(tmp / "state" / "zone.journal.sqlite")
        self.events: list[Event] = []
        self.ex = Executor(self.journal, LocalConnector(), events=self.events.append,
                           lock_path=str(tmp / "lock" / "zone.lock"))

    def run(self, plan: Plan) -> str:
        rid = self.ex.start(plan, operator="tester")
        with contextlib.suppress(StepFailed):
            asyncio.run(self.ex.execute(rid))
        return rid

    def lines(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


def test_a_failed_side_effect_step_is_undone(tmp_path: Path) -> None:
    """Its command took effect, then failed (like a shutdown cut by a lost connection)."""
    rig = Rig(tmp_path)
    rid = rig.run(plan_of([logged(0, rig.log), logged(1, rig.log, command="false")]))
    assert rig.journal.step(rid, "s1").state == J.FAILED
    asyncio.run(rig.ex.rollback(rid))
    assert rig.lines() == ["s0", "s1", "undo1", "undo0"]
    assert rig.journal.run(rid).state == J.RUN_ROLLED_BACK


def test_a_step_cut_while_running_is_undone(tmp_path: Path) -> None:
    """Cancelled mid-command (Ctrl-C): the step is interrupted; rollback undoes it."""
    rig = Rig(tmp_path)
    plan = plan_of([logged(0, rig.log), logged(1, rig.log, command="sleep 30")])
    rid = rig.ex.start(plan, operator="tester")

    async def cut() -> None:
        task = asyncio.ensure_future(rig.ex.execute(rid))
        while "s1" not in rig.lines():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cut())
    assert rig.journal.step(rid, "s1").state == J.INTERRUPTED
    assert [s.step_id for s in to_undo(rig.journal, rid)] == ["s0", "s1"]
    asyncio.run(rig.ex.rollback(rid))
    assert rig.lines() == ["s0", "s1", "undo1", "undo0"]


def test_a_failed_undo_is_tried_again_and_undone_steps_are_not(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    broken = tmp_path / "broken"
    broken.touch()
    rid = rig.run(plan_of([logged(0, rig.log), logged(1, rig.log, undo_fails_if=broken),
                           logged(2, rig.log)]))
    with pytest.raises(StepFailed) as caught:
        asyncio.run(rig.ex.rollback(rid))
    err = caught.value
    assert (err.step, err.rule) == ("s1", "R31")
    assert "undo of step s1 (R31: step 1) on firstbox failed" in str(err)
    assert "next: nodeswap rollback" in str(err)
    assert rig.journal.run(rid).state == J.RUN_ROLLBACK_FAILED
    assert rig.journal.step(rid, "s1").state == J.UNDO_FAILED
    assert next_lines(rig.journal, rid, Hints())[-1] == f"next: nodeswap rollback {rid}"
    broken.unlink()
    asyncio.run(rig.ex.rollback(rid))
    assert rig.lines() == ["s0", "s1", "s2", "undo2", "undo1", "undo0"]  # undo2 once
    assert rig.journal.run(rid).state == J.RUN_ROLLED_BACK


def test_the_run_is_rolling_back_while_undoing_and_resume_refuses_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rid = rig.run(plan_of([logged(0, rig.log)]))
    seen: list[str] = []

    def sink(e: Event) -> None:
        if isinstance(e, StepStarted) and e.kind == "undo":
            seen.append(rig.journal.run(rid).state)

    ex = Executor(rig.journal, LocalConnector(), events=sink, lock_path=None)
    # a rollback cut (a crash) leaves the run rolling_back: as it is while undoing
    rig.journal.set_run_state(rid, J.RUN_ROLLING_BACK, "rolling back")
    assert rig.journal.run(rid).ended is None
    lines = next_lines(rig.journal, rid, Hints())
    assert lines[-1] == f"next: nodeswap rollback {rid}"
    assert "nodeswap resume" not in "".join(lines)
    assert status_exit(rig.journal, rid) == 5
    with pytest.raises(ZoneError, match=f"is rolling_back.*\n.*nodeswap rollback {rid}"):
        asyncio.run(ex.execute(rid, resumed=True))
    asyncio.run(ex.rollback(rid))
    assert seen == [J.RUN_ROLLING_BACK]
    assert rig.journal.run(rid).state == J.RUN_ROLLED_BACK


def test_an_undo_whose_host_cannot_be_reached_names_step_and_rule(tmp_path: Path) -> None:
    """The undo's host is down (nothing listens at its port): StepFailed names the step, the
    rule and the host, not a bare "cannot connect"; the undo is left to retry."""
    rig = Rig(tmp_path)
    down = Target("old-vm", "127.0.0.1", "old-vm", via_firstbox=False)
    step = Step("r32-stop", "switch", "R32", "stop the old node's services", "firstbox",
                command="true", undo="supervisorctl start all", undo_target="old-vm")
    rid = rig.run(plan_of([step], **{"old-vm": down}))
    ssh = SshConnector(SshConfig(port=1, connect_attempts=1, connect_timeout=3.0,
                                 known_hosts=str(tmp_path / "known_hosts")))
    ex = Executor(rig.journal, ssh, lock_path=None)
    with pytest.raises(StepFailed) as caught:
        asyncio.run(ex.rollback(rid))
    err = caught.value
    assert (err.step, err.rule, err.host) == ("r32-stop", "R32", "old-vm")
    assert "undo of step r32-stop (R32: stop the old node's services) on old-vm could not reach"\
        in str(err) and "cannot connect" in str(err)
    assert rig.journal.step(rid, "r32-stop").state == J.UNDO_FAILED
