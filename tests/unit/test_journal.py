"""The journal: a model (plain dicts) against SQLite, with reopening (a crash) at any point."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import zlib
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nodeswap.errors import BugError, InputError
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal, OutputRecorder
from nodeswap.run.schema import SCHEMA_VERSION
from nodeswap.transport.redact import Redactor

STEP_IDS = ("a", "b", "c")


def plan() -> Plan:
    t = Target("fb", "127.0.0.1", "fb")
    steps = tuple(Step(i, "p", "R1", i, "fb", command=f"echo {i}") for i in STEP_IDS)
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"fb": t}, steps)


class JournalMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "z.sqlite"
        self.j = Journal.open(self.path)
        self.runs: dict[str, dict[str, str]] = {}
        self.run_state: dict[str, str] = {}
        self.attempts: dict[
            int, tuple[str, str, str | None, bytes]
        ] = {}
        self.keys: dict[tuple[str | None, str], str] = {}  # live pins: (run, key_id) -> key
        self.made = 0  # pins ever made (retired ones stay)

    def teardown(self) -> None:
        self.j.close()
        self.dir.cleanup()

    @rule()
    def create_run(self) -> None:
        rid = self.j.create_run(plan(), operator="op", run_id=f"r{len(self.runs)}")
        self.runs[rid] = {s: J.PENDING for s in STEP_IDS}
        self.run_state[rid] = J.RUN_RUNNING

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), state=st.sampled_from(J.STEP_STATES))
    def set_step(self, data: st.DataObject, state: str) -> None:
        rid = data.draw(st.sampled_from(sorted(self.runs)))
        sid = data.draw(st.sampled_from(STEP_IDS))
        self.j.set_step_state(rid, sid, state)
        self.runs[rid][sid] = state

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), state=st.sampled_from(J.RUN_STATES))
    def set_run(self, data: st.DataObject, state: str) -> None:
        rid = data.draw(st.sampled_from(sorted(self.runs)))
        self.j.set_run_state(rid, state)
        self.run_state[rid] = state

    @precondition(lambda self: self.runs)
    @rule(data=st.data(), finish=st.booleans(), out=st.text(max_size=50))
    def attempt(self, data: st.DataObject, finish: bool, out: str) -> None:
        rid = data.draw(st.sampled_from(sorted(self.runs)))
        sid = data.draw(st.sampled_from(STEP_IDS))
        aid = self.j.begin_attempt(rid, sid, "run", "fb", "echo")
        outcome = None
        if finish:
            outcome = "ok"
            self.j.end_attempt(
                aid, outcome="ok", exit_status=0, stdout_z=zlib.compress(out.encode())
            )
        self.attempts[aid] = (rid, sid, outcome, out.encode() if finish else b"")

    @rule(data=st.data(), key_id=st.sampled_from(["k1", "k2"]),
          key=st.sampled_from(["ssh-ed25519 AAA", "x"]))
    def pin(self, data: st.DataObject, key_id: str, key: str) -> None:
        rid = data.draw(st.sampled_from([None, *sorted(self.runs)]))
        if (rid, key_id) in self.keys and self.keys[rid, key_id] != key:
            with pytest.raises(BugError):  # the transport refuses it before it gets here
                self.j.pin_key(key_id, key, "127.0.0.9", rid)
            return
        self.j.pin_key(key_id, key, "127.0.0.9", rid)
        if (rid, key_id) not in self.keys:
            self.made += 1
        self.keys.setdefault((rid, key_id), key)

    @precondition(lambda self: self.runs)
    @rule(data=st.data())
    def retire(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(sorted(self.runs)))
        gone = self.j.retire_pins(rid, "destroyed by rollback of run " + rid)
        assert {(p.key_id, p.public_key) for p in gone} == \
            {(k, v) for (r, k), v in self.keys.items() if r == rid}
        self.keys = {rk: v for rk, v in self.keys.items() if rk[0] != rid}

    @rule()
    def crash_and_reopen(self) -> None:
        self.j.close()
        self.j = Journal.open(self.path)

    @invariant()
    def agrees(self) -> None:
        for rid, steps in self.runs.items():
            assert {s.step_id: s.state for s in self.j.steps(rid)} == steps
            assert self.j.run(rid).state == self.run_state[rid]
        for aid, (rid, sid, outcome, out) in self.attempts.items():
            rec = next(a for a in self.j.attempts(rid, sid) if a.id == aid)
            assert rec.outcome == outcome and (rec.ended is None) == (outcome is None)
            assert self.j.output(aid)[0] == out.decode()
        for run in [None, *self.runs]:
            mine = {k: v for (r, k), v in self.keys.items() if r == run}
            assert self.j.pinned_keys(run) == mine
            assert {k: self.j.pinned_key(k, run) for k in mine} == mine
        assert len(self.j.pins()) == self.made


TestJournal = JournalMachine.TestCase
TestJournal.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)


def test_unknown_run_names_the_latest(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.sqlite")
    j.create_run(plan(), operator="op", run_id="r-1")
    with pytest.raises(InputError, match=r"no run 'nope'.*r-1"):
        j.run("nope")


def test_plan_round_trips_through_the_journal(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.sqlite")
    rid = j.create_run(plan(), operator="op", connection={"mode": "local"})
    rec = j.run(rid)
    assert rec.plan() == plan() and rec.connection == {"mode": "local"}


def test_recorder_redacts_secrets_split_across_chunks() -> None:
    rec = OutputRecorder(Redactor.of(["topsecret"]))
    shown = rec.feed("stdout", "x top") + rec.feed("stdout", "secret y\npass")
    shown += rec.feed("stdout", "word=zz\n")
    out_z, _, rest, _ = rec.finish()
    assert shown == "x *** y\npassword=***\n" and rest == ""
    assert zlib.decompress(out_z).decode() == shown


def test_not_a_journal_is_an_input_error(tmp_path: Path) -> None:
    p = tmp_path / "bad.sqlite"
    p.write_bytes(b"this is not sqlite at all, not even close" * 10)
    with pytest.raises(InputError, match="not a nodeswap journal"):
        Journal.open(p)


@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=4, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=6),
)
def test_known_secret_never_survives_any_chunking(
    before: str, after: str, secret: str, cuts: list[int]
) -> None:
    text = before + secret + after
    rec = OutputRecorder(Redactor.of([secret]))
    shown, last = "", 0
    for c in sorted(set(cuts)):
        shown += rec.feed("stdout", text[last:c])
        last = max(last, c)
    shown += rec.feed("stdout", text[last:])
    out_z, _, rest, _ = rec.finish()
    assert secret not in shown + rest
    assert secret not in zlib.decompress(out_z).decode()


def test_private_key_block_is_masked_across_chunks() -> None:
    rec = OutputRecorder(Redactor())
    body = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAAB\n"
        "-----END OPENSSH PRIVATE KEY-----\nok\n"
    )
    shown = "".join(rec.feed("stdout", body[i : i + 7]) for i in range(0, len(body), 7))
    assert "b3BlbnNzaC1rZXk" not in shown and "AAAAB" not in shown and shown.endswith("ok\n")


# Schema 1 as nodeswap wrote it before pins belonged to runs (one pin per key_id per zone).
SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, zone TEXT NOT NULL, plan_fingerprint TEXT NOT NULL,
  plan_json TEXT NOT NULL, operator TEXT NOT NULL, connection_json TEXT NOT NULL,
  state TEXT NOT NULL, started REAL NOT NULL, ended REAL, message TEXT);
CREATE TABLE IF NOT EXISTS steps(
  run_id TEXT NOT NULL REFERENCES runs(id), step_id TEXT NOT NULL, position INTEGER NOT NULL,
  state TEXT NOT NULL, approved INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL,
  PRIMARY KEY(run_id, step_id));
CREATE TABLE IF NOT EXISTS attempts(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT NOT NULL,
  kind TEXT NOT NULL, host TEXT NOT NULL, command TEXT NOT NULL,
  started REAL NOT NULL, ended REAL, exit_status INTEGER, timed_out INTEGER NOT NULL DEFAULT 0,
  outcome TEXT, error TEXT, stdout BLOB, stderr BLOB);
CREATE INDEX IF NOT EXISTS attempts_step ON attempts(run_id, step_id);
CREATE TABLE IF NOT EXISTS pinned_keys(
  key_id TEXT PRIMARY KEY, public_key TEXT NOT NULL, first_address TEXT NOT NULL,
  run_id TEXT, pinned REAL NOT NULL);
CREATE TABLE IF NOT EXISTS backups(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT NOT NULL,
  host TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, recorded REAL NOT NULL);
INSERT INTO meta(key, value) VALUES('schema', '1');
"""


