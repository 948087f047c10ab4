"""The executor on the local transport: order, check/skip, verify, failure, gates, resume,
rollback, redaction, the zone lock. Real bash, temp folders; no mocks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from nodeswap.errors import LockHeld, StepFailed, StoppedAtGate
from nodeswap.live.zonelock import lock_for
from nodeswap.plan.model import Analysis, Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.events import Event, GateReached, Notice, StepEnded, StepOutput
from nodeswap.run.execute import Executor
from nodeswap.run.journal import Journal
from nodeswap.shell import cmd
from nodeswap.transport.local import LocalConnector


def counting_step(i: int, folder: Path, **kw: object) -> Step:
    """A side effect that appends one line to a file; its check says whether it did."""
    log = str(folder / "log")
    mark = f"step{i}"
    return Step(
        id=f"s{i}", phase="p", rule=f"R{i}", title=f"append {mark}", target="firstbox",
        command=f"echo {mark} >> {cmd(log)}",
        check=f"grep -qx {mark} {cmd(log)}",
        undo=f"sed -i '/^{mark}$/d' {cmd(log)}",
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def make_plan(steps: list[Step]) -> Plan:
    t = Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"firstbox": t}, tuple(steps))


class Rig:
    def __init__(self, tmp: Path, **kw: object) -> None:
        self.tmp = tmp
        self.journal = Journal.open(tmp / "state" / "zone.journal.sqlite")
        self.events: list[Event] = []
        self.on_event: Callable[[Event], None] | None = None  # called after recording one
        self.ex = Executor(
            self.journal, LocalConnector(), events=self.sink,
            lock_path=str(tmp / "lock" / "zone.lock"), **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    def sink(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def run(self, plan: Plan) -> str:
        rid = self.ex.start(plan, operator="tester")
        asyncio.run(self.ex.execute(rid))
        return rid

    def log(self) -> list[str]:
        p = self.tmp / "log"
        return p.read_text().splitlines() if p.exists() else []


def test_runs_steps_in_order_and_records_them(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rid = rig.run(make_plan([counting_step(i, tmp_path) for i in range(3)]))
    assert rig.log() == ["step0", "step1", "step2"]
    assert [s.state for s in rig.journal.steps(rid)] == [J.DONE] * 3
    assert rig.journal.run(rid).state == J.RUN_DONE
    kinds = [a.kind for a in rig.journal.attempts(rid, "s0")]
    assert kinds == ["check", "run"]
    assert not (tmp_path / "lock" / "zone.lock").exists()  # released


def test_check_exit_zero_skips_the_step(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("step1\n")
    rig = Rig(tmp_path)
    rid = rig.run(make_plan([counting_step(i, tmp_path) for i in range(3)]))
    assert rig.log() == ["step1", "step0", "step2"]
    assert rig.journal.step(rid, "s1").state == J.SKIPPED


def test_failed_step_stops_the_run_with_where_and_output_then_resume(tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    noisy = f"echo trying; echo password=hunter22; test -e {cmd(str(flag))}"
    bad = Step("bad", "p", "R9", "needs flag", "firstbox", command=noisy)
    plan = make_plan([counting_step(0, tmp_path), bad, counting_step(2, tmp_path)])
    rig = Rig(tmp_path)
    rid = rig.ex.start(plan, operator="tester")
    with pytest.raises(StepFailed) as err:
        asyncio.run(rig.ex.execute(rid))
    e = err.value
    assert (e.host, e.step, e.rule, e.exit_status) == ("firstbox", "bad", "R9", 1)
    assert "trying" in e.output_tail and "hunter22" not in str(e)
    assert rig.journal.run(rid).state == J.RUN_FAILED
    assert rig.journal.step(rid, "bad").state == J.FAILED
    flag.touch()
    asyncio.run(rig.ex.execute(rid, resumed=True))
    assert rig.log() == ["step0", "step2"]
    assert rig.journal.run(rid).state == J.RUN_DONE
    run_attempts = [a for a in rig.journal.attempts(rid, "bad") if a.kind == "run"]
    assert [a.exit_status for a in run_attempts] == [1, 0]
    out, _ = rig.journal.output(run_attempts[0].id)
    assert "trying" in out and "hunter22" not in out and "password=***" in out


def test_verify_failure_fails_the_step(tmp_path: Path) -> None:
    s = Step("v", "p", "R1", "verified", "firstbox", command="true", verify="false")
    rig = Rig(tmp_path)
    with pytest.raises(StepFailed, match="verify failed"):
        rig.run(make_plan([s]))


def test_timeout_fails_the_step(tmp_path: Path) -> None:
    s = Step("slow", "p", "R1", "hangs", "firstbox", command="sleep 30", timeout=0.3)
    rig = Rig(tmp_path)
    with pytest.raises(StepFailed, match=r"timed out after 0\.3s"):
        rig.run(make_plan([s]))


def test_gate_without_approver_stops_and_resume_with_yes_continues(tmp_path: Path) -> None:
    plan = make_plan([counting_step(0, tmp_path), counting_step(1, tmp_path, gate=True)])
    rig = Rig(tmp_path)
    rid = rig.ex.start(plan, operator="tester")
    with pytest.raises(StoppedAtGate, match=f"\nnext: nodeswap resume {rid} --approve s1\n"):
        asyncio.run(rig.ex.execute(rid))
    assert rig.log() == ["step0"]
    assert rig.journal.run(rid).state == J.RUN_GATE
    assert rig.journal.step(rid, "s1").state == J.GATE
    lock = str(tmp_path / "lock" / "zone.lock")
    yes = Executor(
        rig.journal, LocalConnector(), approver=lambda s: True, lock_path=lock,
        events=rig.events.append,
    )  # fmt: skip
    asyncio.run(yes.execute(rid, resumed=True))
    assert rig.log() == ["step0", "step1"]
    gates = [e for e in rig.events if isinstance(e, GateReached)]
    assert [g.approved for g in gates] == [None, False, None, True]


def test_interrupted_step_is_checked_not_rerun(tmp_path: Path) -> None:
    """A kill -9 after the side effect but before the end was recorded: resume's check sees it."""
    plan = make_plan([counting_step(i, tmp_path) for i in range(3)])
    rig = Rig(tmp_path)
    rid = rig.ex.start(plan, operator="tester")
    # what a crash mid-step leaves: s0 done, s1 running with an open attempt, effect applied
    rig.journal.set_step_state(rid, "s0", J.DONE)
    (tmp_path / "log").write_text("step0\nstep1\n")
    rig.journal.set_step_state(rid, "s1", J.RUNNING)
    rig.journal.begin_attempt(rid, "s1", "run", "firstbox", "echo step1")
    asyncio.run(rig.ex.execute(rid, resumed=True))
    assert rig.log() == ["step0", "step1", "step2"]
    assert rig.journal.step(rid, "s1").state == J.SKIPPED


