"""haproxy -c: the local haproxy's complaints become unexpected findings (real haproxy)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodeswap.checks.validate import CheckRun, find_haproxy, findings_from, validate

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "checks" / "haproxy"
HAPROXY = find_haproxy()
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="no haproxy binary (make setup)")


def test_findings_from_alert_lines() -> None:
    output = (
        "[NOTICE]   (1) : haproxy version is 2.6.12\n"
        "[ALERT]    (1) : config : parsing [n.cfg:2] : unknown keyword 'bogus' in 'global'\n"
        "[WARNING]  (1) : config : something harmless\n"
        "[ALERT]    (1) : config : Error(s) found in configuration file : n.cfg\n"
    )
    diffs = findings_from(CheckRun(1, output), "n.cfg")
    assert [(d.new_line, d.klass, d.section) for d in diffs] == [(2, "unexpected", "haproxy -c")]
    assert diffs[0].new is not None and "bogus" in diffs[0].new


def test_findings_from_success_and_unparsed_failure() -> None:
    assert findings_from(CheckRun(0, "Configuration file is valid"), "n.cfg") == []
    diffs = findings_from(CheckRun(-1, "haproxy -c did not finish within 30 s"), "n.cfg")
    assert len(diffs) == 1 and diffs[0].new is not None and "did not finish" in diffs[0].new


@needs_haproxy
def test_real_haproxy_accepts_the_package_file() -> None:
    assert HAPROXY is not None
    assert validate(str(FIX / "new.cfg"), HAPROXY) == []


@needs_haproxy
def test_real_haproxy_rejects_unknown_keywords_with_line_numbers(tmp_path: Path) -> None:
    assert HAPROXY is not None
    bad = tmp_path / "haproxy.cfg"
    bad.write_text("global\n  bogus_kw 1\nlisten x\n  bind 127.0.0.1:8080\n"
                   "  server a 127.0.0.1:80 chek\n")
    diffs = validate(str(bad), HAPROXY)
    assert [d.new_line for d in diffs] == [2, 5]
    assert all(d.klass == "unexpected" and d.rule == "R27" for d in diffs)


@needs_haproxy
def test_real_haproxy_rejects_old_section_line_syntax() -> None:
    """The older installer's `listen NAME ADDR` is haproxy 1.x syntax: 2.x says no, which is
    why only the NEW file is validated."""
    assert HAPROXY is not None
    diffs = validate(str(FIX / "old_layout.cfg"), HAPROXY)
    assert diffs and diffs[0].new_line == 29
