"""The services a lab host runs (haproxy, keepalived, nginx): on or off, in the host's
/run/lab/services.json (cleared at each boot). Must not: start real processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import hostroot


def set_running(root: Path, name: str, running: bool) -> None:
    path = root / "run/lab/services.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    state[name] = running
    hostroot.write(path, json.dumps(state))


def is_running(root: Path, name: str) -> bool:
    path = root / "run/lab/services.json"
    return bool(path.exists() and json.loads(path.read_text()).get(name))


def reset(root: Path) -> None:
    """A boot: nothing runs yet (the host's /run/lab starts empty)."""
    shutil.rmtree(root / "run/lab", ignore_errors=True)
    (root / "run/lab").mkdir(parents=True, exist_ok=True)
