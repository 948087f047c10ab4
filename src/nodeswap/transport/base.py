"""The transport contract: run a command on one host, move files, close. Owns no policy.

A transport returns a ``Result`` shaped like ``subprocess.CompletedProcess`` and never prints.
Its library's exceptions stop inside the transport, translated once into
``nodeswap.errors.TransportError`` / ``HostKeyError`` with the cause chained. Output is
streamed to an optional ``OutputSink`` (every chunk, for the journal) while the ``Result``
keeps only the last ``OUTPUT_CAP`` characters of each stream in memory.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from nodeswap.plan.model import Target

OUTPUT_CAP = 256 * 1024  # characters of each stream kept in a Result (the journal keeps all)

# (stream, text): stream is "stdout" or "stderr"; called for every chunk as it arrives.
OutputSink = Callable[[str, str], None]


@dataclass(frozen=True)
class Result:
    """What one command did on one host (``exit_status`` None: it was cut off)."""

    host: str
    command: str
    exit_status: int | None
    stdout: str
    stderr: str
    duration: float = 0.0
    truncated: bool = False  # stdout/stderr hold only their last OUTPUT_CAP characters
    timed_out: bool = False  # abandoned after its timeout (exit_status is None)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def tail(self, lines: int = 20) -> str:
        """The last lines of stdout and stderr, for error messages."""
        text = (self.stdout.rstrip("\n") + "\n" + self.stderr.rstrip("\n")).strip("\n")
        return "\n".join(text.splitlines()[-lines:])


class CappedBuffer:
    """Keeps the last ``cap`` characters written to it (whole output goes to the sink)."""

    def __init__(self, cap: int = OUTPUT_CAP) -> None:
        self._cap = cap
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size > 2 * self._cap:
            self._compact()

    def _compact(self) -> None:
        whole = "".join(self._parts)
        if len(whole) > self._cap:
            self.truncated = True
            whole = whole[-self._cap :]
        self._parts = [whole]
        self._size = len(whole)

    def getvalue(self) -> str:
        self._compact()
        return self._parts[0] if self._parts else ""


class Transport(abc.ABC):
    """One host. Methods are coroutines; none prints; errors are nodeswap.errors."""

    host: str  # the name used in results and messages

    @abc.abstractmethod
    async def run(
        self,
        command: str,
        *,
        stdin: str | None = None,
        timeout: float = 600.0,
        sink: OutputSink | None = None,
    ) -> Result:
        """Run ``command`` (a shell command line) and wait for it, at most ``timeout`` seconds.

        A command that exceeds the timeout is abandoned and its Result has exit_status None
        (never raised: the caller decides). A broken connection raises TransportError.
        """

    @abc.abstractmethod
    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` on the host atomically (temp file + rename)."""

    @abc.abstractmethod
    async def get(self, path: str) -> bytes:
        """Read the whole file at ``path`` on the host."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection (idempotent)."""


class Connector(abc.ABC):
    """Hands out one transport per target for a run, reusing it for every command."""

    @abc.abstractmethod
    async def transport(self, target: Target) -> Transport:
        """The (possibly cached) transport for ``target``; raises TransportError/HostKeyError."""

    @abc.abstractmethod
    async def forget(self, target: Target) -> None:
        """Drop ``target``'s connection (its host went away on purpose, e.g. shutdown)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close every connection."""

