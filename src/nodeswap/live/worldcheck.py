"""Resume re-checks the world (issue 14).

A run records the zone's fingerprint in the journal (``zone_marks``): the settings folder (the
sha256 of each file), the installer version and the zone variables, read on firstbox exactly
as planning reads them (``Snapshot.state_fingerprint``), at the start of the run and after
every side-effect step (and every undo) on firstbox: one extra read-only command each.

Before ``resume`` or ``rollback`` runs anything, ``recheck`` reads the live fingerprint and
compares it with the last one the run recorded. A difference is explained, and the run goes
on, only when it is

- the intended result of a step cut after the last record (killed, lost connection): a step
  that writes a settings file (the plan holds the file's full text) may have left it with its
  new text; that file holding exactly that text is what the step's check (sha256) accepts;
- a journaled revert: the undo of such a step, cut, may have put back the text recorded
  before the step ran (rollback records after every undo it finishes; a future switch
  dead-man journals its revert the same way, as an ``Effect``).

Anything else (a hand edit, another run that upgraded the zone, an installer upgrade) is
refused with exit 2 before any step runs, naming the settings files (and the keys that
differ, never their values), the version and the variables that changed. Only a person can
judge those: ``--accept-zone-change`` records the live fingerprint with who and when (shown
by ``status``) and goes on.

The comparison (``compare``, ``effects_since``, ``against_plan``) is pure; ``ZoneMarks`` and
``recheck`` do the reading and the recording.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodeswap.errors import InputError, NodeswapError, Problem, ZoneError
from nodeswap.i18n import _
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.plan.planfile import FINGERPRINT_KIND
from nodeswap.run import journal as J
from nodeswap.run.deadman import maybe_armed
from nodeswap.run.events import EventSink, Notice, discard
from nodeswap.run.hints import Hints
from nodeswap.run.journal import AttemptRecord, Journal, ZoneMark
from nodeswap.shell import cmd
from nodeswap.zone.facts import (
    SETTINGS_DIR,
    VARIABLE_FILES,
    VARIABLES_DIR,
    VERSION_JSON,
    parse_settings_tar,
    parse_version_json,
)
from nodeswap.zone.snapshot import Snapshot, variables_of

READ_TIMEOUT = 120.0
KIND_START, KIND_RUN, KIND_UNDO, KIND_ACCEPTED = "start", "run", "undo", "accepted"


# ---- the state ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZoneState:
    """What the fingerprint covers, kept per part so a difference can be named."""

    settings: Mapping[str, str]  # settings file name -> sha256 of its text
    installer_version: str
    variables: Mapping[str, str]
    fingerprint: str  # planning's Snapshot.state_fingerprint of the same data

    @classmethod
    def of(cls, settings: Mapping[str, str], installer_version: str,
           variables: Mapping[str, str]) -> ZoneState:  # fmt: skip
        """From the settings texts (by file name), the version and the variables."""
        snap = Snapshot(firstbox="", settings=settings, installer_version=installer_version,
                        variables=variables, kernels=(), repos=(), old_nodes={}, vip=None,
                        capacity={})  # fmt: skip
        return cls({n: sha(t) for n, t in sorted(settings.items())}, installer_version,
                   dict(sorted(variables.items())), snap.state_fingerprint())

    def to_dict(self) -> dict[str, Any]:
        return {"settings": dict(self.settings), "installer_version": self.installer_version,
                "variables": dict(self.variables)}  # fmt: skip

    @classmethod
    def from_mark(cls, mark: ZoneMark) -> ZoneState:
        s = mark.state
        return cls(dict(s["settings"]), str(s["installer_version"]), dict(s["variables"]),
                   mark.fingerprint)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---- reading it on firstbox (one read-only command) -----------------------------------------
def read_command() -> str:
    """One read-only command printing ``settings``, ``version``, ``yaml`` (when there) and
    ``files`` lines, each part base64 (the settings folder as discover reads it: a tar)."""
    yaml = f"{VARIABLES_DIR}/variables.yaml"
    script = " && ".join([
        "set -o pipefail",
        "printf 'settings '", f"{cmd('tar', '-C', SETTINGS_DIR, '-cf', '-', '.')} | base64 -w 0",
        "echo", "printf 'version '", f"base64 -w 0 < {cmd(VERSION_JSON)}", "echo",
        f"{{ ! {cmd('test', '-e', yaml)} || {{ printf 'yaml '; base64 -w 0 < {cmd(yaml)}"
        " && echo; }; }",
        "printf 'files '", f"( {VARIABLE_FILES} ) | base64 -w 0", "echo",
    ])
    return cmd("bash", "-c", script)


def parse_read(out: str) -> tuple[ZoneState, dict[str, str]]:
    """(the state, the settings texts by file name) from ``read_command``'s output."""
    raw = dict(line.partition(" ")[::2] for line in out.splitlines() if line.strip())

    def text(key: str) -> str:
        return base64.b64decode(raw[key].strip()).decode("utf-8", errors="replace")

    try:
        settings = parse_settings_tar(raw["settings"])
        version = parse_version_json(text("version"))
        part = {"settings": settings, "version": version,
                "variables_yaml": text("yaml") if "yaml" in raw else None,
                "variable_files": text("files") if "files" in raw else ""}  # fmt: skip
    except (KeyError, ValueError, binascii.Error, tarfile.TarError) as exc:
        raise ZoneError(_("firstbox: cannot read the zone's fingerprint ({exc})").format(
            exc=exc)) from exc
    try:
        variables = variables_of(part)
    except NodeswapError:  # settings that no longer make a zone: the common variables only
        variables = variables_of(part, _NO_ZONE)  # type: ignore[arg-type]
    return ZoneState.of(settings, version, variables), settings


