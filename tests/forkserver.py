"""The fork server behind tests/cliproc.py: ``python tests/forkserver.py SOCKET``.

It imports what `python -m nodeswap` imports (never running a command, never creating a
thread or an event loop), then for each request on its Unix socket (SOCK_SEQPACKET: the
arguments, environment and working directory, with stdin, stdout and stderr as passed file
descriptors) forks a handler. The handler forks the command's process, sends its PID, waits
for it and sends its exit status (negative: killed by that signal, as subprocess reports it).
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import random
import runpy
import signal
import socket
import sys
import traceback
from contextlib import suppress
from typing import Any

import nodeswap


def preload() -> None:
    """Import nodeswap's modules and the libraries they use, without running any code of a
    command (no ``register``: each child's CLI starts with no command registered)."""
    for mod in pkgutil.walk_packages(nodeswap.__path__, "nodeswap."):
        if mod.name.endswith("__main__") or ".lab.standins" in mod.name:
            continue
        importlib.import_module(mod.name)
    for lib in ("asyncssh", "jinja2", "yaml", "rich.console", "rich.table", "sqlite3"):
        importlib.import_module(lib)


def command(request: dict[str, Any], fds: list[int]) -> None:
    """In the command's process: take the caller's stdio, environment and folder, then run
    nodeswap's ``__main__`` as ``python -m nodeswap`` does. Never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]  # as `python -m` puts it first
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        random.seed()  # not the server's state, shared by every fork
        sys.argv = ["-m", *request["args"]]
        try:
            runpy.run_module("nodeswap", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as done:
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
        except BaseException:  # as the interpreter would: the traceback, exit 1
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):  # a closed pipe: nothing more to say
                stream.flush()
        os._exit(code)


def handle(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the handler: fork the command, report its PID and exit status. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        command(request, fds)
    for fd in fds:
        os.close(fd)
    try:
        conn.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        conn.send(json.dumps({"status": os.waitstatus_to_exitcode(status)}).encode())
    finally:
        os._exit(0)


def serve(path: str) -> None:
    preload()
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    with open(path + ".ready", "w"):
        pass
    parent = os.getppid()
    listener.settimeout(2)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test worker is gone (killed): so is its server
                os._exit(0)
            continue
        conn.settimeout(None)
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        if os.fork() == 0:
            listener.close()
            handle(conn, json.loads(msg), fds)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    serve(sys.argv[1])
