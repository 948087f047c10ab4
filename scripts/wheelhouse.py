#!/usr/bin/env python3
"""Build dist/wheelhouse/: everything a jump host with no internet needs to install nodeswap.

Called by `make wheelhouse`; needs pip and a package index (PyPI), nothing else. It writes:

- nodeswap's own wheel, built from this checkout (from a copy: the checkout gets no build/);
- the wheels of its runtime dependencies (pyproject's `dependencies`, not the test extras)
  for CPython 3.10, 3.11, 3.12 and this machine's python3, on manylinux2014 x86_64 (glibc
  2.17, e.g. CentOS 7 or Ubuntu 14.04 and later): binary wheels only, never an sdist to build
  on the jump host, and no wheel that needs a newer glibc (manylinux_2_28, manylinux_2_34 ...);
- requirements.txt: every wheel pinned (`name==version`) with the sha256 of each of its files,
  so `pip install --no-index --find-links DIR --require-hashes -r DIR/requirements.txt`
  installs exactly these files or nothing.

Then it checks what it wrote: every file name's platform tags (one of them must run on glibc
2.17), and, for each Python version, that pip resolves requirements.txt from the folder alone
with --no-index and --require-hashes.

Usage: scripts/wheelhouse.py [--out DIR] [--python 3.X ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = "manylinux2014_x86_64"
MAX_GLIBC = (2, 17)  # manylinux2014
PYTHONS = ("3.10", "3.11", "3.12")
# What a wheel of nodeswap is built from (pyproject.toml reads README.md and LICENSE).
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "src")
WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?"
                        r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")
LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class WheelhouseError(Exception):
    """A problem that stops the build, said in one sentence."""


def pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]


def run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def machine_python() -> str:
    """The X.Y of this machine's python3 (the one on PATH, else the one running this)."""
    found = shutil.which("python3")
    if found:
        out = subprocess.run([found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def parse_wheel(filename: str) -> tuple[str, str, set[str]]:
    """(canonical name, version, platform tags) of a wheel file name (PEP 427)."""
    m = WHEEL_NAME.match(filename)
    if not m:
        raise WheelhouseError(f"{filename}: not a wheel file name")
    name = re.sub(r"[-_.]+", "-", m["name"]).lower()
    return name, m["version"], set(m["plat"].split("."))


def runs_on_old_glibc(platforms: set[str]) -> bool:
    """True when one of the tags installs on a manylinux2014 x86_64 host (or on any host)."""
    for tag in platforms:
        if tag == "any":
            return True
        legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_x86_64", tag)
        if legacy and LEGACY[legacy[1]] <= MAX_GLIBC:
            return True
        pep600 = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", tag)
        if pep600 and (int(pep600[1]), int(pep600[2])) <= MAX_GLIBC:
            return True
    return False


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_own_wheel(work: Path) -> Path:
    """nodeswap's wheel, built from a copy of the checkout's sources (same bytes for the same
    commit: SOURCE_DATE_EPOCH is the commit's time when git knows it)."""
    copy = work / "source"
    copy.mkdir()
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, copy / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(src, copy / name)
    env = dict(os.environ)
    stamp = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"],
                           capture_output=True, text=True, check=False)
    if stamp.returncode == 0 and stamp.stdout.strip():
        env["SOURCE_DATE_EPOCH"] = stamp.stdout.strip()
    out = work / "own"
    run(pip("wheel", "--no-deps", "--wheel-dir", str(out), str(copy)), env=env)
    wheels = list(out.glob("nodeswap-*.whl"))
    if len(wheels) != 1:
        raise WheelhouseError(f"expected one nodeswap wheel, found {wheels}")
    return wheels[0]


def target(version: str) -> list[str]:
    """pip's options for binary wheels of CPython ``version`` on manylinux2014 x86_64."""
    abi = "cp" + version.replace(".", "")
    return ["--only-binary=:all:", "--platform", PLATFORM, "--python-version", version,
            "--implementation", "cp", "--abi", abi]


def download(want: list[str], version: str, work: Path, constraints: Path | None
             ) -> dict[tuple[str, str], list[Path]]:
    """The wheels that ``want`` (files or requirements) needs on CPython ``version``, by (name,
    version), within ``constraints`` (the pins) when given."""
    dest = work / f"py{version}"
    shutil.rmtree(dest, ignore_errors=True)
    extra = ["--constraint", str(constraints)] if constraints else []
    run(pip("download", "--dest", str(dest), *target(version), *extra, *want))
    found: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in sorted(dest.iterdir()):
        name, ver, platforms = parse_wheel(path.name)
        if not runs_on_old_glibc(platforms):
            raise WheelhouseError(f"{path.name}: no tag that installs on {PLATFORM} "
                                  f"(glibc {MAX_GLIBC[0]}.{MAX_GLIBC[1]})")
        found[(name, ver)].append(path)
    return found


def marker_env(version: str) -> dict[str, str]:
    return {"python_version": version, "python_full_version": f"{version}.0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "implementation_version": f"{version}.0", "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "platform_release": "", "platform_version": "", "extra": ""}


def missing(wheels: dict[str, Path], version: str) -> list[str]:
    """The requirements (Requires-Dist, markers evaluated for CPython ``version`` on Linux
    x86_64) that no wheel of ``wheels`` (canonical name -> a file) satisfies. pip evaluates
    markers against the Python running it, not against --python-version: this closes the gap
    (a dependency only older Pythons need, say)."""
    try:
        from packaging.requirements import Requirement  # noqa: PLC0415
    except ImportError:  # pip's own copy
        from pip._vendor.packaging.requirements import (  # type: ignore[assignment]  # noqa: PLC0415
            Requirement,
        )
    env = marker_env(version)
    versions = {name: parse_wheel(path.name)[1] for name, path in wheels.items()}
    absent = []
    for path in wheels.values():
        with zipfile.ZipFile(path) as whl:
            meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
            text = whl.read(meta).decode("utf-8")
        for line in text.splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = re.sub(r"[-_.]+", "-", req.name).lower()
            if name not in versions or not req.specifier.contains(versions[name],
                                                                  prereleases=True):
                absent.append(str(req).split(";")[0].strip())
    return sorted(set(absent))


def collect(own: Path, versions: list[str], work: Path
            ) -> tuple[dict[tuple[str, str], list[Path]], dict[tuple[str, str], set[str]]]:
    """One version of each package for every Python: pinned by resolving for the oldest, then
    the same pins downloaded for each; a requirement some Python needs that pip did not see
    (markers) is added and everything resolved again."""
    want = [str(own)]
    for _ in range(5):
        pins = download(want, versions[0], work, None)
        constraints = work / "pins.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins if n != "nodeswap"))
        files: dict[tuple[str, str], list[Path]] = defaultdict(list)
        needed_by: dict[tuple[str, str], set[str]] = defaultdict(set)
        extra: list[str] = []
        for version in versions:
            got = download(want, version, work, constraints)
            for key, paths in got.items():
                files[key] += paths
                needed_by[key].add(version)
            extra += missing({n: p[0] for (n, _), p in got.items()}, version)
        new = sorted(set(extra) - set(want))
        if not new:
            return files, needed_by
        print(f"wheelhouse: added for some Python versions: {', '.join(new)}", flush=True)
        want += new
    raise WheelhouseError("the requirements did not settle after 5 rounds")


def requirements(files: dict[tuple[str, str], list[Path]], versions: list[str]) -> str:
    """requirements.txt: each pin with the sha256 of each of its files (one per Python version
    for the compiled ones)."""
    lines = [
        "# nodeswap and its runtime dependencies, pinned and hashed: made by scripts/wheelhouse.py",
        f"# (make wheelhouse) for CPython {', '.join(versions)} on {PLATFORM}. Install offline:",
        "#   pip install --no-index --find-links DIR --require-hashes -r DIR/requirements.txt",
    ]
    for (name, ver), paths in sorted(files.items()):
        hashes = sorted({sha256(p) for p in paths})
        lines.append(f"{name}=={ver} \\")
        lines += [f"    --hash=sha256:{h}" + (" \\" if i < len(hashes) - 1 else "")
                  for i, h in enumerate(hashes)]
    return "\n".join(lines) + "\n"


def verify(out: Path, versions: list[str], work: Path) -> None:
    """Every Python version resolves requirements.txt from the folder alone, hashes checked
    (and each wheel's Requires-Python against that version)."""
    # as on a jump host: no pip configuration, no PIP_* variable (no other --find-links)
    bare = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    bare["PIP_CONFIG_FILE"] = os.devnull
    for version in versions:
        run(pip("download", "--no-index", "--find-links", str(out), "--require-hashes",
                "--dest", str(work / f"verify{version}"), *target(version),
                "-r", str(out / "requirements.txt")), env=bare)


def prepare(out: Path) -> None:
    """An empty ``out``; an existing folder is emptied only if it holds nothing but wheels and
    requirements.txt (a wheelhouse, finished or not)."""
    if out.exists():
        others = [p.name for p in out.iterdir()
                  if not (p.is_file() and (p.suffix == ".whl" or p.name == "requirements.txt"))]
        if others:
            raise WheelhouseError(f"{out} holds more than wheels ({', '.join(sorted(others)[:3])}"
                                  "...): not emptied; remove it or choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "wheelhouse",
                        help="the wheelhouse folder (default: dist/wheelhouse; emptied first)")
    parser.add_argument("--python", action="append", metavar="X.Y",
                        help="a CPython version to cover (repeatable; default: 3.10, 3.11, "
                             "3.12 and this machine's python3)")
    args = parser.parse_args(argv)
    versions = sorted(set(args.python or [*PYTHONS, machine_python()]),
                      key=lambda v: tuple(int(p) for p in v.split(".")))
    out: Path = args.out.resolve()
    try:
        prepare(out)
        with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
            work = Path(tmp)
            own = build_own_wheel(work)
            files, needed_by = collect(own, versions, work)
            for paths in files.values():
                for path in paths:
                    if (out / path.name).exists() and sha256(out / path.name) != sha256(path):
                        raise WheelhouseError(f"{path.name}: two different files")
                    shutil.copy2(path, out / path.name)
            partial = {f"{n}=={v}": sorted(vs) for (n, v), vs in needed_by.items()
                       if set(vs) != set(versions)}
            if partial:  # installed everywhere all the same: a pin for one version is harmless
                print(f"wheelhouse: needed by some Python versions only: {partial}")
            (out / "requirements.txt").write_text(requirements(files, versions))
            verify(out, versions, work)
    except WheelhouseError as exc:
        print(f"wheelhouse: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"wheelhouse: {' '.join(map(str, exc.cmd))} failed (exit {exc.returncode})",
              file=sys.stderr)
        return 1
    count = len(list(out.glob("*.whl")))
    print(f"wheelhouse: {out}: {count} wheels for CPython {', '.join(versions)} on {PLATFORM}, "
          f"requirements.txt with {len(files)} pins and their sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
