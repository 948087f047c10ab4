"""The pure parts of a netns lab's routing (issue 10, lab/netroute.py): the gateway
addresses the lab's router holds, the routes of physical hosts, a VM's interfaces stanzas, and
which rc.local lines the lab runs for real (only `ip`, never into another namespace); plus
the lab topologies' consistency on a real network (R10/R11: every route's gateway is on the
VM's own network, the VIP in the proxies' network)."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.lab import netns, netroute, topology, zonefiles
from nodeswap.lab.netns import Names
from nodeswap.lab.standins import pitrixlab as pl


def placed(name: str) -> dict[str, object]:
    return netns.map_topology(topology.load(topology.resolve_topology(name)), 200)


def test_the_router_holds_every_gateway_of_vg_other_24() -> None:
    t = placed("vg-other-24")
    nets = netns.zone_networks(t)
    assert netroute.gateway_addresses(t, nets) == {
        0: ["10.200.100.1"], 1: ["10.200.101.1"], 2: ["10.200.200.1"]}
    assert netroute.gateway_addresses(placed("default"), netns.zone_networks(
        placed("default"))) == {0: ["10.200.100.1"]}


def test_physical_hosts_route_to_the_other_networks_via_their_gateway() -> None:
    nets = netns.zone_networks(placed("vg-other-24"))
    assert netroute.host_routes("10.200.101.11", "10.200.101.1", nets) == [
        "10.200.100.0/24", "10.200.200.0/24"]
    assert netroute.host_routes("10.200.100.2", "10.200.100.1", nets) == [
        "10.200.101.0/24", "10.200.200.0/24"]
    assert netroute.host_routes("10.200.100.2", "10.200.101.1", nets) == []  # not on-link
    assert netroute.host_routes("10.200.100.2", None, nets) == []


def test_every_stanza_of_a_vg_proxy_with_its_gateway() -> None:
    s = {"mgmt_network_address": "10.200.101.21", "mgmt_network_netmask": "255.255.255.0",
         "mgmt_network_gateway": "", "eip_network_address": "10.200.200.21",
         "eip_network_netmask": "255.255.255.0", "eip_network_gateway": "10.200.200.1"}
    assert netroute.stanzas(pl.render_interfaces(s)) == [
        netroute.Stanza("eth0", "10.200.101.21/24", None),
        netroute.Stanza("eth1", "10.200.200.21/24", "10.200.200.1")]
    assert netroute.stanzas("iface eth0 inet dhcp\n  address 1.2.3.4\n") == []
    assert netroute.stanzas("auto eth0\niface eth0 inet static\n address 10.0.0.5/30\n"
                            "auto lo\n gateway 10.0.0.6\n") == [
        netroute.Stanza("eth0", "10.0.0.5/30", None)]


@pytest.mark.parametrize("line", [
    "ip route add 10.200.100.0/24 via 10.200.101.1",
    "/sbin/ip route add 172.21.0.0/16 src 10.200.101.21 via 10.200.101.1",
    "ip -4 addr add 10.200.101.9/24 dev eth0",
    "ip link set dev eth0 mtu 1400",
    "ip link set eth1 up",
    "ip rule add from 10.200.200.21 table 100  # policy routing",
])
def test_ip_lines_run_with_the_real_ip_and_no_shell(line: str) -> None:
    argv, why = netroute.rc_command(line)
    assert why is None and argv is not None
    assert argv[0] == "/usr/sbin/ip" and argv[1:] == line.split("#", maxsplit=1)[0].split()[1:]


@pytest.mark.parametrize(("line", "why"), [
    ("ethtool -K eth0 tso off gso off", "not an ip command"),
    ("/usr/bin/supervisord -c /etc/supervisor/supervisord.conf", "not an ip command"),
    ("ip netns exec other ip route add default via 1.2.3.4", "another namespace"),
    ("ip -n other route add default via 1.2.3.4", "option"),
    ("ip -netns other route flush table main", "option"),
    ("ip -all netns delete", "option"),
    ("ip -b /etc/ip.batch", "option"),
    ("ip link set eth0 netns 1", "another namespace"),
    ("ip link add veth9 type veth peer name x netns other", "another namespace"),
    ("ip link del eth0", "other than"),
    ("ip link set eth0 address 00:16:3e:00:00:01", "other than"),
    ("ip route add 10.0.0.0/8 via 10.200.101.1; rm -rf /", "shell syntax"),
    ("ip route add $NET via 10.200.101.1", "shell syntax"),
    ("ip monitor", "object"),
    ("ip route add 'unterminated", "not parsed"),
])
def test_other_lines_are_not_run(line: str, why: str) -> None:
    argv, reason = netroute.rc_command(line)
    assert argv is None and reason is not None and why in reason


def test_blank_lines_comments_and_shebangs_are_silent() -> None:
    for line in ("", "   ", "#!/bin/sh -e", "# ip route add 1.2.3.0/24 via 1.2.3.4"):
        assert netroute.rc_command(line) == (None, None)


@given(st.text(max_size=60))
def test_whatever_runs_is_the_real_ip_in_the_vms_own_namespace(line: str) -> None:
    argv, _why = netroute.rc_command(line)
    if argv is not None:
        assert argv[0] == netroute.IP
        assert not any("netns" in w or w.startswith(("-n", "-a", "-b")) for w in argv[1:])


def test_rc_local_runs_head_and_tail_where_it_sources_them(tmp_path: Path) -> None:
    files = pl.render_rc_files({"mgmt_network_routing_rule":
                                "ip route add 10.200.100.0/24 via 10.200.101.1",
                                "vm_network_routing_rule": "ip route add 172.21.0.0/16 via x"})
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    got = netroute.rc_lines(tmp_path)
    where = [w for w, line in got if line.startswith(("ethtool", "ip", "/usr/bin/super"))]
    assert where == ["/etc/rc.local.head", "/etc/rc.local", "/etc/rc.local.tail",
                     "/etc/rc.local.tail"]
    (tmp_path / "etc/rc.local").write_text("#!/bin/sh\n. /etc/passwd\nexit 0\n")
    assert netroute.rc_lines(tmp_path) == [("/etc/rc.local", "#!/bin/sh"),
                                           ("/etc/rc.local", ". /etc/passwd"),
                                           ("/etc/rc.local", "exit 0")]


@given(st.integers(1, 999), st.sampled_from(["eth1", "eth2"]))
def test_router_and_nic_names_fit_and_carry_the_lab_id(n: int, nic: str) -> None:
    names = Names("ab1c9")
    made = [netroute.gateway_ns(names), netroute.gateway_leg(names, n % 10),
            netroute.nic_veth(names, names.host_ns(n), nic)]
    assert all(len(x) <= 15 and "ab1c9" in x for x in made)
    assert len({*made, names.host_veth(n), names.bridge_ns, names.host_ns(n)}) == 6


def _routes(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        w = line.split()
        if w[:3] == ["ip", "route", "add"] and "via" in w:
            out.append((w[3], w[w.index("via") + 1]))
    return out


@pytest.mark.parametrize("name", ["default", "vg-same-24", "vg-other-24"])
def test_the_zone_is_consistent_on_a_real_network(name: str) -> None:
    """Each VM's rc.local routes and gateway are on its own networks (a kernel refuses
    `via` off-link), and the VIP is in the proxies' MGMT network (R10/R11)."""
    t = placed(name)
    rng = random.Random(1)
    for vm in t["vms"]:  # type: ignore[attr-defined]
        s = pl.parse_settings(zonefiles.node_settings(
            t, vm, physical=False, mac=lambda: zonefiles.random_mac(rng)))
        own = [ipaddress.IPv4Interface(st.address).network
               for st in netroute.stanzas(pl.render_interfaces(s))]
        tail = pl.render_rc_files(s)["etc/rc.local.tail"]
        gateways = [via for _dest, via in _routes(tail)] + [
            st.gateway for st in netroute.stanzas(pl.render_interfaces(s)) if st.gateway]
        assert gateways, vm
        for gw in gateways:
            assert any(ipaddress.IPv4Address(gw) in n for n in own), (vm["name"], gw, own)
        if vm["role"] == "proxy":
            assert ipaddress.IPv4Address(t["vip"]) in own[0], (t["vip"], own)
