"""The report of one run as a value: ``build_report`` turns ``RunRecords`` into a ``RunReport``
(frozen dataclasses): what the run did, step by step, node by node, with the R27/R28 diffs and
the service status (R29/R35), the sessions, gates and settings changes (story.py); the
summary's sentence is headline.py's. Pure.

The R27/R28 and R29/R35 findings are recomputed with ``nodeswap.checks.analyze`` from the
recorded outputs (a step's own output vs the output of ``analysis.against``), so the report
shows structured findings, not the executor's verdict text. The report never shows a step's
stdin: of the plan's settings texts it shows the keys that differ between a node's old and new
file (R30), a value whose key names a secret masked.
Must not: read the journal (records.py does), render text (markdown.py, html.py), print.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from nodeswap.checks import analyze
from nodeswap.checks.findings import Difference
from nodeswap.checks.supervisor import parse_exec_nodes, parse_status
from nodeswap.errors import InputError, SettingsError
from nodeswap.plan.model import Plan, Step, gathered
from nodeswap.run import journal as J
from nodeswap.runbooks.commands import parse_tree_digest
from nodeswap.zone.settings import SettingsFile

from . import story
from .downtime import Downtime
from .downtime import build as build_downtime
from .formatting import fmt_duration, fmt_exit
from .records import RunRecords, backup_attempt, last_attempt, last_complete_run
from .story import GateLine, SessionLine, SettingChange

TAIL_LINES = 40
DIFF_KINDS = ("haproxy", "rc")
SERVICE_KINDS = ("supervisor", "supervisor_exec")
# How a journal step state reads in the report.
OUTCOMES = {
    J.PENDING: "not run", J.RUNNING: "running", J.DONE: "done", J.SKIPPED: "skipped",
    J.FAILED: "failed", J.GATE: "at gate", J.INTERRUPTED: "interrupted", J.UNDONE: "undone",
    J.UNDO_FAILED: "undo failed",
}  # fmt: skip
# The order of the step counts in the summary.
COUNT_ORDER = ("done", "skipped", "undone", "undo failed", "failed", "interrupted", "at gate",
               "running", "not run")
CLASS_ORDER = {"unexpected": 0, "attention": 1, "ignored": 2}


# ---- the report as a value -------------------------------------------------------------------
@dataclass(frozen=True)
class StepLine:
    position: int  # 1-based
    step_id: str
    phase: str
    rule: str
    target: str
    address: str
    title: str
    outcome: str
    duration: float | None
    exit_status: int | None
    attempts: int  # run attempts
    gate: bool
    note: str


@dataclass(frozen=True)
class PhaseLines:
    name: str
    steps: tuple[StepLine, ...]

    @property
    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.outcome] = counts.get(s.outcome, 0) + 1
        return ", ".join(f"{n} {o}" for o, n in counts.items())


@dataclass(frozen=True)
class NodeLine:
    """One replaced node, before and after."""

    name: str
    status: str
    old_address: str
    temp_address: str
    final_address: str
    old_host: str
    new_host: str
    old_os: str
    new_os: str
    new_key: str | None  # SHA256 fingerprint of the pinned key of the new VM
    old_key: str | None  # the old node's, when the journal recorded it (schema 4: seen_keys)
    replaced: bool = False  # the new VM serves at the node's address now
    settings: tuple[SettingChange, ...] = ()  # old vs new settings file (R30), secrets masked

    @property
    def os_now(self) -> str:
        """The OS that serves at the node's address now."""
        return self.new_os if self.replaced else self.old_os


@dataclass(frozen=True)
class Program:
    node: str
    name: str
    state: str
    detail: str


