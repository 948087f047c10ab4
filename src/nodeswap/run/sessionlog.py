"""The sessions of a run and its gate approvals, as the journal keeps them (schema 4).

A session is one apply, resume or rollback of a run by one process: who drove it, when it
began, when it ended and the run's state then (``state`` None: it is running, or its process
died before it could say: ``kill -9``, a power cut). An approval is one gate step approved:
by whom, when. A seen key is the host key a known host (one nodeswap does not pin: an old
node, firstbox) presented to a run. All are for the report (who did what when, which keys),
never for deciding anything.

Owns ``Store`` (a journal file's connection and its transactions), the base of ``Journal``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# What a session did with its run.
APPLY, RESUME, ROLLBACK = "apply", "resume", "rollback"
# take_over: `resume --take-over` imported the run from its mirror on firstbox (issue 11); the
# session before it is the old holder's (its operator user@host, its pid)
TAKE_OVER = "take_over"
SESSION_ACTIONS = (APPLY, RESUME, ROLLBACK, TAKE_OVER)


@dataclass(frozen=True)
class SessionRecord:
    id: int
    run_id: str
    action: str  # apply | resume | rollback | take_over
    operator: str  # user@host
    pid: int
    started: float
    ended: float | None
    state: str | None  # the run's state when the session ended


@dataclass(frozen=True)
class ApprovalRecord:
    run_id: str
    step_id: str
    operator: str
    approved: float


class Store:
    """A journal file's connection and its transactions (every write commits)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


class SessionLog(Store):
    """Sessions and approvals of the journal's runs."""

    def begin_session(self, run_id: str, action: str, operator: str) -> int:
        """Record that this process begins to ``action`` run ``run_id``; returns its id."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO sessions(run_id, action, operator, pid, started) VALUES(?,?,?,?,?)",
                (run_id, action, operator, os.getpid(), time.time()))
            return int(cur.lastrowid or 0)

    def end_session(self, session_id: int, state: str) -> None:
        """Record that the session ended, the run in ``state``."""
        with self._tx() as db:
            db.execute("UPDATE sessions SET ended=?, state=? WHERE id=?",
                       (time.time(), state, session_id))

    def sessions(self, run_id: str) -> list[SessionRecord]:
        """The run's sessions, oldest first."""
        rows = self._db.execute(
            "SELECT id, run_id, action, operator, pid, started, ended, state FROM sessions"
            " WHERE run_id=? ORDER BY id", (run_id,))
        return [SessionRecord(*r) for r in rows]

    def record_approval(self, run_id: str, step_id: str, operator: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO approvals(run_id, step_id, operator, approved)"
                       " VALUES(?,?,?,?)", (run_id, step_id, operator, time.time()))

    def approvals(self, run_id: str) -> list[ApprovalRecord]:
        """The run's gate approvals, oldest first."""
        rows = self._db.execute(
            "SELECT run_id, step_id, operator, approved FROM approvals WHERE run_id=?"
            " ORDER BY id", (run_id,))
        return [ApprovalRecord(*r) for r in rows]

    def saw_key(self, key_id: str, public_key: str, address: str, run_id: str | None) -> None:
        """Host ``key_id`` (a known host: not pinned) presented ``public_key`` at ``address``
        to run ``run_id`` (kept once per run, key_id and key)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO seen_keys(run_id, key_id, public_key, address, seen)"
                       " VALUES(?,?,?,?,?)", (run_id, key_id, public_key, address, time.time()))

    def seen_keys(self, run_id: str | None) -> dict[str, str]:
        """key_id -> the key that host presented to run ``run_id`` (the latest one seen)."""
        rows = self._db.execute("SELECT key_id, public_key FROM seen_keys WHERE run_id IS ?"
                                " ORDER BY id", (run_id,))
        return {k: v for k, v in rows}
