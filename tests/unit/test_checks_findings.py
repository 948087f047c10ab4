"""Findings, the address map and the input limits shared by every check (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.checks.findings import AddressMap, CheckResult, Difference, report_json
from nodeswap.checks.textfile import MAX_BYTES, decode
from nodeswap.errors import InputError


def test_address_map_parsing_and_mapping_back() -> None:
    amap = AddressMap.from_items(["10.0.0.1=10.0.0.11", "10.0.0.2=10.0.0.12,"])
    assert amap.back("src 10.0.0.11 via 10.0.0.111 to 10.0.0.12:80") == (
        "src 10.0.0.1 via 10.0.0.111 to 10.0.0.2:80")
    assert amap.new_addresses == {"10.0.0.11", "10.0.0.12"}
    assert amap.mentions_new("a 10.0.0.12") and not amap.mentions_new("10.0.0.121")


def test_address_map_reports_every_bad_item() -> None:
    with pytest.raises(InputError) as info:
        AddressMap.from_items(["x=y", "10.0.0.1", "10.0.0.1=10.0.0.9", "10.0.0.2=10.0.0.9"])
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 3 and "'x=y'" in messages[0] and "mapped from two" in messages[2]


@given(st.ip_addresses(v=4), st.ip_addresses(v=4), st.text(alphabet=" abc:/", max_size=10))
def test_address_map_back_is_exact(old: object, new: object, filler: str) -> None:
    amap = AddressMap.from_items([f"{old}={new}"])
    assert amap.back(f"{filler}{new}{filler}") == f"{filler}{old}{filler}"


def test_check_result_ok_and_json() -> None:
    d = Difference("s", "a", None, 1, None, "attention", "R27", "why")
    assert CheckResult("haproxy", (d,)).ok
    bad = Difference("s", None, "b", None, 2, "unexpected", "R27", "why")
    assert not CheckResult("haproxy", (d, bad)).ok
    assert report_json([d]) == {"differences": [{
        "section": "s", "old": "a", "new": None, "old_line": 1, "new_line": None,
        "class": "attention", "rule": "R27", "reason": "why"}]}


@pytest.mark.parametrize(
    ("data", "message", "line"),
    [
        (b"", "empty", None),
        (b"  \n\n", "empty", None),
        (b"global\n\x00\x01", "binary", 2),
        (b"global\n\xff\xfe", "not UTF-8", 2),
        (bytes(range(1, 32)) * 10, "binary", None),
        (b"x" * (MAX_BYTES + 1), "limit", None),
    ],
)
def test_decode_refuses_non_text(data: bytes, message: str, line: int | None) -> None:
    with pytest.raises(InputError) as info:
        decode(data, "f.cfg")
    problem = info.value.problems[0]
    assert message in problem.message and problem.file == "f.cfg" and problem.line == line


def test_decode_text() -> None:
    assert decode(b"global\n  daemon\n", "f") == "global\n  daemon\n"


def test_str_is_one_readable_line() -> None:
    d = Difference("listen a", "server s 1.1.1.1:1", None, 7, None, "unexpected", "R27",
                   "`server` line missing on the new node")
    assert str(d) == ("[unexpected] listen a (R27): `server` line missing on the new node; "
                      "old line 7: server s 1.1.1.1:1")
