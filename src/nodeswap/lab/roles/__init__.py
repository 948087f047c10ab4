"""A role's lab packages, by role: ``for_role(role)``, ``all_roles()``, ``register(pkgs)``.

A role's module here (``<role>_pkgs.py``) builds a ``RolePackages`` and registers it when
imported: the packages firstbox's repo holds for the role, those an installed node of the
role already has, the supervisor programs each package ships, and the files its packages
write on a node. This package imports its modules on first use, so adding a role's lab
packages is adding a file here: nothing outside lab/roles names a role's module. Must not:
start processes or reach other hosts (the lab's packages module calls ``render``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodeswap.errors import BugError
from nodeswap.plugins import import_modules

if TYPE_CHECKING:
    from nodeswap.lab.labhost import Host

JSON = dict[str, Any]


@dataclass(frozen=True)
class Install:
    """One package install on one node, as a role's ``render`` sees it."""

    host: Host
    root: Path  # the node's root folder (write its files below it)
    topology: JSON
    packages: tuple[str, ...]  # what this install adds
    installed: tuple[str, ...]  # everything on the node after it
    old_installer: bool  # the old nodes' file layout (the zone's initial install)


def _no_files(_install: Install) -> None:
    return None


@dataclass(frozen=True)
class RolePackages:
    """A role's packages in the lab."""

    role: str
    packages: tuple[str, ...]  # in firstbox's repo, built by build_pkgs_allinone
    initial: Callable[[JSON], tuple[str, ...]]  # a node's packages as the zone was installed
    programs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # supervisor
    render: Callable[[Install], None] = _no_files  # files its packages write (besides programs)


_ROLES: dict[str, RolePackages] = {}
_loaded = False


def _load() -> None:
    """Import every module of the package once: each registers its role's packages."""
    global _loaded  # noqa: PLW0603 (a one-time import of the package's own modules)
    if _loaded:
        return
    _loaded = True
    import_modules(__name__, __path__)


def register(pkgs: RolePackages) -> RolePackages:
    known = _ROLES.get(pkgs.role)
    if known is not None and known is not pkgs:
        raise BugError(f"two lab package sets for role {pkgs.role!r}")
    _ROLES[pkgs.role] = pkgs
    return pkgs


def all_roles() -> tuple[RolePackages, ...]:
    """Every role's lab packages, by role name."""
    _load()
    return tuple(_ROLES[r] for r in sorted(_ROLES))


def for_role(role: str) -> RolePackages | None:
    """The lab packages of ``role`` (None: a role without packages of its own)."""
    _load()
    return _ROLES.get(role)
