"""The local transport: commands run in bash on this machine (``--local`` on firstbox, tests).

Same contract as the SSH transport (transport/base.py). The command runs in its own process
group so a timeout or Ctrl-C ends the whole command, not just bash.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import tempfile
import time
from typing import Any

from nodeswap.errors import TransportError
from nodeswap.i18n import _
from nodeswap.plan.model import Target

from .base import CappedBuffer, Connector, OutputSink, Result, Transport


async def _pump(
    stream: asyncio.StreamReader, name: str, buf: CappedBuffer, sink: OutputSink | None
) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = await stream.read(65536)
        text = decoder.decode(data, final=not data)
        if text:
            buf.write(text)
            if sink is not None:
                sink(name, text)
        if not data:
            return


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _retrieved(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class LocalTransport(Transport):
    """Runs commands with ``bash -c`` locally; ``host`` is the name shown in results."""

    def __init__(self, host: str = "localhost", *, env: dict[str, str] | None = None) -> None:
        self.host = host
        self._env = env

    async def run(
        self,
        command: str,
        *,
        stdin: str | None = None,
        timeout: float = 600.0,
        sink: OutputSink | None = None,
    ) -> Result:
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", command,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=self._env,
            )  # fmt: skip
        except OSError as exc:
            raise TransportError(_("{host}: cannot start bash: {exc}").format(host=self.host,
                                   exc=exc)) from exc
        out, err = CappedBuffer(), CappedBuffer()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = asyncio.gather(
            _pump(proc.stdout, "stdout", out, sink), _pump(proc.stderr, "stderr", err, sink)
        )
        pumps.add_done_callback(_retrieved)  # cancelled on timeout or Ctrl-C: no "never retrieved"
        timed_out = False
        try:
            if stdin is not None:
                assert proc.stdin is not None
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    proc.stdin.write(stdin.encode())
                    await proc.stdin.drain()
                    proc.stdin.close()
            await asyncio.wait_for(asyncio.shield(pumps), timeout)
            status: int | None = await proc.wait()
        except asyncio.TimeoutError:
            timed_out, status = True, None
            _kill_group(proc)
            await proc.wait()
            pumps.cancel()
        except BaseException:  # Ctrl-C / cancellation: end the command, then propagate
            _kill_group(proc)
            pumps.cancel()
            with contextlib.suppress(BaseException):
                await proc.wait()
            raise
        return Result(
            host=self.host,
            command=command,
            exit_status=status,
            stdout=out.getvalue(),
            stderr=err.getvalue(),
            duration=time.monotonic() - start,
            truncated=out.truncated or err.truncated,
            timed_out=timed_out,
        )

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        folder = os.path.dirname(path) or "."
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".nodeswap-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as exc:
            raise TransportError(_("{host}: cannot write {path}: {exc}").format(host=self.host,
                                   path=path, exc=exc)) from exc

    async def get(self, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise TransportError(_("{host}: cannot read {path}: {exc}").format(host=self.host,
                                   path=path, exc=exc)) from exc

    async def close(self) -> None:
        return None


class LocalConnector(Connector):
    """Every target runs locally (``--local`` on firstbox; tests)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._env = env
        self._cache: dict[str, Transport] = {}

    async def transport(self, target: Target) -> Transport:
        if target.name not in self._cache:
            self._cache[target.name] = LocalTransport(target.name, env=self._env)
        return self._cache[target.name]

    async def forget(self, target: Target) -> None:
        self._cache.pop(target.name, None)

    async def close(self) -> None:
        self._cache.clear()
