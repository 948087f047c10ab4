"""The run's mirror on firstbox (issue 11: the journal outlives the operator's machine).

After every step (and at every run state change: a gate, a failure, the end), the executor
writes the run's journal record to firstbox over the connection it already holds, so
``nodeswap resume RUN --take-over`` from another machine can continue it (nodeswap.run.takeover).

Where: ``<lock folder>/runs/RUN/`` on firstbox (``/var/lib/nodeswap/runs/RUN/`` with the default
lock path), folder 0700, files 0600:

- ``plan.json``: the plan as applied (the journal's copy); its sha256 is in the header line.
- ``journal.jsonl``: one JSON object per line, ``{"t": KIND, "k": KEY, "row": {...}, "sum":
  SHA256}``; ``sum`` is the sha256 of ``[t, k, row]`` as compact sorted JSON, so a line cut
  by a dying writer is seen and skipped. The first line is the header (``t`` "header": format,
  version, run, plan_sha256). Records: ``run`` (one), ``step`` (key: step id), ``attempt``,
  ``pin``, ``session``, ``approval``, ``seen_key``, ``zone_mark`` (key: the writer's journal
  row id). A later line with the same (t, k) replaces the earlier one: the file is appended
  to, one command per write, and rewritten whole (temporary name, then rename) by the first
  write of each process or after a failed write.

What it holds is the local journal's, already redacted (outputs stay zlib-compressed, in
base64); the writer passes every text through the run's redactor once more. Public: other
tools may read it (docs/public-formats.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import posixpath
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nodeswap.errors import InputError, Problem, TransportError
from nodeswap.i18n import _
from nodeswap.plan.model import Target
from nodeswap.run.events import EventSink, Notice
from nodeswap.run.journal import Journal
from nodeswap.run.lock import DEFAULT_LOCK_PATH
from nodeswap.shell import cmd
from nodeswap.transport.base import Connector
from nodeswap.transport.redact import Redactor

FORMAT, VERSION = "nodeswap-run-mirror", 1
PLAN_FILE, JOURNAL_FILE = "plan.json", "journal.jsonl"
Key = tuple[str, str]

# (kind, table, key column, columns). Every table but runs/steps has an integer row id.
_TABLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("step", "steps", "step_id", ("step_id", "position", "state", "approved", "updated")),
    ("attempt", "attempts", "id", ("id", "step_id", "kind", "host", "command", "started",
                                   "ended", "exit_status", "timed_out", "outcome", "error",
                                   "stdout", "stderr")),
    ("pin", "pinned_keys", "id", ("id", "key_id", "public_key", "first_address", "pinned",
                                  "retired", "retired_reason")),
    ("session", "sessions", "id", ("id", "action", "operator", "pid", "started", "ended",
                                   "state")),
    ("approval", "approvals", "id", ("id", "step_id", "operator", "approved")),
    ("seen_key", "seen_keys", "id", ("id", "key_id", "public_key", "address", "seen")),
    ("zone_mark", "zone_marks", "id", ("id", "kind", "step_id", "after_attempt", "fingerprint",
                                       "state_json", "recorded", "operator", "note")),
)  # fmt: skip
_RUN_COLUMNS = ("id", "zone", "plan_fingerprint", "operator", "connection_json", "state",
                "started", "ended", "message")  # fmt: skip
_BLOBS = ("stdout", "stderr")
_TEXTS = ("command", "error", "message", "note", "connection_json", "state_json")


def mirror_dir(lock_path: str | None, run_id: str) -> str:
    """The run's mirror folder on firstbox: ``runs/RUN`` beside the zone lock."""
    return posixpath.join(posixpath.dirname(lock_path or DEFAULT_LOCK_PATH) or "/", "runs",
                          run_id)  # fmt: skip


def plan_sha256(plan_json: str) -> str:
    return hashlib.sha256(plan_json.encode()).hexdigest()


