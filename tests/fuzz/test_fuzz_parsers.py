"""Fuzz targets for the readers of the operator's files: settings files (nodeswap.zone.settings),
haproxy.cfg (nodeswap.checks.haproxy_parse), specs (nodeswap.plan.spec / sources.read_spec) and
hosts files (nodeswap.zone.hostsfile). Each input, random or shaped like the real thing, ends in a
result or an InputError (exit 2), never in another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from fuzzkit import FUZZ, result_or_input_error
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.checks.haproxy_parse import parse as parse_haproxy
from nodeswap.live.sources import read_spec
from nodeswap.plan.spec import Spec
from nodeswap.zone.hostsfile import parse_hosts
from nodeswap.zone.settings import SettingsFile

pytestmark = pytest.mark.fuzz


def shaped(fragments: list[str], max_size: int = 40) -> st.SearchStrategy[str]:
    """Text made of pieces of the real syntax and a little noise."""
    piece = st.one_of(st.sampled_from(fragments), st.text(max_size=3))
    return st.lists(piece, max_size=max_size).map("".join)


SETTINGS_BITS = ["\n", "## Host\n", "## Network\n", "# c\n", "export ", "key", "mgmt_network_",
                 "address", "=", '"', "'", "$", "${x}", "$(", "`", "\\", "\\\n", " ", "\t",
                 "10.16.100.21", "00:16:3e:aa:bb:cc", "role=\"proxy\"\n", "a=b\n", ";", "#",
                 "\r\n", "\x00", "é", "=()", "[", "]", "~", "*", "?", "{", "}", "!", "&", "|"]
HAPROXY_BITS = ["\n", "global\n", "defaults\n", "listen api ", "frontend fe\n", "backend be\n",
                "  bind ", ":80", "10.16.100.21:8080", " server s1 ", " check", "mode http\n",
                '"', "'", "\\", "\\ ", "#", "# comment\n", ".if ", ".endif\n", "acl a path ",
                "stats auth admin:secret", " ", "\t", "\x00", "${VAR}", "é", "userlist u\n"]
SPEC_KEYS = ["role", "target", "os_name", "os_version", "nodes", "proxy0", "proxy1",
             "temp_address", "physical_host", "mgmt_mac", "eip_mac", "eip_temp_address",
             "order", "seed", "vip", "console_url", "sub_region", "path", "vm_base_network",
             "vg_mgmt_network_gateway", "x"]
HOSTS_BITS = ["\n", "root@", "10.16.100.21", ":22", ":0", ":65536", "[", "]", "::1", "fe80::1",
              "%eth0", "proxy0", ".", "-", "_", "@", "#", " ", "\t", "\r", "\x00", "é", ";",
              "-oProxyCommand=x"]


@FUZZ
@given(st.one_of(st.text(), shaped(SETTINGS_BITS)))
def test_settings_files(text: str) -> None:
    result_or_input_error(SettingsFile.from_text, text, "proxy0")


@FUZZ
@given(st.one_of(st.text(), shaped(HAPROXY_BITS)))
def test_haproxy_cfg(text: str) -> None:
    result_or_input_error(parse_haproxy, text, "haproxy.cfg")


yaml_leaf = st.one_of(st.none(), st.booleans(), st.integers(),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                      st.sampled_from(["proxy", "bionic", "18.04.6", "10.16.100.51",
                                       "00:16:3e:00:00:01", "proxy0", "http://x"]))
yaml_value = st.recursive(yaml_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=5)), inner,
                    max_size=5)), max_leaves=20)  # fmt: skip


@FUZZ
@given(st.one_of(st.text(), shaped(["role: ", "proxy", "\n", "target: ", "{", "}", "[", "]",
                                    ": ", "- ", "  ", "&a ", "*a", "!!python/object ", "'",
                                    '"', "#", "nodes:\n", "  proxy0: ", "---\n", "...\n",
                                    "!!binary ", "? ", "|\n", ">\n", "\t", "\x00"]),
               yaml_value.map(lambda v: yaml.safe_dump(v, allow_unicode=True))))
def test_specs(text: str) -> None:
    result_or_input_error(Spec.from_yaml, text, "upgrade.yaml")


@FUZZ
@given(st.binary(max_size=200))
def test_spec_files_as_bytes(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upgrade.yaml"
        path.write_bytes(raw)
        result_or_input_error(read_spec, path)


@FUZZ
@given(st.one_of(st.binary(), shaped(HOSTS_BITS).map(lambda s: s.encode("utf-8", "replace"))))
def test_hosts_files(raw: bytes) -> None:
    result_or_input_error(parse_hosts, raw, "hosts")
