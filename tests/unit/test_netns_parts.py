"""The pure parts of `--net netns` (issue 10): names within the kernel's 15 characters and
carrying the lab's id, 127.16.a.b mapped to 10.200.a.b, and the overlap checks against a
route table (docs/lab-netns.md)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.errors import LabError
from nodeswap.lab import Lab, netns, netroute, topology
from nodeswap.lab.netns import Names
from nodeswap.lab.standins import pitrixlab as pl
from nodeswap.live.reach import Reach, make_reach

ROUTES_HERE = """\
default via 192.0.2.1 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2
"""


def default_topology() -> dict[str, object]:
    return topology.load(topology.resolve_topology("default"))


@given(st.text(alphabet="/abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=80),
       st.integers(min_value=1, max_value=999))
def test_every_name_fits_and_carries_the_lab_id(folder: str, n: int) -> None:
    labid = netns.lab_id(Path("/var/lib/nodeswap-lab") / folder)
    names = Names(labid)
    made = [names.bridge_ns, names.operator, names.host_ns(n), names.host_veth(n),
            names.bridge(n % 10)]
    assert len(labid) == 5
    assert all(len(x) <= 15 and labid in x for x in made)
    assert len(set(made)) == len(made)


def test_two_lab_folders_get_two_ids() -> None:
    a = netns.lab_id(Path("/var/lib/nodeswap-lab/a"))
    assert a == netns.lab_id(Path("/var/lib/nodeswap-lab/a"))
    assert a != netns.lab_id(Path("/var/lib/nodeswap-lab/b"))


def test_a_name_over_15_characters_is_refused() -> None:
    with pytest.raises(LabError, match="over 15"):
        Names("abcde").host_ns(100_000_000)


@given(st.integers(0, 255), st.integers(0, 255), st.sampled_from(list(netns.BLOCKS)))
def test_topology_addresses_keep_a_b(a: int, b: int, block: int) -> None:
    assert netns.map_address(f"127.16.{a}.{b}", block) == f"10.{block}.{a}.{b}"
    assert netns.map_address(f"172.21.{a}.{b}", block) == f"172.21.{a}.{b}"


def test_the_default_topology_maps_whole() -> None:
    t = netns.map_topology(default_topology(), 200)
    assert t["firstbox"]["address"] == "10.200.100.2"
    assert t["vip"] == "10.200.100.250" and t["network"] == "10.200.100.0/24"
    assert t["vm_base_network"] == "172.21.0.0/16"
    assert "127.16." not in str(t)
    assert netns.zone_networks(t) == [ipaddress.IPv4Network("10.200.100.0/24")]


def test_vg_topology_networks_include_vg_and_eip() -> None:
    t = netns.map_topology(topology.load(topology.resolve_topology("vg-other-24")), 200)
    assert [str(n) for n in netns.zone_networks(t)] == [
        "10.200.100.0/24", "10.200.101.0/24", "10.200.200.0/24"]
    k, net = netns.network_of("10.200.200.21", netns.zone_networks(t))
    assert (k, str(net)) == (2, "10.200.200.0/24")


def test_routes_are_parsed_without_the_default() -> None:
    assert [str(r) for r in netns.parse_routes(ROUTES_HERE)] == [
        "192.0.2.0/24", "127.0.0.0/8", "127.0.0.1/32", "192.0.2.255/32"]


def test_block_and_jump_skip_what_this_machine_routes() -> None:
    t = default_topology()
    routes = netns.parse_routes(ROUTES_HERE)
    assert netns.pick_block(t, routes) == 200
    taken = routes + netns.parse_routes("unreachable 10.200.100.0/24 proto static\n")
    assert netns.pick_block(t, taken) == 201
    assert str(netns.pick_jump(routes)) == "169.254.200.0/30"
    assert netns.jump_addresses(netns.pick_jump(routes)) == ("169.254.200.1", "169.254.200.2")
    used = routes + netns.parse_routes("169.254.200.0/30 dev oabcde proto kernel\n")
    assert str(netns.pick_jump(used)) == "169.254.200.4/30"


def test_a_machine_route_over_the_whole_block_refuses_the_lab() -> None:
    routes = netns.parse_routes("10.0.0.0/8 via 192.0.2.9 dev eth0\n")
    with pytest.raises(LabError, match="overlaps a route of this machine"):
        netns.pick_block(default_topology(), routes)


@given(st.integers(8, 30), st.integers(0, 2**32 - 1))
def test_overlap_is_symmetric_containment(prefix: int, addr: int) -> None:
    route = ipaddress.IPv4Network((addr, prefix), strict=False)
    zone = ipaddress.IPv4Network("10.200.100.0/24")
    hit = netns.overlaps([zone], [route])
    inside = zone.subnet_of(route) or route.subnet_of(zone)
    assert bool(hit) == inside


def _lab_json(folder: Path, jump: str | None) -> Path:
    ssh: dict[str, str] = {"user": "root", "identity_file": "/k", "known_hosts": "/kh"}
    if jump:
        ssh["jump"] = jump
    data = {"firstbox": "fb", "ssh": ssh,
            "hosts": {"fb": {"address": "10.200.100.2", "role": "firstbox", "kind": "firstbox"}}}
    (folder / "lab.json").write_text(json.dumps(data))
    return folder


def test_lab_with_a_jump_is_reached_through_it_only(tmp_path: Path) -> None:
    """--lab on a netns lab: the bastion is ssh.jump; firstbox keeps its zone address (the
    plan's), reached through the bastion; a loopback lab has no bastion."""
    reach = make_reach(lab=_lab_json(tmp_path, "root@169.254.200.2"), firstbox=None)
    assert reach.ssh.bastion is not None and reach.ssh.bastion.address == "169.254.200.2"
    assert reach.ssh.bastion_user == "root"
    assert reach.firstbox is not None and reach.firstbox.address == "10.200.100.2"
    assert Reach.from_dict(reach.to_dict()).ssh.bastion == reach.ssh.bastion  # resume
    assert make_reach(lab=_lab_json(tmp_path, None), firstbox=None).ssh.bastion is None


def test_netns_is_for_topologies_only(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="--hosts labs are always loopback"):
        Lab.up(tmp_path / "lab", hosts=2, net="netns")
    with pytest.raises(LabError, match="one of auto, loopback, netns"):
        Lab.up(tmp_path / "lab", topology="default", net="vlan")


def test_interfaces_file_addresses_with_their_netmask() -> None:
    """What a VM's boot brings up: every static stanza's address with its netmask."""
    text = pl.render_interfaces({"mgmt_network_address": "10.200.100.21",
                                 "mgmt_network_netmask": "255.255.254.0",
                                 "eip_network_address": "10.200.200.21",
                                 "mgmt_network_gateway": "10.200.100.1"})
    assert netns.interface_addresses(text) == {"eth0": ["10.200.100.21/23"],
                                              "eth1": ["10.200.200.21/24"]}
    assert netns.interface_addresses("auto lo\niface lo inet loopback\n") == {}
    assert netns.interface_addresses("iface eth0 inet dhcp\n    address 1.2.3.4\n") == {}
    assert netns.interface_addresses("iface eth0 inet static\n address 10.0.0.5/30\n") == {
        "eth0": ["10.0.0.5/30"]}


def test_hosts_in_several_networks_need_a_gateway_in_each() -> None:
    """vg-other-24's VG nodes are in another /24: the lab's router has a leg there (the
    topology's vg_mgmt_network_gateway); without one the topology is refused."""
    assert netroute.unroutable(default_topology()) is None
    assert netroute.unroutable(topology.load(topology.resolve_topology("vg-same-24"))) is None
    t = topology.load(topology.resolve_topology("vg-other-24"))
    assert netroute.unroutable(t) is None
    t["vg_mgmt_network_gateway"] = None
    t["physical"] = [{k: v for k, v in p.items() if k != "gateway"} for p in t["physical"]]
    why = netroute.unroutable(t)
    assert why is not None and "127.16.101.0/24 has no gateway" in why


def test_a_creation_that_failed_is_never_torn_down(tmp_path: Path) -> None:
    """A name whose creation failed may be someone else's: teardown leaves it alone."""
    rec = netns.NetRecords(tmp_path)
    rec.add("netns", "nwabcdeb")
    rec.add("route", "10.200.100.0/24")
    rec.add("netns", "nwabcdeh1")
    rec.add("netns", "nwabcdeh1", failed=True)
    assert rec.entries() == [("netns", "nwabcdeb"), ("route", "10.200.100.0/24")]


def test_auto_net_says_why_a_zone_stays_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--net auto`: netns where the machine and the topology allow it, else loopback with
    the reason (lab.json's net_note): a region, a missing tool, no namespaces."""
    here = Path(__file__).resolve().parents[1] / "lab/topologies"
    region = topology.load(here / "region-2z.yaml")
    assert netroute.netns_unavailable(region) == "a region topology (several zones) runs on " \
        "loopback only"
    default = topology.load(topology.resolve_topology("default"))
    monkeypatch.setattr(netroute, "NETNS_TOOLS", ("/nonexistent/keepalived",))
    assert netroute.netns_unavailable(default) == "/nonexistent/keepalived not installed " \
        "(scripts/setup.sh installs them)"
