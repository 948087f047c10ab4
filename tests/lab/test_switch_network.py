"""R31 on the lab (issue 10): a temporary address left in the new VM's network configuration
after R31's rewrite stops the run before R32 (the old node still serves); the plain-ssh checks
of the end state (every switched proxy holds exactly the old VM's addresses, no temporary
address under /etc, no /etc/hosts maps one) run in upgrade_kit.Zone.assert_upgraded, on
`default` and `vg-other-24` in make test, `vg-same-24` in make test-slow."""

from __future__ import annotations

import pytest
from upgrade_kit import on_step, zone

from nodeswap.run import journal as J

pytestmark = [pytest.mark.lab, pytest.mark.slow]  # a whole upgrade up to the first switch


def test_a_temporary_address_left_after_r31_stops_the_run_before_r32() -> None:
    with zone("default", tag="r31-left") as z:
        plan = z.plan()
        first = plan.meta["switch_order"].split(",")[0]
        old, temp, _, _ = z.node_plan(first)
        # what a file R31 cannot know would leave: an alias at the temporary address (written
        # through the lab's ssh to the new VM, which still answers there until R33's reboot)
        alias = f"\\nauto eth0:1\\niface eth0:1 inet static\\n    address {temp}\\n"

        def leave_alias() -> None:
            z.ssh.run(temp, f"mkdir -p /etc/network/interfaces.d && printf '{alias}' > "
                      "/etc/network/interfaces.d/alias && printf 'source "
                      "/etc/network/interfaces.d/*\\n' >> /etc/network/interfaces")

        assert z.run(events=on_step(f"r31-address-{first}", leave_alias, when="ended")) \
            == J.RUN_FAILED
        assert z.step_state(f"r31-network-{first}") == "failed"
        findings = z.output(f"r31-network-{first}", "analysis")
        assert "interface eth0:1 is not configured on the old" in findings, findings
        assert z.step_state(f"r32-stop-{first}") == "pending"
        assert z.supervisor_ok(old), "the old node still serves"
