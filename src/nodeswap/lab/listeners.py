"""haproxy's listening ports on the lab's proxy VMs, for real (issue 10).

A proxy VM that is up and whose haproxy runs (its /run/lab/services.json) listens on every
port its own /etc/haproxy/haproxy.cfg binds (api 7777, ws 8565, io 8000, warehouse 8856 when
deployed...), at its current address: real TCP sockets the controller holds, accepting and
closing each connection (no payload: a port check is a TCP connect). A VM that goes down,
stops haproxy or moves to another address (R33's reboot onto the old one) stops listening
there, so a port check after a switch can fail. Must not: bind outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from collections.abc import Iterable
from pathlib import Path

BIND = re.compile(r"^\s*bind\s+(?:\S*?):(\d+)\b", re.M)


def bound_ports(cfg: Path) -> set[int]:
    """The ports a haproxy.cfg binds (none when it is absent or unreadable)."""
    try:
        text = cfg.read_text()
    except OSError:
        return set()
    return {int(p) for p in BIND.findall(text)}


class Listeners:
    """The sockets open now, by (address, port); ``sync`` makes them what is wanted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[tuple[str, int], socket.socket] = {}

    def sync(self, wanted: Iterable[tuple[str, int]]) -> None:
        want = {(a, p) for a, p in wanted if ipaddress.ip_address(a).is_loopback}
        with self.lock:
            for key in [k for k in self.open if k not in want]:
                self._close(key)
            for key in sorted(want - set(self.open)):
                self._listen(key)

    def _listen(self, key: tuple[str, int]) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(key)
            s.listen(16)
        except OSError:  # taken (a squatter fault, another lab): not listening, as haproxy
            s.close()
            return
        self.open[key] = s
        threading.Thread(target=_serve, args=(s,), daemon=True).start()

    def _close(self, key: tuple[str, int]) -> None:
        s = self.open.pop(key)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def close(self) -> None:
        with self.lock:
            for key in list(self.open):
                self._close(key)


def _serve(s: socket.socket) -> None:
    """Accept and close each connection until the socket is closed."""
    while True:
        try:
            conn, _ = s.accept()
        except OSError:
            return
        conn.close()
