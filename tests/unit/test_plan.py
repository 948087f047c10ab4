"""build_plan: every step of R6-R37 in order, for every layout, version and component set."""

from __future__ import annotations

import itertools
import json
import shlex

import pytest
from zonekit import KINDS, make_spec, make_zone

from nodeswap.errors import RuleError
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan, gathered
from nodeswap.runbooks.commands import EXEC_NODES

TODAY = "20261127"
COMPONENT_SETS = [frozenset(c) for r in range(4)
                  for c in itertools.combinations(("boss", "boss2", "warehouse"), r)]


def plan_for(kind: str = "novg", *, prefix: str = "", version: str = "4.3.1",
             components: frozenset[str] = frozenset(), **spec: object) -> Plan:
    zone = make_zone(kind, prefix=prefix, version=version, components=components)
    return build_plan(zone, make_spec(seed=1, **spec), today=TODAY)


def rules_of(plan: Plan) -> list[str]:
    return [s.rule for s in plan.steps]


@pytest.mark.parametrize("prefix", ["", "devops1a"])
@pytest.mark.parametrize("kind", KINDS)
def test_plan_shape(kind: str, prefix: str) -> None:
    plan = plan_for(kind, prefix=prefix)
    ids = [s.id for s in plan.steps]
    assert len(ids) == len(set(ids))
    assert all(s.target in plan.targets for s in plan.steps)
    phases = list(dict.fromkeys(s.phase for s in plan.steps))
    names = [f"{prefix}-proxy0" if prefix else "proxy0", f"{prefix}-proxy1" if prefix else
             "proxy1"]
    assert phases == ["prepare", "settings", "build", "launch", "deploy", "check",
                      f"switch:{names[0]}", f"switch:{names[1]}", "archive"]
    # Reference fetches come first and carry the rule that uses them (R27-R29, R31).
    assert all(s.id.startswith("fetch-") for s in plan.steps[:12])
    order = list(dict.fromkeys(s.rule for s in plan.steps if not s.id.startswith("fetch-")))
    first = {r: order.index(r) for r in order}
    assert first["R6"] < first["R7-R17"] < first["R18"] < first["R21"] < first["R22"] \
        < first["R23"] < first["R27"] < first["R30"] < first["R37"]
    # Every runbook rule of R6-R37 has a step (R19 instead of R18 below 4.3; R20 is a note,
    # R24-R26 depend on components).
    for r in ["R6", "R7-R17", "R18", "R21", "R22", "R23", "R27", "R28", "R29", "R30", "R31",
              "R32", "R33", "R34", "R35", "R37"]:
        assert r in first, r
    assert any("R20" in w for w in plan.warnings)


@pytest.mark.parametrize(("version", "rule", "ext"), [
    ("4.2.5", "R19", "sh"), ("4.2", "R19", "sh"), ("3.7", "R19", "sh"),
    ("4.3", "R18", "py"), ("4.3.1", "R18", "py"), ("4.10.0", "R18", "py")])
def test_r18_r19_by_installer_version(version: str, rule: str, ext: str) -> None:
    plan = plan_for(version=version)
    build = [s for s in plan.steps if s.phase == "build" and s.rule != "R16"]  # R16: arping
    assert [s.rule for s in build] == [rule, rule]
    assert [s.command for s in build] == [f"/pitrix/bin/gen_node_list.{ext}",
                                          f"/pitrix/build/build_pkgs_allinone.{ext}"]


@pytest.mark.parametrize("components", COMPONENT_SETS, ids=lambda c: ",".join(sorted(c)) or "-")
def test_r24_r26_only_for_deployed_components(components: frozenset[str]) -> None:
    plan = plan_for(components=components)
    updates = [s.command for s in plan.steps if s.phase == "deploy" and "update.sh" in s.command]
    expected = ["pitrix-ks-proxy"] + [f"pitrix-ks-proxy-{c}" for c in ("boss", "boss2",
                                                                      "warehouse")
                                      if c in components]
    assert [shlex.split(c)[-1] for c in updates] == expected
    assert all(shlex.split(c)[1:3] == ["-f", "proxy0,proxy1"] for c in updates)


