"""The journal file's SQLite schema, its version and the migrations of older files.

Schema versions (meta 'schema'): 1, pinned_keys one row per key_id for the zone; 2, one live
row per (run_id, key_id), retired rows kept; 3, zone_marks: the zone's fingerprint as a run
recorded it (nodeswap.live.worldcheck); 4, sessions (each apply, resume or rollback of a run:
who, when, how it ended), approvals (each gate approved: who, when) and seen_keys (the host
key each known host presented to a run: the old nodes' keys, for the report). ``migrate`` brings
a version 1, 2 or 3 file to the current version in one transaction and refuses a newer one
(exit 2).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

SCHEMA_VERSION = 4

# Why a pin was retired: the run's rollback destroyed the VM ({run_id}: that run).
RETIRED_BY_ROLLBACK = "destroyed by rollback of run {run_id}"

SCHEMA = """
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
  id INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, public_key TEXT NOT NULL,
  first_address TEXT NOT NULL, run_id TEXT, pinned REAL NOT NULL,
  retired REAL, retired_reason TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS pinned_keys_live
  ON pinned_keys(ifnull(run_id, ''), key_id) WHERE retired IS NULL;
"""
# Schema 3: the zone's fingerprint (settings, installer version, variables) as run_id saw it
# on firstbox: at its start, after a step (or an undo) on firstbox, or accepted by a person.
# ``after_attempt``: the highest attempt id of the journal when it was read (attempts after it
# are not reflected). ``state_json``: per-file sha256, the version, the variables.
_ZONE_MARKS = """
CREATE TABLE IF NOT EXISTS zone_marks(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, kind TEXT NOT NULL,
  step_id TEXT, after_attempt INTEGER NOT NULL, fingerprint TEXT NOT NULL,
  state_json TEXT NOT NULL, recorded REAL NOT NULL, operator TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS zone_marks_run ON zone_marks(run_id, id);
"""
SCHEMA += _ZONE_MARKS
# Schema 4: the sessions of a run (one per apply, resume or rollback: ``action``; who drove it,
# from which process; ``state``: the run's state when it ended, NULL while it runs or when its
# process died), the gate approvals (who approved which gate step, when) and the host keys the
# hosts nodeswap does not pin presented to the run (checked against known_hosts; one row per
# run, key_id and key: an old node's key survives its replacement here). For the report.
_SESSIONS = """
CREATE TABLE IF NOT EXISTS sessions(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, action TEXT NOT NULL,
  operator TEXT NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL, ended REAL, state TEXT);
CREATE INDEX IF NOT EXISTS sessions_run ON sessions(run_id, id);
CREATE TABLE IF NOT EXISTS approvals(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT NOT NULL,
  operator TEXT NOT NULL, approved REAL NOT NULL);
CREATE INDEX IF NOT EXISTS approvals_run ON approvals(run_id, id);
CREATE TABLE IF NOT EXISTS seen_keys(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, key_id TEXT NOT NULL,
  public_key TEXT NOT NULL, address TEXT NOT NULL, seen REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS seen_keys_once
  ON seen_keys(ifnull(run_id, ''), key_id, public_key);
"""
SCHEMA += _SESSIONS


def create(db: sqlite3.Connection, path: Path) -> None:
    """Make ``db`` a journal of the current schema: a new file gets every table, an older
    one is migrated first (InputError when it is newer than this nodeswap)."""
    db.execute("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    migrate(db, path)
    db.executescript(SCHEMA)
    db.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES('schema', ?)", (str(SCHEMA_VERSION),)
    )


def schema_version(db: sqlite3.Connection) -> int:
    """The file's schema version; 0 for a new, empty file."""
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    try:
        return int(row[0]) if row is not None else 0
    except ValueError as exc:
        raise sqlite3.DatabaseError(f"unreadable schema version {row[0]!r}") from exc


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring a journal written by an older nodeswap to SCHEMA_VERSION, in one transaction
    (another process opening the same file at once waits, then finds it done). A newer
    journal is refused: this nodeswap would misread it."""
    if schema_version(db) in (0, SCHEMA_VERSION):
        return  # new or current: no write lock taken on every open
    db.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(db)
        if version > SCHEMA_VERSION:
            raise InputError([Problem(
                _("journal schema {version} is newer than this nodeswap's ({schema_version}): "
                  "use the nodeswap that wrote it").format(version=version,
                  schema_version=SCHEMA_VERSION), file=str(path))])  # fmt: skip
        if version == 1:
            _pins_v1_to_v2(db)
        if version <= 2:
            _marks_v2_to_v3(db)
        if version <= 3:
            _add(db, _SESSIONS)  # runs recorded before schema 4 have no sessions, no approvals
        if 0 < version < SCHEMA_VERSION:
            db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _pins_v1_to_v2(db: sqlite3.Connection) -> None:
    """Schema 1 kept one pin per key_id for the whole zone. Each row becomes a pin of the run
    that made it (run_id kept as it was, NULL too); the pins of runs rolled back to the end
    are retired at the time the rollback ended (it destroyed their VMs), as rollback does
    from schema 2 on."""
    db.execute("ALTER TABLE pinned_keys RENAME TO pinned_keys_v1")
    db.execute(
        "CREATE TABLE pinned_keys("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, public_key TEXT NOT NULL,"
        " first_address TEXT NOT NULL, run_id TEXT, pinned REAL NOT NULL,"
        " retired REAL, retired_reason TEXT)"
    )
    db.execute(
        "INSERT INTO pinned_keys(key_id, public_key, first_address, run_id, pinned)"
        " SELECT key_id, public_key, first_address, run_id, pinned FROM pinned_keys_v1"
        " ORDER BY pinned, key_id"
    )
    db.execute("DROP TABLE pinned_keys_v1")
    db.execute(
        "UPDATE pinned_keys SET retired=(SELECT ifnull(ended, started) FROM runs"
        " WHERE runs.id=pinned_keys.run_id), retired_reason=replace(?, '{run_id}', run_id)"
        " WHERE run_id IN (SELECT id FROM runs WHERE state=?)",
        (RETIRED_BY_ROLLBACK, "rolled_back"),  # a run state, as schema 1 wrote it
    )


def _marks_v2_to_v3(db: sqlite3.Connection) -> None:
    """Schema 3 adds zone_marks; runs recorded before it have none (worldcheck then compares
    with the plan's fingerprint where it can)."""
    _add(db, _ZONE_MARKS)


def _add(db: sqlite3.Connection, script: str) -> None:
    """Run ``script``'s statements inside the migration's transaction (executescript would
    commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
