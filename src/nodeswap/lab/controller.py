"""The lab controller: one process that owns the lab's sshd processes, mounts and zone state.

Started by `nodeswap lab up` (``python -m nodeswap.lab.controller STATE_DIR``), it builds the
host roots, starts one sshd per host, writes lab.json, then serves a small HTTP/JSON API on
127.0.0.1 (protocol in lab/README.md) to the stand-ins inside the hosts and to the Lab API.
It stops on `POST /op/shutdown` or SIGTERM: every sshd it started, every session process
inside its host roots, every mount it made. Must not: start anything it does not record,
listen or connect outside 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nodeswap.errors import LabError
from nodeswap.i18n import _

from . import hostroot, netconf, netns, timing
from .hostroot import HostPaths
from .labhost import JSON, Host, port_free, ssh_banner
from .system import (
    ProcRecord,
    Records,
    kill_pids,
    mounted_targets,
    processes_under,
    raise_nofile,
    release_all,
    stop_process,
    unmount,
    wait_until,
)
from .zone import Zone

READY_TIMEOUT = 60.0


class Controller:
    """Owns hosts, their sshd processes and mounts; zone behaviour plugs in via ``zone``."""

    def __init__(self, state_dir: Path, config: JSON) -> None:
        self.dir = state_dir
        self.config = config
        self.records = Records(state_dir)
        self.lock = threading.RLock()
        self.lab_json = LatestWrite(state_dir / "lab.json")
        self.hosts: dict[str, Host] = {}
        self.procs: dict[str, tuple[subprocess.Popen[bytes], ProcRecord]] = {}
        self.key_types: tuple[str, ...] = tuple(config.get("key_types", hostroot.KEY_TYPES))
        self.admin_token = secrets.token_hex(16)
        self.url = ""
        self.ops: dict[str, Callable[[Host | None, JSON], JSON]] = {}
        self.stopping = threading.Event()
        self.zone: Zone | None = None
        self.ssh_dir = state_dir / "ssh"
        self.permit: tuple[str, ...] = ()  # sshd PermitOpen: the lab's own addresses:22
        self.timing = timing.check_profile(str(config.get("timing", "off")))

    # ------------------------------------------------------------------ building hosts

    def paths(self, iid: str) -> HostPaths:
        return HostPaths.of(self.dir, iid)

    def build_host(self, host: Host, hosts_text: str, authorized: list[str]) -> None:
        """Root folder, keys, mounts and sshd config of a new host (not started)."""
        paths = self.paths(host.iid)
        hostroot.make_root(paths, host.name, hosts_text, authorized)
        hostroot.generate_host_keys(paths, self.key_types)
        hostroot.mount_root(paths, self.records)
        hostroot.write_sshd_config(paths, host.address, self.key_types, self.permit)
        self.write_host_json(host)

    def write_host_json(self, host: Host) -> None:
        info = {"url": self.url, "token": host.token, "iid": host.iid, "name": host.name,
                "kind": host.kind, "delays": timing.delays(self.timing)}
        hostroot.write(self.paths(host.iid).root / "lab/host.json", json.dumps(info), 0o600)

    def lab_key(self) -> str:
        key = self.ssh_dir / "id_ed25519"
        if not key.exists():
            self.ssh_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nodeswap-lab",
                            "-f", str(key)], check=True)
        return (self.ssh_dir / "id_ed25519.pub").read_text().strip()

    # ------------------------------------------------------------------ sshd lifecycle

    def start_host(self, host: Host) -> None:
        """Start the host's sshd in its own UTS namespace and record it (not waiting)."""
        paths = self.paths(host.iid)
        # what `ip addr` shows until the next boot (hostinfo.links), as ifupdown (or netplan)
        # brought it up
        host.extra["boot_interfaces"] = netconf.config_text(paths.root)
        hostroot.write_sshd_config(paths, host.address, self.key_types, self.permit, _also(host))
        argv = hostroot.sshd_command(paths, host.name, host.extra.get("netns"))
        with paths.sshd_log.open("ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        marker = str(paths.sshd_config)
        wait_until(lambda: _cmdline_has(proc.pid, marker) or proc.poll() is not None, 5.0)
        if proc.poll() is not None:
            raise LabError(_("sshd of {iid} exited at once: {tail}").format(iid=host.iid,
                             tail=_tail(paths.sshd_log)))
        rec = ProcRecord.of(proc.pid, str(paths.sshd_config), f"sshd {host.iid}")
        self.records.add_proc(rec)
        with self.lock:
            self.procs[host.iid] = (proc, rec)
            host.up = True
            host.stalled = False

    def wait_ready(self, hosts: Iterable[Host], timeout: float = READY_TIMEOUT) -> None:
        """Wait until every host's sshd sends its SSH banner (deadline, no fixed sleeps)."""
        pending = {h.iid: h for h in hosts}
        deadline = time.monotonic() + timeout
        while pending:
            for iid, host in list(pending.items()):
                if _banner(host):
                    del pending[iid]
                    continue
                proc = self.procs.get(iid)
                if proc is not None and proc[0].poll() is not None:
                    raise LabError(_("sshd of {iid} died: {tail}").format(iid=iid,
                                     tail=_tail(self.paths(iid).sshd_log)))
            if pending and time.monotonic() > deadline:
                raise LabError(_("hosts not answering after {timeout:.0f}s: {pending}").format(
                    timeout=timeout, pending=sorted(pending)))
            if pending:
                time.sleep(0.02)

    def stop_host(self, host: Host) -> None:
        """Take a host off the network: its sshd and every process inside it end."""
        with self.lock:
            entry = self.procs.pop(host.iid, None)
            host.up = False
            host.stalled = False
            host.booting = 0  # a pending boot is cancelled (power off while booting)
        if entry is not None:
            proc, rec = entry
            stop_process(rec)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        paths = self.paths(host.iid)
        kill_pids(processes_under(paths.root) + processes_under(paths.data))

    def stall_host(self, host: Host, stalled: bool) -> None:
        """Fault: the host stops answering (sshd frozen; TCP connects, but no banner)."""
        entry = self.procs.get(host.iid)
        if entry is None:
            raise LabError(_("{iid} is not running").format(iid=host.iid))
        if entry[1].is_alive():
            os.kill(entry[1].pid, signal.SIGSTOP if stalled else signal.SIGCONT)
        host.stalled = stalled

    def destroy_host(self, host: Host) -> None:
        """Stop a host and delete its root (its mounts first)."""
        self.stop_host(host)
        paths = self.paths(host.iid)
        for sub in ("usr", "dev", *hostroot.OPTIONAL_LIBS):
            target = paths.root / sub
            if str(target) in _mounted():
                unmount(target)
        hostroot.remove_root(paths)
        with self.lock:
            self.hosts.pop(host.iid, None)

    # ------------------------------------------------------------------ lab.json

    def write_lab_json(self) -> None:
        """lab.json from the current state (request threads call this at once)."""
        with self.lock:
            ticket = self.lab_json.ticket()
            hosts = {json_key(self.hosts, h): h.public() for h in self.hosts.values()}
            firstbox = next((h.name for h in self.hosts.values() if h.kind == "firstbox"), None)
        data = {
            "firstbox": firstbox,
            "hosts": hosts,
            "ssh": {"user": "root", "identity_file": str(self.ssh_dir / "id_ed25519"),
                    "known_hosts": str(self.ssh_dir / "known_hosts")},
            "controller": {"url": self.url, "pid": os.getpid()},
            "state_dir": str(self.dir),
            "topology": self.config.get("topology"),
            "timing": timing.public(self.timing),
        }
        if self.config.get("net_note"):  # --net auto made it a loopback lab: why
            data["net_note"] = self.config["net_note"]
        if self.zone is not None:
            self.zone.publish(data)  # "zone", and a netns lab's ssh.jump and "net"
        self.lab_json.write(ticket, json.dumps(data, indent=2) + "\n")

    def write_known_hosts(self) -> None:
        """The lab's known_hosts: every host's keys under its address and name.

        Two live instances may share a name (old and new VM); the name goes to the one at
        the name's address in the zone's hosts, others are listed by address only.
        """
        lines: list[str] = []
        with self.lock:
            live = {h.address for h in self.hosts.values() if h.up}
            hosts = [h for h in self.hosts.values() if h.up or h.address not in live]
        for h in hosts:
            names = [h.address] if json_key(self.hosts, h) != h.name else [h.name, h.address]
            names += h.extra.get("listen_also", [])  # a netns lab's firstbox at its /30
            lines += hostroot.known_hosts_lines(names, hostroot.public_keys(self.paths(h.iid)))
        _atomic_write(self.ssh_dir / "known_hosts", "".join(line + "\n" for line in lines))

    # ------------------------------------------------------------------ up / down

    def bring_up(self) -> None:
        """Build and start the hosts of the configured lab (plain hosts or a topology)."""
        os.umask(0o022)
        self.records.ensure()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        mode = self.config["mode"]
        if mode == "plain":
            hosts = plain_hosts(int(self.config["hosts"]))
        else:
            self.zone = Zone(self, self.config)
            self.ops.update(self.zone.ops())
            hosts = self.zone.hosts()
        raise_nofile(max(4096, 16 * len(hosts) + 1024))
        pub = self.lab_key()
        for h in hosts:
            self.hosts[h.iid] = h
        self.permit = hostroot.permit_open([h.address for h in hosts],
                                           whole_24=self.zone is not None)
        hosts_text = self.zone.etc_hosts() if self.zone else _plain_etc_hosts(hosts)
        authorized = [pub] + (self.zone.extra_authorized() if self.zone else [])
        workers = max(2, min(16, (os.cpu_count() or 2) * 2))
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda h: self.build_host(h, hosts_text, authorized), hosts))
        if self.zone is not None:
            self.zone.populate()
        self.write_known_hosts()
        for h in hosts:
            if self.zone is None or self.zone.starts_up(h):
                self.start_host(h)
        self.wait_ready([h for h in hosts if h.up])
        if self.zone is not None:
            self.zone.after_start()
        self.write_lab_json()

    def shut_down(self) -> None:
        """Stop everything this controller started; unmount everything it mounted."""
        self.stopping.set()
        if self.zone is not None:
            self.zone.close()
        with self.lock:
            hosts = list(self.hosts.values())
        for h in hosts:
            entry = self.procs.get(h.iid)
            if entry is not None and h.stalled:
                os.kill(entry[1].pid, signal.SIGCONT)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.stop_host, hosts))
        release_all(self.records)
        kill_pids(processes_under(self.dir / "hosts") + processes_under(self.dir / "hostdata"))

    # ------------------------------------------------------------------ API

    def handle(self, op: str, token: str, body: JSON) -> JSON:
        """One API call: admin ops need the admin token; host ops name the caller by token."""
        caller: Host | None = None
        if token != self.admin_token:
            with self.lock:
                caller = next((h for h in self.hosts.values() if h.token == token), None)
            if caller is None:
                raise PermissionError("unknown token")
        if op == "status":
            return self.status()
        fn = self.ops.get(op)
        if fn is None:
            raise LookupError(f"unknown operation {op!r}")
        if caller is None and op.startswith("host."):
            caller = self.hosts[body["iid"]]
        return fn(caller, body)

    def status(self) -> JSON:
        with self.lock:
            out: JSON = {"hosts": {h.iid: h.public() for h in self.hosts.values()}}
            for iid, (_p, rec) in self.procs.items():
                out["hosts"][iid]["pid"] = rec.pid
        if self.zone is not None:
            out["zone"] = self.zone.public()
        return out


