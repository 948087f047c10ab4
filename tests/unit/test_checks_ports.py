"""After each switch, the switched proxies answer on haproxy's ports (issue 10): the probe's
lines judged; the plan's step per switch; the lab's listeners are real sockets."""

from __future__ import annotations

import socket
from pathlib import Path

from zonekit import make_spec, make_zone

from nodeswap.checks import analyze
from nodeswap.checks.ports import proxy_ports
from nodeswap.lab.listeners import Listeners, bound_ports
from nodeswap.plan.build import build_plan

OPTS = {"nodes": "proxy1=10.16.100.22,proxy0=10.16.100.21", "ports": "7777,8565,8000",
        "rule": "R35"}


def lines(closed: set[tuple[str, int]]) -> str:
    out = []
    for a in ("10.16.100.22", "10.16.100.21"):
        for p in (7777, 8565, 8000):
            out.append(f"{a} {p} {'closed' if (a, p) in closed else 'open'}")
    return "\n".join(out) + "\n"


def test_every_port_open_is_ok() -> None:
    assert analyze("ports", lines(set()), None, OPTS).findings == ()


def test_a_closed_or_unprobed_port_is_unexpected() -> None:
    res = analyze("ports", lines({("10.16.100.21", 8565)}), None, OPTS)
    (f,) = res.findings
    assert not res.ok and f.section == "ports proxy0" and "10.16.100.21:8565" in f.reason
    missing = analyze("ports", "", None, OPTS)
    assert len(missing.findings) == 6 and "not probed" in str(missing.findings[0])


def test_warehouse_adds_its_port() -> None:
    assert proxy_ports(frozenset()) == (7777, 8565, 8000)
    assert proxy_ports(frozenset({"warehouse"})) == (7777, 8565, 8000, 8856)


def test_each_switch_probes_the_nodes_switched_so_far() -> None:
    plan = build_plan(make_zone("novg", vip="10.16.100.100"), make_spec(seed=1),
                      today="20240101")
    order = plan.meta["switch_order"].split(",")
    first, second = (plan.step(f"r35-ports-{n}") for n in order)
    assert first.analysis is not None and second.analysis is not None
    assert dict(first.analysis.options)["nodes"].count("=") == 1
    assert dict(second.analysis.options)["nodes"].count("=") == 2
    for n in order:
        assert f"/dev/tcp/{plan.nodes[n].old_address}/7777" in second.command
    assert not first.side_effect and first.target == "firstbox"


def test_lab_listeners_open_and_close_real_sockets() -> None:
    """The lab's haproxy ports: a TCP connect succeeds while wanted, is refused after."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    ls = Listeners()
    try:
        ls.sync([("127.0.0.1", port)])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        ls.sync([])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            refused = False
        except ConnectionRefusedError:
            refused = True
        assert refused
    finally:
        ls.close()


def test_bound_ports_read_from_haproxy_cfg(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("listen api-front\n    bind 0.0.0.0:7777\nlisten x\n    bind *:8565\n")
    assert bound_ports(cfg) == {7777, 8565}
    assert bound_ports(cfg.with_name("absent")) == set()
