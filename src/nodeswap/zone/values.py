"""Names and values typed at the edge: node names, and settings values by key. Pure.

Everything here answers "is this text what it claims to be?" before any of it reaches a plan,
a shell or a terminal. Callers (inventory, spec, sources, discover) turn the answers into
Problems naming file, line and key.

Node names (settings file names, ``hostname=`` values, the spec's node keys and ``order``) are
RFC 1123 hostname labels, lowercase, with a letter first: 1-63 characters of ``a-z 0-9 -``,
not ending with ``-``. Pitrix's own names all have that shape: ``proxy0``, ``webservice1``,
physical hosts ``<zone>r<rack>n<slot>`` (``zz1ar01n01``), region-mode VMs ``<zone>-proxy0``
(``pek3b-proxy0``), firstbox ``qingcloud-firstbox``. The letter first (RFC 952's rule, which
RFC 1123 relaxed) keeps out names ssh and ping would read as an address (``123``,
``0x7f000001``) and anything a tool could take for an option (``-rf``, ``--help``); lowercase
because names resolve case-insensitively, so ``Proxy0`` and ``proxy0`` would be one host to
ssh and two nodes to Pitrix. Such a name is one shell word that needs no quoting.

Settings values (``KEY_TYPES``): integers, IPv4 addresses and lists of them, netmasks,
networks, MACs, interface names (Linux's rules: 1-15 characters, no ``/``, ``:`` or blanks;
here also a letter, digit or ``_`` first and only ``A-Za-z0-9_.-``), OS names and versions,
zone ids, role lists. Every value of every key, typed or not, is single-line plain text:
no control character (newline, CR, tab, ESC...), and its assignment sits on one physical line
(no backslash-newline inside quotes). A key assigned twice is refused (bash would keep the
last one silently). An empty value is accepted for every key but ``hostname``, as Pitrix's
``empty_setting`` template blanks every key before the node file is sourced (examples/zone
leaves ``region_id``, routing rules, ``physical_host*`` and, with VG, the VMs'
``mgmt_network_gateway`` empty). Keys not in the table are kept verbatim and only checked for
the plain-text rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from nodeswap.errors import Problem
from nodeswap.i18n import N_, _
from nodeswap.zone.settings import Assignment, SettingsFile

__all__ = [
    "KEY_TYPES",
    "interface_problem",
    "node_name_problem",
    "os_problem",
    "settings_problems",
    "shown",
]

_NODE_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_INT = re.compile(r"[0-9]{1,12}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_OS_NAME = re.compile(r"[a-z][a-z0-9]*")
_OS_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_ARCH = re.compile(r"[a-z0-9_]+")
_ROLE = re.compile(r"[A-Za-z0-9_.-]+(?: *, *[A-Za-z0-9_.-]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHOWN_MAX = 80

NODE_NAME_RULE = N_("a node name is a hostname label: 1-63 lowercase letters, digits and '-', "
                  "a letter first, no '-' last (proxy0, zz1ar01n01, pek3b-proxy0)")


def shown(text: str, limit: int = _SHOWN_MAX) -> str:
    """``text`` safe to print on a terminal: what is not printable (control and format
    characters: newline, ESC, bidi overrides...) escaped, long text cut."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                  for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


def _quoted(text: str) -> str:
    return "'" + shown(text) + "'"


def os_problem(os_name: str, os_version: str) -> str | None:
    """Why (os_name, os_version) is not an OS release such as (bionic, 18.04.6), or None."""
    if not _OS_NAME.fullmatch(os_name):
        return _("{value} is not an OS release name (xenial, bionic)").format(
            value=_quoted(os_name))
    if not _OS_VERSION.fullmatch(os_version):
        return _("{value} is not an OS version (16.04.5)").format(value=_quoted(os_version))
    return None


def node_name_problem(name: str) -> str | None:
    """Why ``name`` is not a node name, or None when it is one."""
    if _NODE_NAME.fullmatch(name):
        return None
    return _("{value} is not a node name: {rule}").format(value=_quoted(name),
                                                          rule=_(NODE_NAME_RULE))


def interface_problem(value: str) -> str | None:
    """Why ``value`` is not a network interface (or bridge) name, or None."""
    why = _interface(value)
    return None if why is None else _("{value} {why}").format(value=_quoted(value), why=why)


# ---- one checker per type: None when the (non-empty) value is of the type --------------------
def _ipv4(value: str) -> str | None:
    try:
        IPv4Address(value)
    except ValueError:
        return _("is not an IPv4 address (a.b.c.d)")
    return None


