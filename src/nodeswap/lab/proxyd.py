"""Real haproxy, keepalived and webservice backends in a `--net netns` lab (issue 10).

In a netns lab every proxy VM that is up runs Debian's `/usr/sbin/haproxy` from a runtime copy
of ITS OWN `/etc/haproxy/haproxy.cfg` and `/usr/sbin/keepalived` from a runtime copy of its
own `/etc/keepalived/keepalived.conf`, each in the VM's network namespace (`nsenter
--net=/run/netns/NS`); every webservice VM that is up runs ``webserve.py`` (the backends and
the console page). Which services should run is the VM's service state (lab/services.py:
`service haproxy stop`, a boot); ``sync`` makes the processes follow it. The VIP is where
keepalived put it: ``holder`` reads `ip -n NS -4 -o addr show dev eth0`.

Files (the lab's state, outside the host root): ``hostdata/<iid>/{haproxy.cfg,haproxy.pid,
haproxy.log, keepalived.conf, keepalived*.pid, keepalived.log, check_haproxy.sh,
webserve.log}``. Every process is recorded in records/procs.jsonl when started and ended by
that PID only (``stop``, ``close``). Must not: start anything outside a lab namespace, end a
process it did not start, or touch another lab's files.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from nodeswap.errors import LabError

from .labhost import Host, Machines
from .services import is_running, set_running
from .system import ProcRecord, Records, stop_process, wait_until

HAPROXY = "/usr/sbin/haproxy"
KEEPALIVED = "/usr/sbin/keepalived"
WEBSERVE = Path(__file__).with_name("webserve.py")
BACKEND_PORTS = (7777, 8565, 8000)
WAREHOUSE_PORT = 8856
CONSOLE_PORT = 80
MAXCONN = 2000  # haproxy -n: connections per lab haproxy (the controller's nofile is shared)
FORCED_PRIORITY = 254  # the fault vip-to: that VM's keepalived outbids every other
# haproxy.cfg `global` lines that name the VM's own paths or detach: left out of the runtime copy
DROPPED = re.compile(r"^\s*(daemon|pidfile|chroot|user|group|stats\s+socket|nbproc)\b")


def runtime_haproxy(text: str) -> str:
    """The VM's haproxy.cfg as the lab runs it: in the foreground (no `daemon`), with no path
    of the VM's root (chroot, pidfile, stats socket) and as root. Everything else as written:
    a wrong haproxy.cfg breaks the lab's haproxy as it would the VM's."""
    return "".join(line for line in text.splitlines(keepends=True) if not DROPPED.match(line))


def runtime_keepalived(text: str, check: Path, priority: int | None = None) -> str:
    """The VM's keepalived.conf as the lab runs it: its vrrp_script checks THIS VM's haproxy
    (``check``: its recorded PID) rather than `killall -0 haproxy` (every lab's haproxy runs on
    this machine), scripts run as root; ``priority`` (a fault) replaces every priority."""
    out = re.sub(r'(?m)^(\s*script\s+).*$', lambda m: f'{m.group(1)}"{check}"', text)
    if priority is not None:
        out = re.sub(r"(?m)^(\s*priority\s+)\d+", lambda m: f"{m.group(1)}{priority}", out)
    return "global_defs {\n    script_user root\n}\n" + out


def holder_of(vip: str, addr_output: str) -> bool:
    """Does `ip -4 -o addr show dev eth0` list ``vip``?"""
    return any(f" inet {vip}/" in f" {line}" for line in addr_output.splitlines())


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    rec: ProcRecord
    key: str  # what it was started for (a change restarts it)


class ProxyDaemons:
    """The real processes of one netns lab's proxy and webservice VMs."""

    def __init__(self, machines: Machines, vip: str, zone_id: str, warehouse: bool) -> None:
        self.machines = machines
        self.vip = vip
        self.zone_id = zone_id
        self.warehouse = warehouse
        self.records = Records(machines.dir)
        self.lock = threading.RLock()
        self.running: dict[tuple[str, str], Running] = {}
        # fault vip-to: this VM's keepalived, started now (or once its package wrote its
        # keepalived.conf), outbids the others; clearing it changes nothing until it restarts
        # (keepalived reads its priority at start), as in the loopback lab, where the VIP
        # stays without preemption until the remedy (`service keepalived stop`)
        self.forced: str | None = None
        self.closed = False

    # ------------------------------------------------------------------ what should run

    def wanted(self, h: Host) -> dict[str, str]:
        """``{service: key}`` that should run on ``h`` now (key: what it is started for)."""
        if not h.up or not h.extra.get("netns"):
            return {}
        root = self.machines.paths(h.iid).root
        if h.role == "webservice":
            return {"webserve": "on"}
        out: dict[str, str] = {}
        if h.extra.get("keepalived"):
            if is_running(root, "haproxy"):
                out["haproxy"] = "on"
            if is_running(root, "keepalived"):
                out["keepalived"] = "on"
        return out

    def sync(self) -> None:
        """Start what should run and is not, stop what runs and should not (by recorded PID)."""
        with self.lock:
            if self.closed:
                return
            self.reap()
            with self.machines.lock:
                hosts = list(self.machines.hosts.values())
            want = {(h.iid, s): (h, key) for h in hosts for s, key in self.wanted(h).items()}
            for k, r in list(self.running.items()):
                if k not in want or want[k][1] != r.key:
                    self._end(k)
            # the backends first (haproxy's first health checks find them), keepalived last
            order = {"webserve": 0, "haproxy": 1, "keepalived": 2}
            for (iid, service), (h, key) in sorted(want.items(),
                                                   key=lambda kv: (order[kv[0][1]], kv[0])):
                if (iid, service) not in self.running:
                    self._start(h, service, key)
                    if service == "keepalived" and self.forced == iid:
                        self.wait_holder(iid)  # the fault vip-to: taken before going on

    def reap(self) -> None:
        """A process that exited by itself (a broken haproxy.cfg) leaves its service down:
        done before a `service` call changes what should run (``Power.op_service``)."""
        with self.lock:
            for k, r in list(self.running.items()):
                if r.proc.poll() is not None:
                    self._end(k)
                    self._down(k)

    def restart(self, h: Host, service: str) -> None:
        """`service NAME restart`: the running process ends, ``sync`` starts a new one."""
        with self.lock:
            if (h.iid, service) in self.running:
                self._end((h.iid, service))

    def stop(self, h: Host) -> None:
        """The VM goes down: keepalived first (it gives the VIP away at once, as at a
        shutdown), then haproxy and the backends."""
        with self.lock:
            for service in ("keepalived", "haproxy", "webserve"):
                if (h.iid, service) in self.running:
                    self._end((h.iid, service))

    def close(self) -> None:
        """`lab down`: every process ended by its recorded PID."""
        with self.lock:
            self.closed = True
            for k in sorted(self.running, key=lambda k: k[1] != "keepalived"):
                self._end(k)

    def pids(self) -> dict[str, int]:
        with self.lock:
            return {f"{s} {iid}": r.rec.pid for (iid, s), r in self.running.items()}

    # ------------------------------------------------------------------ the VIP

    def holder(self) -> str | None:
        """The proxy VM whose `eth0` carries the VIP now (read from its namespace)."""
        with self.machines.lock:
            hosts = [h for h in self.machines.hosts.values()
                     if h.up and h.extra.get("keepalived") and h.extra.get("netns")]
        for h in sorted(hosts, key=lambda h: h.iid):
            out = subprocess.run(["ip", "-n", h.extra["netns"], "-4", "-o", "addr", "show",
                                  "dev", "eth0"], capture_output=True, text=True, check=False)
            if holder_of(self.vip, out.stdout):
                return h.iid
        return None

    def wait_holder(self, iid: str, timeout: float = 15.0) -> bool:
        """Wait (deadline) until ``iid`` holds the VIP (the fault vip-to)."""
        return wait_until(lambda: self.holder() == iid, timeout, 0.1)

    # ------------------------------------------------------------------ processes

    def _files(self, h: Host) -> Path:
        return self.machines.paths(h.iid).data

    def _argv(self, h: Host, service: str, key: str) -> list[str] | None:
        data, root = self._files(h), self.machines.paths(h.iid).root
        if service == "webserve":
            ports = [*BACKEND_PORTS, *([WAREHOUSE_PORT] if self.warehouse else []), CONSOLE_PORT]
            return [sys.executable, "-I", str(WEBSERVE), "--name", h.name, "--zone",
                    self.zone_id, "--marker", str(data / "webserve.log"),
                    "--ports", *map(str, ports)]
        if service == "haproxy":
            cfg = root / "etc/haproxy/haproxy.cfg"
            if not cfg.exists():
                return None
            (data / "haproxy.cfg").write_text(runtime_haproxy(cfg.read_text()))
            # -n: the lab's file limit (maxconn 40960 needs 80k descriptors per haproxy)
            return [HAPROXY, "-db", "-n", str(MAXCONN), "-f", str(data / "haproxy.cfg")]
        conf = root / "etc/keepalived/keepalived.conf"
        if not conf.exists():
            return None
        check = data / "check_haproxy.sh"
        check.write_text(f"#!/bin/sh\n# {h.iid}: is this VM's haproxy alive?\n"
                         f'exec kill -0 "$(cat {data / "haproxy.pid"})"\n')
        check.chmod(0o700)
        prio = FORCED_PRIORITY if self.forced == h.iid else None  # read at its start
        (data / "keepalived.conf").write_text(runtime_keepalived(conf.read_text(), check, prio))
        return [KEEPALIVED, "-n", "-l", "-D", "-G", "-P", "-f", str(data / "keepalived.conf"),
                "-p", str(data / "keepalived.pid"), "-r", str(data / "keepalived_vrrp.pid"),
                "-c", str(data / "keepalived_checkers.pid")]

    def _start(self, h: Host, service: str, key: str) -> None:
        argv = self._argv(h, service, key)
        if argv is None:
            return
        data = self._files(h)
        log_path = data / f"{service}.log"
        marker = argv[argv.index("-f") + 1] if "-f" in argv else str(log_path)
        with log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} start {service} on {h.iid}\n".encode())
            log.flush()
            proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{h.extra['netns']}", *argv],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        try:
            rec = ProcRecord.of(proc.pid, marker, f"{service} {h.iid}")
        except LabError:  # exited at once (a broken haproxy.cfg): logged, not running
            proc.wait()
            self._down((h.iid, service))
            return
        self.records.add_proc(rec)
        self.running[(h.iid, service)] = Running(proc, rec, key)
        if service == "haproxy":
            (data / "haproxy.pid").write_text(f"{proc.pid}\n")

    def _down(self, k: tuple[str, str]) -> None:
        """A service whose process exited by itself is not running (`service X status`
        says so; `service X start` tries again), as systemd would leave it."""
        iid, service = k
        if service in ("haproxy", "keepalived") and iid in self.machines.hosts:
            set_running(self.machines.paths(iid).root, service, False)

    def _end(self, k: tuple[str, str]) -> None:
        r = self.running.pop(k)
        if r.proc.poll() is None:
            stop_process(r.rec)
        with contextlib.suppress(subprocess.TimeoutExpired):
            r.proc.wait(timeout=5)
