"""An ``exec_nodes.sh`` run judged node by node, from its output (never its exit code). Pure.

exec_nodes.sh exits 1 when any node does not answer ping, and 0 when a remote command failed
(its status is lost in a pipe: reference/pitrix.md section 4). So a command sent through it
ends with a marker line (``done_marker``) printed only when every part of it succeeded, and
each node's block is read: the marker there means done; an ``Error: ... unreachable`` line,
an ssh failure or a missing marker means not done.

R34 forgets the switched node's stale host keys on every node: a node being upgraded must
have done it (*unexpected* otherwise: the run stops); any other node that did not (down,
unreachable) is *attention*: named in the report, with what to do once it is back.
"""

from __future__ import annotations

from collections.abc import Iterable

from nodeswap.i18n import _

from .findings import Difference
from .supervisor import ExecRun, NodeBlock

DONE_MARKER = "nodeswap-exec-done"


def done_marker() -> str:
    """The line a command sent through exec_nodes.sh prints last, when it all succeeded."""
    return DONE_MARKER


def _why_not(block: NodeBlock) -> str | None:
    """None when the node's block shows the command done; else what the block says."""
    lines = [ln.strip() for ln in block.output.splitlines() if ln.strip()]
    if DONE_MARKER in lines:
        return None
    said = next((ln for ln in lines if ln.startswith("Error")), None) or \
        next((ln for ln in lines if ln.startswith("ssh:") or "Permission denied" in ln
              or "verification failed" in ln), None)
    if said is not None:
        return said
    return "the command did not finish there (no end marker): " + (
        lines[-1] if lines else "no output")


def check_run(run: ExecRun, *, required: Iterable[str], rule: str, what: str,
              remedy: str) -> list[Difference]:
    """Findings of one exec_nodes.sh run: ``required`` nodes must have done it (and must be
    among its targets); any other target that did not is *attention* (``what`` it missed,
    ``remedy`` once it is back)."""
    must = tuple(required)
    out: list[Difference] = [
        Difference("exec_nodes", None, e, None, None, "unexpected", rule,
                   _("exec_nodes.sh refused a target")) for e in run.errors]
    if not run.done:
        out.append(Difference("exec_nodes", None, None, None, None, "unexpected", rule,
                              _("exec_nodes.sh output has no final `Done.`: the run did "
                                "not finish")))
    targets = list(run.targets)
    targets += [n for n in must if n not in targets]
    for node in targets:
        block = run.block(node)
        why = f"no `Execing [{node}]` block" if block is None else _why_not(block)
        if why is None:
            continue
        line = block.line if block is not None else None
        if node in must:
            out.append(Difference(f"exec_nodes {node}", None, why, None, line, "unexpected",
                                  rule, _("{node} is being upgraded and did not {what}")
                                  .format(node=node, what=what)))
        else:
            out.append(Difference(f"exec_nodes {node}", None, why, None, line, "attention",
                                  rule, _("{node} did not {what} (not being upgraded: the "
                                          "run goes on); once it answers again: {remedy}")
                                  .format(node=node, what=what, remedy=remedy)))
    return out