@dataclass(frozen=True)
class _NoZone:
    zone_ids: tuple[str, ...] = ()
    region_zone_ids: tuple[str, ...] = ()


_NO_ZONE = _NoZone()


async def read_state(connector: Any, fb: Target) -> tuple[ZoneState, dict[str, str]]:
    """The live state, read on firstbox through ``connector`` (one command)."""
    t = await connector.transport(fb)
    res = await t.run(read_command(), timeout=READ_TIMEOUT)
    if res.exit_status != 0:
        raise ZoneError(_("{host} ({address}): cannot read the zone's fingerprint: exit "
                          "{status}: {output}").format(host=fb.name, address=fb.address,
                                                       status=res.exit_status,
                                                       output=res.tail(5)))
    return parse_read(res.stdout)


# ---- which steps record it ------------------------------------------------------------------
def is_live(plan: Plan) -> bool:
    """Only a plan made live on a zone has a zone fingerprint to keep (not offline or
    hand-made plans: their firstbox may have no settings folder at all)."""
    return plan.fingerprint_kind == FINGERPRINT_KIND and firstbox(plan) is not None


def firstbox(plan: Plan) -> Target | None:
    return plan.firstbox


def records_after(plan: Plan, step: Step, kind: str) -> bool:
    """Whether the zone's fingerprint is read after this step (``kind`` run) or its undo:
    every side effect on firstbox (settings writes, builds, launches, known_hosts)."""
    fb = firstbox(plan)
    if fb is None or not step.side_effect:
        return False
    where = step.target if kind == KIND_RUN else (step.undo_target or step.target)
    return where == fb.name and (kind == KIND_RUN or step.undo is not None)


def settings_file(step: Step) -> str | None:
    """The settings file (its name in the settings folder) a step writes with a text the
    plan holds, or None."""
    from nodeswap.run.gates import written_path  # noqa: PLC0415 (gates imports the executor side)

    path = written_path(step)
    prefix = SETTINGS_DIR.rstrip("/") + "/"
    if path is None or not path.startswith(prefix) or "/" in path[len(prefix):]:
        return None
    return path[len(prefix):]


# ---- the pure comparison --------------------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    """A settings file may hold this text (sha256) without anyone having to judge it."""

    file: str
    sha: str | None  # None: the file may be absent
    why: str


@dataclass(frozen=True)
class Difference:
    part: str  # "settings/NAME", "installer_version", "variables.NAME", "zone"
    what: str
    explained: str | None = None  # why it is expected: None, refused


