"""Journal schema 4 (issue 13): every apply, resume and rollback is a session (who, when, the
run's state at its end) and every gate approval is kept with who and when; a schema 3 file
gains both tables on open. The executor on the local transport, real bash; no mocks."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from nodeswap.errors import StepFailed, StoppedAtGate
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.execute import Executor
from nodeswap.run.journal import Journal
from nodeswap.run.lock import operator_name
from nodeswap.run.schema import SCHEMA_VERSION
from nodeswap.shell import cmd
from nodeswap.transport.local import LocalConnector


def step(i: int, folder: Path, **kw: object) -> Step:
    log = str(folder / "log")
    return Step(id=f"s{i}", phase="p", rule=f"R{i}", title=f"append {i}", target="firstbox",
                command=f"echo {i} >> {cmd(log)}", check=f"grep -qx {i} {cmd(log)}",
                undo=f"sed -i '/^{i}$/d' {cmd(log)}", **kw)  # type: ignore[arg-type]


def make_plan(steps: list[Step]) -> Plan:
    t = Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"firstbox": t}, tuple(steps))


def executor(j: Journal, tmp: Path, *, yes: bool) -> Executor:
    return Executor(j, LocalConnector(), approver=(lambda g: True) if yes else None,
                    lock_path=str(tmp / "zone.lock"))


def test_apply_at_a_gate_resume_and_rollback_are_three_sessions(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "z.journal.sqlite")
    plan = make_plan([step(0, tmp_path), step(1, tmp_path, gate=True), step(2, tmp_path)])
    rid = executor(j, tmp_path, yes=False).start(plan, operator="starter@box")
    with pytest.raises(StoppedAtGate):
        asyncio.run(executor(j, tmp_path, yes=False).execute(rid))
    assert j.approvals(rid) == []  # refused: nothing approved
    asyncio.run(executor(j, tmp_path, yes=True).execute(rid, resumed=True))
    asyncio.run(executor(j, tmp_path, yes=True).rollback(rid))
    sessions = j.sessions(rid)
    assert [(s.action, s.state) for s in sessions] == [
        ("apply", J.RUN_GATE), ("resume", J.RUN_DONE), ("rollback", J.RUN_ROLLED_BACK)]
    assert all(s.operator == operator_name() and s.ended is not None and s.ended >= s.started
               for s in sessions)
    assert sessions[0].started <= sessions[1].started <= sessions[2].started
    (approval,) = j.approvals(rid)
    assert (approval.step_id, approval.operator) == ("s1", operator_name())
    assert sessions[1].started <= approval.approved <= sessions[1].ended  # type: ignore[operator]
    assert j.step(rid, "s1").approved


def test_a_failed_session_ends_with_the_failed_state(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "z.journal.sqlite")
    bad = Step(id="bad", phase="p", rule="R9", title="fails", target="firstbox",
               command="exit 3", side_effect=False)
    rid = executor(j, tmp_path, yes=True).start(make_plan([step(0, tmp_path), bad]),
                                                operator="op")
    with pytest.raises(StepFailed):
        asyncio.run(executor(j, tmp_path, yes=True).execute(rid))
    assert [(s.action, s.state) for s in j.sessions(rid)] == [("apply", J.RUN_FAILED)]


def test_a_session_cut_short_stays_open(tmp_path: Path) -> None:
    """A process killed mid-session (kill -9) never ends it: ended and state stay NULL."""
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(make_plan([step(0, tmp_path)]), operator="op")
    j.begin_session(rid, "apply", "op@box")
    (s,) = j.sessions(rid)
    assert (s.action, s.operator, s.ended, s.state) == ("apply", "op@box", None, None)


def test_a_schema_3_journal_gains_sessions_and_approvals(tmp_path: Path) -> None:
    path = tmp_path / "old.journal.sqlite"
    j = Journal.open(path)
    rid = j.create_run(make_plan([step(0, tmp_path)]), operator="op")
    j.close()
    db = sqlite3.connect(str(path))
    db.execute("DROP TABLE sessions")
    db.execute("DROP TABLE approvals")
    db.execute("UPDATE meta SET value='3' WHERE key='schema'")
    db.commit()
    db.close()
    j = Journal.open(path)
    assert j.sessions(rid) == [] and j.approvals(rid) == []  # older runs have none
    j.approve(rid, "s0", "op@box")
    assert [(a.step_id, a.operator) for a in j.approvals(rid)] == [("s0", "op@box")]
    j.close()
    db = sqlite3.connect(str(path))
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == \
        (str(SCHEMA_VERSION),) == ("4",)
    db.close()


def test_seen_keys_are_kept_once_per_run_and_key(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "z.journal.sqlite")
    for _ in range(2):  # a reconnection sees the same key again: one row
        j.saw_key("proxy0-old", "ssh-ed25519 AAAA old", "10.0.0.2", "r1")
    j.saw_key("proxy0-old", "ssh-ed25519 BBBB other", "10.0.0.2", "r2")
    assert j.seen_keys("r1") == {"proxy0-old": "ssh-ed25519 AAAA old"}
    assert j.seen_keys("r2") == {"proxy0-old": "ssh-ed25519 BBBB other"}
    assert j.seen_keys(None) == {}
