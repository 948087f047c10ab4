"""Journals of real runs in each state the report must get right (issue 13), made on one
default-topology lab zone with ``upgrade_kit``, copied aside at each stage:

    failed       update.sh fails (R23): the run stops, proxy0/proxy1 not replaced
    rolled_back  the same run rolled back after the fault is cleared
    interrupted  a new run stopped by SIGINT when r29-exec starts (as Ctrl-C would)
    done         that run resumed with every gate approved: the zone upgraded

``record_runs(folder)`` returns {state: (journal copy, run id)}; about 1.5 minutes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from upgrade_kit import Zone, on_step, zone

UPDATE = "/pitrix/upgrade/update.sh"
KINDS = ("failed", "rolled_back", "interrupted", "done")


def _copy(z: Zone, folder: Path, kind: str) -> tuple[Path, str]:
    """A consistent copy of the zone's journal (sqlite's backup: WAL included)."""
    assert z.journal is not None
    dest = folder / f"{kind}.journal.sqlite"
    src = sqlite3.connect(str(z.journal.path))
    dst = sqlite3.connect(str(dest))
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return dest, z.run_id


def record_runs(folder: Path, *, tag: str = "report") -> dict[str, tuple[Path, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, str]] = {}
    with zone(tag=tag) as z:
        z.plan()
        fb = z.info.firstbox or ""
        z.lab.fault("command-fails", host=fb, command=UPDATE)
        assert z.run() == "failed", z.errors
        out["failed"] = _copy(z, folder, "failed")
        z.lab.clear_fault("command-fails", host=fb, command=UPDATE)
        assert z.rollback() == "rolled_back", z.errors
        out["rolled_back"] = _copy(z, folder, "rolled_back")
        z.new_run()
        z.plan()
        ctrl_c = on_step("r29-exec", lambda: os.kill(os.getpid(), signal.SIGINT))
        assert z.run(events=ctrl_c) == "interrupted", z.errors
        out["interrupted"] = _copy(z, folder, "interrupted")
        assert z.resume() == "done", z.errors
        z.assert_upgraded()
        out["done"] = _copy(z, folder, "done")
    return out