def effects_since(plan: Plan, attempts: Sequence[AttemptRecord], marks: Sequence[ZoneMark],
                  after: int) -> list[Effect]:  # fmt: skip
    """What the steps (and undos) begun after attempt ``after`` may have done to the settings
    files without a record since: a settings write its planned text; an undo the text recorded
    before the step's run (the journaled revert)."""
    out: list[Effect] = []
    for a in attempts:
        if a.id <= after or a.kind not in (KIND_RUN, KIND_UNDO):
            continue
        try:
            step = plan.step(a.step_id)
        except KeyError:
            continue
        name = settings_file(step)
        if name is None or not records_after(plan, step, a.kind) or step.stdin is None:
            continue
        if a.kind == KIND_RUN:
            out.append(Effect(name, sha(step.stdin), _(
                "step {step} ({rule}) was cut after writing it: its check says it took effect"
            ).format(step=step.id, rule=step.rule)))
            continue
        ran = [r.id for r in attempts if r.step_id == step.id and r.kind == KIND_RUN
               and r.id < a.id]  # fmt: skip
        before = [m for m in marks if ran and m.after_attempt < ran[-1]]
        if before:
            out.append(Effect(name, before[-1].state["settings"].get(name),
                              _("the undo of step {step} ({rule}) was cut after putting back "
                                "the text it had before").format(step=step.id, rule=step.rule)))
    return out


def deadman_effects(journal: Journal, run_id: str) -> list[Effect]:
    """A node whose dead-man may be armed (its arm step ran, its disarm did not) may have
    been reverted by it: its settings file back at the text it had before the upgrade."""
    plan = journal.run(run_id).plan()
    return [Effect(node, sha(plan.nodes[node].old_settings),
                   f"the dead-man of {node} may have fired on firstbox and restored it")
            for node in maybe_armed(journal, run_id)]


def compare(live: ZoneState, last: ZoneState, effects: Sequence[Effect] = ()) -> list[Difference]:
    """Every part of ``live`` that differs from ``last``; a settings file holding a text an
    ``Effect`` allows is explained. Pure."""
    if live.fingerprint == last.fingerprint and live.settings == last.settings:
        return []
    out: list[Difference] = []
    for name in sorted(set(live.settings) | set(last.settings)):
        was, now = last.settings.get(name), live.settings.get(name)
        if was == now:
            continue
        what = _("settings file {file} is new") if was is None else \
            _("settings file {file} was removed") if now is None else \
            _("settings file {file} changed")
        why = next((e.why for e in effects if e.file == name and e.sha == now), None)
        out.append(Difference(f"settings/{name}", what.format(file=f"{SETTINGS_DIR}/{name}"),
                              why))
    if live.installer_version != last.installer_version:
        out.append(Difference("installer_version", _("installer version {file}: {was} -> "
                                                     "{now}").format(
            file=VERSION_JSON, was=last.installer_version, now=live.installer_version)))
    for key in sorted(set(live.variables) | set(last.variables)):
        was_v, now_v = last.variables.get(key), live.variables.get(key)
        if was_v != now_v:
            out.append(Difference(f"variables.{key}", _("zone variable {key}: {was} -> {now}"
                                                        ).format(key=key, was=_shown(was_v),
                                                                 now=_shown(now_v))))
    return out


def _shown(value: str | None) -> str:
    return _("(none)") if value is None else repr(value)


def against_plan(plan: Plan, live: ZoneState, texts: Mapping[str, str]) -> list[Difference]:
    """A run with no record yet (refused before its first step, or from an older journal):
    the plan keeps the fingerprint of the whole zone, and the old text of the role's settings
    files. Pure."""
    if live.fingerprint == plan.inventory_fingerprint:
        return []
    out = []
    for name, node in sorted(plan.nodes.items()):
        if sha(texts.get(name, "")) != sha(node.old_settings) or name not in texts:
            what = _("settings file {file} was removed since the plan was made") \
                if name not in texts else _("settings file {file} changed since the plan was made")
            out.append(Difference(f"settings/{name}", what.format(file=f"{SETTINGS_DIR}/{name}")))
    out.append(Difference("zone", (_("other settings files, the installer version or the zone "
                                     "variables may differ too") if out else
                                   _("settings files, the installer version or the zone "
                                     "variables differ"))
                          + _(" (the plan keeps only the fingerprint of the whole zone)")))
    return out


