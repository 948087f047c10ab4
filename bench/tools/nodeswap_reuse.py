"""nodeswap's executor API with connections kept open: a first command on every host (fresh
connections, kept), then further commands on the reused connections. Prints one JSON object.

    .venv/bin/python bench/tools/nodeswap_reuse.py HOSTS KEY KNOWN_HOSTS USER FORKS REPEAT -- CMD

Uses the same library path as `nodeswap exec` (SshConnector + transport.fanout.run_on_hosts)
with ``keep_open=True``. CPU is this process's own (RUSAGE_SELF) per phase.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from nodeswap.plan.model import Target
from nodeswap.transport.fanout import run_on_hosts, summary
from nodeswap.transport.ssh import SshConfig, SshConnector


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(argv: list[str]) -> dict[str, Any]:
    hosts_file, key, known_hosts, user, forks, repeat = argv[:6]
    command = " ".join(argv[7:] if argv[6] == "--" else argv[6:])
    addrs = Path(hosts_file).read_text().split()
    targets = [Target(a, a, a, via_firstbox=False) for a in addrs]
    connector = SshConnector(SshConfig(user=user, identity_files=(key,), known_hosts=known_hosts))
    phases: list[dict[str, Any]] = []
    try:
        for i in range(1 + int(repeat)):
            c0, t0 = cpu(), time.monotonic()
            res = await run_on_hosts(targets, command, connector, forks=int(forks),
                                     timeout=60.0, keep_open=True)  # fmt: skip
            wall, used = time.monotonic() - t0, cpu() - c0
            names = {r.stdout.strip() for r in res if r.exit_status == 0}
            phases.append({"phase": "fresh" if i == 0 else "reused", "wall": wall, "cpu": used,
                           "summary": summary(res), "distinct": len(names),
                           "errors": sorted({str(r.error) for r in res if r.error})[:5]})
    finally:
        await connector.close()
    return {"hosts": len(addrs), "phases": phases}


if __name__ == "__main__":
    out = asyncio.run(main(sys.argv[1:]))
    sys.stdout.write(json.dumps(out) + "\n")
    ok = all(p["distinct"] == out["hosts"] and p["summary"]["ok"] == out["hosts"]
             for p in out["phases"])  # fmt: skip
    sys.exit(0 if ok else 1)
