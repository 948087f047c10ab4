"""R7-R17, one table per rule, across: no VG, VG in the KS /24, VG in another /24, and
zone-prefixed names."""

from __future__ import annotations

import random
import re
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zonekit import GW, KINDS, VG_GW_OTHER, files_of, make_zone, zone_texts

from nodeswap.errors import RuleError
from nodeswap.plan import rules
from nodeswap.zone.inventory import Node, Zone

PREFIXES = ("", "devops1a")
MAC_RE = re.compile(r"00:16:3e(:[0-9a-f]{2}){3}")


def proxies(zone: Zone) -> list[Node]:
    return list(zone.role_nodes("proxy"))


def vg_gw(zone: Zone) -> str | None:
    return rules.vg_mgmt_network_gateway(zone) if zone.has_vg else None


# ---- R7, R8 ------------------------------------------------------------------------------
def test_r7_os_values() -> None:
    assert rules.os_values("bionic", "18.04.6") == {"os_name": "bionic", "os_version": "18.04.6"}


@pytest.mark.parametrize(("kind", "gateway"), [("novg", GW), ("vg-ks24", ""),
                                               ("vg-other24", "")])
def test_r8_gateway_is_empty_with_vg(kind: str, gateway: str) -> None:
    zone = make_zone(kind)
    assert all(rules.mgmt_gateway(zone, p) == gateway for p in proxies(zone))


# ---- R9 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_r9_macs_are_new_unique_and_deterministic(kind: str) -> None:
    zone = make_zone(kind)
    wanted = [(f"k{i}", None) for i in range(4)]
    macs = rules.choose_macs(zone, wanted, seed=7)
    assert all(MAC_RE.fullmatch(m) for m in macs)
    assert len(set(macs)) == 4 and not set(macs) & zone.macs
    assert rules.choose_macs(zone, wanted, seed=7) == macs
    assert rules.choose_macs(zone, wanted, seed=8) != macs


def test_r9_given_mac_is_kept_and_checked() -> None:
    zone = make_zone()
    assert rules.choose_macs(zone, [("a", "00:16:3e:aa:bb:cc"), ("b", None)], 1)[0] == \
        "00:16:3e:aa:bb:cc"
    taken = sorted(zone.macs)[0]
    with pytest.raises(RuleError) as exc:
        rules.choose_macs(zone, [("nodes.proxy0.mgmt_mac", taken)], 1, source="up.yaml")
    (p,) = exc.value.problems
    assert (p.rule, p.key, p.file) == ("R9", "nodes.proxy0.mgmt_mac", "up.yaml")
    assert taken in p.message
    with pytest.raises(RuleError, match="another new MAC"):
        rules.choose_macs(zone, [("a", "00:16:3e:aa:bb:cc"), ("b", "00:16:3e:aa:bb:cc")], 1)


def test_r9_generator_skips_macs_in_use() -> None:
    """A seed whose first draw collides with the zone still yields a fresh MAC."""
    first = rules.random_mac(random.Random(3))
    texts = zone_texts()
    texts["proxy0"] = texts["proxy0"].replace("00:16:3e:00:00:1e", first)
    zone = make_zone(texts=texts)
    (mac,) = rules.choose_macs(zone, [("k", None)], seed=3)
    assert mac != first and mac not in zone.macs


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 6))
def test_r9_property_macs_never_collide(seed: int, count: int) -> None:
    zone = _ZONES["vg-other24"]
    macs = rules.choose_macs(zone, [(str(i), None) for i in range(count)], seed)
    assert len(set(macs)) == count and not set(macs) & zone.macs


# ---- R10, R11 ----------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "expected"), [
    ("novg", ""), ("vg-ks24", ""),
    ("vg-other24", f"ip route add 10.16.100.0/24 via {VG_GW_OTHER}")])
def test_r10_mgmt_routing_rule(kind: str, expected: str) -> None:
    zone = make_zone(kind)
    assert rules.mgmt_routing_rule(zone, None, vg_gw(zone)) == expected


def test_r10_needs_the_vg_gateway_in_another_24() -> None:
    with pytest.raises(RuleError, match="R10"):
        rules.mgmt_routing_rule(make_zone("vg-other24"), None, None)


@pytest.mark.parametrize(("kind", "via"), [("novg", GW), ("vg-ks24", GW),
                                           ("vg-other24", VG_GW_OTHER)])
