"""The air-gapped install (issue 13): `make wheelhouse` and the README's "Install on a jump host".

One wheelhouse is built per module, as `make wheelhouse` builds it (scripts/wheelhouse.py, from
PyPI), then checked: its file names (manylinux2014 x86_64 at most), its hashed requirements
(runtime dependencies only), nodeswap's own wheel (the examples and the lab's README inside, the
pyproject metadata). Then the README's jump-host commands run exactly as written, in a network
namespace with no network (`unshare --net`) and without any pip configuration, from a clean venv
of this machine's python3 and of each other CPython the wheelhouse covers that is installed here.
The installed nodeswap then prints its version and plans the first example of its own
`plan --help`, pasted as printed (offline: the examples name 10.x addresses, never applied).

Marked slow (make test-slow): building the wheelhouse downloads about 30 wheels.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nodeswap"
PYTHONS = ("3.10", "3.11", "3.12")
TEST_EXTRAS = ("pytest", "hypothesis", "mypy", "ruff", "types-pyyaml", "pexpect", "pytest-xdist")


def pyproject_version() -> str:
    found = re.search(r'^version = "([^"]+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml has no version"
    return found[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_tags(filename: str) -> tuple[str, str, str, set[str]]:
    """(name, version, abi, platform tags) of a wheel file name."""
    parts = filename[:-len(".whl")].split("-")
    assert len(parts) in (5, 6), filename
    return canonical(parts[0]), parts[1], parts[-2], set(parts[-1].split("."))


def glibc_of(tag: str) -> tuple[int, int] | None:
    """The glibc a manylinux x86_64 tag needs; None for 'any' (pure Python)."""
    legacy = {"manylinux1_x86_64": (2, 5), "manylinux2010_x86_64": (2, 12),
              "manylinux2014_x86_64": (2, 17)}
    if tag == "any":
        return None
    if tag in legacy:
        return legacy[tag]
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", tag)
    assert m, f"platform tag {tag} is neither pure nor manylinux x86_64"
    return int(m[1]), int(m[2])


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "wheelhouse"
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "wheelhouse.py"), "--out",
                          str(out)], capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "requirements.txt with" in res.stdout
    return out


def requirement_pins(wheelhouse: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes) from requirements.txt."""
    text = (wheelhouse / "requirements.txt").read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)\s+((?:--hash=sha256:[0-9a-f]{64}\s*)+)", line)
        assert m, f"requirements.txt: not a pinned, hashed line: {line!r}"
        pins[canonical(m[1])] = (m[2], re.findall(r"sha256:([0-9a-f]{64})", m[3]))
    return pins


def test_every_wheel_installs_on_manylinux2014_x86_64(wheelhouse: Path) -> None:
    wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
    assert len(wheels) > 10
    assert sorted(p.name for p in wheelhouse.iterdir() if p.suffix != ".whl") == \
        ["requirements.txt"], "only wheels: no sdist to build on the jump host"
    for name in wheels:
        needs = [glibc_of(tag) for tag in wheel_tags(name)[3]]
        # one tag is enough for pip; a name may also list manylinux_2_28 beside manylinux2014
        assert None in needs or min(n for n in needs if n) <= (2, 17), \
            f"{name} needs a glibc newer than 2.17 (manylinux2014)"


def test_compiled_dependencies_have_a_wheel_for_each_python(wheelhouse: Path) -> None:
    abis: dict[str, set[str]] = {}
    for path in wheelhouse.glob("*.whl"):
        name, _, abi, platforms = wheel_tags(path.name)
        if platforms != {"any"}:
            abis.setdefault(name, set()).add(abi)
    assert {"pydantic-core", "pyyaml", "markupsafe", "cryptography"} <= set(abis)
    machine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for name, found in abis.items():
        for version in {*PYTHONS, machine}:
            cp = "cp" + version.replace(".", "")
            ok = cp in found or any(a == "abi3" for a in found)
            assert ok, f"{name}: no wheel for CPython {version} (abis {sorted(found)})"


def test_requirements_pin_and_hash_every_runtime_wheel_and_nothing_else(wheelhouse: Path) -> None:
    pins = requirement_pins(wheelhouse)
    files: dict[str, set[str]] = {}
    for path in wheelhouse.glob("*.whl"):
        name, version, _, _ = wheel_tags(path.name)
        assert pins.get(name, ("",))[0] == version, f"{path.name} is not the pinned version"
        files.setdefault(name, set()).add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert {name: set(hashes) for name, (_, hashes) in pins.items()} == files
    assert pins["nodeswap"][0] == pyproject_version()
    for dep in ("asyncssh", "typer", "rich", "pydantic", "pyyaml", "jinja2"):
        assert dep in pins
    assert not set(TEST_EXTRAS) & set(pins), "test extras in the wheelhouse"


