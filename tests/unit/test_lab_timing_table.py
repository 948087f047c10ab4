"""The lab's timing table (lab/timing.py): every figure says what it is and where it comes
from; profiles scale it; unknown profiles are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.errors import LabError
from nodeswap.lab import timing


def test_every_figure_names_its_source() -> None:
    for name, f in timing.FIGURES.items():
        assert f.real_s > 0 and f.what and f.source, name


def test_off_waits_for_nothing_realistic_is_one_thirtieth() -> None:
    assert set(timing.delays("off").values()) == {0.0}
    real = timing.delays("realistic")
    assert real["vm_boot"] == pytest.approx(timing.FIGURES["vm_boot"].real_s / 30, abs=1e-3)
    assert timing.reboot_s("realistic") == pytest.approx(real["shutdown"] + real["vm_boot"])


@given(st.text(max_size=12).filter(lambda s: s not in timing.PROFILES))
def test_unknown_profiles_are_refused(name: str) -> None:
    with pytest.raises(LabError, match="unknown timing"):
        timing.delays(name)
