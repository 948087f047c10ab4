"""known_hosts text, edited as OpenSSH reads it. Pure: text in, text out.

After a switch (R31-R33) a new VM answers at the old node's address with the key nodeswap
pinned when it first reached it at its temporary address. ``with_key`` makes nodeswap's own
known_hosts say so (the old VM's key for that address goes), so later runs and `discover`
check the new VM's key strictly instead of refusing it as changed.
"""

from __future__ import annotations


def _hosts_field(line: str) -> tuple[str, str, str]:
    """(marker, hosts, rest) of a known_hosts line; marker is '@cert-authority ' etc. or ''."""
    marker = ""
    if line.startswith("@"):
        marker, _, line = line.partition(" ")
        marker += " "
    hosts, _, rest = line.partition(" ")
    return marker, hosts, rest


def without_host(text: str, host: str) -> str:
    """Every line of ``text`` with ``host`` (an address or name, also ``[host]:22``) taken
    out of its host list; a line left with no host goes. Hashed entries cannot be matched
    and stay; comments and blank lines stay."""
    names = {host, f"[{host}]:22"}
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            out.append(line)
            continue
        marker, hosts, rest = _hosts_field(line)
        if marker.startswith("@revoked"):
            out.append(line)
            continue
        kept = [h for h in hosts.split(",") if h not in names]
        if kept:
            out.append(f"{marker}{','.join(kept)} {rest}")
    return "\n".join(out) + ("\n" if out else "")


def with_key(text: str, host: str, public_key: str) -> str:
    """``text`` where ``host`` is known by ``public_key`` ("type base64 [comment]") only."""
    key = " ".join(public_key.split()[:2])
    return without_host(text, host) + f"{host} {key}\n"


def merged(own: str, given: str) -> str:
    """``own`` with every line of ``given`` added; for each host ``given`` names (by name or
    address; hashed entries cannot be matched), ``given``'s keys replace ``own``'s. The
    operator's explicit file wins for the hosts it names; every other host keeps its key."""
    text = own
    lines = [ln for ln in given.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    for line in lines:
        marker, hosts, _rest = _hosts_field(line)
        if marker.startswith("@revoked"):
            continue
        for host in hosts.split(","):
            if not host.startswith("|"):
                text = without_host(text, host.removeprefix("[").split("]:")[0]
                                    if host.endswith("]:22") else host)
    have = set(text.splitlines())
    extra = [ln for ln in lines if ln not in have]
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "".join(ln + "\n" for ln in extra)
