"""The controller of a `--net netns` lab (issue 10): the loopback controller, with each host
in its own network namespace (lab/netns.py) and the API also on a unix socket.

A host gets its namespace when it is built, its address on `eth0` when it starts (taken away
when it stops), sshd inside it (``host.extra["netns"]``: hostroot.sshd_command), and
`/lab/ctl.sock`, a hard link to the controller's unix socket (a namespace's 127.0.0.1 is its
own). Firstbox's sshd also listens on its /30 jump address (``host.extra["listen_also"]``),
which lab.json gives as ``ssh.jump``. Must not: reach a host from this machine's namespace
(the readiness probe enters the host's), or leave anything it made at shutdown.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from nodeswap.errors import LabError
from nodeswap.i18n import _

from . import hostinfo, hostroot, netconf, netns, netroute, timing
from .controller import Controller
from .labhost import Host
from .netns import NetLab

SOCKET = "controller.sock"  # in the lab folder; /lab/ctl.sock in each host root
HOST_URL = "unix:/lab/ctl.sock"
JSON = dict[str, Any]


class NetController(Controller):
    """A zone lab's controller whose hosts live in network namespaces."""

    @property
    def net(self) -> NetLab:
        net = self.zone.net if self.zone is not None else None
        if net is None:
            raise LabError(_("--net netns needs a topology (a zone lab)"))
        return net

    def build_host(self, host: Host, hosts_text: str, authorized: list[str]) -> None:
        """The loopback host, plus its namespace and the controller's socket inside."""
        super().build_host(host, hosts_text, authorized)
        firstbox = host.kind == "firstbox"
        host.extra["netns"] = self.net.add_host(host.iid, host.address, firstbox=firstbox)
        if firstbox:
            host.extra["listen_also"] = [self.net.jump_address]
        link = self.paths(host.iid).root / "lab/ctl.sock"
        link.unlink(missing_ok=True)
        os.link(self.dir / SOCKET, link)

    def write_host_json(self, host: Host) -> None:
        info = {"url": HOST_URL, "token": host.token, "iid": host.iid, "name": host.name,
                "kind": host.kind, "delays": timing.delays(self.timing)}
        hostroot.write(self.paths(host.iid).root / "lab/host.json", json.dumps(info), 0o600)

    def start_host(self, host: Host) -> None:
        """A VM boots from its own interfaces file and rc.local (lab/netroute.py); a physical
        host or firstbox gets its address and routes via its gateway; then sshd inside its
        namespace."""
        ns = host.extra["netns"]
        root = self.paths(host.iid).root
        text = netconf.config_text(root) if host.kind == "vm" else ""
        if netroute.stanzas(text):
            macs = [str(n["mac"]) for n in host.extra.get("nics") or []]
            netroute.boot_vm(self.net, ns, root, macs or [hostinfo.eth0_mac(host)],
                             _log(host))
        else:
            self.net.set_mac(ns, hostinfo.eth0_mac(host))
            self.net.set_address(ns, host.address, None)
            netroute.route_host(self.net, ns, host.address, self._gateway(host), _log(host))
            eip = self._eip(host)
            if eip is not None:  # a VG node's EIP NIC (its br1): `arping -D -I br1` (R12)
                netroute.wire_nic(self.net, ns, eip, _log(host))
        super().start_host(host)

    def _gateway(self, host: Host) -> str | None:
        """A physical host's settings gateway (the topology's), firstbox's the zone's."""
        t = self.net.t
        node: JSON = next((p for p in t["physical"] if p["name"] == host.name), {})
        return str(node.get("gateway") or t.get("gateway") or "") or None

    def _eip(self, host: Host) -> netroute.Stanza | None:
        """A physical host's EIP (a VG node's `eip` in the topology), on eth1."""
        if host.kind != "physical":
            return None
        node: JSON = next((p for p in self.net.t["physical"] if p["name"] == host.name), {})
        eip = node.get("eip")
        if not isinstance(eip, dict) or not eip.get("address"):
            return None
        _k, network = netns.network_of(str(eip["address"]), self.net.nets)
        return netroute.Stanza("eth1", f"{eip['address']}/{network.prefixlen}", None)

    def stop_host(self, host: Host) -> None:
        """Off the network: its real daemons end (keepalived first: the VIP moves at once,
        lab/proxyd.py), sshd and sessions end, every NIC loses its addresses and routes."""
        proxyd = self.zone.power.proxyd if self.zone is not None else None
        if proxyd is not None:
            proxyd.stop(host)
        super().stop_host(host)
        if host.extra.get("netns"):
            netroute.down(host.extra["netns"], _log(host))

    def destroy_host(self, host: Host) -> None:
        super().destroy_host(host)
        if host.extra.get("netns"):
            self.net.remove_host(host.extra["netns"])

    def shut_down(self) -> None:
        """Everything the loopback controller stops, then the recorded network, by name."""
        super().shut_down()
        netns.NetRecords(self.dir).teardown()


def _log(host: Host) -> netroute.Log:
    """A line of controller.log about this host."""
    def log(message: str) -> None:
        print(f"{host.iid}: {message}", flush=True)
    return log


def unix_server(ctl: Controller,
                handler: type[BaseHTTPRequestHandler]) -> socketserver.ThreadingUnixStreamServer:
    """The controller's API on STATE/controller.sock (serving in a thread; the caller shuts it
    down), for the hosts that cannot reach this namespace's 127.0.0.1."""
    path = ctl.dir / SOCKET
    path.unlink(missing_ok=True)
    server = socketserver.ThreadingUnixStreamServer(str(path), handler)
    server.daemon_threads = True
    path.chmod(0o600)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
