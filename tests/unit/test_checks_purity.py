"""The checks' pure modules (more than tests/unit/test_purity.py lists) import no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "nodeswap" / "checks"
PURE_CHECKS = ["findings.py", "textfile.py", "haproxy_parse.py", "haproxy.py", "rcfiles.py",
               "supervisor.py", "vip.py"]
FORBIDDEN = {"asyncio", "asyncssh", "subprocess", "socket", "sqlite3", "rich", "typer", "os",
             "urllib", "http", "ssl", "shutil"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("rel", PURE_CHECKS)
def test_pure_check_module_imports_no_io(rel: str) -> None:
    bad = _imports(SRC / rel) & FORBIDDEN
    assert not bad, f"checks/{rel} imports I/O modules {sorted(bad)}"
