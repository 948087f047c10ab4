"""The report's first sentence, what a manager reads: what became of the nodes, in how long,
the findings, the gates and who approved them; true for every end state (done, failed,
interrupted, at a gate, rolled back, rollback failed). Plain text; pure.

    proxy0 and proxy1 replaced by bionic 18.04.6 in 35.2 s; 0 unexpected findings;
    3 gates approved by root@vm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nodeswap.i18n import _, ngettext
from nodeswap.run import journal as J

from .formatting import fmt_clock, fmt_duration

if TYPE_CHECKING:
    from .model import NodeLine, RunReport


def names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items) or _("no node")
    # TRANSLATORS: the separator of a list's items but the last, then the word before it
    return _(", ").join(items[:-1]) + _(" and ") + items[-1]


def _old_os(nodes: Sequence[NodeLine]) -> str:
    return names(sorted({n.old_os for n in nodes}))


def nodes_sentence(r: RunReport) -> str:
    """What became of the nodes."""
    nodes = sorted(r.nodes, key=lambda n: n.name)
    done = [n.name for n in nodes if n.replaced]
    kept = [n for n in nodes if not n.replaced]
    took = fmt_duration(r.duration) if r.duration is not None else _("a time not recorded")
    if r.state == J.RUN_ROLLED_BACK:
        return ngettext(
            "Rolled back after {took}: {nodes} serves on {old_os} again; the upgrade to "
            "{os} was undone",
            "Rolled back after {took}: {nodes} serve on {old_os} again; the upgrade to "
            "{os} was undone", len(nodes)).format(
                took=took, nodes=names([n.name for n in nodes]), old_os=_old_os(nodes),
                os=r.target_os)
    if not kept:
        return _("{nodes} replaced by {os} in {took}").format(
            nodes=names(done), os=r.target_os, took=took)
    if done:
        return _("{nodes} replaced by {os}; {kept} not replaced (still {old_os})").format(
            nodes=names(done), os=r.target_os, kept=names([n.name for n in kept]),
            old_os=_old_os(kept))
    return _("{kept} not replaced (still {old_os})").format(
        kept=names([n.name for n in kept]), old_os=_old_os(kept))


def state_sentence(r: RunReport) -> str:
    """Why the run stands where it stands (empty for a finished run)."""
    f = r.failure
    where = _(" at step {step} ({rule}) on {host}").format(
        step=f.step.step_id, rule=f.step.rule, host=f.step.target) if f else ""
    waiting = next((g for g in r.gates if g.state == "waiting"), None)
    return {
        J.RUN_DONE: "",
        J.RUN_FAILED: _("the run failed{where}; resume it after a fix, or roll it back"
                        ).format(where=where),
        J.RUN_INTERRUPTED: _("the run was interrupted{where}; resume it or roll it back"
                             ).format(where=where),
        J.RUN_GATE: _("the run waits at gate {gate} for approval").format(
            gate=f"{waiting.step_id} ({waiting.rule})" if waiting else ""),
        J.RUN_ROLLED_BACK: (_("before the rollback the run stopped{where}").format(where=where)
                            if f else ""),
        J.RUN_ROLLBACK_FAILED: _("the rollback failed{where}: the zone needs a hand").format(
            where=where),
        J.RUN_RUNNING: _("the run is still running (or its process is gone)"),
    }.get(r.state, r.state)


def gates_sentence(r: RunReport) -> str:
    approved = [g for g in r.gates if g.state == "approved"]
    if not r.gates:
        return _("no gates")
    if not approved:
        return ngettext("{n} gate, none approved", "{n} gates, none approved",
                        len(r.gates)).format(n=len(r.gates))
    who = sorted({g.operator for g in approved if g.operator})
    if who:
        return ngettext("{n} gate approved by {who}", "{n} gates approved by {who}",
                        len(approved)).format(n=len(approved), who=names(who))
    return ngettext("{n} gate approved (who not recorded)",
                    "{n} gates approved (who not recorded)", len(approved)).format(
                        n=len(approved))


def headline(r: RunReport) -> str:
    """The summary's sentence (see the module doc)."""
    parts = [nodes_sentence(r), state_sentence(r),
             ngettext("{n} unexpected finding", "{n} unexpected findings",
                      r.unexpected).format(n=r.unexpected), gates_sentence(r)]
    # TRANSLATORS: the separator of the summary's clauses, and its final stop
    return _("; ").join(p for p in parts if p) + _(".")


def gates_fact(r: RunReport) -> str:
    """The gates line of the summary: who approved them, and between which times."""
    times = sorted(g.approved for g in r.gates if g.approved is not None)
    if not times:
        return gates_sentence(r)
    span = fmt_clock(times[0]) if len(times) == 1 else \
        _("between {start} and {end}").format(start=fmt_clock(times[0]).removesuffix(" UTC"),
                                              end=fmt_clock(times[-1]))
    return f"{gates_sentence(r)}{_(', ')}{span}"