def test_nodeswap_wheel_ships_the_examples_and_the_lab_readme(wheelhouse: Path) -> None:
    (wheel,) = wheelhouse.glob("nodeswap-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = whl.read(meta_name).decode()
    shipped = [p for p in (PACKAGE / "examples").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    assert len(shipped) > 20  # two zones of a dozen settings files, two specs
    mo = PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES" / "nodeswap.mo"  # Chinese, no Babel
    for path in [*shipped, PACKAGE / "lab" / "README.md", mo]:
        inside = path.relative_to(PACKAGE.parent).as_posix()
        assert inside in names, f"{inside} is not in {wheel.name}"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    for field in ("License-Expression: ", "Author: ", "Classifier: Programming Language :: "
                  "Python :: 3.10", "Project-URL: ", f"Version: {pyproject_version()}"):
        assert field in meta, field


def interpreter(version: str) -> str | None:
    """A CPython ``version`` installed on this machine (PATH, else pyenv's versions)."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/"
                                                      f"python{version}")))
    for exe in filter(None, candidates):
        res = subprocess.run([exe, "-c", "import sys, venv; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip() == str(tuple(map(int, version.split(".")))):
            return exe
    return None


def readme_jump_host_commands() -> list[str]:
    """The command lines of the README's jump-host block (the one that installs)."""
    section = (ROOT / "README.md").read_text().split("## Install on a jump host\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"^```\n(.*?)^```$", section, re.M | re.S)
    (block,) = [b for b in blocks if "--no-index" in b]
    return [line for line in block.splitlines() if line.strip()]


def offline(script: str, cwd: Path, python: str) -> subprocess.CompletedProcess[str]:
    """``script`` under bash as on a jump host: no network (a fresh network namespace), no pip
    configuration or PIP_* variable, no PYTHONPATH; ``python3`` is ``python``."""
    shims = cwd / "bin"
    shims.mkdir(exist_ok=True)
    (shims / "python3").unlink(missing_ok=True)
    (shims / "python3").symlink_to(python)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = f"{shims}:/usr/bin:/bin"
    cmd = ["bash", "-euo", "pipefail", "-c", script]
    if os.geteuid() == 0:
        cmd = ["unshare", "--net", *cmd]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def first_plan_example(help_text: str) -> str:
    """The first example of `plan --help`, as printed (continuation lines included)."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("nodeswap plan"))
    example = [lines[start].strip()]
    while example[-1].endswith("\\"):
        start += 1
        example.append(lines[start].strip())
    return "\n".join(example)


MACHINE = f"{sys.version_info[0]}.{sys.version_info[1]}"  # the venv's, made from python3


@pytest.mark.parametrize("version", ["machine", *(v for v in PYTHONS if v != MACHINE)])
def test_readme_jump_host_install_from_a_clean_venv_with_no_index(
        wheelhouse: Path, tmp_path: Path, version: str) -> None:
    if version == "machine":
        python = shutil.which("python3") or sys.executable
    else:
        found = interpreter(version)
        if found is None:
            pytest.skip(f"CPython {version} is not installed here")
        python = found
    host = tmp_path / "jumphost"
    shutil.copytree(wheelhouse, host / "wheelhouse")  # "copy dist/wheelhouse/ ... as wheelhouse/"
    commands = readme_jump_host_commands()
    assert any("--no-index" in c and "--require-hashes" in c for c in commands)
    res = offline("\n".join(commands), host, python)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"nodeswap {pyproject_version()}" in res.stdout
    where = offline("nodeswap-venv/bin/python -c 'import nodeswap; print(nodeswap.__file__)'",
                    host, python)
    assert where.stdout.startswith(f"{host}/nodeswap-venv/"), "not the installed copy"
    # the first example of the installed `plan --help`, pasted as printed: an offline plan of
    # the sample zone shipped in the wheel
    help_res = offline("nodeswap-venv/bin/nodeswap plan --help", host, python)
    assert help_res.returncode == 0, help_res.stderr
    example = first_plan_example(help_res.stdout)
    assert "site-packages/nodeswap/examples/zone" in example
    plan = offline("PATH=$PWD/nodeswap-venv/bin:$PATH\n" + example, host, python)
    assert plan.returncode == 0, plan.stderr[-3000:]
    for text in ("R6 back up /pitrix/conf/settings", "GATE R30", "GATE R37", "plan sha256"):
        assert text in plan.stdout + plan.stderr, text
    # Chinese from the installed wheel: the compiled catalog ships, Babel is not installed
    zh = offline("LANG=zh_CN.UTF-8 nodeswap-venv/bin/nodeswap --help", host, python)
    assert zh.returncode == 0 and "以替换的方式升级 Pitrix 可用区的管理虚拟机" in zh.stdout, \
        zh.stdout + zh.stderr
    no_babel = offline("nodeswap-venv/bin/python -c 'import babel'", host, python)
    assert no_babel.returncode != 0
