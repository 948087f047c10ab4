"""`lab down` leaves no process, mount or listening address behind, and runs twice (issue 3)."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from nodeswap.lab import Lab
from nodeswap.lab.api import wait_for
from nodeswap.lab.system import mounts_under, proc_start_time, processes_under

pytestmark = pytest.mark.lab


def _listening(address: str) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((address, 22)) == 0


def test_down_leaves_nothing_behind() -> None:
    lab = Lab.up(Path("/var/lib/nodeswap-lab/pytest-down"), hosts=3)
    info = lab.info()
    addresses = [h.address for h in info.hosts.values()]
    session = subprocess.Popen(info.ssh_command("h0001", "sleep 300"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # a detached job, as nodeswap's dead-man (issue 11): its own session, outliving the ssh
    # session that started it, its PID recorded in a file of the host's root
    subprocess.run(info.ssh_command("h0001", "(setsid nohup bash -c 'echo $$ > /tmp/job.pid; "
                                    "exec sleep 300' </dev/null >/dev/null 2>&1 &)"),
                   check=True, timeout=60)
    job = subprocess.run(info.ssh_command(
        "h0001", "timeout 10 sh -c 'until test -s /tmp/job.pid; do sleep 0.05; done'; "
        "cat /tmp/job.pid"), capture_output=True,
                         text=True, check=True, timeout=60)
    job_pid = int(job.stdout)
    try:
        wait_for(lambda: bool(processes_under(lab.dir / "hosts")), 30,
                 "the ssh session in h0001's root (chrooted)")
        assert job_pid in processes_under(lab.dir / "hosts")  # found by its root, not name
        assert processes_under(lab.dir)
        assert mounts_under(lab.dir)
        lab.down()
        assert processes_under(lab.dir) == []
        assert proc_start_time(job_pid) is None  # the detached job ended too
        assert mounts_under(lab.dir) == []
        assert not any(_listening(a) for a in addresses)
        assert lab.records.live_procs() == []
        lab.down()  # twice is fine
        assert not lab.running()
    finally:
        session.wait(timeout=30)
        lab.cleanup()
    assert not lab.dir.exists()


def test_cli_up_status_down(tmp_path: Path) -> None:
    state = "/var/lib/nodeswap-lab/pytest-cli"
    exe = Path(__file__).resolve().parents[2] / ".venv/bin/nodeswap"
    up = subprocess.run([str(exe), "lab", "up", "--hosts", "2", "--state-dir", state],
                        capture_output=True, text=True, timeout=120, check=False)
    try:
        assert up.returncode == 0, up.stderr
        assert "h0002" in up.stdout
        again = subprocess.run([str(exe), "lab", "up", "--hosts", "2", "--state-dir", state],
                               capture_output=True, text=True, timeout=60, check=False)
        assert again.returncode == 1 and "already running" in again.stderr
        st = subprocess.run([str(exe), "lab", "status", "--lab", state],  # the new name
                            capture_output=True, text=True, timeout=60, check=False)
        assert st.returncode == 0 and "h0001" in st.stdout
    finally:
        down = subprocess.run([str(exe), "lab", "down", "--state-dir", state, "-o", "json"],
                              capture_output=True, text=True, timeout=120, check=False)
        Lab(Path(state)).cleanup()
    assert down.returncode == 0
    assert json.loads(down.stdout)["lab"] == state  # -o json: one object, nothing else
    st = subprocess.run([str(exe), "lab", "status", "--state-dir", state],
                        capture_output=True, text=True, timeout=60, check=False)
    assert st.returncode == 1 and "no lab running" in st.stderr
