"""The runbook by hand (issue 3, "Done means"): R6 to R37 typed as the runbook says, with plain
`ssh` (strict host keys, the lab's key) against a zone lab; then the end state. On `default`
(loopback and netns) and on the VG zones on their real network (issue 10: the EIP goes through
R12's dummy and comes back at R30/R31, live after R33's reboot).

The sequence itself is nodeswap.lab.byhand (bench/bench_upgrade.py times the same one): the
new proxy0 goes to old proxy1's physical host and the reverse (R13), at two borrowed
addresses (R3, R16) that no settings file uses and nothing answers.
"""

from __future__ import annotations

import pytest

from nodeswap.lab import Lab
from nodeswap.lab.byhand import TARGET_OS, Shell, host_key, run_by_hand, settings

# ~25 s on loopback, ~60 s on a netns lab (the whole runbook typed over plain ssh): make
# test-slow, and make bench uses it on every topology
pytestmark = [pytest.mark.lab, pytest.mark.slow]

# (topology, lab network): the bench types it on each of these (issue 10)
CASES = [("default", "loopback"), ("default", "netns"), ("vg-same-24", "netns"),
         ("vg-other-24", "netns")]


@pytest.mark.parametrize(("topology_lab", "topology", "net"), [(c, *c) for c in CASES],
                         ids=[f"{t}-{n}" for t, n in CASES], indirect=["topology_lab"])
def test_runbook_r6_to_r37_by_hand(topology_lab: Lab, topology: str, net: str) -> None:
    lab = topology_lab
    bh = run_by_hand(lab)
    sh = Shell(lab.info())
    old_addr, old_host, new_host, old_keys, temp = (bh.old_addr, bh.old_host, bh.new_host,
                                                    bh.old_keys, bh.temp)

    # ---- the end state
    info = lab.info()
    assert (info.raw.get("net") or {}).get("mode", "loopback") == net
    if topology != "default":  # VG zones: the EIP went through its dummy (R12)
        assert bh.old_eip and set(bh.dummy_eip.values()) == {"2.2.2.2", "2.2.2.3"}
    for p in ("proxy0", "proxy1"):
        s = settings(sh, p)
        assert (s["os_name"], s["os_version"]) == TARGET_OS
        assert s["mgmt_network_address"] == old_addr[p]
        assert s["physical_host"] == new_host[p]
        assert sh.run(old_addr[p], "hostname").strip() == p
        if bh.old_eip:  # R30/R31: the EIP is the old one again, in the settings and live
            assert s["eip_network_address"] == bh.old_eip[p]
            live = sh.run(old_addr[p], "ip -4 -o addr show")
            assert f" {bh.old_eip[p]}/" in live and bh.dummy_eip[p] not in live, live
        assert host_key(sh, old_addr[p]) != old_keys[p]  # a new VM at the old address
        assert TARGET_OS[1] in sh.run(old_addr[p], "cat /etc/lsb-release")
        assert "RUNNING" in sh.run(old_addr[p], "supervisorctl status")
        kernels = sh.run(old_host[p], "ls /pitrix/kernels").split()
        assert {f"old-{p}.img", f"old-{p}.xml"} <= set(kernels)
        assert p not in sh.run(old_host[p], "virsh list --all").split()
        assert p in sh.run(new_host[p], "virsh list --all").split()
        olds = [h for h in info.hosts.values() if h.name == p and not h.up]
        assert len(olds) == 1  # the old VM is shut down, still in the lab's records
        # known_hosts cleaned: firstbox's entry for the name and address is the new key
        known = sh.fb(f"ssh-keygen -F {old_addr[p]} -f /root/.ssh/known_hosts; "
                      f"ssh-keygen -F {p} -f /root/.ssh/known_hosts")
        assert old_keys[p] not in known
        assert sh.fb(f"ssh -o StrictHostKeyChecking=yes {p} hostname").strip() == p
    fb_hosts = sh.fb("cat /etc/hosts")
    assert temp["proxy0"] not in fb_hosts  # R20: nothing pushed to firstbox
    for host in info.hosts.values():
        if host.up and host.role != "proxy" and host.kind == "vm":
            assert temp["proxy0"] not in sh.run(host.address, "cat /etc/hosts")


