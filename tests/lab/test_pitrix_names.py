"""The Pitrix scripts reach nodes BY NAME, through firstbox's /etc/hosts (issue 10).

By default the lab's builds (R18/R19, R30) refresh firstbox's /etc/hosts from the settings,
so during the parallel phase a node's name leads to its new VM (tests/lab/test_upgrade_e2e.py
upgrades that way). The fault ``stale-hosts`` keeps it on the old VMs: update.sh would then
install R22-R26's packages onto the old proxies (an R20 breach); nodeswap stops before R22,
naming the node and the remedy, and the old VMs get nothing (checked over plain ssh).

Both tests take over 20 s of wall time: make test-slow (the passing check runs in make test
in every default upgrade: tests/lab/test_upgrade_e2e.py)."""

from __future__ import annotations

import pytest
from test_apply_faults import assert_stopped_at
from upgrade_kit import Zone, zone

pytestmark = pytest.mark.lab
STATUS = "/var/lib/dpkg/lab-status.json"  # the lab's dpkg status: rewritten by every install


def packages_touched(z: Zone) -> dict[str, str]:
    """Each old VM's dpkg status, with its modification time (ns): any install changes it."""
    assert z.plan_ is not None
    return {name: z.ssh.out(n.old_address, f"stat -c %y {STATUS}; cat {STATUS}")
            for name, n in z.plan_.nodes.items()}


@pytest.mark.slow
def test_names_on_the_old_vms_stop_the_run_before_r22() -> None:
    with zone() as z:
        plan = z.plan()
        first = next(s.id for s in plan.steps if s.id.startswith("r22-name-"))
        node = first.removeprefix("r22-name-")
        old, temp = plan.nodes[node].old_address, plan.nodes[node].temp_address
        z.lab.fault("stale-hosts")
        before = packages_touched(z)
        assert z.run() == "failed"
        assert_stopped_at(z, first, "R22", "name_reach")
        found = z.output(first, "analysis")
        assert f"firstbox resolves {node} to {old}, the old VM" in found, found
        assert "R20 breach" in found and f"getent hosts {node}" in found
        assert z.step_state("r22-install") == "pending"
        # over plain ssh: firstbox's name still leads to the old VM, which got nothing
        assert z.ssh.out(z.firstbox, f"getent hosts {node}").split()[0] == old
        assert packages_touched(z) == before
        # what the check prevented: the R23 command as the runbook types it reaches the old
        # VMs by name (the lab shows the hazard; main's lab went to the settings address)
        names = ",".join(plan.nodes)
        out = z.ssh.out(z.firstbox, f"/pitrix/upgrade/update.sh -f {names} pitrix-ks-proxy")
        assert all(f"Update [{n}] OK." in out for n in plan.nodes), out
        after = packages_touched(z)
        assert all(after[n] != before[n] for n in plan.nodes), "update.sh missed the old VMs"
        assert temp not in z.ssh.out(z.firstbox, "cat /etc/hosts")


@pytest.mark.slow
def test_after_the_remedy_resume_finishes_the_upgrade() -> None:
    """The remedy the stop names: firstbox's /etc/hosts from the build (pitrix-hosts of
    R18/R19), then resume: the upgrade ends in the verified state."""
    with zone() as z:
        plan = z.plan()
        first = next(s.id for s in plan.steps if s.id.startswith("r22-name-"))
        z.lab.fault("stale-hosts")
        assert z.run() == "failed"
        assert z.step_state(first) == "failed"
        z.lab.clear_fault("stale-hosts")
        z.ssh.out(z.firstbox, "cp /pitrix/build/packages/deb/pitrix-hosts/hosts /etc/hosts")
        assert z.resume() == "done", z.errors
        z.assert_upgraded()