def plain_hosts(n: int) -> list[Host]:
    """N plain hosts h0001.. at 127.B.x.y (x = i // 250, y = i % 250 + 1).

    B is the first of 20..99 whose addresses are all free on port 22, so several labs
    (other state dirs) can run side by side.
    """
    if not 1 <= n <= 60000:
        raise LabError(_("--hosts must be between 1 and 60000, not {n}").format(n=n))
    for b in range(20, 100):
        addrs = [f"127.{b}.{i // 250}.{i % 250 + 1}" for i in range(n)]
        if all(port_free(a) for a in addrs):
            return [Host(iid=f"h{i + 1:04d}", name=f"h{i + 1:04d}", address=a, role="plain",
                         kind="plain") for i, a in enumerate(addrs)]
    raise LabError(_("no free block of loopback addresses 127.20-99.x.y for the plain hosts"))


def _plain_etc_hosts(hosts: list[Host]) -> str:
    return "127.0.0.1 localhost\n" + "".join(f"{h.address} {h.name}\n" for h in hosts)


def _also(host: Host) -> list[str]:
    """Where a host's sshd listens besides its address (a netns lab's firstbox: its /30)."""
    return list(host.extra.get("listen_also", ()))


def _banner(host: Host) -> bool:
    """Does the host's sshd send its banner? Asked from the host's own network namespace in a
    netns lab (this machine's cannot reach it: lab/netctl.py)."""
    ns = str(host.extra.get("netns") or "")
    return netns.run_in(ns, lambda: ssh_banner(host.address)) if ns else ssh_banner(host.address)


