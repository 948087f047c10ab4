"""What firstbox's update script does with apt for an OS release (R23-R26). Pure.

``update.sh`` installs packages on each node through ``/pitrix/upgrade/_update_node.sh``
(reference §4), which sources the node's settings and picks its apt options with an ``if`` on
``os_version``, one branch per OS release it knows (12.04, 14.04 and 16.04 in the public
copies)::

    if [[ ${os_version} == "14.04"* ]]; then
        apt_options="--yes --force-yes --allow-unauthenticated --reinstall"
    elif [[ ${os_version} == "16.04"* ]]; then
        apt_options="--yes --allow-unauthenticated --reinstall"
    fi
    ssh $node "apt-get ${apt_options} install ${packages[@]}"

For a release with no branch (and no ``else``), ``apt_options`` stays empty: ``apt-get
install`` runs without ``--yes`` and aborts at its first question, so R23's packages never
reach the new VMs. This module reads the script's text (firstbox's copy, as discovery fetched
it) and answers which options a given ``os_version`` gets; the preflight decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UPDATE_NODE = "/pitrix/upgrade/_update_node.sh"
# Where the apt-get install line may be: the per-node script, else its caller (older trees).
UPDATE_SCRIPTS = (UPDATE_NODE, "/pitrix/upgrade/update_nodes.sh")
APT_VAR = "apt_options"
# `if`/`elif` on os_version: [[ ${os_version} == "16.04"* ]], [ "$os_version" = "16.04" ], ...
_TEST = re.compile(
    r"""^\s*(?P<kw>if|elif)\s+\[\[?\s*"?\$\{?os_version\}?"?\s*==?\s*
        (?P<q>["']?)(?P<value>[^"'\s\]*]+)(?P=q)(?P<glob>\*)?""", re.X)
_ELSE = re.compile(r"^\s*else\b")
_IF = re.compile(r"^\s*if\b")
_FI = re.compile(r"(?:^|;)\s*fi\s*;?\s*$")
_ASSIGN = re.compile(
    rf"""(?:^|[\s;]){APT_VAR}=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s;]*))""")
_INSTALL = re.compile(r"apt-get\b[^\n]*\binstall\b")
_YES = re.compile(r"(?<![\w-])(?:--yes|-y|--assume-yes)(?![\w-])")


@dataclass(frozen=True)
class Branch:
    """One ``if``/``elif`` branch on os_version: the release it tests and the options set."""

    release: str  # "16.04"
    prefix: bool  # "16.04"* (a glob: 16.04.5 matches) or "16.04" exactly
    options: str  # what apt_options is set to ("" when the branch sets none)
    line: int

    def matches(self, os_version: str) -> bool:
        return os_version.startswith(self.release) if self.prefix \
            else os_version == self.release


@dataclass(frozen=True)
class AptScript:
    """What the script does with apt: its branches on os_version, an ``else`` branch's options
    (None: no else), and how it calls ``apt-get install``."""

    path: str
    branches: tuple[Branch, ...]
    fallback: str | None
    install_line: str | None  # the first apt-get ... install line, as written
    install_lineno: int | None

    @property
    def install_has_yes(self) -> bool:
        """``--yes`` written on the install line itself: every release gets it."""
        return self.install_line is not None and bool(_YES.search(self.install_line))

    @property
    def install_uses_options(self) -> bool:
        return self.install_line is not None and APT_VAR in self.install_line

    def branch_for(self, os_version: str) -> Branch | None:
        return next((b for b in self.branches if b.matches(os_version)), None)

    def options_for(self, os_version: str) -> str | None:
        """The apt options ``apt-get install`` runs with on a node of ``os_version``; ""
        when the script sets none for it, None when the script cannot be read that way."""
        if self.install_line is None:
            return None
        written = _YES.findall(self.install_line) if self.install_has_yes else []
        if not self.install_uses_options:
            return " ".join(written)
        branch = self.branch_for(os_version)
        chosen = branch.options if branch is not None else (self.fallback or "")
        return " ".join([*written, chosen]).strip()

    def gives_yes(self, os_version: str) -> bool | None:
        """Does ``apt-get install`` get ``--yes`` on ``os_version``? None: cannot tell."""
        options = self.options_for(os_version)
        return None if options is None else bool(_YES.search(options))

    @property
    def releases(self) -> tuple[str, ...]:
        return tuple(b.release + ("*" if b.prefix else "") for b in self.branches)

    @property
    def last_branch_line(self) -> int | None:
        return self.branches[-1].line if self.branches else None


def parse(text: str, path: str = UPDATE_NODE) -> AptScript:
    """The script's branches on os_version, its else branch, its apt-get install line."""
    branches: list[Branch] = []
    fallback: str | None = None
    current: str | None = None  # "branch" or "else" while inside an os_version if-chain
    install: tuple[str, int] | None = None
    depth = 0  # other ifs nested inside the os_version chain
    for number, line in enumerate(text.splitlines(), start=1):
        code = "" if line.lstrip().startswith("#") else line
        test = _TEST.match(code)
        if test is not None and ((test["kw"] == "elif" and depth == 0) or current is None):
            branches.append(Branch(test["value"], bool(test["glob"]), "", number))
            current = "branch"
        elif current is not None and depth == 0 and _ELSE.match(code):
            current, fallback = "else", ""
        elif current is not None and _IF.match(code):
            depth += 1
        assign = _ASSIGN.search(code)
        if assign is not None and current == "branch" and depth == 0:
            last = branches[-1]
            value = next(v for v in assign.group("dq", "sq", "bare") if v is not None)
            branches[-1] = Branch(last.release, last.prefix, value, last.line)
        elif assign is not None and current == "else" and depth == 0:
            fallback = next(v for v in assign.group("dq", "sq", "bare") if v is not None)
        if current is not None and _FI.search(code):
            if depth:
                depth -= 1
            else:
                current = None
        if install is None and _INSTALL.search(code):
            install = (code.strip(), number)
    return AptScript(path, tuple(branches), fallback, install[0] if install else None,
                     install[1] if install else None)


def release_of(os_version: str) -> str:
    """16.04 for 16.04.5: the release a branch names."""
    return ".".join(os_version.split(".")[:2])


def fix_text(script: AptScript, os_version: str) -> str:
    """The branch to add so that ``os_version`` gets --yes (as the 16.04 branch reads)."""
    release = release_of(os_version)
    like = script.branch_for("16.04.0") or (script.branches[-1] if script.branches else None)
    options = like.options if like is not None and _YES.search(like.options) \
        else "--yes --allow-unauthenticated --reinstall"
    return (f'elif [[ ${{os_version}} == "{release}"* ]]; then {APT_VAR}="{options}"')
