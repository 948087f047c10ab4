"""R28: rc.local, rc.local.head, rc.local.tail compared line by line (pure)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nodeswap.checks.findings import AddressMap
from nodeswap.checks.rcfiles import compare_text, parse

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "checks" / "rc"
AMAP = AddressMap.from_items(["10.16.0.2=10.16.0.12"])


def pair(name: str) -> tuple[str, str]:
    return (FIX / f"old_{name}").read_text(), (FIX / f"new_{name}").read_text()


def test_parse_drops_blank_comment_lines_and_trailing_whitespace() -> None:
    lines = parse("#!/bin/sh\n\n  # c\nfoo   \n\tbar\n")
    assert [(x.text, x.line) for x in lines] == [("foo", 4), ("\tbar", 5)]


def test_empty_or_absent_files() -> None:
    assert parse(" \n\n") == ()
    assert compare_text("", "# only a comment\n") == []
    diffs = compare_text("ethtool -K eth0 tso off\n", "", new_file="new/rc.local.head")
    assert [(d.klass, d.old_line) for d in diffs] == [("unexpected", 1)]
    assert diffs[0].reason == "line missing on the new node (new/rc.local.head is empty or absent)"


def test_rc_local_noise_only_is_no_difference() -> None:
    old, new = pair("rc.local")
    assert compare_text(old, new, section="rc.local") == []


def test_moved_line_is_unexpected() -> None:
    old, new = pair("rc.local.head")
    diffs = compare_text(old, new, section="rc.local.head")
    assert [(d.klass, d.rule) for d in diffs] == [("unexpected", "R28")]
    assert "moved" in diffs[0].reason


def test_tail_temporary_address_needs_attention_and_hand_lines_are_unexpected() -> None:
    old, new = pair("rc.local.tail")
    diffs = compare_text(old, new, section="rc.local.tail", address_map=AMAP)
    assert [(d.klass, d.old_line, d.new_line) for d in diffs] == [
        ("attention", 3, 2), ("unexpected", 5, None), ("unexpected", 6, None)]
    assert "10.16.0.2" in diffs[0].reason and "switch" in diffs[0].reason


def test_without_address_map_the_route_differs() -> None:
    old, new = pair("rc.local.tail")
    diffs = compare_text(old, new, section="rc.local.tail")
    changed = [d for d in diffs if d.old and d.new]
    assert len(changed) == 1 and changed[0].klass == "unexpected"
    assert changed[0].reason == "line differs"


def test_line_only_on_new_node() -> None:
    diffs = compare_text("a\n", "a\nb\n")
    assert [(d.old, d.new, d.new_line, d.klass) for d in diffs] == [
        (None, "b", 2, "unexpected")]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text(alphabet="abcdefgh /.-=0123456789", min_size=1, max_size=20)
             .filter(lambda s: s.strip() != ""), min_size=1, max_size=10),
    st.data(),
)
def test_comments_blank_lines_and_trailing_space_never_matter(
    lines: list[str], data: st.DataObject
) -> None:
    noisy: list[str] = []
    for line in lines:
        if data.draw(st.booleans()):
            noisy.append(data.draw(st.sampled_from(["", "# comment", "   ", "\t# x"])))
        noisy.append(line + data.draw(st.sampled_from(["", " ", "\t", "   "])))
    assert compare_text("\n".join(lines) + "\n", "\n".join(noisy) + "\n") == []
