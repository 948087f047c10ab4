"""Ctrl-C at the switch, at a real terminal (issue 11): the operator approves the first switch's
gate, presses Ctrl-C while R32 shuts the old node down, pastes the rollback nodeswap prints,
answers its question, and finds the old proxy serving again.

The old VM's ``shutdown`` is made to hang on its lab host (``command-hangs``) so that the
Ctrl-C lands inside R32's shutdown for sure; the test then checks that the cut command no
longer runs on the host (the transport stops it) and, over plain ssh after the rollback, that
the old VM answers at its address with its services running and its autostart back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_operator_path import ENV, NODESWAP, PROMPT, finish, hints, journal, plan_file, terminal
from upgrade_kit import Ssh, wait_for

from nodeswap.errors import EXIT_INTERRUPTED
from nodeswap.lab import Lab, hostinfo
from nodeswap.run import journal as J

pytestmark = [pytest.mark.lab, pytest.mark.slow]
HANG = "sleep 3600"  # what a command-hangs fault runs instead of the command


def old_instance(lab: Lab, node: str) -> str:
    """The lab instance id of the old VM called ``node`` (the lowest ``NAME.N``)."""
    iids = sorted((str(h["iid"]) for h in lab.info().raw["hosts"].values()
                   if h.get("hostname") == node),
                  key=lambda iid: int(iid.rsplit(".", 1)[1]))  # fmt: skip
    return iids[0]


def hanging(lab: Lab, iid: str) -> list[int]:
    return [pid for pid, _, args in hostinfo.processes(lab.dir / "hosts" / iid, live=True)
            if HANG in args]


def ctrl_c_in_r32_shutdown(lab: Lab, plan: Path, node: str, tmp: Path, *,
                           wait: float = 60.0) -> tuple[str, int, str]:
    """The operator runs `nodeswap apply PLAN --lab DIR`, answers the first switch's gate
    with y, and presses Ctrl-C while R32's shutdown of the old ``node`` hangs (a
    command-hangs fault): apply's output and exit code, and the old VM's instance id."""
    old_iid = old_instance(lab, node)
    lab.fault("command-hangs", host=old_iid, command="shutdown")
    child = terminal(f"nodeswap apply {plan} --lab {lab.dir}", tmp)
    child.expect(rf"GATE r30-settings-{node} \(R30\) on firstbox")
    child.expect(PROMPT)
    child.sendline("y")
    assert wait_for(lambda: hanging(lab, old_iid), wait), "R32's shutdown never ran"
    child.sendintr()  # Ctrl-C while the old node's shutdown runs
    out, code = finish(child)
    return out, code, old_iid


def test_ctrl_c_in_r32_shutdown_then_pasted_rollback(tmp_path: Path) -> None:
    lab = Lab.up(Path("/var/lib/nodeswap-lab") / f"pytest-{id(tmp_path):x}-opswitch",
                 topology="default")
    try:
        plan = plan_file(lab, tmp_path)
        data = json.loads(plan.read_text())
        node = data["meta"]["switch_order"].split(",")[0]
        old_address = data["nodes"][node]["old_address"]
        out, code, old_iid = ctrl_c_in_r32_shutdown(lab, plan, node, tmp_path)
        assert code == EXIT_INTERRUPTED, out
        assert "Traceback" not in out
        # the cut command was stopped on the old VM, not left to run
        assert wait_for(lambda: not hanging(lab, old_iid), 15.0), hanging(lab, old_iid)
        resume, rollback = hints(out)
        assert resume.startswith("nodeswap resume ") and rollback.startswith("nodeswap rollback")
        run_id = rollback.split()[2]
        step = journal(lab).step(run_id, f"r32-shutdown-{node}")
        assert step.state == J.INTERRUPTED, step.state
        lab.clear_fault("command-hangs", host=old_iid, command="shutdown")

        # the operator pastes the printed rollback; it lists what it undoes and asks
        child = terminal(rollback, tmp_path)
        child.expect("would undo, last first:")
        child.expect(f"r32-shutdown-{node}")
        child.expect(r"\[y/N\]")
        child.sendline("y")
        out, code = finish(child)
        assert code == 0, out
        assert "rolled back" in out and "Traceback" not in out
        assert journal(lab).run(run_id).state == J.RUN_ROLLED_BACK

        # over plain ssh: the old VM serves at its address; the new VM is gone
        ssh = Ssh(lab.info())
        assert ssh.run(old_address, "hostname").stdout.strip() == node
        services = ssh.run(old_address, "supervisorctl status", check=False)
        assert services.returncode == 0 and "RUNNING" in services.stdout, services.stdout
        status = subprocess.run([*NODESWAP, "status", run_id, "--lab", str(lab.dir)],
                                capture_output=True, text=True, env=ENV, check=False)
        assert status.returncode == 0, status.stdout + status.stderr
    finally:
        lab.down()
        lab.cleanup()
