"""The dead-man at the switch (issue 11): armed on firstbox before R32, it reverts a node
whose switch nobody confirms, with no nodeswap process; resume reports it, rollback finishes.

The revert is checked over plain ssh (never through nodeswap): the old VM runs at its address
with its own key, its autostart is back, the new VM is off, the settings are as before the
upgrade; the job's files on firstbox have their modes and its log names every action.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_kit import CRASH_CLI, KILLED, NODESWAP, Crash, switch_order
from upgrade_kit import Zone, on_step, zone

from nodeswap.run import journal as J
from nodeswap.run.deadman import parse_state
from nodeswap.run.lock import DEFAULT_LOCK_PATH
from nodeswap.runbooks import deadman as D

pytestmark = pytest.mark.lab

DEADLINE = 8  # seconds: --switch-deadline in these tests
FIRE_WAIT = 120.0  # seconds the test waits for the job to fire and end its revert


def job_state(z: Zone, node: str) -> dict[str, str]:
    return z.deadman_state(node)


def job_alive(z: Zone, node: str, pid: str) -> bool:
    return z.deadman_alive(node, pid)


def wait_fired(z: Zone, node: str, address: str) -> float:
    """Wait (deadline) until the job of ``node`` fired and ended its revert; returns how long
    ``address`` did not answer ssh from now on (it is silent when called: R32 ran)."""
    start = time.monotonic()
    back: float | None = None
    deadline = start + FIRE_WAIT
    while time.monotonic() < deadline:
        if back is None and z.answers(address):
            back = time.monotonic()
        if job_state(z, node).get("state") == "fired":
            if back is None and z.answers(address):
                back = time.monotonic()
            assert back is not None, f"{address} does not answer after the revert"
            return back - start
        time.sleep(0.1)
    raise AssertionError(f"the dead-man of {node} did not fire within {FIRE_WAIT}s: "
                         f"{job_state(z, node)}")


def test_killed_after_r32_a_broken_new_vm_is_reverted_by_firstbox_alone(
        tmp_path: Path) -> None:
    t0 = time.monotonic()
    with zone("default", tag="deadman") as z:
        c = Crash.of(z, tmp_path)
        t1 = time.monotonic()
        first = switch_order(c.plan)[0]
        n = c.plan.nodes[first]
        old_text = z.snap.settings[first] if z.snap else ""
        # nodeswap dies right after R32 made the old node silent (its last step, recorded)
        done = c.cli([sys.executable, str(CRASH_CLI), f"r32-gone-{first}", "end", "--",
                      "apply", str(c.plan_path), "--lab", str(z.lab.dir), "--yes",
                      "--switch-deadline", str(DEADLINE)])
        assert done.returncode == KILLED, "\n".join(c.log)
        c._learn_run()
        t2 = time.monotonic()
        # the new VM is broken too: were it rebooted, it would come back at a wrong address
        wrong = n.temp_address.rsplit(".", 1)[0] + ".250"
        z.lab.fault("interfaces-broken", host=z.instance(first), address=wrong)
        armed = job_state(z, first)
        assert armed["state"] == "armed" and job_alive(z, first, armed["pid"]), armed
        # recorded in the zone lock (left by the killed nodeswap) and in the journal
        lock = z.ssh.out(z.firstbox, f"cat {DEFAULT_LOCK_PATH}").splitlines()
        assert c.run_id in lock[0] and f'"deadman": "{first}"' in lock[-1], lock
        assert f'"pid": "{armed["pid"]}"' in lock[-1], lock
        j = c.journal()
        assert parse_state(j.last_output(c.run_id, D.arm_id(first)) or "")["pid"] == armed["pid"]
        j.close()
        silent = wait_fired(z, first, n.old_address)
        print(f"\nlab up + plan {t1 - t0:.1f}s, apply to R32 {t2 - t1:.1f}s")
        print(f"{first}: {n.old_address} unanswered {silent:.1f}s after nodeswap died "
              f"(deadline {DEADLINE}s; the revert itself took "
              f"{job_state(z, first).get('revert_seconds')}s until it answered)")
        # the revert, seen over plain ssh
        fired = job_state(z, first)
        assert fired["failed"] == "0", z.ssh.out(z.firstbox, f"cat {D.paths(first)['log']}")
        assert not job_alive(z, first, fired["pid"])
        assert z.ssh.out(n.old_address, "hostname").strip() == first  # the lab's old key
        dominfo = z.ssh.out(n.old_physical_host, f"virsh dominfo {first}")
        assert "enable" in dominfo.split("Autostart:")[1].split("\n")[0], dominfo
        assert z.ssh.out(n.physical_host, f"virsh domstate {first}").strip() == "shut off"
        assert z.settings(first) == old_text
        modes = z.ssh.out(z.firstbox, f"stat -c '%a %n' {D.DIR} {D.DIR}/{first}.*")
        assert {ln.split()[1].rsplit(".", 1)[-1] if "." in ln.split()[1] else "dir":
                ln.split()[0] for ln in modes.splitlines()} == \
            {"dir": "700", "sh": "700", "state": "600", "log": "600", "lock": "600"}, modes
        log = z.ssh.out(z.firstbox, f"cat {D.paths(first)['log']}")
        for what in ("fired: the deadline", "done: destroy the new", "done: autostart",
                     "done: start the old", "done: restore", "done: build_global_conf.sh"):
            assert what in log, log
        # resume (plain, as printed) reports it: failed, why, what was reverted, next: line
        res = c.cli([*NODESWAP, *c.args()])
        assert res.returncode != 0, res.stdout
        assert "dead-man of " + first + " fired" in res.stderr, res.stderr
        assert "done: start the old" in res.stderr and "next: " in res.stderr, res.stderr
        j = c.journal()
        assert j.run(c.run_id).state == J.RUN_FAILED
        assert j.step(c.run_id, f"r33-stop-{first}").state == J.PENDING  # nothing went on
        status = subprocess.run([*NODESWAP, "status", c.run_id, "--lab", str(z.lab.dir)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert f"dead-man of {first}: fired" in status.stdout, status.stdout
        j.close()


# fault injected as the new VM reboots onto the old address (R33), nodeswap running all along
FAULTS = {
    # comes back at a wrong address: the old address stays silent until the dead-man fires
    "interfaces-broken": lambda z, node: z.lab.fault(
        "interfaces-broken", host=z.instance(node),
        address=z.node_plan(node)[1].rsplit(".", 1)[0] + ".250"),
    # never comes back at all
    "boot-fails": lambda z, node: z.lab.fault("boot-fails", host=z.instance(node)),
    # comes back, but a service is FATAL: R35 stops the run, the dead-man reverts the node
    "supervisor-fatal": lambda z, node: z.lab.fault(
        "supervisor-fatal", host=z.instance(node), program="cb_server"),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_switch_that_goes_wrong_is_reverted_by_the_dead_man(fault: str) -> None:
    with zone("default", tag=f"deadman-{fault}") as z:
        z.switch_deadline = DEADLINE
        plan = z.plan()
        first = switch_order(plan)[0]
        n = plan.nodes[first]
        state = z.run(events=on_step(f"r33-reboot-{first}", lambda: FAULTS[fault](z, first)))
        assert state == J.RUN_FAILED, z.errors
        text = str(z.errors[-1])
        assert f"dead-man of {first}" in text, text  # fired, or armed and about to
        # the revert needs no nodeswap process: wait for it, then look over plain ssh
        wait_fired(z, first, n.old_address)
        fired = job_state(z, first)
        print(f"\n{fault}: the revert of {first} took {fired.get('revert_seconds')}s until "
              f"{n.old_address} answered ({fired.get('why')})")
        assert fired["failed"] == "0", z.ssh.out(z.firstbox, f"cat {D.paths(first)['log']}")
        assert z.ssh.out(n.old_address, "hostname").strip() == first
        assert z.supervisor_ok(n.old_address)
        assert z.settings(first) == (z.snap.settings[first] if z.snap else "")
        assert z.console_code() == "200"
        assert z.resume() == J.RUN_FAILED  # resume of the same run reports the firing
        assert f"dead-man of {first} fired" in str(z.errors[-1]), z.errors
        # the rest of the run is undone by rollback (its undos idempotent after the revert)
        assert z.rollback() == J.RUN_ROLLED_BACK, z.errors
        z.assert_rolled_back()
