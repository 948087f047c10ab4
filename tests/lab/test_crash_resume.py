"""SIGKILL inside R6, R21, R30, R32, R33 and R37 of the real proxy upgrade on `default`, each
followed by one plain `nodeswap resume RUN --yes` that gets past it, the last one to the
verified end state; no checked step's command ran twice (issue 11; the kit: crash_kit.py).
That last resume is a take-over from another machine, from the run's mirror on firstbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from crash_kit import Crash, Kill, switch_order
from upgrade_kit import zone

from nodeswap.run import journal as J
from nodeswap.run.deadman import parse_state
from nodeswap.run.lock import DEFAULT_LOCK_PATH, client_host
from nodeswap.run.mirror import mirror_dir, parse
from nodeswap.run.sessionlog import APPLY, RESUME, TAKE_OVER
from nodeswap.runbooks import probe as console_probe
from nodeswap.shell import cmd

pytestmark = pytest.mark.lab


def test_kill_9_inside_six_rules_then_plain_resumes_end_upgraded(tmp_path: Path) -> None:
    with zone("default", tag="crash") as z:
        c = Crash.of(z, tmp_path)
        first, second = switch_order(c.plan)
        c.plant_partial_backup()  # a half-made copy of R6 left by an earlier kill
        c.chain([
            Kill("r6-backup"),  # the backup made, not recorded: its digest check says done
            Kill(f"r21-launch-{first}"),  # launched: the new host's domain runs (.Done)
            Kill(f"r30-global-conf-{first}"),  # rebuilt: declared safe to run again
            Kill(f"r32-shutdown-{first}"),  # the old VM is down on purpose: asked its host
            Kill(f"r33-reboot-{second}"),  # the new VM came back at the old address
            Kill(f"r37-rename-img-{first}"),  # archived, not recorded
        ], take_over="laptop-b")  # and the operator's machine is lost: issue 11
        c.assert_upgraded_once()
        assert_taken_over(c)
        assert_probe_adopted(c)


def assert_probe_adopted(c: Crash) -> None:
    """Issue 10: the console probe started once, before the first switch; the resumes after
    the kills inside the switches (here and on laptop-b) adopted it, alive: every run of its
    start step names the same process (the samples have no pause: assert_upgraded)."""
    j = c.z.journal
    assert j is not None
    outs = [j.output(a.id)[0] for a in j.attempts(c.run_id, console_probe.START)
            if a.kind == "run" and a.exit_status == 0]
    assert len(outs) >= 2 and sum("adopted" in o for o in outs) == len(outs) - 1, outs
    assert len({parse_state(o).get("pid") for o in outs}) == 1, outs


def assert_taken_over(c: Crash) -> None:
    """The last resume was a take-over from another machine (another state folder, client
    host laptop-b): its journal holds the whole run, the killed sessions of the first machine
    then the take-over and its resume; the mirror on firstbox is private (0700/0600) and
    shows the run done; the lock was released."""
    j = c.z.journal
    assert j is not None
    sessions = [(s.action, s.operator.rpartition("@")[2]) for s in j.sessions(c.run_id)]
    assert sessions[-2:] == [(TAKE_OVER, "laptop-b"), (RESUME, "laptop-b")], sessions
    assert sessions[0][0] == APPLY and all(s[1] != "laptop-b" for s in sessions[:-2])
    assert any(p.run_id == c.run_id for p in j.pins())  # the new VMs' keys came along
    # the killed process's lock (this machine) was taken over, naming it
    assert f"took the zone lock over from {j.sessions(c.run_id)[-3].operator}" in c.log[-1]
    assert f"on {client_host()})" in c.log[-1]
    folder = mirror_dir(DEFAULT_LOCK_PATH, c.run_id)
    modes = c.z.ssh.out(c.z.firstbox, f"stat -c '%a %n' {cmd(os.path.dirname(folder))} "
                                      f"{cmd(folder)} {cmd(folder)}/*").split("\n")
    got = {os.path.basename(m.split()[1]): m.split()[0] for m in modes if m}
    assert got == {"runs": "700", c.run_id: "700", "plan.json": "600",
                   "journal.jsonl": "600", "console-probe.state": "600",  # issue 10
                   "console-probe.samples": "600", "console-probe.sh": "700"}, modes
    text = c.z.ssh.out(c.z.firstbox, f"cat {cmd(folder)}/journal.jsonl")
    assert parse(text).run["state"] == J.RUN_DONE
    assert c.z.ssh.run(c.z.firstbox, f"test -e {cmd(DEFAULT_LOCK_PATH)}",
                       check=False).returncode != 0