_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=")


def changed_keys(old: str, new: str) -> list[str]:
    """The names of the KEY=... lines that differ between two settings texts (never their
    values: settings may hold secrets)."""
    def values(text: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in text.splitlines():
            m = _KEY.match(line)
            if m:
                out.setdefault(m.group(1), []).append(line.strip())
        return out

    a, b = values(old), values(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def known_texts(plan: Plan) -> dict[str, str]:
    """sha256 -> text of every settings text the plan holds (old, written, switched)."""
    texts = [t for n in plan.nodes.values() for t in (n.old_settings, n.settings)]
    texts += [s.stdin for s in plan.steps if s.stdin is not None and settings_file(s)]
    texts += [f.content for f in plan.files]
    return {sha(t): t for t in texts}


def detail(diffs: Sequence[Difference], last: ZoneState | None, texts: Mapping[str, str],
           plan: Plan) -> list[Difference]:  # fmt: skip
    """The differences, a changed settings file naming its changed keys where the text it
    had is one the plan holds."""
    known = known_texts(plan)
    out = []
    for d in diffs:
        name = d.part.removeprefix("settings/")
        was = known.get(last.settings.get(name, "")) if last is not None else \
            plan.nodes[name].old_settings if name in plan.nodes else None
        if d.part.startswith("settings/") and was is not None and name in texts:
            keys = changed_keys(was, texts[name])
            if keys:
                out.append(Difference(d.part, _("{what} (keys: {keys})").format(
                    what=d.what, keys=", ".join(keys)), d.explained))
                continue
        out.append(d)
    return out


# ---- reading, recording, refusing -----------------------------------------------------------
class ZoneMarks:
    """Records the zone's fingerprint for the runs of one journal; the executor calls
    ``after`` after every step and undo (it reads only where ``records_after`` says)."""

    def __init__(self, journal: Journal, connector: Any, *, events: EventSink = discard
                 ) -> None:  # fmt: skip
        self.journal = journal
        self._conn = connector
        self._emit = events

    async def read(self, plan: Plan) -> tuple[ZoneState, dict[str, str]]:
        fb = firstbox(plan)
        assert fb is not None
        return await read_state(self._conn, fb)

    async def start(self, run_id: str) -> None:
        """At the start of a run (apply): its first record, if it has none yet. A firstbox
        that cannot be read now is left to the executor (its lock fails the run properly);
        without this record, resume compares with the plan's fingerprint."""
        plan = self.journal.run(run_id).plan()
        if not is_live(plan) or self.journal.zone_marks(run_id):
            return
        try:
            state, _ = await self.read(plan)
        except NodeswapError as exc:
            self._emit(Notice(f"could not read the zone's fingerprint at the start: {exc}",
                              run_id))
            return
        self.journal.record_zone(run_id, KIND_START, state.fingerprint, state.to_dict())

    async def after(self, run_id: str, plan: Plan, step: Step, kind: str) -> None:
        """After ``step`` (kind run) or its undo succeeded."""
        if not is_live(plan) or not records_after(plan, step, kind):
            return
        state, _ = await self.read(plan)
        self.journal.record_zone(run_id, kind, state.fingerprint, state.to_dict(),
                                 step_id=step.id)

    async def recheck(self, run_id: str, *, action: str, accept: bool, operator: str,
                      hints: Hints | None = None) -> None:  # fmt: skip
        """Before resume or rollback runs anything: refuse (InputError, exit 2) a zone that
        changed since the run last recorded it in ways the run does not explain, unless
        ``accept`` (recorded, with ``operator`` and the differences). A dead-man that may have
        fired explains its node's settings back at their text before the upgrade (the
        executor then reads the job's state: nodeswap.run.deadman)."""
        run = self.journal.run(run_id)
        plan = run.plan()
        if not is_live(plan) or _nothing_to_do(self.journal, run_id, action):
            return
        marks = self.journal.zone_marks(run_id)
        attempts = self.journal.attempts(run_id)
        live, texts = await self.read(plan)
        last: ZoneState | None = None
        if marks:
            last = ZoneState.from_mark(marks[-1])
            diffs = compare(live, last, effects_since(plan, attempts, marks,
                                                      marks[-1].after_attempt)
                            + deadman_effects(self.journal, run_id))
        elif any(records_after(plan, plan.step(a.step_id), a.kind) for a in attempts
                 if a.kind in (KIND_RUN, KIND_UNDO)):  # fmt: skip
            self._emit(Notice(f"run {run_id} recorded no zone fingerprint (a journal from an "
                              "older nodeswap): the zone was not compared", run_id))
            return
        else:
            diffs = against_plan(plan, live, texts)
        refused = [d for d in detail(diffs, last, texts, plan) if d.explained is None]
        explained = [d for d in diffs if d.explained is not None]
        if not refused:
            if diffs:
                note = "; ".join(f"{d.what}: {d.explained}" for d in explained)
                self.journal.record_zone(run_id, action, live.fingerprint, live.to_dict(),
                                         note=note)
                self._emit(Notice(_("the zone changed as run {run} explains it: {note}").format(
                    run=run_id, note=note), run_id))
            return
        seen = _seen(marks[-1]) if marks else _("when its plan was made")
        if accept:
            note = "; ".join(d.what for d in refused)
            self.journal.record_zone(run_id, KIND_ACCEPTED, live.fingerprint, live.to_dict(),
                                     operator=operator, note=note)
            self._emit(Notice(_("zone change accepted by {operator} (--accept-zone-change): "
                                "{note}").format(operator=operator, note=note), run_id))
            return
        raise InputError(refusal(run_id, action, seen, refused, state=run.state,
                                 steps=self.journal.steps(run_id), hints=hints or Hints()))


def _seen(mark: ZoneMark) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mark.recorded))
    what = {KIND_START: _("at its start"),
            KIND_RUN: _("after step {step}").format(step=mark.step_id),
            KIND_UNDO: _("after the undo of step {step}").format(step=mark.step_id),
            KIND_ACCEPTED: _("when {operator} accepted a zone change").format(
                operator=mark.operator)}.get(mark.kind) or \
        _("at its {kind}").format(kind=mark.kind)
    return _("{what}, at {time}").format(what=what, time=when)


