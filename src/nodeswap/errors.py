"""The error tree of nodeswap, and the CLI's exit codes (listed here, in one place).

Whose fault it is decides the branch:

    NodeswapError
    ├── InputError (ValueError)          the operator's input: files, spec, arguments
    │   ├── SettingsError                a settings file that cannot be read faithfully
    │   ├── SpecError                    the upgrade spec (YAML)
    │   ├── RuleError                    a runbook rule (R7-R17...) that cannot be satisfied
    │   └── PlanFileError                a saved plan that is not valid
    ├── ZoneError                        the zone: a host, a step, a check, a host key
    │   ├── TransportError               cannot reach / talk to a host
    │   │   └── HostKeyError             unknown or changed host key (strict checking)
    │   ├── StepFailed                   a step's command or verify failed
    │   └── LockHeld                     another run holds the zone's lock
    ├── StoppedAtGate                    a gate needs approval (resume --yes to continue)
    ├── Interrupted                      SIGINT or SIGTERM stopped it (recorded; resumable)
    ├── LabError                         the simulated zone (nodeswap.lab)
    └── BugError (RuntimeError)          a bug in nodeswap itself

Messages name the offending value and the next move. Input errors carry every problem at
once (``problems``), each naming file, line, key and rule where known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nodeswap.i18n import _

# Exit codes of the `nodeswap` command (documented in README and --help).
EXIT_OK = 0  # done; for diff/check commands: nothing unexpected
EXIT_FAILED = 1  # the zone or a check said no: a step failed, differences found, host failed
EXIT_INPUT = 2  # invalid input: nothing was changed
EXIT_GATE = 3  # stopped at a gate waiting for approval (resume to continue)
EXIT_LOCKED = 4  # another run holds the zone's lock
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT): the journal says where it stopped
EXIT_TERMINATED = 143  # SIGTERM (a job scheduler's cancel): the journal says where it stopped


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the operator's input, located as precisely as known."""

    message: str
    file: str | None = None
    line: int | None = None
    key: str | None = None
    rule: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "")
        key = _("key {key}").format(key=self.key) if self.key else ""
        parts = [p for p in (where, self.rule, key) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class NodeswapError(Exception):
    """Root of every error nodeswap raises on purpose."""

    exit_code = EXIT_FAILED


class InputError(NodeswapError, ValueError):
    """The operator's input is invalid; carries every problem found, not just the first."""

    exit_code = EXIT_INPUT

    def __init__(self, problems: Sequence[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SettingsError(InputError):
    """A settings file cannot be parsed or represented faithfully."""


class SpecError(InputError):
    """The upgrade spec is invalid."""


class RuleError(InputError):
    """A runbook rule cannot be satisfied with the given zone and spec."""


class PlanFileError(InputError):
    """A saved plan file is invalid or does not match."""


class ZoneError(NodeswapError):
    """Something in the zone said no: a host, a step, a check, a host key."""


class TransportError(ZoneError):
    """A host cannot be reached or the connection broke."""


class HostKeyError(TransportError):
    """A host presented an unknown or changed key (host keys are always checked)."""


class StepFailed(ZoneError):
    """A step failed; carries where and the last lines of its output."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        step: str | None = None,
        rule: str | None = None,
        command: str | None = None,
        exit_status: int | None = None,
        output_tail: str = "",
    ) -> None:
        self.host, self.step, self.rule, self.command = host, step, rule, command
        self.exit_status, self.output_tail = exit_status, output_tail
        super().__init__(message)


class LockHeld(ZoneError):
    """Another run holds the zone's lock."""

    exit_code = EXIT_LOCKED


class StoppedAtGate(NodeswapError):
    """A run stopped at a gate that was not approved (not a terminal and no --yes)."""

    exit_code = EXIT_GATE


class Interrupted(NodeswapError):
    """SIGINT (Ctrl-C) or SIGTERM stopped a run: recorded in the journal as interrupted, its
    commands stopped, its lock released; the message says so and how to continue."""

    def __init__(self, message: str, *, exit_code: int = EXIT_INTERRUPTED) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class LabError(NodeswapError):
    """The lab (simulated zone) could not do what was asked."""


class BugError(NodeswapError, RuntimeError):
    """A bug in nodeswap: please report it with the journal."""
