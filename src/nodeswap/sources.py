"""The small I/O edge of planning: read a settings folder and a spec file into pure values.

Everything read here is handed to the pure modules (settings, inventory, spec, plan). Every
problem of every file is collected and raised at once, so the operator fixes them in one go.
"""

from __future__ import annotations

from pathlib import Path

from nodeswap.errors import InputError, Problem, SettingsError, SpecError
from nodeswap.inventory import InstallerVersion, Zone, ZoneFacts, parse_components
from nodeswap.settings import SettingsFile
from nodeswap.spec import Spec


def read_settings_dir(folder: str | Path) -> dict[str, SettingsFile]:
    """Every regular file of ``folder`` (not hidden, not backups ending in ~) parsed, by name."""
    root = Path(folder)
    if not root.is_dir():
        raise SettingsError([Problem(f"{str(root)!r} is not a folder of settings files",
                                     file=str(root), key="settings_dir")])
    files: dict[str, SettingsFile] = {}
    problems: list[Problem] = []
    for path in sorted(root.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith("~"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(f"cannot read: {exc}", file=str(path)))
            continue
        try:
            files[path.name] = SettingsFile.from_text(text, path=str(path))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SettingsError(problems)
    if not files:
        raise SettingsError([Problem("no settings files in this folder", file=str(root))])
    return files


def read_spec(path: str | Path) -> Spec:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(f"cannot read the spec: {exc}", file=str(p))]) from None
    return Spec.from_yaml(text, path=str(p))


def read_zone(settings_dir: str | Path, installer_version: str, components: str = "",
              spec: Spec | None = None) -> Zone:
    """The zone offline: a settings folder plus facts from arguments and the spec.

    Problems of the version, the components and every settings file are reported together.
    """
    problems: list[Problem] = []
    version = components_set = files = None
    try:
        version = InstallerVersion.parse(installer_version)
    except InputError as exc:
        problems.extend(exc.problems)
    try:
        components_set = parse_components(components)
    except InputError as exc:
        problems.extend(exc.problems)
    try:
        files = read_settings_dir(settings_dir)
    except InputError as exc:
        problems.extend(exc.problems)
    if problems or version is None or components_set is None or files is None:
        raise InputError(problems)
    facts = ZoneFacts(
        installer_version=version, components=components_set,
        vg_mgmt_network_gateway=str(spec.vg_mgmt_network_gateway)
        if spec and spec.vg_mgmt_network_gateway else None,
        vm_base_network=str(spec.vm_base_network) if spec and spec.vm_base_network else None,
        vip=str(spec.vip) if spec and spec.vip else None,
        console_url=spec.console_url if spec else None)
    return Zone.build(files, facts)