def test_interrupted_side_effect_without_check_needs_the_operator(tmp_path: Path) -> None:
    s = Step("nocheck", "p", "R1", "no check", "firstbox", command="true")
    rig = Rig(tmp_path)
    rid = rig.ex.start(make_plan([s]), operator="tester")
    rig.journal.set_step_state(rid, "nocheck", J.RUNNING)
    with pytest.raises(StepFailed, match="--rerun-unchecked"):
        asyncio.run(rig.ex.execute(rid, resumed=True))
    again = Executor(rig.journal, LocalConnector(), lock_path=None, rerun_unchecked=True)
    asyncio.run(again.execute(rid, resumed=True))
    assert rig.journal.run(rid).state == J.RUN_DONE


def test_rollback_undoes_done_steps_in_reverse(tmp_path: Path) -> None:
    order = tmp_path / "order"
    steps = [
        Step(f"u{i}", "p", "R1", f"u{i}", "firstbox", command="true",
             undo=f"echo u{i} >> {cmd(str(order))}")
        for i in range(3)
    ]  # fmt: skip
    rig = Rig(tmp_path)
    rid = rig.run(make_plan(steps))
    asyncio.run(rig.ex.rollback(rid))
    assert order.read_text().split() == ["u2", "u1", "u0"]
    assert rig.journal.run(rid).state == J.RUN_ROLLED_BACK
    assert {s.state for s in rig.journal.steps(rid)} == {J.UNDONE}


