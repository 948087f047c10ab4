"""What an installed nodeswap points at exists in the package (issue 13, air-gapped install).

Help texts name the sample zones and the lab's README by their path inside the installed package
(a wheel has no examples/ or src/ of a checkout), and `--version` reads pyproject's version from
the installed metadata, lazily. The wheel itself is checked in tests/test_wheelhouse.py (slow).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def nodeswap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodeswap", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, check=False)


def test_plan_help_examples_paste_as_printed_from_any_folder(tmp_path: Path) -> None:
    res = nodeswap("plan", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("nodeswap plan"))
    example = [lines[start].strip()]
    while example[-1].endswith("\\"):
        start += 1
        example.append(lines[start].strip())
    paths = re.findall(r"(/\S*/examples/\S+)", res.stdout)
    assert len(paths) >= 4, res.stdout
    for path in paths:
        assert Path(path).exists(), f"plan --help names {path}, which does not exist"
    # pasted as printed, from a folder that has no examples/ of its own (offline plan only)
    script = f'nodeswap() {{ "{sys.executable}" -m nodeswap "$@"; }}\n' + "\n".join(example)
    env = dict(os.environ)
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path, env=env, check=False)
    assert run.returncode == 0, run.stderr
    assert "GATE R30" in run.stdout and "plan sha256" in run.stderr


def test_lab_fault_help_names_the_shipped_readme(tmp_path: Path) -> None:
    res = nodeswap("lab", "fault", "--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    found = re.search(r"(/\S+/lab/README\.md)", res.stdout)
    assert found, res.stdout
    assert "## Fault API" in Path(found[1]).read_text()


def test_version_is_pyprojects_read_only_when_asked(tmp_path: Path) -> None:
    version = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert version
    res = nodeswap("--version", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"nodeswap {version[1]}"
    src = (ROOT / "src" / "nodeswap").rglob("*.py")
    assert not [p for p in src if "__version__" in p.read_text()], "a second version source"
    code = ("import sys, nodeswap, nodeswap.examples, nodeswap.zone, nodeswap.plan; "
            "print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False", "importlib.metadata loaded at import time"
