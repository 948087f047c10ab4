"""Fan-out: one command on many hosts at once, bounded, one outcome per host.

Used by `nodeswap exec`. Every host's task is awaited; a host that cannot be reached or whose
key does not match is an outcome (``error``), never an exception that stops the others.
Each host's connection is closed as soon as its command ended, so file descriptors stay
bounded by ``forks`` whatever the number of hosts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from nodeswap.errors import TransportError
from nodeswap.plan.model import Target
from nodeswap.run.events import HostDone

from .base import Connector
from .redact import Redactor


async def run_on_hosts(
    targets: Sequence[Target],
    command: str,
    connector: Connector,
    *,
    forks: int = 64,
    timeout: float = 600.0,
    on_result: Callable[[HostDone], None] | None = None,
    redact: Redactor | None = None,
    keep_open: bool = False,
) -> list[HostDone]:
    """Run ``command`` on every target (at most ``forks`` at a time); results in the order
    of ``targets``; ``on_result`` is called as each host finishes."""
    sem = asyncio.Semaphore(max(1, forks))
    clean = redact or Redactor()

    async def one(t: Target) -> HostDone:
        async with sem:
            start = time.monotonic()
            try:
                tr = await connector.transport(t)
                res = await tr.run(command, timeout=timeout)
                err = f"timed out after {timeout:g}s" if res.timed_out else None
                done = HostDone(t.name, t.address, res.exit_status, clean(res.stdout),
                                clean(res.stderr), err, time.monotonic() - start)  # fmt: skip
            except TransportError as exc:
                done = HostDone(t.name, t.address, None, "", "", clean(str(exc)),
                                time.monotonic() - start)  # fmt: skip
            if not keep_open:
                await connector.forget(t)
        if on_result is not None:
            on_result(done)
        return done

    return list(await asyncio.gather(*(one(t) for t in targets)))


def summary(results: Sequence[HostDone]) -> dict[str, int]:
    """ok: ran with status 0; failed: ran with another status or timed out; unreachable:
    never ran (connection or host key)."""
    ok = sum(1 for r in results if r.exit_status == 0 and r.error is None)
    unreachable = sum(
        1 for r in results if r.exit_status is None and not (r.error or "").startswith("timed out")
    )
    return {"ok": ok, "failed": len(results) - ok - unreachable, "unreachable": unreachable}
