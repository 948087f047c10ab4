"""Which VM the Pitrix scripts reach by a node's name, seen from firstbox (issue 10). Pure.

``update.sh``/``_update_node.sh`` and ``exec_nodes.sh`` ssh to a node BY NAME: firstbox's
name resolution (``getent hosts NAME``, its /etc/hosts) decides which VM gets R22-R26's
packages. Before R22 the name must reach the new VM: the host answering there must present
the host key nodeswap pinned at the temporary address. Reaching the old VM instead would
install onto the old node (an R20 breach).

``output``: firstbox's ``getent hosts NAME`` line, then ``ssh-keyscan NAME`` lines (``NAME
TYPE BASE64``); ``new_keys``: the new VM's public key files (``TYPE BASE64 comment`` lines),
read over the connection whose key is pinned.
"""

from __future__ import annotations

import ipaddress

from nodeswap.i18n import _

from .findings import Difference

RULE = "R20/R22"


def _address(line: str) -> str | None:
    words = line.split(maxsplit=1)
    first = words[0] if words else ""
    try:
        ipaddress.ip_address(first)
    except ValueError:
        return None
    return first


def keys_of(text: str) -> set[str]:
    """``TYPE BASE64`` of every key line (key files or ssh-keyscan: its name field skipped)."""
    out = set()
    for line in text.splitlines():
        words = line.split()
        for i in (0, 1):
            if len(words) > i + 1 and words[i].startswith(("ssh-", "ecdsa-")):
                out.add(f"{words[i]} {words[i + 1]}")
                break
    return out


def check_reach(output: str, new_keys: str, *, node: str, temporary: str, old: str
                ) -> list[Difference]:
    """Findings (*unexpected*: the run stops before R22) when firstbox's name ``node`` does
    not lead to the new VM pinned at ``temporary``."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    resolved = next((a for a in map(_address, lines) if a is not None), None)
    section = f"name {node} on firstbox"
    remedy = _("make firstbox resolve {node} to {temporary} (its /etc/hosts: the line "
               "pitrix-hosts got at R18/R19, /pitrix/build/packages/deb/pitrix-hosts/hosts), "
               "check with `getent hosts {node}` on firstbox, then resume").format(
        node=node, temporary=temporary)
    if resolved is None:
        return [Difference(section, None, None, None, None, "unexpected", RULE,
                           _("firstbox cannot resolve {node}: update.sh and exec_nodes.sh "
                             "reach nodes by name; {remedy}").format(node=node, remedy=remedy))]
    seen = keys_of("\n".join(ln for ln in lines if _address(ln) is None))
    pinned = keys_of(new_keys)
    if seen & pinned:
        return []
    if resolved == old:
        why = _("firstbox resolves {node} to {address}, the old VM: R22-R26 would install onto "
                "the old {node} (an R20 breach); {remedy}")
    elif not seen:
        why = _("firstbox resolves {node} to {address}, where no ssh host answers; {remedy}")
    else:
        why = _("firstbox resolves {node} to {address}, whose host key is not the new VM's "
                "(pinned at {temporary}): the scripts would reach another host; {remedy}")
    why = why.format(node=node, address=resolved, temporary=temporary, remedy=remedy)
    return [Difference(section, None, lines[0], None, 1, "unexpected", RULE, why)]
