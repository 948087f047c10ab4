"""A lab host instance (shared by the controller and the zone), and address probing."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

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
