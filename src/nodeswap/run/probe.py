"""The console probe, as the executor drives it (issue 10; the job and its steps:
nodeswap.runbooks.probe; what its samples say: nodeswap.checks.downtime).

- Its folder is the run's on firstbox (the mirror's, ``runs/RUN`` beside the zone lock:
  nodeswap.run.mirror), handed to the probe's steps as ``NODESWAP_RUN_DIR=DIR; `` before their
  command (and undo): the journal records the command as run.
- ``adopt``, under the zone lock before resume runs anything: a probe that may run (its start
  step ran, its stop step did not) gets its start step again, which adopts the probe when it
  is alive (nodeswap was killed: it measured on) and starts it again when it is gone (its
  samples go on in the same file; the pause is a gap, not downtime).
- ``end``: it lives as the dead-man does (nodeswap.run.deadman). A session that stops before
  the stop step (a gate, a failure, Ctrl-C or a signal) while a node's switch is open (its
  dead-man may be armed: the node may be out of service) leaves it measuring, as it leaves the
  dead-man armed: the resume adopts both. Stopped anywhere else (at a gate between two
  switches, a failure outside them), the probe is stopped; and a rollback stops it before any
  undo, as it disarms the dead-man. A killed nodeswap leaves it running too, until resume
  (here or on another machine, ``--take-over``) adopts it; whatever happens, it ends by itself
  at its lifetime (4 h).
"""

from __future__ import annotations

from nodeswap.errors import NodeswapError
from nodeswap.i18n import _
from nodeswap.plan.model import Plan, Step
from nodeswap.run import journal as J
from nodeswap.run.deadman import maybe_armed
from nodeswap.run.events import EventSink, Notice
from nodeswap.run.journal import Journal
from nodeswap.run.mirror import mirror_dir
from nodeswap.runbooks import probe as P
from nodeswap.shell import cmd
from nodeswap.transport.base import Connector

MAYBE_STARTED = (J.DONE, J.SKIPPED, J.RUNNING, J.INTERRUPTED, J.FAILED, J.UNDO_FAILED)
STOPPED = (J.DONE, J.SKIPPED)


def has_probe(plan: Plan) -> bool:
    return any(s.id == P.START for s in plan.steps)


def maybe_running(journal: Journal, run_id: str) -> bool:
    """The probe of ``run_id`` may run: its start step ran (or was cut), its stop did not."""
    if not has_probe(journal.run(run_id).plan()):
        return False
    return (journal.step(run_id, P.START).state in MAYBE_STARTED
            and journal.step(run_id, P.STOP).state not in STOPPED)


def in_folder(folder: str, command: str) -> str:
    """A probe command with the run's folder on firstbox given first."""
    return f"{P.DIR_VAR}={cmd(folder)}; {command}"


def prefixed(step: Step, command: str, folder: str) -> str:
    """``command`` of ``step`` as sent: the probe's steps get the run's folder first."""
    return in_folder(folder, command) if step.id in (P.START, P.STOP) else command


class ConsoleProbe:
    """The executor's side of the console probe of one journal's runs."""

    def __init__(self, journal: Journal, connector: Connector, lock_path: str | None, *,
                 events: EventSink) -> None:  # fmt: skip
        self.journal = journal
        self._conn = connector
        self._lock_path = lock_path
        self._emit = events

    def folder(self, run_id: str) -> str:
        return mirror_dir(self._lock_path, run_id)

    def command(self, run_id: str, step: Step, command: str) -> str:
        return prefixed(step, command, self.folder(run_id))

    def adopt(self, run_id: str) -> None:
        """Before resume runs anything (see the module): the start step runs again."""
        if not maybe_running(self.journal, run_id):
            return
        if self.journal.step(run_id, P.START).state in STOPPED:
            self.journal.set_step_state(run_id, P.START, J.PENDING)
        self._emit(Notice(_("the console probe of this run is adopted on firstbox if it still "
                            "runs, else started again ({folder})").format(
            folder=self.folder(run_id)), run_id))

    async def end(self, run_id: str, plan: Plan, *, rollback: bool = False) -> None:
        """Stop the probe if it may run, unless a switch is open and this is no rollback
        (see the module); never raises: a firstbox that does not answer is said, and the
        probe ends by itself at its lifetime."""
        if plan.firstbox is None or not maybe_running(self.journal, run_id):
            return
        open_switch = maybe_armed(self.journal, run_id)
        if open_switch and not rollback:
            self._emit(Notice(_("the console probe goes on measuring on firstbox while the "
                                "switch of {nodes} is open (as its dead-man): resume adopts it, "
                                "rollback stops it; it ends by itself within {hours:g} h").format(
                nodes=", ".join(open_switch), hours=P.DEFAULT_MAX / 3600), run_id))
            return
        command = in_folder(self.folder(run_id), P.stop_command(collect=False))
        try:
            t = await self._conn.transport(plan.firstbox)
            res = await t.run(command, timeout=60.0)
            ok = res.exit_status == 0
            why = res.tail()
        except NodeswapError as exc:
            ok, why = False, str(exc)
        if ok:
            self._emit(Notice(_("console probe stopped on firstbox (a resume starts it again)"),
                              run_id))
        else:
            self._emit(Notice(_("could not stop the console probe on firstbox ({why}): it ends "
                                "by itself within {hours:g} h").format(
                why=why, hours=P.DEFAULT_MAX / 3600), run_id))