def _generation(iid: str) -> int:
    """VM instances are NAME.N (N counts launches); others have no suffix (generation 0)."""
    tail = iid.rsplit(".", 1)[-1]
    return int(tail) if "." in iid and tail.isdigit() else 0


def _cmdline_has(pid: int, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _mounted() -> set[str]:
    return mounted_targets()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def json_key(hosts: dict[str, Host], host: Host) -> str:
    """lab.json's key: the host name, or the instance id while two share a name."""
    same = [h for h in hosts.values() if h.name == host.name]
    preferred = max(same, key=lambda h: (h.up, _generation(h.iid)))
    return host.name if preferred is host else host.iid


class LatestWrite:
    """A file that request threads rewrite at once from the state they read: each write takes
    a ticket under the state's lock (``ticket``), and a write that a newer one overtook is
    dropped, so the file never goes back to an older state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.issued = self.written = 0
        self.lock = threading.Lock()  # never held while taking the state's lock

    def ticket(self) -> int:
        self.issued += 1
        return self.issued

    def write(self, ticket: int, text: str) -> None:
        with self.lock:
            if ticket < self.written:
                return
            self.written = ticket
            _atomic_write(self.path, text)


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once (0644). The temporary file's name is this
    write's own: request threads write lab.json and known_hosts at the same time, and two
    renames of one shared ``.tmp`` made the second fail (CI, stop 18: a virsh stand-in got
    the controller's 500)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------- HTTP server


def _handler(ctl: Controller) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                op = self.path.removeprefix("/op/")
                result = ctl.handle(op, self.headers.get("X-Lab-Token", ""), body)
                self._send(200, {"ok": True, **result})
            except PermissionError as exc:
                self._send(403, {"ok": False, "error": str(exc)})
            except (LabError, LookupError, ValueError) as exc:
                self._send(400, {"ok": False, "error": str(exc)})
            except Exception as exc:  # a bug in the controller: say so, keep serving
                traceback.print_exc()
                self._send(500, {"ok": False, "error": f"controller bug: {exc!r}"})
            if self.path == "/op/shutdown" and not self.close_connection:
                self.close_connection = True

        def _send(self, code: int, data: JSON) -> None:
            raw = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def serve(state_dir: Path) -> int:
    """Entry point of the controller process: build, start, serve, tear down."""
    from .netctl import NetController, unix_server  # noqa: PLC0415 (netctl imports this)

    config = json.loads((state_dir / "config.json").read_text())
    netns = config.get("net") == "netns"
    ctl = (NetController if netns else Controller)(state_dir, config)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ctl))
    server.daemon_threads = True
    ctl.url = f"http://127.0.0.1:{server.server_address[1]}"
    unix = unix_server(ctl, _handler(ctl)) if netns else None

    def on_shutdown(_host: Host | None, _body: JSON) -> JSON:
        threading.Thread(target=server.shutdown, daemon=True).start()
        return {}

    ctl.ops["shutdown"] = on_shutdown
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    info = {"pid": os.getpid(), "url": ctl.url, "token": ctl.admin_token}
    _atomic_write(state_dir / "controller.json", json.dumps(info))
    (state_dir / "controller.json").chmod(0o600)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ctl.bring_up()
    except BaseException as exc:
        traceback.print_exc()
        _atomic_write(state_dir / "failed", f"{exc}\n")
        ctl.shut_down()
        return 1
    _atomic_write(state_dir / "ready", json.dumps({"pid": os.getpid()}) + "\n")
    thread.join()
    server.server_close()
    if unix is not None:
        unix.shutdown()
        unix.server_close()
    ctl.shut_down()
    (state_dir / "ready").unlink(missing_ok=True)
    return 0


def _json_default(o: object) -> object:
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)  # type: ignore[call-overload]
    raise TypeError(type(o))


if __name__ == "__main__":
    sys.exit(serve(Path(sys.argv[1])))