def _sum(t: str, k: str, row: Mapping[str, Any]) -> str:
    body = json.dumps([t, k, row], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def line(t: str, k: str, row: Mapping[str, Any]) -> str:
    """One record of journal.jsonl, with its integrity sum, newline-terminated."""
    return json.dumps({"t": t, "k": k, "row": dict(row), "sum": _sum(t, k, row)},
                      sort_keys=True, separators=(",", ":")) + "\n"  # fmt: skip


def header(run_id: str, plan_json: str) -> str:
    return line("header", "", {"format": FORMAT, "version": VERSION, "run": run_id,
                               "plan_sha256": plan_sha256(plan_json)})  # fmt: skip


@dataclass
class Mirror:
    """A mirror as read: the header, the latest row of every record, and how many damaged
    lines were skipped (only ever the last one: a cut write)."""

    header: dict[str, Any]
    records: dict[Key, dict[str, Any]] = field(default_factory=dict)
    skipped: int = 0

    def rows(self, t: str) -> list[dict[str, Any]]:
        return [row for (kind, _k), row in self.records.items() if kind == t]

    @property
    def run(self) -> dict[str, Any]:
        rows = self.rows("run")
        if not rows:
            raise InputError([Problem(_("the mirror of run {run} has no run record").format(
                run=self.header.get("run")))])  # fmt: skip
        return rows[0]

    def progress(self) -> tuple[int, int]:
        """How far the run got: (ended attempts, attempts), to compare with a journal."""
        attempts = self.rows("attempt")
        return sum(a["ended"] is not None for a in attempts), len(attempts)


def _checked(text: str) -> tuple[str, str, dict[str, Any]] | None:
    try:
        d = json.loads(text)
        t, k, row, got = d["t"], d["k"], d["row"], d["sum"]
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(t, str) and isinstance(k, str) and isinstance(row, dict)):
        return None
    return (t, k, row) if got == _sum(t, k, row) else None