def test_r11_vm_routing_rule_uses_the_right_gateway(kind: str, via: str) -> None:
    zone = make_zone(kind)
    old = proxies(zone)[0]
    gw = rules.route_gateway(zone, old, vg_gw(zone))
    assert rules.vm_routing_rule("172.21.130.0/24", "10.9.9.9", gw) == \
        f"ip route add 172.21.130.0/24 src 10.9.9.9 via {via}"


def test_r11_without_gateway_is_an_error() -> None:
    with pytest.raises(RuleError, match="R11"):
        rules.vm_routing_rule("172.21.130.0/24", "10.9.9.9", "", node="proxy0")


@pytest.mark.parametrize(("kind", "vg_in_ks_24"), [
    ("novg", False), ("vg-ks24", True), ("vg-other24", False)])
def test_r10_ks_mgmt_network_and_vg_in_its_24(kind: str, vg_in_ks_24: bool) -> None:
    zone = make_zone(kind)
    assert str(rules.ks_mgmt_network(zone)) == "10.16.100.0/24"
    if zone.has_vg:
        assert rules.vg_in_ks_24(zone) is vg_in_ks_24


def test_r10_ks_nodes_that_disagree_on_their_network_need_the_spec() -> None:
    texts = zone_texts()
    texts["zz1ar01n03"] = texts["zz1ar01n03"].replace('mgmt_network_netmask="255.255.255.0"',
                                                      'mgmt_network_netmask="255.255.0.0"')
    with pytest.raises(RuleError, match="set mgmt_network in the spec") as exc:
        rules.ks_mgmt_network(make_zone(texts=texts))
    assert exc.value.problems[0].rule == "R10"


def test_r10_vg_gateway_from_spec_else_from_vg_nodes() -> None:
    zone = make_zone("vg-other24")
    assert rules.vg_mgmt_network_gateway(zone) == VG_GW_OTHER
    assert rules.vg_mgmt_network_gateway(zone, "10.16.101.254") == "10.16.101.254"


def test_r10_vg_gateway_disagreement_names_the_files() -> None:
    texts = zone_texts("vg-other24")
    texts["zz1ar02n02"] = texts["zz1ar02n02"].replace(
        f'mgmt_network_gateway="{VG_GW_OTHER}"', 'mgmt_network_gateway="10.16.101.2"')
    zone = make_zone(texts=texts)
    with pytest.raises(RuleError) as exc:
        rules.vg_mgmt_network_gateway(zone)
    files = {p.file for p in exc.value.problems}
    assert files == {"settings/zz1ar02n01", "settings/zz1ar02n02"}


def test_r11_vm_base_network_parsed_from_old_rule_or_given() -> None:
    zone = make_zone()
    proxy0 = zone.node("proxy0")
    assert rules.vm_base_network(zone, proxy0) == "172.21.130.0/24"
    assert rules.vm_base_network(zone, proxy0, "172.22.0.0/16") == "172.22.0.0/16"
    texts = zone_texts()
    texts["proxy0"] = texts["proxy0"].replace("ip route add 172.21.130.0/24 src 10.16.100.21 "
                                              "via 10.16.100.1", "")
    bad = make_zone(texts=texts)
    with pytest.raises(RuleError, match="R11"):
        rules.vm_base_network(bad, bad.node("proxy0"))


def test_r10_vg_nodes_with_feature_ksnode_on_are_not_ks_nodes() -> None:
    """gen_node_list's ``ks`` excludes vgateway: a VG host carrying feature_ksnode="on" must
    not pull the VG /24 into the KS network, or R10 would wrongly give no route."""
    texts = zone_texts("vg-other24")
    for name in ("zz1ar02n01", "zz1ar02n02"):
        texts[name] = texts[name].replace('feature_ksnode="off"', 'feature_ksnode="on"')
    zone = make_zone(texts=texts)
    assert {n.name for n in zone.ks_nodes} == {"zz1ar01n01", "zz1ar01n02", "zz1ar01n03"}
    assert not rules.vg_in_ks_24(zone)
    assert str(rules.ks_mgmt_network(zone)) == "10.16.100.0/24"


# ---- R12 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("kind", "expected"), [
    ("novg", [None, None]), ("vg-ks24", ["2.2.2.2", "2.2.2.3"]),
    ("vg-other24", ["2.2.2.2", "2.2.2.3"])])
