"""R16 (issue 10): the automatic choice passes by addresses that look like a gateway or a
broadcast address (.1, .253, .254 style); when nothing else is free it takes one and the plan
warns about it; a pinned one is never warned about."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zonekit import KINDS, make_spec, make_zone

from nodeswap.errors import RuleError
from nodeswap.plan.build import build_plan
from nodeswap.plan.rules import gateway_like

TODAY = "20261202"


@pytest.mark.parametrize(("address", "network", "why"), [
    ("10.16.100.254", "10.16.100.0/24", "the last host of 10.16.100.0/24"),
    ("10.16.100.253", "10.16.100.0/24", "the next-to-last host of 10.16.100.0/24"),
    ("10.16.100.1", "10.16.100.0/24", "the first host of 10.16.100.0/24"),
    ("10.16.100.51", "10.16.100.0/24", None),
    ("10.16.100.252", "10.16.100.0/24", None),
    ("10.16.100.2", "10.16.100.0/24", None),
    # a /23: its own first/last hosts, and .0/.1/.253/.254/.255 of each /24 inside it
    ("10.16.101.254", "10.16.100.0/23", "the last host of 10.16.100.0/23"),
    ("10.16.100.254", "10.16.100.0/23", "it ends in .254"),
    ("10.16.100.255", "10.16.100.0/23", "it ends in .255"),
    ("10.16.101.0", "10.16.100.0/23", "it ends in .0"),
    ("10.16.100.100", "10.16.100.0/23", None),
    # a /26: its edges are gateway-like though they end in neither .1 nor .254
    ("10.16.100.65", "10.16.100.64/26", "the first host of 10.16.100.64/26"),
    ("10.16.100.126", "10.16.100.64/26", "the last host of 10.16.100.64/26"),
    ("10.16.100.100", "10.16.100.64/26", None),
])
def test_gateway_like(address: str, network: str, why: str | None) -> None:
    assert gateway_like(address, IPv4Network(network)) == why


def warned(plan_warnings: tuple[str, ...]) -> dict[str, str]:
    """{node: address} named by the plan's R16 gateway-like warnings."""
    out = {}
    for w in plan_warnings:
        if w.startswith("R16: temporary address ") and "looks like a gateway" in w:
            words = w.split()
            out[words[5]] = words[3]
    return out


def test_the_automatic_choice_passes_router_addresses_by() -> None:
    plan = build_plan(make_zone("novg"), make_spec(seed=1), today=TODAY)
    temps = {n: p.temp_address for n, p in plan.nodes.items()}
    assert temps == {"proxy0": "10.16.100.252", "proxy1": "10.16.100.251"}
    assert warned(plan.warnings) == {}


def test_a_router_like_address_only_when_nothing_else_is_free_and_warned() -> None:
    """Every other address of the /24 answers ping: the two left, .254 and .253, are taken,
    each named in a warning with the spec key that pins another."""
    busy = frozenset(f"10.16.100.{i}" for i in range(2, 253))
    plan = build_plan(make_zone("novg", answering=busy), make_spec(seed=1), today=TODAY)
    temps = {n: p.temp_address for n, p in plan.nodes.items()}
    assert temps == {"proxy0": "10.16.100.254", "proxy1": "10.16.100.253"}
    assert warned(plan.warnings) == temps
    w = next(w for w in plan.warnings if " of proxy0 " in w)
    assert "(the last host of 10.16.100.0/24)" in w
    assert "set nodes.proxy0.temp_address in the spec" in w


def test_a_pinned_address_is_never_warned_about() -> None:
    spec = make_spec(seed=1, nodes={"proxy0": {"temp_address": "10.16.100.1"},
                                    "proxy1": {"temp_address": "10.16.100.51"}})
    with pytest.raises(RuleError, match="is a gateway"):  # .1 is the settings' gateway (R16)
        build_plan(make_zone("novg"), spec, today=TODAY)
    spec = make_spec(seed=1, nodes={"proxy0": {"temp_address": "10.16.100.250"},
                                    "proxy1": {"temp_address": "10.16.100.254"}})
    plan = build_plan(make_zone("novg"), spec, today=TODAY)
    assert warned(plan.warnings) == {}


def test_when_the_top_answers_ping_the_next_choice_is_not_warned() -> None:
    """Live planning re-picks without what answered (planning.plan_live): .252 and .251
    answering leave .250 and .249, which look like no gateway."""
    zone = make_zone("novg", answering=frozenset({"10.16.100.252", "10.16.100.251"}))
    plan = build_plan(zone, make_spec(seed=1), today=TODAY)
    assert {p.temp_address for p in plan.nodes.values()} == {"10.16.100.250", "10.16.100.249"}
    assert warned(plan.warnings) == {}


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS),
       answering=st.sets(st.integers(200, 254).map(lambda i: f"10.16.100.{i}"), max_size=50),
       pinned=st.dictionaries(st.sampled_from(["proxy0", "proxy1"]),
                              st.sampled_from(["10.16.100.60", "10.16.100.254"]), max_size=1))
def test_every_gateway_like_automatic_choice_is_warned_and_no_other(
        kind: str, answering: set[str], pinned: dict[str, str]) -> None:
    zone = make_zone(kind, answering=frozenset(answering))
    if kind == "vg-other24":  # the proxies sit in 10.16.101.0/24 there
        pinned = {n: a.replace("10.16.100.", "10.16.101.") for n, a in pinned.items()}
    try:
        plan = build_plan(zone, make_spec(seed=1, nodes={n: {"temp_address": a}
                                                         for n, a in pinned.items()}),
                          today=TODAY)
    except RuleError as exc:  # every free address of the /24 answering: R16 says so
        assert "R16" in str(exc)
        return
    got = warned(plan.warnings)
    for name, node in plan.nodes.items():
        last = int(IPv4Address(node.temp_address)) & 0xFF
        looks = last in (0, 1, 253, 254, 255)
        assert (name in got) == (looks and name not in pinned), (name, node.temp_address)
        if name in got:
            assert got[name] == node.temp_address


@pytest.mark.parametrize("kind", KINDS)
def test_before_each_launch_the_new_host_probes_the_temporary_addresses(kind: str) -> None:
    """R16/R12 (issue 10): right before R21 launches a new VM, its physical host (R13)
    probes the temporary MGMT address on the MGMT bridge and, with VG nodes, the dummy EIP
    on the EIP bridge; read-only, judged by the address_free analysis."""
    plan = build_plan(make_zone(kind), make_spec(seed=1), today=TODAY)
    ids = [s.id for s in plan.steps]
    for name, node in plan.nodes.items():
        step = plan.steps[ids.index(f"r16-free-{name}")]
        assert step.phase == "build" and ids.index(step.id) > ids.index("r17-settings-proxy0")
        for other in plan.nodes:  # no VM is launched before every address is probed
            assert step.id in (plan.steps[ids.index(f"r21-launch-{other}")].after or ())
        assert plan.targets[step.target].address == node.physical_host
        assert not step.side_effect and step.analysis is not None
        opts = dict(step.analysis.options)
        want = f"br0={node.temp_address}"
        if node.eip_temp_address:
            want += f",br1={node.eip_temp_address}"
        assert opts["probes"] == want
        assert f"arping -D -c 2 -w 3 -I br0 {node.temp_address}" in step.command