@pytest.mark.parametrize("kind", KINDS)
def test_r20_no_package_push_outside_the_new_nodes_before_the_switch(kind: str) -> None:
    plan = plan_for(kind, components=frozenset({"boss", "boss2", "warehouse"}))
    new_nodes = set(plan.nodes)
    for step in plan.steps:
        if step.rule == "R30":
            break
        words = shlex.split(step.command) if "update.sh" in step.command else []
        if words:
            assert set(words[2].split(",")) <= new_nodes, step
        assert "apt-get" not in step.command or step.target.endswith("-new"), step
    # after the switches only the new VMs get packages: at their temporary address (-new) or,
    # pitrix-hosts again after the last switch (issue 10), at the old one (-switched)
    switch_apts = [s for s in plan.steps if "apt-get" in s.command]
    assert switch_apts and all(s.target.endswith(("-new", "-switched")) for s in switch_apts)
    assert [s.target for s in switch_apts if s.target.endswith("-switched")] == [
        f"{n}-switched" for n in plan.meta["switch_order"].split(",")[:-1]]


def test_default_switch_order_and_vip_holder_last() -> None:
    assert plan_for().meta["switch_order"] == "proxy0,proxy1"
    zone = make_zone(vip_holder="proxy0")
    plan = build_plan(zone, make_spec(seed=1), today=TODAY)
    assert plan.meta["switch_order"] == "proxy1,proxy0"
    assert plan_for(order=["proxy1", "proxy0"]).meta["switch_order"] == "proxy1,proxy0"


def test_gates_before_each_switch_and_the_archive() -> None:
    plan = plan_for()
    gated = [s.id for s in plan.steps if s.gate]
    assert gated == ["r30-settings-proxy0", "r30-settings-proxy1", "r37-list-proxy0"]


def test_settings_files_and_r30_write_back() -> None:
    plan = plan_for("vg-other24", nodes={"proxy0": {"temp_address": "10.16.101.51"}})
    node = plan.nodes["proxy0"]
    assert node.temp_address == "10.16.101.51"
    assert 'mgmt_network_address="10.16.101.51"' in node.settings
    assert "src 10.16.101.51 via" in node.settings
    write = plan.step("r17-settings-proxy0")
    assert write.stdin == node.settings and write.target == "firstbox"
    assert write.undo == "cp -af /pitrix/conf/settings.20261127/proxy0 /pitrix/conf/settings/proxy0"
    back = plan.step("r30-settings-proxy0").stdin or ""
    assert 'mgmt_network_address="10.16.101.21"' in back and "10.16.101.51" not in back
    assert 'eip_network_address="198.51.100.21"' in back
    assert node.mgmt_mac in back  # the new VM keeps its new MACs
    assert {(f.path, f.rule) for f in plan.files} >= {("/pitrix/conf/settings/proxy0", "R7-R17"),
                                                     ("/pitrix/conf/settings/proxy0", "R30")}


def test_targets() -> None:
    plan = plan_for()
    t = plan.targets
    assert not t["firstbox"].via_firstbox and t["firstbox"].address == "10.16.100.2"
    assert (t["proxy0-old"].address, t["proxy0-old"].pin) == ("10.16.100.21", False)
    assert (t["proxy0-new"].address, t["proxy0-new"].key_id, t["proxy0-new"].pin) == \
        ("10.16.100.252", "proxy0-new", True)
    assert (t["proxy0-switched"].address, t["proxy0-switched"].key_id) == \
        ("10.16.100.21", "proxy0-new")
    assert t["zz1ar01n01"].address == "10.16.100.11"


