"""apply --offline-plan (issue 14): an offline plan compared with the live zone, purely."""

from __future__ import annotations

import json
from dataclasses import replace

from zonekit import make_spec, make_zone, zone_texts

from nodeswap.live.planning import offline_differences
from nodeswap.plan.build import build_plan, settings_digests


def plan_and_texts(**kw: object) -> tuple[object, dict[str, str]]:
    texts = zone_texts("novg")
    return build_plan(make_zone("novg", texts=texts, **kw), make_spec(seed=1),  # type: ignore[arg-type]
                      today="20261127"), texts


def test_an_offline_plan_records_every_settings_file_it_read() -> None:
    plan, _ = plan_and_texts()
    assert json.loads(plan.meta["settings_files"]) == settings_digests(make_zone("novg"))


def test_the_zone_it_was_made_from_fits() -> None:
    plan, texts = plan_and_texts()
    assert offline_differences(plan, make_zone("novg", texts=texts)) == []


def test_changed_new_and_gone_settings_files_are_named() -> None:
    plan, texts = plan_and_texts()
    now = dict(texts)
    ks = sorted(n for n in now if n.startswith("zz1ar01n"))[0]
    now[ks] = now[ks] + 'hand_note="edited"\n'
    now["zz1ar01n09"] = now[ks].replace(ks, "zz1ar01n09")
    del now["proxy1"]
    msgs = [str(p) for p in offline_differences(plan, make_zone("novg", texts=now))]
    assert any(f"settings files changed since the plan was made: {ks}" in m for m in msgs)
    assert any("new in the zone since the plan was made: zz1ar01n09" in m for m in msgs)
    assert any("gone from the zone since the plan was made: proxy1" in m for m in msgs)


def test_installer_version_and_components_are_named() -> None:
    plan, texts = plan_and_texts(components=frozenset({"boss2"}))
    msgs = " ".join(str(p) for p in offline_differences(
        plan, make_zone("novg", texts=texts, version="4.3.2")))
    assert "the plan was made for 4.3.1, the zone has 4.3.2" in msgs
    assert "components: the plan was made for boss2, the zone has none" in msgs


def test_r9_a_new_mac_now_in_the_zones_settings() -> None:
    plan, texts = plan_and_texts()
    mac = plan.nodes["proxy0"].mgmt_mac  # type: ignore[attr-defined]
    now = dict(texts)
    ks = sorted(n for n in now if n.startswith("zz1ar01n"))[0]
    old_mac = next(v for k, v in (ln.split("=", 1) for ln in now[ks].splitlines() if "=" in ln)
                   if k == "mgmt_network_mac_address").strip('"')
    now[ks] = now[ks].replace(old_mac, mac)
    problems = offline_differences(plan, make_zone("novg", texts=now))
    assert [p.rule for p in problems if p.rule] == ["R9"]
    assert f"new MAC {mac} of proxy0 is in the zone's settings now" in str(problems[-1])


def test_r9_two_new_nodes_with_one_mac() -> None:
    plan, texts = plan_and_texts()
    nodes = dict(plan.nodes)  # type: ignore[attr-defined]
    nodes["proxy1"] = replace(nodes["proxy1"], mgmt_mac=nodes["proxy0"].mgmt_mac)
    problems = offline_differences(replace(plan, nodes=nodes),  # type: ignore[type-var]
                                   make_zone("novg", texts=texts))
    assert [p.rule for p in problems] == ["R9"] and "also proxy0's" in str(problems[0])


def test_r16_a_temporary_address_now_in_a_settings_file() -> None:
    plan, texts = plan_and_texts()
    temp = plan.nodes["proxy1"].temp_address  # type: ignore[attr-defined]
    now = dict(texts)
    now["zz1ar01n09"] = now["zz1ar01n01"].replace("zz1ar01n01", "zz1ar01n09").replace(
        "10.16.100.11", temp)
    problems = [p for p in offline_differences(plan, make_zone("novg", texts=now)) if p.rule]
    assert [p.rule for p in problems] == ["R16"]
    assert f"temporary address {temp} of proxy1 is in the zone's settings now" in str(problems[0])
