"""Shared test configuration: the `lab` marker needs root (the lab mounts and chroots)."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = os.environ.get("NODESWAP_SLOW") == "1"
    if "fuzz" not in (config.getoption("markexpr") or ""):  # fuzz targets: only with -m fuzz
        fuzz = [item for item in items if "fuzz" in item.keywords]
        if fuzz:
            config.hook.pytest_deselected(items=fuzz)
            items[:] = [item for item in items if "fuzz" not in item.keywords]
    for item in items:
        if "lab" in item.keywords and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="the lab needs root"))
        if "slow" in item.keywords and not slow:
            item.add_marker(pytest.mark.skip(reason="slow: set NODESWAP_SLOW=1"))
