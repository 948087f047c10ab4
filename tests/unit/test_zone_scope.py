"""Zone scoping (issue 10): on a region's firstbox, one plan replaces one zone's role nodes.

The fixture tests/fixtures/region is examples/zone twice: zone zz1a (10.16.100.0/24) and zone
zz1b (10.16.110.0/24) on one firstbox, VM names carrying the zone prefix (region mode,
reference §1), hosts zz1ar01n0X and zz1br01n0X.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zonekit import files_of, make_spec

from nodeswap.errors import RuleError, SpecError
from nodeswap.plan.build import build_plan, scope_zone, settings_digests
from nodeswap.plan.model import Plan
from nodeswap.plan.spec import Spec
from nodeswap.zone.groups import group
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts

REGION = Path(__file__).resolve().parents[1] / "fixtures" / "region"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "zone"
TODAY = "20261202"
TEXTS = {p.name: p.read_text() for p in sorted(REGION.iterdir())}


def region(texts: dict[str, str] | None = None) -> Zone:
    return Zone.build(files_of(texts or TEXTS), ZoneFacts(InstallerVersion.parse("4.3.1")))


def plan(of: Zone | None = None, **spec: object) -> Plan:
    return build_plan(of or region(), make_spec(seed=1, **spec), today=TODAY)


def test_fixture_is_two_zones_on_one_firstbox() -> None:
    zone = region()
    assert zone.zone_ids == zone.region_zone_ids == ("zz1a", "zz1b")
    assert {n.get("firstbox_address") for n in zone.nodes.values()} == {"10.16.100.2"}
    assert [n.name for n in zone.role_nodes("proxy")] == [
        "zz1a-proxy0", "zz1a-proxy1", "zz1b-proxy0", "zz1b-proxy1"]


def test_a_plan_over_two_zones_is_refused_naming_them() -> None:
    with pytest.raises(RuleError) as err:
        plan()
    (problem,) = err.value.problems
    assert problem.key == "zone" and problem.rule == "R5" and problem.file == "<spec>"
    assert "zz1a: zz1a-proxy0, zz1a-proxy1" in problem.message
    assert "zz1b: zz1b-proxy0, zz1b-proxy1" in problem.message
    assert "zone: zz1a" in problem.message  # the fix, as the spec writes it
    assert err.value.exit_code == 2


@pytest.mark.parametrize("zone_id, other", [("zz1a", "zz1b"), ("zz1b", "zz1a")])
def test_the_named_zone_only(zone_id: str, other: str) -> None:
    p = plan(zone=zone_id)
    assert list(p.nodes) == [f"{zone_id}-proxy0", f"{zone_id}-proxy1"]
    full = region()
    ours = {n.address for n in full.nodes.values() if full.zone_of(n) == zone_id}
    for node in p.nodes.values():
        # R13: the new VM runs on a host of its own zone (before: zz1b-proxy0 on zz1ar01n03)
        assert node.physical_host in ours and node.old_physical_host in ours
        assert node.temp_address.startswith("10.16.100." if zone_id == "zz1a" else "10.16.110.")
    for step in p.steps:
        assert f"{other}-" not in step.command and f"{other}r" not in step.command, step
    assert all(not f.path.endswith(tuple(f"{other}-proxy{i}" for i in (0, 1)))
               for f in p.files)


def test_scoping_keeps_the_region_in_the_plan_identity() -> None:
    """The settings folder is the region's: the fingerprint, the settings digests (apply
    --offline-plan) and the zone ids of the plan cover every zone's files."""
    full = region()
    scoped = full.scoped("zz1b")
    assert scoped.fingerprint() == full.fingerprint()
    assert settings_digests(scoped) == settings_digests(full)
    assert set(settings_digests(scoped)) == set(TEXTS)
    p = plan(zone="zz1b")
    assert p.inventory_fingerprint == full.fingerprint()
    assert p.zone is not None and p.zone.zone_ids == ("zz1a", "zz1b")


def test_other_zones_addresses_and_macs_stay_taken() -> None:
    scoped = region().scoped("zz1a")
    assert "zz1b-proxy0" not in scoped.nodes and "zz1b-proxy0" in scoped.outside
    other = region().nodes["zz1b-proxy0"]
    assert other.address in scoped.addresses  # R16 never borrows it
    assert other.get("mgmt_network_mac_address") in scoped.macs  # R9 never draws it
    assert scoped.address_index[other.address] == ("zz1b-proxy0", "mgmt_network_address")
    assert scoped.ks_nodes and all(n.name.startswith("zz1ar") for n in scoped.ks_nodes)


def test_a_given_temp_address_of_another_zone_is_refused() -> None:
    with pytest.raises(RuleError) as err:
        plan(zone="zz1a", nodes={"zz1a-proxy0": {"temp_address": "10.16.100.51",
                                                 "physical_host": "10.16.110.12"}})
    assert any(p.rule == "R13" and "10.16.110.12 is no node of the zone" in p.message
               for p in err.value.problems), err.value.problems


