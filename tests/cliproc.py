"""`python -m nodeswap ARGS` for the CLI tests, without paying Python's start-up each time.

The CLI tests start nodeswap a few hundred times; each start spends ~0.2 s of CPU importing
typer, rich, pydantic, asyncio and nodeswap's own modules before the command does anything,
which was half of `make test-fast`. ``run_nodeswap`` gives the same result as
``subprocess.run([sys.executable, "-m", "nodeswap", *args], capture_output=True, text=True)``
from a fork server: one process per test worker (tests/forkserver.py) that has imported those
modules once and never runs a command itself. For each call it forks a handler, which forks
the command's process; that process gets the caller's stdin, stdout and stderr (passed over a
Unix socket), environment and working directory, runs ``nodeswap``'s ``__main__`` as
``python -m`` would, and exits with its exit code. Each command is still its own process with
its own exit status, signals and file descriptors; what is shared is only the work of
importing modules, which no nodeswap module does differently by environment or arguments.

What needs a real start stays on ``subprocess``: tests that send signals, use a terminal, or
run nodeswap as the operator pastes it (bash, the console script) — and every call whose
environment differs from the server's in what Python reads at start-up (PYTHON*, LANG, LC_*),
which ``run_nodeswap`` detects and starts for real. ``NODESWAP_TEST_FORKSERVER=0`` runs every
call as a real start (the same tests, slower).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

SERVER = Path(__file__).with_name("forkserver.py")
NODESWAP = [sys.executable, "-m", "nodeswap"]


def _startup_env(env: Mapping[str, str]) -> dict[str, str]:
    """What Python reads at start-up, before any nodeswap code: a call whose values differ
    from the server's cannot share its start."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG"}


class ForkServer:
    """One server process, started on first use, ended at exit by its recorded PID."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._dir = tempfile.mkdtemp(prefix="nodeswap-fork-")
        self.path = os.path.join(self._dir, "sock")
        self.env = dict(env)
        self.proc = subprocess.Popen([sys.executable, str(SERVER), self.path],
                                     stdin=subprocess.DEVNULL, env=self.env)  # fmt: skip
        atexit.register(self.close)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.path + ".ready"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fork server did not start (exit {self.proc.returncode})")
            time.sleep(0.01)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        for name in (self.path, self.path + ".ready"):
            if os.path.exists(name):
                os.unlink(name)
        os.rmdir(self._dir)

    def run(self, args: list[str], *, env: Mapping[str, str], cwd: str, timeout: float,
            input: str | None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        request = json.dumps({"args": args, "env": dict(env), "cwd": cwd}).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(self.path)
            socket.send_fds(conn, [request], [in_r, out_w, err_w])
            for fd in (in_r, out_w, err_w):
                os.close(fd)
            pid = int(json.loads(conn.recv(4096))["pid"])
            writer = threading.Thread(target=_feed, args=(in_w, input or ""), daemon=True)
            writer.start()
            try:
                out, err = _drain(out_r, err_r, time.monotonic() + timeout)
                conn.settimeout(max(0.1, timeout))
                status = int(json.loads(conn.recv(4096))["status"])
            except (subprocess.TimeoutExpired, TimeoutError):
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired([*NODESWAP, *args], timeout) from None
            finally:
                writer.join(timeout=5)
        return subprocess.CompletedProcess([*NODESWAP, *args], status, out, err)


def _feed(fd: int, text: str) -> None:
    try:
        if text:
            os.write(fd, text.encode())
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _drain(out_fd: int, err_fd: int, deadline: float) -> tuple[str, str]:
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        try:
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired("nodeswap", 0)
                for key, _ in sel.select(left):
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        sel.unregister(key.fd)
        finally:
            os.close(out_fd)
            os.close(err_fd)
    out, err = (b"".join(c).decode().replace("\r\n", "\n").replace("\r", "\n")
                for c in chunks.values())  # text=True's universal newlines
    return out, err


# one server per start-up environment (see _startup_env), so each call starts as it would alone
_servers: dict[tuple[tuple[str, str], ...], ForkServer] = {}


def run_nodeswap(*args: str | Path, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, timeout: float = 120,
                 input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``subprocess.run(python -m nodeswap ARGS, capture_output=True, text=True)``, stdin
    DEVNULL unless ``input`` is given; from the fork server where that gives the same."""
    argv = [str(a) for a in args]
    call_env = dict(os.environ if env is None else env)
    where = str(cwd) if cwd is not None else os.getcwd()
    if os.environ.get("NODESWAP_TEST_FORKSERVER") != "0":
        key = tuple(sorted(_startup_env(call_env).items()))
        if key not in _servers:
            _servers[key] = ForkServer(call_env)
        return _servers[key].run(argv, env=call_env, cwd=where, timeout=timeout, input=input)
    return subprocess.run([*NODESWAP, *argv], capture_output=True, text=True, timeout=timeout,
                          check=False, env=call_env, cwd=where, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL)  # fmt: skip
