"""Shared by the fuzz targets: the hypothesis profiles and the one property they all check.

Profiles (``HYPOTHESIS_PROFILE``): ``fuzz-ci`` (the default: 300 examples per target, the
whole set in well under a minute; `.ci/run` runs it) and ``fuzz-full`` (10^5 examples per
target: `make fuzz`, about an hour here, most of it on the targets that change real plans).
Each target is decorated with ``FUZZ`` rather than loading a profile globally, so the other
property tests of the suite keep their own settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

from nodeswap.errors import EXIT_INPUT, InputError

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("fuzz-ci", max_examples=300, deadline=None,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("fuzz-full", max_examples=100_000, deadline=None,
                          suppress_health_check=_SLOW_OK)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fuzz-ci")
if PROFILE not in ("fuzz-ci", "fuzz-full"):
    PROFILE = "fuzz-ci"  # another suite's profile name: the fuzz targets keep their own
FUZZ = settings(settings.get_profile(PROFILE))

T = TypeVar("T")


def result_or_input_error(parse: Callable[..., T], *args: Any) -> T | None:
    """``parse(*args)``: its result, or None when it raised nodeswap's InputError (exit 2).
    Any other exception is a crash the fuzz target reports."""
    try:
        return parse(*args)
    except InputError as exc:
        assert exc.exit_code == EXIT_INPUT
        assert exc.problems and all(str(p) for p in exc.problems)
        return None
