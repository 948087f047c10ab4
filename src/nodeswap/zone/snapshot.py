"""The zone as discovery saw it (R2): the ``Snapshot``, its JSON and its cross-checks. Pure.

A snapshot is plain data, saved as JSON with a fingerprint: the settings folder, the installer
version, the zone variables, the role's old nodes (their kept files, supervisor status,
packages, addresses), which node holds the VIP, the candidate physical hosts' capacity and
bridges, the OS images and repositories prepared on firstbox (R4), and which addresses answer
ping (R16). Planning builds its ``Zone`` from it; the preflight judges it; apply and resume
compare its ``state_fingerprint``. Reading it from the zone is live/discover.py; each command
and its parser is facts.py. Must not do I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from nodeswap.errors import InputError, Problem, SettingsError
from nodeswap.i18n import N_
from nodeswap.zone.facts import (
    VERSION_JSON,
    parse_variable_files,
    parse_variables_yaml,
    settings_path,
)
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts
from nodeswap.zone.settings import SettingsFile


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
    # firstbox's update scripts (aptscript.UPDATE_SCRIPTS) by path: None = absent; an empty
    # mapping = not read (a snapshot from before issue 10). The preflight reads their apt
    # branches (R23-R26).
    update_scripts: Mapping[str, str | None] = field(default_factory=dict)
    # In a region, the variables of the zone being planned when it is not the first zone
    # (``variables``, in the state fingerprint, are the first zone's plus every other zone's
    # as ``ZONE.key``: variables_of); empty: ``variables``.
    zone_variables: Mapping[str, str] = field(default_factory=dict)

    @property
    def planned_variables(self) -> Mapping[str, str]:
        """The variables of the zone the plan is for (R10/R11, R24-R26)."""
        return self.zone_variables or self.variables

    # -- what planning uses -------------------------------------------------------------
    def components(self, packages: Mapping[str, str]) -> frozenset[str]:
        """R24-R26: the components whose optional packages (``packages``: package -> component,
        as the role's runbook declares them; nodeswap.runbooks.components_of) are installed on
        any old node."""
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
        components: frozenset[str],
        vg_mgmt_network_gateway: str | None = None,
        vm_base_network: str | None = None,
        vip: str | None = None,
        console_url: str | None = None,
        answering: Iterable[str] = (),
    ) -> ZoneFacts:
        """Zone facts, the spec's values winning over the zone's (the operator's override)."""
        var = self.planned_variables
        return ZoneFacts(
            installer_version=InstallerVersion.parse(
                self.installer_version, source=VERSION_JSON
            ),
            components=components,
            vg_mgmt_network_gateway=vg_mgmt_network_gateway
            or var.get("vg_mgmt_network_gateway")
            or None,
            vm_base_network=vm_base_network or var.get("vm_base_network") or None,
            vip=vip or self.vip,
            vip_holder=self.vip_holder,
            console_url=console_url,
            answering=frozenset(self.answering) | frozenset(answering),
        )

    def zone(self, *, components: frozenset[str], **overrides: Any) -> Zone:
        """The zone to plan on; ``components``: nodeswap.runbooks.components_of(snapshot)."""
        return Zone.build(self.settings_files(), self.facts(components=components, **overrides))

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
            update_scripts=dict(data.get("update_scripts", {})),
            zone_variables=dict(data.get("zone_variables", {})),
        )


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


# ---- firstbox's answers, interpreted --------------------------------------------------------
# ``part`` is what discover.firstbox_part read: "settings" (texts by file name), "version",
# "variables_yaml" (None: no variables.yaml) and "variable_files" (the one-file-each listing).
def bare_zone(part: Mapping[str, Any]) -> Zone:
    """The zone's nodes from firstbox's settings folder and installer version alone."""
    files = settings_files(part["settings"])
    version = InstallerVersion.parse(part["version"], source=VERSION_JSON)
    return Zone.build(files, ZoneFacts(version))


def variables_of(part: Mapping[str, Any], zone: Zone | None = None,
                 zone_id: str | None = None) -> dict[str, str]:
    """The zone variables from firstbox_part(): variables.yaml (>= 4.3.0) or one file each;
    of ``zone_id``; else of the first zone of the settings files, and in a region every
    other zone's too, as ``ZONE.key`` (what the state fingerprint covers: a plan for any zone
    of the region sees a change to its own zone's variables, issue 10)."""
    if zone_id is not None:
        return _variables(part, zone_id)
    zone = zone or bare_zone(part)
    ids = zone.region_zone_ids or zone.zone_ids
    first = next(iter(zone.zone_ids), "")
    out = _variables(part, first)
    for other in ids if len(ids) > 1 else ():
        if other != first:
            out.update({f"{other}.{k}": v for k, v in _variables(part, other).items()})
    return out


def _variables(part: Mapping[str, Any], zone_id: str) -> dict[str, str]:
    if part["variables_yaml"] is not None:
        return parse_variables_yaml(part["variables_yaml"], zone_id)
    return parse_variable_files(part["variable_files"], zone_id)


# the snapshot's warnings: plan data, in English; shown translated (i18n.retranslate, issue 13)
BOSS_WARNING = N_("R24/R25: deploy_boss is {boss} but no old node has a pitrix-ks-proxy-boss* "
                  "package; the packages decide")
WAREHOUSE_WARNING = N_("R26: deploy_warehouse is 1 but no old node has "
                       "pitrix-ks-proxy-warehouse; the packages decide")
NO_VIP_HOLDER = N_("R23: no old node holds the VIP {vip}")


def cross_checked(snap: Snapshot, comp: frozenset[str]) -> Snapshot:
    """The snapshot, warning where the zone variables and what the nodes show disagree
    (R24-R26: ``comp``, the components its old nodes have) and where no old node holds the
    VIP (R23)."""
    warnings = list(snap.warnings)
    boss = snap.planned_variables.get("deploy_boss", "")
    if boss in ("1", "2") and not comp & {"boss", "boss2"}:
        warnings.append(BOSS_WARNING.format(boss=boss))
    if snap.planned_variables.get("deploy_warehouse") == "1" and "warehouse" not in comp:
        warnings.append(WAREHOUSE_WARNING)
    if snap.vip and snap.vip_holder is None:
        warnings.append(NO_VIP_HOLDER.format(vip=snap.vip))
    return Snapshot(**{**snap.__dict__, "warnings": tuple(warnings)})
