"""Issue 10's "Done when": the whole upgrade on zone labs whose hosts live in their own network
namespaces (`lab up --net netns`), with real haproxy and keepalived on the proxy VMs.

`default` (with an unrelated webservice VM down during apply), `vg-same-24` and `vg-other-24`:
`apply` with every gate approved ends with every switched proxy holding exactly the old VM's
addresses (MGMT and EIP, in its interfaces file and live), no temporary address anywhere under
`/etc` in the zone, the console answering through the real haproxy of the VIP holder, and the
downtime measured. Everything is checked from the outside with plain OpenSSH through firstbox's
/30 (``ssh.jump``), never through nodeswap's own executor; nothing leaves the machine (the
safety properties of the netns lab are tests/lab/test_lab_netns.py's)."""

from __future__ import annotations

import subprocess

import pytest
from upgrade_kit import Zone, on_step, zone

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TOPOLOGIES = ("default", "vg-same-24", "vg-other-24")


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_upgrade_on_a_real_network(topology: str) -> None:
    with zone(topology, net="netns", tag=f"netns-{topology}") as z:
        plan = z.plan()
        events = None
        if topology == "default":  # an unrelated webservice VM goes down during apply
            ws = z.instance("webservice1", new=False)
            first = next(s.id for s in plan.steps if s.id.startswith("r30-settings-"))
            events = on_step(first, lambda: z.lab.fault("host-down", host=ws))
        assert z.run(events=events) == "done", z.errors
        z.assert_upgraded()  # includes the old addresses only (MGMT and EIP), live too
        assert_no_temporary_address_in_the_zone(z)
        assert_console_through_real_haproxy(z)


def _up_addresses(z: Zone) -> list[str]:
    return [str(h["address"]) for h in z.info.raw["hosts"].values() if h.get("up")]


def assert_no_temporary_address_in_the_zone(z: Zone) -> None:
    """No file under /etc of any host of the zone that is up (firstbox too) names a temporary
    address of the plan (R16's MGMT and R12's dummy EIP)."""
    pattern = " ".join(f"-e {a}" for a in sorted(z.temporary_addresses()))
    for address in {z.firstbox, *_up_addresses(z)}:
        res = z.ssh.run(address, f"grep -rlwIF {pattern} /etc", check=False)
        assert res.returncode == 1 and res.stdout == "", \
            f"{address}: a temporary address is left in {res.stdout}{res.stderr}"


def _namespace_of(z: Zone, address: str) -> str:
    net = z.info.raw["net"]["namespaces"]
    iid = next(str(h["iid"]) for h in z.info.raw["hosts"].values()
               if h.get("up") and h["address"] == address)
    return str(net[iid])


def assert_console_through_real_haproxy(z: Zone) -> None:
    """The console answers at the VIP from firstbox (assert_upgraded), and what listens on
    port 80 in the VIP holder's network namespace is Debian's haproxy (asked of the kernel
    with `ss` in that namespace, not of the lab)."""
    holders = z.vip_holders()
    assert len(holders) == 1, holders
    assert z.plan_ is not None
    ns = _namespace_of(z, z.plan_.nodes[holders[0]].old_address)
    res = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "ss", "-Hltnp", "sport", "= :80"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0 and '"haproxy"' in res.stdout, (ns, res.stdout, res.stderr)
