"""The dead-man at the switch, as the executor drives it (issue 11; the job and its steps:
nodeswap.runbooks.deadman).

- The deadline is the run's: ``apply --switch-deadline SECONDS`` (default 600) is kept in the
  run's record (``connection["switch_deadline"]``), so resume arms with the same deadline, and
  handed to the arm step as ``NODESWAP_SWITCH_DEADLINE=N; `` before its command (the plan's
  command reads it, with the default written in it): the journal records the command as run.
- After the arm step, its state file (pid, deadline) is written into the zone lock on firstbox
  beside the lock's own line (``Lock.from_text`` reads the first line only), and announced.
- ``adopt``, under the zone lock before resume or rollback run anything: per node whose job may
  be armed (its arm step ran, its disarm did not), the state file on firstbox says:
  fired (or firing): resume stops, the run failed with why and what was reverted (the job's log)
  and what to do next; rollback says so and goes on (every undo is idempotent). Armed: resume
  adopts it (the disarm step disarms it at the usual point); rollback disarms it first, so it
  never fires while the undos run. Armed but its process gone (firstbox rebooted): resume arms it
  again (the arm step runs again before the next step of the switch).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from nodeswap.errors import NodeswapError, ZoneError
from nodeswap.i18n import _
from nodeswap.plan.model import Plan, Step
from nodeswap.run import journal as J
from nodeswap.run.events import EventSink, Notice
from nodeswap.run.hints import Hints
from nodeswap.run.journal import Journal
from nodeswap.run.lock import ZoneLock
from nodeswap.runbooks import deadman as D
from nodeswap.shell import cmd
from nodeswap.transport.base import Connector

MAYBE_ARMED = (J.DONE, J.SKIPPED, J.RUNNING, J.INTERRUPTED, J.FAILED)
CONFIRMED = (J.DONE, J.SKIPPED)


class DeadmanFired(ZoneError):
    """Resume found a dead-man that fired: the node's switch was undone by firstbox."""


def deadline_of(journal: Journal, run_id: str) -> int:
    """The run's switch deadline in seconds (``apply --switch-deadline``)."""
    value = journal.run(run_id).connection.get("switch_deadline")
    return int(value) if value else D.DEFAULT_DEADLINE


def command_for(journal: Journal, run_id: str, step: Step) -> str:
    """The command the executor sends: the arm step's gets the run's deadline first."""
    if not step.id.startswith(D.ARM):
        return step.command
    return f"{D.DEADLINE_VAR}={deadline_of(journal, run_id)}; {step.command}"


def maybe_armed(journal: Journal, run_id: str) -> list[str]:
    """The nodes whose dead-man may be armed: its arm step ran (or was cut), its disarm not."""
    plan = journal.run(run_id).plan()
    return [n for n in Deadman.nodes(plan)
            if journal.step(run_id, D.arm_id(n)).state in MAYBE_ARMED
            and journal.step(run_id, D.disarm_id(n)).state not in CONFIRMED]


