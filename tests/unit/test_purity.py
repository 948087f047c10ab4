"""The pure core does no I/O (STYLE.md, issue 12): every module of zone/, plan/, runbooks/ and
the checks' analyzers, imported alone in a fresh interpreter, loads none of the I/O libraries,
even transitively. New modules in those folders are covered without editing this file.

Edges, named with their reason (each still checked against everything else):
- plan/spec.py defines pydantic models; pydantic's plugin registry imports importlib.metadata,
  which loads email and so socket. Nothing pure imports the spec at run time (type hints only).
- checks/validate.py runs ``haproxy -c``; checks/probe.py is an HTTP GET from this machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PURE_FOLDERS = ("zone", "plan", "runbooks", "checks")
FORBIDDEN = ("asyncssh", "sqlite3", "rich", "typer", "subprocess", "socket", "ssl", "asyncio",
             "urllib.request", "http.client")
EDGES = {  # module -> the forbidden modules it may load, and why (see the docstring)
    "nodeswap.plan.spec": {"socket"},
    "nodeswap.checks.validate": {"subprocess", "socket"},
    "nodeswap.checks.probe": {"socket", "ssl", "urllib.request", "http.client"},
}


def modules() -> list[str]:
    found = []
    for folder in PURE_FOLDERS:
        for path in sorted((SRC / "nodeswap" / folder).rglob("*.py")):
            parts = path.relative_to(SRC).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def loaded_io(module: str) -> list[str]:
    code = (f"import importlib, json, sys; importlib.import_module({module!r}); "
            f"print(json.dumps([m for m in {list(FORBIDDEN)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=SRC)  # fmt: skip
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def test_the_pure_folders_hold_the_modules_they_should() -> None:
    found = modules()
    for name in ("nodeswap.zone.settings", "nodeswap.zone.settings_syntax",
                 "nodeswap.zone.inventory", "nodeswap.zone.groups", "nodeswap.zone.facts",
                 "nodeswap.zone.snapshot", "nodeswap.plan.build", "nodeswap.plan.model",
                 "nodeswap.plan.rules", "nodeswap.plan.preflight", "nodeswap.runbooks.proxy",
                 "nodeswap.checks.haproxy", "nodeswap.checks.haproxy_rules",
                 "nodeswap.checks.registry"):
        assert name in found


@pytest.mark.parametrize("module", modules())
def test_pure_module_loads_no_io_library(module: str) -> None:
    allowed = EDGES.get(module, set())
    bad = [m for m in loaded_io(module) if m not in allowed]
    assert not bad, f"importing {module} loads {bad}"