def test_switch_steps_in_runbook_order() -> None:
    plan = plan_for()
    sw = [(s.id, s.target) for s in plan.steps if s.phase == "switch:proxy0"]
    ids = [i for i, _ in sw if not i.startswith("r32-look-")]
    assert ids[:20] == [
        "r30-settings-proxy0", "r30-global-conf-proxy0", "r31-address-proxy0",
        "r31-network-proxy0",  # issue 10: equal to the old VM's, or stop before R32
        # R33's apt steps at the temporary address before R32 (issue 11: a shorter outage)
        "r33-apt-update-proxy0", "r33-hosts-proxy0",
        # the dead-man armed on firstbox after the last look, before R32 touches the old node
        "deadman-arm-proxy0",
        "r32-stop-proxy0", "r32-autostart-proxy0", "r32-shutdown-proxy0", "r32-gone-proxy0",
        "r33-stop-proxy0", "r33-reboot-proxy0",
        "r33-up-proxy0", "r33-identity-proxy0",
        # issue 10: gratuitous ARP, network files, live addresses, no temporary address left
        "r33-arp-proxy0", "r33-network-proxy0", "r33-addresses-proxy0", "r33-sweep-proxy0",
        "r34-known-hosts-proxy0"]
    looks = [i for i, _ in sw if i.startswith("r32-look-")]
    first_look = [i for i, _ in sw].index(looks[0])
    assert [i for i, _ in sw][first_look:first_look + len(looks)] == looks  # all together,
    after = [i for i, _ in sw][first_look + len(looks):first_look + len(looks) + 2]
    assert after == ["deadman-arm-proxy0", "r32-stop-proxy0"]  # right before R32
    assert ids[-1] == "deadman-disarm-proxy0"  # after every switch check (R33-R36)
    assert dict(sw)["r32-autostart-proxy0"] == "zz1ar01n01"  # the OLD host
    assert plan.step("r32-shutdown-proxy0").disconnects
    assert plan.step("r33-reboot-proxy0").disconnects
    r31 = plan.step("r31-address-proxy0")
    assert "/etc/rc.local.tail" in r31.command and "/etc/network/interfaces" in r31.command


def test_exec_nodes_commands_are_quoted_and_hash_free() -> None:
    plan = plan_for()
    for s in plan.steps:
        if s.command.startswith(EXEC_NODES):
            words = shlex.split(s.command.removesuffix(" || true"))  # judged by its output
            assert words[1] == "-f" and len(words) == 4 and "#" not in words[3]
    forget = shlex.split(plan.step("r34-known-hosts-all-proxy0").command)
    assert forget[2] == "all" and "-R 10.16.100.252" in forget[3]


def test_checks_carry_analyses() -> None:
    plan = plan_for()
    h = plan.step("r27-haproxy-proxy0")
    assert h.analysis is not None and h.analysis.kind == "haproxy"
    assert h.analysis.against == "fetch-proxy0-haproxy" and not h.side_effect
    assert ("address_map", "10.16.100.21=10.16.100.252") in h.analysis.options
    assert plan.step("r29-exec").analysis.kind == "supervisor_exec"  # type: ignore[union-attr]
    sup = plan.step("r29-supervisor-proxy1").analysis
    assert sup is not None and sup.against == "fetch-proxy1-supervisor"
    assert all(not s.side_effect for s in plan.steps if s.id.startswith("fetch-"))


def test_r36_console_step_or_warning() -> None:
    assert not any(s.rule == "R36" for s in plan_for().steps)
    assert any("R36" in w for w in plan_for().warnings)
    with_vip = plan_for(vip="10.16.100.20")
    console = [s for s in with_vip.steps if s.rule == "R36"]
    checks = [s for s in console if s.id.startswith("r36-console-")]
    assert len(checks) == 2 and "http://10.16.100.20/" in checks[0].command
    # issue 10: and the console probe's start and stop around the switches, at the same URL
    probe = [s for s in console if s not in checks]
    assert [s.id for s in probe] == ["console-probe-start", "console-probe-stop"]
    assert "URL=http://10.16.100.20/\n" in (probe[0].stdin or "")