def test_rollback_leaves_steps_that_were_already_done(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("step0\n")
    rig = Rig(tmp_path)
    rid = rig.run(make_plan([counting_step(0, tmp_path), counting_step(1, tmp_path)]))
    asyncio.run(rig.ex.rollback(rid))
    assert rig.log() == ["step0"]


def test_rollback_retires_the_pins_of_the_run_it_rolled_back(tmp_path: Path) -> None:
    """Issue 9: the VMs this run created (the hosts it pinned) are gone after its rollback;
    their pins are retired with the time and reason, not deleted; another run's pins stay."""
    rig = Rig(tmp_path)
    rid = rig.run(make_plan([counting_step(0, tmp_path)]))
    other = rig.ex.start(make_plan([counting_step(1, tmp_path)]), operator="tester")
    rig.journal.pin_key("proxy0-new", "ssh-ed25519 MINE", "10.0.0.5", rid)  # as the transport
    rig.journal.pin_key("proxy0-new", "ssh-ed25519 OTHER", "10.0.0.5", other)
    before = time.time()
    asyncio.run(rig.ex.rollback(rid))
    assert rig.journal.run(rid).state == J.RUN_ROLLED_BACK
    assert rig.journal.pinned_key("proxy0-new", rid) is None
    assert rig.journal.pinned_key("proxy0-new", other) == "ssh-ed25519 OTHER"
    [pin] = [p for p in rig.journal.pins("proxy0-new") if p.run_id == rid]
    assert pin.retired is not None and pin.retired >= before
    assert pin.retired_reason == f"destroyed by rollback of run {rid}"
    assert any(isinstance(e, Notice) and "proxy0-new" in e.text for e in rig.events)


def test_a_rollback_that_fails_keeps_the_pins(tmp_path: Path) -> None:
    """An undo failed: the VM may still be there, so its pin stays live."""
    steps = [counting_step(0, tmp_path),
             Step("bad", "p", "R1", "bad undo", "firstbox", command="true", undo="false")]
    rig = Rig(tmp_path)
    rid = rig.run(make_plan(steps))
    rig.journal.pin_key("proxy0-new", "ssh-ed25519 MINE", "10.0.0.5", rid)
    with pytest.raises(StepFailed):
        asyncio.run(rig.ex.rollback(rid))
    assert rig.journal.run(rid).state == J.RUN_ROLLBACK_FAILED
    assert rig.journal.pinned_key("proxy0-new", rid) == "ssh-ed25519 MINE"


def test_lock_contention_names_the_owner_and_break_lock_takes_it(tmp_path: Path) -> None:
    lock = tmp_path / "lock" / "zone.lock"
    lock.parent.mkdir()
    lock.write_text('{"run_id": "other-run", "operator": "alice@fb", "client_host": "elsewhere",'
                    ' "pid": 1, "since": 0}\n')  # fmt: skip
    rig = Rig(tmp_path)
    plan = make_plan([counting_step(0, tmp_path)])
    with pytest.raises(LockHeld, match="run other-run of alice@fb") as err:
        rig.run(plan)
    assert err.value.exit_code == 4
    assert rig.log() == []
    breaker = Rig(tmp_path, break_lock=True)
    breaker.run(plan)
    assert rig.log() == ["step0"]
    assert not lock.exists()


def test_the_lock_start_took_for_this_run_in_this_process_is_its_own(tmp_path: Path) -> None:
    """runs.start takes the lock with the id of the run it records (issue 14): execute goes
    on under it (no "held", no "reclaimed") and releases it; the same run's lock held by
    another live process, or another run's, still stops it."""
    lock = tmp_path / "lock" / "zone.lock"
    lock.parent.mkdir()
    rig = Rig(tmp_path)
    plan = make_plan([counting_step(0, tmp_path)])
    rid = rig.ex.start(plan, operator="tester")
    lock.write_text(lock_for(rid).to_line() + "\n")
    asyncio.run(rig.ex.execute(rid))
    assert rig.log() == ["step0"] and not lock.exists()
    assert not any(isinstance(e, Notice) for e in rig.events)
    rid2 = rig.ex.start(plan, operator="tester")
    theirs = replace(lock_for(rid2), pid=1)  # the same run, another (live) process
    lock.write_text(theirs.to_line() + "\n")
    with pytest.raises(LockHeld):
        asyncio.run(rig.ex.execute(rid2))


def test_output_events_are_redacted(tmp_path: Path) -> None:
    s = Step("talk", "p", "R1", "talks", "firstbox", command="echo token=abc123; echo s3cr3tvalue")
    rig = Rig(tmp_path, secrets=["s3cr3tvalue"])
    rig.run(make_plan([s]))
    text = "".join(e.text for e in rig.events if isinstance(e, StepOutput))
    assert "abc123" not in text and "s3cr3tvalue" not in text and "token=***" in text


def test_analysis_uses_the_reference_step_output(tmp_path: Path) -> None:
    seen: list[tuple[str, str, str | None]] = []

    def analyzer(kind: str, out: str, ref: str | None, opts: object) -> list[str]:
        seen.append((kind, out, ref))
        return [] if out == ref else ["differs"]

    old = Step("old", "p", "R27", "old cfg", "firstbox", command="echo a", side_effect=False)
    new = Step("new", "p", "R27", "new cfg", "firstbox", command="echo a", side_effect=False,
               analysis=Analysis("haproxy", against="old"))  # fmt: skip
    rig = Rig(tmp_path, analyzer=analyzer)
    rig.run(make_plan([old, new]))
    assert seen == [("haproxy", "a\n", "a\n")]
    bad = Step("bad", "p", "R27", "other", "firstbox", command="echo b", side_effect=False,
               analysis=Analysis("haproxy", against="old"))  # fmt: skip
    with pytest.raises(StepFailed, match="found differences"):
        Rig(tmp_path / "2", analyzer=analyzer).run(make_plan([old, bad]))


def test_journal_file_is_private(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.run(make_plan([counting_step(0, tmp_path)]))
    for p in rig.journal.path.parent.iterdir():
        assert p.stat().st_mode & 0o077 == 0, p


def test_step_ended_events_follow_the_states(tmp_path: Path) -> None:
    (tmp_path / "log").write_text("step0\n")
    rig = Rig(tmp_path)
    rig.run(make_plan([counting_step(0, tmp_path), counting_step(1, tmp_path)]))
    ends = [(e.step_id, e.state) for e in rig.events if isinstance(e, StepEnded)]
    assert ends == [("s0", J.SKIPPED), ("s1", J.DONE)]


def test_cancel_mid_command_records_the_interruption_and_resume_finishes(tmp_path: Path) -> None:
    """Ctrl-C (task cancelled) while a step's command runs: the command is ended, the attempt
    and step are recorded as interrupted, the run says so; resume checks and goes on."""
    started = tmp_path / "started"
    log = cmd(str(tmp_path / "log"))
    slow = Step("slow", "p", "R1", "slow", "firstbox",
                command=f"touch {cmd(str(started))}; sleep 30; echo late >> {log}",
                check=f"grep -qx late {log}")  # fmt: skip
    plan = make_plan([counting_step(0, tmp_path), slow])
    rig = Rig(tmp_path)
    rid = rig.ex.start(plan, operator="tester")

    async def interrupt() -> None:
        task = asyncio.create_task(rig.ex.execute(rid))
        deadline = asyncio.get_running_loop().time() + 20
        while not started.exists():
            assert asyncio.get_running_loop().time() < deadline, "the slow step never started"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupt())
    assert rig.journal.run(rid).state == J.RUN_INTERRUPTED
    assert rig.journal.step(rid, "slow").state == J.INTERRUPTED
    last = rig.journal.attempts(rid, "slow")[-1]
    assert (last.kind, last.outcome) == ("run", "interrupted")
    assert rig.log() == ["step0"]  # the command was ended: "late" never written
    assert not (tmp_path / "lock" / "zone.lock").exists()  # released on the way out


class DownConnector(LocalConnector):
    """Local, but the targets named ``down`` cannot be reached (a host down on purpose)."""

    def __init__(self, down: set[str]) -> None:
        super().__init__()
        self.down = down
        self.asked: list[str] = []

    async def transport(self, target: Target):  # type: ignore[no-untyped-def]
        from nodeswap.errors import TransportError  # noqa: PLC0415

        self.asked.append(target.name)
        if target.name in self.down:
            raise TransportError(f"{target.name}: connection refused")
        return await super().transport(target)


def two_targets(steps: list[Step]) -> Plan:
    fb = Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)
    old = Target("old", "127.0.0.9", "old")
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"firstbox": fb, "old": old},
                tuple(steps))


