"""The CLI is a thin skin (STYLE.md, issue 12): each command module parses, calls the library,
renders. Read with ``ast``, nothing imported:
- no command module (``cli/*_cmd.py``) imports another command module; what they share is in
  the cli's helper modules (options, render), which import no command module either;
- no test imports a library function from a command module (only the CLI's own objects:
  a command's typer function, inspected as the operator's interface);
- the connection options are declared once, in cli/options.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "src" / "nodeswap" / "cli"
COMMANDS = sorted(p.stem for p in CLI.glob("*_cmd.py"))
HELPERS = sorted(p.stem for p in CLI.glob("*.py") if not p.stem.endswith("_cmd"))
SHARED_OPTIONS = ("--lab", "--firstbox", "--user", "--identity-file", "--known-hosts",
                  "--direct", "--jump", "--json", "--verbose", "--quiet", "--lock-path",
                  "--log-file")
# test file -> what it may take from a command module (its CLI objects, not library code)
CLI_OBJECTS = {"test_lab_parts.py": {"lab_cmd"}}


def imported_modules(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved against
    ``package``), with ``from X import Y`` also giving ``X.Y`` (Y may be a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def command_modules_in(names: set[str]) -> set[str]:
    return {n for n in names for c in COMMANDS if n == f"nodeswap.cli.{c}"}


def test_the_cli_has_commands_and_helpers() -> None:
    assert {"discover_cmd", "plan_cmd", "run_cmd", "exec_cmd", "report_cmd"} <= set(COMMANDS)
    assert {"options", "render"} <= set(HELPERS)


@pytest.mark.parametrize("name", COMMANDS + HELPERS)
def test_no_cli_module_imports_a_command_module(name: str) -> None:
    names = imported_modules(CLI / f"{name}.py", "nodeswap.cli")
    assert command_modules_in(names) == set(), f"cli/{name}.py imports a command module"


def test_no_test_imports_library_code_from_a_command_module() -> None:
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        package = ".".join(path.relative_to(ROOT).parent.parts)
        found = command_modules_in(imported_modules(path, package))
        allowed = {f"nodeswap.cli.{c}" for c in CLI_OBJECTS.get(path.name, set())}
        bad += [f"{path.relative_to(ROOT)}: {m}" for m in sorted(found - allowed)]
    assert bad == [], "library code is imported from a command module:\n" + "\n".join(bad)


def declared_options(path: Path) -> set[str]:
    """The option names ``path`` declares: string arguments of typer.Option / Opt calls."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("Option", "Opt"):
                out |= {a.value for a in node.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str)
                        and a.value.startswith("-")}  # fmt: skip
    return out


@pytest.mark.parametrize("option", SHARED_OPTIONS)
def test_a_shared_option_is_declared_once_in_options(option: str) -> None:
    where = [p.name for p in sorted(CLI.glob("*.py")) if option in declared_options(p)]
    assert where == ["options.py"], f"{option} declared in {where}"


def test_the_import_reader_sees_a_command_import(tmp_path: Path) -> None:
    """The control: the reader above finds each way of naming a command module."""
    probe = tmp_path / "probe.py"
    probe.write_text("from .plan_cmd import x\nfrom nodeswap.cli import run_cmd\n"
                     "import nodeswap.cli.exec_cmd\nfrom . import options\n")
    assert command_modules_in(imported_modules(probe, "nodeswap.cli")) == {
        "nodeswap.cli.plan_cmd", "nodeswap.cli.run_cmd", "nodeswap.cli.exec_cmd"}
