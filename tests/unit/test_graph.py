"""The plan's step graph (issue 11, concurrency): derived by rules in nodeswap.plan.graph, so
any plan's ``after`` refers back only, a gate waits for everything before it, and nothing
overtakes a serial step; the real proxy plan launches, awaits and checks both new VMs side by
side and switches them one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.plan import graph
from nodeswap.plan.model import Analysis, NodePlan, Plan, Step, Target
from nodeswap.run.runs import read_plan

NODES = ("n0", "n1", "n10")
GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def node_plan(name: str) -> NodePlan:
    return NodePlan(name, "127.0.0.9", "127.0.0.8", "h0", "h1", "", "", "", None, None)


def plan_of(steps: list[Step]) -> Plan:
    targets = {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}
    for i, n in enumerate(NODES):
        targets[f"{n}-new"] = Target(f"{n}-new", f"127.0.1.{i}", f"{n}-new", pin=True)
    return Plan("proxy", "4.3.0", ("bionic", "18.04.6"), {n: node_plan(n) for n in NODES},
                targets, tuple(steps))


@st.composite
def step_lists(draw: st.DrawFn) -> list[Step]:
    """Any mix of serial, read-only, waiting, disconnecting and gate steps, in per-node
    phases or not, about a node or not, some comparing with an earlier step's output."""
    out: list[Step] = []
    for i in range(draw(st.integers(0, 30))):
        phase = draw(st.sampled_from(["prepare", "launch", "check", "switch:n0", "archive"]))
        node = draw(st.sampled_from([None, *NODES]))
        target = draw(st.sampled_from(["fb", f"{node}-new"] if node else ["fb"]))
        sid = f"s{i}-{node}" if node and draw(st.booleans()) else f"s{i}"
        against = draw(st.sampled_from([None, *(s.id for s in out)])) if out else None
        out.append(Step(
            id=sid, phase=phase, rule="R0", title=sid, target=target, command="true",
            side_effect=draw(st.booleans()), gate=draw(st.integers(0, 9)) == 0,
            waits=draw(st.integers(0, 5)) == 0, disconnects=draw(st.integers(0, 7)) == 0,
            analysis=Analysis("rc", against=against) if against else None))
    return out


def serial(step: Step) -> bool:
    return graph.lane(step, NODES) is None and not graph.read_only(step)


@given(step_lists())
def test_any_plans_graph_refers_back_and_keeps_gates_and_serial_steps_whole(
        steps: list[Step]) -> None:  # fmt: skip
    plan = plan_of(steps)
    assert graph.problems(plan.steps) == []
    pos = {s.id: i for i, s in enumerate(plan.steps)}
    anc = graph.ancestors(plan.steps)
    for i, s in enumerate(plan.steps):
        assert s.after is not None
        assert all(pos[d] < i for d in s.after)  # back only: plan order is a valid order
        if s.analysis is not None and s.analysis.against:
            assert anc[s.id] >> pos[s.analysis.against] & 1  # what it compares with ran
        if serial(s):  # waits for everything before it, and everything after waits for it
            assert anc[s.id] == (1 << i) - 1, s
            assert all(anc[t.id] >> i & 1 for t in plan.steps[i + 1:]), s
        if s.gate:
            assert anc[s.id] == (1 << i) - 1


@given(step_lists())
def test_a_step_about_a_node_waits_for_that_nodes_earlier_side_effects(
        steps: list[Step]) -> None:  # fmt: skip
    plan = plan_of(steps)
    anc = graph.ancestors(plan.steps)
    for i, s in enumerate(plan.steps):
        for j, t in enumerate(plan.steps[:i]):
            if not graph.read_only(t) or not graph.read_only(s):  # one of them changes things
                same = graph.lane(s, NODES) is not None and \
                    graph.lane(s, NODES) == graph.lane(t, NODES)
                if same or graph.lane(s, NODES) is None or graph.lane(t, NODES) is None:
                    assert anc[s.id] >> j & 1, (t.id, s.id)


def test_node_of_prefers_the_target_then_the_longest_name() -> None:
    s = Step("r21-launch-n10", "launch", "R21", "t", "fb", command="true")
    assert graph.node_of(s, NODES) == "n10"
    assert graph.node_of(Step("x-n10", "launch", "R", "t", "n0-new", command="true"),
                         NODES) == "n0"
    assert graph.node_of(Step("r22-install", "launch", "R", "t", "fb", command="true"),
                         NODES) is None


def _s(sid: str, after: tuple[str, ...], **kw: object) -> Step:
    return Step(sid, "p", "R0", sid, "fb", command="true", after=after,
                **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("steps", "why"), [
    ([_s("a", ()), _s("b", ("zz",))], "steps.1..after: 'zz' is not the id of a step"),
    ([_s("a", ("b",)), _s("b", ())], "steps.0..after: 'b' is a later step"),
    ([_s("a", ()), _s("a0", (), side_effect=False), _s("b", ("a0",), gate=True)],
     "steps.2..after: b is a gate, so it waits for every step before it"),
    ([_s("a", ()), _s("b", (), waits=True)], "steps.1..after: b waits, so it waits for every step"),
])
def test_a_bad_graph_is_refused_naming_the_step(steps: list[Step], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        plan_of(steps)


@pytest.mark.parametrize("name", ["zone", "zone-vg"])
def test_the_proxy_plan_launches_awaits_and_checks_both_vms_at_once(name: str) -> None:
    """R21: both launches and both waits are independent of the other node's; R22 (one
    install_nodes.sh for both) waits for both VMs; R27-R29 compare both at once; each switch
    (R30's gate) waits for everything before it, the other node's switch included."""
    plan = read_plan(GOLDEN / f"{name}.plan.json")
    anc = graph.ancestors(plan.steps)
    pos = {s.id: i for i, s in enumerate(plan.steps)}

    def before(a: str, b: str) -> bool:
        return bool(anc[b] >> pos[a] & 1)

    for x, y in (("proxy0", "proxy1"), ("proxy1", "proxy0")):
        for a in ("launch", "domain", "wait"):
            for b in ("launch", "domain", "wait"):
                assert not before(f"r21-{a}-{x}", f"r21-{b}-{y}")
        assert before(f"r21-launch-{x}", f"r21-wait-{x}")
        assert before(f"r21-wait-{x}", "r22-install")
        assert not before(f"r27-haproxy-{x}", f"r28-rc.local-{y}")
        assert before(f"r36-console-{x}", f"r30-settings-{y}") == (pos[f"r30-settings-{y}"] >
                                                                  pos[f"r36-console-{x}"])
    gates = [s for s in plan.steps if s.gate]
    assert gates and all(anc[g.id] == (1 << pos[g.id]) - 1 for g in gates)
