"""What an operator decides at a gate, as data and text. Pure: no I/O.

The executor gathers a ``Gate`` when a gated step is reached (the file the step rewrites, as a
diff against what is on the host now; the read-only checks run again at that moment; the gated
command's own output when it only reads, such as R37's domain list) and hands it to the
approver, which needs nothing else: no journal, no connection.

``summary()`` is what every gate shows (terminal or not); ``details()`` adds every finding and
the full diff, for the ``d`` answer at a terminal.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field

from nodeswap.i18n import _, language, ngettext, retranslate, rule_title
from nodeswap.plan.model import Plan, Step

SUMMARY_DIFF_LINES = 40
SUMMARY_PREVIEW_LINES = 30


@dataclass(frozen=True)
class GateCheck:
    """A read-only check run again at the gate: its verdict and its findings."""

    step_id: str
    rule: str
    kind: str
    ok: bool
    findings: tuple[str, ...] = ()
    error: str = ""  # the check could not run (host unreachable, command failed)

    def verdict(self) -> str:
        if self.error:
            return _("COULD NOT RUN")
        return _("ok") if self.ok else _("FAILED")

    def notable(self) -> tuple[str, ...]:
        """The findings an operator must read: attention and unexpected, not ignored."""
        return tuple(f for f in self.findings if not f.startswith("[ignored]"))


@dataclass(frozen=True)
class Gate:
    """Everything shown for one gate. ``id`` is the gated step's id (``--approve ID``)."""

    run_id: str
    step: Step
    host: str
    address: str
    command: str  # redacted
    plan_sha256: str = ""
    diff: tuple[str, ...] = ()  # unified diff of the file the step writes (redacted)
    preview: str = ""  # output of the gated command when it only reads (R37: domains)
    checks: tuple[GateCheck, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def rule(self) -> str:
        return self.step.rule

    def failed_checks(self) -> tuple[GateCheck, ...]:
        return tuple(c for c in self.checks if not c.ok or c.error)

    def summary(self) -> str:
        return self._text(full=False)

    def details(self) -> str:
        return self._text(full=True)

    def _text(self, *, full: bool) -> str:
        s = self.step
        # in Chinese the rule's own title first (the step's title is the plan's, in English)
        title = s.title if language() == "en" \
            else f"{rule_title(s.rule)} ({retranslate(s.title)})"
        out = [_("GATE {id} ({rule}) on {host} ({address}): {title}").format(
                   id=s.id, rule=s.rule, host=self.host, address=self.address, title=title),
               "  " + _("run {run}").format(run=self.run_id)
               + (_(", plan sha256 {digest}").format(digest=self.plan_sha256)
                  if self.plan_sha256 else ""),
               "  " + _("command: {command}").format(command=self.command)]  # fmt: skip
        if self.diff:
            shown = self.diff if full else self.diff[:SUMMARY_DIFF_LINES]
            out.append("  " + _("change it makes:"))
            out += [f"    {ln}" for ln in shown]
            if len(shown) < len(self.diff):
                out.append("    ... " + _more(len(self.diff) - len(shown)))
        if self.preview:
            lines = self.preview.rstrip("\n").splitlines()
            shown_p = lines if full else lines[:SUMMARY_PREVIEW_LINES]
            out.append("  " + _("what the command sees now:"))
            out += [f"    {ln}" for ln in shown_p]
            if len(shown_p) < len(lines):
                out.append("    ... " + _more(len(lines) - len(shown_p)))
        if self.checks:
            out.append("  " + _("checks, run again now:"))
            for c in self.checks:
                items = c.findings if full else c.notable()
                ignored = len(c.findings) - len(c.notable())
                tail = (" " + _("({n} ignored differences)").format(n=ignored)
                        if ignored and not full else "")
                out.append(f"    {c.rule} {c.step_id}: {c.verdict()}{tail}")
                if c.error:
                    out.append(f"        {c.error}")
                out += [f"        {ln}" for f in items for ln in f.splitlines()]
        out += ["  " + _("note: {note}").format(note=n) for n in self.notes]
        return "\n".join(out) + "\n"


def _more(n: int) -> str:
    return ngettext("{n} more line (answer d)", "{n} more lines (answer d)", n).format(n=n)


def group_findings(text: str) -> tuple[str, ...]:
    """A check's findings, one per item: a line starting ``[class]`` begins a finding, the lines
    after it (the old and new text of a multi-line difference) belong to it."""
    items: list[str] = []
    for line in text.splitlines():
        if line.startswith("[") or not items:
            items.append(line)
        else:
            items[-1] += "\n" + line
    return tuple(items)


def written_path(step: Step) -> str | None:
    """The file a step writes through nodeswap's atomic pattern (``cat > P.nodeswap-tmp ...
    mv -f P.nodeswap-tmp P``), or None."""
    if step.stdin is None:
        return None
    try:
        words = shlex.split(step.command)
    except ValueError:
        return None
    for i, w in enumerate(words[:-2]):
        if w == "mv" and words[i + 1] == "-f" and i + 3 < len(words):
            src, dst = words[i + 2], words[i + 3]
            if src == dst + ".nodeswap-tmp":
                return dst
    return None


def file_diff(path: str, now: str, after: str, rule: str) -> tuple[str, ...]:
    """Unified diff of ``path``: as it is now on the host, and as the step leaves it."""
    lines = difflib.unified_diff(
        now.splitlines(), after.splitlines(), f"{path} (now)", f"{path} (after {rule})",
        lineterm="", n=1)
    return tuple(lines)


def node_of(plan: Plan, target: str) -> str | None:
    """The node a target belongs to (``proxy0-new`` -> ``proxy0``), None for shared hosts."""
    for name in plan.nodes:
        if target.startswith(name + "-"):
            return name
    return None


POST_SWITCH = ("R33", "R35", "R36")  # the checks of a switched node, at its old address


def rechecks(plan: Plan, gate: Step) -> list[Step]:
    """The read-only checks to run again when ``gate`` is shown, in plan order.

    At a node's switch gate (phase ``switch:N``): the comparison checks of N and the zone-wide
    ones (R27-R29), and the post-switch checks of nodes switched before it: R33's network
    files, live addresses and /etc sweeps (issue 10), R35, R36. At a later gate (R37's
    archive): every post-switch check. Checks of a node that has already moved away from the
    address they read are never re-run: R31's look at the new VM and the last look before an
    earlier node's R32 read it at its temporary address, and the old VM, both gone after its
    switch."""
    pos = plan.steps.index(gate)
    node = gate.phase.split(":", 1)[1] if gate.phase.startswith("switch:") else None
    chosen: list[Step] = []
    for s in plan.steps[:pos]:
        if s.analysis is None or s.side_effect:
            continue
        switched = (s.phase.startswith("switch:") and s.rule in POST_SWITCH
                    and not s.target.endswith("-new"))
        mine = s.phase == "check" and node is not None and node_of(plan, s.target) in (node, None)
        if switched or mine:
            chosen.append(s)
    return chosen

