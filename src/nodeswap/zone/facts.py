"""Discovery's facts (R2): each read-only command with the parser of its output. Pure.

A ``Fact`` is a command and a parser, side by side (as pyinfra's facts): live/discover.py runs
the command on firstbox, an old node or a physical host and hands what came back to the
parser; nothing here runs anything. Every command only reads (cat, ls, tar, dpkg-query, ip,
virsh nodeinfo, df, ping) and is built with ``shell.cmd``. The parsers are tested on captured
output (tests/unit/test_discover.py).

On firstbox: the settings folder, the installer version, the zone variables (variables.yaml
from installer 4.3.0, else one small file each), the OS images and repositories prepared
(R4), the proxy VIP, which addresses answer ping (R16). On an old node: the files its
runbook keeps, its supervisor status, its packages, its addresses. On a physical host: CPUs,
memory, free disk and bridges (R13-R15).
"""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import yaml

from nodeswap.errors import InputError, Problem, SettingsError, ZoneError
from nodeswap.i18n import _
from nodeswap.shell import cmd
from nodeswap.zone.settings import decode
from nodeswap.zone.values import shown

SETTINGS_DIR = "/pitrix/conf/settings"
VARIABLES_DIR = "/pitrix/conf/variables"
VERSION_JSON = "/pitrix/version.json"
KERNELS = "/pitrix/kernels"
REPO = "/pitrix/repo"
DUMP_HOSTS = "/pitrix/bin/dump_hosts.py"

VARIABLE_KEYS = (
    "vg_mgmt_network_gateway",
    "vm_base_network",
    "deploy_boss",
    "deploy_warehouse",
    "is_region",
    "domain",
    "webservice_floating_ip",
)

T = TypeVar("T")


class Output(Protocol):
    """What a parser sees of a command's result (``transport.base.Result`` is one)."""

    @property
    def exit_status(self) -> int | None: ...

    @property
    def stdout(self) -> str: ...


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One read-only command and the parser of its output.

    ``required``: the command must exit 0, else discovery stops with a ZoneError naming
    ``what`` (the parser never sees a failure); otherwise the parser gets whatever came back.
    """

    what: str
    command: str
    parse: Callable[[Output], T]
    required: bool = False
    timeout: float = 60.0


def _stdout(parse: Callable[[str], T]) -> Callable[[Output], T]:
    """A parser of the command's standard output alone (its exit status does not matter)."""
    return lambda out: parse(out.stdout)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _as_is(text: str) -> str:
    return text


# ---- firstbox: the settings folder and the installer version --------------------------------
def parse_settings_tar(b64: str) -> dict[str, str]:
    """The settings folder, sent as a base64 tar: regular files at its top level, by name.

    As offline (sources.py): hidden files, backups (``~``) and sub-folders are skipped; a
    symbolic link, a hard link or a special file at the top level is refused (tar records a
    link as a link: nothing it points at was read, nothing is shown); the bytes must be
    UTF-8. Names are checked with the zone (inventory.py)."""
    raw = base64.b64decode(b64.strip() or b"")
    out: dict[str, str] = {}
    problems: list[Problem] = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("./")
            if "/" in name or name.startswith(".") or name.endswith("~") or member.isdir():
                continue
            path = settings_path(name)
            if member.issym() or member.islnk():
                kind = "symbolic" if member.issym() else "hard"
                problems.append(Problem(
                    _("is a {kind} link: settings files must be regular files (the link was "
                      "not followed)").format(kind=kind), file=path))
                continue
            data = tar.extractfile(member) if member.isfile() else None
            if data is None:
                problems.append(Problem(_("is not a regular file (a FIFO, socket or device): "
                                          "settings files must be regular files"), file=path))
                continue
            try:
                out[name] = decode(data.read(), path)
            except InputError as exc:
                problems.extend(exc.problems)
    if problems:
        raise SettingsError(problems)
    return out


def settings_path(name: str) -> str:
    """Where a settings file is on firstbox, fit to print (a bad name shown escaped)."""
    path = f"{SETTINGS_DIR}/{name}"
    return shown(path, limit=len(path))


