"""The spec: valid files parse; every invalid value is named with file, line and key path."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from nodeswap.errors import SpecError
from nodeswap.plan.spec import Spec

GOOD = """\
role: proxy
target: {os_name: bionic, os_version: "18.04.6"}
nodes:
  proxy0: {temp_address: 10.16.100.51, physical_host: 10.16.100.12, eip_temp_address: 2.2.2.2}
vg_mgmt_network_gateway: 10.16.101.1
order: [proxy1, proxy0]
seed: 3
"""


def test_a_full_spec_parses() -> None:
    spec = Spec.from_yaml(GOOD, path="up.yaml")
    assert spec.path == "up.yaml"
    assert spec.target.os_name == "bionic" and spec.target.os_version == "18.04.6"
    assert spec.node("proxy0").temp_address == IPv4Address("10.16.100.51")
    assert spec.node("proxy1").temp_address is None
    assert spec.order == ["proxy1", "proxy0"] and spec.seed == 3


def test_minimal_spec() -> None:
    spec = Spec.from_yaml("role: proxy\ntarget: {os_name: bionic, os_version: '18.04'}\n")
    assert spec.nodes == {} and spec.order is None and spec.vip is None


@pytest.mark.parametrize(("text", "key", "line", "shown"), [
    (GOOD.replace("10.16.100.51", "10.16.100.351"), "nodes.proxy0.temp_address", 4,
     "10.16.100.351"),
    (GOOD.replace("seed: 3", "seed: 3\nsede: 4"), "sede", 8, "unknown key 'sede'"),
    (GOOD.replace("temp_address:", "tmp_address:"), "nodes.proxy0.tmp_address", 4,
     "unknown key"),
    (GOOD.replace("role: proxy", "role: webproxy"), "role", 1, "webproxy"),
    (GOOD.replace("role: proxy", "role: toy"), "role", 1,
     "no runbook for role 'toy': the known roles are "),
    (GOOD.replace('"18.04.6"', '"eighteen"'), "target.os_version", 2, "eighteen"),
    (GOOD.replace("vg_mgmt_network_gateway: 10.16.101.1", "vg_mgmt_network_gateway: gw"),
     "vg_mgmt_network_gateway", 5, "'gw'"),
    (GOOD.replace("seed: 3", "seed: three"), "seed", 7, "three"),
    (GOOD.replace("target: {os_name: bionic, os_version: \"18.04.6\"}\n", ""), "target", None,
     "required"),
])
def test_bad_values_are_named(text: str, key: str, line: int | None, shown: str) -> None:
    with pytest.raises(SpecError) as exc:
        Spec.from_yaml(text, path="up.yaml")
    problems = {p.key: p for p in exc.value.problems}
    assert key in problems, exc.value.problems
    p = problems[key]
    assert p.file == "up.yaml" and shown in p.message
    if line is not None:
        assert p.line == line


def test_every_problem_at_once() -> None:
    text = GOOD.replace("10.16.100.51", "x").replace("seed: 3", "seed: 3\nbogus: 1")
    with pytest.raises(SpecError) as exc:
        Spec.from_yaml(text, path="up.yaml")
    assert {p.key for p in exc.value.problems} == {"nodes.proxy0.temp_address", "bogus"}


@pytest.mark.parametrize("text", ["role: [proxy\n", "- just\n- a list\n", "", "path: x\n"])
def test_not_a_spec(text: str) -> None:
    with pytest.raises(SpecError) as exc:
        Spec.from_yaml(text, path="up.yaml")
    assert exc.value.problems[0].file == "up.yaml"


def test_bad_mac_is_named() -> None:
    text = GOOD.replace("eip_temp_address: 2.2.2.2", "mgmt_mac: 00:16:3E:00:00:01")
    with pytest.raises(SpecError, match=r"up\.yaml:4: key nodes\.proxy0\.mgmt_mac"):
        Spec.from_yaml(text, path="up.yaml")


@pytest.mark.parametrize("text", ["'[key]':\n", "role: proxy\n'[key]': 1\n"])
def test_a_key_named_like_pydantics_key_marker_is_an_unknown_key(text: str) -> None:
    """Found by make fuzz: a top-level key '[key]' was taken for pydantic's marker (IndexError)."""
    with pytest.raises(SpecError, match=r"unknown key '\[key\]'"):
        Spec.from_yaml(text, "upgrade.yaml")
