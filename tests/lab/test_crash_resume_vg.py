"""SIGKILL inside R31 and R33 of the real proxy upgrade on a VG topology (vg-other-24: the
proxies share their hosts with VG nodes, in another /24), each followed by one plain
`nodeswap resume RUN --yes`, the last one to the verified end state (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from crash_kit import Crash, Kill, switch_order
from upgrade_kit import zone

# ~40 s: make test-slow (make test's 5-minute budget; the crash matrix on vg-other-24 is in
# make test-crash)
pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_kill_9_inside_r31_and_r33_on_vg_then_plain_resumes_end_upgraded(
        tmp_path: Path) -> None:
    with zone("vg-other-24", tag="crash-vg") as z:
        c = Crash.of(z, tmp_path)
        first, second = switch_order(c.plan)
        c.chain([
            Kill(f"r31-address-{first}"),  # rewritten, not recorded: its check says done
            Kill(f"r33-reboot-{first}"),  # back at the old address: decided from firstbox
            Kill(f"r33-stop-{second}"),  # services stopped, not recorded
        ])
        c.assert_upgraded_once()
