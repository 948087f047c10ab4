"""Discovery (R2): a read-only snapshot of the zone, gathered from firstbox and the nodes.

Before any change the environment must be fully known (R2). This module asks firstbox and the
role's old nodes, over one connection per host, for what planning and checking need, and
returns a ``Snapshot``: plain data, saved as JSON with a fingerprint. Nothing here writes to a
host: every command is a read (cat, ls, dpkg-query, ip, virsh nodeinfo, df, ping).

What it gathers: the settings folder, the installer version, the zone variables (R10/R11's
vg_mgmt_network_gateway, the VM base network, deployed boss/warehouse), the packages installed
on the old nodes (R24-R26), the old nodes' haproxy.cfg, rc.local files, interfaces file and
supervisor status (R27-R29 compare against them; rollback can show them), which node holds the
VIP, the candidate physical hosts' capacity and bridges, the OS images and repositories
prepared on firstbox (R4), and which addresses answer ping (R16).

The parse functions are pure and tested on captured output; ``discover`` does the asking.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from nodeswap.errors import InputError, Problem, SettingsError, TransportError, ZoneError
from nodeswap.plan.model import Target
from nodeswap.runbooks import runbook_for
from nodeswap.shell import cmd
from nodeswap.transport.base import Connector, Result
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile, decode
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


@dataclass(frozen=True)
class HostCapacity:
    """A physical host's room for a new VM (None: could not be read)."""

    cpus: int | None = None
    memory_mb: int | None = None
    disk_free_mb: int | None = None
    bridges: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class OldNode:
    """What an old node of the role looks like before anything changes."""

    name: str
    address: str
    files: Mapping[str, str | None]  # path -> text (None: absent)
    supervisor: str
    packages: tuple[str, ...]
    addresses: tuple[str, ...]  # every address on its interfaces (the VIP shows here)
    error: str | None = None  # unreachable: why


@dataclass(frozen=True)
class Snapshot:
    firstbox: str
    settings: Mapping[str, str]
    installer_version: str
    variables: Mapping[str, str]
    kernels: tuple[str, ...]
    repos: tuple[str, ...]
    old_nodes: Mapping[str, OldNode]
    vip: str | None
    capacity: Mapping[str, HostCapacity]
    answering: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    role: str = "proxy"
    meta: Mapping[str, str] = field(default_factory=dict)

    # -- what planning uses -------------------------------------------------------------
    @property
    def components(self) -> frozenset[str]:
        """R24-R26: the components whose optional packages (the role's runbook says which)
        are installed on any old node."""
        packages = runbook_for(self.role).component_packages
        found: set[str] = set()
        for node in self.old_nodes.values():
            found.update(packages[p] for p in node.packages if p in packages)
        return frozenset(found)

    @property
    def vip_holder(self) -> str | None:
        if self.vip is None:
            return None
        for node in self.old_nodes.values():
            if self.vip in node.addresses:
                return node.name
        return None

    def state_fingerprint(self) -> str:
        """sha256 of what a plan is built on and apply must find unchanged: the settings
        folder, the installer version and the zone variables."""
        body = {
            "settings": dict(sorted(self.settings.items())),
            "installer_version": self.installer_version,
            "variables": dict(sorted(self.variables.items())),
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def settings_files(self) -> dict[str, SettingsFile]:
        return settings_files(self.settings)

    def facts(
        self,
        *,
        vg_mgmt_network_gateway: str | None = None,
        vm_base_network: str | None = None,
        vip: str | None = None,
        console_url: str | None = None,
        answering: Iterable[str] = (),
    ) -> ZoneFacts:
        """Zone facts, the spec's values winning over the zone's (the operator's override)."""
        var = self.variables
        return ZoneFacts(
            installer_version=InstallerVersion.parse(
                self.installer_version, source=VERSION_JSON
            ),
            components=self.components,
            vg_mgmt_network_gateway=vg_mgmt_network_gateway
            or var.get("vg_mgmt_network_gateway")
            or None,
            vm_base_network=vm_base_network or var.get("vm_base_network") or None,
            vip=vip or self.vip,
            vip_holder=self.vip_holder,
            console_url=console_url,
            answering=frozenset(self.answering) | frozenset(answering),
        )

    def zone(self, **overrides: Any) -> Zone:
        return Zone.build(self.settings_files(), self.facts(**overrides))

    # -- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fingerprint"] = self.state_fingerprint()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Snapshot:
        return cls(
            firstbox=data["firstbox"],
            settings=dict(data["settings"]),
            installer_version=data["installer_version"],
            variables=dict(data["variables"]),
            kernels=tuple(data["kernels"]),
            repos=tuple(data["repos"]),
            old_nodes={
                k: OldNode(**{**v, "packages": tuple(v["packages"]),
                              "addresses": tuple(v["addresses"])})
                for k, v in data["old_nodes"].items()
            },
            vip=data.get("vip"),
            capacity={
                k: HostCapacity(**{**v, "bridges": tuple(v["bridges"])})
                for k, v in data["capacity"].items()
            },
            answering=tuple(data.get("answering", ())),
            warnings=tuple(data.get("warnings", ())),
            role=data.get("role", "proxy"),
            meta=dict(data.get("meta", {})),
        )


# ---- pure parsers (tested on captured output) ---------------------------------------------
def parse_version_json(text: str) -> str:
    """``current.installer`` of /pitrix/version.json."""
    try:
        data = json.loads(text)
        value = data["current"]["installer"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ZoneError(f"{VERSION_JSON}: no current.installer ({exc})") from None
    if not isinstance(value, str | int | float):
        raise ZoneError(f"{VERSION_JSON}: current.installer is {value!r}")
    return str(value)


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
                    f"is a {kind} link: settings files must be regular files (the link was "
                    "not followed)", file=path))
                continue
            data = tar.extractfile(member) if member.isfile() else None
            if data is None:
                problems.append(Problem("is not a regular file (a FIFO, socket or device): "
                                        "settings files must be regular files", file=path))
                continue
            try:
                out[name] = decode(data.read(), path)
            except InputError as exc:
                problems.extend(exc.problems)
    if problems:
        raise SettingsError(problems)
    return out


