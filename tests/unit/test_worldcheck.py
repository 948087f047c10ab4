"""Issue 14, resume re-checks the world: the zone's fingerprint as a run recorded it, compared
with the live one (pure), and the recheck that refuses or goes on (a journal, a fake firstbox)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sqlite3
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from zonekit import make_spec, make_zone

from nodeswap.errors import InputError
from nodeswap.live.planning import FINGERPRINT_KIND
from nodeswap.live.worldcheck import (
    Effect,
    ZoneMarks,
    ZoneState,
    against_plan,
    changed_keys,
    compare,
    effects_since,
    parse_read,
    read_command,
    records_after,
    settings_file,
    sha,
)
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan
from nodeswap.run import journal as J
from nodeswap.run.hints import Hints, commands_in
from nodeswap.run.journal import AttemptRecord, Journal, ZoneMark
from nodeswap.run.runs import status_text
from nodeswap.run.schema import SCHEMA_VERSION
from nodeswap.transport.base import Result
from nodeswap.zone.snapshot import Snapshot

TODAY = "20261127"
VERSION = {"current": {"installer": "4.3.1"}}
YAML = "common:\n  vm_base_network: 172.21.130.0/24\n  deploy_boss: 0\n"


def live_plan() -> Plan:
    plan = build_plan(make_zone("novg"), make_spec(seed=1), today=TODAY)
    return replace(plan, fingerprint_kind=FINGERPRINT_KIND)


def zone_settings(plan: Plan) -> dict[str, str]:
    """The zone's settings texts as the plan found them (its role's files) and one more."""
    texts = {name: n.old_settings for name, n in plan.nodes.items()}
    texts["webservice0"] = 'role="webservice"\nzone_id="zz1a"\nmgmt_network_address="1.2.3.4"\n'
    return texts


def read_output(settings: Mapping[str, str], version: Mapping[str, object] = VERSION,
                yaml: str | None = YAML) -> str:  # fmt: skip
    """What ``read_command`` prints on firstbox for this zone."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in settings.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    lines = [f"settings {b64(buf.getvalue())}", f"version {b64(json.dumps(version).encode())}"]
    if yaml is not None:
        lines.append(f"yaml {b64(yaml.encode())}")
    lines.append(f"files {b64(b'')}")
    return "\n".join(lines) + "\n"


def state(settings: Mapping[str, str], **kw: object) -> ZoneState:
    return parse_read(read_output(settings, **kw))[0]  # type: ignore[arg-type]


# ---- reading ---------------------------------------------------------------------------------
def test_the_read_is_one_read_only_command_and_its_fingerprint_is_plannings() -> None:
    command = read_command()
    assert command.startswith("bash -c ") and "tar -C /pitrix/conf/settings -cf - ." in command
    for writes in (" > ", "rm ", "mv ", "cp "):
        assert writes not in command
    plan = live_plan()
    texts = zone_settings(plan)
    got, read_texts = parse_read(read_output(texts))
    snap = Snapshot(firstbox="", settings=texts, installer_version="4.3.1",
                    variables={"vm_base_network": "172.21.130.0/24", "deploy_boss": "0"},
                    kernels=(), repos=(), old_nodes={}, vip=None, capacity={})  # fmt: skip
    assert got.fingerprint == snap.state_fingerprint()  # the plan's inventory fingerprint
    assert read_texts == texts and got.settings == {n: sha(t) for n, t in texts.items()}
    assert got.installer_version == "4.3.1" and got.variables["deploy_boss"] == "0"


# ---- which steps record -------------------------------------------------------------------------
def test_every_side_effect_on_firstbox_records_and_nothing_else() -> None:
    plan = live_plan()
    recording = {s.id for s in plan.steps if records_after(plan, s, "run")}
    assert {"r6-backup", "r17-settings-proxy0", "r18-build-pkgs", "r30-settings-proxy1",
            "r30-global-conf-proxy0", "r34-known-hosts-proxy0"} <= recording
    assert all(plan.step(i).target == "firstbox" and plan.step(i).side_effect for i in recording)
    assert "fetch-proxy0-haproxy" not in recording and "r29-exec" not in recording
    assert "r32-stop-proxy0" not in recording  # on an old node
    # undos: where they run decides (r21-launch is undone on the physical host)
    assert records_after(plan, plan.step("r17-settings-proxy0"), "undo")
    assert not records_after(plan, plan.step("r21-launch-proxy0"), "undo")
    assert settings_file(plan.step("r17-settings-proxy0")) == "proxy0"
    assert settings_file(plan.step("r30-settings-proxy1")) == "proxy1"
    assert settings_file(plan.step("r6-backup")) is None


