"""At the switch (issue 11), on the real proxy plan in a lab zone: the last look before R32
stops the run before the old node is touched; rollback after a step cut at the switch (Ctrl-C
or a crash in R32's shutdown, R33's reboot) brings the old VM back, in the right order,
retrying an undo that failed, naming step and rule; interrupting a command while the node is
out of service stops it on the host.

A cut is made for real: the step's command is made to hang on the lab host (``command-hangs``),
SIGINT is sent to this process once the hanging command runs there, as Ctrl-C would; the
shutdown or reboot the cut command would have done is then done by the lab (``host-down``,
a boot), which is what an operator finds when the cut came after the command took effect.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from upgrade_kit import Zone, on_step, wait_for, zone

from nodeswap.errors import StepFailed
from nodeswap.lab import hostinfo
from nodeswap.run import journal as J
from nodeswap.run.events import Event, EventSink, StepStarted
from nodeswap.run.hints import Hints
from nodeswap.run.runs import status_text
from nodeswap.runbooks.commands import start_unless_running

pytestmark = pytest.mark.lab
HANG = "sleep 3600"  # what a command-hangs fault runs instead of the command


def first_node(z: Zone) -> str:
    assert z.plan_ is not None
    return z.plan_.meta["switch_order"].split(",")[0]


def processes(z: Zone, iid: str, needle: str) -> list[int]:
    """PIDs of live processes inside lab host ``iid``'s root whose command line holds
    ``needle`` (the lab's hosts share this machine's process table)."""
    return [pid for pid, _, args in hostinfo.processes(z.lab.dir / "hosts" / iid, live=True)
            if needle in args]


def iid_at(z: Zone, address: str) -> str:
    """The lab instance id of the live host at ``address`` (lab.json)."""
    return next(str(h["iid"]) for h in z.info.raw["hosts"].values()
                if h["address"] == address and h.get("up", True))


def ctrl_c_when_running(z: Zone, step_id: str, iid: str, seen: list[int]) -> EventSink:
    """When ``step_id`` starts: wait (in a thread) until the hanging command runs on lab
    host ``iid``, note its PIDs in ``seen``, then SIGINT this process (Ctrl-C)."""
    def fire() -> None:
        wait_for(lambda: processes(z, iid, HANG))
        seen.extend(processes(z, iid, HANG))
        os.kill(os.getpid(), signal.SIGINT)

    return on_step(step_id, lambda: threading.Thread(target=fire, daemon=True).start())


def states_seen(z: Zone, log: list[str]) -> EventSink:
    """Notes the run's recorded state whenever an undo starts."""
    def sink(event: Event) -> None:
        if isinstance(event, StepStarted) and event.kind == "undo" and z.journal is not None:
            log.append(z.journal.run(z.run_id).state)
    return sink


@pytest.mark.slow  # ~24 s: make test-slow (make test's 5-minute budget)
def test_cut_in_r32_shutdown_then_rollback_starts_the_old_vm_again() -> None:
    """Ctrl-C in R32's shutdown after it took effect (the old VM is off): rollback treats the
    cut step as possibly done and starts the old VM on its host before it reaches R32's
    service stop (whose undo needs the old VM up). Its undo failing once (virsh broken on the
    host) stops rollback naming step and rule; status then suggests rollback, not resume; the
    next rollback tries that undo again and ends with the zone as before."""
    with zone(tag="switch-cut-r32") as z:
        z.plan()
        node = first_node(z)
        old_iid = z.instance(node, new=False)
        old_addr, _temp, old_host, _new_host = z.node_plan(node)
        step = f"r32-shutdown-{node}"
        z.lab.fault("command-hangs", host=old_iid, command="shutdown")
        seen: list[int] = []
        assert z.run(events=ctrl_c_when_running(z, step, old_iid, seen)) == J.RUN_INTERRUPTED
        assert seen, "the cut shutdown never ran on the old VM"
        assert z.step_state(step) == J.INTERRUPTED
        z.lab.clear_fault("command-hangs", host=old_iid, command="shutdown")
        z.lab.fault("host-down", host=old_iid)  # what the shutdown did before the cut
        assert not z.answers(old_addr)
        # an undo that fails: virsh broken on the old VM's host
        host_iid = iid_at(z, old_host)
        z.lab.fault("command-fails", host=host_iid, command="virsh")
        states: list[str] = []
        assert z.run(action="rollback", events=states_seen(z, states)) == J.RUN_ROLLBACK_FAILED
        assert states and set(states) == {J.RUN_ROLLING_BACK}, states
        err = z.errors[-1]
        assert isinstance(err, StepFailed) and err.step == step and err.rule == "R32", err
        assert f"undo of step {step} (R32:" in str(err) and "nodeswap rollback" in str(err)
        assert z.step_state(step) == J.UNDO_FAILED
        assert z.journal is not None
        text = status_text(z.journal, z.run_id, Hints())
        assert f"next: nodeswap rollback {z.run_id}" in text, text
        assert "nodeswap resume" not in text, text
        z.lab.clear_fault("command-fails", host=host_iid, command="virsh")
        assert z.rollback() == J.RUN_ROLLED_BACK, z.errors
        assert z.step_state(step) == J.UNDONE
        z.assert_rolled_back()