def parse_state(text: str) -> dict[str, str]:
    """``key=value`` lines of a state file (the ``why=`` line may hold any text)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            out.setdefault(key, value)
    return out


def _clock(epoch: str) -> str:
    try:
        return time.strftime("%H:%M:%S", time.localtime(float(epoch)))
    except ValueError:
        return "?"


@dataclass(frozen=True)
class Found:
    node: str
    state: dict[str, str]
    log: str

    @property
    def status(self) -> str:
        return self.state.get("state", "absent")

    def fired_text(self, run_id: str, hints: Hints, action: str) -> str:
        p = D.paths(self.node)
        acts = [ln.split(" ", 1)[1] for ln in self.log.splitlines()
                if " done: " in f" {ln}" or " FAILED " in ln]
        done = "\n".join(f"  {a}" for a in acts) or "  " + _("(none logged yet)")
        head = _("the dead-man of {node} fired on firstbox ({why}); the revert {how}, by "
                 "firstbox alone (log {log}):").format(
            node=self.node, why=self.state.get("why", "?"),
            how=_("is under way") if self.status == "firing" else _("ended"), log=p["log"])
        tail = _("the switch of {node} is undone: the old VM serves again; nothing of this "
                 "run goes on. Undo the rest of the run:").format(node=self.node)
        if action == "rollback":
            return head + "\n" + done
        return f"{head}\n{done}\n{tail}\n{hints.next('rollback', run_id)}"


class Deadman:
    """The executor's side of the dead-man for one run's plan."""

    def __init__(self, journal: Journal, connector: Connector, lock: ZoneLock, *,
                 events: EventSink, hints: Hints) -> None:  # fmt: skip
        self.journal = journal
        self._conn = connector
        self._lock = lock
        self._emit = events
        self._hints = hints

    @staticmethod
    def nodes(plan: Plan) -> list[str]:
        ids = {s.id for s in plan.steps}
        return [n for n in plan.nodes if D.arm_id(n) in ids]

    async def read(self, plan: Plan, node: str) -> Found:
        fb = plan.firstbox
        if fb is None:
            return Found(node, {}, "")
        p = D.paths(node)
        t = await self._conn.transport(fb)
        res = await t.run(f"{cmd('cat', p['state'])} 2>/dev/null; echo '--- log'; "
                          f"{cmd('tail', '-n', '40', p['log'])} 2>/dev/null; true", timeout=60.0)
        state, _sep, log = res.stdout.partition("--- log\n")
        return Found(node, parse_state(state), log)

    async def _alive(self, plan: Plan, node: str, pid: str) -> bool:
        fb = plan.firstbox
        assert fb is not None
        t = await self._conn.transport(fb)
        probe = (f"pid={cmd(pid)}; " + D.alive(D.paths(node)["script"]))
        return (await t.run(probe, timeout=60.0)).exit_status == 0

    async def after(self, run_id: str, plan: Plan, batch: Sequence[tuple[int, Step]]) -> None:
        """After an arm step (run now, or done by an earlier process: adopted): its armed job
        in the zone lock, and said."""
        for _pos, step in batch:
            node = D.node_of(step.id)
            if node is None or not step.id.startswith(D.ARM):
                continue
            found = await self.read(plan, node)
            if found.status == "armed":  # (also when resume passes an arm step done before)
                await self._record(run_id, found)

    async def _record(self, run_id: str, found: Found) -> None:
        p = D.paths(found.node)
        line = json.dumps({"deadman": found.node, "state_file": p["state"],
                           "pid": found.state.get("pid", "?"),
                           "deadline": found.state.get("deadline", "?")})
        await self._lock.note(run_id, line)
        self._emit(Notice(_("dead-man of {node} armed on firstbox (pid {pid}, state file {file}):"
                            " it reverts {node} at {at} unless disarmed").format(
            node=found.node, pid=found.state.get("pid", "?"), file=p["state"],
            at=_clock(found.state.get("deadline", "?"))), run_id))

    async def adopt(self, run_id: str, plan: Plan, action: str) -> None:
        """Before resume or rollback runs anything, under the zone lock (see the module)."""
        for node in maybe_armed(self.journal, run_id):
            found = await self.read(plan, node)
            if found.status in ("fired", "firing"):
                text = found.fired_text(run_id, self._hints, action)
                if action != "rollback":  # its disarm can never pass: status says fired
                    self.journal.set_step_state(run_id, D.disarm_id(node), J.FAILED)
                    raise DeadmanFired(text)
                self._emit(Notice(text, run_id))
            elif found.status == "armed" and await self._alive(plan, node,
                                                               found.state.get("pid", "")):
                await self._adopt_armed(run_id, plan, found, action)
            elif found.status == "armed" and action != "rollback":
                self.journal.set_step_state(run_id, D.arm_id(node), J.PENDING)
                self._emit(Notice(_("the dead-man of {node} is recorded as armed but its "
                                    "process is gone (firstbox rebooted?): it is armed again "
                                    "before the switch goes on").format(node=node), run_id))

    async def explain(self, run_id: str, plan: Plan) -> str:
        """Why a run that stopped during a switch may not be what it seems: a dead-man that
        fired (its revert ran beside nodeswap), or one still armed (it will revert the node
        unless a resume confirms it in time). Empty when none is armed; never raises."""
        lines = []
        try:
            for node in maybe_armed(self.journal, run_id):
                found = await self.read(plan, node)
                if found.status in ("fired", "firing"):
                    lines.append(found.fired_text(run_id, self._hints, "rollback"))
                elif found.status == "armed":
                    lines.append(_("the dead-man of {node} is armed on firstbox: at {at} it "
                                   "reverts {node} by itself unless a resume confirms {node} "
                                   "(R33, R35) first").format(
                        node=node, at=_clock(found.state.get("deadline", "?"))))
        except NodeswapError as exc:  # firstbox unreachable: say so, keep the first error
            lines.append(_("could not read the dead-man's state on firstbox: {why}").format(
                why=exc))
        return "\n".join(lines)

    async def _adopt_armed(self, run_id: str, plan: Plan, found: Found, action: str) -> None:
        if action == "rollback":
            fb = plan.firstbox
            assert fb is not None
            t = await self._conn.transport(fb)
            res = await t.run(D.disarm_command(found.node, strict=False), timeout=60.0)
            if res.exit_status != 0:
                raise ZoneError(_("could not disarm the dead-man of {node} before the "
                                  "rollback: {tail}").format(node=found.node, tail=res.tail()))
            self._emit(Notice(_("dead-man of {node} disarmed before the rollback").format(
                node=found.node), run_id))
            return
        self._emit(Notice(_("adopted the armed dead-man of {node}: the switch goes on and it "
                            "is disarmed once {node} is confirmed (R33, R35)").format(
            node=found.node), run_id))


def status_lines(journal: Journal, run_id: str) -> list[str]:
    """What `status` says of the run's dead-man jobs (from the journal: no host is asked)."""
    plan = journal.run(run_id).plan()
    lines = []
    for node in Deadman.nodes(plan):
        arm = journal.step(run_id, D.arm_id(node)).state
        disarm = journal.step(run_id, D.disarm_id(node)).state
        if arm not in MAYBE_ARMED:
            continue
        state = parse_state(journal.last_output(run_id, D.arm_id(node)) or "")
        if disarm in CONFIRMED:
            lines.append(_("dead-man of {node}: disarmed ({node} confirmed)").format(node=node))
            continue
        if disarm == J.FAILED:
            lines.append(_("dead-man of {node}: fired, or firstbox did not answer its disarm "
                           "(the run's message says which; log {log})").format(
                node=node, log=D.paths(node)["log"]))
            continue
        lines.append(_("dead-man of {node}: armed on firstbox (pid {pid}, {file}) until {at}: "
                       "if nothing disarms it then, firstbox reverts {node} alone; resume "
                       "adopts it, rollback disarms it first").format(
            node=node, pid=state.get("pid", "?"), file=D.paths(node)["state"],
            at=_clock(state.get("deadline", "?"))))
    return lines
