"""`lab up --timing realistic` (issue 11, "A lab with realistic timing"): a started VM is
booting (its domain runs) and does not answer before its boot time has passed, then answers;
a shut-down VM keeps answering for its shutdown time. Timing off (the default) stays
immediate. Condition waits with deadlines only (no fixed sleeps)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap.lab import Lab, timing
from nodeswap.lab.api import wait_for
from nodeswap.lab.labhost import ssh_banner

pytestmark = pytest.mark.lab

STATE_ROOT = "/var/lib/nodeswap-lab"


def answers(address: str) -> bool:
    """Does sshd at ``address`` send its banner (what an operator's ssh would see first)?"""
    return ssh_banner(address)


@pytest.fixture(scope="module")
def timed_lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = Lab.up(Path(f"{STATE_ROOT}/pytest-{os.getpid()}-timing"), topology="default",
                 timing="realistic")
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


def ssh(lab: Lab, host: str, command: str) -> str:
    done = subprocess.run(lab.info().ssh_command(host, command), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{host}: {command}: {done.stdout}{done.stderr}"
    return done.stdout


def test_lab_json_records_the_timing(timed_lab: Lab, zone_lab: Lab) -> None:
    got = timed_lab.info().raw["timing"]
    assert got == timing.public("realistic")
    assert got["delays"]["vm_boot"] == pytest.approx(2.0)  # 60 s real at 1/30
    off = zone_lab.info().raw["timing"]  # the default: nothing waits
    assert off["profile"] == "off" and set(off["delays"].values()) == {0.0}


def test_virsh_start_boots_for_the_boot_time(timed_lab: Lab) -> None:
    info = timed_lab.info()
    boot = info.raw["timing"]["delays"]["vm_boot"]
    vm = info.hosts["proxy1"]
    phys = next(h for h in info.raw["hosts"].values() if h["iid"] == "proxy1.1")["physical"]
    ssh(timed_lab, phys, "virsh destroy proxy1")
    wait_for(lambda: not answers(vm.address), 10, "proxy1 to stop answering after destroy")
    t0 = time.monotonic()
    ssh(timed_lab, phys, "virsh start proxy1")
    # the domain runs at once, the VM does not answer yet
    assert ssh(timed_lab, phys, "virsh domstate proxy1").strip() == "running"
    probes: list[tuple[float, bool]] = []

    def probe() -> bool:
        probes.append((time.monotonic() - t0, answers(vm.address)))
        return probes[-1][1]

    wait_for(probe, boot + 30, "proxy1 to answer after its boot")
    early = [t for t, ok in probes if t < boot]
    assert early, "no probe before the boot time: the machine is too loaded to tell"
    assert not any(ok for t, ok in probes if t < boot), probes
    first = next(t for t, ok in probes if ok)
    assert first >= boot, (first, boot)


def test_shutdown_takes_its_time_before_silence(timed_lab: Lab) -> None:
    info = timed_lab.info()
    took = info.raw["timing"]["delays"]["shutdown"]
    vm = info.hosts["webservice1"]
    t0 = time.monotonic()
    subprocess.run(info.ssh_command(vm.address, "shutdown -h now"), capture_output=True,
                   timeout=60, check=False)
    last_answer = [0.0]

    def silent() -> bool:
        if answers(vm.address):
            last_answer[0] = time.monotonic() - t0
            return False
        return True

    wait_for(silent, 30, "webservice1 to stop answering")
    assert time.monotonic() - t0 >= took
    assert last_answer[0] > 0.0, "never saw it answering while it shut down"


def test_destroy_while_booting_cancels_the_boot(timed_lab: Lab) -> None:
    """A VM powered off while it boots does not come up from that boot: started again, it
    answers only a whole boot time after the second start."""
    info = timed_lab.info()
    boot = info.raw["timing"]["delays"]["vm_boot"]
    vm = info.hosts["webservice0"]
    phys = next(h for h in info.raw["hosts"].values() if h["iid"] == "webservice0.1")["physical"]
    ssh(timed_lab, phys, "virsh destroy webservice0")
    wait_for(lambda: not answers(vm.address), 10, "webservice0 to stop answering")
    ssh(timed_lab, phys, "virsh start webservice0")
    ssh(timed_lab, phys, "virsh destroy webservice0")  # while it boots
    assert ssh(timed_lab, phys, "virsh domstate webservice0").strip() == "shut off"
    t2 = time.monotonic()
    ssh(timed_lab, phys, "virsh start webservice0")
    wait_for(lambda: answers(vm.address), boot + 30, "webservice0 to answer")
    assert time.monotonic() - t2 >= boot
