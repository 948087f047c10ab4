"""nodeswap: upgrade a Pitrix zone's management VMs by replacement (runbook R0-R37).

The version has one source, pyproject.toml's ``version``; :func:`version` reads it from the
installed metadata when asked (``nodeswap --version``), never at import time:
importlib.metadata loads email and so socket, which the pure packages must not
(tests/unit/test_purity.py).
"""

from __future__ import annotations


def version() -> str:
    """nodeswap's version as installed (pyproject.toml's ``version``, through its metadata)."""
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415 (lazy on purpose)
    from importlib.metadata import version as installed_version  # noqa: PLC0415

    try:
        return installed_version("nodeswap")
    except PackageNotFoundError:
        return "unknown (not installed: pip install it, or run it from a venv that has it)"
