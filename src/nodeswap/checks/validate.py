"""``haproxy -c``: the local haproxy's opinion of a new haproxy.cfg (R27). Does I/O.

Owns running ``haproxy -c -dr -f FILE`` and turning its complaints into findings. Decision
(documented in ``nodeswap diff --help``): when haproxy rejects the file, each ``[ALERT]`` line
becomes one *unexpected* ``Difference`` (section ``haproxy -c``, the line number haproxy
names), so ``nodeswap diff`` exits 1; warnings are not reported. ``-dr`` turns unresolvable
server names into warnings: the zone's names (webservice0...) do not resolve here.
What is checked is this machine's haproxy with this machine's users and files, which may
differ from the node's (a missing ``errorfile`` or user shows up as a finding whose reason
says so). Without a ``haproxy`` binary nothing is validated (``find_haproxy`` is None).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from nodeswap.i18n import _

from .findings import Difference

RULE = "R27"
SECTION = "haproxy -c"
TIMEOUT_S = 30.0
_ALERT = re.compile(r"\[ALERT\][^:]*:\s*(?:config\s*:\s*)?(?P<msg>.*)$")
_WHERE = re.compile(r"\[(?P<file>[^\]]*?):(?P<line>\d+)\]")


@dataclass(frozen=True)
class CheckRun:
    """What ``haproxy -c`` said: exit status and combined output."""

    returncode: int
    output: str


Runner = Callable[[list[str], float], CheckRun]


def find_haproxy() -> str | None:
    """Path of the local haproxy binary (PATH, then /usr/sbin), or None."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")


def run_subprocess(argv: list[str], timeout: float) -> CheckRun:
    """The real runner: run argv, capture stdout+stderr; a timeout is exit status -1."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return CheckRun(-1, f"haproxy -c did not finish within {timeout:g} s")
    return CheckRun(done.returncode, done.stdout + done.stderr)


def validate(
    path: str, haproxy: str, run: Runner = run_subprocess, timeout: float = TIMEOUT_S
) -> list[Difference]:
    """Findings of ``haproxy -c`` on the file at ``path`` (empty list: haproxy accepts it)."""
    result = run([haproxy, "-c", "-dr", "-f", path], timeout)
    return findings_from(result, path)


def findings_from(result: CheckRun, path: str) -> list[Difference]:
    """Parse haproxy -c output into findings (pure; one per ALERT line)."""
    if result.returncode == 0:
        return []
    out: list[Difference] = []
    for raw in result.output.splitlines():
        m = _ALERT.search(raw)
        if not m:
            continue
        msg = m.group("msg").strip()
        if msg.startswith(("Error(s) found", "Fatal errors found")):
            continue
        where = _WHERE.search(msg)
        line = int(where.group("line")) if where else None
        out.append(_finding(msg, line))
    if not out:
        tail = " | ".join(result.output.strip().splitlines()[-3:]) or _("no output")
        out.append(_finding(_("haproxy -c failed (exit status {status}): {output}").format(
            status=result.returncode, output=tail), None))
    return out


def _finding(message: str, line: int | None) -> Difference:
    return Difference(
        section=SECTION,
        old=None,
        new=message,
        old_line=None,
        new_line=line,
        klass="unexpected",
        rule=RULE,
        reason=(
            _("haproxy -c rejects the new file (validated by this machine's haproxy, users "
              "and files, which may differ from the node's)")
        ),
    )
