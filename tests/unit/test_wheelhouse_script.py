"""scripts/wheelhouse.py's own decisions, without a network: which wheel file names install on a
manylinux2014 x86_64 jump host, and which requirements pip missed for another Python version
(pip evaluates markers against the Python running it, not --python-version)."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "wheelhouse.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheelhouse", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["wheelhouse"] = module
    spec.loader.exec_module(module)
    return module


wheelhouse = load()


@pytest.mark.parametrize(("filename", "installs"), [
    ("rich-15.0.0-py3-none-any.whl", True),
    ("shellingham-1.5.4-py2.py3-none-any.whl", True),
    ("cffi-2.1.1-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", True),
    ("markupsafe-3.0.4-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64."
     "manylinux_2_28_x86_64.whl", True),  # also says 2_28, but one tag is enough for pip
    ("x-1.0-cp310-cp310-manylinux1_x86_64.whl", True),
    ("x-1.0-cp310-cp310-manylinux_2_12_x86_64.manylinux2010_x86_64.whl", True),
    ("cryptography-44.0.0-cp39-abi3-manylinux_2_34_x86_64.whl", False),
    ("x-1.0-cp310-cp310-manylinux_2_28_x86_64.whl", False),
    ("x-1.0-cp310-cp310-manylinux_2_17_aarch64.whl", False),
    ("x-1.0-cp310-cp310-musllinux_1_2_x86_64.whl", False),
    ("x-1.0-cp310-cp310-linux_x86_64.whl", False),
])
def test_a_wheel_installs_on_glibc_217_x86_64_when_one_tag_says_so(filename: str,
                                                                   installs: bool) -> None:
    _, _, platforms = wheelhouse.parse_wheel(filename)
    assert wheelhouse.runs_on_old_glibc(platforms) is installs


def test_names_are_canonical_and_build_tags_skipped() -> None:
    assert wheelhouse.parse_wheel("Typing_Extensions-4.16.0-py3-none-any.whl")[:2] == \
        ("typing-extensions", "4.16.0")
    assert wheelhouse.parse_wheel("x-1.0-1-py3-none-any.whl")[:2] == ("x", "1.0")
    with pytest.raises(wheelhouse.WheelhouseError):
        wheelhouse.parse_wheel("x-1.0.tar.gz")


def fake_wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    path = folder / f"{name}-{version}-py3-none-any.whl"
    meta = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
        name, version, "".join(f"Requires-Dist: {r}\n" for r in requires))
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(f"{name}-{version}.dist-info/METADATA", meta)
    return path


def test_a_requirement_only_an_older_python_needs_is_found_missing(tmp_path: Path) -> None:
    app = fake_wheel(tmp_path, "app", "1.0", [
        'exceptiongroup>=1.0; python_version < "3.11"', "rich>=13", 'pytest; extra == "test"',
        'pywin32; sys_platform == "win32"'])
    rich = fake_wheel(tmp_path, "rich", "15.0.0", [])
    wheels = {"app": app, "rich": rich}
    assert wheelhouse.missing(wheels, "3.10") == ["exceptiongroup>=1.0"]
    assert wheelhouse.missing(wheels, "3.12") == []
    old_rich = fake_wheel(tmp_path, "rich", "12.0.0", [])
    assert wheelhouse.missing({"app": app, "rich": old_rich}, "3.12") == ["rich>=13"]


def test_out_is_emptied_only_when_it_holds_nothing_but_a_wheelhouse(tmp_path: Path) -> None:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    fake_wheel(house, "rich", "15.0.0", [])
    (house / "requirements.txt").write_text("rich==15.0.0\n")
    wheelhouse.prepare(house)
    assert list(house.iterdir()) == []
    (house / "notes.txt").write_text("mine")
    with pytest.raises(wheelhouse.WheelhouseError, match=r"notes\.txt"):
        wheelhouse.prepare(house)
    assert (house / "notes.txt").read_text() == "mine"
