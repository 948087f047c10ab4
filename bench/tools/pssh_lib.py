"""The parallel-ssh Python library (pssh.clients.ParallelSSHClient, libssh2), one command on
every host, fresh connections. Runs in .venv-bench (parallel-ssh is not a nodeswap dependency).

    .venv-bench/bin/python bench/tools/pssh_lib.py HOSTS_FILE KEY KNOWN_HOSTS USER POOL -- CMD

parallel-ssh has no host key verification of its own; this script checks each host's key
(libssh2's ``session.hostkey()``) against KNOWN_HOSTS after connecting and before running the
command, and a host whose key is not listed for its address fails. Prints ``ADDRESS<TAB>STDOUT``
per host; exit 0 only if every host ran the command with status 0.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import gevent
from pssh.clients import ParallelSSHClient


def read_known_hosts(path: str) -> dict[str, set[bytes]]:
    table: dict[str, set[bytes]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 3 or line.startswith(("#", "|", "@")):
            continue
        for name in parts[0].split(","):
            table.setdefault(name, set()).add(base64.b64decode(parts[2]))
    return table


def main(argv: list[str]) -> int:
    hosts_file, key, known_hosts, user, pool = argv[:5]
    command = " ".join(argv[6:] if argv[5] == "--" else argv[5:])
    hosts = Path(hosts_file).read_text().split()
    known = read_known_hosts(known_hosts)
    client = ParallelSSHClient(hosts, user=user, pkey=key, pool_size=int(pool),
                               allow_agent=False, timeout=60, num_retries=1)  # fmt: skip
    # connect + authenticate every host (nothing run yet); failures show up as missing sessions
    gevent.joinall(client.connect_auth(), raise_error=False)
    bad = []
    for host_i, host in enumerate(hosts):
        hc = client._host_clients.get((host_i, host))
        ok = False
        if hc is not None and hc.session is not None:
            blob, _type = hc.session.hostkey()
            ok = bytes(blob) in known.get(host, set())
        if not ok:
            bad.append(host)
            sys.stderr.write(f"{host}\tERROR host key not in known_hosts (or no session)\n")
    if bad:
        return 1
    output = client.run_command(command, stop_on_errors=False)
    client.join(output)
    ok_all = True
    for o in output:
        if o.exception is not None or o.exit_code != 0:
            ok_all = False
            sys.stderr.write(f"{o.host}\tERROR {o.exception!r} exit {o.exit_code}\n")
            continue
        sys.stdout.write(f"{o.host}\t{' '.join(o.stdout).strip()}\n")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