def settings_files(settings: Mapping[str, str]) -> dict[str, SettingsFile]:
    """The settings texts parsed, every problem of every file at once (SettingsError)."""
    problems: list[Problem] = []
    files: dict[str, SettingsFile] = {}
    for name, text in sorted(settings.items()):
        try:
            files[name] = SettingsFile.from_text(text, path=settings_path(name))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SettingsError(problems)
    return files


def settings_path(name: str) -> str:
    """Where a settings file is on firstbox, fit to print (a bad name shown escaped)."""
    path = f"{SETTINGS_DIR}/{name}"
    return shown(path, limit=len(path))


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


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def parse_dpkg(text: str) -> tuple[str, ...]:
    """Installed packages from ``dpkg-query -W -f '${Package}\\t${Status}\\n'``."""
    out = []
    for line in text.splitlines():
        name, _, status = line.partition("\t")
        if status.strip().endswith("installed") and "not-installed" not in status:
            out.append(name.strip())
    return tuple(sorted(out))


_INET = re.compile(r"\binet6?\s+([0-9a-fA-F.:]+)(?:/\d+)?")


def parse_ip_addr(text: str) -> tuple[str, ...]:
    """Every address in ``ip -o addr show`` / ``ip addr`` output."""
    return tuple(sorted(set(_INET.findall(text))))


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


def parse_df(text: str) -> int | None:
    """Free MiB from ``df -Pk PATH`` (last line, 4th column)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    cols = lines[-1].split()
    return int(cols[3]) // 1024 if len(cols) >= 4 and cols[3].isdigit() else None


def parse_links(text: str) -> tuple[str, ...]:
    """Interface names from ``ip -o link show``: ``2: br0: <...> ...``."""
    names = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 2 and parts[0].strip().isdigit():
            names.append(parts[1].strip().split("@")[0])
    return tuple(names)


def parse_dump_hosts(text: str) -> str | None:
    """The proxy VIP: the first address of dump_hosts.py's host lines."""
    for line in text.splitlines():
        words = line.split()
        if words and not words[0].startswith("#") and re.fullmatch(r"[\d.]+", words[0]):
            return words[0]
    return None


