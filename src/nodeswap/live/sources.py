"""The small I/O edge of planning: read a settings folder and a spec file into pure values.

Everything read here is handed to the pure modules (settings, inventory, spec, plan). Every
problem of every file is collected and raised at once, so the operator fixes them in one go.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from nodeswap.errors import InputError, Problem, SettingsError, SpecError
from nodeswap.i18n import _
from nodeswap.plan.spec import Spec
from nodeswap.zone.inventory import InstallerVersion, Zone, ZoneFacts, parse_components
from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.values import shown


def _read_regular(path: Path, shown_path: str) -> bytes:
    """The bytes of ``path`` if it is a regular file, never following a symbolic link and
    never blocking on a FIFO; else a SettingsError that does not show the content."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a symbolic link
            why = _("is a symbolic link: settings files must be regular files (a link is not "
                    "followed, so nothing it points at is read or shown)")
        else:
            why = _("cannot be read: {strerror}").format(strerror=exc.strerror)
        raise SettingsError([Problem(why, file=shown_path)]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError([Problem(
                _("is not a regular file (a FIFO, socket or device): settings files must be "
                  "regular files"), file=shown_path)])
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def read_settings_dir(folder: str | Path) -> dict[str, SettingsFile]:
    """Every regular file of ``folder`` (not hidden, not backups ending in ~) parsed, by name.

    Sub-folders are skipped; symbolic links, FIFOs, sockets and devices are refused (a link
    is never followed: a settings folder must not make nodeswap read, and print, another
    file). Names that are no node names are refused later (inventory) and shown escaped.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SettingsError([Problem(_("{root!r} is not a folder of settings files").format(
            root=shown(str(root))),
                                     file=shown(str(root)), key="settings_dir")])
    files: dict[str, SettingsFile] = {}
    problems: list[Problem] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name.endswith("~"):
            continue
        if path.is_dir() and not path.is_symlink():
            continue
        shown_path = shown(str(path), limit=len(str(path)))
        try:
            files[path.name] = SettingsFile.from_bytes(_read_regular(path, shown_path),
                                                       path=shown_path)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SettingsError(problems)
    if not files:
        raise SettingsError([Problem(_("no settings files in this folder"), file=str(root))])
    return files


def read_spec(path: str | Path) -> Spec:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(_("cannot read the spec: {exc}").format(exc=exc),
                                 file=str(p))]) from None
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