def _nothing_to_do(journal: Journal, run_id: str, action: str) -> bool:
    run = journal.run(run_id)
    if action == "rollback":
        return run.state == J.RUN_ROLLED_BACK
    return all(s.state in (J.DONE, J.SKIPPED) for s in journal.steps(run_id))


def refusal(run_id: str, action: str, seen: str, refused: Sequence[Difference], *, state: str,
            steps: Sequence[J.StepRecord], hints: Hints) -> list[Problem]:  # fmt: skip
    """The problems of a refused resume/rollback, ending with the next: lines."""
    gate = next((s.step_id for s in steps if s.state == J.GATE), None)
    approve = ("--approve", gate) if state == J.RUN_GATE and gate else ()
    head = (_("the zone changed since run {run_id} last recorded it ({seen}), in ways this run "
              "does not explain; nothing was run ({action} refused):").format(run_id=run_id,
              seen=seen, action=action))
    out = [Problem(head)]
    out += [Problem("  - " + d.what) for d in refused]
    out.append(Problem(
        _("another run, or a person, changed the zone: find out which before going on. If the "
          "change is known and this run may go on from it, or be undone over it:\n")
        + hints.next("resume", run_id, *approve, "--accept-zone-change") + "\n"
        + hints.next("rollback", run_id, "--accept-zone-change")))
    return out


def accepted_lines(journal: Journal, run_id: str) -> list[str]:
    """For ``status``: every zone change a person accepted for this run, with who and when."""
    out = []
    for m in journal.zone_marks(run_id):
        if m.kind == KIND_ACCEPTED:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(m.recorded))
            out.append(_("zone change accepted by {operator} at {time}: {note}").format(
                operator=m.operator, time=when, note=m.note))
    return out
