"""The SSH transport (asyncssh): one connection per host per run, strict host keys, pinning.

Owns every asyncssh call in nodeswap; asyncssh's exceptions stop here, translated once into
TransportError / HostKeyError with the cause chained.

- Hosts are reached through a jump host (firstbox) by default (``via_firstbox``), or directly.
- Host keys are always checked. Trust, per target: a key this run pinned in the journal under
  the target's ``key_id`` is the ONLY key accepted (a new VM that now answers at the old node's
  address must present it, R31-R33); else a ``pin=True`` target (a host nodeswap created at an
  address it assigned) is trusted on first sight and its key pinned for this run; else the key
  must be in the known_hosts file. Anything else stops with HostKeyError naming the presented
  key (and, for a pinned one, which run pinned it, when, where, and what became of it).
  Pins belong to a run: another run's pins of the same key_id (a VM an earlier run built and
  its rollback destroyed) are history, shown in messages, never trusted or enforced.
- Connections are opened lazily, once, and reopened with backoff when found closed; a
  connection lost while a command runs raises TransportError (the executor decides: for a
  ``disconnects`` step it is the expected outcome).
- Cheap per connection: curve25519 key exchange first, no agent, no X11, no GSS, keys and
  known_hosts read once per run.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import functools
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nodeswap.errors import HostKeyError, InputError, Problem, TransportError
from nodeswap.i18n import _
from nodeswap.plan.model import Target

from .base import CappedBuffer, Connector, OutputSink, Result, Transport
from .keymessages import fingerprint, pinned_key_message, unknown_key_message

if TYPE_CHECKING:
    from nodeswap.run.journal import PinRecord

FAST_KEX = (
    "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256",
)  # fmt: skip
FAST_CIPHERS = ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr")


class KeyStore(Protocol):
    """Where pinned host keys live (the journal): per (run_id, key_id)."""

    def pinned_key(self, key_id: str, run_id: str | None) -> str | None: ...

    def pin_key(self, key_id: str, public_key: str, address: str, run_id: str | None) -> None: ...

    def pins(self, key_id: str | None = None) -> Sequence[PinRecord]: ...
    def saw_key(self, key_id: str, public_key: str, address: str, run_id: str | None) -> None: ...


@dataclass(frozen=True)
class SshConfig:
    """How to reach hosts. ``jump`` None: every host directly."""

    user: str = "root"
    identity_files: tuple[str, ...] = ()
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    jump: Target | None = None
    # A bastion in front of firstbox (`--jump [USER@]HOST`): firstbox, and every target
    # reached directly, is reached through it.
    bastion: Target | None = None
    bastion_user: str | None = None
    port: int = 22
    connect_timeout: float = 10.0
    connect_attempts: int = 3  # 1 + retries, with backoff, for unreachable/lost (not key/auth)
    backoff: float = 0.5  # first retry delay (doubles)
    keepalive_interval: float = 15.0


@functools.cache
def _client_class() -> type[Any]:
    """The asyncssh client nodeswap uses, made on first use (asyncssh loads only when a
    command connects): it sees the host key asyncssh did not find trusted (so the error can
    show it), and accepts it on first sight for a target nodeswap pins (``tofu``)."""
    import asyncssh  # noqa: PLC0415 (on first use: start-up)

    class _Client(asyncssh.SSHClient):
        def __init__(self, tofu: bool) -> None:
            self.tofu = tofu
            self.refused_key: Any = None

        def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
            if self.tofu:
                return True
            self.refused_key = key
            return False

    return _Client


def _load_keys(paths: Sequence[str]) -> list[Any]:
    import asyncssh  # noqa: PLC0415 (on first use: start-up)
    keys = []
    for p in paths:
        try:
            keys.append(asyncssh.read_private_key(p))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise InputError([Problem(_("cannot read identity file: {exc}").format(exc=exc),
                                      file=p)]) from exc
    return keys


def _load_known_hosts(path: str | None) -> Any:
    import asyncssh  # noqa: PLC0415 (on first use: start-up)
    p = Path(path) if path else Path.home() / ".ssh" / "known_hosts"
    try:
        return asyncssh.read_known_hosts(str(p))
    except FileNotFoundError:
        return asyncssh.import_known_hosts("")
    except (OSError, ValueError) as exc:
        raise InputError([Problem(_("cannot read known_hosts: {exc}").format(exc=exc),
                                  file=str(p))]) from exc


class SshConnector(Connector):
    """One connection per target (name, address) for a run; opened once, reused, reopened."""

    def __init__(
        self, config: SshConfig, *, keys: KeyStore | None = None, run_id: str | None = None,
        logins: Mapping[tuple[str, str], tuple[str | None, int | None]] | None = None,
    ) -> None:
        """``logins``: a target's own (user, port) by (name, address), over the config's (a
        hosts file's ``user@host:port``); the jump host and the bastion keep the config's."""
        import asyncssh  # noqa: PLC0415 (on first use: start-up)
        self.config = config
        self._logins = dict(logins or {})
        self._keys = keys
        self._run_id = run_id
        self._client_keys = _load_keys(config.identity_files) if config.identity_files else None
        self._known_hosts = _load_known_hosts(config.known_hosts)
        self._conns: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._transports: dict[tuple[str, str], SshTransport] = {}
        self._options = asyncssh.SSHClientConnectionOptions(
            username=config.user,
            client_keys=self._client_keys,
            agent_path=None,
            agent_forwarding=False,
            x11_forwarding=False,
            gss_auth=False,
            gss_kex=False,
            password_auth=False,
            kbdint_auth=False,
            kex_algs=list(FAST_KEX),
            encryption_algs=list(FAST_CIPHERS),
            compression_algs=None,
            connect_timeout=config.connect_timeout,
            login_timeout=config.connect_timeout,
            keepalive_interval=config.keepalive_interval,
            keepalive_count_max=3,
        )

    async def transport(self, target: Target) -> Transport:
        key = (target.name, target.address)
        await self.connection(target)
        if key not in self._transports:
            self._transports[key] = SshTransport(target, self)
        return self._transports[key]

    async def connection(self, target: Target) -> Any:
        """The open connection to ``target`` (opened or reopened with backoff as needed)."""
        key = (target.name, target.address)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            conn = self._conns.get(key)
            if conn is not None and not conn.is_closed():
                return conn
            conn = await self._connect_with_backoff(target)
            self._conns[key] = conn
            return conn

    async def _connect_with_backoff(self, target: Target) -> Any:
        delay = self.config.backoff
        for attempt in range(1, self.config.connect_attempts + 1):
            try:
                return await self._connect(target)
            except HostKeyError:
                raise
            except TransportError as exc:
                if attempt == self.config.connect_attempts or getattr(exc, "final", False):
                    raise
                await asyncio.sleep(delay)  # backoff between attempts to a lost host
                delay *= 2
        raise AssertionError("unreachable")

    def _trust(self, target: Target) -> tuple[Any, bool, str | None]:
        """(known_hosts argument, trust on first use?, pinned key text)."""
        import asyncssh  # noqa: PLC0415 (on first use: start-up)
        pinned = self._keys.pinned_key(target.key_id, self._run_id) \
            if self._keys is not None else None
        if pinned is not None:
            return ([asyncssh.import_public_key(pinned)], [], []), False, pinned
        if target.pin and self._keys is not None:
            return ([], [], []), True, None
        return self._known_hosts, False, None

    async def _connect(self, target: Target) -> Any:
        import asyncssh  # noqa: PLC0415 (on first use: start-up)
        known, tofu, pinned = self._trust(target)
        client = _client_class()(tofu)
        jump, bastion = self.config.jump, self.config.bastion
        tunnel = None
        hop: Target | None = None
        if target.via_firstbox and jump is not None and jump.address != target.address:
            hop = jump
        elif bastion is not None and bastion.address != target.address:
            hop = bastion
        if hop is not None:
            tunnel = await self.connection(hop)
        via = _(" via {host}").format(host=hop.name) if hop is not None else ""
        where = f"{target.name} ({target.address}{via})"
        own_user, own_port = self._logins.get((target.name, target.address), (None, None))
        login = self.config.bastion_user if target is bastion and self.config.bastion_user \
            else own_user or self.config.user
        try:
            conn = await asyncssh.connect(
                target.address, own_port or self.config.port, tunnel=tunnel, options=self._options,
                known_hosts=known, client_factory=lambda: client, username=login,
            )  # fmt: skip
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyError(self._key_message(target, client, pinned, str(exc))) from exc
        except asyncssh.PermissionDenied as exc:
            err = TransportError(_("{where}: login as {login} refused: {reason}").format(
                where=where, login=login, reason=exc.reason))
            err.final = True  # type: ignore[attr-defined]
            raise err from exc
        except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, asyncio.TimeoutError):
                reason = _("no answer within {seconds:g}s").format(
                    seconds=self.config.connect_timeout)
            raise TransportError(_("{where}: cannot connect: {reason}").format(where=where,
                                   reason=reason)) from exc
        key = conn.get_server_host_key()
        text = key.export_public_key("openssh").decode().strip() if key is not None else None
        if tofu and self._keys is not None:
            if text is None:
                raise TransportError(
                    _("{where}: no host key seen (cannot pin it)").format(where=where))
            self._keys.pin_key(target.key_id, text, target.address, self._run_id)
        elif pinned is None and self._keys is not None and text is not None:  # a known host:
            self._keys.saw_key(target.key_id, text, target.address, self._run_id)  # (report)
        return conn

    def _key_message(self, target: Target, client: Any, pinned: str | None, why: str) -> str:
        shown = fingerprint(client.refused_key) if client.refused_key is not None else why
        if pinned is not None:
            history = self._keys.pins(target.key_id) if self._keys is not None else ()
            return pinned_key_message(target, shown, pinned, self._run_id, history)
        return unknown_key_message(target, shown, self.config.known_hosts)

    async def forget(self, target: Target) -> None:
        key = (target.name, target.address)
        conn = self._conns.pop(key, None)
        if conn is not None:
            conn.abort()

    async def close(self) -> None:
        jump = self.config.jump
        jkey = (jump.name, jump.address) if jump is not None else None
        for _key, conn in sorted(self._conns.items(), key=lambda kv: kv[0] == jkey):
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5.0)
        self._conns.clear()


# The remote shell first writes its PID on stderr (taken off before anyone sees the output):
# sshd made it a session leader, so it is the command's process group, which the transport
# kills when it abandons the command (timeout, Ctrl-C, SIGTERM). A signal request on the
# channel is not enough: OpenSSH refuses them in root's sessions ("session signalling
# requires privilege separation"), and closing the channel leaves the command running.
PID_MARK = "nodeswap-pgid:"
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL to an abandoned command's group
STOP_TIMEOUT = 5.0  # at most this long to stop an abandoned command


def with_pid_mark(command: str) -> str:
    """``command`` run by the same shell (``eval``: same semantics, same process) after it
    wrote its PID on stderr."""
    return f"printf '%s\\n' \"{PID_MARK}$$\" >&2; eval {shlex.quote(command)}"


def stop_group(pgid: int) -> str:
    """SIGTERM to a process group, SIGKILL after ``STOP_GRACE`` if it is still there."""
    g = f"-{pgid}"
    waits = " ".join(["0.2"] * int(STOP_GRACE / 0.2))
    return (f"kill -TERM -- {g} 2>/dev/null || exit 0; for t in {waits}; do sleep $t;"
            f" kill -0 -- {g} 2>/dev/null || exit 0; done; kill -KILL -- {g} 2>/dev/null;"
            " exit 0")


class _PidMark:
    """Takes the PID line off the front of stderr (anything else passes unchanged)."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self._head: str | None = ""

    def feed(self, text: str, final: bool = False) -> str:
        if self._head is None:
            return text
        self._head += text
        line, nl, rest = self._head.partition("\n")
        if not nl and not final and len(line) <= len(PID_MARK) + 20:
            return ""  # not a whole line yet
        self._head = None
        number = line[len(PID_MARK):]
        if nl and line.startswith(PID_MARK) and number.isdigit():
            self.pgid = int(number)
            return rest
        return line + nl + rest


async def _pump(stream: Any, name: str, buf: CappedBuffer, sink: OutputSink | None,
                mark: _PidMark | None = None) -> None:  # fmt: skip
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        data = await stream.read(65536)
        text = decoder.decode(data, final=not data)
        if mark is not None:
            text = mark.feed(text, final=not data)
        if text:
            buf.write(text)
            if sink is not None:
                sink(name, text)
        if not data:
            return


class SshTransport(Transport):
    """One host over its connector's reused connection."""

    def __init__(self, target: Target, connector: SshConnector) -> None:
        self.host = target.name
        self._target = target
        self._connector = connector

    async def run(
        self,
        command: str,
        *,
        stdin: str | None = None,
        timeout: float = 600.0,
        sink: OutputSink | None = None,
    ) -> Result:
        import asyncssh  # noqa: PLC0415 (on first use: start-up)
        conn = await self._connector.connection(self._target)
        start = time.monotonic()
        try:
            proc = await conn.create_process(with_pid_mark(command), encoding=None)
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(_("{host}: cannot start command: {exc}").format(host=self.host,
                                   exc=exc)) from exc
        out, err = CappedBuffer(), CappedBuffer()
        mark = _PidMark()
        timed_out = False
        try:
            if stdin is not None:
                proc.stdin.write(stdin.encode())
            proc.stdin.write_eof()
            await asyncio.wait_for(self._drain(proc, out, err, sink, mark), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            self._abandon(proc)
            await self._stop(conn, mark.pgid)
        except (OSError, asyncssh.Error) as exc:
            self._abandon(proc)
            raise TransportError(_("{host}: connection lost while running: {exc}").format(
                host=self.host, exc=exc)) from exc
        except BaseException:  # Ctrl-C, SIGTERM, cancellation: stop the command, propagate
            self._abandon(proc)
            await self._stop(conn, mark.pgid)
            raise
        status = None if timed_out else proc.exit_status
        lost = not timed_out and status in (None, -1) and proc.exit_signal is None
        if lost and conn.is_closed():
            raise TransportError(
                _("{host}: connection lost while running the command").format(host=self.host))
        if status == -1 and proc.exit_signal is not None:
            status = 128 + 15 if proc.exit_signal[0] == "TERM" else 255
        return Result(
            host=self.host, command=command, exit_status=status, stdout=out.getvalue(),
            stderr=err.getvalue(), duration=time.monotonic() - start,
            truncated=out.truncated or err.truncated, timed_out=timed_out,
        )  # fmt: skip

    @staticmethod
    async def _drain(
        proc: Any, out: CappedBuffer, err: CappedBuffer, sink: OutputSink | None, mark: _PidMark
    ) -> None:
        await asyncio.gather(
            _pump(proc.stdout, "stdout", out, sink), _pump(proc.stderr, "stderr", err, sink, mark)
        )
        await proc.wait_closed()

    async def _stop(self, conn: Any, pgid: int | None) -> None:
        """Stop an abandoned command on the host: SIGTERM, then SIGKILL, to its process group,
        over a channel of its own (bounded: a dead connection cannot hold the caller)."""
        import asyncssh  # noqa: PLC0415 (on first use: start-up)
        if pgid is None or conn.is_closed():
            return
        with contextlib.suppress(OSError, asyncssh.Error, asyncio.TimeoutError):
            await asyncio.wait_for(conn.run(stop_group(pgid), check=False), STOP_TIMEOUT)

    @staticmethod
    def _abandon(proc: Any) -> None:
        with contextlib.suppress(Exception):
            proc.send_signal("KILL")
        with contextlib.suppress(Exception):
            proc.close()

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        from nodeswap.shell import write_file_atomic  # noqa: PLC0415

        res = await self.run(write_file_atomic(path, mode), stdin=data.decode(), timeout=120.0)
        if res.exit_status != 0:
            raise TransportError(_("{host}: cannot write {path}: {output}").format(host=self.host,
                                   path=path, output=res.tail(5)))

    async def get(self, path: str) -> bytes:
        from nodeswap.shell import cmd  # noqa: PLC0415

        res = await self.run(cmd("cat", "--", path), timeout=120.0)
        if res.exit_status != 0:
            raise TransportError(_("{host}: cannot read {path}: {output}").format(host=self.host,
                                   path=path, output=res.tail(5)))
        return res.stdout.encode()

    async def close(self) -> None:
        await self._connector.forget(self._target)