def schema_1_journal(path: Path) -> None:
    """A zone's journal as schema 1 left it after issue 9's story: run r-old applied, stopped
    at a gate and was rolled back (its pin of proxy1-new stayed, zone-wide); run r-done
    finished; one key pinned outside any run."""
    plan_json = json.dumps(plan().to_dict())
    db = sqlite3.connect(str(path))
    db.executescript(SCHEMA_1)
    for rid, state, started, ended in (("r-old", J.RUN_ROLLED_BACK, 1000.0, 1500.0),
                                       ("r-done", J.RUN_DONE, 2000.0, 2600.0)):
        db.execute("INSERT INTO runs VALUES(?,?,?,?,?,?,?,?,?,?)",
                   (rid, "default", plan().fingerprint(), plan_json, "op", "{}", state, started,
                    ended, None))  # fmt: skip
        db.execute("INSERT INTO steps VALUES(?,?,?,?,?,?)", (rid, "a", 0, J.DONE, 0, ended))
    db.executemany("INSERT INTO pinned_keys VALUES(?,?,?,?,?)", [
        ("proxy1-new", "ssh-ed25519 OLD", "10.0.0.7", "r-old", 1100.0),
        ("proxy0-new", "ssh-ed25519 DONE", "10.0.0.8", "r-done", 2100.0),
        ("vm:x", "ssh-ed25519 NORUN", "10.0.0.9", None, 900.0),
    ])  # fmt: skip
    db.commit()
    db.close()


