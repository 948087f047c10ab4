"""Issue 14, resume re-checks the world, on the lab: a run records the zone's fingerprint
(settings, installer version, zone variables) as it goes; resume compares it with the live
zone before running anything. A hand edit, or another run that upgraded the zone, is refused
(exit 2) naming what changed; a settings write cut before its record is explained."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
from dataclasses import replace

import pytest
from upgrade_kit import Zone, zone

from nodeswap.errors import HostKeyError, InputError, LockHeld
from nodeswap.live.worldcheck import ZoneMarks
from nodeswap.plan.model import Plan, Step
from nodeswap.run import journal as J
from nodeswap.run.hints import commands_in
from nodeswap.run.journal import Journal
from nodeswap.run.lock import DEFAULT_LOCK_PATH
from nodeswap.run.runs import start

pytestmark = pytest.mark.lab
SETTINGS = "/pitrix/conf/settings"
NODESWAP = [sys.executable, "-m", "nodeswap"]


def nodeswap(command: str) -> subprocess.CompletedProcess[str]:
    """A printed ``nodeswap ...`` command, run as the operator would paste it (no terminal)."""
    words = shlex.split(command)
    assert words[0] == "nodeswap", command
    return subprocess.run([*NODESWAP, *words[1:]], capture_output=True, text=True, timeout=600,
                          check=False, stdin=subprocess.DEVNULL)  # fmt: skip


def first_gate(plan: Plan) -> str:
    return f"r30-settings-{plan.meta['switch_order'].split(',')[0]}"


def run_attempts(z: Zone) -> int:
    assert z.journal is not None
    return len(z.journal.attempts(z.run_id))


@pytest.mark.slow  # ~24 s: make test-slow (make test's 5-minute budget)
def test_a_hand_edit_at_a_gate_is_refused_naming_the_file() -> None:
    """(a) stopped at the first switch's gate; someone edits a settings value on firstbox;
    resume refuses before running anything and names the file and the key."""
    with zone() as z:
        plan = z.plan()
        gate = first_gate(plan)
        assert z.run(stop_at_gate=gate) == J.RUN_GATE
        assert z.journal is not None
        marks = z.journal.zone_marks(z.run_id)
        kinds = [m.kind for m in marks]
        assert kinds[0] == "start" and kinds.count("run") >= 4, kinds
        # the one-command read gives planning's fingerprint of the same zone
        assert marks[0].fingerprint == plan.inventory_fingerprint
        other = sorted(n for n in z.snap.settings if n not in plan.nodes)[0]  # type: ignore[union-attr]
        z.ssh.run(z.firstbox, f"sed -i 's/^hostname=.*/hostname=\"edited-by-hand\"/' "
                              f"{SETTINGS}/{other}")
        before = run_attempts(z)
        assert z.resume() == J.RUN_GATE  # unchanged: refused
        err = z.errors[-1]
        assert isinstance(err, InputError) and err.exit_code == 2, err
        text = str(err)
        assert f"{SETTINGS}/{other} changed" in text and "edited-by-hand" not in text, text
        assert "nothing was run (resume refused)" in text and "--accept-zone-change" in text
        assert run_attempts(z) == before  # not one command of the run was sent
        assert z.step_state(gate) == J.GATE
        # the operator's path: the CLI refuses too (exit 2) and prints the next: lines; the
        # rollback one, pasted (no terminal: it asks for --yes, keeping the flag), rolls back
        lab = shlex.quote(str(z.lab.dir))
        refused = nodeswap(f"nodeswap resume {z.run_id} --lab {lab} --approve {gate}")
        assert refused.returncode == 2, refused.stderr
        hints = commands_in(refused.stderr)
        assert len(hints) == 2 and "--accept-zone-change" in hints[1], refused.stderr
        asked = nodeswap(hints[1])
        assert asked.returncode == 2 and "rollback asks for confirmation" in asked.stderr
        (confirm,) = commands_in(asked.stderr)
        assert "--accept-zone-change --yes" in confirm, confirm
        done = nodeswap(confirm)
        assert done.returncode == 0, done.stdout + done.stderr
        z.assert_rolled_back()
        status = nodeswap(f"nodeswap status {z.run_id} --lab {lab}")
        assert "zone change accepted by " in status.stdout and other in status.stdout


@pytest.mark.slow  # ~16 s: make test-slow (make test's 5-minute budget)
def test_a_settings_write_cut_before_its_record_is_explained(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:  # fmt: skip
    """(b) the run is cut right after a settings-writing step (R7-R17) wrote and verified
    its file, before the zone's fingerprint was recorded; resume explains the difference
    (the step's planned text, which its check accepts) and goes on."""
    with zone() as z:
        plan = z.plan()
        cut_at = f"r17-settings-{next(iter(plan.nodes))}"
        after = ZoneMarks.after

        async def cut(self: ZoneMarks, run_id: str, plan: Plan, step: Step, kind: str) -> None:
            if step.id == cut_at:
                raise asyncio.CancelledError  # as Ctrl-C there: nothing more recorded
            await after(self, run_id, plan, step, kind)

        monkeypatch.setattr(ZoneMarks, "after", cut)
        with pytest.raises(asyncio.CancelledError):
            z.run()
        monkeypatch.setattr(ZoneMarks, "after", after)
        assert z.state() == J.RUN_INTERRUPTED and z.step_state(cut_at) == J.RUNNING
        name = cut_at.removeprefix("r17-settings-")
        assert z.settings(name) == plan.nodes[name].settings  # written, not recorded
        assert z.resume(stop_at_gate=first_gate(plan)) == J.RUN_GATE, z.errors
        assert z.journal is not None
        assert z.step_state(cut_at) == J.SKIPPED  # its check: done
        explained = [m for m in z.journal.zone_marks(z.run_id) if m.kind == "resume"]
        assert len(explained) == 1 and cut_at in (explained[0].note or ""), explained


@pytest.mark.slow  # a whole second upgrade (make test-slow)
def test_a_run_left_at_a_gate_is_refused_after_another_run_upgraded_the_zone() -> None:
    """(c) An apply refused by the zone lock records no run (issue 14: no run is left behind
    to resume). Run A stops at a gate before changing anything (its plan gates R6); run B, of
    another plan, upgrades the zone; resuming A is refused, naming the settings files B
    changed, before any host is contacted but firstbox (no host-key error)."""
    with zone() as z:
        plan_a = z.plan()
        lock = DEFAULT_LOCK_PATH
        z.ssh.run(z.firstbox, f"mkdir -p {lock.rsplit('/', 1)[0]} && echo other-run > {lock}")
        with pytest.raises(LockHeld):
            asyncio.run(start(plan_a, reach=z.reach, state_dir=z.lab.dir / "nodeswap"))
        journals = list((z.lab.dir / "nodeswap").glob("*.journal.sqlite"))
        assert all(Journal.open(j).runs() == [] for j in journals)
        z.ssh.run(z.firstbox, f"rm -f {lock}")
        steps = tuple(replace(s, gate=True) if s.id == "r6-backup" else s for s in plan_a.steps)
        z.plan_ = replace(plan_a, steps=steps)
        assert z.run(stop_at_gate="r6-backup") == J.RUN_GATE
        assert z.journal is not None
        run_a, path = z.run_id, z.journal.path
        assert [m.kind for m in z.journal.zone_marks(run_a)] == ["start"]
        z.new_run()
        z.plan()  # B: another plan (new MACs, temporary addresses drawn again)
        assert z.run() == J.RUN_DONE, z.errors
        z.assert_upgraded()
        z.new_run()
        z.journal, z.run_id = Journal.open(path), run_a
        before = run_attempts(z)
        assert z.resume(approver=lambda gate: True) == J.RUN_GATE
        err = z.errors[-1]
        assert isinstance(err, InputError) and not isinstance(err, HostKeyError), err
        text = str(err)
        for name in plan_a.nodes:
            assert f"{SETTINGS}/{name} changed" in text, text
        assert "at its start" in text and err.exit_code == 2
        assert run_attempts(z) == before
