"""A lab host instance (shared by the controller and the zone), the narrow interface the
zone's objects use to act on hosts (``Machines``), and address probing."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import threading

    from .hostroot import HostPaths

JSON = dict[str, Any]


@dataclass
class Host:
    """A host instance of the lab (mutable: owned by the controller under its lock).

    ``iid`` is unique for the lab's lifetime; ``name`` is the hostname (a new VM has the same
    name as the old one it replaces, so two instances may share a name for a while).
    """

    iid: str
    name: str
    address: str
    role: str
    kind: str  # plain | firstbox | physical | vm
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    up: bool = False
    physical: str | None = None  # iid of the physical host that runs this VM
    stalled: bool = False  # fault: sshd stopped with SIGSTOP (connections hang)
    booting: int = 0  # powered on, not answering yet (timing: lab/timing.py); 0: not booting
    extra: dict[str, Any] = field(default_factory=dict)

    def public(self) -> JSON:
        return {"address": self.address, "role": self.role, "kind": self.kind,
                "hostname": self.name, "up": self.up, "iid": self.iid,
                "physical": self.physical}


def port_free(address: str, port: int = 22) -> bool:
    """True if nothing listens on address:port (a test bind)."""
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def ssh_banner(address: str, *, connect: float = 0.5, wait: float = 0.5) -> bool:
    """Does sshd at ``address`` accept a connection within ``connect`` seconds and send its
    SSH banner within ``wait`` (what an operator's ssh sees first)? A host that is down
    refuses at once; a loaded machine may be slow to fork sshd's child (a longer ``wait``)."""
    try:
        with socket.create_connection((address, 22), timeout=connect) as s:
            s.settimeout(wait)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


class Machines(Protocol):
    """What the zone's objects may do to the lab's hosts (the controller provides it): read
    the host table under its lock, build, start, stop or freeze a host, and republish
    lab.json and known_hosts. Nothing else of the controller is theirs to touch."""

    hosts: dict[str, Host]
    lock: threading.RLock
    dir: Path

    def paths(self, iid: str) -> HostPaths: ...
    def build_host(self, host: Host, hosts_text: str, authorized: list[str]) -> None: ...
    def lab_key(self) -> str: ...
    def start_host(self, host: Host) -> None: ...
    def wait_ready(self, hosts: Iterable[Host], timeout: float = ...) -> None: ...
    def stop_host(self, host: Host) -> None: ...
    def stall_host(self, host: Host, stalled: bool) -> None: ...
    def write_lab_json(self) -> None: ...
    def write_known_hosts(self) -> None: ...