def test_a_schema_1_journal_is_migrated_and_its_pins_keep_their_runs(tmp_path: Path) -> None:
    path = tmp_path / "default.journal.sqlite"
    schema_1_journal(path)
    j = Journal.open(path)
    pins = {p.key_id: p for p in j.pins()}
    assert {k: (p.public_key, p.first_address, p.run_id, p.pinned) for k, p in pins.items()} == {
        "proxy1-new": ("ssh-ed25519 OLD", "10.0.0.7", "r-old", 1100.0),
        "proxy0-new": ("ssh-ed25519 DONE", "10.0.0.8", "r-done", 2100.0),
        "vm:x": ("ssh-ed25519 NORUN", "10.0.0.9", None, 900.0),
    }
    # the rolled-back run's pin is retired when its rollback ended; the others stay live
    old = pins["proxy1-new"]
    assert (old.retired, old.retired_reason) == (1500.0, "destroyed by rollback of run r-old")
    assert old.run_state == J.RUN_ROLLED_BACK
    assert pins["proxy0-new"].retired is None and pins["vm:x"].retired is None
    assert j.pinned_key("proxy1-new", "r-old") is None
    assert j.pinned_keys("r-old", retired=True) == {"proxy1-new": "ssh-ed25519 OLD"}
    assert j.pinned_key("proxy0-new", "r-done") == "ssh-ed25519 DONE"
    assert j.pinned_key("vm:x", None) == "ssh-ed25519 NORUN"
    # the rest of the journal reads as before
    assert [r.id for r in j.runs()] == ["r-done", "r-old"]
    assert j.step("r-old", "a").state == J.DONE and j.run("r-old").plan() == plan()
    # issue 9: a new run pins its own new VM under the same key_id, with another key
    j.create_run(plan(), operator="op", run_id="r-new")
    j.pin_key("proxy1-new", "ssh-ed25519 NEW", "10.0.0.7", "r-new")
    assert j.pinned_key("proxy1-new", "r-new") == "ssh-ed25519 NEW"
    j.close()
    # reopening changes nothing more
    j = Journal.open(path)
    assert len(j.pins()) == 4 and j.pinned_key("proxy1-new", "r-new") == "ssh-ed25519 NEW"
    j.close()
    db = sqlite3.connect(str(path))
    assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == \
        (str(SCHEMA_VERSION),)
    assert "retired" in {r[1] for r in db.execute("PRAGMA table_info(pinned_keys)")}
    db.close()


