"""The dead-man at the switch (issue 11), its pure parts: the job's script and steps
(runbooks.deadman) and what the executor adds (run.deadman: the run's deadline, the state
file, status). Its behaviour on hosts is tested against the lab (tests/lab/test_deadman.py)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from test_plan import plan_for
from zonekit import KINDS

from nodeswap.run import journal as J
from nodeswap.run.deadman import command_for, deadline_of, parse_state, status_lines
from nodeswap.run.journal import Journal
from nodeswap.runbooks import deadman as D
from nodeswap.runbooks.base import NodeContext


def node(**kw: str) -> NodeContext:
    values = {"name": "proxy0", "old_address": "10.16.100.21", "temp_address": "10.16.100.51",
              "old_host_name": "zz1ar01n01", "old_host_address": "10.16.100.11",
              "new_host_name": "zz1ar01n02", "new_host_address": "10.16.100.12",
              "settings": "new\n", "switched_settings": "switched\n"}
    return NodeContext(**{**values, **kw})


def test_the_job_is_valid_bash_and_quotes_every_value() -> None:
    tricky = "hostname=\"proxy0\"\npassword='it''s $(reboot) `x`'\n"
    text = D.job_script(node(), tricky)
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    assert shlex.quote(tricky) in text  # the settings restored exactly, never interpreted
    assert text.startswith("#!/bin/bash\n") and "awk" not in text  # lab hosts have no awk
    for action in ("virsh destroy -- proxy0", "virsh autostart -- proxy0",
                   "virsh start -- proxy0", "/pitrix/upgrade/build_global_conf.sh"):
        assert action in text, action
    # the new VM leaves the address before the old one is started (no duplicate IP)
    assert text.index("destroy the new") < text.index("start the old")


@pytest.mark.parametrize("kind", KINDS)
def test_each_switch_arms_before_r32_and_disarms_after_its_checks(kind: str) -> None:
    plan = plan_for(kind)
    ids = [s.id for s in plan.steps]
    for name, n in plan.nodes.items():
        arm, disarm = plan.step(D.arm_id(name)), plan.step(D.disarm_id(name))
        assert ids.index(arm.id) + 1 == ids.index(f"r32-stop-{name}")
        assert ids.index(disarm.id) > ids.index(f"r35-supervisor-{name}")
        assert arm.target == disarm.target == "firstbox" and arm.side_effect
        job = arm.stdin or ""
        hosts = {t.address: t.name for t in plan.targets.values() if not t.pin}
        for line in (f"NODE={name}", f"OLD_ADDR={n.old_address}",
                     f"TEMP_ADDR={n.temp_address}", f"OLD_HOST={hosts[n.old_physical_host]}",
                     f"NEW_HOST={hosts[n.physical_host]}"):
            assert f"\n{line}\n" in job, line
        assert f"script={D.script_sha(arm.stdin or '')}" in (arm.check or "")
        assert arm.undo is not None and "exit 1" not in arm.undo  # rollback: fired is fine
        assert "exit 1" in disarm.command and disarm.check is not None
        assert f'"${{{D.DEADLINE_VAR}:-{D.DEFAULT_DEADLINE}}}"' in arm.command
        assert shlex.quote(n.old_settings) in (arm.stdin or "")  # restored: before upgrade
        assert D.node_of(arm.id) == D.node_of(disarm.id) == name


def test_the_run_gives_the_arm_step_its_deadline(tmp_path: Path) -> None:
    plan = plan_for("novg")
    journal = Journal.open(tmp_path / "state" / "zone.journal.sqlite")
    short = journal.create_run(plan, operator="t", connection={"switch_deadline": 8})
    default = journal.create_run(plan, operator="t", connection={})
    arm = plan.step(D.arm_id("proxy0"))
    assert command_for(journal, short, arm) == f"{D.DEADLINE_VAR}=8; {arm.command}"
    assert deadline_of(journal, default) == D.DEFAULT_DEADLINE
    other = plan.step("r32-stop-proxy0")
    assert command_for(journal, short, other) == other.command
    # status: armed (from the arm step's recorded output) until the disarm step is done
    assert status_lines(journal, short) == []
    aid = journal.begin_attempt(short, arm.id, "run", "firstbox", arm.command)
    journal.end_attempt(aid, outcome="ok", exit_status=0)
    journal.set_step_state(short, arm.id, J.DONE)
    (line,) = status_lines(journal, short)
    assert "dead-man of proxy0: armed" in line and D.paths("proxy0")["state"] in line
    journal.set_step_state(short, D.disarm_id("proxy0"), J.FAILED)
    assert "dead-man of proxy0: fired" in status_lines(journal, short)[0]
    journal.set_step_state(short, D.disarm_id("proxy0"), J.DONE)
    assert status_lines(journal, short) == ["dead-man of proxy0: disarmed (proxy0 confirmed)"]
    journal.close()


def test_the_state_file_is_read_key_by_key() -> None:
    got = parse_state("state=fired\npid=42\nwhy=a=b; c\nfailed=0\nnot a line\nstate=x\n")
    assert got == {"state": "fired", "pid": "42", "why": "a=b; c", "failed": "0"}
