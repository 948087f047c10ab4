"""Checks shared by the netns lab tests (issue 10, docs/lab-netns.md): nothing leads out."""

from __future__ import annotations

import json
import subprocess

OUTSIDE = "198.51.100.7"  # TEST-NET-2: asked about with `ip route get`, never sent to


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _forwarding(ns: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def assert_no_way_out(net: dict[str, object]) -> None:
    """No lab namespace has a way to an address outside the zone: the gateway namespace (the
    only one forwarding) has only connected routes, and a host's default route (a VM's
    `gateway` line) goes to the gateway namespace's address (docs/lab-netns.md, 4 and 10)."""
    gw_ns = str(net["gateway_ns"])
    hosts = list(net["namespaces"].values())  # type: ignore[attr-defined]
    gw_routes = _ip("-n", gw_ns, "-4", "route", "show", "table", "all").stdout.splitlines()
    assert gw_routes and all("proto kernel" in r or r.startswith(("local ", "broadcast "))
                             for r in gw_routes), gw_routes
    assert _ip("-n", gw_ns, "route", "get", OUTSIDE).returncode != 0
    gw_addrs = {a["local"] for link in json.loads(_ip("-n", gw_ns, "-j", "-4", "addr").stdout)
                for a in link.get("addr_info", []) if a["local"] != "127.0.0.1"}
    assert _forwarding(gw_ns) == "1"
    for ns in [str(net["bridge_ns"]), *hosts]:
        assert _forwarding(ns) == "0", ns
        default = _ip("-n", ns, "route", "show", "default").stdout.split()
        assert default == [] or default[default.index("via") + 1] in gw_addrs, (ns, default)
        got = _ip("-n", ns, "route", "get", OUTSIDE)
        assert got.returncode != 0 or got.stdout.split()[2] in gw_addrs, (ns, got.stdout)
