"""SIGKILL of nodeswap inside the real proxy upgrade, then plain resumes (issue 11).

One upgrade of a lab zone is driven through the CLI as an operator runs it: ``nodeswap apply
PLAN --lab DIR --yes``, then ``nodeswap resume RUN --lab DIR --yes``, each armed (crash_cli.py)
to SIGKILL itself at the next kill point. So every kill is followed by one plain resume that
must get past it (the next kill point is later in the plan, or there is none and it must end
the run). The end state is checked over plain ssh (upgrade_kit.Zone.assert_upgraded), and the
lab controller's operation counts say that no side-effect step's command ran twice when its
check said it had run.

    with zone("default", tag=...) as z:
        c = Crash.of(z, tmp_path)
        c.chain([Kill("r6-backup"), Kill("r21-launch-proxy0"), ...])
        c.assert_upgraded_once()
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from upgrade_kit import Zone, today

from nodeswap.plan.model import Plan, Step
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal
from nodeswap.run.lock import CLIENT_HOST_ENV

CRASH_CLI = Path(__file__).with_name("crash_cli.py")
NODESWAP = [sys.executable, "-m", "nodeswap"]
KILLED = -9  # subprocess' returncode of a process ended by SIGKILL


@dataclass(frozen=True)
class Kill:
    """Where to kill: step ``step`` at ``when`` of its run attempt (see crash_cli.py)."""

    step: str
    when: str = "end"


def switch_order(plan: Plan) -> list[str]:
    """The nodes in the order the plan switches them (R30-R36)."""
    return [s.id.removeprefix("r30-settings-") for s in plan.steps
            if s.id.startswith("r30-settings-")]


def side_effect_steps(plan: Plan) -> list[Step]:
    return [s for s in plan.steps if s.side_effect]


@dataclass
class Crash:
    z: Zone
    tmp: Path
    plan_path: Path
    run_id: str = ""
    kills: list[Kill] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, z: Zone, tmp: Path) -> Crash:
        plan = z.plan()
        path = tmp / "plan.json"
        path.write_text(json.dumps(plan.to_dict()))
        return cls(z, tmp, path)

    @property
    def plan(self) -> Plan:
        assert self.z.plan_ is not None
        return self.z.plan_

    def journal(self) -> Journal:
        (path,) = (self.z.lab.dir / "nodeswap").glob("*.journal.sqlite")
        return Journal.open(path)

    def args(self) -> list[str]:
        lab = ["--lab", str(self.z.lab.dir), "--yes"]
        if not self.run_id:
            return ["apply", str(self.plan_path), *lab]
        return ["resume", self.run_id, *lab]

    def cli(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        self.log.append(f"$ {' '.join(argv)}\n-> {done.returncode}\n{done.stdout[-3000:]}"
                        f"{done.stderr[-3000:]}")
        return done

    def _learn_run(self) -> None:
        if not self.run_id:
            j = self.journal()
            try:
                self.run_id = j.runs()[0].id
            finally:
                j.close()

    def _runs(self, step_id: str) -> list[J.AttemptRecord]:
        if not self.run_id:
            return []
        j = self.journal()
        try:
            return [a for a in j.attempts(self.run_id, step_id) if a.kind == "run"]
        finally:
            j.close()

    def passed(self, step_id: str) -> bool:
        """Whether an earlier process got to ``step_id`` already (an ``after:`` timer fired
        later than its own step): then resume may decide it by its check without running it,
        and a kill armed there would never fire; the chain goes on to the next point."""
        if not self.run_id:
            return False
        j = self.journal()
        try:
            return j.step(self.run_id, step_id).state != J.PENDING
        finally:
            j.close()

    def kill_at(self, kill: Kill) -> None:
        """apply (or a plain resume) armed to SIGKILL itself at ``kill``; it must die there."""
        before = len(self._runs(kill.step))
        done = self.cli([sys.executable, str(CRASH_CLI), kill.step, kill.when, "--",
                         *self.args()])
        assert done.returncode == KILLED, \
            f"not killed at {kill}: exit {done.returncode}\n" + "\n".join(self.log[-2:])
        self._learn_run()
        self.kills.append(kill)
        if kill.when.startswith("after:"):
            return  # the command may have ended before the timer: killed somewhere after
        j = self.journal()
        try:
            runs = [a for a in j.attempts(self.run_id, kill.step) if a.kind == "run"]
            if kill.when == "before":  # its command never sent: no new attempt
                assert len(runs) == before, kill
            else:  # recorded as begun, never as ended: the cut resume must decide about
                assert runs and runs[-1].ended is None, (kill, runs)
        finally:
            j.close()

    def resume(self) -> subprocess.CompletedProcess[str]:
        """One plain ``nodeswap resume RUN --lab DIR --yes``, as printed."""
        return self.cli([*NODESWAP, *self.args()])

    def chain(self, kills: list[Kill], *, take_over: str = "") -> None:
        """Kill at each point in turn (each resume must get past the previous one), then one
        plain resume to the end; the zone (upgrade_kit) then reads the journal. ``take_over``
        (a client host name): that last resume is done from another machine, `resume RUN
        --take-over` with a state folder of its own (``tmp/other``), from the run's mirror on
        firstbox (issue 11); the zone then reads that machine's journal."""
        for kill in kills:
            if self.passed(kill.step):
                continue  # an earlier after: timer fired past this step: nothing to cut
            self.kill_at(kill)
        done = self.take_over(take_over) if take_over else self.resume()
        assert done.returncode == 0, "\n".join(self.log[-2:])
        self.z.journal = self.other_journal() if take_over else self.journal()
        self.z.run_id = self.run_id

    def take_over(self, host: str) -> subprocess.CompletedProcess[str]:
        argv = [*NODESWAP, "resume", self.run_id, "--take-over", "--lab", str(self.z.lab.dir),
                "--state-dir", str(self.tmp / "other"), "--yes"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, CLIENT_HOST_ENV: host})  # fmt: skip
        self.log.append(f"$ {' '.join(argv)}\n-> {done.returncode}\n{done.stdout[-3000:]}"
                        f"{done.stderr[-3000:]}")
        return done

    def other_journal(self) -> Journal:
        (path,) = (self.tmp / "other").glob("*.journal.sqlite")
        return Journal.open(path)

    # -- what the journal and the lab say --------------------------------------------------
    def run_attempts(self, step_id: str) -> int:
        assert self.z.journal is not None
        return sum(a.kind == "run" for a in self.z.journal.attempts(self.run_id, step_id))

    def assert_cuts_decided(self) -> None:
        """Each step killed after its command ran: a step with a check was skipped by it (one
        run attempt, never re-run); a step declared safe to run again ran once more."""
        assert self.z.journal is not None
        for kill in self.kills:
            step = self.plan.step(kill.step)
            state = self.z.journal.step(self.run_id, kill.step).state
            if kill.when == "end" and step.check is not None:
                assert (state, self.run_attempts(kill.step)) == (J.SKIPPED, 1), kill
            else:
                assert state in (J.DONE, J.SKIPPED), (kill, state)

    def counts(self) -> Counter[str]:
        """The lab controller's counts of zone-changing operations, keyed ``op:host:what``."""
        return Counter(self.z.lab.counts())

    def assert_upgraded_once(self) -> None:
        """The verified end state, and each node's side effects done exactly once: one launch,
        one OS install, the old VM halted once and its autostart disabled once, the new VM
        rebooted once."""
        self.z.assert_upgraded()
        self.assert_cuts_decided()
        counts = self.counts()

        def n(prefix: str, suffix: str) -> int:
            return sum(v for k, v in counts.items() if k.startswith(prefix) and k.endswith(suffix))

        for name in self.plan.nodes:
            old, new = self.z.instance(name, new=False), self.z.instance(name)
            got = {"launch": n("launch:", f":{name}"),
                   "install": n("install_node:", f":{name}"),
                   "halt old": n(f"power:{old}:", "halt"),
                   "autostart off": n("virsh:", f":autostart {name}"),
                   "reboot new": n(f"power:{new}:", "reboot")}
            assert got == {"launch": 1, "install": 1, "halt old": 1, "autostart off": 1,
                           "reboot new": 1}, (name, got, sorted(counts.items()))

    def plant_partial_backup(self) -> None:
        """What a kill in the middle of R6's copy leaves: a half-made copy beside the backup."""
        tmp = f"/pitrix/conf/settings.{today()}.nodeswap-tmp"
        self.z.ssh.run(self.z.firstbox, f"mkdir -p {tmp} && printf 'half' > {tmp}/proxy0")


def matrix_kills(plan: Plan, mode: str) -> list[Kill]:
    """``end``: every side-effect step at the end of its command; ``mid``: every side-effect
    step 50 ms into its command, and one step in five (seeded) at its start instead."""
    if mode == "end":
        return [Kill(s.id, "end") for s in side_effect_steps(plan)]
    rnd = random.Random(11)
    boundary = {s.id for s in plan.steps if rnd.random() < 0.2}
    inside = {s.id for s in side_effect_steps(plan)}
    return [Kill(s.id, "before" if s.id in boundary else "after:0.05") for s in plan.steps
            if s.id in boundary | inside]


def run_matrix(z: Zone, mode: str, tmp: Path) -> None:
    """One upgrade killed at every point of ``matrix_kills``, then checked (see
    test_crash_matrix.py)."""
    c = Crash.of(z, tmp)
    planned = matrix_kills(c.plan, mode)
    assert {k.step for k in planned} >= {s.id for s in side_effect_steps(c.plan)}
    c.chain(planned)
    if mode == "end":
        c.assert_upgraded_once()
    else:
        z.assert_upgraded()
        c.assert_cuts_decided()
