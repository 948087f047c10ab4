"""R23 on a real network (issue 10): in a `--net netns` lab the new VM's real keepalived
taking the VIP (fault vip-to: it runs with a priority above the old proxies') stops nodeswap
at R23's VIP watch with the remedy; done as it says (`service keepalived stop` on the new VM),
VRRP gives the VIP back to an old proxy and resume finishes with the console answering through
real haproxy at the VIP. How the new VMs' keepalived behaves otherwise: docs/lab-netns.md."""

from __future__ import annotations

import pytest
from test_apply_faults import assert_stopped_at, first_node
from upgrade_kit import on_step, zone

from nodeswap.lab.system import wait_until
from nodeswap.run import journal as J

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_new_node_steals_the_vip_for_real_then_resume_after_the_remedy() -> None:
    with zone(net="netns", tag="netns-vip") as z:
        z.plan()
        node = first_node(z)
        _old, temp, _, _ = z.node_plan(node)
        taken: list[str] = []

        def vip_to() -> None:
            taken.append(z.instance(node))
            z.lab.fault("vip-to", host=taken[0])

        assert z.run(events=on_step("r22-install", vip_to)) == J.RUN_FAILED
        assert z.snap is not None and z.snap.vip
        assert_stopped_at(z, f"r23-vip-{node}", "R23", z.snap.vip, "temporary address",
                          "service keepalived stop")
        # the VIP really is on the new VM's eth0, at its temporary address's side
        assert f" {z.snap.vip}/32 " in z.ssh.out(temp, "ip -4 -o addr show")
        assert z.vip_holders() == [], "the new node (not an old one) holds the VIP"
        z.lab.clear_fault("vip-to", host=taken[0])
        assert z.vip_holders() == []  # its keepalived runs on until the remedy
        z.ssh.run(temp, "service keepalived stop")
        assert wait_until(lambda: len(z.vip_holders()) == 1, 20.0, 0.2), z.vip_holders()
        assert z.resume() == J.RUN_DONE, z.errors
        z.assert_upgraded()
