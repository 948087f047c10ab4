"""The executor runs the plan's graph (issue 11, concurrency): independent steps at once,
one side effect per host at a time, the first failure stops what has not started and lets
what runs finish, Ctrl-C interrupts every running step, resume goes on along the graph.
Local transport, real bash; overlap is shown by what each step can only do beside another
(and by the order of events), never by timing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_execute import Rig

from nodeswap.errors import StepFailed
from nodeswap.plan.model import NodePlan, Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.events import VERBOSE, StepEnded, StepLines, StepOutput, StepStarted
from nodeswap.shell import cmd

NODES = ("n0", "n1")


def plan_of(steps: list[Step], *, same_host: bool = False) -> Plan:
    """A plan with two nodes whose new VMs are two hosts (or one, ``same_host``)."""
    targets = {"firstbox": Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)}
    for i, n in enumerate(NODES):
        addr = "127.0.1.1" if same_host else f"127.0.1.{i + 1}"
        targets[f"{n}-new"] = Target(f"{n}-new", addr, f"{n}-new", pin=True)
    nodes = {n: NodePlan(n, "127.0.0.9", "127.0.0.8", "h0", "h1", "", "", "", None, None)
             for n in NODES}
    return Plan("proxy", "4.3.0", ("bionic", "18.04.6"), nodes, targets, tuple(steps))


def waits_for(path: Path) -> str:
    """Exit 0 once ``path`` exists (a deadline of 30 s), else 1: a step that can only pass
    while another step runs beside it."""
    return (f"(for i in $(seq 600); do test -e {cmd(str(path))} && exit 0; sleep 0.05; done; "
            "exit 1)")


def about(node: str, name: str, command: str, phase: str = "launch", **kw: object) -> Step:
    return Step(id=f"{name}-{node}", phase=phase, rule="R21", title=f"{name} {node}",
                target=f"{node}-new", command=command, timeout=60.0,
                **kw)  # type: ignore[arg-type]


def started(rig: Rig) -> list[str]:
    return [e.step_id for e in rig.events if isinstance(e, StepStarted)]


def order(rig: Rig) -> list[str]:
    """'+id' when a step starts, '-id' when it ends, in the order the executor said so."""
    return [("+" if isinstance(e, StepStarted) else "-") + e.step_id for e in rig.events
            if isinstance(e, StepStarted | StepEnded)]


def test_two_nodes_chains_overlap(tmp_path: Path) -> None:
    """R21: each node's launch waits for a file the other node's launch makes: only side by
    side can both pass. Both start before either ends; the serial step after waits for
    both."""
    a, b = tmp_path / "a", tmp_path / "b"
    steps = [about("n0", "launch", f"touch {cmd(str(a))}; {waits_for(b)}"),
             about("n1", "launch", f"touch {cmd(str(b))}; {waits_for(a)}"),
             Step("install", "launch", "R22", "both", "firstbox", command="true")]
    rig = Rig(tmp_path)
    rid = rig.run(plan_of(steps))
    assert [s.state for s in rig.journal.steps(rid)] == [J.DONE] * 3
    seq = order(rig)
    assert seq[:2] == ["+launch-n0", "+launch-n1"]
    assert seq[-2:] == ["+install", "-install"]


def test_one_side_effect_per_host_at_a_time_but_reads_beside_it(tmp_path: Path) -> None:
    """Both launches on one host: the second starts only once the first ended; the first
    VM's wait (read-only) runs beside the second launch, so it can see what that one makes."""
    mark = tmp_path / "second-launched"
    steps = [about("n0", "launch", "true"),
             about("n0", "wait", waits_for(mark), side_effect=False, waits=True),
             about("n1", "launch", f"touch {cmd(str(mark))}")]
    rig = Rig(tmp_path)
    rid = rig.run(plan_of(steps, same_host=True))
    assert [s.state for s in rig.journal.steps(rid)] == [J.DONE] * 3
    seq = order(rig)
    assert seq.index("-launch-n0") < seq.index("+launch-n1")
    assert seq.index("+wait-n0") < seq.index("-launch-n1")


