"""The zone's state folder: where it is (``--state-dir``, else ``LAB/nodeswap`` for
``--lab``, else one folder per firstbox), what it holds (the journals, nodeswap's own
known_hosts) and finding a run's journal in it. The one place the CLI's ``--state-dir``,
``--lab`` and ``--firstbox`` become a journal: apply, resume, rollback, status, report and
plan's unfinished-run guard all look runs up here. No connection, no printing.
"""

from __future__ import annotations

from pathlib import Path

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import N_, _
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal, default_state_dir
from nodeswap.zone.knownhosts import merged

KNOWN_HOSTS = "known_hosts"


def own_known_hosts(state_dir: Path, source: str | None, *, given: str | None = None) -> str:
    """nodeswap's own known_hosts for the zone: ``STATE/known_hosts`` (one state folder per
    firstbox). Seeded from ``source`` (the lab's file, else the operator's ~/.ssh/known_hosts)
    when it does not exist yet; after that nodeswap trusts only its own file (`nodeswap trust`
    adds firstbox's key, apply the keys it pinned after a switch). ``given`` (--known-hosts,
    as the operator gave it on this command line) is merged in every time: for each host it
    names, its keys replace nodeswap's."""
    own = state_dir / KNOWN_HOSTS
    if not own.exists():
        src = Path(source) if source else Path.home() / ".ssh" / "known_hosts"
        text = src.read_text() if src.is_file() else ""
        own.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        own.touch(mode=0o600)
        own.write_text(text)
    if given is not None:
        try:
            extra = Path(given).read_text()
        except OSError as exc:
            raise InputError([Problem(_("cannot read --known-hosts: {error}").format(error=exc),
                                      file=given,
                                      key="--known-hosts")]) from exc
        text = own.read_text()
        new = merged(text, extra)
        if new != text:
            own.write_text(new)
    return str(own)


def journals(state_dir: Path) -> list[Path]:
    """The journals in ``state_dir`` and in its per-firstbox folders (the default state
    folder holds one folder per firstbox)."""
    return sorted(state_dir.glob("*.journal.sqlite")) + \
        sorted(state_dir.glob("*/*.journal.sqlite"))


def find_run(state_dir: Path, run_id: str) -> Journal:
    """The journal (of whichever zone: this folder's, or one of its per-firstbox folders')
    that holds ``run_id``."""
    for path in journals(state_dir):
        j = Journal.open(path)
        if any(r.id == run_id for r in j.runs()):
            return j
        j.close()
    raise InputError([Problem(_("no run {run} in any journal under {folder}").format(
        run=repr(run_id), folder=state_dir), key="RUN")])


def open_run(state_dir: Path, run_id: str | None) -> tuple[Journal, str]:
    """The journal holding ``run_id`` (None: the latest run of any journal under
    ``state_dir``) and the run id; InputError (exit 2) when ``state_dir`` holds no journal
    (a wrong --state-dir / --lab?) or no such run. The caller closes the journal."""
    paths = journals(state_dir) if state_dir.is_dir() else []
    if not paths:
        raise InputError([Problem(
            _("no nodeswap journal in {folder} (choose one with --state-dir DIR or --lab DIR)"
              ).format(folder=state_dir),
            file=str(state_dir))])  # fmt: skip
    if run_id is not None:
        return find_run(state_dir, run_id), run_id
    latest: tuple[float, str, Path] | None = None
    for path in paths:
        j = Journal.open(path)
        try:
            for r in j.runs()[:1]:
                if latest is None or (r.started, r.id) > latest[:2]:
                    latest = (r.started, r.id, path)
        finally:
            j.close()
    if latest is None:
        raise InputError([Problem(_("no run recorded in the journals under {folder}").format(
            folder=state_dir),
                                  file=str(state_dir))])  # fmt: skip
    return Journal.open(latest[2]), latest[1]


# --ignore-unfinished's plan warning: data, in English (the plan is the same in any language);
# shown translated (i18n.retranslate, issue 13)
UNFINISHED = N_("run {run} of this zone (firstbox {firstbox}) is unfinished ({state}) and holds "
                "no lock: the zone may be half-applied (a temporary address in use, settings "
                "rewritten), and a plan made on it would take that for the zone's state")
PLANNED_ANYWAY = N_("{text}; planned anyway (--ignore-unfinished)")


def unfinished_runs(state_dir: Path, firstbox: str) -> list[tuple[Journal, str]]:
    """The runs on ``firstbox``'s zone recorded in the journals under ``state_dir`` that
    began (a step was attempted) and neither finished nor were rolled back: a zone they left
    half-applied must not be planned again as it is (issue 14). Newest first; the caller
    closes the journals."""
    found: list[tuple[float, Journal, str]] = []
    for path in journals(state_dir):
        j = Journal.open(path)
        mine = [r for r in j.runs()
                if r.state not in (J.RUN_DONE, J.RUN_ROLLED_BACK)
                and r.connection.get("mode") == "ssh"
                and (r.connection.get("firstbox") or [None, None])[1] == firstbox
                and j.attempts(r.id)]  # fmt: skip
        found += [(r.started, j, r.id) for r in mine]
        if not mine:
            j.close()
    return [(j, rid) for _, j, rid in sorted(found, key=lambda f: -f[0])]


def state_dir_for(state_dir: Path | None, lab: Path | None = None,
                  firstbox: str | None = None) -> Path:  # fmt: skip
    """Where the state of a zone lives (journal, known_hosts, pins, logs): --state-dir, else
    the lab's own (``LAB/nodeswap``: a rehearsal's state lives and dies with its lab), else
    one folder per firstbox in the default state folder (``DEFAULT/ADDRESS``, labelled with
    the zone ids in its zone.json), else (no zone named: status, resume) the default state
    folder itself, whose per-firstbox folders ``find_run`` searches."""
    if state_dir is not None:
        return state_dir
    if lab is not None:
        return lab / "nodeswap"
    if firstbox is not None:
        return default_state_dir() / firstbox_folder(firstbox)
    return default_state_dir()


def firstbox_folder(firstbox: str) -> str:
    """The per-firstbox folder name: firstbox's address ([USER@] dropped), made file-safe."""
    addr = firstbox.rpartition("@")[2]
    return "".join(c if c.isalnum() or c in "-_.:" else "_" for c in addr) or "firstbox"