def test_a_cut_disconnecting_step_is_decided_on_its_check_target_first(tmp_path: Path) -> None:
    """issue 11, R32: the old VM was shut down by the cut step; its check runs on a host that
    is up (check_target) and says done, so the host that is down is never contacted."""
    (tmp_path / "off").write_text("")
    shutdown = Step("halt", "p", "R32", "shut old down", "old", command="false",
                    disconnects=True, check=f"test -e {cmd(str(tmp_path / 'off'))}",
                    check_target="firstbox")
    after = counting_step(1, tmp_path)
    conn = DownConnector({"old"})
    journal = Journal.open(tmp_path / "state" / "zone.journal.sqlite")
    ex = Executor(journal, conn, lock_path=str(tmp_path / "lock"))
    rid = ex.start(two_targets([shutdown, after]), operator="tester")
    journal.set_step_state(rid, "halt", J.INTERRUPTED)  # as a kill -9 in it leaves it
    journal.begin_attempt(rid, "halt", "run", "old", "shutdown -h now")
    asyncio.run(ex.execute(rid, resumed=True))
    assert journal.step(rid, "halt").state == J.SKIPPED
    assert "old" not in conn.asked and journal.run(rid).state == J.RUN_DONE
    (tmp_path / "off").unlink()  # not done: then the target is asked, and is down: a failure
    rid = ex.start(two_targets([shutdown]), operator="tester")
    with pytest.raises(StepFailed, match=r"halt .* on old could not reach the host"):
        asyncio.run(ex.execute(rid))
    assert conn.asked.count("old") == 1 and conn.asked[conn.asked.index("old") - 1] == "firstbox"


