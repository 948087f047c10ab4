"""The pure core does no I/O (STYLE.md, issue 12): every module of zone/, plan/, runbooks/ and
the checks' analyzers, imported alone in a fresh interpreter, loads none of the I/O libraries,
even transitively. New modules in those folders are covered without editing this file.
The layers point one way: zone/ (the zone's files and facts) imports nothing of plan/,
runbooks/ or anything above them; runbooks/ and plan/ build on zone/.

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


# package -> the nodeswap packages above it, which it may not load
ABOVE = {"zone": ("plan", "runbooks", "live", "run", "cli", "report", "lab", "transport")}


def loaded(module: str) -> list[str]:
    """Every module loaded by importing ``module`` alone in a fresh interpreter."""
    code = (f"import importlib, json, sys; importlib.import_module({module!r}); "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=SRC)  # fmt: skip
    names: list[str] = json.loads(out.stdout)
    return names


def loaded_io(module: str) -> list[str]:
    names = set(loaded(module))
    return [m for m in FORBIDDEN if m in names]


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


@pytest.mark.parametrize("module", [m for m in modules() if m.split(".")[1] in ABOVE])
def test_a_lower_layer_loads_nothing_above_it(module: str) -> None:
    above = tuple(f"nodeswap.{p}" for p in ABOVE[module.split(".")[1]])
    bad = [m for m in loaded(module) if m.startswith(above)]
    assert not bad, f"importing {module} loads {bad} (a layer above it)"
