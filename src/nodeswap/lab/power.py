"""Power, the VIP and the console: hosts going down and coming back, keepalived's VIP, and
the console that answers on VIP:80.

Owns the power lock (one power change at a time), booting a host at the address in its
/etc/network/interfaces, `shutdown`/`reboot` of a host (a physical host's guests go with it,
and libvirtd's autostart follows its reboot: ``Hypervisor``), which host holds the VIP, and
what ping, `ip addr` (the caller's addresses) and `service` see. Must not: build hosts or
write zone files (zonefiles.py), or answer outside 127.0.0.0/8.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from nodeswap.errors import LabError

from . import hostinfo, netconf, services
from .labhost import Host, Machines
from .listeners import Listeners, bound_ports
from .proxyd import ProxyDaemons
from .standins import pitrixlab as pl

JSON = dict[str, Any]


class Hypervisor(Protocol):
    """What a physical host's power does to its guests (libvirt.py)."""

    def power_off_guests(self, phys: Host) -> None: ...
    def autostart(self, phys: Host) -> list[str]: ...


class Power:
    """The zone's power and VIP (VIP state guarded by the machines' lock)."""

    def __init__(self, machines: Machines, vip: str, squatters: dict[str, socket.socket]) -> None:
        self.machines = machines
        self.vip = vip
        self.squatters = squatters  # addresses taken by something else (a fault)
        self.lock = threading.Lock()
        self.vip_holder: str | None = None
        self.vip_forced: str | None = None
        self.hypervisor: Hypervisor | None = None  # set once libvirt exists
        self.console: ThreadingHTTPServer | None = None
        self.delays: dict[str, float] = {}  # timing.delays(profile): the lab's waits
        self.boots = 0  # boot tokens (Host.booting)
        self.listeners = Listeners()  # haproxy's ports on the proxy VMs (lab/listeners.py)
        self.proxyd: ProxyDaemons | None = None  # netns: real haproxy/keepalived (proxyd.py)

    def root(self, h: Host) -> Path:
        return self.machines.paths(h.iid).root

    def by_address(self, address: str) -> Host | None:
        """The live host at an address."""
        with self.machines.lock:
            return next((h for h in self.machines.hosts.values()
                         if h.up and h.address == address), None)

    # ------------------------------------------------------------------ power

    def op_power(self, caller: Host | None, body: JSON) -> JSON:
        """shutdown -h / -r, reboot: answered now, done a moment later (the session ends)."""
        assert caller is not None
        action = body["action"]
        if action not in ("halt", "reboot"):
            raise ValueError(f"unknown power action {action!r}")
        threading.Thread(target=self._power, args=(caller, action, 0.3), daemon=True).start()
        return {"scheduled": action}

    def _power(self, h: Host, action: str, delay: float) -> None:
        # let the caller's ssh session print and close, as on a real host; with timing, the
        # host keeps answering while it shuts down (lab/timing.py "shutdown")
        time.sleep(delay + self.delays.get("shutdown", 0.0))
        with self.lock:
            if h.kind == "physical" and self.hypervisor is not None:
                self.hypervisor.power_off_guests(h)  # its VMs go down with it
            self.machines.stop_host(h)
            self.update_vip()
            if action == "reboot":
                self.start(h, after=self._autostart_of(h))
            self.machines.write_lab_json()

    def _autostart_of(self, h: Host) -> Callable[[], None] | None:
        """What follows a physical host's boot: libvirtd starts the autostart domains."""
        hyp = self.hypervisor
        if h.kind != "physical" or hyp is None:
            return None

        def autostart() -> None:
            hyp.autostart(h)
        return autostart

    def halt(self, h: Host) -> None:
        """The host goes off the network at once (power lock held by the caller); a boot
        under way is cancelled."""
        self.machines.stop_host(h)
        h.booting = 0
        self.update_vip()

    def boot_wait(self, h: Host) -> float:
        """Seconds from power-on until the host answers (0 without timing)."""
        return self.delays.get("vm_boot" if h.kind == "vm" else "host_boot", 0.0)

    def start(self, h: Host, after: Callable[[], None] | None = None) -> None:
        """Power a host on (power lock held by the caller). Without timing it boots at once
        (``boot``). With timing it is booting: its domain runs, its address does not answer
        until its boot time has passed; then it boots and ``after`` runs. An address already
        taken is refused now, as a boot at once would."""
        wait = self.boot_wait(h)
        if wait <= 0:
            self.boot(h)
            if after is not None:
                after()
            return
        self.address_for(h)
        self.boots += 1
        h.booting = token = self.boots
        threading.Thread(target=self._boot_later, args=(h, token, wait, after),
                         daemon=True).start()

    def _boot_later(self, h: Host, token: int, wait: float,
                    after: Callable[[], None] | None) -> None:
        time.sleep(wait)
        with self.lock:
            if h.booting != token or h.up:
                return  # powered off (or booted) meanwhile
            try:
                self.boot(h)
                if after is not None:
                    after()
            except LabError as exc:  # the controller's log: the boot failed (address taken)
                print(f"boot of {h.iid} failed: {exc}", flush=True)
            finally:
                h.booting = 0
            self.machines.write_lab_json()

    def address_for(self, h: Host) -> str | None:
        """The address in the host's /etc/network/interfaces, refused if another live host
        (or a squatter) has it."""
        addr = pl.interfaces_address(netconf.config_text(self.root(h)))
        other = self.by_address(addr or h.address)
        if (other is not None and other is not h) or (addr or h.address) in self.squatters:
            raise LabError(f"{h.iid} cannot come up at {addr or h.address}: the address is "
                           f"taken by {other.iid if other else 'something else'} (the lab "
                           "cannot run two hosts on one address)")
        return addr

    def boot(self, h: Host) -> None:
        """Start a host at the address in its /etc/network/interfaces (run rc.local)."""
        if h.extra.get("boot_fails"):  # fault boot-fails: it never comes up
            print(f"boot of {h.iid} never completes (fault boot-fails)", flush=True)
            return
        addr = self.address_for(h)
        if addr:
            h.address = addr
        root = self.root(h)
        services.reset(root)
        if h.extra.get("keepalived"):
            services.set_running(root, "keepalived", True)
            services.set_running(root, "haproxy", True)
        self.machines.start_host(h)
        self.machines.wait_ready([h])
        self.machines.write_known_hosts()
        self.update_vip()

    # ------------------------------------------------------------------ VIP

    def update_vip(self) -> None:
        """keepalived: the holder keeps the VIP while it is eligible; else the first eligible
        proxy (old nodes first) takes it. A forced holder (fault) wins while eligible. Then
        haproxy's listening ports follow the proxy VMs' state (lab/listeners.py): every
        change of power or service passes here. Netns labs: the real processes follow the
        VMs' services (lab/proxyd.py) and the holder is whoever's eth0 has the VIP."""
        if self.proxyd is not None:
            self.proxyd.sync()
            self.vip_holder = self.proxyd.holder()
            return
        hosts = self.machines.hosts
        with self.machines.lock:
            def eligible(iid: str | None) -> bool:
                h = hosts.get(iid or "")
                return bool(h and h.up and h.extra.get("keepalived")
                            and services.is_running(self.root(h), "keepalived"))
            if self.vip_forced and eligible(self.vip_forced):
                self.vip_holder = self.vip_forced
            elif not eligible(self.vip_holder):
                cands = sorted((h for h in hosts.values() if eligible(h.iid)),
                               key=lambda h: (int(h.iid.rsplit(".", 1)[-1]), h.iid))
                self.vip_holder = cands[0].iid if cands else None
            wanted = [(h.address, port) for h in hosts.values() if h.up and not h.booting
                      and h.extra.get("keepalived")
                      and services.is_running(self.root(h), "haproxy")
                      for port in bound_ports(self.root(h) / "etc/haproxy/haproxy.cfg")]
        self.listeners.sync(wanted)

    def force_vip(self, iid: str | None) -> None:
        """Fault vip-to: keepalived on ``iid`` takes the VIP while eligible (None: clear)."""
        self.vip_forced = iid
        if self.proxyd is not None:  # netns: keepalived there runs and outbids the others
            self.proxyd.forced = iid
            h = self.machines.hosts.get(iid or "")
            if h is not None:
                services.set_running(self.root(h), "keepalived", True)
        self.update_vip()

    # ------------------------------------------------------------------ what hosts see

    def op_ping(self, caller: Host | None, body: JSON) -> JSON:
        """Does this address answer ping? Only hosts that are up (and squatted addresses)."""
        addr = body["address"]
        if addr in self.squatters:
            return {"alive": True}
        self.update_vip()
        if addr == self.vip:
            return {"alive": self.vip_holder is not None}
        h = self.by_address(addr)
        return {"alive": h is not None and not h.stalled}

    def op_arp(self, caller: Host | None, body: JSON) -> JSON:
        """Does anything answer ARP for this address (the arping stand-in's -D, R16)? What
        answers ping does (``op_ping``); ``taken`` is the holder's MAC, "" when free."""
        if not self.op_ping(caller, body)["alive"]:
            return {"taken": ""}
        h = self.by_address(body["address"])
        return {"taken": hostinfo.eth0_mac(h) if h is not None else "02:00:5e:00:53:01"}

    def op_ipaddr(self, caller: Host | None, body: JSON) -> JSON:
        assert caller is not None
        self.update_vip()
        extra = [self.vip] if self.vip_holder == caller.iid else []
        return {"address": caller.address, "extra": extra}

    def op_service(self, caller: Host | None, body: JSON) -> JSON:
        assert caller is not None
        name, action = body["name"], body["action"]
        if self.proxyd is not None:
            self.proxyd.reap()  # netns: a process that died by itself is down before this
        if action in ("start", "restart"):
            if action == "restart" and self.proxyd is not None:
                self.proxyd.restart(caller, name)  # netns: the real process starts anew
            services.set_running(self.root(caller), name, True)
        elif action == "stop":
            services.set_running(self.root(caller), name, False)
        self.update_vip()
        return {"running": services.is_running(self.root(caller), name)}

    # ------------------------------------------------------------------ console

    def console_answer(self, zone_id: str) -> tuple[int, str]:
        """The console's page: 200 while the VIP holder's haproxy runs, else 503."""
        self.update_vip()
        holder = self.machines.hosts.get(self.vip_holder or "")
        if self.proxyd is not None and holder is not None:  # netns: is its haproxy running?
            serving = f"haproxy {holder.iid}" in self.proxyd.pids()
        else:
            serving = holder is not None and services.is_running(self.root(holder), "haproxy")
        if holder is None or not serving:
            return 503, "<html><body>503 Service Unavailable</body></html>"
        return 200, (f"<html><title>QingCloud Console</title><body>console of zone "
                     f"{zone_id} via {holder.name}</body></html>")

    def start_console(self, zone_id: str, name: str = "") -> None:
        """Serve the console on VIP:80 (a thread; ``close`` stops it): to a request whose
        Host is the VIP or ``name`` (the console's name, like haproxy's name-based routing),
        404 to any other Host (R36 through the VIP keeps the Host header: issue 10)."""
        self.console = ThreadingHTTPServer((self.vip, 80), _console(self, zone_id, name))
        self.console.daemon_threads = True
        threading.Thread(target=self.console.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.proxyd is not None:
            self.proxyd.close()
        self.listeners.close()
        if self.console is not None:
            self.console.shutdown()
            self.console.server_close()


def _console(power: Power, zone_id: str, name: str) -> type[BaseHTTPRequestHandler]:
    class Console(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            vip = str(self.connection.getsockname()[0])  # the VIP asked (one per zone)
            code, body = power.console_answer(zone_id) if host in (vip, name) else (
                404, f"<html><body>no site {host!r} here</body></html>")
            raw = body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Console