# ---- the pure comparison ----------------------------------------------------------------------
def test_the_same_zone_is_no_difference() -> None:
    texts = zone_settings(live_plan())
    assert compare(state(texts), state(texts)) == []


def test_a_hand_edit_names_the_file_and_is_not_explained() -> None:
    texts = zone_settings(live_plan())
    edited = {**texts, "webservice0": texts["webservice0"].replace("1.2.3.4", "1.2.3.5")}
    diffs = compare(state(edited), state(texts))
    assert [(d.part, d.explained) for d in diffs] == [("settings/webservice0", None)]
    assert "/pitrix/conf/settings/webservice0 changed" in diffs[0].what


def test_version_variables_new_and_removed_files_are_named() -> None:
    texts = zone_settings(live_plan())
    later = {k: v for k, v in texts.items() if k != "webservice0"} | {"proxy9": "role=\"x\"\n"}
    diffs = compare(state(later, version={"current": {"installer": "4.4.0"}},
                          yaml=YAML.replace("deploy_boss: 0", "deploy_boss: 2")), state(texts))
    assert [d.part for d in diffs] == ["settings/proxy9", "settings/webservice0",
                                       "installer_version", "variables.deploy_boss"]
    assert "is new" in diffs[0].what and "was removed" in diffs[1].what
    assert "4.3.1 -> 4.4.0" in diffs[2].what and "'0' -> '2'" in diffs[3].what
    assert all(d.explained is None for d in diffs)


def attempt(aid: int, step_id: str, kind: str = "run") -> AttemptRecord:
    return AttemptRecord(aid, "r", step_id, kind, "firstbox", "...", 0.0, None, None, False,
                         None, None)  # fmt: skip


def mark(mid: int, after: int, st: ZoneState, step_id: str | None = None) -> ZoneMark:
    return ZoneMark(mid, "r", "run", step_id, after, st.fingerprint, st.to_dict(), 0.0, None, None)


def test_a_settings_write_cut_after_the_last_record_explains_its_planned_text() -> None:
    plan = live_plan()
    texts = zone_settings(plan)
    before = state(texts)
    cut = [attempt(5, "r17-settings-proxy0")]
    effects = effects_since(plan, cut, [mark(1, 4, before)], after=4)
    assert effects == [Effect("proxy0", sha(plan.nodes["proxy0"].settings), effects[0].why)]
    written = {**texts, "proxy0": plan.nodes["proxy0"].settings}
    diffs = compare(state(written), before, effects)
    assert len(diffs) == 1 and diffs[0].explained is not None
    assert "r17-settings-proxy0" in diffs[0].explained
    # another text in that file, or the same cut step on another file: not explained
    other = {**texts, "proxy0": plan.nodes["proxy0"].settings + "# by hand\n"}
    assert compare(state(other), before, effects)[0].explained is None
    wrong = {**texts, "proxy1": plan.nodes["proxy1"].settings}
    assert compare(state(wrong), before, effects)[0].explained is None
    # a step that ran before the last record explains nothing: the record saw its result
    assert effects_since(plan, cut, [mark(1, 5, before)], after=5) == []


def test_a_cut_undo_explains_the_text_recorded_before_the_step_ran() -> None:
    plan = live_plan()
    texts = zone_settings(plan)
    before = state(texts)
    after_write = state({**texts, "proxy0": plan.nodes["proxy0"].settings})
    attempts = [attempt(3, "r17-settings-proxy0"), attempt(9, "r17-settings-proxy0", "undo")]
    marks = [mark(1, 2, before), mark(2, 3, after_write, "r17-settings-proxy0")]
    effects = effects_since(plan, attempts, marks, after=3)
    assert [(e.file, e.sha) for e in effects] == [("proxy0", sha(texts["proxy0"]))]
    assert compare(before, after_write, effects)[0].explained is not None


