"""Firstbox's host key as a zone identity: what a plan records, what apply and `trust` look at.

``presented_key`` reads the key of an open, strictly checked connection (planning live).
``scan_key`` asks one host for its key without logging in (like ssh-keyscan): apply compares
it with the plan's before anything else is contacted, and `nodeswap trust` shows it to the
operator on first contact. With a bastion (``--jump``) the bastion is logged into (strictly
checked) and the scan goes through it; no other host is contacted.

A key is named "TYPE SHA256:..." (``key_name``); apply asks firstbox for the plan's key type,
so the comparison never depends on which key type a server prefers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nodeswap.errors import TransportError
from nodeswap.i18n import _
from nodeswap.plan.model import Target

from .base import Connector
from .ssh import FAST_KEX, SshConfig, SshConnector

_ALGS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}
# First contact (`nodeswap trust`): the strongest common key type, as OpenSSH would pick it.
PREFERRED = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


def key_name(key: Any) -> str:
    """"ssh-ed25519 SHA256:..." of an asyncssh key."""
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


def key_line(key: Any) -> str:
    """"ssh-ed25519 AAAA..." (known_hosts' key part) of an asyncssh key."""
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def algs_for(name: str | None) -> tuple[str, ...]:
    """The host key algorithms that make a server show a key of ``name``'s type."""
    if not name:
        return ()
    kind = name.split()[0]
    return _ALGS.get(kind, (kind,))


async def presented_key(connector: Connector, target: Target) -> str | None:
    """The name of the key ``target`` presented on the connector's (checked) connection;
    None for a connector that is not SSH (local runs)."""
    if not isinstance(connector, SshConnector):
        return None
    conn = await connector.connection(target)
    key = conn.get_server_host_key()
    return key_name(key) if key is not None else None


async def scan_key(config: SshConfig, address: str, *, like: str | None = None) -> Any:
    """The host key ``address`` presents (no login); None when it has no key of the type of
    ``like`` (a key name). Through ``config.bastion`` when there is one (logged into,
    strictly checked)."""
    import asyncssh  # noqa: PLC0415 (on first use: start-up)
    connector = SshConnector(config) if config.bastion is not None else None
    try:
        tunnel: Any = ()
        if connector is not None and config.bastion is not None:
            tunnel = await connector.connection(config.bastion)
        algs = algs_for(like)
        try:
            key = await asyncio.wait_for(asyncssh.get_server_host_key(
                address, config.port, tunnel=tunnel, kex_algs=list(FAST_KEX),
                server_host_key_algs=list(algs or PREFERRED)), config.connect_timeout)
        except asyncio.TimeoutError as exc:
            raise TransportError(_("firstbox ({address}): no answer within {seconds}s").format(
                address=address, seconds=f"{config.connect_timeout:g}")) from exc
        except asyncssh.KeyExchangeFailed as exc:
            if algs:
                return None  # no host key of that type
            raise TransportError(_("firstbox ({address}): cannot read its host key: {error}")
                                 .format(address=address, error=exc)) from exc
        except (OSError, asyncssh.Error) as exc:
            raise TransportError(_("firstbox ({address}): cannot read its host key: {error}")
                                 .format(address=address,
                                         error=str(exc) or type(exc).__name__)) from exc
        if key is None:
            raise TransportError(_("firstbox ({address}) showed no host key").format(
                address=address))
        return key
    finally:
        if connector is not None:
            await connector.close()
