"""Issue 14 end to end on the local transport (real bash, no mocks): a haproxy `stats auth`
and an rc.local.tail `curl -u` password in fetched files go through the executor (outputs,
R27/R28 findings, a gate's diff and re-run checks, failed steps' tails) and never reach the
journal's bytes (-wal included, outputs decompressed), the events as `--json` prints them,
the errors raised, or the Markdown/HTML report."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import zlib
from pathlib import Path

import pytest

from nodeswap.errors import StepFailed, TransportError
from nodeswap.plan.model import Analysis, Plan, Step, Target
from nodeswap.report import RunRecords, build_report, render_html, render_markdown
from nodeswap.run.events import Event, event_dict
from nodeswap.run.execute import Executor
from nodeswap.run.gates import Gate
from nodeswap.run.journal import Journal
from nodeswap.shell import cmd, write_file_atomic
from nodeswap.transport.base import OutputSink, Result, Transport
from nodeswap.transport.local import LocalConnector, LocalTransport

SECRETS = ("S3cretPass", "N3wS3cret", "CurlPassw0rd")
HA = """global
    daemon
defaults
    mode tcp
    timeout client 60m
listen stats
    bind 0.0.0.0:9000
    stats enable
    stats auth admin:S3cretPass
"""
HA_NEW = HA + "    stats auth ops:N3wS3cret\n"  # the line R27 quotes as added
RC = "ip route add 10.16.0.0/24 dev eth0 table 100\n"
RC_NEW = RC + "curl -u backup:CurlPassw0rd http://10.16.0.9/backup/$(hostname)\n"


def cat(path: Path) -> str:
    return cmd("cat", str(path))


def fetch(sid: str, path: Path, *, phase: str = "prepare", rule: str = "R0",
          analysis: Analysis | None = None) -> Step:  # fmt: skip
    return Step(sid, phase, rule, f"read {path.name}", "firstbox", cat(path), side_effect=False,
                analysis=analysis)


def plan_of(*steps: Step) -> Plan:
    t = Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)
    return Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {"firstbox": t}, steps)


class Flow:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        for name, text in (("old.cfg", HA), ("new.cfg", HA_NEW), ("old.rc", RC),
                           ("same.rc", RC), ("new.rc", RC_NEW), ("live.cfg", HA)):
            (tmp / name).write_text(text)
        self.journal = Journal.open(tmp / "state" / "zone.journal.sqlite")
        self.events: list[Event] = []
        self.gates: list[str] = []
        self.errors: list[str] = []
        self.runs: list[str] = []

        def approve(gate: Gate) -> bool:
            self.gates += [gate.summary(), gate.details()]
            return True

        self.ex = Executor(self.journal, LocalConnector(), events=self.events.append,
                           approver=approve, lock_path=str(tmp / "lock"))  # fmt: skip

    def run(self, plan: Plan, *, fails: bool) -> None:
        rid = self.ex.start(plan, operator="tester")
        self.runs.append(rid)
        if not fails:
            asyncio.run(self.ex.execute(rid))
            return
        with pytest.raises(StepFailed) as err:
            asyncio.run(self.ex.execute(rid))
        self.errors += [str(err.value), err.value.output_tail or ""]

    def journal_text(self) -> str:
        """Every byte of the journal files, and every column of every row with the outputs
        decompressed (zlib would hide a secret from a plain byte search)."""
        base = self.journal.path
        raw = b"".join(Path(str(base) + s).read_bytes() for s in ("", "-wal", "-shm")
                       if Path(str(base) + s).exists())  # fmt: skip
        assert Path(str(base) + "-wal").stat().st_size > 0  # the WAL holds the latest writes
        db = sqlite3.connect(f"file:{base}?mode=ro", uri=True)
        rows: list[str] = []
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in db.execute(f"SELECT * FROM {table}"):  # noqa: S608 (names from sqlite)
                for v in row:
                    rows.append(zlib.decompress(v).decode() if isinstance(v, bytes) and v
                                else str(v))  # fmt: skip
        db.close()
        return raw.decode("latin-1") + "\n".join(rows)


def test_planted_secrets_never_reach_journal_events_errors_or_report(tmp_path: Path) -> None:
    f = Flow(tmp_path)
    t = tmp_path
    # 1. a gate whose file holds `stats auth` now; the R28 check, run again at the gate, finds
    #    the `curl -u` line (the file changed after the check first passed)
    r28 = fetch("r28-rc", t / "same.rc", phase="check", rule="R28",
                analysis=Analysis("rc", "fetch-rc", (("file", "rc.local.tail"),)))
    swap = Step("swap-rc", "check", "R0", "the rc file changes", "firstbox",
                cmd("cp", str(t / "new.rc"), str(t / "same.rc")))
    gate = Step("write-cfg", "switch:proxy0", "R30", "rewrite haproxy.cfg", "firstbox",
                write_file_atomic(str(t / "live.cfg")), stdin="global\n    daemon\n", gate=True)
    f.run(plan_of(fetch("fetch-rc", t / "old.rc"), r28, swap, gate), fails=False)
    # 2. R28 finds the added `curl -u` line: the step fails with the finding in its tail
    f.run(plan_of(fetch("fetch-rc", t / "old.rc"),
                  fetch("r28-rc", t / "new.rc", phase="check", rule="R28",
                        analysis=Analysis("rc", "fetch-rc", (("file", "rc.local.tail"),)))),
          fails=True)  # fmt: skip
    # 3. R27 finds the added `stats auth` line
    f.run(plan_of(fetch("fetch-ha", t / "old.cfg"),
                  fetch("r27-ha", t / "new.cfg", phase="check", rule="R27",
                        analysis=Analysis("haproxy", "fetch-ha", (("sub_region", "0"),)))),
          fails=True)  # fmt: skip
    # 4. a command that fails after printing both files (stdout and stderr)
    loud = Step("loud", "p", "R0", "prints and fails", "firstbox",
                f"{cat(t / 'new.cfg')}; {cat(t / 'new.rc')} >&2; exit 3")
    f.run(plan_of(loud), fails=True)

    journal = f.journal_text()
    events = "\n".join(json.dumps(event_dict(e)) for e in f.events)  # as JsonView prints them
    reports = []
    for rid in f.runs:
        rep = build_report(RunRecords.from_journal(f.journal, rid))
        reports += [render_markdown(rep).replace("\\*", "*"), render_html(rep)]
    f.journal.close()
    shown = {"journal": journal, "events": events, "errors": "\n".join(f.errors),
             "gates": "\n".join(f.gates), "reports": "\n".join(reports)}
    for where, text in shown.items():
        for secret in SECRETS:
            assert secret not in text, (where, secret)
    # the secret-bearing lines did flow everywhere, masked
    assert "stats auth admin:***" in journal and "curl -u backup:***" in journal
    assert "stats auth ops:***" in journal  # the R27 finding
    assert "curl -u backup:***" in events and "stats auth ops:***" in events
    assert "-    stats auth admin:***" in shown["gates"]  # the gate's diff of live.cfg
    assert "curl -u backup:***" in shown["gates"]  # the R28 check run again at the gate
    assert "stats auth ops:***" in shown["errors"] and "curl -u backup:***" in shown["errors"]
    assert "stats auth ops:***" in shown["reports"] and "curl -u backup:***" in shown["reports"]


class _CutTransport(LocalTransport):
    """The local transport, but a command reading `cut.rc` loses its connection with the
    remote side's last words (as ssh.py's `cannot read PATH: <tail>`) in the error."""

    async def run(self, command: str, *, stdin: str | None = None, timeout: float = 600.0,
                  sink: OutputSink | None = None) -> Result:  # fmt: skip
        if "cut.rc" in command:
            raise TransportError(f"{self.host}: cannot read cut.rc: {RC_NEW.strip()}")
        return await super().run(command, stdin=stdin, timeout=timeout, sink=sink)


class _CutConnector(LocalConnector):
    async def transport(self, target: Target) -> Transport:
        return _CutTransport(target.name)


def test_a_transport_error_quoting_a_secret_is_masked(tmp_path: Path) -> None:
    """The error of a lost connection reaches the journal (attempt error, run message), the
    events and StepFailed: masked there too."""
    journal = Journal.open(tmp_path / "state" / "z.journal.sqlite")
    events: list[Event] = []
    ex = Executor(journal, _CutConnector(), events=events.append, lock_path=None)
    step = Step("cut", "p", "R0", "read", "firstbox", cmd("cat", "cut.rc"))
    rid = ex.start(plan_of(step), operator="tester")
    with pytest.raises(StepFailed) as err:
        asyncio.run(ex.execute(rid))
    (attempt,) = journal.attempts(rid)
    texts = {"error": str(err.value), "attempt": attempt.error or "",
             "run message": journal.run(rid).message or "",
             "events": "\n".join(json.dumps(event_dict(e)) for e in events)}
    journal.close()
    for where, text in texts.items():
        assert "CurlPassw0rd" not in text, where
        assert "curl -u backup:***" in text, where
