"""Every error message an operator reads goes through ``_()`` (issue 13: Chinese).

The catalog test (test_i18n_catalog.py) sees only messages already marked with ``_``: a raise
written as ``raise StepFailed(f"...")`` is invisible to it and stays English under
``--lang zh``. This test reads the source (AST, no import of the modules) and finds every call
of a user-facing error class (every ``NodeswapError`` but ``BugError``, and ``Problem``) whose
message is a bare string, an f-string, ``"...".format(...)`` or a sum of such: the message must
be ``_("... {x}").format(x=...)`` (an f-string cannot be extracted by gettext) or ``ngettext``.

A message held in a local variable is followed to its assignments in the same function
(``why = f"..."; raise ZoneError(why)``). A message built by another function is out of reach
of this test (``lock_message(...)``); those functions wrap their own texts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap import errors

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "nodeswap"


def _user_facing() -> frozenset[str]:
    found: set[str] = {"Problem"}
    todo: list[type] = [errors.NodeswapError]
    while todo:
        cls = todo.pop()
        if not issubclass(cls, errors.BugError):  # internal: "a bug in nodeswap"
            found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return frozenset(found)


USER_FACING = _user_facing()
# Other texts an operator reads, by (callable, position of the text, its keyword): a
# finding's reason (R23, R27-R29, R35, R36: the diff output and the report).
TEXT_ARGS = {"Difference": (7, "reason"), "of_lines": (None, "reason"),
             "_diff": (3, "reason"), "_finding": (2, "reason"),
             "add": (1, "message"),  # a plan file's problems (plan/planfile.py)
             "notice": (0, "text"),  # a warning on stderr (--break-lock)
             "_fail": (1, "message"),  # a rule that cannot be met (plan/rules.py: R10-R16)
             "_error": (0, "message"),  # a text file that is not one (checks/textfile.py)
             "problem": (0, "message")}  # a settings value (zone/values.py)

# (file under src/nodeswap, the start of the message as written) -> why it stays as it is.
# Short on purpose: a message an operator reads belongs in the catalog.
ALLOWED: dict[tuple[str, str], str] = {
    ("lab/zone.py", "*"): "the simulated cloud's answers to the stand-in commands (launch a "
    "VM, ...): a real zone's tools print them in English, so the lab does too",
    ("lab/packages.py", "Unable to locate package"): "apt's own words, as the stand-in apt-get "
    "prints them on a simulated host",
    ("lab/power.py", "cannot come up at"): "a simulated boot failure, written to the lab "
    "controller's log as a real VM's console would show it",
    ("lab/byhand.py", "*"): "the runbook typed by hand for a lab test and a benchmark; no "
    "operator runs it",
}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        any(c.isalpha() for c in node.value)


class _Finder(ast.NodeVisitor):
    """The bare messages of user-facing error calls in one module: (line, source) pairs."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []
        self.scopes: list[ast.AST] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        message: ast.expr | None = None
        if name in USER_FACING:
            message = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg in ("message", "problems")), None)
        elif name in TEXT_ARGS:
            pos, keyword = TEXT_ARGS[name]
            message = node.args[pos] if pos is not None and len(node.args) > pos else next(
                (k.value for k in node.keywords if k.arg == keyword), None)
        if message is not None:
            for bare in self._bare(message, depth=0):
                self.found.append((bare.lineno, ast.get_source_segment(self.source, bare)
                                   or ast.unparse(bare)))
        self.generic_visit(node)

    def _assigned(self, name: str) -> Iterator[ast.expr]:
        scope = self.scopes[-1] if self.scopes else None
        if scope is None:
            return
        for sub in ast.walk(scope):
            targets = sub.targets if isinstance(sub, ast.Assign) else \
                [sub.target] if isinstance(sub, ast.AnnAssign | ast.AugAssign) else []
            value = getattr(sub, "value", None)
            if value is not None and any(isinstance(t, ast.Name) and t.id == name
                                         for t in targets):
                yield value

    def _bare(self, node: ast.expr, depth: int) -> Iterator[ast.expr]:
        if depth > 4:
            return
        if _is_text(node) or isinstance(node, ast.JoinedStr):
            yield node
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "format":
                if _is_text(func.value) or isinstance(func.value, ast.JoinedStr):
                    yield node
                else:
                    yield from self._bare(func.value, depth + 1)
            elif isinstance(func, ast.Attribute) and func.attr == "join":
                for arg in node.args:
                    yield from self._bare(arg, depth + 1)
        elif isinstance(node, ast.BinOp):
            yield from self._bare(node.left, depth + 1)
            if not isinstance(node.op, ast.Mod):  # "..." % args: the left side is the text
                yield from self._bare(node.right, depth + 1)
        elif isinstance(node, ast.IfExp):
            yield from self._bare(node.body, depth + 1)
            yield from self._bare(node.orelse, depth + 1)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                yield from self._bare(value, depth + 1)
        elif isinstance(node, ast.List | ast.Tuple):
            for elt in node.elts:
                yield from self._bare(elt, depth + 1)
        elif isinstance(node, ast.Name):
            for value in self._assigned(node.id):
                yield from self._bare(value, depth + 1)


