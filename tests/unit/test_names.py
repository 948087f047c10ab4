"""Names and values typed at the edge (issue 14): node names in settings files and the spec,
settings values typed by key, single-line, assigned once."""

from __future__ import annotations

import re

import pytest
from zonekit import make_spec, make_zone, zone_texts

from nodeswap.errors import BugError, InputError, SettingsError, SpecError
from nodeswap.plan.build import build_plan
from nodeswap.plan.spec import Spec, TargetOS
from nodeswap.zone.values import node_name_problem

TODAY = "20261127"
BAD_NAMES = ["-rf", "--help", "a#b", "px;reboot", "px\nreboot", "prøxy0", "Proxy0", "proxy0-",
             "0x7f000001", "123", "", "a" * 64, "proxy 0", "proxy0.mgmt", "$(reboot)"]
GOOD_NAMES = ["proxy0", "zz1ar01n01", "pek3b-proxy0", "qingcloud-firstbox", "a", "a" * 63]


def renamed(texts: dict[str, str], old: str, new: str) -> dict[str, str]:
    """The zone with node ``old`` renamed to ``new`` (file name and hostname value)."""
    out = dict(texts)
    text = out.pop(old).replace(f'hostname="{old}"', f'hostname="{new}"')
    out[new] = text
    return out


def edited(key: str, raw: str, node: str = "proxy0") -> dict[str, str]:
    """The zone with ``key="..."`` of ``node`` replaced by ``key=<raw>`` (appended if absent)."""
    texts = zone_texts()
    text, n = re.subn(rf'^{key}=.*$', lambda _m: f"{key}={raw}", texts[node], flags=re.M)
    texts[node] = text if n == 1 else text + f"{key}={raw}\n"
    return texts


def line_of(text: str, key: str) -> int:
    return next(i for i, x in enumerate(text.splitlines(), 1) if x.startswith(key + "="))


def only(exc: pytest.ExceptionInfo[InputError]) -> tuple[str | None, int | None, str | None]:
    (p,) = exc.value.problems
    return p.file, p.line, p.key


# ---- node names -------------------------------------------------------------------------
@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_node_names(name: str) -> None:
    assert node_name_problem(name) is None


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_node_names(name: str) -> None:
    why = node_name_problem(name)
    assert why is not None and "not a node name" in why
    assert "\n" not in why  # shown escaped, never raw


@pytest.mark.parametrize("name", ["-rf", "--help", "a#b", "px;reboot", "px\nreboot", "prøxy0"])
def test_a_node_named_like_an_option_or_shell_text_is_refused(name: str) -> None:
    """Seen: `-rf` planned `launch_vms.sh -rf`, `virsh undefine --help`; `#` gave a traceback."""
    texts = renamed(zone_texts(), "proxy0", name)
    with pytest.raises(SettingsError) as exc:
        make_zone(texts=texts)
    file, line, key = only(exc)
    assert key == "hostname" and line is not None and file == f"settings/{name}"
    why = "spans 2 lines" if "\n" in name else "not a node name"
    assert why in str(exc.value)


def test_a_file_name_that_is_no_node_name_is_refused_even_if_hostname_is_good() -> None:
    texts = zone_texts()
    texts["-rf"] = texts.pop("proxy0")
    with pytest.raises(SettingsError) as exc:
        make_zone(texts=texts)
    messages = [p.message for p in exc.value.problems]
    assert any("'-rf' is not a node name" in m for m in messages)


def test_a_group_name_as_a_role_node_is_refused() -> None:
    """`install_nodes.sh all` would install every node: exec_nodes' group file wins."""
    texts = renamed(zone_texts(), "proxy0", "all")
    zone = make_zone(texts=texts)
    with pytest.raises(InputError, match="'all' is also the name of a group"):
        build_plan(zone, make_spec(seed=1), today=TODAY)


@pytest.mark.parametrize(("yaml_text", "key"), [
    ("nodes:\n  -rf: {temp_address: 10.16.100.51}\n", "nodes.-rf"),
    ("nodes:\n  'px;reboot': {}\n", "nodes.px;reboot"),
    ("order: [proxy1, --help]\n", "order.1"),
    ("order: [proxy1, \"a#b\"]\n", "order.1"),
    ("nodes:\n  proxy0: {physical_host_network_interface: br0 -o ProxyCommand=x}\n",
     "nodes.proxy0.physical_host_network_interface"),
    ("nodes:\n  proxy0: {physical_host_eip_network_interface: '\uff42\uff521'}\n",
     "nodes.proxy0.physical_host_eip_network_interface"),
])
def test_spec_names_are_node_names(yaml_text: str, key: str) -> None:
    text = "role: proxy\ntarget: {os_name: bionic, os_version: '18.04.6'}\n" + yaml_text
    with pytest.raises(SpecError) as exc:
        Spec.from_yaml(text, path="upgrade.yaml")
    (p,) = exc.value.problems
    assert p.file == "upgrade.yaml" and p.key is not None and p.key.startswith(key)
    assert p.line is not None and p.line >= 3


