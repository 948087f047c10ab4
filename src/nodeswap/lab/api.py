"""The Lab API: bring a lab up, read its lab.json, inject faults, take it down.

Used by `nodeswap lab ...`, the test fixtures and the benchmarks. It starts exactly one
process, the controller (recorded with its start time), and talks to it over HTTP on
127.0.0.1. `down` asks the controller to stop; whatever is still recorded and alive after
that (a crashed controller) is stopped here, by recorded PID, and unmounted.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeswap.errors import LabError
from nodeswap.i18n import _

from . import faults
from . import timing as timing_
from . import topology as topologies
from .netns import NetRecords
from .netroute import netns_unavailable
from .system import (
    ProcRecord,
    Records,
    kill_pids,
    mounts_under,
    processes_under,
    release_all,
    safe_rmtree,
    wait_until,
)

DEFAULT_STATE_ROOT = Path("/var/lib/nodeswap-lab")
DEFAULT_STATE_DIR = DEFAULT_STATE_ROOT / "default"
TOPOLOGY_DIR = topologies.TOPOLOGY_DIR
resolve_topology = topologies.resolve_topology  # kept here: callers import it from the API
CONTROLLER_MARKER = "nodeswap.lab.controller"
NETS = ("auto", "loopback", "netns")
JSON = dict[str, Any]


@dataclass(frozen=True)
class LabHost:
    """One host as lab.json lists it."""

    key: str
    name: str
    address: str
    role: str
    kind: str
    up: bool


@dataclass(frozen=True)
class LabInfo:
    """The contract of lab.json (what tests and tools rely on)."""

    path: Path
    firstbox: str | None
    hosts: dict[str, LabHost]
    user: str
    identity_file: str
    known_hosts: str
    raw: JSON

    @classmethod
    def from_file(cls, path: Path) -> LabInfo:
        data = json.loads(path.read_text())
        hosts = {k: LabHost(k, v.get("hostname", k), v["address"], v["role"], v["kind"],
                            bool(v.get("up", True)))
                 for k, v in data["hosts"].items()}
        ssh = data["ssh"]
        return cls(path, data.get("firstbox"), hosts, ssh["user"], ssh["identity_file"],
                   ssh["known_hosts"], data)

    def address(self, name: str) -> str:
        return self.hosts[name].address

    def ssh_command(self, name_or_address: str, *remote: str) -> list[str]:
        """A plain `ssh` command line (strict host keys, the lab's key) to a host."""
        host = self.hosts.get(name_or_address)
        target = host.address if host is not None else name_or_address
        ssh = self.raw["ssh"]
        if ssh.get("jump"):  # a netns lab: through firstbox's /30 (docs/lab-netns.md)
            return ["ssh", "-F", ssh["config"], "-J", ssh["jump"], f"{self.user}@{target}",
                    *remote]
        return ["ssh", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "KexAlgorithms=curve25519-sha256", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=5", "-i", self.identity_file,
                f"{self.user}@{target}", *remote]


class Lab:
    """A lab's state directory and its controller."""

    def __init__(self, state_dir: Path = DEFAULT_STATE_DIR) -> None:
        self.dir = Path(state_dir).absolute()
        self.records = Records(self.dir)

    # ------------------------------------------------------------------ up

    @classmethod
    def up(cls, state_dir: Path = DEFAULT_STATE_DIR, *, hosts: int | None = None,
           topology: str | None = None, key_types: Sequence[str] | None = None,
           timeout: float | None = None, timing: str = "off", net: str = "loopback") -> Lab:
        """Start a lab: N plain hosts, or a zone from a topology name or YAML file.
        ``timing``: "off" (every operation at once) or "realistic" (boots, shutdowns,
        launches, installs and apt take scaled-down real times: lab/timing.py).
        ``net``: "loopback" (hosts on 127/8), "netns" (a zone's hosts in their own network
        namespaces, reached through firstbox: docs/lab-netns.md; zone labs only) or "auto"
        (netns for a zone lab where it can run, with lab.json's ``net_note`` saying why
        not; loopback for plain hosts).

        Raises LabError if a lab already runs in ``state_dir`` or it does not come up.
        """
        lab = cls(state_dir)
        if lab.running():
            raise LabError(_("a lab is already running in {dir} (controller pid {pid}); "
                             "`nodeswap lab down` first").format(dir=lab.dir,
                             pid=lab._controller_record().pid))
        lab.cleanup()
        if net not in NETS or (net == "netns" and hosts is not None):
            raise LabError(_("--net {net!r}: one of {nets} (netns for a topology only: --hosts "
                             "labs are always loopback)").format(net=net, nets=", ".join(NETS)))
        config = {**lab._config(hosts, topology, key_types),
                  "timing": timing_.check_profile(timing), "net": net}
        # why this zone cannot be a netns lab: refused with --net netns, loopback with auto
        why = netns_unavailable(config["zone"]) if hosts is None and net != "loopback" else None
        if why and net == "netns":
            raise LabError(_("--net netns: topology {topology}: {why}").format(
                topology=topology, why=why))
        if net == "auto":  # a zone on a real network where this machine can make one
            config["net"] = "netns" if hosts is None and why is None else "loopback"
            if why:
                config["net_note"] = why
        lab.dir.mkdir(parents=True, exist_ok=True)
        lab.dir.chmod(0o755)
        _check_state_path(lab.dir)
        lab.records.ensure()
        (lab.dir / "config.json").write_text(json.dumps(config, indent=2))
        # Labs side by side pick their loopback block by probing which addresses are free:
        # one lab at a time from the probe until its sshds listen, or two could pick the same.
        with _startup_lock(DEFAULT_STATE_ROOT):
            lab._spawn_controller()
            n = hosts or 20
            lab._wait_up(timeout or 60.0 + 0.3 * n)
        return lab

    def _config(self, hosts: int | None, topology: str | None,
                key_types: Sequence[str] | None) -> JSON:
        if (hosts is None) == (topology is None):
            raise LabError(_("give either a number of plain hosts or a topology, not both"))
        if hosts is not None:
            default = ["ed25519", "rsa"] if hosts <= 64 else ["ed25519"]
            kinds = list(key_types) if key_types else default
            return {"mode": "plain", "hosts": hosts, "key_types": kinds, "topology": None}
        path = resolve_topology(topology or "default")
        data = topologies.load(path)
        return {"mode": "zone", "topology": str(path), "zone": data,
                "key_types": list(key_types or ["ed25519", "rsa"])}

    def _spawn_controller(self) -> None:
        log = (self.dir / "controller.log").open("ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = src + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen([sys.executable, "-m", CONTROLLER_MARKER, str(self.dir)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, cwd="/", env=env)
        log.close()
        rec = ProcRecord.of(proc.pid, f"{CONTROLLER_MARKER} {self.dir}", "controller")
        self.records.add_proc(rec)
        self._proc = proc

    def _wait_up(self, timeout: float) -> None:
        ready, failed = self.dir / "ready", self.dir / "failed"
        wait_until(lambda: ready.exists() or failed.exists() or self._proc.poll() is not None,
                   timeout, 0.02)
        if ready.exists():
            return
        if failed.exists():
            why = failed.read_text().strip()
        elif self._proc.poll() is not None:
            why = _("controller exited")
        else:
            why = _("not up after {timeout:.0f}s").format(timeout=timeout)
        self.down()
        raise LabError(_("lab did not come up in {dir}: {why} (see {dir}/controller.log)").format(
            dir=self.dir, why=why))

    # ------------------------------------------------------------------ state

    def _controller_record(self) -> ProcRecord:
        recs = [r for r in self.records.proc_records() if r.what == "controller"]
        if not recs:
            raise LabError(_("no lab in {dir}").format(dir=self.dir))
        return recs[-1]

    def running(self) -> bool:
        try:
            return self._controller_record().is_alive() and (self.dir / "ready").exists()
        except LabError:
            return False

    def info(self) -> LabInfo:
        path = self.dir / "lab.json"
        if not path.exists():
            raise LabError(_("no lab.json in {dir}: is a lab up there?").format(dir=self.dir))
        return LabInfo.from_file(path)

    def call(self, op: str, **body: Any) -> JSON:
        """One admin call to the controller (see README: controller protocol)."""
        ctl = json.loads((self.dir / "controller.json").read_text())
        if not ctl["url"].startswith("http://127."):
            raise LabError(_("controller URL {url!r} is not on loopback").format(url=ctl["url"]))
        headers = {"X-Lab-Token": ctl["token"], "Content-Type": "application/json"}
        url = ctl["url"] + "/op/" + op
        req = urllib.request.Request(url, json.dumps(body).encode(), headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
                data: JSON = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            data = json.loads(exc.read() or b"{}")
            raise LabError(_("lab controller refused {op}: {error}").format(op=op,
                             error=data.get("error", exc))) from exc
        except OSError as exc:
            raise LabError(_("lab controller in {dir} does not answer: {exc}").format(dir=self.dir,
                             exc=exc)) from exc
        return data

    def status(self) -> JSON:
        if not self.running():
            return {"running": False, "state_dir": str(self.dir),
                    "leftover_processes": len(self.records.live_procs()),
                    "leftover_mounts": len(self.records.live_mounts())}
        return {"running": True, "state_dir": str(self.dir), **self.call("status")}

    # ------------------------------------------------------------------ down

    def down(self, timeout: float = 60.0) -> JSON:
        """Stop the lab: idempotent, and complete even if the controller has crashed."""
        stopped_ctl = False
        try:
            rec = self._controller_record()
        except LabError:
            rec = None
        if rec is not None and rec.is_alive():
            try:
                self.call("shutdown")
                stopped_ctl = wait_until(lambda: not rec.is_alive(), timeout, 0.02)
            except LabError:
                stopped_ctl = False
        leftovers, unmounted = release_all(self.records)
        strays = self._kill_strays()
        net = NetRecords(self.dir).teardown()  # after the processes: by recorded name
        for name in ("ready", "failed", "lab.json", "controller.json"):
            (self.dir / name).unlink(missing_ok=True)
        return {"controller_stopped": stopped_ctl, "forced": leftovers, "unmounted": unmounted,
                "stray_processes": len(strays), "net_removed": net}

    def _kill_strays(self, settle: float = 1.0) -> list[int]:
        """Kill what still runs in a host root (sessions), again until none shows up for
        ``settle`` seconds: a session mid-login when its sshd stopped enters its chroot only
        after the first look."""
        killed: list[int] = []
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            found = processes_under(self.dir / "hosts") + processes_under(self.dir / "hostdata")
            if found:
                killed += kill_pids(found)
                deadline = time.monotonic() + settle
            else:
                time.sleep(0.05)
        return killed

    def cleanup(self) -> None:
        """Remove a stopped lab's files (refuses while anything is mounted below)."""
        if self.running():
            raise LabError(
                _("lab in {dir} is running; `nodeswap lab down` first").format(dir=self.dir))
        if self.dir.exists():
            self.down()
            if mounts_under(self.dir):
                raise LabError(_("mounts remain under {dir}: {mounts}").format(dir=self.dir,
                                 mounts=mounts_under(self.dir)[:3]))
            safe_rmtree(self.dir)

    # ------------------------------------------------------------------ faults

    def fault(self, kind: str, **params: Any) -> JSON:
        """Inject a fault (kinds and parameters: lab/README.md, "Fault API")."""
        _check_fault(kind)
        return self.call("fault", kind=kind, **params)

    def counts(self) -> dict[str, int]:
        """How many times each zone-changing operation succeeded (launches, installs, virsh
        actions, power, apt installs, services), keyed ``op:host:what`` (lab.zone.op_key)."""
        return {str(k): int(v) for k, v in self.call("counts")["counts"].items()}

    def clear_fault(self, kind: str, **params: Any) -> JSON:
        _check_fault(kind)
        return self.call("fault", kind=kind, clear=True, **params)


@contextmanager
def _startup_lock(root: Path) -> Iterator[None]:
    """An exclusive flock on ROOT/.startup.lock (released when the holder exits, even killed)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".startup.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_fault(kind: str) -> None:
    if kind not in faults.FAULTS:
        raise LabError(_("unknown fault {kind!r}: one of {kinds}").format(kind=kind,
                         kinds=', '.join(faults.KINDS)))


def _check_state_path(path: Path) -> None:
    """sshd refuses a chroot below a group/world-writable folder: say so before it does."""
    for part in [path, *path.parents]:
        st = part.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise LabError(_("state dir {path} is below {part} (owner uid {uid}, mode "
                             "{mode:o}): sshd refuses chroots under a folder not owned by "
                             "root or writable by group/others; use e.g. "
                             "{root}/NAME").format(path=path, part=part,
                             uid=st.st_uid, mode=st.st_mode & 0o777,
                             root=DEFAULT_STATE_ROOT))


def wait_for(cond: Any, timeout: float, what: str) -> None:
    """Wait for a condition with a deadline (tests use this instead of sleeping)."""
    if not wait_until(cond, timeout, 0.02):
        raise LabError(_("timed out after {timeout:.0f}s waiting for {what}").format(
            timeout=timeout, what=what))


def now() -> float:
    return time.monotonic()
