"""Rollback from each phase before the archive (issue 6): after launch (update.sh failed),
after deploy and the checks (refused at the first switch's gate), after the first switch
(refused at the second's); and no rollback once R37 began."""

from __future__ import annotations

import pytest
from upgrade_kit import zone

from nodeswap.errors import ZoneError

pytestmark = pytest.mark.lab
UPDATE = "/pitrix/upgrade/update.sh"


def test_rollback_after_launch_when_update_sh_fails() -> None:
    """A fault during apply (update.sh fails, R23) stops the run naming the step and rule;
    rollback then removes the new VMs and restores the settings."""
    with zone() as z:
        z.plan()
        z.lab.fault("command-fails", host=z.info.firstbox or "", command=UPDATE)
        assert z.run() == "failed"
        assert "r23-update" in str(z.errors[-1]) and "R23" in str(z.errors[-1])
        assert z.step_state("r21-launch-proxy0") == "done"
        z.lab.clear_fault("command-fails", host=z.info.firstbox or "", command=UPDATE)
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()


@pytest.mark.slow
def test_rollback_after_deploy_at_the_first_gate() -> None:
    with zone() as z:
        plan = z.plan()
        first = plan.meta["switch_order"].split(",")[0]
        assert z.run(stop_at_gate=f"r30-settings-{first}") == "gate"
        assert z.step_state("r29-exec") == "done"
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()


@pytest.mark.slow  # two whole runs on one lab (make test-slow)
def test_a_new_run_after_a_rollback_upgrades_the_zone() -> None:
    """Issue 9 item 4: rollback destroyed the new VMs; a new plan and apply on the same zone
    (same journal) launches new ones at the same temporary addresses, with new host keys, and
    trusts them: the first run's pins are its own, not the zone's."""
    with zone() as z:
        plan = z.plan()
        first = plan.meta["switch_order"].split(",")[0]
        assert z.run(stop_at_gate=f"r30-settings-{first}") == "gate"
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()
        assert z.journal is not None
        first_run = z.run_id
        retired = [p for p in z.journal.pins() if p.run_id == first_run]
        assert {p.key_id for p in retired} >= {f"{n}-new" for n in plan.nodes}
        assert all(p.retired is not None and p.retired_reason ==
                   f"destroyed by rollback of run {first_run}" for p in retired), retired
        z.new_run()
        z.plan()
        assert z.run() == "done", z.errors
        z.assert_upgraded()


def test_rollback_after_the_first_switch() -> None:
    """The first node already runs on the new VM at its old address: rollback destroys it
    there, starts the old VM again at that address and re-enables its autostart."""
    with zone() as z:
        plan = z.plan()
        first, second = plan.meta["switch_order"].split(",")
        assert z.run(stop_at_gate=f"r30-settings-{second}") == "gate"
        assert z.step_state(f"r33-identity-{first}") == "done"
        assert z.rollback() == "rolled_back", z.errors
        z.assert_rolled_back()


@pytest.mark.slow
def test_no_rollback_once_archiving_began() -> None:
    with zone() as z:
        assert z.run() == "done"
        assert z.rollback() == "done"  # refused: the run stays done, nothing changed
        err = z.errors[-1]
        assert isinstance(err, ZoneError) and "rollback is not possible" in str(err)
        assert "Manual restore" in str(err) and "virsh define" in str(err)
        z.assert_upgraded()
