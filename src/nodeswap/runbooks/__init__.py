"""The runbooks, by role: ``runbook_for(role)``, ``roles()``, ``register(runbook)``. Pure.

A role's runbook is a module of this package that builds a ``Runbook`` (runbooks/base.py) and
registers it when imported; the role-free phases are runbooks/common.py. This package imports
its modules on first use, so adding a role is adding its module here (with its tests and its
lab packages): nothing outside runbooks/ names a role's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nodeswap.errors import BugError, Problem, RuleError
from nodeswap.i18n import _
from nodeswap.plugins import import_modules

from .base import Runbook

if TYPE_CHECKING:
    from nodeswap.zone.snapshot import Snapshot

_RUNBOOKS: dict[str, Runbook] = {}
_loaded = False


def _load() -> None:
    """Import every module of the package once: each role's module registers its runbook."""
    global _loaded  # noqa: PLW0603 (a one-time import of the package's own modules)
    if _loaded:
        return
    _loaded = True
    import_modules(__name__, __path__)


def register(runbook: Runbook, *, replace: bool = False) -> Runbook:
    """Make ``runbook`` the one of its role; a second runbook for a role is a bug unless
    ``replace`` (tests)."""
    known = _RUNBOOKS.get(runbook.role)
    if known is not None and known is not runbook and not replace:
        raise BugError(f"two runbooks for role {runbook.role!r}")
    _RUNBOOKS[runbook.role] = runbook
    return runbook


def unregister(role: str) -> None:
    _RUNBOOKS.pop(role, None)


def roles() -> tuple[str, ...]:
    """The roles that have a runbook, sorted."""
    _load()
    return tuple(sorted(_RUNBOOKS))


def runbook_for(role: str) -> Runbook:
    """The runbook of ``role``; RuleError (naming the known roles) when there is none."""
    _load()
    found = _RUNBOOKS.get(role)
    if found is None:
        raise RuleError([Problem(unknown_role(role), key="role")])
    return found


def unknown_role(role: str) -> str:
    return _("no runbook for role {role!r}: the known roles are {roles}").format(
        role=role, roles=", ".join(roles()) or _("none"))


def components_of(snap: Snapshot) -> frozenset[str]:
    """R24-R26: the components of the snapshot's zone, by its role's runbook's optional
    packages found on the old nodes."""
    return snap.components(runbook_for(snap.role).component_packages)
