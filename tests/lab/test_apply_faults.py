"""Faults during apply (issue 6): each stops the run safely, with a message naming the step and
the rule, the step recorded as failed in the journal; after the fault is cleared ``resume``
finishes the upgrade (or ``rollback`` undoes it), ending in the verified state. Faults that
preflight must catch (a temporary address in use, R16; a full disk, R13) stop the plan.

Each test has a fresh default-topology zone; faults are placed precisely with an event sink
(``on_step``: when a given step starts) and named by lab instance id (``proxy1.2``: the new
VM: the `iid` of lab.json; see the lab README, lab.json)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from upgrade_kit import Zone, on_step, zone

from nodeswap.errors import NodeswapError, RuleError, StepFailed, TransportError
from nodeswap.lab.system import wait_until
from nodeswap.plan.spec import Spec
from nodeswap.run import journal as J

pytestmark = pytest.mark.lab
UPDATE = "/pitrix/upgrade/update.sh"


def first_node(z: Zone) -> str:
    """The node switched first (the one without the VIP): its steps come first in the plan."""
    assert z.plan_ is not None
    return z.plan_.meta["switch_order"].split(",")[0]


def assert_stopped_at(z: Zone, step_id: str, rule: str, *words: str) -> StepFailed:
    """The run failed at ``step_id``: the error names the step and the rule (and ``words``),
    the journal has the step failed and the run failed with the same message, and no step
    that changes the zone ran after it (read-only steps beside it may have run: the executor
    runs the plan's graph, nodeswap.plan.graph)."""
    assert z.state() == J.RUN_FAILED, z.errors
    err = z.errors[-1]
    assert isinstance(err, StepFailed), f"{type(err).__name__}: {err}"
    text = str(err)
    assert f"step {step_id} ({rule}:" in text, text
    for w in words:
        assert w in text, f"{w!r} not in: {text}"
    assert err.step == step_id and err.rule == rule
    assert z.step_state(step_id) == J.FAILED
    assert z.journal is not None and z.plan_ is not None
    run = z.journal.run(z.run_id)
    assert run.message is not None and f"step {step_id} ({rule}:" in run.message
    steps = z.journal.steps(z.run_id)
    pos = next(s.position for s in steps if s.step_id == step_id)
    ran_after = [(s.step_id, s.state) for s in steps if s.position > pos
                 and z.plan_.step(s.step_id).side_effect and s.state != J.PENDING]
    assert not ran_after, ran_after
    return err


@pytest.mark.slow
def test_new_vm_goes_down_mid_step_then_resume_finishes() -> None:
    """host-down on the new VM at the moment R23's VIP watch starts (its connection, opened
    before R22, is open, the command not yet run): the step fails naming the lost connection;
    the VM booted again, resume finishes the upgrade."""
    with zone() as z:
        z.plan()
        node = first_node(z)
        step = f"r23-vip-{node}"
        down: list[str] = []

        def host_down() -> None:
            down.append(z.instance(node))
            z.lab.fault("host-down", host=down[0])

        assert z.run(events=on_step(step, host_down)) == J.RUN_FAILED
        assert down == [f"{node}.2"], down
        assert_stopped_at(z, step, "R23", "lost its connection", f"{node}-new")
        assert z.step_state(f"r21-wait-{node}") == J.DONE
        z.lab.clear_fault("host-down", host=down[0])
        assert z.resume() == J.RUN_DONE, z.errors
        z.assert_upgraded()


@pytest.mark.slow
def test_update_sh_fails_then_resume_after_clearing() -> None:
    with zone() as z:
        z.plan()
        fb = z.info.firstbox or ""
        z.lab.fault("command-fails", host=fb, command=UPDATE)
        assert z.run() == J.RUN_FAILED
        err = assert_stopped_at(z, "r23-update", "R23", "injected failure")
        assert err.exit_status == 1
        for node in z.plan_.nodes if z.plan_ else ():
            assert z.step_state(f"r21-launch-{node}") == J.DONE
        z.lab.clear_fault("command-fails", host=fb, command=UPDATE)
        assert z.resume() == J.RUN_DONE, z.errors
        z.assert_upgraded()


@pytest.mark.slow
def test_service_fatal_on_a_new_node_fails_r29_then_resume_finishes() -> None:
    """A program FATAL on the new node: R29 stops the run naming the program, whether
    exec_nodes.sh's per-node parse (it reaches the node by name: the new VM, firstbox's
    /etc/hosts follows the build, issue 10; its exit status masks remote failures) or the
    node's own `supervisorctl status` sees it first."""
    with zone() as z:
        z.plan()
        node = first_node(z)
        program = z.ssh.out(z.node_plan(node)[0], "supervisorctl status").split()[0]
        where: list[str] = []

        def fatal() -> None:
            where.append(z.instance(node))
            z.lab.fault("supervisor-fatal", host=where[0], program=program)

        assert z.run(events=on_step("r22-install", fatal)) == J.RUN_FAILED
        err = z.errors[-1]
        assert isinstance(err, StepFailed) and err.step in ("r29-exec", f"r29-supervisor-{node}")
        assert_stopped_at(z, err.step, "R29", program, "FATAL")
        assert z.attempt_outcomes(err.step, "analysis") == ["failed"]
        z.lab.clear_fault("supervisor-fatal", host=where[0], program=program)
        assert z.resume() == J.RUN_DONE, z.errors
        z.assert_upgraded()


@pytest.mark.slow
def test_haproxy_down_on_a_switched_node_fails_the_port_check() -> None:
    """Issue 10: after a switch, R35 probes haproxy's ports of the switched nodes for real (the
    lab's proxy VMs listen on what their haproxy.cfg binds while haproxy runs): haproxy
    stopped on the node switched first (it holds no VIP: the console still answers) stops
    the run at the port check, naming the address and port; started again, resume ends."""
    with zone() as z:
        z.plan()
        node = first_node(z)
        old = z.node_plan(node)[0]
        assert z.run(events=on_step(f"r34-known-hosts-all-{node}", lambda: z.ssh.out(
            old, "service haproxy stop"), when="ended")) == J.RUN_FAILED
        assert_stopped_at(z, f"r35-ports-{node}", "R35", f"{old}:7777", f"{old}:8565")
        z.ssh.out(old, "service haproxy start")
        assert z.resume() == J.RUN_DONE, z.errors
        z.assert_upgraded()


@pytest.mark.slow
@pytest.mark.parametrize("net", ["loopback", "netns"])
def test_new_node_takes_the_vip_then_resume_after_the_remedy(net: str) -> None:
    """keepalived on the new node (at its temporary address) takes the VIP: R23's VIP watch
    stops the run at once, with the remedy (stop keepalived there). Done as it says, the VIP
    is back on an old proxy, and resume finishes. On a netns lab (issue 10) it is the new
    VM's real keepalived, started with a priority above the old proxies' (docs/lab-netns.md,
    decision 13), and VRRP gives the VIP back."""
    with zone(net=net, tag=f"vip-{net}") as z:
        z.plan()
        node = first_node(z)
        _old, temp, _, _ = z.node_plan(node)
        taken: list[str] = []

        def vip_to() -> None:
            taken.append(z.instance(node))
            z.lab.fault("vip-to", host=taken[0])

        assert z.run(events=on_step("r22-install", vip_to)) == J.RUN_FAILED
        assert z.snap is not None and z.snap.vip
        assert_stopped_at(z, f"r23-vip-{node}", "R23", z.snap.vip, "temporary address",
                          "service keepalived stop")
        assert z.attempt_outcomes(f"r23-vip-{node}", "analysis") == ["failed"]
        if net == "netns":  # the VIP really is on the new VM's eth0
            assert f" {z.snap.vip}/32 " in z.ssh.out(temp, "ip -4 -o addr show")
        assert z.vip_holders() == [], "the new node (not an old one) holds the VIP"
        z.lab.clear_fault("vip-to", host=taken[0])
        # keepalived keeps the VIP on the new node until the remedy is done
        assert z.vip_holders() == []
        z.ssh.run(temp, "service keepalived stop")
        assert wait_until(lambda: len(z.vip_holders()) == 1, 20.0, 0.2), z.vip_holders()
        assert z.resume() == J.RUN_DONE, z.errors
        z.assert_upgraded()


def test_temporary_address_in_use_is_avoided_or_stops_the_plan() -> None:
    """R16: a temporary address that answers ping is not used; when the spec names it, the
    plan stops naming the address and the rule."""
    with zone() as z:
        first = z.plan()
        node = first_node(z)
        busy = first.nodes[node].temp_address
        z.lab.fault("address-taken", address=busy)
        second = z.plan()
        temps = {n.temp_address for n in second.nodes.values()}
        assert busy not in temps and len(temps) == len(second.nodes), temps
        z.spec = spec_with(z.spec, node, temp_address=busy)
        with pytest.raises(RuleError) as caught:
            z.plan()
        text = str(caught.value)
        assert "R16" in text and busy in text and node in text, text
        assert any(p.rule == "R16" and p.key == f"nodes.{node}.temp_address"
                   for p in caught.value.problems), caught.value.problems


@pytest.mark.slow  # ~10 s: make test-slow (make test's 5-minute budget)
def test_temporary_address_taken_after_planning_stops_before_launch() -> None:
    """R16 (issue 10): an address taken after the plan was made (ping from firstbox found it
    free) answers the new host's arping -D: the run stops at the probe, before any R21
    launch, naming the address, the bridge and the spec key to change."""
    with zone() as z:
        plan = z.plan()
        node = first_node(z)
        busy = plan.nodes[node].temp_address
        z.lab.fault("address-taken", address=busy)
        try:
            assert z.run() == J.RUN_FAILED
        finally:
            z.lab.clear_fault("address-taken", address=busy)
        assert_stopped_at(z, f"r16-free-{node}", "R16", f"{busy} answers ARP on", "br0",
                          f"nodes.{node}.temp_address", "No new VM is launched")
        assert z.attempt_outcomes(f"r16-free-{node}", "analysis") == ["failed"]
        for name in plan.nodes:
            assert z.step_state(f"r21-launch-{name}") == J.PENDING, name
        build = next(s.id for s in plan.steps if s.id.endswith("-build-pkgs"))  # R18/R19
        assert z.step_state(build) == J.DONE


def test_full_disk_on_the_new_host_stops_the_plan() -> None:
    """R13: the physical host chosen for a new VM has no room in /pitrix/kernels."""
    with zone() as z:
        first = z.plan()
        node = first_node(z)
        host_addr = first.nodes[node].physical_host
        host = next(h.name for h in z.info.hosts.values() if h.address == host_addr)
        z.lab.fault("disk-full", host=host)
        z.spec = spec_with(z.spec, node, physical_host=host_addr)
        with pytest.raises(RuleError) as caught:
            z.plan()
        text = str(caught.value)
        assert "R13" in text and host_addr in text and "free in /pitrix/kernels" in text, text
        assert any(p.rule == "R13" and p.key == f"nodes.{node}.physical_host"
                   for p in caught.value.problems), caught.value.problems


def spec_with(spec: Spec, node: str, **fixed: str) -> Spec:
    data = spec.model_dump(mode="json", exclude_none=True)
    data.setdefault("nodes", {}).setdefault(node, {}).update(fixed)
    return Spec.model_validate(data)


@dataclass
class HangAtSwitch:
    """What happened when the new VM froze (host-hang: TCP connects, no SSH banner) while
    the run waited at the first switch's gate, and then when resume ran again."""

    node: str
    error: NodeswapError
    failed_state: str
    step_state: str
    run_message: str
    final_state: str


@pytest.fixture(scope="module")
def hang_at_switch() -> Iterator[tuple[Zone, HangAtSwitch]]:
    """First switch's gate; host-hang on the new VM; resume (gate approved): the first step
    on the new VM (R31, at its temporary address) cannot connect within the (short) connect
    timeout. Cleared, resume finishes."""
    with zone(connect_timeout=3.0, tag="apply-faults-hang") as z:
        z.plan()
        node = first_node(z)
        assert z.run(stop_at_gate=f"r30-settings-{node}") == J.RUN_GATE
        iid = z.instance(node)
        z.lab.fault("host-hang", host=iid)
        try:
            state = z.resume()
        finally:
            z.lab.clear_fault("host-hang", host=iid)
        assert z.journal is not None
        step = f"r31-address-{node}"
        seen = HangAtSwitch(node, z.errors[-1], state, z.step_state(step),
                            z.journal.run(z.run_id).message or "", "")
        seen.final_state = z.resume()
        yield z, seen


@pytest.mark.slow
def test_new_vm_hangs_at_the_switch_stops_then_resume_finishes(
        hang_at_switch: tuple[Zone, HangAtSwitch]) -> None:
    z, seen = hang_at_switch
    _old, temp, _, _ = z.node_plan(seen.node)
    assert seen.failed_state == J.RUN_FAILED, seen.error
    assert isinstance(seen.error, StepFailed), seen.error  # names the step (test below)
    assert isinstance(seen.error.__cause__, TransportError), seen.error.__cause__
    assert temp in str(seen.error) and "no answer within 3s" in str(seen.error), seen.error
    assert seen.step_state == J.FAILED  # the journal has the step that could not connect
    assert seen.final_state == J.RUN_DONE, z.errors
    z.assert_upgraded()


@pytest.mark.slow
def test_new_vm_hangs_at_the_switch_message_names_step_and_rule(
        hang_at_switch: tuple[Zone, HangAtSwitch]) -> None:
    _z, seen = hang_at_switch
    step = f"r31-address-{seen.node}"
    for text in (str(seen.error), seen.run_message):
        assert step in text and "R31" in text, text
