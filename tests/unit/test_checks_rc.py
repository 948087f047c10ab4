"""R28 with the plan's own rewrite of rc.local.tail (nodeswap's R31)."""

from __future__ import annotations

from nodeswap.checks import analyze


def test_temporary_address_line_is_ignored_when_the_plan_rewrites_the_file() -> None:
    """R28 with nodeswap's R31 (which also rewrites rc.local.tail): the temporary-address
    route is no hand edit to make, so it is ignored, and the reason says why."""
    old = "ip route add 172.21.0.0/16 src 10.0.0.21 via 10.0.0.1\n"
    new = "ip route add 172.21.0.0/16 src 10.0.0.254 via 10.0.0.1\n"
    base = {"file": "rc.local.tail", "address_map": "10.0.0.21=10.0.0.254"}
    plain = analyze("rc", new, old, base)
    fixed = analyze("rc", new, old, {**base, "rewritten_at_switch": "1"})
    assert [d.klass for d in plain.findings] == ["attention"]
    assert [d.klass for d in fixed.findings] == ["ignored"]
    assert "R31" in fixed.findings[0].reason and fixed.ok
