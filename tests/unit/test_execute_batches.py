"""Independent read-only steps run at once (issue 4); side effects, gates, disconnects and
waits stay alone, in plan order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_execute import Rig, make_plan

from nodeswap.errors import StepFailed
from nodeswap.plan.model import Analysis, Step
from nodeswap.run import journal as J
from nodeswap.run.steps import concurrent_batches
from nodeswap.shell import cmd


def _s(i: int, command: str = "true", **kw: object) -> Step:
    return Step(id=f"s{i}", phase="p", rule="R0", title=f"step {i}", target="firstbox",
                command=command, **kw)  # type: ignore[arg-type]


RO = {"side_effect": False}


@pytest.mark.parametrize(("steps", "shape"), [
    ([_s(0), _s(1)], [[0], [1]]),                                      # side effects: alone
    ([_s(0, **RO), _s(1, **RO), _s(2, **RO)], [[0, 1, 2]]),             # reads: together
    ([_s(0, **RO), _s(1), _s(2, **RO), _s(3, **RO)], [[0], [1], [2, 3]]),
    ([_s(0, **RO), _s(1, gate=True, **RO), _s(2, **RO)], [[0], [1], [2]]),
    ([_s(0, **RO), _s(1, waits=True, **RO), _s(2, **RO)], [[0], [1], [2]]),
    ([_s(0, **RO), _s(1, disconnects=True, **RO)], [[0], [1]]),
    ([_s(0, **RO), _s(1, analysis=Analysis("rc", against="s0"), **RO)], [[0], [1]]),
    ([_s(0, **RO), _s(1, analysis=Analysis("rc", against="zz"), **RO)], [[0, 1]]),
])
def test_batches(steps: list[Step], shape: list[list[int]]) -> None:
    assert [[pos for pos, _ in b] for b in concurrent_batches(steps)] == shape


def test_read_only_steps_of_a_batch_overlap(tmp_path: Path) -> None:
    """s0 waits for a file that s1 (after it in the plan) creates: only together can s0
    succeed. Every step of the batch is recorded done."""
    flag = cmd(str(tmp_path / "flag"))
    waiter = _s(0, side_effect=False, timeout=30.0,
                command=f"for i in $(seq 300); do test -e {flag} && exit 0; sleep 0.05; done; "
                        "exit 1")
    maker = _s(1, side_effect=False, command=f"touch {flag}")
    rig = Rig(tmp_path)
    rid = rig.run(make_plan([waiter, maker]))
    assert [s.state for s in rig.journal.steps(rid)] == [J.DONE, J.DONE]


def test_a_failure_in_a_batch_lets_the_others_finish(tmp_path: Path) -> None:
    done = tmp_path / "done"
    bad = _s(0, side_effect=False, command="exit 3")
    good = _s(1, side_effect=False, command=f"sleep 0.2; touch {cmd(str(done))}")
    rig = Rig(tmp_path)
    rid = rig.ex.start(make_plan([bad, good]), operator="tester")
    with pytest.raises(StepFailed, match="s0"):
        asyncio.run(rig.ex.execute(rid))
    assert done.exists()
    assert rig.journal.step(rid, "s1").state == J.DONE
    assert rig.journal.step(rid, "s0").state == J.FAILED
