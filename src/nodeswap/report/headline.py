"""The report's first sentence, what a manager reads: what became of the nodes, in how long,
the findings, the gates and who approved them; true for every end state (done, failed,
interrupted, at a gate, rolled back, rollback failed). Plain text; pure.

    proxy0 and proxy1 replaced by bionic 18.04.6 in 35.2 s; 0 unexpected findings;
    3 gates approved by root@vm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nodeswap.run import journal as J

from .formatting import fmt_clock, fmt_duration

if TYPE_CHECKING:
    from .model import NodeLine, RunReport


def names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items) or "no node"
    return ", ".join(items[:-1]) + " and " + items[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _old_os(nodes: Sequence[NodeLine]) -> str:
    return names(sorted({n.old_os for n in nodes}))


def nodes_sentence(r: RunReport) -> str:
    """What became of the nodes."""
    nodes = sorted(r.nodes, key=lambda n: n.name)
    done = [n.name for n in nodes if n.replaced]
    kept = [n for n in nodes if not n.replaced]
    took = fmt_duration(r.duration) if r.duration is not None else "a time not recorded"
    if r.state == J.RUN_ROLLED_BACK:
        serve = "serves" if len(nodes) == 1 else "serve"
        return (f"Rolled back after {took}: {names([n.name for n in nodes])} {serve} on "
                f"{_old_os(nodes)} again; the upgrade to {r.target_os} was undone")
    if not kept:
        return f"{names(done)} replaced by {r.target_os} in {took}"
    if done:
        return (f"{names(done)} replaced by {r.target_os}; {names([n.name for n in kept])} "
                f"not replaced (still {_old_os(kept)})")
    return f"{names([n.name for n in kept])} not replaced (still {_old_os(kept)})"


def state_sentence(r: RunReport) -> str:
    """Why the run stands where it stands (empty for a finished run)."""
    f = r.failure
    where = f" at step {f.step.step_id} ({f.step.rule}) on {f.step.target}" if f else ""
    waiting = next((g for g in r.gates if g.state == "waiting"), None)
    return {
        J.RUN_DONE: "",
        J.RUN_FAILED: f"the run failed{where}; resume it after a fix, or roll it back",
        J.RUN_INTERRUPTED: f"the run was interrupted{where}; resume it or roll it back",
        J.RUN_GATE: ("the run waits at gate "
                     + (f"{waiting.step_id} ({waiting.rule})" if waiting else "")
                     + " for approval"),
        J.RUN_ROLLED_BACK: (f"before the rollback the run stopped{where}" if f else ""),
        J.RUN_ROLLBACK_FAILED: f"the rollback failed{where}: the zone needs a hand",
        J.RUN_RUNNING: "the run is still running (or its process is gone)",
    }.get(r.state, r.state)


def gates_sentence(r: RunReport) -> str:
    approved = [g for g in r.gates if g.state == "approved"]
    if not r.gates:
        return "no gates"
    if not approved:
        return f"{_plural(len(r.gates), 'gate')}, none approved"
    who = sorted({g.operator for g in approved if g.operator})
    by = f" by {names(who)}" if who else " (who not recorded)"
    return f"{_plural(len(approved), 'gate')} approved{by}"


def headline(r: RunReport) -> str:
    """The summary's sentence (see the module doc)."""
    parts = [nodes_sentence(r), state_sentence(r),
             f"{_plural(r.unexpected, 'unexpected finding')}", gates_sentence(r)]
    return "; ".join(p for p in parts if p) + "."


def gates_fact(r: RunReport) -> str:
    """The gates line of the summary: who approved them, and between which times."""
    times = sorted(g.approved for g in r.gates if g.approved is not None)
    if not times:
        return gates_sentence(r)
    span = fmt_clock(times[0]) if len(times) == 1 else \
        f"between {fmt_clock(times[0]).removesuffix(' UTC')} and {fmt_clock(times[-1])}"
    return f"{gates_sentence(r)}, {span}"