def _ipv4_list(value: str) -> str | None:
    words = value.split()  # tabs and newlines are refused before (plain one-line text)
    if not words or any(_ipv4(w) for w in words):
        return _("is not a list of IPv4 addresses separated by spaces")
    return None


def _netmask(value: str) -> str | None:
    try:
        net = IPv4Network(f"0.0.0.0/{value}")
        ok = "." in value and net.netmask == IPv4Address(value)
    except ValueError:
        ok = False
    return None if ok else _("is not a netmask (255.255.255.0)")


def _network(value: str) -> str | None:
    try:
        IPv4Network(value, strict=False)
    except ValueError:
        return _("is not an IPv4 network (172.21.130.0 or 172.21.0.0/16)")
    return None if "." in value else _("is not an IPv4 network (172.21.130.0 or 172.21.0.0/16)")


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if regex.fullmatch(value) else _(what)
    return check


def _node_name(value: str) -> str | None:
    return None if _NODE_NAME.fullmatch(value) else \
        _("is not a node name: {rule}").format(rule=_(NODE_NAME_RULE))


def _interface(value: str) -> str | None:
    if _IFNAME.fullmatch(value):
        return None
    return _("is not an interface name: 1-15 characters of letters, digits, '_', '.', '-', "
             "not starting with '.' or '-' (eth0, br0, bond0.100)")


_INTEGER = _pattern(_INT, N_("is not a whole number (digits only)"))
_MAC_CHECK = _pattern(_MAC, N_("is not a MAC address (00:16:3e:xx:xx:xx)"))

# key -> checker of a non-empty value (explicit: unknown keys are only held to plain text)
KEY_TYPES: dict[str, Callable[[str], str | None]] = {
    "hostname": _node_name,
    "role": _pattern(_ROLE, N_("is not a comma list of roles (proxy, seed,vbr,snapshot)")),
    "zone_id": _pattern(_LABEL, N_("is not a zone id (lowercase letters, digits, '-')")),
    "region_id": _pattern(_LABEL, N_("is not a region id (lowercase letters, digits, '-')")),
    "is_region": _INTEGER,
    "cpu_cores": _INTEGER,
    "memory_size": _INTEGER,
    "cpu_arch": _pattern(_ARCH, N_("is not a CPU architecture (x86_64)")),
    "os_name": _pattern(_OS_NAME, N_("is not an OS release name (xenial, bionic)")),
    "os_version": _pattern(_OS_VERSION, N_("is not an OS version (16.04.5)")),
    "firstbox_address": _ipv4,
    "physical_host": _ipv4,
    "bm_ipmi_address": _ipv4,
    "mgmt_network_address": _ipv4,
    "mgmt_network_gateway": _ipv4,
    "mgmt_network_netmask": _netmask,
    "mgmt_network_dns_servers": _ipv4_list,
    "mgmt_network_mac_address": _MAC_CHECK,
    "eip_network_address": _ipv4,
    "eip_network_gateway": _ipv4,
    "eip_network_netmask": _netmask,
    "eip_network_mac_address": _MAC_CHECK,
    "vm_base_network": _network,
    "vm_base_master_network": _network,
    "mgmt_network_interface": _interface,
    "eip_network_interface": _interface,
    "physical_host_network_interface": _interface,
    "physical_host_eip_network_interface": _interface,
    "bm_pxe_network_interface": _interface,
    "netinst_network_interface": _interface,
}
REQUIRED = frozenset({"hostname"})


def settings_problems(sf: SettingsFile) -> list[Problem]:
    """Every problem of a node's settings file as Pitrix values: duplicates, multi-line or
    control characters, values of the wrong type (see the module doc)."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for a in sf.assignments():
        def problem(message: str, a: Assignment = a) -> None:
            problems.append(Problem(message, file=sf.path, line=a.line, key=a.key))
        if a.key in first:
            problem(_("{key} is assigned again (first on line {first}): bash would keep the "
                      "last value silently; keep one assignment").format(key=a.key,
                                                                        first=first[a.key]))
            continue
        first[a.key] = a.line
        if a.lines > 1:
            problem(_("the assignment spans {n} lines: a settings value is one line").format(
                n=a.lines))
        elif _CONTROL.search(a.value):
            problem(_("the value holds a control character (newline, tab, escape...): a "
                      "settings value is one line of plain text"))
        elif a.value == "":
            if a.key in REQUIRED:
                problem(_("the value is empty"))
        else:
            check = KEY_TYPES.get(a.key)
            why = check(a.value) if check is not None else None
            if why is not None:
                problem(_("{value} {why}").format(value=_quoted(a.value), why=why))
    return problems
