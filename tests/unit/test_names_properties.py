"""Property tests of issue 14: any name is refused or lands in every command as one safe word;
the settings reader over any bytes ends in a result or a SettingsError."""

from __future__ import annotations

import re
import shlex

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from zonekit import make_spec, make_zone, zone_texts

from nodeswap.errors import InputError, SettingsError
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.settings_syntax import quote_value
from nodeswap.zone.values import node_name_problem, settings_problems

TODAY = "20261127"
BASE = "proxy0"
_SHA = re.compile(r"\b[0-9a-f]{64}\b")


def one_proxy_texts() -> dict[str, str]:
    """A zone with a single proxy, so no decision depends on how names sort."""
    texts = zone_texts()
    del texts["proxy1"]
    return texts


TEXTS = one_proxy_texts()


def plan_named(name: str) -> Plan:
    texts = dict(TEXTS)
    text = texts.pop(BASE).replace(f'hostname="{BASE}"', f"hostname={quote_value(name)}")
    texts[name] = text
    return build_plan(make_zone(texts=texts), make_spec(seed=1), today=TODAY)


BASELINE = plan_named(BASE)


def words(command: str) -> list[str]:
    return shlex.split(_SHA.sub("<sha256>", command))


names = st.one_of(
    st.text(max_size=70),
    st.text(alphabet="az09-_.#;$ \n\t'\"\\A\x00é", max_size=12),
    st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True),
    st.from_regex(r"-{1,2}[a-z]{1,8}", fullmatch=True),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names)
@example(name="-rf")
@example(name="--help")
@example(name="a#b")
@example(name="px;reboot")
@example(name="px\nreboot")
@example(name="all")
@example(name="pek3b-proxy0")
def test_any_name_is_refused_or_one_word_that_is_no_option(name: str) -> None:
    assume(name not in TEXTS)
    try:
        plan = plan_named(name)
    except InputError:
        return
    # accepted: a node name, one shell word as it is, never an option
    assert node_name_problem(name) is None
    assert shlex.quote(name) == name and not name.startswith("-")
    assert len(plan.steps) == len(BASELINE.steps)
    for got, base in zip(plan.steps, BASELINE.steps, strict=True):
        for field in ("command", "check", "verify", "undo"):
            mine, theirs = getattr(got, field), getattr(base, field)
            assert (mine is None) == (theirs is None)
            if mine is None:
                continue
            expected = [w.replace(BASE, name) for w in words(theirs)]
            assert words(mine) == expected, (got.id, field)
            assert not any(w.startswith("-") for w in words(mine) if name in w and
                           w not in words(theirs)), (got.id, field)


FRAGMENTS = [b'hostname="', b"cpu_cores=", b"physical_host_network_interface=", b'"', b"'",
             b"\\", b"\n", b"\r\n", b"$", b"$(", b"`", b"=", b"#", b" ", b"\t", b"\x00",
             b"\xff", b"\xc3\xa9", b"export ", b"## Eip Network\n", b"a", b"4", b".", b"-",
             b"br0", b"10.16.100.21", b"proxy0", b";", b"(", b"{", b"*", b"~"]


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=300),
                      st.lists(st.sampled_from(FRAGMENTS), max_size=40).map(b"".join)))
def test_the_settings_reader_over_any_bytes_ends_in_a_file_or_settings_error(
        data: bytes) -> None:
    try:
        sf = SettingsFile.from_bytes(data, path="settings/proxy0")
    except SettingsError:
        return
    assert sf.render().encode() == data  # what is read round-trips byte for byte
    problems = settings_problems(sf)
    assert all(p.file == "settings/proxy0" and p.line for p in problems)
    try:
        Zone.build({"proxy0": sf}, ZoneFacts(InstallerVersion.parse("4.3.1")))
    except InputError as exc:
        assert exc.problems