@dataclass(frozen=True)
class CheckLine:
    """One analysis step: what it compared and what it found (recomputed from outputs)."""

    step_id: str
    rule: str
    kind: str
    node: str
    subject: str  # haproxy.cfg, rc.local, supervisor, ...
    against: str | None
    state: str  # compared | not run | no reference | unreadable
    findings: tuple[Difference, ...]
    programs: tuple[Program, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "compared" and not any(
            d.klass == "unexpected" for d in self.findings)

    def count(self, klass: str) -> int:
        return sum(1 for d in self.findings if d.klass == klass)


@dataclass(frozen=True)
class Failure:
    """The step that stopped the run, with its last attempt's output tail."""

    step: StepLine
    kind: str
    command: str
    exit_status: int | None
    error: str | None
    stdout_tail: str
    stderr_tail: str


@dataclass(frozen=True)
class Backup:
    """The R6 backup as its step's passed check or verify printed it (path and digest: the
    sha256 of the sorted per-file checksums, ``runbooks.commands.same_tree_digest``)."""

    step_id: str
    host: str
    path: str
    sha256: str


@dataclass(frozen=True)
class RunReport:
    run_id: str
    zone: str
    operator: str
    role: str
    installer_version: str
    target_os: str
    state: str
    message: str | None
    started: float
    ended: float | None
    plan_fingerprint: str
    phases: tuple[PhaseLines, ...]
    nodes: tuple[NodeLine, ...]
    diffs: tuple[CheckLine, ...]
    services: tuple[CheckLine, ...]
    other_checks: tuple[CheckLine, ...]
    failure: Failure | None
    warnings: tuple[str, ...]
    backups: tuple[Backup, ...]
    zone_ids: tuple[str, ...] = ()
    sessions: tuple[SessionLine, ...] = ()
    gates: tuple[GateLine, ...] = ()
    span: tuple[float, float] = (0.0, 0.0)  # the time line: first session start, last end
    downtime: Downtime | None = None  # the console probe's (issue 10)

    @property
    def steps(self) -> tuple[StepLine, ...]:
        return tuple(s for p in self.phases for s in p.steps)

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started

    @property
    def attention(self) -> tuple[tuple[CheckLine, Difference], ...]:
        """Every *attention* finding (the hand edits R27 asks for), with its check."""
        return tuple((c, d) for c in self.diffs + self.services + self.other_checks
                     for d in c.findings if d.klass == "attention")

    @property
    def unexpected(self) -> int:
        return self.findings("unexpected")

    def findings(self, klass: str) -> int:
        return sum(c.count(klass) for c in self.diffs + self.services + self.other_checks)

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.steps if s.outcome == outcome)

    @property
    def outcome_counts(self) -> tuple[tuple[str, int], ...]:
        """Every step outcome that occurs, in a fixed order, with its count (a rolled-back
        run's undone steps included)."""
        seen = [s.outcome for s in self.steps]
        order = [o for o in COUNT_ORDER if o in seen]
        order += sorted({o for o in seen if o not in order})
        return tuple((o, seen.count(o)) for o in order)


# ---- building it -----------------------------------------------------------------------------
def build_report(rec: RunRecords) -> RunReport:
    """The report of ``rec``'s run. Pure."""
    plan, run = rec.plan, rec.run
    states = {s.step_id: s.state for s in rec.steps}
    lines = [_step_line(i, s, plan, states.get(s.id, J.PENDING), rec.attempts)
             for i, s in enumerate(plan.steps, start=1)]
    phases: list[PhaseLines] = []
    for line in lines:  # consecutive steps of one phase form a group (plan order kept)
        if phases and phases[-1].name == line.phase:
            phases[-1] = PhaseLines(line.phase, (*phases[-1].steps, line))
        else:
            phases.append(PhaseLines(line.phase, (line,)))
    checks = [_check_line(s, plan, states.get(s.id, J.PENDING), rec) for s in plan.steps
              if s.analysis is not None]
    session_lines, start, end = story.sessions(rec, run.started, run.ended)
    return RunReport(
        run_id=run.id, zone=run.zone, operator=run.operator, role=plan.role,
        installer_version=plan.installer_version, target_os=" ".join(plan.target_os),
        state=run.state, message=run.message, started=run.started, ended=run.ended,
        plan_fingerprint=run.plan_fingerprint, phases=tuple(phases),
        nodes=tuple(_node_line(n, plan, states, rec) for n in plan.nodes),
        diffs=tuple(c for c in checks if c.kind in DIFF_KINDS),
        services=tuple(c for c in checks if c.kind in SERVICE_KINDS),
        other_checks=tuple(c for c in checks if c.kind not in DIFF_KINDS + SERVICE_KINDS),
        failure=_failure(lines, rec), warnings=plan.warnings, backups=_backups(rec),
        zone_ids=plan.zone.zone_ids if plan.zone is not None and plan.zone.zone_ids
        else (run.zone,),
        sessions=session_lines, gates=story.gates(rec, states, start, end), span=(start, end),
        downtime=build_downtime(rec),
    )  # fmt: skip


def _step_line(pos: int, step: Step, plan: Plan, state: str,
               attempts: Sequence[J.AttemptRecord]) -> StepLine:
    mine = [a for a in attempts if a.step_id == step.id]
    runs = [a for a in mine if a.kind == "run"]
    spent = [a.ended - a.started for a in mine if a.kind != "undo" and a.ended is not None]
    target = plan.targets.get(step.target)
    return StepLine(
        position=pos, step_id=step.id, phase=step.phase, rule=step.rule, target=step.target,
        address=target.address if target else "?", title=step.title,
        outcome=OUTCOMES.get(state, state), duration=sum(spent) if spent else None,
        exit_status=runs[-1].exit_status if runs else None, attempts=len(runs),
        gate=step.gate, note=_step_note(step, state, mine),
    )  # fmt: skip


