"""After each switch: the switched proxies answer on the proxy's ports (issue 10). Pure.

The probe (``probe_command``, run on firstbox) tries a TCP connect to each address and port
and prints one line each: ``ADDRESS PORT open`` or ``ADDRESS PORT closed``. Which ports:
haproxy's api 7777, ws 8565, io 8000, and warehouse 8856 where warehouse is deployed
(reference/pitrix.md, the proxy's haproxy.cfg).
"""

from __future__ import annotations

import re

from nodeswap.i18n import _
from nodeswap.shell import cmd

from .findings import Difference

API, WS, IO, WAREHOUSE = 7777, 8565, 8000, 8856
LINE = re.compile(r"^(?P<address>\S+) (?P<port>\d+) (?P<state>open|closed)$")


def proxy_ports(components: frozenset[str] | set[str]) -> tuple[int, ...]:
    return (API, WS, IO, *((WAREHOUSE,) if "warehouse" in components else ()))


def probe_command(addresses: list[str], ports: tuple[int, ...], timeout: int = 5) -> str:
    """One line per address and port (bash's /dev/tcp, bounded by ``timeout`` seconds)."""
    parts = []
    for a in addresses:
        for p in ports:
            probe = cmd("timeout", str(timeout), "bash", "-c", f"exec 3<>/dev/tcp/{a}/{p}")
            parts.append(f"if {probe} 2>/dev/null; then {cmd('echo', a, str(p), 'open')}; "
                         f"else {cmd('echo', a, str(p), 'closed')}; fi")
    return "; ".join(parts)


def check(output: str, expected: dict[str, str], ports: tuple[int, ...], rule: str
          ) -> list[Difference]:
    """``expected``: node -> address. Every node's every port must be open."""
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    for number, raw in enumerate(output.splitlines(), start=1):
        m = LINE.match(raw.strip())
        if m:
            seen[(m.group("address"), int(m.group("port")))] = (m.group("state"), number)
    out = []
    for node, address in expected.items():
        for port in ports:
            state, line = seen.get((address, port), ("not probed", None))
            if state != "open":
                out.append(Difference(f"ports {node}", None, f"{address}:{port} {state}",
                                      None, line, "unexpected", rule,
                                      _("{node} does not answer on {address}:{port} "
                                        "(haproxy's listener: is haproxy running there?)")
                                      .format(node=node, address=address, port=port)))
    return out
