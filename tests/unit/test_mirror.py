"""The run's mirror (issue 11: the journal outlives the operator's machine): its format (round
trip into another journal, integrity of every line, a cut last write), redaction (a secret in
a step output never reaches it), the writer on the local transport (one command per step, file
modes), and the take-over's lock decision. Real bash, temp folders; the lab tests cover SSH."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.errors import InputError, LockHeld
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.execute import Executor
from nodeswap.run.journal import Journal
from nodeswap.run.lock import CLIENT_HOST_ENV, Lock, client_host
from nodeswap.run.mirror import (
    JOURNAL_FILE,
    PLAN_FILE,
    export,
    import_run,
    line,
    mirror_dir,
    parse,
    whole,
)
from nodeswap.run.sessionlog import TAKE_OVER
from nodeswap.run.takeover import checked_plan, refusal, refuse_local_copy, take_lock_over
from nodeswap.shell import cmd
from nodeswap.transport.local import LocalConnector

SECRET = "Sup3rS3cretValue"  # noqa: S105 (the value redaction must hide)


def make_plan(tmp: Path) -> Plan:
    log = str(tmp / "log")
    conf = tmp / "host.conf"  # on the host: the plan never holds the secret, outputs do
    conf.write_text(f"db_password={SECRET}\n")
    t = Target("fb", "127.0.0.1", "fb", via_firstbox=False)
    steps = [Step(id=f"s{i}", phase="p", rule=f"R{i}", title=f"append {i}", target="fb",
                  command=f"echo s{i} >> {cmd(log)}; cat {cmd(str(conf))}",
                  check=f"grep -qx s{i} {cmd(log)}", undo=f"sed -i '/^s{i}$/d' {cmd(log)}")
             for i in range(4)]  # fmt: skip
    steps.insert(2, Step("ro", "p", "R0", "read", "fb", command="echo read-only",
                         side_effect=False))  # fmt: skip
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"fb": t}, tuple(steps),
                firstbox_target="fb")


class Rig:
    """A run on this machine whose "firstbox" is this machine too: its mirror goes to
    ``tmp/fb/runs/RUN`` through the local transport, as it goes over SSH in the lab."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.journal = Journal.open(tmp / "a" / "zone.journal.sqlite")
        self.lock = str(tmp / "fb" / "zone.lock")
        self.ex = Executor(self.journal, LocalConnector(), lock_path=self.lock)
        self.plan = make_plan(tmp)

    def run(self) -> str:
        rid = self.journal.create_run(self.plan, operator="alice@a", zone="z",
                                      connection={"mode": "ssh", "lock_path": self.lock})
        self.journal.pin_key("new0", "ssh-ed25519 AAAAnew0", "127.0.0.9", rid)
        asyncio.run(self.ex.execute(rid))
        return rid

    def folder(self, rid: str) -> Path:
        return Path(mirror_dir(self.lock, rid))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_the_writer_mirrors_the_run_with_private_modes_and_no_secret(rig: Rig) -> None:
    rid = rig.run()
    folder = rig.folder(rid)
    assert folder == rig.tmp / "fb" / "runs" / rid
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    for name in (PLAN_FILE, JOURNAL_FILE):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert sorted(os.listdir(folder)) == [JOURNAL_FILE, PLAN_FILE]  # no temporary left
    text = (folder / JOURNAL_FILE).read_text()
    assert SECRET not in text and SECRET not in (folder / PLAN_FILE).read_text()
    m = parse(text)
    assert m.run["state"] == J.RUN_DONE and m.skipped == 0
    outputs = "".join(zlib.decompress(base64.b64decode(a["stdout"])).decode()
                      for a in m.rows("attempt") if a["stdout"])  # fmt: skip
    assert "db_password=***" in outputs and SECRET not in outputs  # stored compressed
    assert {r["step_id"]: r["state"] for r in m.rows("step")} == \
        {s.step_id: s.state for s in rig.journal.steps(rid)}
    # the records equal the journal's, after every step (appends replaced earlier rows)
    assert m.records == parse(whole(rid, rig.journal.run(rid).plan_json,
                                    export(rig.journal, rid)[0].values())).records
    # cheap: two whole writes (plan, journal) then one append per step, plus one before each
    # side effect and the run's end (recorded for the bench)
    assert rig.ex.mirror.writes <= 2 + 2 * len(rig.plan.steps) + 2


