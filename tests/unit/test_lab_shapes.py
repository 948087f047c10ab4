"""Issue 10: a topology of any shape gives a consistent zone. The netmask in every settings
file is its network's (a /23 MGMT network, a /25 VG or EIP network), the interfaces file the
lab renders from it says the same, and the routes R10 writes name the same network."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodeswap.lab.hostroot import permit_open
from nodeswap.lab.standins import pitrixlab as pl
from nodeswap.lab.topology import check, relocate
from nodeswap.lab.zonefiles import mgmt_networks, netmask_of, node_settings, random_mac

SHAPES = Path(__file__).parents[1] / "lab/topologies"


def topology(name: str) -> dict[str, Any]:
    t = yaml.safe_load((SHAPES / f"{name}.yaml").read_text())
    assert check(t) == []
    return relocate(t, 16)


def settings(t: dict[str, Any]) -> dict[str, dict[str, str]]:
    rng = random.Random(1)
    return {n["name"]: pl.parse_settings(node_settings(t, n, physical=n in t["physical"],
                                                       mac=lambda: random_mac(rng)))
            for n in t["physical"] + t["vms"]}


def iface_netmasks(text: str) -> dict[str, str]:
    """NIC -> netmask of an interfaces file."""
    out: dict[str, str] = {}
    nic = ""
    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["iface"]:
            nic = words[1]
        elif words[:1] == ["netmask"]:
            out[nic] = words[1]
    return out


def test_a_23_network_gives_every_node_its_netmask() -> None:
    t = topology("mgmt-23")
    files = settings(t)
    halves = {ipaddress.IPv4Address(s["mgmt_network_address"]).packed[2] for s in files.values()}
    assert halves == {100, 101}  # the nodes span both /24 halves of the /23
    for name, s in files.items():
        assert s["mgmt_network_netmask"] == "255.255.254.0", name
        assert iface_netmasks(pl.render_interfaces(s)) == {"eth0": "255.255.254.0"}, name
        net = ipaddress.IPv4Network(f"{s['mgmt_network_address']}/{s['mgmt_network_netmask']}",
                                    strict=False)
        assert str(net) == "127.16.100.0/23"
        if name.endswith(("proxy0", "proxy1")):
            assert name.startswith("pek3a-")  # zone-prefixed names


def test_two_vg_networks_and_a_25_eip_network() -> None:
    t = topology("vg-two-nets")
    assert mgmt_networks(t)[1:] == ["127.16.101.0/24", "127.16.102.0/25"]
    files = settings(t)
    assert files["pek3ar02n01"]["mgmt_network_netmask"] == "255.255.255.0"
    assert files["pek3ar03n01"]["mgmt_network_netmask"] == "255.255.255.128"
    for name in ("proxy0", "proxy1"):
        s = files[name]
        assert s["eip_network_netmask"] == "255.255.255.128"
        assert iface_netmasks(pl.render_interfaces(s)) == {"eth0": "255.255.255.0",
                                                          "eth1": "255.255.255.128"}
        # R10: the VG networks are outside the KS /24, so the route to it is written
        assert s["mgmt_network_routing_rule"] == \
            "ip route add 127.16.100.0/24 via 127.16.101.1"
        tail = pl.render_rc_files(s)["etc/rc.local.tail"]
        assert "ip route add 127.16.100.0/24 via 127.16.101.1" in tail


@pytest.mark.parametrize(("address", "netmask"), [
    ("127.16.100.7", "255.255.254.0"), ("127.16.101.254", "255.255.254.0"),
    ("127.16.102.7", "255.255.255.0")])  # outside every network: a /24, as before
def test_netmask_of_an_address(address: str, netmask: str) -> None:
    assert netmask_of(topology("mgmt-23"), address) == netmask


def test_a_zone_labs_jump_allows_the_whole_24_of_a_wider_network() -> None:
    """R16 picks 127.16.100.255 in a /23 (a host address there): firstbox's PermitOpen must
    let the jump reach it (the mgmt-23 upgrade stopped at R22 with `open failed`)."""
    allowed = permit_open(["127.16.100.21", "127.16.101.22"], whole_24=True)
    assert {"127.16.100.255:22", "127.16.101.0:22", "127.16.100.254:22"} <= set(allowed)
    assert "127.16.102.1:22" not in allowed
    assert permit_open(["127.16.100.21"], whole_24=False) == ("127.16.100.21:22",)