def test_a_run_without_records_compares_with_its_plan() -> None:
    plan = live_plan()
    texts = zone_settings(plan)
    now = state(texts)
    assert against_plan(replace(plan, inventory_fingerprint=now.fingerprint), now, texts) == []
    edited = {**texts, "proxy1": texts["proxy1"].replace('os_version="16.04.5"',
                                                         'os_version="18.04"')}
    diffs = against_plan(replace(plan, inventory_fingerprint=now.fingerprint), state(edited),
                         edited)
    assert [d.part for d in diffs] == ["settings/proxy1", "zone"]


def test_changed_keys_names_keys_never_values() -> None:
    old = 'a="1"\npassword="s3cret"\nb="2"\n'
    new = 'a="1"\npassword="other"\nc="3"\n'
    assert changed_keys(old, new) == ["b", "c", "password"]


# ---- recheck: a journal and a fake firstbox ------------------------------------------------------
@dataclass
class FakeFirstbox:
    """A connector whose firstbox answers ``read_command`` with ``settings``."""

    settings: dict[str, str]
    commands: list[str] = field(default_factory=list)

    async def transport(self, target: object) -> FakeFirstbox:
        return self

    async def run(self, command: str, **_: object) -> Result:
        self.commands.append(command)
        return Result("firstbox", command, 0, read_output(self.settings), "")

    async def forget(self, target: object) -> None:
        return None

    async def close(self) -> None:
        return None


def journal_at_gate(tmp_path: Path) -> tuple[Journal, str, Plan, FakeFirstbox]:
    """A run that wrote proxy0's settings, recorded it, and stopped at the first gate."""
    plan = live_plan()
    fb = FakeFirstbox(zone_settings(plan))
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(plan, operator="op@here")
    marks = ZoneMarks(j, fb)
    asyncio.run(marks.start(rid))
    step = plan.step("r17-settings-proxy0")
    aid = j.begin_attempt(rid, step.id, "run", "firstbox", step.command)
    j.end_attempt(aid, outcome="ok", exit_status=0)
    fb.settings["proxy0"] = plan.nodes["proxy0"].settings
    asyncio.run(marks.after(rid, plan, step, "run"))
    j.set_step_state(rid, step.id, J.DONE)
    j.set_step_state(rid, "r30-settings-proxy0", J.GATE)
    j.set_run_state(rid, J.RUN_GATE, "stopped at gate")
    return j, rid, plan, fb


def recheck(j: Journal, rid: str, fb: FakeFirstbox, *, accept: bool = False,
            action: str = "resume") -> None:  # fmt: skip
    asyncio.run(ZoneMarks(j, fb).recheck(rid, action=action, accept=accept, operator="bob@box",
                                         hints=Hints(("--lab", "/l"))))  # fmt: skip


def test_recheck_goes_on_when_the_zone_is_as_recorded(tmp_path: Path) -> None:
    j, rid, _, fb = journal_at_gate(tmp_path)
    assert [m.kind for m in j.zone_marks(rid)] == ["start", "run"]
    recheck(j, rid, fb)
    assert [m.kind for m in j.zone_marks(rid)] == ["start", "run"]


def test_recheck_refuses_a_hand_edit_with_exit_2_and_next_lines(tmp_path: Path) -> None:
    j, rid, plan, fb = journal_at_gate(tmp_path)
    fb.settings["proxy1"] = fb.settings["proxy1"].replace('os_version="16.04.5"',
                                                          'os_version="18.04.1"')
    with pytest.raises(InputError) as err:
        recheck(j, rid, fb)
    text = str(err.value)
    assert err.value.exit_code == 2
    assert "/pitrix/conf/settings/proxy1 changed (keys: os_version)" in text
    assert "after step r17-settings-proxy0" in text and "18.04.1" not in text
    assert commands_in(text) == [
        f"nodeswap resume {rid} --approve r30-settings-proxy0 --accept-zone-change --lab /l",
        f"nodeswap rollback {rid} --accept-zone-change --lab /l"]
    assert len(fb.commands) == 3  # start, after the step, the recheck: one read each
    # accepted: recorded with who, shown by status, and the next recheck starts from it
    recheck(j, rid, fb, accept=True)
    last = j.zone_marks(rid)[-1]
    assert (last.kind, last.operator) == ("accepted", "bob@box") and "proxy1" in (last.note or "")
    assert "zone change accepted by bob@box at " in status_text(j, rid)
    recheck(j, rid, fb)
    _ = plan