def parse(text: str, where: str = JOURNAL_FILE) -> Mirror:
    """Read journal.jsonl. A damaged last line (a write cut short) is skipped; a damaged line
    before the last, a missing or foreign header, a newer version: InputError (exit 2)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    mirror: Mirror | None = None
    skipped = 0
    for n, raw in enumerate(lines, 1):
        rec = _checked(raw)
        if rec is None:
            if n == len(lines) and not text.endswith("\n"):
                skipped += 1
                continue
            raise InputError([Problem(_("damaged mirror: line {n} fails its check").format(n=n),
                                      file=where)])  # fmt: skip
        t, k, row = rec
        if mirror is None:
            if t != "header" or row.get("format") != FORMAT:
                raise InputError([Problem(_("not a nodeswap run mirror"), file=where)])
            if int(row.get("version", 0)) > VERSION:
                raise InputError([Problem(_("mirror version {v} is newer than this nodeswap's"
                                            ).format(v=row.get("version")), file=where)])
            mirror = Mirror(dict(row))
        elif t != "header":
            mirror.records[(t, k)] = row
    if mirror is None:
        raise InputError([Problem(_("empty mirror"), file=where)])
    mirror.skipped = skipped
    return mirror


# Rows that never change once written (an attempt: once it ended): a writer sends each once.
_IMMUTABLE = ("attempt", "approval", "seen_key", "zone_mark")


@dataclass
class Sent:
    """How far a writer's mirror is: per immutable kind, the highest row id sent, and the
    attempts sent while still open (sent again when they end)."""

    last_id: dict[str, int] = field(default_factory=dict)
    open_attempts: frozenset[int] = frozenset()


def export(journal: Journal, run_id: str, redact: Redactor | None = None,
           since: Sent | None = None) -> tuple[dict[Key, str], Sent]:  # fmt: skip
    """The records of ``run_id`` in ``journal`` as mirror lines, by (t, k): all of them, or
    (``since``) all but the immutable ones already sent; and how far they go."""
    db = journal._db  # the journal's own connection
    scrub = redact or Redactor.of(())
    since = since or Sent()
    out: dict[Key, str] = {}
    last, still_open = dict(since.last_id), set()

    def put(t: str, k: str, row: dict[str, Any]) -> None:
        for col in _TEXTS:
            if isinstance(row.get(col), str):
                row[col] = scrub(row[col])
        for col in _BLOBS:
            if col in row:
                row[col] = base64.b64encode(row[col] or b"").decode()
        out[(t, k)] = line(t, k, row)

    run = db.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE id=?",  # noqa: S608
                     (run_id,)).fetchone()  # fmt: skip
    if run is not None:
        put("run", run_id, dict(zip(_RUN_COLUMNS, run, strict=True)))
    for t, table, key, cols in _TABLES:
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE run_id=?"  # noqa: S608
        args: list[str | int] = [run_id]
        if t in _IMMUTABLE:
            opened = sorted(since.open_attempts) if t == "attempt" else []
            again = f" OR id IN ({','.join('?' * len(opened))})" if opened else ""
            sql += f" AND (id > ?{again})"
            args += [since.last_id.get(t, 0), *opened]
        for r in db.execute(sql, args):
            row = dict(zip(cols, r, strict=True))
            if t in _IMMUTABLE:
                last[t] = max(last.get(t, 0), int(row["id"]))
                if t == "attempt" and row["ended"] is None:
                    still_open.add(int(row["id"]))
            put(t, str(row[key]), row)
    return out, Sent(last, frozenset(still_open))


def import_run(journal: Journal, mirror: Mirror, plan_json: str,
               connection: Mapping[str, Any]) -> str:  # fmt: skip
    """Record the mirrored run in ``journal`` (replacing what it held of that run), with
    ``connection`` (how this machine reaches the zone); returns the run id. Row ids are this
    journal's own; zone marks' ``after_attempt`` follows the attempts they counted."""
    run = mirror.run
    run_id = str(run["id"])
    with journal._tx() as db:  # all of the run, or nothing
        for _t, table, _key, _cols in _TABLES:
            db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))  # noqa: S608
        db.execute("DELETE FROM runs WHERE id=?", (run_id,))
        db.execute(
            "INSERT INTO runs(id, zone, plan_fingerprint, plan_json, operator, connection_json,"
            " state, started, ended, message) VALUES(?,?,?,?,?,?,?,?,?,?)",
            (run_id, run["zone"], run["plan_fingerprint"], plan_json, run["operator"],
             json.dumps(dict(connection)), run["state"], run["started"], run["ended"],
             run["message"]))  # fmt: skip
        ids: dict[int, int] = {0: 0}
        for t, table, key, cols in _TABLES:
            order = "position" if t == "step" else key
            rows = sorted(mirror.rows(t), key=lambda r: r[order])
            mine = [c for c in cols if c != "id"]
            for row in rows:
                values = [_value(row, c, ids if t == "zone_mark" else None) for c in mine]
                cur = db.execute(
                    f"INSERT INTO {table}(run_id, {', '.join(mine)})"
                    f" VALUES(?{', ?' * len(mine)})", (run_id, *values))
                if t == "attempt":
                    ids[int(row["id"])] = int(cur.lastrowid or 0)
    return run_id


def _value(row: Mapping[str, Any], col: str, ids: dict[int, int] | None) -> Any:
    v = row.get(col)
    if col in _BLOBS:
        return base64.b64decode(v or "")
    if col == "after_attempt" and ids is not None:  # the latest attempt it counted, here
        return max((mine for old, mine in ids.items() if old <= int(v or 0)), default=0)
    return v


def journal_progress(journal: Journal, run_id: str) -> tuple[int, int]:
    attempts = journal.attempts(run_id)
    return sum(a.ended is not None for a in attempts), len(attempts)


def new_lines(lines: Mapping[Key, str], sent: Mapping[Key, str]) -> list[str]:
    """The lines not yet written as they are now (a record that changed is written again)."""
    return [text for key, text in lines.items() if sent.get(key) != text]


def whole(run_id: str, plan_json: str, lines: Iterable[str]) -> str:
    """A complete journal.jsonl: the header, then every record."""
    return header(run_id, plan_json) + "".join(lines)


MIRROR_TIMEOUT = 60.0


def _put_command(folder: str, name: str) -> str:
    """Write stdin to ``folder/name`` atomically (temporary name, then rename), 0600 in a
    0700 folder."""
    tmp, final = posixpath.join(folder, f".{name}.tmp"), posixpath.join(folder, name)
    return (f"umask 077 && mkdir -p {cmd(folder)} && chmod 700 {cmd(posixpath.dirname(folder))}"
            f" {cmd(folder)} && cat > {cmd(tmp)} && mv -f {cmd(tmp)} {cmd(final)}")


class MirrorWriter:
    """Writes one run's record to its mirror on firstbox: whole at the first write of this
    process (and after a failed one), then only the records that changed, appended in one
    command. A write that fails is said (a Notice) and never stops the run."""

    def __init__(self, journal: Journal, connector: Connector, lock_path: str | None, *,
                 events: EventSink, redact: Redactor) -> None:  # fmt: skip
        self.journal = journal
        self._conn = connector
        self._lock_path = lock_path
        self._emit = events
        self._redact = redact
        self._sent: dict[Key, str] = {}
        self._upto = Sent()
        self._whole = True
        self._busy = asyncio.Lock()
        self._pending: list[asyncio.Future[None]] = []
        self._targets: dict[str, Target | None] = {}
        # for the bench: commands sent, time in them, time the run waited for them
        self.writes, self.seconds, self.waited = 0, 0.0, 0.0

    def soon(self, run_id: str) -> None:
        """Start a write and go on (the next step runs while it goes): after each step. The
        next ``sync`` waits for it; so a lost machine's mirror may lack the read-only steps
        after its last side effect (they run again: reading is safe)."""
        self._pending.append(asyncio.ensure_future(self._sync(run_id)))

    async def sync(self, run_id: str) -> None:
        """Bring the mirror of ``run_id`` up to the journal now, and wait for it: before a
        side-effect command is sent (the machine that takes over sees the step was begun, as
        the journal here does) and at the end of a session."""
        started = time.monotonic()
        try:
            pending, self._pending = self._pending, []
            for task in pending:
                await task
            await self._sync(run_id)
        finally:
            self.waited += time.monotonic() - started

    async def _sync(self, run_id: str) -> None:
        target = self._target(run_id)
        if target is None:  # no firstbox: nothing to do
            return
        async with self._busy:
            started = time.monotonic()
            try:
                await self._write(self.journal.run(run_id).plan_json, run_id, target)
            except TransportError as exc:
                self._whole = True
                self._emit(Notice(f"could not write the run's mirror on {target.name}: {exc};"
                                  " it is written again at the next step", run_id))
            except BaseException:
                self._whole = True  # cut mid-write (Ctrl-C): the next write is whole
                raise
            finally:
                self.seconds += time.monotonic() - started

    def _target(self, run_id: str) -> Target | None:
        if run_id not in self._targets:
            run = self.journal.run(run_id)
            self._targets[run_id] = run.plan().firstbox \
                if run.connection.get("mode") == "ssh" else None
        return self._targets[run_id]

    def log_cost(self, run_id: str) -> None:
        """What the mirror cost this process (the run's log; bench/bench_mirror.py reads it)."""
        logging.getLogger(__name__).info("mirror of run %s: %d writes, %.3f s, waited %.3f s",
                                         run_id, self.writes, self.seconds, self.waited)

    async def _write(self, plan_json: str, run_id: str, target: Target) -> None:
        fresh, upto = export(self.journal, run_id, self._redact, self._upto)
        lines = {**self._sent, **fresh}
        folder = mirror_dir(self._lock_path, run_id)
        if self._whole:
            writes = [(PLAN_FILE, plan_json, True),
                      (JOURNAL_FILE, whole(run_id, plan_json, lines.values()), True)]
        else:
            new = new_lines(lines, self._sent)
            writes = [(JOURNAL_FILE, "".join(new), False)] if new else []
        if not writes:
            return
        t = await self._conn.transport(target)
        for name, text, atomic in writes:
            command = _put_command(folder, name) if atomic else \
                f"umask 077 && cat >> {cmd(posixpath.join(folder, name))}"
            res = await t.run(command, stdin=text, timeout=MIRROR_TIMEOUT)
            self.writes += 1
            if res.exit_status != 0:
                raise TransportError(_("cannot write the mirror {path}: {output}")
                                     .format(path=posixpath.join(folder, name),
                                             output=res.tail()))
        self._sent, self._upto, self._whole = lines, upto, False
