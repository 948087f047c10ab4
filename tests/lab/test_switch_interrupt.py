"""Issue 11: Ctrl-C (or SIGTERM) while nodeswap waits for a node at the switch (R32's wait
for silence, R33's wait for the reboot: a bounded ping loop on firstbox, `timeout ... sh -c`)
stops that wait on the host. Before, `timeout` ran the loop in a process group of its own,
which the transport's stop of an interrupted command (a kill of the command's group) never
reached: the loop went on on firstbox for up to 10 minutes after nodeswap had exited.

On the plain lab (real sshd, real bash, real coreutils `timeout`), through `nodeswap apply`
as an operator runs it; the host's processes are read from /proc (the lab's hosts share this
machine's process table)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nodeswap.lab import Lab
from nodeswap.lab.hostinfo import processes
from nodeswap.plan.model import Plan, Step, Target
from nodeswap.runbooks.commands import ping_loop

pytestmark = pytest.mark.lab
NODESWAP = [sys.executable, "-m", "nodeswap"]
# A plain lab host runs the real ping, and all of 127/8 answers it: R32's wait for silence at
# this address never ends by itself.
ANSWERS = "127.255.255.254"


def loop_processes(lab: Lab, host: str) -> list[str]:
    """Command lines of the live ping-loop processes (timeout, its sh) inside ``host``'s root."""
    iid = str(lab.info().raw["hosts"][host].get("iid") or host)
    return [args for _, _, args in processes(lab.dir / "hosts" / iid, live=True)
            if ANSWERS in args]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_wait_at_the_switch_stops_it_on_the_host(
        plain_lab: Lab, tmp_path: Path, sig: int) -> None:
    info = plain_lab.info()
    fb = sorted(info.hosts)[0]
    targets = {"fb": Target("fb", info.address(fb), "fb", via_firstbox=False)}
    step = Step("r32-gone-proxy0", "switch:proxy0", "R32", "wait until the node is silent",
                "fb", command=ping_loop(ANSWERS, until_up=False), side_effect=False, waits=True,
                timeout=60.0)
    tag = uuid.uuid4().hex[:8]
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, targets, (step,),
                firstbox_target="fb", journal_zone=f"z{tag}")
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_dict()))
    proc = subprocess.Popen(
        [*NODESWAP, "apply", str(tmp_path / "plan.json"), "--lab", str(plain_lab.dir),
         "--state-dir", str(tmp_path / "state"), "--lock-path", f"/root/locks/{tag}.lock",
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line)["event"] == "StepStarted":
                break
        deadline = time.monotonic() + 15
        while not loop_processes(plain_lab, fb) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert loop_processes(plain_lab, fb), "the wait never ran on firstbox"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (130, 143), err
    deadline = time.monotonic() + 10
    while loop_processes(plain_lab, fb) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert loop_processes(plain_lab, fb) == [], "the interrupted wait still runs on firstbox"

