"""The floor: a plain asyncssh script (no nodeswap), one command on every host, fresh connections.

    .venv/bin/python bench/tools/asyncssh_floor.py HOSTS_FILE KEY KNOWN_HOSTS USER FORKS -- CMD

asyncssh's defaults, host keys checked against KNOWN_HOSTS; keys and known_hosts read once;
at most FORKS hosts at once. Prints ``ADDRESS<TAB>STDOUT`` per host, or ``ADDRESS<TAB>ERROR ...``
to stderr; exit 0 only if every host ran the command with status 0.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncssh


async def main(argv: list[str]) -> int:
    hosts_file, key, known_hosts, user, forks = argv[:5]
    command = " ".join(argv[6:] if argv[5] == "--" else argv[5:])
    hosts = Path(hosts_file).read_text().split()
    keys = [asyncssh.read_private_key(key)]
    known = asyncssh.read_known_hosts(known_hosts)
    sem = asyncio.Semaphore(int(forks))

    async def one(addr: str) -> bool:
        async with sem:
            try:
                async with asyncssh.connect(addr, username=user, client_keys=keys,
                                            known_hosts=known, agent_path=None) as conn:
                    res = await conn.run(command, timeout=60)
            except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
                sys.stderr.write(f"{addr}\tERROR {exc!r}\n")
                return False
        sys.stdout.write(f"{addr}\t{str(res.stdout).strip()}\n")
        return res.exit_status == 0

    results = await asyncio.gather(*(one(h) for h in hosts))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
