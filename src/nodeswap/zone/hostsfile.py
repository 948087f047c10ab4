"""`nodeswap exec --hosts-file`: one ``[user@]host[:port]`` per line. Pure: bytes in, entries out.

``#`` starts a comment; blank lines are skipped; an IPv6 address takes a port only in brackets
(``[fe80::1]:2222``). Everything wrong is an InputError naming the file and line, every problem
at once: an empty file (no hosts), a binary file (a NUL byte, or not UTF-8), a line with
spaces inside, an empty user, a bad port, characters that are not valid in a hostname or an IP
address. Nothing here reads a file or opens a connection; no value parsed here reaches a shell
(the host, user and port go to the SSH client as they are).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NUMERIC = re.compile(r"[0-9.]+")
_PORT = re.compile(r"[0-9]{1,5}")
_BRACKETED = re.compile(r"\[([^\]]*)\](?::(.*))?")


@dataclass(frozen=True)
class HostEntry:
    """One line of a hosts file: the host (IPv6 without brackets), its own login and port."""

    host: str
    user: str | None = None
    port: int | None = None
    line: int = 0

    @property
    def text(self) -> str:
        """The entry as ``[user@]host[:port]`` (the row's key in exec's output)."""
        host = f"[{self.host}]" if ":" in self.host and self.port is not None else self.host
        return (f"{self.user}@" if self.user else "") + host + (
            f":{self.port}" if self.port is not None else "")


def parse_hosts(data: bytes, source: str) -> list[HostEntry]:
    """The entries of a hosts file's bytes (duplicates dropped, first kept, in file order);
    InputError naming ``source`` and the line of every problem."""
    text = _decode(data, source)
    entries: dict[str, HostEntry] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            entry = parse_entry(item, number)
        except ValueError as exc:
            shown = item if len(item) <= 80 else item[:77] + "..."
            problems.append(Problem(_("{shown!r}: {exc}").format(shown=shown, exc=exc),
                                    file=source, line=number))
            continue
        entries.setdefault(entry.text, entry)
    if problems:
        raise InputError(problems)
    if not entries:
        raise InputError([Problem(
            _("no hosts: expected one [USER@]HOST[:PORT] per line ('#' comments and blank "
              "lines allowed)"), file=source)])
    return list(entries.values())


def _decode(data: bytes, source: str) -> str:
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError([Problem(_("a binary file (NUL byte), not a hosts file"), file=source,
                                  line=data.count(b"\n", 0, nul) + 1)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(
            _("not UTF-8 text (byte {byte:#04x}): a binary file, not a hosts file").format(
                byte=data[exc.start]),
            file=source, line=data.count(b"\n", 0, exc.start) + 1)]) from None


def parse_entry(item: str, line: int = 0) -> HostEntry:
    """``[user@]host[:port]`` (already stripped of comments and outer blanks); ValueError
    saying what is wrong."""
    if any(c.isspace() for c in item):
        raise ValueError(_("space inside an entry: one [USER@]HOST[:PORT] per line"))
    user: str | None = None
    if "@" in item:
        user, _at, item = item.partition("@")
        if not user:
            raise ValueError(_("empty user before '@'"))
        if not _USER.fullmatch(user):
            raise ValueError(_("{user!r} is not a valid user name").format(user=user))
    host, port = _split_port(item)
    _check_host(host)
    return HostEntry(host, user, None if port is None else _port(port), line)


def _split_port(item: str) -> tuple[str, str | None]:
    if item.startswith("["):
        m = _BRACKETED.fullmatch(item)
        if m is None:
            raise ValueError(_("expected [IPV6] or [IPV6]:PORT"))
        try:
            IPv6Address(m.group(1))
        except ValueError:
            raise ValueError(_("{address!r} in brackets is not an IPv6 address").format(
                address=m.group(1))) from None
        return m.group(1), m.group(2)
    if item.count(":") > 1:  # a bare IPv6 address takes no port
        return item, None
    host, colon, port = item.partition(":")
    return host, port if colon else None


def _port(text: str) -> int:
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise ValueError(_("bad port {text!r}: expected a number from 1 to 65535").format(
            text=text))
    return int(text)


def _check_host(host: str) -> None:
    if not host:
        raise ValueError(_("no host"))
    if ":" in host:
        if "%" in host:
            raise ValueError(_("{host!r}: scoped IPv6 addresses are not supported").format(
                host=host))
        try:
            IPv6Address(host)
        except ValueError:
            raise ValueError(_("{host!r} is not a valid IPv6 address (write [ADDRESS]:PORT for "
                               "a port)").format(host=host)) from None
        return
    if _NUMERIC.fullmatch(host):
        try:
            IPv4Address(host)
        except ValueError:
            raise ValueError(_("{host!r} is not a valid IPv4 address").format(host=host)) from None
        return
    name = host.removesuffix(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(_("{host!r} is not a valid host name or IP address (letters, digits, "
                           "'-' and '.' only)").format(host=host))