def test_the_first_failure_stops_new_steps_lets_running_ones_finish_then_resume(
        tmp_path: Path) -> None:  # fmt: skip
    """n0's launch fails after making a file n1's launch waits for: n1's launch still ends
    (done), n1's next step and the serial step never start; the run fails naming n0's step.
    Resume runs what is left along the graph, and not n1's launch again."""
    flag, fixed = tmp_path / "flag", tmp_path / "fixed"
    steps = [about("n0", "launch", f"touch {cmd(str(flag))}; test -e {cmd(str(fixed))}"),
             about("n1", "launch", f"{waits_for(flag)} && echo n1 >> {cmd(str(tmp_path / 'log'))}"),
             about("n1", "wait", "true", side_effect=False, waits=True),
             Step("install", "launch", "R22", "both", "firstbox", command="true")]
    rig = Rig(tmp_path)
    rid = rig.ex.start(plan_of(steps), operator="tester")
    with pytest.raises(StepFailed, match="step launch-n0 ") as err:
        asyncio.run(rig.ex.execute(rid))
    assert err.value.step == "launch-n0"
    states = {s.step_id: s.state for s in rig.journal.steps(rid)}
    assert states == {"launch-n0": J.FAILED, "launch-n1": J.DONE, "wait-n1": J.PENDING,
                      "install": J.PENDING}
    assert rig.journal.run(rid).state == J.RUN_FAILED
    fixed.touch()
    rig.events.clear()
    asyncio.run(rig.ex.execute(rid, resumed=True))
    assert rig.journal.run(rid).state == J.RUN_DONE
    assert set(started(rig)) == {"launch-n0", "wait-n1", "install"}
    assert rig.log() == ["n1"]  # n1's launch ran once


def test_ctrl_c_interrupts_every_running_step(tmp_path: Path) -> None:
    """A cancellation while both nodes' launches run: each is recorded interrupted (the
    journal knows both were cut), the run is interrupted, nothing after them started."""
    steps = [about("n0", "launch", "sleep 60"), about("n1", "launch", "sleep 60"),
             Step("install", "launch", "R22", "both", "firstbox", command="true")]
    rig = Rig(tmp_path)
    rid = rig.ex.start(plan_of(steps), operator="tester")

    async def cut() -> None:
        task = asyncio.ensure_future(rig.ex.execute(rid))
        for _ in range(3000):  # until both commands are running (a deadline of 30 s)
            running = {a.step_id for a in rig.journal.attempts(rid) if a.kind == "run"}
            if running == {"launch-n0", "launch-n1"}:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cut())
    states = {s.step_id: s.state for s in rig.journal.steps(rid)}
    assert states == {"launch-n0": J.INTERRUPTED, "launch-n1": J.INTERRUPTED,
                      "install": J.PENDING}
    assert rig.journal.run(rid).state == J.RUN_INTERRUPTED


def test_output_of_overlapping_steps_names_the_step() -> None:
    lines = StepLines(VERBOSE)
    lines(StepStarted("r", "launch-n0", "run", "firstbox", "R21", "launch n0"))
    assert lines(StepOutput("launch-n0", "firstbox", "stdout", "a\n")) == "  firstbox| a\n"
    lines(StepStarted("r", "launch-n1", "run", "firstbox", "R21", "launch n1"))
    assert lines(StepOutput("launch-n1", "firstbox", "stdout", "b\n")) == \
        "  firstbox launch-n1| b\n"
    lines(StepEnded("r", "launch-n0", "firstbox", J.DONE))
    assert lines(StepOutput("launch-n1", "firstbox", "stdout", "c\n")) == "  firstbox| c\n"


def test_of_several_failures_the_run_names_the_first_in_plan_order(tmp_path: Path) -> None:
    """Steps that fail side by side (every step reaching a host that went down): n1's fails
    first, n0's (earlier in the plan) only after it; the run names n0's, whatever the timing.
    n0 goes on once n1's end is recorded (a flag the event sink makes: a flag n1 made itself
    let n0's end be recorded first on a loaded machine)."""
    flag = tmp_path / "flag"
    steps = [about("n0", "look", f"{waits_for(flag)} && exit 1", side_effect=False),
             about("n1", "look", "exit 2", side_effect=False)]
    rig = Rig(tmp_path)
    rig.on_event = lambda e: flag.touch() if isinstance(e, StepEnded) \
        and e.step_id == "look-n1" else None
    rid = rig.ex.start(plan_of(steps), operator="tester")
    with pytest.raises(StepFailed) as err:
        asyncio.run(rig.ex.execute(rid))
    assert err.value.step == "look-n0"
    ended = [e.step_id for e in rig.events if isinstance(e, StepEnded)]
    assert ended == ["look-n1", "look-n0"]
    assert rig.journal.run(rid).message is not None
    assert "step look-n0 " in rig.journal.run(rid).message