def test_r12_eip_addresses(kind: str, expected: list[str | None], prefix: str) -> None:
    zone = make_zone(kind, prefix=prefix)
    names = [p.name for p in proxies(zone)]
    assert list(rules.eip_addresses(zone, dict.fromkeys(names)).values()) == expected


def test_r12_given_eip_checked_and_skipped_by_defaults() -> None:
    zone = make_zone("vg-other24")
    got = rules.eip_addresses(zone, {"proxy0": None, "proxy1": "2.2.2.2"})
    assert got == {"proxy0": "2.2.2.3", "proxy1": "2.2.2.2"}
    with pytest.raises(RuleError, match=r"198\.51\.100\.31 is in use \(zz1ar02n01"):
        rules.eip_addresses(zone, {"proxy0": "198.51.100.31", "proxy1": None})
    with pytest.raises(RuleError, match="another new VM"):
        rules.eip_addresses(zone, {"proxy0": "2.2.2.9", "proxy1": "2.2.2.9"})


def test_r12_eip_given_without_vg_is_an_error() -> None:
    with pytest.raises(RuleError) as exc:
        rules.eip_addresses(make_zone(), {"proxy0": "2.2.2.2"}, source="up.yaml")
    assert exc.value.problems[0].key == "nodes.proxy0.eip_temp_address"


def test_r12_drops_the_section_without_vg() -> None:
    zone = make_zone("novg")
    old = zone.node("proxy0").settings
    text = zone_texts("vg-other24")["proxy0"]
    with_eip = files_of({"proxy0": text})["proxy0"]
    assert "Eip Network" not in rules.new_settings(with_eip, {}, drop_eip=True).sections()
    assert rules.new_settings(old, {}, drop_eip=True).render() == old.render()


# ---- R13 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("kind", KINDS)
def test_r13_default_swaps_the_hosts(kind: str, prefix: str) -> None:
    zone = make_zone(kind, prefix=prefix)
    a, b = proxies(zone)
    hosts = rules.placement(zone, [a, b], {})
    assert hosts == {a.name: b.physical_host, b.name: a.physical_host}
    if zone.has_vg:
        assert all(zone.node_by_address(h).is_vg for h in hosts.values())  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", KINDS)
def test_r13_one_node_given_the_other_chosen(kind: str) -> None:
    zone = make_zone(kind)
    a, b = proxies(zone)
    hosts = rules.placement(zone, [a, b], {a.name: b.physical_host})
    assert hosts[a.name] == b.physical_host
    assert hosts[b.name] != b.physical_host


@pytest.mark.parametrize(("kind", "host", "why"), [
    ("novg", "10.16.100.11", "host of the old"),      # proxy0's own host
    ("novg", "10.16.100.23", "the VM webservice0"),
    ("novg", "10.16.100.99", "no node of the zone"),
    ("vg-other24", "10.16.100.12", "not a VG node"),
    ("vg-ks24", "10.16.100.13", "not a VG node"),
])
def test_r13_given_host_is_checked(kind: str, host: str, why: str) -> None:
    zone = make_zone(kind)
    old = proxies(zone)[0]
    if kind != "novg" and why == "host of the old":
        host = old.physical_host
    with pytest.raises(RuleError) as exc:
        rules.placement(zone, proxies(zone), {old.name: host}, source="up.yaml")
    (p,) = exc.value.problems
    assert p.rule == "R13" and p.key == f"nodes.{old.name}.physical_host"
    assert host in p.message and why in p.message


def test_r13_single_node_takes_another_allowed_host() -> None:
    zone = make_zone()
    old = zone.node("proxy0")
    assert rules.placement(zone, [old], {}) == {"proxy0": "10.16.100.12"}


# ---- R14, R15 ----------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "expected"), [("novg", ("br0", "")), ("vg-ks24", ("br0", "br1")),
                                               ("vg-other24", ("br0", "br1"))])
def test_r14_r15_bridges(kind: str, expected: tuple[str, str]) -> None:
    zone = make_zone(kind)
    old = proxies(zone)[0]
    assert rules.bridges(zone, old, None, None) == expected
    assert rules.bridges(zone, old, "br9", "br8")[0] == "br9"