# ---- asking the zone ----------------------------------------------------------------------
class Asker:
    """Runs read-only commands on targets through one connector; collects failures."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    async def run(self, target: Target, command: str, timeout: float = 60.0) -> Result:
        t = await self.connector.transport(target)
        return await t.run(command, timeout=timeout)

    async def must(self, target: Target, command: str, what: str) -> str:
        res = await self.run(target, command)
        if res.exit_status != 0:
            raise ZoneError(f"{target.name} ({target.address}): cannot read {what}: "
                            f"exit {res.exit_status}: {res.tail(5)}")
        return res.stdout


def _cat_optional(path: str) -> str:
    """Prints ``1`` then the file, or ``0`` when it does not exist."""
    return f"if {cmd('test', '-e', path)}; then echo 1; {cmd('cat', path)}; else echo 0; fi"


async def _settings_and_version(ask: Asker, fb: Target) -> tuple[dict[str, str], str]:
    """The settings folder (by file name) and the installer version, read on firstbox."""
    settings_b64 = await ask.must(
        fb, f"{cmd('tar', '-C', SETTINGS_DIR, '-cf', '-', '.')} | {cmd('base64', '-w', '0')}",
        SETTINGS_DIR)
    version = parse_version_json(await ask.must(fb, cmd("cat", VERSION_JSON), VERSION_JSON))
    return parse_settings_tar(settings_b64), version


async def read_zone(connector: Connector, fb: Target) -> Zone:
    """The zone's nodes as its settings files and installer version on firstbox describe them
    (read as discover reads them; no other fact): enough for exec_nodes.sh's groups."""
    settings, version = await _settings_and_version(Asker(connector), fb)
    return _bare_zone({"settings": settings, "version": version})


# The zone variables of installer < 4.3.0, one file each: ``NAME\tVALUE`` lines (read-only).
VARIABLE_FILES = (
    f"cd {cmd(VARIABLES_DIR)} 2>/dev/null && for f in *; do [ -f \"$f\" ] && "
    "printf '%s\\t%s\\n' \"$f\" \"$(head -c 4096 -- \"$f\" | tr '\\n' ' ')\"; done; true")


async def firstbox_part(ask: Asker, fb: Target) -> dict[str, Any]:
    settings, version = await _settings_and_version(ask, fb)
    yaml_res = await ask.run(fb, _cat_optional(f"{VARIABLES_DIR}/variables.yaml"))
    files_res = await ask.run(fb, VARIABLE_FILES)
    kernels = await ask.run(fb, f"ls -1 {cmd(KERNELS)} 2>/dev/null; true")
    repos = await ask.run(fb, f"ls -1 {cmd(REPO)} 2>/dev/null; true")
    dump = await ask.run(fb, f"{cmd('test', '-x', DUMP_HOSTS)} && {cmd(DUMP_HOSTS)}")
    return {
        "settings": settings,
        "version": version,
        "variables_yaml": yaml_res.stdout[2:] if yaml_res.stdout.startswith("1\n") else None,
        "variable_files": files_res.stdout,
        "kernels": tuple(kernels.stdout.split()),
        "repos": tuple(repos.stdout.split()),
        "vip": parse_dump_hosts(dump.stdout) if dump.exit_status == 0 else None,
    }


async def _old_node(ask: Asker, name: str, address: str, paths: Iterable[str]) -> OldNode:
    """The files the role's runbook keeps from an old node (R27, R28, R31...), its
    supervisor status (R29/R35), packages (R24-R26) and addresses (the VIP)."""
    target = Target(f"{name}-old", address, f"{name}-old")
    try:
        files: dict[str, str | None] = {}
        for path in paths:
            out = (await ask.run(target, _cat_optional(path))).stdout
            files[path] = out[2:] if out.startswith("1\n") else None
        sup = await ask.run(target, f"{cmd('supervisorctl', 'status')} 2>&1; true")
        pkgs = await ask.run(target, cmd("dpkg-query", "-W", "-f", "${Package}\\t${Status}\\n",
                                         "pitrix-*") + " 2>/dev/null; true")
        addrs = await ask.run(target, f"{cmd('ip', 'addr', 'show')}; true")
    except TransportError as exc:
        return OldNode(name, address, {}, "", (), (), error=str(exc))
    return OldNode(name, address, files, sup.stdout, parse_dpkg(pkgs.stdout),
                   parse_ip_addr(addrs.stdout))


