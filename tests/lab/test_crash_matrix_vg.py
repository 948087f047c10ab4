"""`make test-crash` on a VG topology (vg-other-24): as test_crash_matrix.py (its docstring
says what is killed where), in a file of its own so that the two run on two workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from crash_kit import run_matrix
from upgrade_kit import zone

pytestmark = [pytest.mark.lab, pytest.mark.crash]


@pytest.mark.parametrize("mode", ["end", "mid"])
def test_kill_9_in_every_side_effect_step_on_vg_then_plain_resumes_end_upgraded(
        mode: str, tmp_path: Path) -> None:
    with zone("vg-other-24", tag=f"crash-matrix-vg-{mode}") as z:
        run_matrix(z, mode, tmp_path)