def bare_messages(source: str) -> list[tuple[int, str]]:
    finder = _Finder(source)
    finder.visit(ast.parse(source))
    return finder.found


def _allowed(rel: str, text: str) -> bool:
    for (path, start), _why in ALLOWED.items():
        if path == rel and (start == "*" or start in text):
            return True
    return False


def test_every_user_facing_error_message_is_marked_for_translation() -> None:
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for line, text in bare_messages(path.read_text()):
            if not _allowed(rel, text):
                bare.append(f"src/nodeswap/{rel}:{line}: {text[:90]}")
    assert bare == [], f"{len(bare)} error messages not passed through _() (write them as " \
        f"_(\"... {{x}}\").format(x=...), then scripts/i18n_catalog.py update):\n" + \
        "\n".join(bare)


def test_every_allowlist_entry_has_a_reason_and_a_file() -> None:
    for (path, _start), why in ALLOWED.items():
        assert (PACKAGE / path).is_file(), path
        assert len(why) > 20, path


def test_the_user_facing_classes_are_the_error_tree_but_bugs() -> None:
    assert {"InputError", "SettingsError", "StepFailed", "TransportError", "HostKeyError",
            "LabError", "StoppedAtGate", "Problem", "RuleError"} <= USER_FACING
    assert "BugError" not in USER_FACING


@pytest.mark.parametrize("code", [
    'raise StepFailed(f"step {s} failed")',
    'raise InputError([Problem("no such file", file=f)])',
    'raise TransportError("{h}: lost".format(h=h))',
    'raise RuleError([Problem(_("a") + " and more", rule="R13")])',
    'def f(x):\n    why = f"bad {x}"\n    raise errors.ZoneError(why)',
    'def f(x):\n    raise LabError(_("ok {x}").format(x=x) if x else "bare")',
    'Difference.of_lines(s, o, n, klass="ignored", rule="R27", reason=f"{k} differs")',
])
def test_a_bare_message_is_found(code: str) -> None:
    assert len(bare_messages(code)) == 1, code


@pytest.mark.parametrize("code", [
    'raise StepFailed(_("step {s} failed").format(s=s))',
    'raise InputError([Problem(_("no such file"), file=f)])',
    'raise BugError(f"unreachable: {x}")',
    'raise InputError([Problem(str(exc), key="--topology")])',
    'raise ZoneError(ngettext("{n} host", "{n} hosts", n).format(n=n))',
    'def f(x):\n    why = _("bad {x}").format(x=x)\n    raise ZoneError(why)',
    'raise SpecError(problems)',
])
def test_a_marked_or_data_message_passes(code: str) -> None:
    assert bare_messages(code) == [], code