def test_a_cut_unchecked_step_stays_refused_until_marked_done_with_a_reason(
        tmp_path: Path) -> None:
    """issue 11: the guard holds for every plain resume (the refusal leaves the step failed,
    its last run attempt still cut); --mark-done records who and why (status, report)."""
    from nodeswap.errors import InputError  # noqa: PLC0415
    from nodeswap.report import RunRecords, build_report  # noqa: PLC0415
    from nodeswap.run.runs import needs_rerun_unchecked, status_text  # noqa: PLC0415
    from nodeswap.run.steps import mark_done  # noqa: PLC0415

    s = Step("nocheck", "p", "R1", "no check", "firstbox",
             command=f"echo ran >> {cmd(str(tmp_path / 'log'))}")
    rig = Rig(tmp_path)
    rid = rig.ex.start(make_plan([s, counting_step(1, tmp_path)]), operator="tester")
    rig.journal.set_step_state(rid, "nocheck", J.RUNNING)
    rig.journal.begin_attempt(rid, "nocheck", "run", "firstbox", s.command)  # kill -9: no end
    for _ in range(2):
        with pytest.raises(StepFailed, match="--mark-done nocheck --reason WHY"):
            asyncio.run(rig.ex.execute(rid, resumed=True))
        assert needs_rerun_unchecked(rig.journal, rid) and rig.log() == []
    with pytest.raises(InputError, match="--reason"):
        mark_done(rig.journal, rid, "nocheck", reason=" ", operator="alice")
    with pytest.raises(InputError, match="no step 'nope'"):
        mark_done(rig.journal, rid, "nope", reason="x", operator="alice")
    mark_done(rig.journal, rid, "nocheck", reason="ran: seen in the log", operator="alice")
    assert not needs_rerun_unchecked(rig.journal, rid)
    asyncio.run(rig.ex.execute(rid, resumed=True))
    assert rig.log() == ["step1"] and rig.journal.run(rid).state == J.RUN_DONE
    assert "(marked done by alice: ran: seen in the log)" in status_text(rig.journal, rid)
    report = build_report(RunRecords.from_journal(rig.journal, rid))
    (line,) = [x for x in report.steps if x.step_id == "nocheck"]
    assert "marked done by alice: ran: seen in the log" in line.note
    with pytest.raises(InputError, match="done already"):
        mark_done(rig.journal, rid, "nocheck", reason="again", operator="alice")


def test_rollback_undoes_a_step_a_person_marked_done(tmp_path: Path) -> None:
    """issue 11: a step marked done (--mark-done) is undone at rollback like any done step,
    also one marked before it ever ran (no run attempt: the person saw it done by hand)."""
    from nodeswap.run.steps import mark_done  # noqa: PLC0415

    order = tmp_path / "order"
    steps = [Step(f"u{i}", "p", "R1", f"u{i}", "firstbox", command="false" if i else "true",
                  undo=f"echo u{i} >> {cmd(str(order))}") for i in range(3)]
    rig = Rig(tmp_path)
    rid = rig.ex.start(make_plan(steps), operator="tester")
    with pytest.raises(StepFailed):
        asyncio.run(rig.ex.execute(rid))
    mark_done(rig.journal, rid, "u2", reason="done by hand before the run", operator="alice")
    asyncio.run(rig.ex.rollback(rid))
    assert order.read_text().split() == ["u2", "u1", "u0"]
    assert rig.journal.run(rid).state == J.RUN_ROLLED_BACK