# ---- typed settings values -----------------------------------------------------------------
@pytest.mark.parametrize(("key", "raw", "shown"), [
    ("cpu_cores", '"four"', "'four' is not a whole number"),
    ("memory_size", '"8000 MB"', "is not a whole number"),
    ("mgmt_network_address", '"10.16.100.321"', "is not an IPv4 address"),
    ("mgmt_network_netmask", '"255.0.255.0"', "is not a netmask"),
    ("mgmt_network_netmask", '"24"', "is not a netmask"),
    ("mgmt_network_dns_servers", '"10.16.100.25;reboot"', "list of IPv4"),
    ("mgmt_network_mac_address", '"00:16:3e:zz:00:01"', "is not a MAC"),
    ("physical_host_network_interface", '"br0 -o ProxyCommand=touch"', "not an interface"),
    ("physical_host_network_interface", '"a-very-long-bridge0"', "not an interface"),
    ("mgmt_network_interface", '"eth/0"', "not an interface"),
    ("os_name", '"Xenial Xerus"', "not an OS release name"),
    ("os_version", '"16.04.5; reboot"', "not an OS version"),
    ("physical_host", '"10.16.100.11 -oProxyCommand=x"', "not an IPv4 address"),
    ("zone_id", '"zz1a;x"', "not a zone id"),
])
def test_a_value_of_the_wrong_type_is_refused_with_file_line_and_key(
        key: str, raw: str, shown: str) -> None:
    texts = edited(key, raw)
    with pytest.raises(SettingsError) as exc:
        make_zone(texts=texts)
    assert only(exc) == ("settings/proxy0", line_of(texts["proxy0"], key), key)
    assert shown in str(exc.value)


@pytest.mark.parametrize("raw", ['"ip route add 10.0.0.0/8\nvia 10.16.100.1"',
                                 '"ab\\\ncd"', "'one\ntwo'"])
def test_a_value_spanning_lines_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError, match="spans 2 lines") as exc:
        make_zone(texts=edited("vm_network_routing_rule", raw))
    assert only(exc)[2] == "vm_network_routing_rule"


def test_control_characters_are_refused_and_not_echoed() -> None:
    with pytest.raises(SettingsError, match="control character") as exc:
        make_zone(texts=edited("role", '"proxy\x1b[2J"'))
    assert "\x1b" not in str(exc.value)


def test_a_duplicate_key_is_refused_at_its_second_line() -> None:
    texts = zone_texts()
    texts["proxy0"] += 'cpu_cores="8"\ncpu_cores="16"\n'
    with pytest.raises(SettingsError) as exc:
        make_zone(texts=texts)
    lines = texts["proxy0"].splitlines()
    (p,) = exc.value.problems
    assert p.key == "cpu_cores" and p.line == len(lines)
    assert f"first on line {len(lines) - 1}" in p.message


@pytest.mark.parametrize("key", ["region_id", "mgmt_network_gateway", "mgmt_network_routing_rule",
                                 "physical_host", "physical_host_eip_network_interface",
                                 "cpu_cores", "mgmt_network_mac_address"])
def test_empty_values_stay_allowed(key: str) -> None:
    make_zone(texts=edited(key, '""', node="zz1ar01n01"))


def test_unknown_keys_are_kept_verbatim_and_round_trip() -> None:
    texts = zone_texts()
    extra = "## Extra\nsome_future_key='any text: 5$ # not a comment'\nweird_KEY=a,b\n"
    texts["proxy0"] += extra
    zone = make_zone(texts=texts)
    assert zone.node("proxy0").settings.render() == texts["proxy0"]
    plan = build_plan(zone, make_spec(seed=1), today=TODAY)
    assert plan.nodes["proxy0"].settings.endswith(extra)


def test_the_password_of_a_bm_host_is_never_echoed() -> None:
    texts = zone_texts()
    texts["zz1ar01n01"] += 'bm_ipmi_password="s3cret\ttab"\n'
    with pytest.raises(SettingsError) as exc:
        make_zone(texts=texts)
    assert "s3cret" not in str(exc.value)


@pytest.mark.parametrize(("target", "key"), [
    ('{os_name: bionic, os_version: "\u0661\u0668.04"}', "target.os_version"),
    ('{os_name: "bionic\\n", os_version: "18.04"}', "target.os_name"),
    ('{os_name: bionic, os_version: "18.04 -rf"}', "target.os_version"),
])
def test_the_target_os_is_plain_ascii(target: str, key: str) -> None:
    with pytest.raises(SpecError) as exc:
        Spec.from_yaml(f"role: proxy\ntarget: {target}\n", path="up.yaml")
    (p,) = exc.value.problems
    assert (p.file, p.line, p.key) == ("up.yaml", 2, key)


def test_the_plan_checks_the_settings_it_writes() -> None:
    """Defence in depth: a value the rules write that fails the types is a bug, not a file."""
    spec = make_spec(seed=1).model_copy(update={"target": TargetOS.model_construct(
        os_name="bionic", os_version="18.04 ; reboot")})
    with pytest.raises(BugError, match="os_version"):
        build_plan(make_zone(), spec, today=TODAY)


@pytest.mark.parametrize("raw", ['"10.16.100.25  10.16.100.26"', '" 10.16.100.25"',
                                 '"10.16.100.25"'])
def test_dns_servers_are_addresses_separated_by_spaces(raw: str) -> None:
    make_zone(texts=edited("mgmt_network_dns_servers", raw))
