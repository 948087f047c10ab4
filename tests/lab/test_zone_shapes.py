"""Issue 10 on a real lab: zones of other shapes upgrade end to end. A /23 MGMT network with
zone-prefixed names (tests/lab/topologies/mgmt-23.yaml) and VG nodes on two VG networks with
a /25 EIP network (vg-two-nets.yaml): after `apply`, each switched proxy's interfaces file is
the old VM's, netmask included (R30/R31), and its live addresses carry that prefix."""

from __future__ import annotations

from pathlib import Path

import pytest
from upgrade_kit import zone

pytestmark = [pytest.mark.lab, pytest.mark.slow]
SHAPES = Path(__file__).parent / "topologies"


@pytest.mark.parametrize(("shape", "prefixes"), [
    ("mgmt-23", {"eth0": "/23"}), ("vg-two-nets", {"eth0": "/24", "eth1": "/25"})])
def test_a_zone_of_another_shape_upgrades(shape: str, prefixes: dict[str, str]) -> None:
    with zone(str(SHAPES / f"{shape}.yaml"), tag=shape) as z:
        plan = z.plan()
        for name, n in plan.nodes.items():
            old = z.settings(name)
            mask = {"mgmt-23": "255.255.254.0"}.get(shape, "255.255.255.0")
            assert f'mgmt_network_netmask="{mask}"' in old, name
            assert f'mgmt_network_netmask="{mask}"' in n.settings, name  # R7-R17: kept
        z.run()
        z.assert_upgraded()  # with assert_old_addresses_only: the whole interfaces file
        for n in plan.nodes.values():
            live = z.ssh.out(n.old_address, "ip -4 -o addr show").splitlines()
            got = {ln.split()[1]: "/" + ln.split()[3].split("/")[1] for ln in live
                   if ln.split()[1] != "lo" and ln.split()[3].split("/")[1] != "32"}
            assert got == prefixes, (n.name, live)
