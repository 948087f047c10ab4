"""`ip` on a zone with an EIP network (vg-other-24): VG hosts bridge eth1 into br1, which
carries their EIP address; a proxy VM there has eth1 with its EIP; KS hosts have no br1.
One lab for the module (read-only tests)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap.lab import Lab
from nodeswap.zone.facts import parse_ip_addr, parse_links

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def vg_lab() -> Iterator[Lab]:
    lab = Lab.up(Path("/var/lib/nodeswap-lab/pytest-standins-vg-other-24"),
                 topology="vg-other-24")
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


def run(lab: Lab, host: str, command: str) -> str:
    res = subprocess.run(lab.info().ssh_command(host, command), capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _eip(lab: Lab, name: str) -> str:
    text = run(lab, lab.info().firstbox or "", f"cat /pitrix/conf/settings/{name}")
    m = re.search(r'^eip_network_address="([^"]+)"', text, re.M)
    assert m, text
    return m.group(1)


def test_vg_host_has_br1_with_eip_and_ks_host_has_none(vg_lab: Lab) -> None:
    vg = vg_lab.info().raw["hosts"]["proxy0"]["physical"]
    links = parse_links(run(vg_lab, vg, "ip -o link show"))
    assert links[:5] == ("lo", "eth0", "eth1", "br0", "br1")
    assert any(n.startswith("vnet") for n in links)
    addrs = run(vg_lab, vg, "ip -4 -o addr show")
    assert re.search(rf"^\d+: br1    inet {re.escape(_eip(vg_lab, vg))}/24 ", addrs, re.M)
    vnet_masters = re.findall(r"vnet\d+: .* master (br\d)",
                              run(vg_lab, vg, "ip -o link show"))
    assert sorted(vnet_masters) == ["br0", "br1"]  # proxy0's MGMT and EIP NICs
    ks = next(h for h, v in vg_lab.info().raw["hosts"].items()
              if v["kind"] == "physical" and h != vg and "br1" not in
              parse_links(run(vg_lab, h, "ip -o link show")))
    assert "br0" in parse_links(run(vg_lab, ks, "ip -o link show"))


def test_proxy_vm_has_eth1_with_its_eip(vg_lab: Lab) -> None:
    assert parse_links(run(vg_lab, "proxy0", "ip -o link show")) == ("lo", "eth0", "eth1")
    eip = _eip(vg_lab, "proxy0")
    assert eip in parse_ip_addr(run(vg_lab, "proxy0", "ip -o addr show"))
    assert re.search(rf"^    inet {re.escape(eip)}/24 brd \S+ scope global eth1$",
                     run(vg_lab, "proxy0", "ip addr show"), re.M)


def test_eth1_keeps_the_address_it_booted_with_until_the_next_boot(vg_lab: Lab) -> None:
    """Issue 10: `ip addr` follows the interfaces file as ifupdown read it at boot, so an
    edit (R31's) shows only after R33's reboot, and a temporary address left in the file
    shows then. The file is put back at the end (the module's lab stays read-only)."""
    eip = _eip(vg_lab, "proxy0")
    run(vg_lab, "proxy0", "cp /etc/network/interfaces /tmp/interfaces.keep && "
        f"sed -i 's/ {eip}$/ 2.2.2.9/' /etc/network/interfaces")
    try:
        assert "2.2.2.9" in run(vg_lab, "proxy0", "cat /etc/network/interfaces")
        addrs = parse_ip_addr(run(vg_lab, "proxy0", "ip -4 -o addr show"))
        assert eip in addrs and "2.2.2.9" not in addrs
    finally:
        run(vg_lab, "proxy0", "mv /tmp/interfaces.keep /etc/network/interfaces")


def test_arping_stand_in_records_a_gratuitous_arp_of_an_own_address(vg_lab: Lab) -> None:
    eip = _eip(vg_lab, "proxy0")
    out = run(vg_lab, "proxy0", f"arping -U -c 1 -I eth1 {eip}")
    assert out.startswith(f"ARPING {eip} from {eip} eth1\n")
    assert run(vg_lab, "proxy0", "tail -n 1 /var/log/lab-arping.log").split()[1:] == [
        "-U", "-c", "1", "-I", "eth1", eip]
    for bad in (f"-U -c 1 -I eth0 {eip}", f"-U -c 1 -I eth9 {eip}", f"-U -c 1 {eip}"):
        res = subprocess.run(vg_lab.info().ssh_command("proxy0", f"arping {bad}"),
                             capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode != 0, bad
