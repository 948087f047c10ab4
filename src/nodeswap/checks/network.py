"""A VM's network configuration and live addresses against the old VM's (R29, R31, R33). Pure.

Owns ``parse_config`` (ifupdown's /etc/network/interfaces, or the dump of every network file
``NETWORK_DUMP`` prints: ifupdown and netplan, each after a ``==> PATH <==`` line; text without
such a line is an interfaces file), ``compare_config`` (old vs new under the address map, MAC
lines aside), ``check_live`` (``ip -4 -o addr`` against the old configuration: the same
interface names, exactly its addresses, the VIP aside) and ``check_stale`` (the lines of a
``grep -HnowF`` sweep, each naming a file that still holds a temporary address). Must not do
I/O.

R31 changes the new VM's addresses to the old node's: every temporary address (MGMT, and with
VG nodes the dummy EIP of R12). Findings are all *unexpected*: an interface missing or extra,
an address, netmask, gateway or DNS server that differs, another option line (ifupdown on both
sides only), a temporary address still live or still in a file.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from nodeswap.i18n import _

from .findings import AddressMap, Difference
from .vip import addresses as live_addresses

INTERFACES = "/etc/network/interfaces"
# ifupdown and netplan, whichever the VM uses (18.04 may use netplan): each file after a header
NETWORK_DUMP = ('for f in /etc/network/interfaces /etc/network/interfaces.d/* '
                '/etc/netplan/*.yaml; do test -f "$f" || continue; '
                'printf "==> %s <==\\n" "$f"; cat "$f"; echo; done')
_HEADER = re.compile(r"^==> (?P<path>.+) <==$")
# MAC lines differ by design (R14: new MACs): never compared
MAC_OPTIONS = frozenset({"hwaddress", "macaddress", "match"})
_STANZA = re.compile(r"^(iface|auto|allow-\S+|source|source-directory|mapping|"
                     r"no-auto-down|no-scripts)\b")


@dataclass(frozen=True)
class Iface:
    """One interface's IPv4 configuration (``options``: other lines, "key value")."""

    name: str
    kind: str  # ifupdown | netplan
    source: str  # the file
    line: int
    addresses: tuple[str, ...] = ()  # "a.b.c.d/prefix", sorted
    gateway: str = ""
    dns: tuple[str, ...] = ()
    options: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        return (f"{self.name}: {' '.join(self.addresses) or 'no address'}"
                f"{' gw ' + self.gateway if self.gateway else ''}")


