"""How to reach a zone: firstbox's address, the login, keys, known_hosts, jump or direct.

From ``--lab DIR`` (a lab's lab.json) or ``--firstbox [USER@]ADDR`` and the ssh options. Stored
with a run (``to_dict``) so that resume and rollback need only the run id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeswap.errors import InputError, Problem
from nodeswap.model import Target
from nodeswap.transport.ssh import SshConfig


@dataclass(frozen=True)
class Reach:
    """Where firstbox is and how to log in (from --lab or --firstbox and the ssh options)."""

    ssh: SshConfig
    firstbox: Target | None
    lab: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        fb = self.firstbox
        return {
            "user": self.ssh.user, "identity_files": list(self.ssh.identity_files),
            "known_hosts": self.ssh.known_hosts, "connect_timeout": self.ssh.connect_timeout,
            "firstbox": None if fb is None else [fb.name, fb.address],
            "direct": self.ssh.jump is None,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reach:
        fb = None
        if d.get("firstbox"):
            fb = Target(d["firstbox"][0], d["firstbox"][1], d["firstbox"][0], via_firstbox=False)
        ssh = SshConfig(
            user=d.get("user", "root"), identity_files=tuple(d.get("identity_files", ())),
            known_hosts=d.get("known_hosts"), jump=None if d.get("direct") else fb,
            connect_timeout=float(d.get("connect_timeout", 10.0)),
        )  # fmt: skip
        return cls(ssh, fb)


def read_lab(folder: Path) -> dict[str, Any]:
    path = folder / "lab.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        data["hosts"], data["ssh"]  # shape check
    except (OSError, ValueError, KeyError) as exc:
        raise InputError([Problem(f"not a lab state folder: {exc}", file=str(path))]) from exc
    return data


def make_reach(
    *, lab: Path | None, firstbox: str | None, user: str | None, identity_file: list[Path],
    known_hosts: Path | None, direct: bool, connect_timeout: float,
) -> Reach:  # fmt: skip
    """Combine --lab / --firstbox with --user, --identity-file, --known-hosts, --direct."""
    if lab is not None and firstbox is not None:
        raise InputError([Problem("give --lab or --firstbox, not both", key="--firstbox")])
    data = read_lab(lab) if lab is not None else None
    fb: Target | None = None
    login = user or "root"
    ids = tuple(str(p) for p in identity_file)
    kh = str(known_hosts) if known_hosts else None
    if data is not None:
        login = user or data["ssh"]["user"]
        ids = ids or (data["ssh"]["identity_file"],)
        kh = kh or data["ssh"]["known_hosts"]
        name = data.get("firstbox")
        if name:
            fb = Target(name, data["hosts"][name]["address"], name, via_firstbox=False)
    elif firstbox is not None:
        who, _, addr = firstbox.rpartition("@")
        login = user or who or "root"
        fb = Target("firstbox", addr, "firstbox", via_firstbox=False)
    ssh = SshConfig(user=login, identity_files=ids, known_hosts=kh,
                    jump=None if direct else fb, connect_timeout=connect_timeout)  # fmt: skip
    return Reach(ssh, fb, data)
