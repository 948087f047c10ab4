"""Platform services: ``supervisorctl status`` and ``exec_nodes.sh ... "supervisorctl status"``
output parsed and judged (R29 before the switch, R35 after). Pure.

Owns ``parse_status`` (one node's ``supervisorctl status`` → ``Status``), ``parse_exec_nodes``
(firstbox's ``/pitrix/upgrade/exec_nodes.sh -f <targets> "<cmd>"`` output → per-node blocks)
and ``check`` / ``check_exec`` (→ ``Difference`` findings). Must not do I/O.

The check passes when every program is RUNNING and the set of programs equals the old
node's. exec_nodes.sh's exit status is never trusted (it reports a node OK even when the
remote command failed, reference/pitrix.md §4): only the parsed output counts, so a node
with no ``Execing [...]`` block, a block that is not status lines, or a run without the
final ``Done.`` is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nodeswap.i18n import _

from .findings import Difference

STATES = frozenset(
    {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"}
)
_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)(?:\s+(?P<detail>.*?))?\s*$")
_PID = re.compile(r"\bpid (?P<pid>\d+)")
_UPTIME = re.compile(r"\buptime (?P<uptime>[\d:]+(?: days?,\s*[\d:]+)?|\d+ days?, [\d:]+)")
_EXECING = re.compile(r"^Execing \[(?P<node>[^\]]+)\] with \[(?P<cmd>.*)\] \.\.\.\s*$")
_NODES = re.compile(r"^Nodes:\s*\[\s*(?P<nodes>[^\]]*?)\s*\]\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class Program:
    """One line of ``supervisorctl status``."""

    name: str
    state: str
    detail: str
    line: int

    @property
    def pid(self) -> int | None:
        m = _PID.search(self.detail)
        return int(m.group("pid")) if m else None

    @property
    def uptime(self) -> str | None:
        m = _UPTIME.search(self.detail)
        return m.group("uptime") if m else None

    @property
    def text(self) -> str:
        return f"{self.name} {self.state} {self.detail}".strip()


@dataclass(frozen=True)
class Status:
    """A node's programs, and the lines that were not status lines (errors of supervisorctl)."""

    programs: tuple[Program, ...]
    unparsed: tuple[tuple[int, str], ...] = ()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.programs)

    def program(self, name: str) -> Program | None:
        return next((p for p in self.programs if p.name == name), None)


@dataclass(frozen=True)
class NodeBlock:
    """One node's part of an exec_nodes.sh run."""

    node: str
    command: str
    line: int
    output: str


@dataclass(frozen=True)
class ExecRun:
    """exec_nodes.sh output: header lines, per-node blocks in order, whether ``Done.`` came."""

    header: tuple[str, ...]
    blocks: tuple[NodeBlock, ...]
    done: bool

    def block(self, node: str) -> NodeBlock | None:
        return next((b for b in self.blocks if b.node == node), None)

    @property
    def targets(self) -> tuple[str, ...]:
        """The nodes the header lists (``Nodes: [ a b ]``), empty when it lists none."""
        for line in self.header:
            m = _NODES.match(line)
            if m:
                return tuple(m.group("nodes").split())
        return ()

    @property
    def errors(self) -> tuple[str, ...]:
        """Header lines that are errors (``Error: the settings file of node [x] ...``)."""
        return tuple(line for line in self.header if line.startswith("Error"))


def parse_status(text: str, first_line: int = 1) -> Status:
    """Parse ``supervisorctl status`` output; lines that are not status lines are kept apart."""
    programs: list[Program] = []
    unparsed: list[tuple[int, str]] = []
    for number, raw in enumerate(_ANSI.sub("", text).splitlines(), start=first_line):
        if not raw.strip():
            continue
        m = _LINE.match(raw.strip())
        if m and m.group("state") in STATES:
            programs.append(Program(m.group("name"), m.group("state"),
                                    m.group("detail") or "", number))
        else:
            unparsed.append((number, raw.strip()))
    return Status(tuple(programs), tuple(unparsed))


