"""`make test-crash` (marker `crash`, deselected elsewhere; .ci/run runs it after make test):
SIGKILL inside every side-effect step of the real proxy upgrade, and at sampled step
boundaries, on `default` (vg-other-24: test_crash_matrix_vg.py, a file of its own so the two
run on two workers), each kill followed by one plain resume that gets past it, the last one
to the verified end state (issue 11; the kit: crash_kit.py).

Two ways per topology, one upgrade each:

- ``end``: every side-effect step is killed as its command ended on the host but before the
  journal knew it; every check must see through it, so the lab's counts show each node's
  launch, install, halt, autostart change and reboot exactly once;
- ``mid``: every side-effect step is killed 50 ms into its command (mid-command for the long
  ones, just after the short ones), and one step in five is killed at its start (the
  boundary: the step about to run, its command never sent); the end state is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from crash_kit import run_matrix
from upgrade_kit import zone

pytestmark = [pytest.mark.lab, pytest.mark.crash]


@pytest.mark.parametrize("mode", ["end", "mid"])
def test_kill_9_in_every_side_effect_step_then_plain_resumes_end_upgraded(
        mode: str, tmp_path: Path) -> None:
    with zone("default", tag=f"crash-matrix-{mode}") as z:
        run_matrix(z, mode, tmp_path)
