"""The journal: a SQLite (WAL) record of runs, steps, attempts and pinned host keys.

One file per zone in the state folder, mode 0600 (with its -wal and -shm files). Every
write is its own committed transaction with ``synchronous=FULL``, and the executor writes
before and after every side effect, so ``kill -9`` at any instant loses nothing that was
done: an attempt with a start and no end is an interrupted one, and resume asks the step's
check whether it ran. Outputs are stored whole, redacted and zlib-compressed.

Pinned host keys belong to the run that pinned them: looked up and pinned per (run, key_id),
so a new run of the zone trusts its own new VMs on first sight even where an earlier run's VM
under the same key_id answered. A pin is never deleted: rollback retires the pins of the VMs
it destroyed (time and reason kept, for the report and for messages).

The tables, the schema version and the migrations of older files are nodeswap.run.schema's
(``Journal.open`` migrates a version 1 or 2 file).

Sessions (each apply, resume, rollback) and gate approvals: nodeswap.run.sessionlog.

This module knows nothing of transports or the screen; it stores and answers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeswap.errors import BugError, InputError, Problem
from nodeswap.i18n import _
from nodeswap.plan.model import Plan
from nodeswap.run import schema
from nodeswap.run.sessionlog import SessionLog
from nodeswap.run.sessionlog import Store as _Store
from nodeswap.transport.redact import LineRedactor, Redactor

# Step states. pending -> running -> done | skipped | failed | interrupted; gate: waiting for
# approval; undone / undo_failed: after rollback.
PENDING, RUNNING, DONE, SKIPPED, FAILED = "pending", "running", "done", "skipped", "failed"
GATE, INTERRUPTED, UNDONE, UNDO_FAILED = "gate", "interrupted", "undone", "undo_failed"
STEP_STATES = (PENDING, RUNNING, DONE, SKIPPED, FAILED, GATE, INTERRUPTED, UNDONE, UNDO_FAILED)
# Run states.
RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_GATE = "running", "done", "failed", "gate"
RUN_INTERRUPTED, RUN_ROLLED_BACK = "interrupted", "rolled_back"
RUN_ROLLBACK_FAILED, RUN_ROLLING_BACK = "rollback_failed", "rolling_back"
# rolling_back: a rollback began (and is running, or was cut: `rollback` goes on with it).
RUN_STATES = (
    RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_GATE, RUN_INTERRUPTED, RUN_ROLLED_BACK,
    RUN_ROLLBACK_FAILED, RUN_ROLLING_BACK,
)  # fmt: skip



@dataclass(frozen=True)
class RunRecord:
    id: str
    zone: str
    plan_fingerprint: str
    plan_json: str
    operator: str
    connection: Mapping[str, Any]
    state: str
    started: float
    ended: float | None
    message: str | None

    def plan(self) -> Plan:
        try:
            return Plan.from_dict(json.loads(self.plan_json))
        except ValueError as exc:  # a run recorded by a nodeswap of another plan format
            raise InputError([Problem(_("run {id}: {exc}; resume or roll it back with the "
                                        "nodeswap that started it").format(
                                            id=self.id, exc=exc))]) from exc


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    step_id: str
    position: int
    state: str
    approved: bool
    updated: float


@dataclass(frozen=True)
class AttemptRecord:
    id: int
    run_id: str
    step_id: str
    kind: str  # check | run | verify | undo
    host: str
    command: str
    started: float
    ended: float | None
    exit_status: int | None
    timed_out: bool
    outcome: str | None  # ok | failed | timeout | error | interrupted | disconnected
    error: str | None


@dataclass(frozen=True)
class PinRecord:
    """A host key pinned by a run (``run_id`` None: pinned outside any run). ``retired``:
    when it stopped counting (the VM was destroyed by a rollback), with the reason.
    ``run_state``: the pinning run's state now (None: no such run)."""

    key_id: str
    public_key: str
    first_address: str
    run_id: str | None
    pinned: float
    retired: float | None
    retired_reason: str | None
    run_state: str | None


@dataclass(frozen=True)
class ZoneMark:
    """The zone's fingerprint as run ``run_id`` recorded it (see nodeswap.live.worldcheck).
    ``kind``: start, run (after step ``step_id``), undo (after its undo), accepted (a person
    accepted the zone as it was: ``operator``, ``note`` say who and what)."""

    id: int
    run_id: str
    kind: str
    step_id: str | None
    after_attempt: int
    fingerprint: str
    state: Mapping[str, Any]
    recorded: float
    operator: str | None
    note: str | None