async def _capacity(ask: Asker, name: str, address: str) -> HostCapacity:
    target = Target(name, address, name)
    try:
        info = await ask.run(target, f"{cmd('virsh', 'nodeinfo')} 2>/dev/null; true")
        df = await ask.run(target, f"{cmd('df', '-Pk', KERNELS)} 2>/dev/null; true")
        links = await ask.run(target, f"{cmd('ip', '-o', 'link', 'show')} 2>/dev/null; true")
    except TransportError as exc:
        return HostCapacity(error=str(exc))
    cpus, mem = parse_nodeinfo(info.stdout)
    return HostCapacity(cpus, mem, parse_df(df.stdout), parse_links(links.stdout))


async def ping_from(connector: Connector, fb: Target, addresses: Iterable[str]) -> set[str]:
    """Which of ``addresses`` answer ping from firstbox (R16: a temporary address must not)."""
    ask = Asker(connector)
    answering = set()
    for addr in sorted(set(addresses)):
        res = await ask.run(fb, cmd("ping", "-c", "2", "-W", "1", addr) + " >/dev/null 2>&1",
                            timeout=30.0)
        if res.exit_status == 0:
            answering.add(addr)
    return answering


async def discover(connector: Connector, firstbox: Target, *, role: str = "proxy") -> Snapshot:
    """The snapshot of the zone (R2). Read-only: every command only reads."""
    ask = Asker(connector)
    fb = await firstbox_part(ask, firstbox)
    zone = _bare_zone(fb)
    variables = variables_of(fb, zone)
    warnings: list[str] = []
    paths = runbook_for(role).fetched_files
    olds = {n.name: await _old_node(ask, n.name, n.address, paths)
            for n in zone.role_nodes(role)}
    for node in olds.values():
        if node.error:
            warnings.append(f"R2: old node {node.name} ({node.address}) did not answer: "
                            f"{node.error}")
    capacity = {n.name: await _capacity(ask, n.name, n.address) for n in zone.physical_nodes}
    snap = Snapshot(
        firstbox=firstbox.address, settings=fb["settings"], installer_version=fb["version"],
        variables=variables, kernels=fb["kernels"], repos=fb["repos"], old_nodes=olds,
        vip=fb["vip"], capacity=capacity, warnings=tuple(warnings), role=role)
    return _cross_check(snap)


def _bare_zone(part: Mapping[str, Any]) -> Zone:
    files = settings_files(part["settings"])
    version = InstallerVersion.parse(part["version"], source=VERSION_JSON)
    return Zone.build(files, ZoneFacts(version))


def variables_of(part: Mapping[str, Any], zone: Zone | None = None) -> dict[str, str]:
    """The zone variables from firstbox_part(): variables.yaml (>= 4.3.0) or one file each."""
    zone = zone or _bare_zone(part)
    zone_id = next(iter(zone.zone_ids), "")
    if part["variables_yaml"] is not None:
        return parse_variables_yaml(part["variables_yaml"], zone_id)
    return parse_variable_files(part["variable_files"], zone_id)


def _cross_check(snap: Snapshot) -> Snapshot:
    """Warn where the zone variables and what the nodes show disagree (R24-R26)."""
    warnings = list(snap.warnings)
    comp = snap.components
    boss = snap.variables.get("deploy_boss", "")
    if boss in ("1", "2") and not comp & {"boss", "boss2"}:
        warnings.append(f"R24/R25: deploy_boss is {boss} but no old node has a "
                        "pitrix-ks-proxy-boss* package; the packages decide")
    if snap.variables.get("deploy_warehouse") == "1" and "warehouse" not in comp:
        warnings.append("R26: deploy_warehouse is 1 but no old node has "
                        "pitrix-ks-proxy-warehouse; the packages decide")
    if snap.vip and snap.vip_holder is None:
        warnings.append(f"R23: no old node holds the VIP {snap.vip}")
    return Snapshot(**{**snap.__dict__, "warnings": tuple(warnings)})
