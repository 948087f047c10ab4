"""Real haproxy, keepalived and webservice backends in a `--net netns` lab (issue 10, "The lab,
a real network where the risk is"; lab/proxyd.py, docs/lab-netns.md).

From firstbox (plain OpenSSH through ``ssh.jump``) the console at the VIP answers through the
holder's real haproxy; which proxy holds the VIP is read from its namespace (`ip -n NS addr`);
haproxy stopped on the holder moves the VIP (keepalived's track script); the holder halted
moves it to the other proxy (VRRP); `lab down` leaves none of the recorded processes alive.
Waits are deadlines, never sleeps."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap.lab import Lab, LabInfo
from nodeswap.lab.system import ProcRecord, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]
STATE_ROOT = Path("/var/lib/nodeswap-lab")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-proxyd", topology="default", net="netns")
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


def _ssh(info: LabInfo, host: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(info.ssh_command(host, command), capture_output=True, text=True,
                          timeout=60, check=False)


def _curl(info: LabInfo, url: str) -> subprocess.CompletedProcess[str]:
    return _ssh(info, info.firstbox or "", f"curl -sS -m 3 {url}")


def _holders(info: LabInfo) -> list[str]:
    """The proxy instances whose eth0 carries the VIP (reality, not the lab's flags)."""
    vip = info.raw["zone"]["vip"]
    out = []
    for iid, ns in info.raw["net"]["namespaces"].items():
        shown = subprocess.run(["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"],
                               capture_output=True, text=True, check=False).stdout
        if f" {vip}/32 " in shown:
            out.append(iid)
    return out


def _procs(lab: Lab, what: str) -> list[ProcRecord]:
    lines = (lab.dir / "records/procs.jsonl").read_text().splitlines()
    return [ProcRecord(**json.loads(line)) for line in lines
            if json.loads(line)["what"].startswith(what)]


def test_console_answers_through_the_holders_real_haproxy(lab: Lab) -> None:
    info = lab.info()
    vip = info.raw["zone"]["vip"]
    assert _holders(info) == ["proxy0.1"]  # keepalived elected the highest priority
    got = _curl(info, f"http://{vip}/")
    assert got.returncode == 0, got.stderr
    assert "<title>QingCloud Console</title>" in got.stdout and "via webservice" in got.stdout
    # the holder's processes are Debian's haproxy and keepalived, running in its namespace
    ns = info.raw["net"]["namespaces"]["proxy0.1"]
    for what, exe in (("haproxy", "/usr/sbin/haproxy"), ("keepalived", "/usr/sbin/keepalived")):
        rec = [r for r in _procs(lab, f"{what} proxy0.1") if r.is_alive()]
        assert len(rec) == 1, what
        assert os.readlink(f"/proc/{rec[0].pid}/exe") == exe
        assert os.stat(f"/proc/{rec[0].pid}/ns/net").st_ino == os.stat(f"/run/netns/{ns}").st_ino
    # the session's `ip addr` on the holder shows the VIP, on the other proxy it does not
    assert f" {vip}/32 " in _ssh(info, "proxy0", "ip -4 -o addr show").stdout
    assert f" {vip}/" not in _ssh(info, "proxy1", "ip -4 -o addr show").stdout
    # each proxy's own haproxy listens on the backends' ports (R35's probe)
    for port in (7777, 8565, 8000):
        assert _curl(info, f"http://{info.address('proxy1')}:{port}/").returncode == 0, port


def test_a_broken_haproxy_cfg_really_breaks_that_haproxy(lab: Lab) -> None:
    """The runtime config is the VM's own file: an error in it and a restart leave haproxy
    down (`service haproxy status` says so); put back, it runs again."""
    info = lab.info()
    cfg = "/etc/haproxy/haproxy.cfg"
    assert _ssh(info, "proxy1", f"cp {cfg} /root/haproxy.cfg.good && "
                f"echo 'listen broken' >>{cfg} && echo '    bogus_keyword 1' >>{cfg}"
                ).returncode == 0
    try:
        _ssh(info, "proxy1", "service haproxy restart")
        assert wait_until(lambda: _ssh(info, "proxy1", "service haproxy status").returncode
                          == 3, 15.0, 0.2)
        assert _curl(info, f"http://{info.address('proxy1')}:7777/").returncode != 0
        assert "bogus_keyword" in (lab.dir / "hostdata/proxy1.1/haproxy.log").read_text()
    finally:
        _ssh(info, "proxy1", f"cp /root/haproxy.cfg.good {cfg} && service haproxy start")
    assert wait_until(lambda: _curl(info, f"http://{info.address('proxy1')}:7777/").returncode
                      == 0, 15.0, 0.2)


def test_haproxy_stopped_then_holder_halted_moves_the_vip(lab: Lab) -> None:
    """haproxy stopped on the holder: keepalived's track script gives the VIP away and the
    console still answers, through the other proxy. Back on proxy0 (priority), then proxy0
    halted: VRRP moves the VIP to proxy1, the console answers through proxy1's haproxy."""
    info = lab.info()
    vip = info.raw["zone"]["vip"]
    assert wait_until(lambda: _holders(info) == ["proxy0.1"], 20.0, 0.2)
    assert _ssh(info, "proxy0", "service haproxy stop").returncode == 0
    assert wait_until(lambda: _holders(info) == ["proxy1.1"], 20.0, 0.2), _holders(info)
    assert wait_until(lambda: _curl(info, f"http://{vip}/").returncode == 0, 10.0, 0.2)
    assert _ssh(info, "proxy0", "service haproxy start").returncode == 0
    assert wait_until(lambda: _holders(info) == ["proxy0.1"], 20.0, 0.2), _holders(info)
    # the holder halted: its keepalived, haproxy end (by PID); the other proxy takes over
    _ssh(info, "proxy0", "shutdown -h now")
    assert wait_until(lambda: _holders(info) == ["proxy1.1"], 20.0, 0.2), _holders(info)
    gone = _procs(lab, "haproxy proxy0.1") + _procs(lab, "keepalived proxy0.1")
    assert wait_until(lambda: not [r for r in gone if r.is_alive()], 15.0, 0.1)
    assert wait_until(lambda: _curl(info, f"http://{vip}/").returncode == 0, 10.0, 0.2)


def test_lab_down_leaves_no_daemon(lab: Lab) -> None:
    """Last: `lab down` ends every recorded haproxy, keepalived and backend process."""
    recs = _procs(lab, "haproxy") + _procs(lab, "keepalived") + _procs(lab, "webserve")
    assert [r for r in recs if r.is_alive()]
    lab.down()
    assert not [r for r in recs if r.is_alive()]