def test_a_node_of_another_zone_in_the_spec_is_named() -> None:
    with pytest.raises(RuleError) as err:
        plan(zone="zz1a", nodes={"zz1b-proxy0": {"temp_address": "10.16.110.51"}})
    (problem,) = err.value.problems
    assert problem.key == "nodes.zz1b-proxy0"
    assert "zz1b-proxy0 is in zone zz1b, not this plan's" in problem.message


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(RuleError) as err:
        plan(zone="zz9x")
    (problem,) = err.value.problems
    assert problem.key == "zone" and "zones: zz1a, zz1b" in problem.message


def test_a_zone_id_that_is_no_zone_id_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        Spec.from_yaml('role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
                       "zone: ZZ 1A\n", path="u.yaml")
    (problem,) = err.value.problems
    assert problem.key == "zone" and problem.line == 3 and "not a zone id" in problem.message


def test_one_zone_plans_the_same_with_or_without_zone() -> None:
    texts = {p.name: p.read_text() for p in sorted(EXAMPLE.iterdir())}
    zone = region(texts)
    assert plan(zone).fingerprint() == plan(of=zone, zone="zz1a").fingerprint()
    with pytest.raises(RuleError, match="zone 'zz1b' is not a zone"):
        plan(of=zone, zone="zz1b")


def test_region_groups_still_select_by_zone_prefix() -> None:
    full = region()
    assert group(full, "zz1b-proxy") == ("zz1b-proxy0", "zz1b-proxy1")
    assert group(full.scoped("zz1b"), "proxy") == ("zz1b-proxy0", "zz1b-proxy1")


def test_a_file_without_zone_id_takes_the_zone_of_its_name_prefix() -> None:
    texts = dict(TEXTS)
    texts["zz1b-proxy1"] = texts["zz1b-proxy1"].replace('zone_id="zz1b"', 'zone_id=""')
    full = region(texts)
    assert full.zone_of(full.nodes["zz1b-proxy1"]) == "zz1b"
    assert list(plan(of=full, zone="zz1b").nodes) == ["zz1b-proxy0", "zz1b-proxy1"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zone_id=st.sampled_from(["zz1a", "zz1b"]), seed=st.integers(0, 2**32),
       # each zone keeps one file naming it (its proxy0): a zone no file names is unknown
       unlabelled=st.sets(st.sampled_from(sorted(n for n in TEXTS
                                                 if not n.endswith("-proxy0")))),
       dropped=st.sets(st.sampled_from(["zz1ar01n03", "zz1br01n03", "zz1a-webservice1",
                                        "zz1b-dnsmaster1"])))
def test_no_node_of_another_zone_ever_appears_in_a_plan(
        zone_id: str, seed: int, unlabelled: set[str], dropped: set[str]) -> None:
    """Whatever files lose their zone_id (the name prefix then tells, reference §1, §3) and
    whichever other nodes exist, a plan for one zone names no node, host or address of the
    other: not as a role node, a physical host, a temporary address or in any command."""
    texts = {name: (text.replace(f'zone_id="{name[:4]}"', 'zone_id=""')
                    if name in unlabelled else text)
             for name, text in TEXTS.items() if name not in dropped}
    full = region(texts)
    p = build_plan(full, make_spec(seed=seed, zone=zone_id), today=TODAY)
    others = [n for n in full.nodes.values() if full.zone_of(n) not in (zone_id, "")]
    assert others
    other_addrs = {n.address for n in others}
    other_names = {n.name for n in others}
    assert not set(p.nodes) & other_names
    for node in p.nodes.values():
        assert {node.physical_host, node.temp_address, node.old_address}.isdisjoint(other_addrs)
        assert node.mgmt_mac not in {n.get("mgmt_network_mac_address") for n in others}
    for step in p.steps:
        words = set(step.command.replace("'", " ").replace("/", " ").split())
        assert words.isdisjoint(other_names | other_addrs), (step.id, step.command)


def test_a_physical_host_without_zone_id_takes_the_zone_of_its_name() -> None:
    texts = dict(TEXTS)
    texts["zz1br01n02"] = texts["zz1br01n02"].replace('zone_id="zz1b"', 'zone_id=""')
    full = region(texts)
    assert full.zone_of(full.nodes["zz1br01n02"]) == "zz1b"
    assert "zz1br01n02" not in full.scoped("zz1a").nodes
    texts["zz1x-odd"] = texts["zz1br01n02"].replace('hostname="zz1br01n02"',
                                                    'hostname="zz1x-odd"')
    assert region(texts).zone_of(region(texts).nodes["zz1x-odd"]) == ""  # no such zone


def test_scope_zone_alone_without_zone_in_one_zone() -> None:
    zone = region({n: t for n, t in TEXTS.items() if n.startswith("zz1a")})
    assert scope_zone(zone, make_spec()).nodes.keys() == zone.nodes.keys()