SETTINGS = Fact(
    SETTINGS_DIR,
    f"{cmd('tar', '-C', SETTINGS_DIR, '-cf', '-', '.')} | {cmd('base64', '-w', '0')}",
    _stdout(parse_settings_tar), required=True)


def parse_version_json(text: str) -> str:
    """``current.installer`` of /pitrix/version.json."""
    try:
        data = json.loads(text)
        value = data["current"]["installer"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ZoneError(_("{file}: no current.installer ({exc})").format(
            file=VERSION_JSON, exc=exc)) from None
    if not isinstance(value, str | int | float):
        raise ZoneError(_("{file}: current.installer is {value!r}").format(
            file=VERSION_JSON, value=value))
    return str(value)


INSTALLER_VERSION = Fact(VERSION_JSON, cmd("cat", VERSION_JSON), _stdout(parse_version_json),
                         required=True)


# ---- firstbox: the zone variables -----------------------------------------------------------
def parse_variables_yaml(text: str, zone_id: str) -> dict[str, str]:
    """Installer >= 4.3.0: ``common`` plus the zone's own mapping (the zone's wins)."""
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        return {}
    merged: dict[str, Any] = {}
    for section in ("common", zone_id):
        part = data.get(section)
        if isinstance(part, dict):
            merged.update(part)
    return {k: _scalar(merged[k]) for k in VARIABLE_KEYS if k in merged}


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def parse_variable_files(listing: str, zone_id: str) -> dict[str, str]:
    """Installer < 4.3.0: one small file per variable, ``name`` or ``name.<zone>``.

    ``listing`` holds ``<file name>\\t<content on one line>`` lines.
    """
    plain: dict[str, str] = {}
    zoned: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, value = line.partition("\t")
        key, dot, zone = name.partition(".")
        if key not in VARIABLE_KEYS:
            continue
        if not dot:
            plain[key] = value.strip()
        elif zone == zone_id:
            zoned[key] = value.strip()
    return {**plain, **zoned}


# The zone variables of installer < 4.3.0, one file each: ``NAME\tVALUE`` lines (read-only).
# Which zone's values win is known only with the settings: variables_of (snapshot.py) parses.
VARIABLE_FILES = (
    f"cd {cmd(VARIABLES_DIR)} 2>/dev/null && for f in *; do [ -f \"$f\" ] && "
    "printf '%s\\t%s\\n' \"$f\" \"$(head -c 4096 -- \"$f\" | tr '\\n' ' ')\"; done; true")
VARIABLE_LISTING = Fact(VARIABLES_DIR, VARIABLE_FILES, _stdout(_as_is))


# ---- firstbox: images, repositories, the VIP, ping ------------------------------------------
KERNEL_IMAGES = Fact(KERNELS, f"ls -1 {cmd(KERNELS)} 2>/dev/null; true", _stdout(_words))
REPOSITORIES = Fact(REPO, f"ls -1 {cmd(REPO)} 2>/dev/null; true", _stdout(_words))


def parse_dump_hosts(text: str) -> str | None:
    """The proxy VIP: the first address of dump_hosts.py's host lines."""
    for line in text.splitlines():
        words = line.split()
        if words and not words[0].startswith("#") and re.fullmatch(r"[\d.]+", words[0]):
            return words[0]
    return None


def _vip(out: Output) -> str | None:
    return parse_dump_hosts(out.stdout) if out.exit_status == 0 else None


VIP = Fact(DUMP_HOSTS, f"{cmd('test', '-x', DUMP_HOSTS)} && {cmd(DUMP_HOSTS)}", _vip)


def parse_getent(text: str) -> str | None:
    """The IPv4 address of ``getent hosts NAME``'s first line (None: not resolved)."""
    words = text.split()
    return words[0] if words and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", words[0]) else None


def zone_vip(zone_id: str) -> Fact[str | None]:
    """A region zone's proxy VIP: firstbox's address for the floating name ``<zone>-proxy``
    (reference section 1; dump_hosts.py gives one zone's only)."""
    name = f"{zone_id}-proxy"
    return Fact(f"getent hosts {name}", cmd("getent", "hosts", name) + "; true",
                _stdout(parse_getent))


def answers_ping(address: str) -> Fact[bool]:
    """Whether ``address`` answers ping from where it runs (R16: a temporary address must
    not)."""
    # two echo requests 0.2 s apart, a second for the last answer: a free address costs 1.2 s
    return Fact(f"ping {address}", cmd("ping", "-c", "2", "-i", "0.2", "-W", "1", address)
                + " >/dev/null 2>&1", lambda out: out.exit_status == 0, timeout=30.0)


# ---- an old node: its files, supervisor, packages, addresses --------------------------------
def parse_optional_file(text: str) -> str | None:
    """The output of ``file_text``: ``1`` then the file, or ``0`` (no such file: None)."""
    return text[2:] if text.startswith("1\n") else None


def file_text(path: str) -> Fact[str | None]:
    """A file's text, or None when it does not exist."""
    command = f"if {cmd('test', '-e', path)}; then echo 1; {cmd('cat', path)}; else echo 0; fi"
    return Fact(path, command, _stdout(parse_optional_file))


SUPERVISOR_STATUS = Fact("supervisor status", f"{cmd('supervisorctl', 'status')} 2>&1; true",
                         _stdout(_as_is))


def parse_dpkg(text: str) -> tuple[str, ...]:
    """Installed packages from ``dpkg-query -W -f '${Package}\\t${Status}\\n'``."""
    out = []
    for line in text.splitlines():
        name, _, status = line.partition("\t")
        if status.strip().endswith("installed") and "not-installed" not in status:
            out.append(name.strip())
    return tuple(sorted(out))


PITRIX_PACKAGES = Fact(
    "packages",
    cmd("dpkg-query", "-W", "-f", "${Package}\\t${Status}\\n", "pitrix-*") + " 2>/dev/null; true",
    _stdout(parse_dpkg))

_INET = re.compile(r"\binet6?\s+([0-9a-fA-F.:]+)(?:/\d+)?")


def parse_ip_addr(text: str) -> tuple[str, ...]:
    """Every address in ``ip -o addr show`` / ``ip addr`` output."""
    return tuple(sorted(set(_INET.findall(text))))


ADDRESSES = Fact("addresses", f"{cmd('ip', 'addr', 'show')}; true", _stdout(parse_ip_addr))


# ---- a physical host: room for a new VM (R13-R15) -------------------------------------------
def parse_nodeinfo(text: str) -> tuple[int | None, int | None]:
    """(CPUs, memory MiB) from ``virsh nodeinfo``."""
    cpus = mem = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if key.strip() == "CPU(s)" and words and words[0].isdigit():
            cpus = int(words[0])
        elif key.strip() == "Memory size" and words and words[0].isdigit():
            mem = int(words[0]) // 1024  # KiB
    return cpus, mem


NODEINFO = Fact("virsh nodeinfo", f"{cmd('virsh', 'nodeinfo')} 2>/dev/null; true",
                _stdout(parse_nodeinfo))


def parse_df(text: str) -> int | None:
    """Free MiB from ``df -Pk PATH`` (last line, 4th column)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    cols = lines[-1].split()
    return int(cols[3]) // 1024 if len(cols) >= 4 and cols[3].isdigit() else None


DISK_FREE = Fact(f"free disk of {KERNELS}", f"{cmd('df', '-Pk', KERNELS)} 2>/dev/null; true",
                 _stdout(parse_df))


def parse_links(text: str) -> tuple[str, ...]:
    """Interface names from ``ip -o link show``: ``2: br0: <...> ...``."""
    names = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 2 and parts[0].strip().isdigit():
            names.append(parts[1].strip().split("@")[0])
    return tuple(names)


LINKS = Fact("links", f"{cmd('ip', '-o', 'link', 'show')} 2>/dev/null; true",
             _stdout(parse_links))
