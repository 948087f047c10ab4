"""Preflight: can the zone take this plan? Pure: a plan and a discovery snapshot in, problems out.

Checked before a live plan is handed out: each new VM's physical host has the room
(CPU, memory, disk for /pitrix/kernels) and the bridges (R13-R15); the temporary addresses do
not answer (R16); the target OS's base image and package repository are prepared on firstbox
(R4); firstbox's update script gives ``apt-get install`` its ``--yes`` on the target OS
(R23-R26: update.sh's per-node script picks apt options by an ``if`` on os_version; a release
without a branch installs without --yes and aborts: a stop naming the file and the branch to
add; a warning when the script cannot be read).
"""

from __future__ import annotations

import re

from nodeswap.errors import Problem
from nodeswap.i18n import N_, _
from nodeswap.plan.model import Plan
from nodeswap.zone import aptscript
from nodeswap.zone.settings import SettingsFile
from nodeswap.zone.snapshot import Snapshot

# A new VM's disk is a qcow2 overlay of the base image; leave room for it to grow.
MIN_DISK_MB = 10 * 1024


def image_prefix(os_version: str) -> str:
    """Base image names on firstbox: ``ksnode16045a.img`` for 16.04.5 (reference §5)."""
    return "ksnode" + os_version.replace(".", "")


def check(plan: Plan, snap: Snapshot) -> tuple[list[Problem], list[str]]:
    """(problems that stop the plan, warnings shown with it)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    os_name, os_version = plan.target_os
    prefix = image_prefix(os_version)
    if not any(re.match(re.escape(prefix) + r".*\.img$", k) for k in snap.kernels):
        problems.append(Problem(
            _("no base image {prefix}*.img in /pitrix/kernels on firstbox for {os} {version}: "
              "prepare it first").format(prefix=prefix, os=os_name, version=os_version),
            rule="R4", key="target.os_version"))
    if os_version not in snap.repos:
        problems.append(Problem(
            _("no package repository /pitrix/repo/{version} on firstbox: prepare it first"
              ).format(version=os_version),
            rule="R4", key="target.os_version"))
    apt_problems, apt_warnings = apt_branch(snap, os_name, os_version)
    problems.extend(apt_problems)
    warnings.extend(apt_warnings)
    for node in plan.nodes.values():
        problems.extend(_host_room(plan, snap, node.name, node.settings))
        if node.temp_address in snap.answering:
            problems.append(Problem(
                _("temporary address {address} of {node} answers ping from firstbox: it is in "
                  "use").format(address=node.temp_address, node=node.name), rule="R16",
                key=f"nodes.{node.name}.temp_address"))
    return problems, warnings


def _host_room(plan: Plan, snap: Snapshot, name: str, settings_text: str) -> list[Problem]:
    new = SettingsFile.from_text(settings_text, path=f"settings/{name}")
    host_addr = new.get("physical_host") or ""
    host = _host_name(snap, host_addr)
    cap = snap.capacity.get(host) if host else None
    where = f"{host or host_addr} ({host_addr})"
    key = f"nodes.{name}.physical_host"
    if cap is None or cap.error:
        why = cap.error if cap and cap.error else _("not asked")
        return [Problem(_("physical host {host} for {node}: capacity unknown ({why})").format(
            host=where, node=name, why=why),
                        rule="R13", key=key)]
    out = []
    cores = int(new.get("cpu_cores") or 0)
    memory = int(new.get("memory_size") or 0)
    if cap.cpus is not None and cap.cpus < cores:
        out.append(Problem(_("{host} has {n} CPUs free, {node} needs {need}").format(
            host=where, n=cap.cpus, node=name, need=cores),
                           rule="R13", key=key))
    if cap.memory_mb is not None and cap.memory_mb < memory:
        out.append(Problem(_("{host} has {n} MB memory free, {node} needs {need}").format(
            host=where, n=cap.memory_mb, node=name, need=memory),
                           rule="R13", key=key))
    if cap.disk_free_mb is not None and cap.disk_free_mb < MIN_DISK_MB:
        out.append(Problem(_("{host} has {n} MB free in /pitrix/kernels, a new VM needs {need}"
                             ).format(host=where, n=cap.disk_free_mb, need=MIN_DISK_MB),
                           rule="R13", key=key))
    for bkey, rule in (("physical_host_network_interface", "R14"),
                       ("physical_host_eip_network_interface", "R15")):
        bridge = new.get(bkey) or ""
        if bridge and cap.bridges and bridge not in cap.bridges:
            out.append(Problem(_("{host} has no bridge {bridge} ({key} of {node}); it has "
                                 "{bridges}").format(host=where, bridge=bridge, key=bkey,
                                                     node=name, bridges=", ".join(cap.bridges)),
                               rule=rule, key=key))
    return out


def _host_name(snap: Snapshot, address: str) -> str | None:
    for name, text in snap.settings.items():
        if f'mgmt_network_address="{address}"' in text:
            return name
    return None


# a plan warning: data, in English; shown translated (i18n.retranslate, issue 13)
APT_UNREAD = N_("R23-R26: could not read how update.sh runs apt-get on firstbox (looked for "
                "{looked}; read: {read}); Pitrix's _update_node.sh sets apt options (--yes ...) "
                "only for the OS releases it has a branch for, and without one `apt-get "
                "install` runs without --yes and aborts: check that it has a branch for "
                "{os_name} {os_version} before R23")


def apt_branch(snap: Snapshot, os_name: str, os_version: str
               ) -> tuple[list[Problem], list[str]]:
    """R23-R26: does firstbox's update script run ``apt-get install`` with --yes for the
    target OS? A stop (with the branch to add) when it does not; a warning when unread."""
    texts = [(path, text) for path, text in snap.update_scripts.items() if text is not None]
    scripts = [aptscript.parse(text, path) for path, text in texts]
    script = next((s for s in scripts if s.install_line is not None), None)
    if script is None:
        read = ", ".join(path for path, _ in texts) or "none"
        return [], [APT_UNREAD.format(looked=", ".join(aptscript.UPDATE_SCRIPTS), read=read,
                                      os_name=os_name, os_version=os_version)]
    if script.gives_yes(os_version):
        return [], []
    known = ", ".join(script.releases) or "no release"
    if script.branches and script.install_uses_options:
        what = (f"{script.path} on firstbox sets apt options for os_version {known} only "
                f"(line {script.last_branch_line})")
        fix = (f"in {script.path}, before the `fi` that closes the branch of line "
               f"{script.last_branch_line}, add `{aptscript.fix_text(script, os_version)}`")
    else:
        what = f"{script.path} on firstbox runs `{script.install_line}`"
        fix = f"add --yes to the apt-get install line of {script.path}"
    return [Problem(
        _("{what}: on {os_name} {os_version} update.sh would run `apt-get install` without "
          "--yes (line {install_lineno}), which aborts at its first question, so R23-R26 would "
          "install nothing on the new VMs. Fix: {fix}, then plan again").format(what=what,
          os_name=os_name, os_version=os_version, install_lineno=script.install_lineno, fix=fix),
        file=script.path, line=script.last_branch_line or script.install_lineno,
        key="target.os_version", rule="R23")], []
