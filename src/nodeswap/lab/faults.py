"""Fault injection: the ``FAULTS`` table, one small handler per kind (lab/README.md, "Fault
API"). The table is the list of kinds: the controller's `fault` operation, ``Lab.fault`` and
`nodeswap lab fault KIND` all take their kinds (and refuse unknown ones) from it.

A handler gets the zone as a ``FaultTarget`` (hosts by name, their roots, power and VIP,
the fault state), the request's parameters, and whether to clear; it answers what it did.
Must not: start a process it does not record in ``FaultState`` (the lab ends those), or
touch an address outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import hostroot

if TYPE_CHECKING:
    from .labhost import Host, Machines
    from .power import Power

JSON = dict[str, Any]


@dataclass
class FaultState:
    """What faults leave running or marked (guarded by the controller's lock)."""

    squatters: dict[str, socket.socket] = field(default_factory=dict)  # address-taken
    foreign_jobs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    disk_full: set[str] = field(default_factory=set)  # physical iids

    def close(self) -> None:
        """End what faults started: squatting sockets, foreign jobs."""
        for s in self.squatters.values():
            s.close()
        for job in list(self.foreign_jobs.values()):
            end_job(job)
        self.foreign_jobs.clear()


class FaultTarget(Protocol):
    """The zone as fault handlers see it."""

    faults: FaultState
    power: Power
    machines: Machines
    firstbox: JSON  # the topology's firstbox: name, address

    def find(self, name: str) -> Host: ...
    def root(self, iid: str) -> Path: ...


Handler = Callable[[FaultTarget, JSON, bool], JSON]


def host_down(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    h = z.find(body["host"])
    with z.power.lock:
        if clear:
            z.power.boot(h)
        else:
            z.power.halt(h)
    return {"host": h.iid}


def host_hang(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    h = z.find(body["host"])
    z.machines.stall_host(h, not clear)
    return {"host": h.iid}


def _script(z: FaultTarget, body: JSON, clear: bool, script: str) -> JSON:
    """A plain name is shadowed on PATH (/lab/faults/bin); an absolute path (a Pitrix
    script such as /pitrix/upgrade/update.sh, which callers run by its path) is replaced
    in the host root, its original kept beside it and put back on clear."""
    h = z.find(body["host"])
    cmd = body["command"]
    if cmd.startswith("/"):
        return _replace_path(z.root(h.iid), h, cmd, clear, script)
    if "/" in cmd or not cmd:
        raise ValueError(f"command must be a plain name or an absolute path, not {cmd!r}")
    path = z.root(h.iid) / "lab/faults/bin" / cmd
    if clear:
        path.unlink(missing_ok=True)
    else:
        hostroot.write(path, script.format(cmd=cmd), 0o755)
    return {"host": h.iid, "command": cmd}


def _replace_path(root: Path, h: Host, cmd: str, clear: bool, script: str) -> JSON:
    parts = Path(cmd).parts[1:]
    if not parts or ".." in parts or parts[0] in ("usr", "bin", "sbin", "lib", "lib64",
                                                   "dev", "proc"):
        raise ValueError(f"cannot fault {cmd!r}: a path in the host's own root is needed")
    path = root.joinpath(*parts)
    keep = path.with_name(path.name + ".lab-orig")
    if clear:
        if keep.exists():
            keep.replace(path)
    else:
        if not path.exists():
            raise LookupError(f"no {cmd} on {h.iid}")
        if not keep.exists():
            path.replace(keep)
        hostroot.write(path, script.format(cmd=Path(cmd).name), 0o755)
    return {"host": h.iid, "command": cmd}


def command_fails(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    return _script(z, body, clear, "#!/bin/sh\necho \"{cmd}: injected failure\" >&2\nexit 1\n")


def command_hangs(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    return _script(z, body, clear, "#!/bin/sh\nexec sleep 3600\n")


def supervisor_fatal(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    h = z.find(body["host"])
    path = z.root(h.iid) / "lab/state/faults.json"
    faults = json.loads(path.read_text()) if path.exists() else {}
    fatal = set(faults.get("fatal", []))
    (fatal.discard if clear else fatal.add)(body["program"])
    faults["fatal"] = sorted(fatal)
    hostroot.write(path, json.dumps(faults))
    return {"host": h.iid, "program": body["program"]}


def address_taken(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    addr = str(ipaddress.IPv4Address(body["address"]))
    if not addr.startswith("127."):
        raise ValueError(f"lab addresses are in 127.0.0.0/8, not {addr}")
    squatters = z.faults.squatters
    if clear:
        s = squatters.pop(addr, None)
        if s is not None:
            s.close()
    elif addr not in squatters:
        s = socket.socket()
        s.bind((addr, 22))
        s.listen(16)  # accepts TCP, never speaks SSH: "something else is there"
        squatters[addr] = s
    return {"address": addr}


def vip_to(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    z.power.force_vip(None if clear else z.find(body["host"]).iid)
    return {"vip_holder": z.power.vip_holder}


def disk_full(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    h = z.find(body["host"])
    (z.faults.disk_full.discard if clear else z.faults.disk_full.add)(h.iid)
    return {"host": h.iid}


def foreign_job(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    """R20: a job nodeswap did not start runs on the host (default firstbox): a script
    named like ``command`` (default update.sh), run by bash with ``args``, inside the
    host's root, sleeping until cleared (a process the lab records and ends)."""
    h = z.find(body.get("host") or z.firstbox["name"])
    name = Path(body.get("command") or "update.sh").name
    key = f"{h.iid}/{name}"
    jobs = z.faults.foreign_jobs
    if clear:
        job = jobs.pop(key, None)
        if job is not None:
            end_job(job)
        return {"host": h.iid, "command": name}
    if key not in jobs:
        root = z.root(h.iid)
        hostroot.write(root / "lab/faults/jobs" / name, "#!/bin/bash\nsleep 3600\n", 0o755)
        args = str(body.get("args") or "-f all pitrix-hosts").split()
        jobs[key] = subprocess.Popen(
            ["chroot", str(root), "/bin/bash", f"/lab/faults/jobs/{name}", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
    return {"host": h.iid, "command": name, "pid": jobs[key].pid}


def cron_push(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    """R20: a cron entry on the host (default firstbox) that pushes pitrix-hosts
    (/etc/cron.d/lab-pitrix-hosts; nothing runs it)."""
    h = z.find(body.get("host") or z.firstbox["name"])
    path = z.root(h.iid) / "etc/cron.d/lab-pitrix-hosts"
    if clear:
        path.unlink(missing_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        hostroot.write(path, "# pushed every night (lab fault)\n"
                       "0 3 * * * root /pitrix/upgrade/update.sh -f all pitrix-hosts\n")
    return {"host": h.iid, "path": "/etc/cron.d/lab-pitrix-hosts"}


def stale_hosts(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    """Issue 10: firstbox's /etc/hosts stays as it is (on the old VMs): the package builds
    (R18/R19, R30) leave it alone while the marker /lab/faults/stale-hosts is there."""
    h = z.find(z.firstbox["name"])
    path = z.root(h.iid) / "lab/faults/stale-hosts"
    if clear:
        path.unlink(missing_ok=True)
    else:
        hostroot.write(path, "firstbox's /etc/hosts is not refreshed by the builds\n")
    return {"host": h.iid, "path": "/lab/faults/stale-hosts"}


def haproxy_hand_edit(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    h = z.find(body["host"])
    cfg = z.root(h.iid) / "etc/haproxy/haproxy.cfg"
    marker = "# hand edit (lab fault)\n"
    text = cfg.read_text()
    block = (marker + "listen hand-made-front\n    bind 0.0.0.0:9999\n    balance source\n"
             f"    server hand_0 {z.firstbox['address']}:9999 check\n")
    if clear:
        text = text.split(marker)[0]
    elif marker not in text:
        text += "\n" + block
    cfg.write_text(text)
    return {"host": h.iid}


def interfaces_broken(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    """Issue 11: the VM's /etc/network/interfaces names another address (``address``), so
    its next boot comes back there (the wrong address); the original is kept beside it and
    put back on clear."""
    h = z.find(body["host"])
    addr = str(ipaddress.IPv4Address(body["address"]))
    if not addr.startswith("127."):
        raise ValueError(f"lab addresses are in 127.0.0.0/8, not {addr}")
    path = z.root(h.iid) / "etc/network/interfaces"
    keep = path.with_name("interfaces.lab-orig")
    if clear:
        if keep.exists():
            keep.replace(path)
        return {"host": h.iid}
    text = path.read_text()
    if not keep.exists():
        hostroot.write(keep, text)
    hostroot.write(path, re.sub(r"^(\s+address\s+)\S+", lambda m: m.group(1) + addr, text,
                                count=1, flags=re.M))
    return {"host": h.iid, "address": addr}


def boot_fails(z: FaultTarget, body: JSON, clear: bool) -> JSON:
    """Issue 11: the host's boots never complete (its domain runs, its address never
    answers) until cleared."""
    h = z.find(body["host"])
    if clear:
        h.extra.pop("boot_fails", None)
    else:
        h.extra["boot_fails"] = True
    return {"host": h.iid}


FAULTS: dict[str, Handler] = {
    "host-down": host_down,
    "host-hang": host_hang,
    "command-fails": command_fails,
    "command-hangs": command_hangs,
    "supervisor-fatal": supervisor_fatal,
    "address-taken": address_taken,
    "vip-to": vip_to,
    "disk-full": disk_full,
    "haproxy-hand-edit": haproxy_hand_edit,
    "foreign-job": foreign_job,
    "cron-push": cron_push,
    "stale-hosts": stale_hosts,
    "interfaces-broken": interfaces_broken,
    "boot-fails": boot_fails,
}
KINDS = tuple(FAULTS)


# kind -> (its parameters, what it does): the table of src/nodeswap/lab/README.md, "Fault
# API" (a unit test keeps the two equal); `nodeswap lab faults` prints it.
HELP: dict[str, tuple[str, str]] = {
    'host-down': (
        'host',
        'sshd stopped, sessions killed: ssh refused, ping fails (clear: boots it)'),
    'host-hang': (
        'host',
        'sshd frozen (SIGSTOP): TCP connects, no banner, ssh times out'),
    'command-fails': (
        'host, command',
        '`/lab/faults/bin/<command>` exits 1 ("injected failure"); an absolute path (e.g. '
        '`/pitrix/upgrade/update.sh`) is replaced in the host root instead, the original kept '
        'as `<path>.lab-orig` and put back on clear'),
    'command-hangs': (
        'host, command',
        'the same, sleeping an hour'),
    'supervisor-fatal': (
        'host, program',
        '`supervisorctl status` shows the program FATAL (exit 3)'),
    'address-taken': (
        'address',
        'the address answers ping and ARP (arping -D) and accepts TCP on :22 (never speaks '
        'SSH)'),
    'vip-to': (
        'host',
        'keepalived VIP moves to that host while it is eligible (R23); netns labs: that '
        'VM\'s real keepalived starts (or once R23 wrote its conf) with priority 254 and takes '
        'the VIP; clearing it leaves it running until `service keepalived stop`'),
    'disk-full': (
        'host',
        'launches on that physical host fail: "No space left on device"; `df` shows ~1 MiB '
        'available, 100%'),
    'haproxy-hand-edit': (
        'host',
        'a hand-made listener appended to its haproxy.cfg'),
    'foreign-job': (
        'host (default firstbox), command (default update.sh), args',
        "R20: a job nodeswap did not start: `/bin/bash /lab/faults/jobs/<command> <args>` "
        "(default args `-f all pitrix-hosts`) runs in the host's root, asleep, until "
        "cleared (the lab records and ends it)"),
    'cron-push': (
        'host (default firstbox)',
        'R20: `/etc/cron.d/lab-pitrix-hosts`, an entry that runs `update.sh -f all pitrix-'
        'hosts` every night (nothing runs it)'),
    'stale-hosts': (
        'none (firstbox)',
        "firstbox's /etc/hosts keeps the old VMs' addresses: the package builds (R18/R19, "
        "R30) no longer refresh it from the settings (the Pitrix scripts reach nodes by name)"),
    'interfaces-broken': (
        'host, address',
        "issue 11: the host's `/etc/network/interfaces` names `address` instead: its next boot "
        'comes back there (the wrong address); clear puts the file back'),
    'boot-fails': (
        'host',
        "issue 11: the host's boots never complete (a VM's domain runs, its address never "
        'answers) until cleared'),
}


def handler(kind: str) -> Handler:
    """The handler of a fault kind; LookupError naming the kinds when there is none."""
    found = FAULTS.get(kind)
    if found is None:
        raise LookupError(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")
    return found


def inject(z: FaultTarget, body: JSON) -> JSON:
    """The `fault` operation: inject (or clear) the fault of ``body['kind']``."""
    kind, clear = body["kind"], bool(body.get("clear"))
    result = handler(kind)(z, body, clear)
    z.machines.write_lab_json()
    return {"fault": kind, "cleared": clear, **result}


def end_job(job: subprocess.Popen[bytes]) -> None:
    """End a foreign job the lab started (its whole session: bash and its sleep)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=10)