def parse_exec_nodes(text: str) -> ExecRun:
    """Split exec_nodes.sh output into header, ``Execing [<node>] with [<cmd>] ...`` blocks
    and the final ``Done.`` (reference/pitrix.md §4)."""
    header: list[str] = []
    blocks: list[NodeBlock] = []
    current: tuple[str, str, int] | None = None
    body: list[str] = []
    done = False
    for number, raw in enumerate(_ANSI.sub("", text).splitlines(), start=1):
        m = _EXECING.match(raw.strip())
        if m or raw.strip() == "Done.":
            if current is not None:
                blocks.append(NodeBlock(current[0], current[1], current[2], "\n".join(body)))
            current, body = None, []
            if m:
                current = (m.group("node"), m.group("cmd"), number)
            else:
                done = True
            continue
        if current is None:
            if raw.strip():
                header.append(raw.strip())
        else:
            body.append(raw)
    if current is not None:
        blocks.append(NodeBlock(current[0], current[1], current[2], "\n".join(body)))
    return ExecRun(tuple(header), tuple(blocks), done)


def check(status: Status, old: Status | None = None, *, node: str = "", rule: str = "R29"
          ) -> list[Difference]:
    """Findings for one node: every program RUNNING, same program set as the old node."""
    section = f"supervisor {node}".strip()
    out: list[Difference] = []
    for number, text in status.unparsed:
        reason = (
            _("exec_nodes.sh could not run the command there") if text.startswith("Error")
            else _("supervisorctl said something that is not a status line (is supervisord "
                   "running?)")
        )
        out.append(_finding(section, rule, reason, text=text, line=number))
    if not status.programs and not status.unparsed:
        out.append(_finding(section, rule, _("no program listed: supervisord has no programs")))
    for p in status.programs:
        if p.state != "RUNNING":
            out.append(_finding(section, rule, _("program {name} is {state}, not RUNNING").format(
                name=p.name, state=p.state),
                                new=p))
    if old is not None:
        out.extend(_set_findings(section, status, old, rule))
    return out


def _set_findings(section: str, status: Status, old: Status, rule: str) -> list[Difference]:
    out: list[Difference] = []
    for name in sorted(old.names - status.names):
        o = old.program(name)
        assert o is not None
        out.append(_finding(section, rule,
                            _("program {name} runs on the old node but is missing here").format(
                                name=name), old=o))
    for name in sorted(status.names - old.names):
        n = status.program(name)
        assert n is not None
        out.append(_finding(section, rule,
                            _("program {name} is not on the old node").format(name=name), new=n))
    return out


def check_exec(
    run: ExecRun,
    old: ExecRun | None = None,
    *,
    nodes: Iterable[str] = (),
    rule: str = "R29",
) -> list[Difference]:
    """Findings for an exec_nodes.sh "supervisorctl status" run, node by node.

    ``nodes``: the nodes that must appear (each needs a block); default: those the header
    lists. ``old``: an earlier run whose per-node program sets are the reference.
    """
    out: list[Difference] = []
    nodes = tuple(nodes) or run.targets
    out.extend(_finding("exec_nodes", rule, _("exec_nodes.sh refused a target"), text=e)
               for e in run.errors)
    if not run.done:
        out.append(_finding("exec_nodes", rule,
                            _("exec_nodes.sh output has no final `Done.`: the run did not finish")))
    for node in nodes:
        if run.block(node) is None:
            out.append(_finding(f"supervisor {node}", rule,
                                _("no `Execing [{node}]` block: exec_nodes.sh did not run the "
                                  "command there (settings file missing or no ping answer?)"
                                  ).format(node=node)))
    for block in run.blocks:
        status = parse_status(block.output, first_line=block.line + 1)
        ref = old.block(block.node) if old is not None else None
        ref_status = parse_status(ref.output, ref.line + 1) if ref is not None else None
        out.extend(check(status, ref_status, node=block.node, rule=rule))
    return out


def _finding(
    section: str,
    rule: str,
    reason: str,
    *,
    old: Program | None = None,
    new: Program | None = None,
    text: str | None = None,
    line: int | None = None,
) -> Difference:
    """An unexpected finding; ``text``/``line`` describe the new side when no program does."""
    return Difference(
        section,
        old.text if old else None,
        new.text if new else text,
        old.line if old else None,
        new.line if new else line,
        "unexpected",
        rule,
        reason,
    )
