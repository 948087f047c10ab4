"""Registries filled by their package's own modules (runbooks by role, the lab's role
packages): import every public module of a package once, so a new role is a new module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable


def import_modules(package: str, path: Iterable[str]) -> None:
    """Import each module of ``package`` (its ``__path__``) not starting with ``_``."""
    for info in pkgutil.iter_modules(path):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