# ---- R16 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("kind", "net"), [("novg", "10.16.100"), ("vg-ks24", "10.16.100"),
                                           ("vg-other24", "10.16.101")])
def test_r16_default_temp_addresses_count_down(kind: str, net: str, prefix: str) -> None:
    """From the top of the /24, past .255-.253 (broadcast, and where routers and their VRRP
    peers sit: issue 10)."""
    zone = make_zone(kind, prefix=prefix)
    temps = rules.temp_addresses(zone, proxies(zone), {})
    assert list(temps.values()) == [f"{net}.252", f"{net}.251"]


def test_r16_default_skips_addresses_in_use() -> None:
    texts = zone_texts()
    texts["webservice0"] = texts["webservice0"].replace(
        'mgmt_network_dns_servers="10.16.100.25 10.16.100.26"',
        'mgmt_network_dns_servers="10.16.100.252"')
    zone = make_zone(texts=texts)
    assert list(rules.temp_addresses(zone, proxies(zone), {}).values()) == \
        ["10.16.100.251", "10.16.100.250"]


@pytest.mark.parametrize(("addr", "why"), [
    ("10.16.100.23", "taken: used by webservice0's mgmt_network_address"),
    ("10.16.100.26", "taken: used by"),            # a DNS server named in the files
    ("10.16.100.2", "taken"),                      # firstbox_address
    ("10.16.100.1", "gateway"),
    ("10.16.100.0", "network or broadcast"),
    ("10.16.100.255", "network or broadcast"),
    ("10.16.101.50", "outside proxy0's MGMT network 10.16.100.0/24"),
])
def test_r16_given_temp_address_is_checked(addr: str, why: str) -> None:
    zone = make_zone()
    with pytest.raises(RuleError) as exc:
        rules.temp_addresses(zone, proxies(zone), {"proxy0": addr}, source="up.yaml")
    (p,) = exc.value.problems
    assert (p.rule, p.key, p.file) == ("R16", "nodes.proxy0.temp_address", "up.yaml")
    assert addr in p.message and why in p.message


def test_r16_vg_gateway_and_answering_hosts_are_refused() -> None:
    zone = make_zone("vg-other24")
    with pytest.raises(RuleError, match=r"gateway|taken"):
        rules.temp_addresses(zone, proxies(zone), {"proxy0": VG_GW_OTHER}, [VG_GW_OTHER])
    busy = make_zone(answering=frozenset({"10.16.100.252"}))
    assert rules.temp_addresses(busy, proxies(busy), {})["proxy0"] == "10.16.100.251"


def test_r16_the_same_temp_address_twice_is_an_error() -> None:
    zone = make_zone()
    with pytest.raises(RuleError, match="another node"):
        rules.temp_addresses(zone, proxies(zone), {"proxy0": "10.16.100.51",
                                                   "proxy1": "10.16.100.51"})


_ZONES = {k: make_zone(k) for k in KINDS}


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), used=st.sets(st.integers(200, 254), max_size=40))
def test_r16_property_temps_never_collide(kind: str, used: set[int]) -> None:
    """Whatever else the files hold, temporary addresses are free, inside the network and
    distinct."""
    base = _ZONES[kind]
    net = "10.16.101" if kind == "vg-other24" else "10.16.100"
    texts = zone_texts(kind)
    extra = " ".join(f"{net}.{i}" for i in sorted(used))
    texts["zz1ar01n03"] = texts["zz1ar01n03"].replace(
        'mgmt_network_routing_rule=""', f'mgmt_network_routing_rule="{extra}"')
    zone = make_zone(texts=texts) if used else base
    temps = list(rules.temp_addresses(zone, proxies(zone), {}).values())
    assert len(set(temps)) == len(temps)
    for t in temps:
        assert t not in zone.addresses
        assert IPv4Address(t) in IPv4Network(f"{net}.0/24")
        assert t not in (f"{net}.0", f"{net}.255")


# ---- R17 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_r17_only_the_named_keys_change(kind: str) -> None:
    zone = make_zone(kind)
    old = proxies(zone)[0].settings
    values = {"os_name": "bionic", "mgmt_network_address": "10.16.100.51"}
    new = rules.new_settings(old, values, drop_eip=False)
    old_lines, new_lines = old.render().splitlines(), new.render().splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert [b for _, b in changed] == ['os_name="bionic"', 'mgmt_network_address="10.16.100.51"']
