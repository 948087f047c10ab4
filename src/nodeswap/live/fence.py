"""The R20 fence: "from here on, no package may be pushed to any other node".

While nodeswap replaces the proxy nodes, the packages firstbox builds carry the temporary
addresses (pitrix-hosts above all); a push that nodeswap did not start (an operator's
update.sh in another terminal, a build, an exec_nodes.sh, a cron entry that pushes
pitrix-hosts) would send them to the whole zone. nodeswap cannot stop those, but it can see
them: ``FENCE_COMMAND`` (read-only) lists firstbox's processes and cron entries, ``parse`` and
``warnings`` (pure) turn that into the warnings shown at plan time (preflight) and at every
gate (``Gate.notes``).

A job is foreign when its process runs one of the zone's update, build or exec scripts and
does not descend from the session that asked (our own shell, ``$$``) nor from a process the
caller names as its own (``ours``). Only the topmost process of a job is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nodeswap.i18n import N_

SELF = "== self "
CRONTAB = "== crontab"
CROND = "== cron.d "

# Read-only. ps prints "PID PPID ARGS"; crontab -l and /etc/cron.d/* the cron entries.
FENCE_COMMAND = (
    f"echo \"{SELF}$$\"; ps -eo pid=,ppid=,args= 2>/dev/null; "
    f"echo \"{CRONTAB}\"; crontab -l 2>/dev/null; "
    f"for f in /etc/cron.d/*; do [ -f \"$f\" ] && {{ echo \"{CROND}$f\"; cat -- \"$f\"; }}; "
    "done; true"
)

# update.sh and the scripts behind it, the builds, exec_nodes.sh, gen_node_list.*
_JOB = re.compile(r"^(update\.sh|_update_node\.sh|update_nodes\.sh|exec_nodes\.sh"
                  r"|build_[\w.-]*\.(sh|py)|build_pkgs[\w.-]*|gen_node_list(\.\w+)?)$")
_CRON_PUSH = re.compile(r"update(_nodes)?\.sh|_update_node\.sh|pitrix-hosts")


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    args: str


@dataclass(frozen=True)
class Seen:
    """What FENCE_COMMAND saw on firstbox."""

    self_pid: int | None
    procs: tuple[Proc, ...]
    cron: tuple[tuple[str, str], ...]  # (where: "crontab" or the cron.d file, the line)


def parse(text: str) -> Seen:
    """FENCE_COMMAND's output, as data. Lines it cannot read are skipped."""
    self_pid: int | None = None
    procs: list[Proc] = []
    cron: list[tuple[str, str]] = []
    section, where = "ps", ""
    for line in text.splitlines():
        if line.startswith(SELF):
            section = "ps"
            value = line[len(SELF):].strip()
            self_pid = int(value) if value.isdigit() else None
            continue
        if line.startswith(CRONTAB):
            section, where = "cron", "crontab"
            continue
        if line.startswith(CROND):
            section, where = "cron", line[len(CROND):].strip()
            continue
        if section == "ps":
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                procs.append(Proc(int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2
                                  else ""))
        else:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                cron.append((where, entry))
    return Seen(self_pid, tuple(procs), tuple(cron))


_RUNNER = re.compile(r"^((ba|da|k|z)?sh|python[\d.]*|perl|env|nohup|nice|setsid|sudo|timeout)$")


def _is_job(args: str) -> bool:
    """The command is one of the scripts, run directly or by an interpreter or wrapper
    (``bash update.sh``, ``nohup python3 build_pkgs.py``); a program that only names one
    (``vim update.sh``, ``grep update.sh``) is not a job."""
    for word in args.split():
        name = word.rsplit("/", 1)[-1]
        if _JOB.match(name):
            return True
        if word.startswith("-") or re.match(r"^\w+=", word) or _RUNNER.match(name) \
                or word.isdigit():
            continue  # a wrapper, its options, env assignments, timeout's seconds
        return False
    return False


def foreign_jobs(seen: Seen, ours: Iterable[int] = ()) -> list[Proc]:
    """The topmost process of every update, build or exec job not descended from our own
    session (``seen.self_pid``) nor from a process in ``ours``."""
    by_pid: Mapping[int, Proc] = {p.pid: p for p in seen.procs}
    mine = set(ours) | ({seen.self_pid} if seen.self_pid is not None else set())

    def ancestors(p: Proc) -> list[Proc]:
        out: list[Proc] = []
        seen_pids = {p.pid}
        while p.ppid in by_pid and p.ppid not in seen_pids:
            p = by_pid[p.ppid]
            seen_pids.add(p.pid)
            out.append(p)
        return out

    found = []
    for p in seen.procs:
        if not _is_job(p.args) or p.pid in mine:
            continue
        up = ancestors(p)
        if any(a.pid in mine for a in up) or any(_is_job(a.args) for a in up):
            continue  # ours, or a child of a job already named
        found.append(p)
    return found


def cron_pushes(seen: Seen) -> list[tuple[str, str]]:
    """Cron entries that run update.sh or mention pitrix-hosts (variable lines skipped)."""
    return [(where, line) for where, line in seen.cron
            if _CRON_PUSH.search(line) and not re.match(r"^[A-Za-z_]\w*=", line)]


# plan (and gate) warnings: data, in English; shown translated (i18n.retranslate, issue 13)
FOREIGN_JOB = N_("R20: firstbox runs a job nodeswap did not start: pid {pid}: {args} — it may "
                 "push packages built with the temporary addresses to other nodes; make sure "
                 "it ends (or stop it) before the new settings are built")
CRON_PUSH = N_("R20: a cron entry on firstbox pushes packages ({where}): {line} — disable it "
               "for the upgrade: it would send pitrix-hosts with the temporary addresses to "
               "the zone")


def warnings(seen: Seen, ours: Iterable[int] = ()) -> list[str]:
    """One warning per foreign job and per pushing cron entry (R20)."""
    out = [FOREIGN_JOB.format(pid=p.pid, args=p.args) for p in foreign_jobs(seen, ours)]
    out += [CRON_PUSH.format(where=where, line=line) for where, line in cron_pushes(seen)]
    return out