def _files(text: str) -> list[tuple[str, str]]:
    """(path, text) of each file of a dump (a text without headers: the interfaces file)."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            out.append((m.group("path"), []))
        elif out:
            out[-1][1].append(line)
        elif line.strip():
            out.append((INTERFACES, [line]))
    return [(p, "\n".join(lines)) for p, lines in out]


def parse_config(text: str) -> dict[str, Iface]:
    """Every interface (but lo) configured in ``text``, by name (a later file wins)."""
    out: dict[str, Iface] = {}
    for path, body in _files(text):
        found = _netplan(path, body) if path.endswith(".yaml") else _ifupdown(path, body)
        out.update({i.name: i for i in found})
    return out


def _prefixed(address: str, netmask: str) -> str:
    if "/" in address:
        return address
    try:
        net = ipaddress.IPv4Network(f"0.0.0.0/{netmask or '255.255.255.255'}")
    except ValueError:
        return f"{address}/{netmask}"
    return f"{address}/{net.prefixlen}"


def _ifupdown(path: str, text: str) -> list[Iface]:
    stanzas: list[tuple[str, int, dict[str, list[str]]]] = []
    current: dict[str, list[str]] | None = None
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"iface\s+(\S+)\s+inet\s+(\S+)", line)
        if m:
            current = None if m.group(1) == "lo" else {"method": [m.group(2)]}
            if current is not None:
                stanzas.append((m.group(1), no, current))
        elif _STANZA.match(line):  # another stanza (inet6 too): its options are not ours
            current = None
        elif line and current is not None:
            key, _, value = line.partition(" ")
            current.setdefault(key, []).append(" ".join(value.split()))
    return [_stanza(path, name, no, opts) for name, no, opts in stanzas]


def _stanza(path: str, name: str, line: int, opts: dict[str, list[str]]) -> Iface:
    netmask = (opts.get("netmask") or [""])[0]
    addrs = tuple(sorted(_prefixed(a, netmask) for a in opts.get("address", [])))
    dns = tuple(w for v in opts.get("dns-nameservers", []) for w in v.split())
    skip = {"address", "netmask", "gateway", "dns-nameservers", *MAC_OPTIONS}
    other = tuple(sorted(f"{k} {v}" for k, vs in opts.items() if k not in skip for v in vs))
    return Iface(name, "ifupdown", path, line, addrs, (opts.get("gateway") or [""])[0], dns,
                 other)


def _netplan(path: str, text: str) -> list[Iface]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return [Iface("?", "netplan", path, 0, options=(f"unreadable: {exc}",))]
    net: Any = doc.get("network", {}) if isinstance(doc, dict) else {}
    out: list[Iface] = []
    for section in ("ethernets", "bonds", "bridges", "vlans"):
        devices = net.get(section) if isinstance(net, dict) else None
        for name, raw in (devices or {}).items():
            dev = raw if isinstance(raw, dict) else {}
            dns = (dev.get("nameservers") or {}).get("addresses") or []
            other = [f"{k} {v}" for k, v in sorted(dev.items())
                     if k not in {"addresses", "gateway4", "nameservers", *MAC_OPTIONS}]
            out.append(Iface(str(name), "netplan", path, 0,
                             tuple(sorted(str(a) for a in dev.get("addresses") or [])),
                             str(dev.get("gateway4") or ""), tuple(str(d) for d in dns),
                             tuple(other)))
    return out


def compare_config(old_text: str, new_text: str, address_map: AddressMap, *, node: str,
                   rule: str) -> list[Difference]:
    """The new VM's network configuration against the old one's: with ``address_map``
    (old=temporary) the new side is mapped back first; MAC lines aside."""
    old = parse_config(old_text)
    new = parse_config(address_map.back(new_text))
    out: list[Difference] = []

    def diff(what: str, o: Iface | None, n: Iface | None, reason: str) -> None:
        out.append(Difference(f"network {what}", o.describe() if o else None,
                              n.describe() if n else None, o.line if o else None,
                              n.line if n else None, "unexpected", rule, reason))

    for name in sorted(old.keys() | new.keys()):
        o, n = old.get(name), new.get(name)
        if o is None or n is None:
            msg = _("interface {name} is not configured on the new {node}") if n is None \
                else _("interface {name} is not configured on the old {node}")
            diff(name, o, n, msg.format(name=name, node=node))
            continue
        for attr in ("addresses", "gateway", "dns"):
            if getattr(o, attr) != getattr(n, attr):
                diff(name, o, n, _("{what} of {name} differ on the new {node} ({file})").format(
                    what=attr, name=name, node=node, file=n.source))
        if o.kind == n.kind and o.options != n.options:
            diff(name, o, n, _("options of {name} differ: old {old}, new {new}").format(
                name=name, old=list(o.options), new=list(n.options)))
    return out


def check_live(ip_output: str, old_text: str, *, vip: str, node: str, rule: str
               ) -> list[Difference]:
    """``ip -4 -o addr`` of the switched VM against the old VM's configuration: the same
    interfaces, exactly the old addresses (plus the VIP where keepalived put it)."""
    old = parse_config(old_text)
    want = {a.split("/")[0]: i.name.split(":")[0] for i in old.values() for a in i.addresses}
    live = [(iface, addr) for iface, addr in live_addresses(ip_output) if iface != "lo"]
    out: list[Difference] = []
    names_old = {i.name.split(":")[0] for i in old.values()}
    names_new = {iface for iface, _addr in live}
    for name in sorted(names_old ^ names_new):
        msg = _("interface {name} has addresses only on the old configuration ({node})") \
            if name in names_old else \
            _("interface {name} has addresses only on the switched VM ({node})")
        out.append(Difference(f"addresses {name}", None, None, None, None, "unexpected", rule,
                              msg.format(name=name, node=node)))
    seen = set()
    for iface, addr in live:
        seen.add(addr)
        if addr == vip:
            continue
        if addr not in want:
            out.append(Difference(f"addresses {iface}", None, f"{iface} {addr}", None, None,
                                  "unexpected", rule, _(
                                      "{node} holds {address}, not an address of the old VM (a "
                                      "temporary address left behind?)").format(
                                          node=node, address=addr)))
        elif want[addr] != iface:
            out.append(Difference(f"addresses {iface}", f"{want[addr]} {addr}",
                                  f"{iface} {addr}", None, None, "unexpected", rule,
                                  _("{address} is on {iface}, the old VM had it on "
                                    "{old}").format(address=addr, iface=iface,
                                                    old=want[addr])))
    for addr in sorted(set(want) - seen):
        out.append(Difference(f"addresses {want[addr]}", f"{want[addr]} {addr}", None, None,
                              None, "unexpected", rule,
                              _("{node} does not hold the old VM's address {address}").format(
                                  node=node, address=addr)))
    return out


def check_stale(output: str, *, node: str, rule: str,
                names: Mapping[str, str] | None = None) -> list[Difference]:
    """Each ``path:line:address`` line of a sweep: a file still holding a temporary address
    (``names``: address -> whose it is, for the reason)."""
    out: list[Difference] = []
    for raw in output.splitlines():
        parts = raw.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        path, line, addr = parts
        whose = f" ({names[addr]})" if names and addr in names else ""
        out.append(Difference(path, None, raw, None, int(line), "unexpected", rule,
                              _("{path} on {node} still holds the temporary address "
                                "{address}{whose}").format(path=path, node=node, address=addr,
                                                           whose=whose)))
    return out