def test_a_journal_from_a_newer_nodeswap_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "default.journal.sqlite"
    schema_1_journal(path)
    db = sqlite3.connect(str(path))
    db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(InputError, match="newer than this nodeswap"):
        Journal.open(path)
    db = sqlite3.connect(str(path))
    assert "retired" not in {r[1] for r in db.execute("PRAGMA table_info(pinned_keys)")}
    db.close()


def test_rollback_pins_are_retired_not_deleted(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.sqlite")
    for rid in ("r1", "r2"):
        j.create_run(plan(), operator="op", run_id=rid)
        j.pin_key("proxy0-new", f"ssh-ed25519 {rid}", "10.0.0.5", rid)
    gone = j.retire_pins("r1", "destroyed by rollback of run r1")
    assert [(p.key_id, p.run_id, p.retired_reason) for p in gone] == \
        [("proxy0-new", "r1", "destroyed by rollback of run r1")]
    assert gone[0].retired is not None and gone[0].run_state == J.RUN_RUNNING
    assert j.pinned_key("proxy0-new", "r1") is None
    assert j.pinned_key("proxy0-new", "r2") == "ssh-ed25519 r2"  # another run's: untouched
    assert [p.run_id for p in j.pins("proxy0-new")] == ["r1", "r2"]  # history kept
    assert j.retire_pins("r1", "again") == []  # nothing live left to retire
    # r1 may pin again (a resumed run relaunches the VM): a new live pin beside the retired one
    j.pin_key("proxy0-new", "ssh-ed25519 r1-again", "10.0.0.5", "r1")
    assert j.pinned_key("proxy0-new", "r1") == "ssh-ed25519 r1-again"
    assert j.pinned_keys("r1", retired=True) == {"proxy0-new": "ssh-ed25519 r1-again"}


def test_a_journal_with_an_unreadable_schema_version_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "default.journal.sqlite"
    schema_1_journal(path)
    db = sqlite3.connect(str(path))
    db.execute("UPDATE meta SET value='two' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(InputError, match="not a nodeswap journal: unreadable schema version"):
        Journal.open(path)


@pytest.mark.parametrize("fmt", [2, 3])
def test_a_run_of_an_older_plan_format_is_refused_by_name(tmp_path: Path, fmt: int) -> None:
    """issue 11 bumped the plan format to 3, then 4: a run recorded with a format 2 plan is
    not misread (its steps would lack check_target and rerun_safe), nor one of format 3 (no
    ``after``: its digest is of a plan without the graph, so it is not rebuilt with one):
    exit 2, naming the run and its format."""
    t = Target("fb", "127.0.0.1", "fb", via_firstbox=False)
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"fb": t},
                (Step("s", "p", "R1", "s", "fb", command="true"),))
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(plan, operator="t")
    old = {**json.loads(j.run(rid).plan_json), "format": fmt}
    for step in old["steps"]:
        if fmt == 3:
            del step["after"]
    db = sqlite3.connect(str(j.path))
    with db:
        db.execute("UPDATE runs SET plan_json=? WHERE id=?", (json.dumps(old), rid))
    db.close()
    with pytest.raises(InputError, match=f"run {rid}: plan format {fmt} .* with the nodeswap "
                                         "that started it"):
        j.run(rid).plan()