class OutputRecorder:
    """Receives a command's output chunk by chunk: redacts line-wise, compresses as it goes,
    so memory holds compressed bytes only."""

    def __init__(self, redactor: Redactor) -> None:
        self._lines = {s: LineRedactor(redactor) for s in ("stdout", "stderr")}
        self._z = {s: zlib.compressobj(6) for s in ("stdout", "stderr")}
        self._blobs: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    def feed(self, stream: str, text: str) -> str:
        """Take a chunk; returns the redacted complete lines (for events)."""
        clean = self._lines[stream].feed(text)
        if clean:
            self._blobs[stream].append(self._z[stream].compress(clean.encode()))
        return clean

    def finish(self) -> tuple[bytes, bytes, str, str]:
        """(stdout_z, stderr_z, stdout_rest, stderr_rest): compressed outputs + last partial
        lines (redacted) for events."""
        rest: dict[str, str] = {}
        for s in ("stdout", "stderr"):
            rest[s] = self._lines[s].flush()
            self._blobs[s].append(self._z[s].compress(rest[s].encode()) + self._z[s].flush())
        return (
            b"".join(self._blobs["stdout"]), b"".join(self._blobs["stderr"]),
            rest["stdout"], rest["stderr"],
        )  # fmt: skip


def _private_file(path: Path) -> None:
    """Create ``path`` with mode 0600 if missing; tighten it if present."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def default_state_dir() -> Path:
    """$NODESWAP_STATE_DIR, else /var/lib/nodeswap for root, else ~/.local/state/nodeswap."""
    env = os.environ.get("NODESWAP_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/nodeswap")
    return Path.home() / ".local" / "state" / "nodeswap"


def journal_path(state_dir: Path, zone: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in zone) or "zone"
    return state_dir / f"{safe}.journal.sqlite"


# The key of the live pin of (key_id, run_id); run_id NULL matches NULL.
_LIVE_KEY = (
    "SELECT public_key FROM pinned_keys WHERE key_id=? AND run_id IS ? AND retired IS NULL"
)


class PinStore(_Store):
    """The host keys pinned per (run, key_id): pinned on first sight, retired by rollback."""

    def pin_key(self, key_id: str, public_key: str, address: str, run_id: str | None) -> None:
        """Pin ``public_key`` for ``key_id`` in run ``run_id`` (first sight wins; re-pinning
        the same key is a no-op, a different key is a bug: the transport must have refused
        it). Another run's pins of the same key_id are not looked at: pins belong to a run."""
        with self._tx() as db:
            row = db.execute(_LIVE_KEY, (key_id, run_id)).fetchone()
            if row is not None:
                if row[0] != public_key:
                    raise BugError(f"key_id {key_id!r} is already pinned to another key in run "
                                   f"{run_id}")  # fmt: skip
                return
            db.execute(
                "INSERT INTO pinned_keys(key_id, public_key, first_address, run_id, pinned)"
                " VALUES(?,?,?,?,?)",
                (key_id, public_key, address, run_id, time.time()),
            )

    def pinned_key(self, key_id: str, run_id: str | None) -> str | None:
        """The key run ``run_id`` pinned for ``key_id`` and still holds (not retired)."""
        row = self._db.execute(_LIVE_KEY, (key_id, run_id)).fetchone()
        return None if row is None else str(row[0])

    def pinned_keys(self, run_id: str | None, *, retired: bool = False) -> dict[str, str]:
        """key_id -> key of run ``run_id``'s live pins; ``retired``: its retired ones too
        (the latest pin of each key_id wins)."""
        return {p.key_id: p.public_key for p in self.pins(run_id=run_id, any_run=False)
                if retired or p.retired is None}  # fmt: skip

    def pins(
        self, key_id: str | None = None, *, run_id: str | None = None, any_run: bool = True
    ) -> list[PinRecord]:
        """Every pin ever made, live and retired, oldest first: of ``key_id`` (None: all),
        of every run (``any_run``) or of run ``run_id`` only (None: pinned outside a run)."""
        sql = (
            "SELECT p.key_id, p.public_key, p.first_address, p.run_id, p.pinned, p.retired,"
            " p.retired_reason, r.state FROM pinned_keys p LEFT JOIN runs r ON r.id = p.run_id"
            " WHERE 1=1"
        )
        args: list[str | None] = []
        if key_id is not None:
            sql += " AND p.key_id=?"
            args.append(key_id)
        if not any_run:
            sql += " AND p.run_id IS ?"
            args.append(run_id)
        rows = self._db.execute(sql + " ORDER BY p.pinned, p.id", args)
        return [PinRecord(*r) for r in rows]

    def retire_pins(self, run_id: str, reason: str) -> list[PinRecord]:
        """Retire every live pin of run ``run_id`` (its VMs are gone: ``reason`` says how);
        returns them, retired. The rows stay."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE pinned_keys SET retired=?, retired_reason=? WHERE run_id=?"
                " AND retired IS NULL",
                (now, reason, run_id),
            )
        return [p for p in self.pins(run_id=run_id, any_run=False) if p.retired == now]


class Journal(PinStore, SessionLog):
    """The journal of one zone. Open with ``Journal.open(path)``; every method commits."""

    @classmethod
    def open(cls, path: Path) -> Journal:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old_umask = os.umask(0o077)  # -wal and -shm are created by sqlite: keep them private
        try:
            _private_file(path)
            db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            schema.create(db, path)
        except sqlite3.DatabaseError as exc:
            raise InputError([Problem(_("not a nodeswap journal: {exc}").format(exc=exc),
                                      file=str(path))]) from exc
        finally:
            os.umask(old_umask)
        for suffix in ("-wal", "-shm"):
            side = Path(str(path) + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    # --- runs and steps ---------------------------------------------------------------

    def create_run(
        self,
        plan: Plan,
        *,
        operator: str,
        zone: str = "default",
        connection: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs(id, zone, plan_fingerprint, plan_json, operator,"
                " connection_json, state, started) VALUES(?,?,?,?,?,?,?,?)",
                (run_id, zone, plan.fingerprint(), json.dumps(plan.to_dict()), operator,
                 json.dumps(dict(connection or {})), RUN_RUNNING, now),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO steps(run_id, step_id, position, state, updated) VALUES(?,?,?,?,?)",
                [(run_id, s.id, i, PENDING, now) for i, s in enumerate(plan.steps)],
            )
        return run_id

    def run(self, run_id: str) -> RunRecord:
        row = self._db.execute(
            "SELECT id, zone, plan_fingerprint, plan_json, operator, connection_json, state,"
            " started, ended, message FROM runs WHERE id=?",
            (run_id,),
        ).fetchone()
        if row is None:
            known = ", ".join(r.id for r in self.runs()[:5]) or "none"
            raise InputError(
                [Problem(_("no run {run_id!r} in this journal (latest: {known})").format(
                    run_id=run_id, known=known),
                         file=str(self.path))]
            )  # fmt: skip
        return RunRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), *row[6:])

    def runs(self) -> list[RunRecord]:
        ids = [r[0] for r in self._db.execute("SELECT id FROM runs ORDER BY started DESC, id")]
        return [self.run(i) for i in ids]

    def set_run_state(self, run_id: str, state: str, message: str | None = None) -> None:
        if state not in RUN_STATES:
            raise BugError(f"unknown run state {state!r}")
        ended = None if state in (RUN_RUNNING, RUN_ROLLING_BACK) else time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET state=?, message=?, ended=? WHERE id=?",
                (state, message, ended, run_id),
            )

    def steps(self, run_id: str) -> list[StepRecord]:
        rows = self._db.execute(
            "SELECT run_id, step_id, position, state, approved, updated FROM steps"
            " WHERE run_id=? ORDER BY position",
            (run_id,),
        )
        return [StepRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def step(self, run_id: str, step_id: str) -> StepRecord:
        for s in self.steps(run_id):
            if s.step_id == step_id:
                return s
        raise BugError(f"run {run_id} has no step {step_id!r}")

    def set_step_state(self, run_id: str, step_id: str, state: str) -> None:
        if state not in STEP_STATES:
            raise BugError(f"unknown step state {state!r}")
        with self._tx() as db:
            cur = db.execute(
                "UPDATE steps SET state=?, updated=? WHERE run_id=? AND step_id=?",
                (state, time.time(), run_id, step_id),
            )
            if cur.rowcount != 1:
                raise BugError(f"run {run_id} has no step {step_id!r}")

    def approve(self, run_id: str, step_id: str, operator: str) -> None:
        """Gate ``step_id`` approved by ``operator`` (user@host), now (kept: ``approvals``)."""
        with self._tx() as db:
            db.execute(
                "UPDATE steps SET approved=1, updated=? WHERE run_id=? AND step_id=?",
                (time.time(), run_id, step_id),
            )
        self.record_approval(run_id, step_id, operator)

    # --- attempts -------------------------------------------------------------------------

    def begin_attempt(self, run_id: str, step_id: str, kind: str, host: str, command: str) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO attempts(run_id, step_id, kind, host, command, started)"
                " VALUES(?,?,?,?,?,?)",
                (run_id, step_id, kind, host, command, time.time()),
            )
            return int(cur.lastrowid or 0)

    def end_attempt(
        self,
        attempt_id: int,
        *,
        outcome: str,
        exit_status: int | None = None,
        timed_out: bool = False,
        error: str | None = None,
        stdout_z: bytes = b"",
        stderr_z: bytes = b"",
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempts SET ended=?, outcome=?, exit_status=?, timed_out=?, error=?,"
                " stdout=?, stderr=? WHERE id=?",
                (time.time(), outcome, exit_status, int(timed_out), error, stdout_z, stderr_z,
                 attempt_id),
            )  # fmt: skip

    def attempts(self, run_id: str, step_id: str | None = None) -> list[AttemptRecord]:
        sql = (
            "SELECT id, run_id, step_id, kind, host, command, started, ended, exit_status,"
            " timed_out, outcome, error FROM attempts WHERE run_id=?"
        )
        args: tuple[str, ...] = (run_id,)
        if step_id is not None:
            sql += " AND step_id=?"
            args = (run_id, step_id)
        rows = self._db.execute(sql + " ORDER BY id", args)
        return [
            AttemptRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bool(r[9]),
                          r[10], r[11])
            for r in rows
        ]  # fmt: skip

    def output(self, attempt_id: int) -> tuple[str, str]:
        """The whole (redacted) stdout and stderr of an attempt."""
        row = self._db.execute(
            "SELECT stdout, stderr FROM attempts WHERE id=?", (attempt_id,)
        ).fetchone()
        if row is None:
            raise BugError(f"no attempt {attempt_id}")
        return tuple(zlib.decompress(b).decode() if b else "" for b in row)  # type: ignore[return-value]

    def last_output(self, run_id: str, step_id: str, kind: str = "run") -> str | None:
        """stdout of the latest finished attempt of this kind (reference for analyses)."""
        done = [
            a for a in self.attempts(run_id, step_id) if a.kind == kind and a.ended is not None
        ]
        return self.output(done[-1].id)[0] if done else None

    # --- backups (pinned host keys: PinStore) ---------------------------------------------

    # --- the zone's fingerprint (schema 3) --------------------------------------------------

    def record_zone(self, run_id: str, kind: str, fingerprint: str, state: Mapping[str, Any], *,
                    step_id: str | None = None, operator: str | None = None,
                    note: str | None = None) -> None:  # fmt: skip
        """Record the zone's fingerprint for ``run_id`` as read now (after every attempt so
        far)."""
        with self._tx() as db:
            row = db.execute("SELECT ifnull(max(id), 0) FROM attempts").fetchone()
            db.execute(
                "INSERT INTO zone_marks(run_id, kind, step_id, after_attempt, fingerprint,"
                " state_json, recorded, operator, note) VALUES(?,?,?,?,?,?,?,?,?)",
                (run_id, kind, step_id, int(row[0]), fingerprint,
                 json.dumps(dict(state), sort_keys=True), time.time(), operator, note),
            )  # fmt: skip

    def zone_marks(self, run_id: str) -> list[ZoneMark]:
        """Every zone fingerprint ``run_id`` recorded, oldest first."""
        rows = self._db.execute(
            "SELECT id, run_id, kind, step_id, after_attempt, fingerprint, state_json, recorded,"
            " operator, note FROM zone_marks WHERE run_id=? ORDER BY id", (run_id,))
        return [ZoneMark(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], r[9])
                for r in rows]  # fmt: skip
