"""analyze(kind, output, reference, options): the executor's one entry point (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodeswap.checks import KINDS, analyze
from nodeswap.errors import InputError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "checks"


def test_kinds() -> None:
    assert set(KINDS) == {"haproxy", "rc", "supervisor", "supervisor_exec", "vip", "vip_holders",
                          "console", "exec_nodes", "name_reach", "ports",
                          "network", "addresses", "stale", "address_free"}


def test_haproxy_kind_with_options() -> None:
    old = (FIX / "haproxy" / "old_sub.cfg").read_text()
    new = (FIX / "haproxy" / "new.cfg").read_text()
    result = analyze("haproxy", new, old, {"sub_region": "1",
                                           "address_map": "10.16.0.2=10.16.0.12"})
    assert result.ok and len(result.of_class("attention")) == 6
    assert not analyze("haproxy", new, old, {"sub_region": "0"}).ok


def test_haproxy_kind_unreadable_output_is_a_finding() -> None:
    result = analyze("haproxy", "this is not: haproxy\n", "global\n daemon\n", {"node": "p0"})
    assert not result.ok
    assert "p0/haproxy.cfg" in result.findings[0].reason


def test_rc_kind() -> None:
    result = analyze("rc", "ip route add 1.0.0.0/8 src 10.16.0.12\n",
                     "ip route add 1.0.0.0/8 src 10.16.0.2\n",
                     {"address_map": "10.16.0.2=10.16.0.12", "file": "rc.local.tail"})
    assert result.ok and result.findings[0].section == "rc.local.tail"
    assert result.findings[0].klass == "attention"


def test_supervisor_kinds() -> None:
    ok = "cb_server RUNNING pid 1, uptime 0:01:00\n"
    assert analyze("supervisor", ok, ok, {"node": "proxy0", "rule": "R35"}).ok
    bad = analyze("supervisor", "cb_server FATAL Exited too quickly\n", None, {})
    assert not bad.ok
    run = f"h\nExecing [proxy0] with [supervisorctl status] ...\n{ok}Done.\n"
    assert analyze("supervisor_exec", run, None, {"nodes": "proxy0"}).ok
    assert not analyze("supervisor_exec", run, None, {"nodes": "proxy0,proxy1"}).ok


def test_vip_kind_via_address_map() -> None:
    ip = "2: eth0    inet 10.16.0.100/32 scope global eth0\n"
    opts = {"vip": "10.16.0.100", "node": "proxy0", "address": "10.16.0.12",
            "address_map": "10.16.0.2=10.16.0.12"}
    assert not analyze("vip", ip, None, opts).ok
    assert analyze("vip", ip, None, {**opts, "address": "10.16.0.2"}).ok


def test_console_kind() -> None:
    assert analyze("console", "200 512 \n", None, {"url": "http://console/"}).ok
    assert not analyze("console", "503 20 \n", None, {"url": "http://console/"}).ok


@pytest.mark.parametrize(
    ("kind", "reference", "options", "message"),
    [
        ("nope", None, {}, "unknown check kind"),
        ("haproxy", None, {}, "reference"),
        ("haproxy", "global\n", {"sub_region": "yes"}, "must be 0 or 1"),
        ("haproxy", "global\n", {"address_map": "10.0.0.1"}, "OLD=NEW"),
        ("vip", None, {}, "needs option vip"),
        ("console", None, {}, "needs option url"),
    ],
)
def test_bad_options_are_input_errors(
    kind: str, reference: str | None, options: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        analyze(kind, "global\n", reference, options)


def test_rc_kind_absent_files_on_both_sides_are_equal() -> None:
    assert analyze("rc", "", "", {"file": "rc.local.head"}).findings == ()
