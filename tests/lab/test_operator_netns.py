"""The operator on a real network (issue 10), at a terminal: `nodeswap lab up` (a netns lab by
default) and the ssh line it prints, pasted; `apply` with the first switch's gate answered;
Ctrl-C while R32 shuts the old node down; the printed resume pasted; the next gates answered.

What the real network shows and the loopback lab cannot: the console probe goes on measuring
on firstbox while the switch is open (it is adopted by the resume, not started twice), R33's
wait sees the new VM at once (firstbox forgot the old MAC), and the console answers at the VIP
through the real haproxy of the holder at the end. Checked over plain ssh through the jump.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_operator_path import PROMPT, finish, hints, journal, plan_file, terminal
from test_operator_switch import HANG, ctrl_c_in_r32_shutdown, hanging
from upgrade_kit import wait_for

from nodeswap.errors import EXIT_INTERRUPTED
from nodeswap.lab import Lab
from nodeswap.run import journal as J
from nodeswap.runbooks import probe as console_probe

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def lab_dir(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    folder = Path("/var/lib/nodeswap-lab") / f"pytest-{os.getpid()}-opnetns"
    try:
        yield folder
    finally:
        Lab(folder).down()
        Lab(folder).cleanup()


def test_ctrl_c_in_a_switch_on_a_real_network_then_the_pasted_resume(lab_dir: Path,
                                                                       tmp_path: Path) -> None:
    child = terminal(f"nodeswap lab up --topology default --lab {lab_dir}", tmp_path)
    child.expect(r"network: netns .*?: (ssh -F \S+ -J \S+) root@ADDRESS\)")
    ssh = child.match.group(1)
    out, code = finish(child)
    assert code == 0, out
    lab = Lab(lab_dir)
    info = lab.info()
    vip = info.raw["zone"]["vip"]
    # the printed ssh line, pasted with a zone address: the jump reaches the zone's hosts
    child = terminal(f"{ssh} root@{info.address('proxy0')} hostname", tmp_path)
    out, code = finish(child)
    assert code == 0 and "proxy0" in out, out

    plan = plan_file(lab, tmp_path)
    node = json.loads(plan.read_text())["meta"]["switch_order"].split(",")[0]
    out, code, old_iid = ctrl_c_in_r32_shutdown(lab, plan, node, tmp_path, wait=120.0)
    assert code == EXIT_INTERRUPTED and "Traceback" not in out, out
    flat = re.sub(r"\s+", " ", out)
    assert f"while the switch of {node} is open" in flat, out  # the probe measures on
    resume, _rollback = hints(out)
    run_id = resume.split()[2]
    assert journal(lab).step(run_id, console_probe.START).state == J.DONE
    lab.clear_fault("command-hangs", host=old_iid, command="shutdown")
    assert wait_for(lambda: not hanging(lab, old_iid), 15.0), HANG

    child = terminal(resume, tmp_path)  # pasted as printed
    child.expect("the console probe of this run is adopted on firstbox")
    for gate in (r"r30-settings-proxy\d \(R30\)", r"r37-list-proxy\d \(R37\)"):
        child.expect(rf"GATE {gate} on ")  # the other switch, then the archive
        child.expect(PROMPT)
        child.sendline("y")
    out, code = finish(child)
    assert code == 0 and "Traceback" not in out, out
    j = journal(lab)
    assert j.run(run_id).state == J.RUN_DONE
    started = [a for a in j.attempts(run_id, console_probe.START) if a.kind == "run"]
    assert len(started) == 2, started  # the resume ran the start step again, which adopted
    assert "adopted" in (j.last_output(run_id, console_probe.START, "run") or "")
    # over plain ssh through the jump: the console at the VIP, served by the real haproxy
    res = info.ssh_command(str(info.raw["firstbox"]), "curl -s -o /dev/null -w '%{http_code}' "
                                 f"http://{vip}/")
    child = terminal(shlex.join(res), tmp_path)
    out, code = finish(child)
    assert code == 0 and out.strip().endswith("200"), out
