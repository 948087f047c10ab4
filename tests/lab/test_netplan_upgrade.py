"""Issue 10, R29-R33 with netplan: the new 18.04 VMs of tests/lab/topologies/netplan-vg.yaml
configure their network with netplan (/etc/netplan/01-netcfg.yaml, no interfaces file) while the
old 16.04 VMs keep ifupdown. On the netns lab (each VM boots from its own network file for
real), `apply` ends `done`: R29 read the netplan file (nodeswap's network dump shows it), R31
rewrote the temporary MGMT address and R12's dummy EIP in it, and after R33's reboot each
switched VM holds exactly the old VM's addresses, in its netplan file and live (upgrade_kit's
assert_upgraded reads the netplan file as the lab's boot does: lab/netconf.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from upgrade_kit import zone

pytestmark = [pytest.mark.lab, pytest.mark.slow]
TOPOLOGY = Path(__file__).parent / "topologies" / "netplan-vg.yaml"
NETPLAN = "/etc/netplan/01-netcfg.yaml"


def test_a_netplan_vm_is_switched_onto_the_old_addresses() -> None:
    with zone(str(TOPOLOGY), net="netns", tag="netplan-vg") as z:
        plan = z.plan()
        for n in plan.nodes.values():  # the old VMs: ifupdown
            assert "iface eth0 inet static" in z.ssh.out(n.old_address,
                                                         "cat /etc/network/interfaces")
        assert z.run() == "done", z.errors
        assert "==> " + NETPLAN + " <==" in z.output(f"r29-network-{next(iter(plan.nodes))}")
        z.assert_upgraded()  # the netplan file's addresses and the live ones are the old VM's
        for n in plan.nodes.values():
            assert z.ssh.run(n.old_address, "test -e /etc/network/interfaces",
                             check=False).returncode == 1, n.name
            text = z.ssh.out(n.old_address, f"cat {NETPLAN}")
            assert f"{n.old_address}/24" in text and n.temp_address not in text, text
            assert n.eip_temp_address and n.eip_temp_address not in text, text
