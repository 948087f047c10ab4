"""`make test-crash` (marker `crash`, deselected elsewhere; .ci/run runs it after make test):
SIGKILL inside every side-effect step of the real proxy upgrade, and at sampled step
boundaries, on `default` and a VG topology, each kill followed by one plain resume that gets
past it, the last one to the verified end state (issue 11; the kit: crash_kit.py).

Two ways per topology, one upgrade each:

- ``end``: every side-effect step is killed as its command ended on the host but before the
  journal knew it; every check must see through it, so the lab's counts show each node's
  launch, install, halt, autostart change and reboot exactly once;
- ``mid``: every side-effect step is killed 50 ms into its command (mid-command for the long
  ones, just after the short ones), and one step in five is killed at its start (the
  boundary: the step about to run, its command never sent); the end state is checked.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from crash_kit import Crash, Kill, side_effect_steps
from upgrade_kit import zone

from nodeswap.plan.model import Plan

pytestmark = [pytest.mark.lab, pytest.mark.crash]


def kills(plan: Plan, mode: str) -> list[Kill]:
    if mode == "end":
        return [Kill(s.id, "end") for s in side_effect_steps(plan)]
    rnd = random.Random(11)
    boundary = {s.id for s in plan.steps if rnd.random() < 0.2}
    inside = {s.id for s in side_effect_steps(plan)}
    return [Kill(s.id, "before" if s.id in boundary else "after:0.05") for s in plan.steps
            if s.id in boundary | inside]


@pytest.mark.parametrize("mode", ["end", "mid"])
@pytest.mark.parametrize("topology", ["default", "vg-other-24"])
def test_kill_9_in_every_side_effect_step_then_plain_resumes_end_upgraded(
        topology: str, mode: str, tmp_path: Path) -> None:
    with zone(topology, tag=f"crash-matrix-{mode}") as z:
        c = Crash.of(z, tmp_path)
        planned = kills(c.plan, mode)
        assert {k.step for k in planned} >= {s.id for s in side_effect_steps(c.plan)}
        c.chain(planned)
        if mode == "end":
            c.assert_upgraded_once()
        else:
            z.assert_upgraded()
            c.assert_cuts_decided()