def _step_note(step: Step, state: str, mine: Sequence[J.AttemptRecord]) -> str:
    notes: list[str] = []
    if step.gate:
        notes.append("gate")
    if state == J.SKIPPED:
        notes.append("check said already done")
    runs = [a for a in mine if a.kind == "run"]
    if runs and runs[-1].ended is None:
        notes.append("cut: started, no end recorded")
    marks = [a for a in mine if a.kind == "mark_done"]  # resume --mark-done STEP --reason
    if marks:
        notes.append(f"marked done by {marks[-1].host}: {marks[-1].command}")
    elif runs and runs[-1].timed_out:
        notes.append(f"timed out after {step.timeout:g} s")
    last = mine[-1] if mine else None
    if last is not None and last.kind == "verify" and last.outcome != "ok":
        notes.append("verify failed")
    if last is not None and last.error and state in (J.FAILED, J.INTERRUPTED, J.UNDO_FAILED):
        notes.append(last.error.splitlines()[0])
    verdicts = [a for a in mine if a.kind == "analysis" and a.ended is not None]
    if verdicts and step.analysis is not None:
        ok = verdicts[-1].outcome == "ok"
        notes.append(f"{step.analysis.kind} check: {'ok' if ok else 'findings'}")
    undos = [a for a in mine if a.kind == "undo" and a.ended is not None]
    if undos:
        u = undos[-1]
        spent = fmt_duration(u.ended - u.started if u.ended is not None else None)
        notes.append(f"undo: exit status {fmt_exit(u.exit_status)} in {spent}")
    return "; ".join(notes)


def _backups(rec: RunRecords) -> tuple[Backup, ...]:
    """The backup R6 made or found, when a passed check or verify recorded its digest (a
    journal of an older nodeswap, whose R6 printed none, shows no backup)."""
    a = backup_attempt(rec.attempts)
    seen = None if a is None else parse_tree_digest(rec.outputs.get(a.id, ("", ""))[0])
    if a is None or seen is None:
        return ()
    step = next((s for s in rec.plan.steps if s.id == a.step_id), None)
    host = step.target if step is not None else a.host
    return (Backup(a.step_id, host, *seen),)


def _options(step: Step) -> dict[str, str]:
    return dict(step.analysis.options) if step.analysis is not None else {}


def _subject(step: Step) -> str:
    a = step.analysis
    assert a is not None
    opts = dict(a.options)
    return {"haproxy": "haproxy.cfg", "rc": opts.get("file", "rc.local"),
            "supervisor": "supervisorctl status",
            "supervisor_exec": "exec_nodes.sh supervisorctl status"}.get(a.kind, a.kind)


def _output(rec: RunRecords, step_id: str | None) -> str | None:
    a = last_complete_run(rec.attempts, step_id) if step_id else None
    if a is None or a.id not in rec.outputs:
        return None
    return rec.outputs[a.id][0]


def _check_line(step: Step, plan: Plan, state: str, rec: RunRecords) -> CheckLine:
    a = step.analysis
    assert a is not None
    opts = _options(step)
    base = CheckLine(step.id, step.rule, a.kind, opts.get("node", ""), _subject(step),
                     a.against, "not run", ())
    output = _output(rec, step.id)
    reference = _output(rec, a.against)
    if gathered(step):  # several hosts' outputs by label, as the executor built it (R32)
        outputs = {label: _output(rec, sid) for label, sid in gathered(step).items()}
        reference = json.dumps(outputs, sort_keys=True) \
            if all(o is not None for o in outputs.values()) else None
        if reference is None and output is not None:
            return replace(base, state="no reference", note="no output recorded of "
                           + ", ".join(sorted(sid for label, sid in gathered(step).items()
                                              if outputs[label] is None)))
    if output is None:
        ran = any(x.step_id == step.id and x.kind == "run" for x in rec.attempts)
        return replace(base, note="its run was cut or failed: nothing to compare") if ran \
            else base
    if a.against is not None and reference is None:
        return replace(base, state="no reference",
                        note=f"no output of {a.against} recorded to compare with")
    try:
        found = analyze(a.kind, output, reference, opts).findings
    except InputError as exc:
        return replace(base, state="unreadable", note=str(exc))
    ordered = tuple(sorted(found, key=lambda d: CLASS_ORDER.get(d.klass, 9)))
    return replace(base, state="compared", findings=ordered,
                    programs=_programs(a.kind, output, opts))


