"""Packages: firstbox's repository, and what installing a package does on a node.

Owns the role-free packages (pitrix-hosts, pitrix-global-conf, pitrix-alert-agent), the
dpkg status a node keeps (/var/lib/dpkg/lab-status.json, read by the dpkg-query stand-in),
and the `apt` operation. Each role's own packages and the files they write come from
lab/roles (found by role). Must not: name a role's module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodeswap.errors import LabError

from . import hostroot, roles
from .labhost import Host

JSON = dict[str, Any]
COMMON = ("pitrix-global-conf", "pitrix-alert-agent", "pitrix-hosts")
INSTALLED_EVERYWHERE = ("pitrix-hosts", "pitrix-global-conf")


def repo_packages() -> tuple[str, ...]:
    """Every package in firstbox's repository, in build order (role-free ones first)."""
    return COMMON + tuple(p for r in roles.all_roles() for p in r.packages)


def initial_packages(role: str, t: JSON) -> list[str]:
    """The packages of a node of ``role`` as the zone was installed."""
    own = roles.for_role(role)
    return [*INSTALLED_EVERYWHERE, *(own.initial(t) if own else ())]


def render_program(name: str) -> str:
    return (f"[program:{name}]\ncommand=/pitrix/bin/{name}\nautostart=true\n"
            "autorestart=true\n")


def release_of(root: Path) -> str:
    """The node's OS release (DISTRIB_RELEASE of its /etc/lsb-release), '' if unknown."""
    path = root / "etc/lsb-release"
    if not path.exists():
        return ""
    lsb = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return lsb.get("DISTRIB_RELEASE", "")


class Packages:
    """Installs on the zone's nodes: what each package writes (roles render their own)."""

    def __init__(self, t: JSON, root: Callable[[str], Path], etc_hosts: Callable[[], str],
                 changed: Callable[[], None]) -> None:
        self.t = t
        self.root = root  # a host's root folder, by instance id
        self.etc_hosts = etc_hosts  # the zone's /etc/hosts as installed
        self.changed = changed  # after an install: the VIP may move (keepalived)

    @property
    def fb_root(self) -> Path:
        return self.root("firstbox")

    def write_repo(self) -> None:
        """firstbox's repository: every package for each OS release prepared (R4)."""
        for ver in self.t["prepared"]:
            repo = self.fb_root / "pitrix/repo" / ver
            for pkg in repo_packages():
                hostroot.write(repo / f"{pkg}_1.0.{ver}_all.deb", f"{pkg}\n")

    def install_initial(self, h: Host) -> None:
        """A VM's packages as the zone was installed (the old installer's file layout)."""
        self.install(h, initial_packages(h.role, self.t), old_installer=True)

    def install(self, h: Host, pkgs: list[str], *, old_installer: bool = False) -> None:
        """What each package writes on a node (role packages: their lab/roles module)."""
        root = self.root(h.iid)
        status_path = root / "var/lib/dpkg/lab-status.json"
        installed: dict[str, str] = json.loads(status_path.read_text()) if status_path.exists() \
            else {}
        os_version = release_of(root) or self.t["os"][1]
        for p in pkgs:
            installed[p] = f"1.0.{os_version}"
        hostroot.write(status_path, json.dumps(installed, indent=1))
        if "pitrix-hosts" in pkgs:
            built = self.fb_root / "pitrix/build/packages/deb/pitrix-hosts/hosts"
            hostroot.write(root / "etc/hosts", built.read_text() if built.exists()
                           else self.etc_hosts())
        install = roles.Install(h, root, self.t, tuple(pkgs), tuple(installed), old_installer)
        for role in roles.all_roles():
            if any(p in role.packages for p in pkgs):
                role.render(install)
        for role in roles.all_roles():
            for p in pkgs:
                for prog in role.programs.get(p, ()):
                    hostroot.write(root / f"etc/supervisor/conf.d/{prog}.conf",
                                   render_program(prog))

    def op_apt(self, caller: Host | None, body: JSON) -> JSON:
        """apt-get install on a node: packages must be in firstbox's repo of the node's OS."""
        assert caller is not None
        repo = self.fb_root / "pitrix/repo" / release_of(self.root(caller.iid))
        pkgs = list(body["packages"])
        missing = [p for p in pkgs if not list(repo.glob(f"{p}_*"))]
        if missing:
            raise LabError(f"Unable to locate package {missing[0]}")
        self.install(caller, pkgs)
        self.changed()
        return {"installed": pkgs}
