"""Shared test configuration.

- `lab` tests need root (the lab mounts and chroots): skipped otherwise.
- `slow` tests run in `make test-slow` (`-m slow`), not in `make test`; `fuzz` targets only with
  `-m fuzz` (`make fuzz`, `make fuzz-ci`); the crash matrix only with `-m crash` (`make
  test-crash`).
- The operator's defaults are not read: NODESWAP_CONFIG=none (no config file; the Makefile
  sets it too) and no NODESWAP_FIRSTBOX / _USER / _IDENTITY / _KNOWN_HOSTS / _LANG from the
  environment the tests were started in (tests that mean to use them set them).
- Hypothesis runs without its speed health checks and deadlines: the suite runs two workers on
  a 2-core machine, often beside a lab, so generation speed says nothing about the code.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

os.environ["NODESWAP_CONFIG"] = "none"
for _var in ("NODESWAP_FIRSTBOX", "NODESWAP_USER", "NODESWAP_IDENTITY", "NODESWAP_KNOWN_HOSTS",
             "NODESWAP_LANG"):
    os.environ.pop(_var, None)

settings.register_profile("nodeswap", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
if not os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile("nodeswap")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for only in ("fuzz", "crash"):  # fuzz targets, the crash matrix: only with -m fuzz/crash
        if only in (config.getoption("markexpr") or ""):
            continue
        chosen = [item for item in items if only in item.keywords]
        if chosen:
            config.hook.pytest_deselected(items=chosen)
            items[:] = [item for item in items if only not in item.keywords]
    for item in items:
        if "lab" in item.keywords and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="the lab needs root"))