def _programs(kind: str, output: str, opts: Mapping[str, str]) -> tuple[Program, ...]:
    """The parsed supervisorctl lines (R29/R35), node by node."""
    if kind == "supervisor":
        node = opts.get("node", "")
        return tuple(Program(node, p.name, p.state, p.detail)
                     for p in parse_status(output).programs)
    if kind == "supervisor_exec":
        return tuple(Program(b.node, p.name, p.state, p.detail)
                     for b in parse_exec_nodes(output).blocks
                     for p in parse_status(b.output).programs)
    return ()


def _os_of(text: str) -> str:
    try:
        s = SettingsFile.from_text(text)
    except SettingsError:
        return "?"
    return " ".join(v for v in (s.get("os_name"), s.get("os_version")) if v) or "?"


def _host(plan: Plan, address: str) -> str:
    names = [t.name for t in plan.targets.values()
             if t.address == address and t.name != "firstbox"]
    return f"{names[0]} ({address})" if names else address


def _node_line(name: str, plan: Plan, states: Mapping[str, str], rec: RunRecords) -> NodeLine:
    n = plan.nodes[name]

    def finished(pred: Callable[[Step], bool]) -> bool:
        mine = [s for s in plan.steps if pred(s)]
        return bool(mine) and all(states.get(s.id) in (J.DONE, J.SKIPPED) for s in mine)

    def started(pred: Callable[[Step], bool]) -> bool:
        return any(states.get(s.id, J.PENDING) != J.PENDING for s in plan.steps if pred(s))

    switched = finished(lambda s: s.phase == f"switch:{name}")
    archived = finished(lambda s: s.phase == "archive" and s.id.endswith(f"-{name}"))
    if rec.run.state == J.RUN_ROLLED_BACK:
        status, final = "rolled back: the old node serves", n.old_address
    elif archived:
        status, final = "replaced; old VM archived (R37)", n.old_address
    elif switched:
        status, final = "switched; old VM kept", n.old_address
    elif started(lambda s: s.phase == f"switch:{name}"):
        status, final = "switch stopped midway (see the failed step)", n.old_address
    elif started(lambda s: s.target in (f"{name}-new", f"{name}-switched")
                 or (s.phase == "launch" and s.id.endswith(f"-{name}"))):
        status, final = "not switched: the old node serves; new VM at the temporary address", \
            n.old_address
    else:
        status, final = "not replaced", n.old_address
    return NodeLine(
        name=name, status=status, old_address=n.old_address, temp_address=n.temp_address,
        final_address=final, old_host=_host(plan, n.old_physical_host),
        new_host=_host(plan, n.physical_host), old_os=_os_of(n.old_settings),
        new_os=_os_of(n.settings),
        new_key=_key_of(plan, rec.pinned_keys, f"{name}-new"),
        old_key=_key_of(plan, rec.seen_keys, f"{name}-old"),
        replaced=switched and rec.run.state != J.RUN_ROLLED_BACK,
        settings=story.settings_changes(n.old_settings, n.settings),
    )  # fmt: skip


def _key_of(plan: Plan, pinned: Mapping[str, str], target: str) -> str | None:
    t = plan.targets.get(target)
    key = pinned.get(t.key_id if t is not None else target)
    return None if key is None else fingerprint(key)


def fingerprint(public_key: str) -> str:
    """OpenSSH's SHA256 fingerprint (``ssh-keygen -lf``) of a ``TYPE BASE64 [comment]`` line,
    followed by the key type."""
    parts = public_key.split()
    if len(parts) < 2:
        return f"unreadable key {public_key[:40]!r}"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return f"unreadable key {parts[1][:40]!r}"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest} ({parts[0]})"


def _tail(text: str, n: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-n:])


def _failure(lines: Sequence[StepLine], rec: RunRecords) -> Failure | None:
    if rec.run.state == J.RUN_DONE:
        return None
    bad = [s for s in lines if s.outcome in ("failed", "undo failed", "interrupted")]
    if not bad:
        return None
    step = bad[-1]
    a = last_attempt(rec.attempts, step.step_id, ("check", "run", "verify", "analysis", "undo"))
    if a is None:
        return Failure(step, "", "", None, None, "", "")
    out, err = rec.outputs.get(a.id, ("", ""))
    return Failure(step, a.kind, a.command, a.exit_status, a.error, _tail(out), _tail(err))
