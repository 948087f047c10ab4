"""The zone model: versions, components, node kinds, groups (reference §3), networks, facts."""

from __future__ import annotations

import pytest
from zonekit import make_zone, node_text, zone_texts

from nodeswap.errors import InputError
from nodeswap.zone.groups import group, resolve_targets
from nodeswap.zone.inventory import InstallerVersion, parse_components, sorted_names


@pytest.mark.parametrize(("text", "parts"), [
    ("4.3.1", (4, 3, 1)), ("4.3", (4, 3, 0)), ("3.7", (3, 7, 0)), ("4.10.0", (4, 10, 0)),
    (" 4.2.5 ", (4, 2, 5)),
])
def test_installer_version_parses_two_or_three_parts(text: str, parts: tuple[int, ...]) -> None:
    v = InstallerVersion.parse(text)
    assert (v.major, v.minor, v.revision) == parts


def test_installer_versions_compare_numerically() -> None:
    p = InstallerVersion.parse
    assert p("4.10.0") > p("4.3.0") > p("3.7")
    assert p("4.3") == p("4.3.0")
    assert p("4.2.9") < p("4.3.0")


@pytest.mark.parametrize("text", ["", "4", "4.x", "v4.3", "4.3.1.2", "4..3", "latest"])
def test_invalid_installer_version_names_the_value(text: str) -> None:
    with pytest.raises(InputError) as exc:
        InstallerVersion.parse(text)
    assert repr(text) in str(exc.value)
    assert exc.value.problems[0].file == "--installer-version"


def test_components() -> None:
    assert parse_components("boss2, warehouse") == {"boss2", "warehouse"}
    assert parse_components("") == frozenset()
    with pytest.raises(InputError, match="'boss3'"):
        parse_components("boss,boss3")


@pytest.mark.parametrize(("kind", "vg"), [("novg", False), ("vg-ks24", True),
                                         ("vg-other24", True)])
def test_node_kinds(kind: str, vg: bool) -> None:
    zone = make_zone(kind)
    assert zone.has_vg is vg
    assert [n.name for n in zone.ks_nodes] == ["zz1ar01n01", "zz1ar01n02", "zz1ar01n03"]
    assert all(n.is_vm for n in zone.role_nodes("proxy"))
    assert all(not n.is_ks for n in zone.vg_nodes)


def test_roles_are_comma_lists() -> None:
    zone = make_zone()
    assert zone.node("zz1ar01n01").roles == ("seed", "vbr", "snapshot")


@pytest.mark.parametrize(("name", "members"), [
    ("proxy", ["proxy0", "proxy1"]),
    ("seed", ["zz1ar01n01", "zz1ar01n02"]),
    ("vbr", ["zz1ar01n01", "zz1ar01n02"]),
    ("phy", ["zz1ar01n01", "zz1ar01n02", "zz1ar01n03", "zz1ar02n01", "zz1ar02n02"]),
    ("vg", ["zz1ar02n01", "zz1ar02n02"]),
    ("vgateway", ["zz1ar02n01", "zz1ar02n02"]),
    ("non-vg-phy", ["zz1ar01n01", "zz1ar01n02", "zz1ar01n03"]),
    ("hyper", []),
    ("dns", ["dnsmaster0", "dnsmaster1"]),
])
def test_groups_follow_gen_node_list(name: str, members: list[str]) -> None:
    zone = make_zone("vg-other24")
    assert sorted(group(zone, name) or ()) == members


def test_group_all_vm_ks() -> None:
    zone = make_zone("vg-ks24")
    everyone = group(zone, "all") or ()
    assert len(everyone) == len(zone.nodes)
    assert set(group(zone, "vm") or ()) == {"proxy0", "proxy1", "webservice0", "webservice1",
                                           "dnsmaster0", "dnsmaster1"}
    assert set(group(zone, "ks") or ()) == set(everyone) - {"zz1ar02n01", "zz1ar02n02"}
    assert set(group(zone, "non-ks") or ()) == {"zz1ar02n01", "zz1ar02n02"}


def test_resolve_targets_mixes_groups_and_names() -> None:
    zone = make_zone()
    assert resolve_targets(zone, "proxy,webservice0") == ("proxy0", "proxy1", "webservice0")
    assert resolve_targets(zone, "proxy0,proxy0") == ("proxy0",)
    with pytest.raises(InputError, match="'proxy9'"):
        resolve_targets(zone, "proxy,proxy9")


def test_region_mode_zone_prefixed_groups() -> None:
    zone = make_zone(prefix="devops1a")
    assert zone.is_region
    assert group(zone, "devops1a-proxy") == ("devops1a-proxy0", "devops1a-proxy1")
    assert resolve_targets(zone, "devops1a-proxy0") == ("devops1a-proxy0",)
    assert [n.name for n in zone.role_nodes("proxy")] == ["devops1a-proxy0", "devops1a-proxy1"]


def test_file_name_must_equal_hostname() -> None:
    texts = zone_texts()
    texts["proxy9"] = texts["proxy0"]
    with pytest.raises(InputError) as exc:
        make_zone(texts=texts)
    (problem,) = exc.value.problems
    assert problem.file == "settings/proxy9" and problem.key == "hostname"
    assert problem.line is not None and "'proxy0'" in problem.message


def test_bad_address_is_reported_with_its_line() -> None:
    texts = zone_texts()
    texts["proxy0"] = texts["proxy0"].replace('mgmt_network_address="10.16.100.21"',
                                              'mgmt_network_address="10.16.100.321"')
    with pytest.raises(InputError, match=r"settings/proxy0:\d+: key mgmt_network_address"):
        make_zone(texts=texts)


def test_every_address_and_mac_of_the_zone() -> None:
    zone = make_zone("vg-other24")
    for addr in ("10.16.100.11", "10.16.101.1", "10.16.100.25", "10.16.100.26", "198.51.100.31",
                 "10.16.100.2", "172.21.130.0"):
        assert addr in zone.addresses
    assert zone.address_index["10.16.100.26"][1] == "mgmt_network_dns_servers"
    assert "00:16:3e:00:00:1e" in zone.macs  # proxy0's
    assert len(zone.macs) == 2 * 2 + 2 * 2 + 3 + 4  # proxies+VGs (mgmt+eip), KS, other VMs


def test_fingerprint_follows_every_input() -> None:
    base = make_zone().fingerprint()
    assert make_zone().fingerprint() == base
    assert make_zone(version="4.2.1").fingerprint() != base
    assert make_zone(components=frozenset({"boss"})).fingerprint() != base
    texts = zone_texts()
    texts["zz1ar01n03"] = texts["zz1ar01n03"].replace('"TBD"', '"TBD,bm"')
    assert make_zone(texts=texts).fingerprint() != base


def test_natural_sort() -> None:
    assert sorted_names(["proxy10", "proxy2", "proxy1"]) == ["proxy1", "proxy2", "proxy10"]


def test_node_text_round_trips_through_settings() -> None:
    text = node_text("x", role="proxy", address="10.0.0.1", host="10.0.0.2")
    zone = make_zone(texts={"x": text})
    assert zone.node("x").physical_host == "10.0.0.2"
