"""The journal: a model (plain dicts) against SQLite, with reopening (a crash) at any point."""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nodeswap import journal as J
from nodeswap.errors import InputError
from nodeswap.journal import Journal, OutputRecorder
from nodeswap.model import Plan, Step, Target
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
        self.keys: dict[str, str] = {}

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

    @rule(key_id=st.sampled_from(["k1", "k2"]), key=st.sampled_from(["ssh-ed25519 AAA", "x"]))
    def pin(self, key_id: str, key: str) -> None:
        if key_id in self.keys and self.keys[key_id] != key:
            return  # refused by the transport before it reaches the journal
        self.j.pin_key(key_id, key, "127.0.0.9", None)
        self.keys.setdefault(key_id, key)

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
        assert self.j.pinned_keys() == self.keys


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