def test_round_trip_into_another_journal_keeps_steps_attempts_outputs_and_pins(
    rig: Rig, tmp_path: Path
) -> None:
    rid = rig.run()
    folder = rig.folder(rid)
    m = parse((folder / JOURNAL_FILE).read_text())
    plan_text = (folder / PLAN_FILE).read_text()
    assert checked_plan(rid, plan_text, m).fingerprint() == rig.plan.fingerprint()
    other = Journal.open(tmp_path / "b" / "zone.journal.sqlite")
    other.create_run(rig.plan, operator="x", zone="z", run_id="other-run")  # ids differ here
    asyncio.run(Executor(other, LocalConnector(), lock_path=None).execute("other-run"))
    assert import_run(other, m, plan_text, {"mode": "ssh", "known_hosts": "/b/kh"}) == rid
    a, b = rig.journal, other
    assert b.run(rid).connection == {"mode": "ssh", "known_hosts": "/b/kh"}
    assert (b.run(rid).state, b.run(rid).plan_fingerprint) == (J.RUN_DONE, rig.plan.fingerprint())
    assert [(s.step_id, s.state) for s in b.steps(rid)] == \
        [(s.step_id, s.state) for s in a.steps(rid)]
    strip = [(x.step_id, x.kind, x.command, x.outcome, x.exit_status) for x in a.attempts(rid)]
    assert [(x.step_id, x.kind, x.command, x.outcome, x.exit_status)
            for x in b.attempts(rid)] == strip  # fmt: skip
    assert b.last_output(rid, "s1") == a.last_output(rid, "s1")
    assert "db_password=***" in (b.last_output(rid, "s1") or "")
    assert b.pinned_key("new0", rid) == "ssh-ed25519 AAAAnew0"
    assert [s.action for s in b.sessions(rid)] == [s.action for s in a.sessions(rid)]
    # importing again replaces the run: nothing doubled, the other run untouched
    import_run(other, m, plan_text, {"mode": "ssh"})
    assert len(b.attempts(rid)) == len(a.attempts(rid))
    assert b.run("other-run").state == J.RUN_DONE


def test_a_cut_last_write_is_skipped_a_damaged_middle_line_refused(rig: Rig) -> None:
    rid = rig.run()
    text = (rig.folder(rid) / JOURNAL_FILE).read_text()
    full = parse(text)
    extra = line("step", "s3", {**full.records[("step", "s3")], "state": "failed"})
    cut = text + extra[: len(extra) // 2]  # the writer died mid-append
    m = parse(cut)
    assert m.skipped == 1 and m.records == full.records
    lines = text.splitlines(keepends=True)
    n = next(i for i, ln in enumerate(lines) if '"t":"step"' in ln)
    lines[n] = lines[n].replace('"approved":0', '"approved":1')  # tampered, or bit rot
    with pytest.raises(InputError, match=f"line {n + 1} fails its check"):
        parse("".join(lines))
    with pytest.raises(InputError, match="not a nodeswap run mirror"):
        parse("".join(lines[1:3]))


@given(st.text(max_size=40), st.integers(), st.none() | st.floats(allow_nan=False))
def test_any_line_round_trips_and_any_change_is_seen(text: str, n: int,
                                                     x: float | None) -> None:  # fmt: skip
    row = {"command": text, "exit_status": n, "ended": x}
    head = line("header", "", {"format": "nodeswap-run-mirror", "version": 1, "run": "r"})
    got = parse(head + line("attempt", "1", row))
    assert got.records == {("attempt", "1"): row}
    bad = line("attempt", "1", row).replace('"k":"1"', '"k":"2"')
    with pytest.raises(InputError):
        parse(head + bad + line("attempt", "3", row))


def test_a_plan_that_does_not_match_the_digest_is_refused(rig: Rig) -> None:
    rid = rig.run()
    folder = rig.folder(rid)
    m = parse((folder / JOURNAL_FILE).read_text())
    plan_text = (folder / PLAN_FILE).read_text()
    changed = json.dumps({**json.loads(plan_text), "version": "9.9.9"})
    with pytest.raises(InputError, match="does not match its plan's digest"):
        checked_plan(rid, changed, m)
    with pytest.raises(InputError, match="does not match"):
        checked_plan("another-run", plan_text, m)


def test_the_lock_is_taken_over_only_from_a_gone_or_distant_holder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CLIENT_HOST_ENV, "laptop-b")
    assert client_host() == "laptop-b"
    alive_here = Lock("r1", "bob@laptop-b", "laptop-b", os.getpid(), 0.0)
    assert "still driven by pid" in (refusal(alive_here, "r1") or "")
    assert "another run" in (refusal(replace(alive_here, run_id="r2"), "r1") or "")
    gone_here = replace(alive_here, pid=_dead_pid())
    assert refusal(gone_here, "r1") is None
    elsewhere = replace(alive_here, client_host="laptop-a", operator="alice@laptop-a")
    assert refusal(elsewhere, "r1") is None  # the operator said --take-over
    assert refusal(None, "r1") is None
    taken = Lock("r1", "bob@laptop-b", "laptop-b", 7, 1.0, "alice@laptop-a", "laptop-a", 42)
    assert Lock.from_text(taken.to_line()) == taken
    assert Lock.from_text(elsewhere.to_line()) == elsewhere  # old lines: no previous_*
    assert "previous_host" not in elsewhere.to_line()
    assert TAKE_OVER == "take_over"


