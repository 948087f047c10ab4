"""How long the lab's stand-ins take: off (the default: every operation is immediate) or
``realistic`` (real-world figures scaled down, so a benchmark can compare whole runs).

Owns the table of figures (real seconds, and where each comes from) and the profiles that
scale them. The waits themselves happen in the lab, never in nodeswap: the controller waits
before a booting host's sshd starts and before a shut-down host stops answering (power.py,
libvirt.py), before a launch or an install_node answers (zone.py); the stand-ins inside the
hosts wait in `apt-get` and `update.sh` (their delays are in each host's /lab/host.json).
Must not: import anything outside the standard library and this package's errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodeswap.errors import LabError
from nodeswap.i18n import _


@dataclass(frozen=True)
class Figure:
    """One real-world duration the lab imitates, and where the figure comes from."""

    real_s: float
    what: str
    source: str


# Neither the runbook (/work/shared/spec/runbook-proxy-upgrade.md) nor the reference notes
# (/work/shared/reference/pitrix.md) give durations: every figure below is an ESTIMATE for
# a KVM guest of 4 vCPUs / 8 GB running Ubuntu 16.04/18.04 on a QingCloud physical host,
# firstbox serving the packages on the same management network.
FIGURES: dict[str, Figure] = {
    "vm_boot": Figure(60.0, "a VM from power-on (virsh start, reboot) until sshd answers",
                      "estimate: SeaBIOS + kernel + systemd of an Ubuntu cloud image"),
    "host_boot": Figure(180.0, "a physical host from power-on until sshd answers",
                        "estimate: server POST/firmware (~2 min) + Ubuntu boot"),
    "shutdown": Figure(10.0, "`shutdown -h|-r now` / `virsh shutdown` until the host stops "
                       "answering", "estimate: systemd stopping supervisord and units"),
    "launch": Figure(30.0, "launch_vms.sh per VM: qcow2 overlay, domain XML, define, start",
                     "estimate: reference section 4 lists the work, not its duration"),
    "install_node": Figure(45.0, "install_nodes.sh per node: os, network, disk, optimize, "
                           "post", "estimate: reference section 4 lists the components"),
    "apt_update": Figure(8.0, "`apt-get update` against firstbox's repository",
                         "estimate: a LAN mirror, a few package indexes"),
    "apt_install": Figure(25.0, "one `apt-get install` of pitrix packages (download from "
                          "firstbox, unpack, postinst restarting services)",
                          "estimate"),
    "update_node": Figure(5.0, "update.sh's own work per node around apt (ping, ssh, "
                          "dpkg --configure -a, log)", "estimate"),
}

# A profile scales every figure by one factor: 0 is today's lab (no waits).
PROFILES: dict[str, float] = {"off": 0.0, "realistic": 1.0 / 30.0}


def check_profile(name: str) -> str:
    """A profile name, or LabError naming the known ones (`lab up --timing`)."""
    if name not in PROFILES:
        raise LabError(_("unknown timing {name!r}: one of {profiles}").format(name=name,
                         profiles=', '.join(PROFILES)))
    return name


def delays(profile: str) -> dict[str, float]:
    """The lab's waits in seconds for a profile: each figure times the profile's scale."""
    scale = PROFILES[check_profile(profile)]
    return {k: round(f.real_s * scale, 3) for k, f in FIGURES.items()}


def public(profile: str) -> dict[str, object]:
    """lab.json's ``timing``: the profile, its scale and the waits it makes (seconds)."""
    return {"profile": profile, "scale": PROFILES[check_profile(profile)],
            "delays": delays(profile)}


def reboot_s(profile: str, kind: str = "vm") -> float:
    """How long a reboot of a host of this kind keeps it from answering in the lab
    (shutdown, then boot), in the lab's seconds."""
    d = delays(profile)
    return d["shutdown"] + d["vm_boot" if kind == "vm" else "host_boot"]
