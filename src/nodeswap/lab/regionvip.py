"""A region's VIPs: one keepalived VIP (floating name ``<zone>-proxy``) and one console per
zone of a lab whose firstbox manages several zones (issue 10, tests/lab/topologies/
region-2z.yaml).

``RegionPower`` is power.py's ``Power`` with the VIP kept per zone: each zone's VIP is held by
a proxy VM of that zone only (by the node's name: an old VM and its new one share it), ping,
`ip addr` and the console at each VIP follow that zone's holder. The first zone's holder stays
``vip_holder`` (lab.json's ``zone``, the vip-to fault). A single-zone lab keeps ``Power``.
Must not: write zone files, or answer outside 127.0.0.0/8.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from typing import Any

from . import services
from .labhost import Host, Machines
from .listeners import bound_ports
from .power import Power, _console

JSON = dict[str, Any]


class RegionPower(Power):
    """Power with one VIP per zone (``vips``: zone id -> VIP, the lab's own zone first;
    ``zone_of``: node name -> zone id)."""

    def __init__(self, machines: Machines, vips: Mapping[str, str], zone_of: Mapping[str, str],
                 squatters: dict[str, socket.socket]) -> None:
        self.vips = dict(vips)
        self.first = next(iter(self.vips))
        super().__init__(machines, self.vips[self.first], squatters)
        self.zone_of = dict(zone_of)
        self.holders: dict[str, str | None] = dict.fromkeys(self.vips)
        self.consoles: list[ThreadingHTTPServer] = []

    def zone_of_host(self, h: Host) -> str:
        return self.zone_of.get(h.name, self.first)

    def update_vip(self) -> None:
        """keepalived per zone: a holder keeps its zone's VIP while eligible, else the first
        eligible proxy of that zone (old nodes first) takes it; a forced holder (vip-to)
        wins in its zone. Then haproxy's ports follow the proxies, as ``Power.update_vip``."""
        hosts = self.machines.hosts
        with self.machines.lock:
            def eligible(iid: str | None, zone: str) -> bool:
                h = hosts.get(iid or "")
                return bool(h and h.up and h.extra.get("keepalived")
                            and self.zone_of_host(h) == zone
                            and services.is_running(self.root(h), "keepalived"))
            for zone in self.vips:
                if self.vip_forced and eligible(self.vip_forced, zone):
                    self.holders[zone] = self.vip_forced
                elif not eligible(self.holders[zone], zone):
                    cands = sorted((h for h in hosts.values() if eligible(h.iid, zone)),
                                   key=lambda h: (int(h.iid.rsplit(".", 1)[-1]), h.iid))
                    self.holders[zone] = cands[0].iid if cands else None
            self.vip_holder = self.holders[self.first]
            wanted = [(h.address, port) for h in hosts.values() if h.up and not h.booting
                      and h.extra.get("keepalived")
                      and services.is_running(self.root(h), "haproxy")
                      for port in bound_ports(self.root(h) / "etc/haproxy/haproxy.cfg")]
        self.listeners.sync(wanted)

    def start_holders(self, first_proxies: Mapping[str, str]) -> None:
        """At start: each zone's first proxy VM (instance id) holds its VIP."""
        self.holders.update(first_proxies)
        self.vip_holder = self.holders[self.first]

    def held_vip(self, caller: Host) -> str | None:
        """The VIP ``caller`` holds (its zone's), if any."""
        self.update_vip()
        zone = self.zone_of_host(caller)
        return self.vips[zone] if self.holders.get(zone) == caller.iid else None

    def op_ping(self, caller: Host | None, body: JSON) -> JSON:
        addr = body["address"]
        for zone, vip in self.vips.items():
            if addr == vip and addr not in self.squatters:
                self.update_vip()
                return {"alive": self.holders[zone] is not None}
        return super().op_ping(caller, body)

    def op_ipaddr(self, caller: Host | None, body: JSON) -> JSON:
        assert caller is not None
        vip = self.held_vip(caller)
        return {"address": caller.address, "extra": [vip] if vip else []}

    def console_answer(self, zone_id: str) -> tuple[int, str]:
        """The zone's console page: 200 while its VIP holder's haproxy runs, else 503."""
        self.update_vip()
        holder = self.machines.hosts.get(self.holders.get(zone_id) or "")
        if holder is None or not services.is_running(self.root(holder), "haproxy"):
            return 503, "<html><body>503 Service Unavailable</body></html>"
        return 200, (f"<html><title>QingCloud Console</title><body>console of zone "
                     f"{zone_id} via {holder.name}</body></html>")

    def start_console(self, zone_id: str, name: str = "") -> None:
        """Serve each zone's console on its VIP:80 (threads; ``close`` stops them), to a
        request whose Host is that VIP or ``name``."""
        for zone, vip in self.vips.items():
            server = ThreadingHTTPServer((vip, 80), _console(self, zone, name))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.consoles.append(server)
        self.console = self.consoles[0]

    def close(self) -> None:
        for server in self.consoles[1:]:
            server.shutdown()
            server.server_close()
        super().close()
