"""The pure modules do no I/O (STYLE.md): they import none of the I/O libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "nodeswap"
PURE = [
    "model.py",
    "shell.py",
    "errors.py",
    "hostsfile.py",
    "settings.py",
    "inventory.py",
    "rules.py",
    "plan.py",
    "spec.py",
    "runbooks/__init__.py",
    "runbooks/base.py",
    "runbooks/commands.py",
    "runbooks/common.py",
    "runbooks/proxy.py",
    "checks/haproxy.py",
    "checks/haproxy_parse.py",
    "checks/findings.py",
    "checks/textfile.py",
    "checks/vip.py",
    "checks/rcfiles.py",
    "checks/supervisor.py",
    "preflight.py",
]
FORBIDDEN = {"asyncio", "asyncssh", "subprocess", "socket", "sqlite3", "rich", "typer", "os",
             "urllib", "http", "ssl", "shutil"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("rel", PURE)
def test_pure_module_imports_no_io(rel: str) -> None:
    path = SRC / rel
    if not path.exists():
        pytest.skip(f"{rel} not written yet")
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"{rel} imports I/O modules {sorted(bad)}"