def test_recheck_of_a_rollback_refuses_too(tmp_path: Path) -> None:
    j, rid, _, fb = journal_at_gate(tmp_path)
    fb.settings["webservice0"] += 'extra="1"\n'
    with pytest.raises(InputError, match="rollback refused"):
        recheck(j, rid, fb, action="rollback")


def test_recheck_explains_a_step_cut_before_its_record(tmp_path: Path) -> None:
    j, rid, plan, fb = journal_at_gate(tmp_path)
    step = plan.step("r17-settings-proxy1")
    j.begin_attempt(rid, step.id, "run", "firstbox", step.command)  # killed: no end, no record
    j.set_step_state(rid, step.id, J.RUNNING)
    fb.settings["proxy1"] = plan.nodes["proxy1"].settings
    recheck(j, rid, fb)
    last = j.zone_marks(rid)[-1]
    assert last.kind == "resume" and "r17-settings-proxy1" in (last.note or "")


def test_recheck_of_a_run_refused_before_its_first_step_compares_with_the_plan(
        tmp_path: Path) -> None:
    plan = live_plan()
    texts = zone_settings(plan)
    plan = replace(plan, inventory_fingerprint=state(texts).fingerprint)
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(plan, operator="op")  # e.g. a journal from before schema 3
    fb = FakeFirstbox(dict(texts))
    recheck(j, rid, fb)
    fb.settings["proxy0"] = plan.nodes["proxy0"].settings.replace("10.", "11.")
    with pytest.raises(InputError, match=r"settings/proxy0 changed since the plan was made"):
        recheck(j, rid, fb)


def test_an_unreadable_firstbox_at_the_start_records_nothing(tmp_path: Path) -> None:
    plan = live_plan()
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(plan, operator="op")

    class Down(FakeFirstbox):
        async def run(self, command: str, **_: object) -> Result:
            return Result("firstbox", command, 255, "", "connection refused")

    seen: list[object] = []
    asyncio.run(ZoneMarks(j, Down({}), events=seen.append).start(rid))
    assert j.zone_marks(rid) == [] and "could not read" in str(seen)


def test_a_plan_not_made_live_is_not_rechecked(tmp_path: Path) -> None:
    plan = build_plan(make_zone("novg"), make_spec(seed=1), today=TODAY)  # no fingerprint kind
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(plan, operator="op")
    fb = FakeFirstbox({})
    asyncio.run(ZoneMarks(j, fb).start(rid))
    recheck(j, rid, fb)
    assert fb.commands == [] and j.zone_marks(rid) == []


# ---- the journal: schema 3 ------------------------------------------------------------------
def test_a_schema_2_journal_gains_zone_marks(tmp_path: Path) -> None:
    path = tmp_path / "old.journal.sqlite"
    j = Journal.open(path)
    rid = j.create_run(live_plan(), operator="op")
    j.close()
    db = sqlite3.connect(str(path))
    db.execute("DROP TABLE zone_marks")
    db.execute("UPDATE meta SET value='2' WHERE key='schema'")
    db.commit()
    db.close()
    j = Journal.open(path)
    assert j.zone_marks(rid) == []
    j.record_zone(rid, "start", "f" * 64, {"settings": {}, "installer_version": "4.3.1",
                                            "variables": {}})  # fmt: skip
    assert [(m.kind, m.fingerprint[:1]) for m in j.zone_marks(rid)] == [("start", "f")]
    j.close()
    db = sqlite3.connect(str(path))
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == \
        (str(SCHEMA_VERSION),)
    db.close()