@pytest.mark.slow  # ~22 s: make test-slow (make test's 5-minute budget)
def test_last_look_stops_before_r32() -> None:
    """A FATAL service on the new VM after R29, then (cleared) the new VM down just before
    R32: each time the last look stops the run before anything touches the old node, which
    still serves; rollback then ends with the zone as before."""
    with zone(tag="switch-last-look") as z:
        z.plan()
        node = first_node(z)
        old_addr = z.node_plan(node)[0]
        fatal = {"program": z.ssh.out(old_addr, "supervisorctl status").split()[0]}
        assert z.run(events=on_step(f"r30-settings-{node}", lambda: z.lab.fault(
            "supervisor-fatal", host=z.instance(node), **fatal))) == J.RUN_FAILED
        assert_stopped_before_r32(z, node, f"r32-look-services-{node}", "FATAL")
        new_iid = z.instance(node)  # launched by now (R21)
        z.lab.clear_fault("supervisor-fatal", host=new_iid, **fatal)
        down = on_step(f"r32-look-services-{node}",
                       lambda: z.lab.fault("host-down", host=new_iid))
        assert z.resume(events=down) == J.RUN_FAILED
        assert_stopped_before_r32(z, node, f"r32-look-services-{node}", "lost its connection")
        assert z.ssh.out(old_addr, "hostname").strip() == node
        assert z.rollback() == J.RUN_ROLLED_BACK, z.errors
        z.assert_rolled_back()


def assert_stopped_before_r32(z: Zone, node: str, step: str, why: str) -> None:
    err = z.errors[-1]
    assert isinstance(err, StepFailed) and err.step == step and err.rule == "R32", err
    assert why in str(err), str(err)
    assert z.step_state(f"r32-stop-{node}") == J.PENDING
    old_addr = z.node_plan(node)[0]
    assert z.supervisor_ok(old_addr), "the old node must still serve"


@pytest.mark.slow
def test_cut_in_r33_reboot_rollback_destroys_the_new_vm_first() -> None:
    """While the node is out of service: Ctrl-C in R32's wait for silence stops the wait on
    firstbox; a hanging R33 `supervisorctl stop all` fails after the spec's outage_timeout
    (5 s here, not the 300 s of a plain step). Ctrl-C in R33's reboot while its command runs on
    the new VM: the command is stopped on the host. The reboot then took effect: the new VM
    holds the old address, and the lab refuses to start the old VM beside it (a duplicate IP).
    Rollback destroys the new VM before it starts the old one."""
    with zone(tag="switch-cut-r33") as z:
        z.spec = z.spec.model_copy(update={"outage_timeout": 5.0})
        z.plan()
        node = first_node(z)
        old_addr, _temp, old_host, _ = z.node_plan(node)
        step = f"r33-reboot-{node}"
        assert z.run(stop_at_gate=f"r30-settings-{node}") == J.RUN_GATE
        new_iid = z.instance(node)  # launched by now (R21)
        # R32's wait for silence (a ping loop on firstbox) hangs: Ctrl-C stops it there
        fb = iid_at(z, z.firstbox)
        ping = {"host": fb, "command": "ping"}
        waiting: list[int] = []
        hang = on_step(f"r32-stop-{node}", lambda: z.lab.fault("command-hangs", **ping))
        cut = ctrl_c_when_running(z, f"r32-gone-{node}", fb, waiting)
        assert z.resume(events=lambda e: (hang(e), cut(e))) == J.RUN_INTERRUPTED
        assert waiting, "the wait never ran on firstbox"
        assert wait_for(lambda: not processes(z, fb, HANG), 10.0), \
            "the interrupted wait still runs on firstbox"
        z.lab.clear_fault("command-hangs", **ping)
        stop = {"host": new_iid, "command": "supervisorctl"}
        z.lab.fault("command-hangs", **stop)
        began = time.monotonic()
        assert z.resume() == J.RUN_FAILED
        err = z.errors[-1]
        assert isinstance(err, StepFailed) and err.step == f"r33-stop-{node}", err
        assert err.rule == "R33" and "timed out after 5s" in str(err), str(err)
        assert time.monotonic() - began < 60
        z.lab.clear_fault("command-hangs", **stop)
        z.lab.fault("command-hangs", host=new_iid, command="shutdown")
        seen: list[int] = []
        assert z.resume(events=ctrl_c_when_running(z, step, new_iid, seen)) == \
            J.RUN_INTERRUPTED
        assert seen, "the cut reboot never ran on the new VM"
        assert wait_for(lambda: not processes(z, new_iid, HANG), 10.0), \
            "the interrupted command still runs on the new VM"
        assert z.step_state(step) == J.INTERRUPTED
        z.lab.clear_fault("command-hangs", host=new_iid, command="shutdown")
        z.lab.fault("host-down", host=new_iid)  # the reboot took effect before the cut:
        z.lab.clear_fault("host-down", host=new_iid)  # it boots at the old address (R31)
        assert z.ssh.out(old_addr, "hostname").strip() == node
        refused = z.ssh.run(old_host, f"virsh start {node}", check=False)
        assert refused.returncode != 0 and "address" in refused.stdout + refused.stderr, refused
        # R32's undo itself does not try: the old address answers (real libvirt would start
        # a second VM on it)
        undo = z.ssh.run(old_host, start_unless_running(node, old_addr), check=False)
        assert undo.returncode != 0 and f"{old_addr} answers" in undo.stderr, undo
        assert z.rollback() == J.RUN_ROLLED_BACK, z.errors
        z.assert_rolled_back()