def _dead_pid() -> int:
    """A pid that was just in use and is gone now (a child that exited and was reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_take_lock_over_replaces_the_lock_naming_the_old_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock file is replaced only as it was read; the new one names the old holder; a
    live holder on this machine keeps it (LockHeld, exit 4); a free lock is simply taken."""
    monkeypatch.setenv(CLIENT_HOST_ENV, "laptop-b")
    path = tmp_path / "fb" / "zone.lock"
    path.parent.mkdir()
    fb = Target("fb", "127.0.0.1", "fb", via_firstbox=False)
    notes: list[str] = []

    async def take(run_id: str) -> Lock | None:
        connector = LocalConnector()
        try:
            t = await connector.transport(fb)
            return await take_lock_over(t, str(path), run_id, fb, notes.append)
        finally:
            await connector.close()

    old = Lock("r1", "alice@laptop-a", "laptop-a", 4242, 1.0)
    path.write_text(old.to_line() + "\n")
    assert asyncio.run(take("r1")) == old
    now = Lock.from_text(path.read_text())
    assert now is not None and (now.run_id, now.client_host, now.pid) == \
        ("r1", "laptop-b", os.getpid())
    assert (now.previous_holder, now.previous_host, now.previous_pid) == \
        ("alice@laptop-a", "laptop-a", 4242)
    assert notes == ["took the zone lock over from alice@laptop-a (pid 4242 on laptop-a)"]
    with pytest.raises(LockHeld, match="still driven by pid"):  # this process: alive, here
        asyncio.run(take("r1"))
    with pytest.raises(LockHeld, match="another run"):
        asyncio.run(take("r2"))
    path.unlink()
    assert asyncio.run(take("r2")) is None
    taken = Lock.from_text(path.read_text())
    assert taken is not None and taken.run_id == "r2" and taken.previous_host is None


def test_a_journal_that_has_the_run_is_replaced_only_by_a_mirror_ahead_of_it(
    rig: Rig,
) -> None:
    rid = rig.run()
    m = parse((rig.folder(rid) / JOURNAL_FILE).read_text())
    with pytest.raises(InputError, match="resume it without --take-over"):
        refuse_local_copy(rig.tmp / "a", rid, m)  # as far as the mirror
    refuse_local_copy(rig.tmp / "elsewhere", rid, m)  # no journal there: fine
    last = max(int(k) for t, k in m.records if t == "attempt")
    m.records[("attempt", str(last + 1))] = {**m.records[("attempt", str(last))],
                                             "id": last + 1}  # fmt: skip
    refuse_local_copy(rig.tmp / "a", rid, m)  # the mirror is ahead: taken over
