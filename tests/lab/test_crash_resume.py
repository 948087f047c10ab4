"""SIGKILL inside R6, R21, R30, R32, R33 and R37 of the real proxy upgrade on `default`, each
followed by one plain `nodeswap resume RUN --yes` that gets past it, the last one to the
verified end state; no checked step's command ran twice (issue 11; the kit: crash_kit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from crash_kit import Crash, Kill, switch_order
from upgrade_kit import zone

pytestmark = pytest.mark.lab


def test_kill_9_inside_six_rules_then_plain_resumes_end_upgraded(tmp_path: Path) -> None:
    with zone("default", tag="crash") as z:
        c = Crash.of(z, tmp_path)
        first, second = switch_order(c.plan)
        c.plant_partial_backup()  # a half-made copy of R6 left by an earlier kill
        c.chain([
            Kill("r6-backup"),  # the backup made, not recorded: its digest check says done
            Kill(f"r21-launch-{first}"),  # launched: the new host's domain runs (.Done)
            Kill(f"r30-global-conf-{first}"),  # rebuilt: declared safe to run again
            Kill(f"r32-shutdown-{first}"),  # the old VM is down on purpose: asked its host
            Kill(f"r33-reboot-{second}"),  # the new VM came back at the old address
            Kill(f"r37-rename-img-{first}"),  # archived, not recorded
        ])
        c.assert_upgraded_once()