def test_r37_archives_each_vm_by_its_own_name() -> None:
    plan = plan_for()
    arch = [s for s in plan.steps if s.phase == "archive"]
    assert {s.target for s in arch} == {"zz1ar01n01", "zz1ar01n02"}
    rename = plan.step("r37-rename-img-proxy1").command  # old-NAME, dated if taken
    assert "d=/pitrix/kernels/old-proxy1.img" in rename and \
        rename.endswith('mv -T /pitrix/kernels/proxy1.img "$d"')
    assert plan.step("r37-undefine-proxy1").command == "virsh undefine -- proxy1"


def test_plan_is_deterministic_and_round_trips() -> None:
    a, b = plan_for("vg-other24"), plan_for("vg-other24")
    assert a == b and a.fingerprint() == b.fingerprint()
    assert Plan.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert a.inventory_fingerprint == make_zone("vg-other24").fingerprint()


def test_unknown_node_in_spec() -> None:
    with pytest.raises(RuleError) as exc:
        plan_for(nodes={"proxy9": {"temp_address": "10.16.100.51"}})
    (p,) = exc.value.problems
    assert p.key == "nodes.proxy9" and "proxy0, proxy1" in p.message


def test_every_rule_problem_at_once() -> None:
    with pytest.raises(RuleError) as exc:
        plan_for(nodes={"proxy0": {"temp_address": "10.16.100.23",
                                   "physical_host": "10.16.100.11"}})
    assert {p.rule for p in exc.value.problems} == {"R13", "R16"}


def test_bad_order() -> None:
    with pytest.raises(RuleError, match="order"):
        plan_for(order=["proxy0"])


@pytest.mark.parametrize("kind", KINDS)
def test_every_analysis_speaks_the_checks_registry(kind: str) -> None:
    """Kinds and option names match nodeswap.checks.analyze (it raises InputError on bad
    options; findings on empty output are fine here)."""
    from nodeswap.checks import analyze  # noqa: PLC0415 (the contract under test)

    plan = plan_for(kind, vip="10.16.100.20")
    analysed = [s for s in plan.steps if s.analysis is not None]
    assert {s.analysis.kind for s in analysed if s.analysis} == {
        "vip", "vip_holders", "haproxy", "rc", "supervisor", "supervisor_exec", "console",
        "exec_nodes", "name_reach", "ports", "network", "addresses", "stale",
        "address_free"}
    for step in analysed:
        assert step.analysis is not None
        if step.analysis.against is not None:
            assert not plan.step(step.analysis.against).side_effect
        for sid in gathered(step).values():
            assert not plan.step(sid).side_effect
        ref = "" if step.analysis.against else ("{}" if gathered(step) else None)
        analyze(step.analysis.kind, "", ref, dict(step.analysis.options))


def test_commands_while_a_node_is_out_of_service_get_the_outage_timeout() -> None:
    """Issue 11: from R32's stop of the old node until the new one answers at the old address,
    each command has ``outage_timeout`` seconds at most (spec); the waits and the shutdown and
    reboot (their undo waits for a boot) keep theirs; R33's apt steps, moved before R32, too."""
    steps = {s.id: s for s in plan_for(outage_timeout=20).steps}
    for sid in ("r32-stop-proxy0", "r33-stop-proxy0", "r33-identity-proxy0",
                "r32-autostart-proxy0"):
        assert steps[sid].timeout == 20.0, sid
    assert steps["r32-gone-proxy0"].timeout == steps["r21-wait-proxy0"].timeout > 60
    assert steps["r32-shutdown-proxy0"].timeout == steps["r33-reboot-proxy0"].timeout == 60.0
    assert steps["r33-apt-update-proxy0"].timeout == 900.0
    default = {s.id: s.timeout for s in plan_for().steps}
    assert default["r32-stop-proxy0"] == default["r33-stop-proxy0"] == 60.0
