"""The dependencies between a plan's steps (its ``after`` lists), derived by rules in one place.
Pure: no I/O.

Plan order stays a valid topological order: a step only ever depends on earlier steps, so the
plan reads (``show``, the journal, the report) in the order it was written, and rollback's
reverse plan order undoes a step only after every step that depended on it.

The rules (``derive``), walking the steps in plan order:

- **serial** (the default): the step waits for every step before it (it depends on the open
  ends of the graph so far). A gate is always serial, so switches stay one node at a time
  behind their gates (R30-R36); so is a step that ``disconnects``, and, outside the per-node
  phases, one that ``waits`` or has a side effect: inside a node's switch everything that
  holds the node out of service runs one step after the other.
- **read-only** (no side effect, no gate, no disconnect, no wait): runs beside the other
  read-only steps after the last serial step and after each node's last step that is not
  read-only (fetches, status, comparisons: what ``concurrent_batches`` allowed before the
  graph).
- **per node** (``LANE_PHASES``: launch, deploy, check, archive): a step about one node (its
  target is one of the node's targets, or its id ends with ``-<node>``) follows only the
  last step about the same node that is not read-only (and the read-only steps about the
  node since then), so the two new VMs are launched, awaited (R21) and checked (R23-R29)
  side by side, and the old ones archived (R37) side by side on their hosts. A step about
  no node in these phases (``install_nodes.sh``/``update.sh -f node1,node2``: one command
  for every node) is serial.
- a step whose analysis reads another step's output also depends on that step.

So of two steps one of which changes something, the later waits for the earlier unless they
are about two different nodes in a per-node phase (tests/unit/test_graph.py checks this on
any plan).

The executor runs at most one side-effect command per host at a time whatever the graph
says (two launches from firstbox run one after the other, their waits side by side).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # model imports this module to fill in ``after``
    from nodeswap.plan.model import Step

LANE_PHASES = ("launch", "deploy", "check", "archive")
NODE_TARGETS = ("old", "new", "switched")  # <node>-old, <node>-new, <node>-switched


def references(step: Step) -> set[str]:
    """The earlier steps whose output the step's analysis reads (``against``, ``gather``)."""
    if step.analysis is None:
        return set()
    out = {step.analysis.against} if step.analysis.against else set()
    spec = dict(step.analysis.options).get("gather", "")
    return out | {item.split("=", 1)[1] for item in spec.split(",") if "=" in item}


def read_only(step: Step) -> bool:
    """May run beside other read-only steps: changes nothing and waits for nothing."""
    return not (step.side_effect or step.gate or step.disconnects or step.waits)


def node_of(step: Step, nodes: Collection[str]) -> str | None:
    """The node a step is about: its target is one of the node's (``<node>-old`` ...), or
    its id ends with ``-<node>`` (the longest such name); None for none."""
    for n in nodes:
        if step.target in {f"{n}-{kind}" for kind in NODE_TARGETS}:
            return n
    named = [n for n in nodes if step.id.endswith(f"-{n}")]
    return max(named, key=len) if named else None


def lane(step: Step, nodes: Collection[str]) -> str | None:
    """The node whose per-node chain the step joins, or None (serial or read-only)."""
    if step.gate or step.disconnects or step.phase not in LANE_PHASES:
        return None
    return node_of(step, nodes)


class _Builder:
    """The graph so far: the last serial step, the open ends, each node's chain."""

    def __init__(self, pos: dict[str, int]) -> None:
        self.pos = pos  # step id -> plan position
        self.base: set[str] = set()  # the last serial step (none before the first)
        self.start = -1  # its plan position
        self.open: list[str] = []  # steps no later step depends on yet, in plan order
        self.head: dict[str, str] = {}  # node -> its last step that is not read-only
        self.since: dict[str, list[str]] = {}  # node -> its read-only steps since then
        self.free: list[str] = []  # read-only steps about no node since the serial step

    def add(self, step: Step, nodes: Collection[str]) -> tuple[str, ...]:
        # what the analysis reads, unless it ran before the last serial step (waited for)
        refs = {r for r in references(step) if self.pos.get(r, -1) > self.start}
        node = lane(step, nodes)
        if node is not None:
            deps = {self.head[node]} if node in self.head else set(self.base)
            if read_only(step):
                self.since.setdefault(node, []).append(step.id)
            else:  # after the node's reads since its last change, and the reads of no node
                deps |= set(self.since.pop(node, [])) | set(self.free)
                self.head[node] = step.id
        elif read_only(step):  # beside the other reads, after every node's last change
            deps = set(self.base) | set(self.head.values())
            self.free.append(step.id)
        else:  # serial: after every open end, then a new segment starts from it
            deps = set(self.open)
            self.base, self.open, self.head, self.since, self.free = \
                {step.id}, [step.id], {}, {}, []
            self.start = self.pos[step.id]
            return self._ordered(deps)
        deps |= refs
        self.open = [s for s in self.open if s not in deps] + [step.id]
        return self._ordered(deps)

    def _ordered(self, deps: set[str]) -> tuple[str, ...]:
        return tuple(sorted(deps, key=self.pos.__getitem__))


def derive(steps: Sequence[Step], nodes: Collection[str]) -> tuple[Step, ...]:
    """The steps with ``after`` filled in by the rules above where it is None (a step that
    carries its own ``after`` keeps it). Pure."""
    b = _Builder({s.id: i for i, s in enumerate(steps)})
    out = []
    for s in steps:
        derived = b.add(s, nodes)
        out.append(s if s.after is not None else replace(s, after=derived))
    return tuple(out)


def ancestors(steps: Sequence[Step]) -> dict[str, int]:
    """step id -> bit set (bit i: the step at plan position i) of every step it waits for,
    directly or not. Assumes ``problems`` found none."""
    pos = {s.id: i for i, s in enumerate(steps)}
    out: dict[str, int] = {}
    for s in steps:
        bits = 0
        for d in s.after or ():
            bits |= out[d] | (1 << pos[d])
        out[s.id] = bits
    return out


def problems(steps: Sequence[Step]) -> list[str]:
    """What is wrong with the plan's graph: an ``after`` naming no step, or one that is not
    earlier in plan order (so no cycle), a gate that does not wait for every step before it,
    a step that disconnects or waits in a node's switch that does not either. [] if none."""
    seen: set[str] = set()
    out: list[str] = []
    for i, s in enumerate(steps):
        for d in s.after or ():
            if d not in seen:
                known = any(t.id == d for t in steps)
                out.append(f"steps[{i}].after: {d!r} is "
                           + ("a later step (plan order must be a valid order)" if known
                              else "not the id of a step"))
        seen.add(s.id)
    if out:
        return out
    anc = ancestors(steps)
    for i, s in enumerate(steps):
        serial = s.gate or s.disconnects or (s.waits and s.phase not in LANE_PHASES)
        if serial and anc[s.id] != (1 << i) - 1:
            what = "is a gate" if s.gate else "disconnects" if s.disconnects else "waits"
            out.append(f"steps[{i}].after: {s.id} {what}, so it waits for every step "
                       "before it (switches stay one node at a time)")
    return out


def ready(steps: Iterable[Step], finished: Collection[str]) -> list[Step]:
    """The steps, in plan order, whose dependencies are all finished (and that are not)."""
    return [s for s in steps if s.id not in finished and set(s.after or ()) <= set(finished)]
