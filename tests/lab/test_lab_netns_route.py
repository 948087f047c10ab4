"""VG topologies on `--net netns` (issue 10): the lab's gateway namespace routes between the
MGMT, VG and EIP bridges, a VM boots every stanza of its own interfaces file and runs
rc.local's `ip` lines for real (R10/R11), so a wrong route in rc.local loses the VM for real
(docs/lab-netns.md, decisions 10-11). Every packet stays inside the lab's namespaces: checks
run from firstbox over plain OpenSSH (lab.json's ``ssh.jump``) or ask the kernel (`ip -n`)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_kit import assert_no_way_out

from nodeswap.lab import Lab, LabInfo
from nodeswap.lab.netns import NetRecords, namespaces
from nodeswap.lab.system import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]
STATE_ROOT = Path("/var/lib/nodeswap-lab")
PROXIES = ("proxy0", "proxy1")


@pytest.fixture(scope="module", params=["vg-same-24", "vg-other-24"])
def vg_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-route-{request.param}",
                 topology=request.param, net="netns")
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


def _ip(ns: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", ns, *args], capture_output=True, text=True,
                          check=False).stdout


def _plain_ssh(info: LabInfo, address: str | None, *cmd: str) -> subprocess.CompletedProcess[str]:
    """Plain OpenSSH as an operator types it: to firstbox at ``ssh.jump``, or through it."""
    ssh = info.raw["ssh"]
    hop = ["-J", ssh["jump"], f"root@{address}"] if address else [ssh["jump"]]
    return subprocess.run(["ssh", "-F", ssh["config"], *hop, *cmd], capture_output=True,
                          text=True, timeout=60, check=False)


def _answers(info: LabInfo, address: str) -> bool:
    return _plain_ssh(info, None, "ping", "-c1", "-W1", address).returncode == 0


def _ns(info: LabInfo, name: str) -> str:
    return str(info.raw["net"]["namespaces"][info.raw["hosts"][name]["iid"]])


def test_every_proxy_answers_on_its_mgmt_address_from_firstbox(vg_lab: Lab) -> None:
    info = vg_lab.info()
    for name in PROXIES:
        assert _answers(info, info.address(name)), name
        got = _plain_ssh(info, info.address(name), "hostname")
        assert got.stdout.strip() == name, got.stderr
    assert_no_way_out(info.raw["net"])


def test_a_vg_proxy_has_its_eip_on_eth1_and_its_default_route_there(vg_lab: Lab) -> None:
    """The EIP stanza gets a real veth on the EIP bridge; its `gateway` line is the default
    route; `ip route`/`ip addr` in the proxy's session are the real ones of its namespace."""
    info = vg_lab.info()
    t = info.raw["zone"]
    for name in PROXIES:
        ns = _ns(info, name)
        eth1 = json.loads(_ip(ns, "-j", "-4", "addr", "show", "dev", "eth1"))
        eip = [a["local"] for link in eth1 for a in link.get("addr_info", [])]
        assert len(eip) == 1 and eip[0].split(".")[2] == "200", eip
        default = _ip(ns, "route", "show", "default").split()
        assert default[:5] == ["default", "via", eip[0].rsplit(".", 1)[0] + ".1", "dev", "eth1"]
        shown = _plain_ssh(info, info.address(name), "ip", "route")
        assert shown.returncode == 0 and shown.stdout == _ip(ns, "route"), shown.stderr
        addr = _plain_ssh(info, info.address(name), "ip", "-4", "addr", "show", "eth1").stdout
        assert f"inet {eip[0]}/24 " in addr
        assert _answers(info, eip[0]), (name, eip)  # from firstbox, through the router
    assert t["vip"].rsplit(".", 1)[0] == info.address("proxy0").rsplit(".", 1)[0]


def _ns_gateway(info: LabInfo) -> str:
    return str(info.raw["net"]["gateway_ns"])


def _reboot_with_tail(lab: Lab, name: str, old: str, new: str) -> None:
    """At the VM's console (its root, as the lab's owner: its address may not answer from
    firstbox): ``old`` -> ``new`` in /etc/rc.local.tail; then power it off and on (fault
    host-down, cleared) and wait until its boot ran rc.local again."""
    info = lab.info()
    ns, iid = _ns(info, name), info.raw["hosts"][name]["iid"]
    tail = lab.dir / "hosts" / iid / "etc/rc.local.tail"
    tail.write_text(tail.read_text().replace(old, new))
    lab.fault("host-down", host=name)
    assert _ip(ns, "-4", "addr", "show", "dev", "eth0") == ""
    assert _ip(ns, "route") == ""  # a halt takes every address and route away
    lab.clear_fault("host-down", host=name)
    assert wait_until(lambda: "via" in _ip(ns, "route", "show", "172.21.0.0/16")
                      and lab.info().hosts[name].up, 30.0)


def test_a_wrong_route_in_rc_local_loses_the_vm(vg_lab: Lab) -> None:
    """R10's line with a wrong gateway (vg-other-24; vg-same-24 has no R10 line: its VM
    network rule instead) runs for real at boot: firstbox loses the proxy; fixed, it answers."""
    if not vg_lab.dir.name.endswith("vg-other-24"):
        pytest.skip("vg-same-24's proxies are in the KS network: no R10 route")
    info = vg_lab.info()
    ks_net = info.raw["net"]["networks"][0]
    ns = _ns(info, "proxy1")
    address = info.address("proxy1")
    r10 = _ip(ns, "route", "show", ks_net).split()
    assert r10[1:2] == ["via"], r10  # R10's route, from rc.local.tail
    gw = r10[2]
    wrong = gw.rsplit(".", 1)[0] + ".9"
    assert f"{ks_net} via {gw} dev eth0" in _ip(ns, "route")
    _reboot_with_tail(vg_lab, "proxy1", f"{ks_net} via {gw}", f"{ks_net} via {wrong}")
    try:
        assert f"{ks_net} via {wrong} dev eth0" in _ip(ns, "route")
        assert not _answers(vg_lab.info(), address)
        log = (vg_lab.dir / "controller.log").read_text()
        assert f"ran ip route add {ks_net} via {wrong}" in log
    finally:
        _reboot_with_tail(vg_lab, "proxy1", f"{ks_net} via {wrong}", f"{ks_net} via {gw}")
    assert _answers(vg_lab.info(), address)


def test_a_gratuitous_arp_is_real(vg_lab: Lab) -> None:
    """R33's `arping -U` on a netns VM is the real one: a neighbour holding a wrong MAC for the
    proxy's address learns the proxy's own (webservice0's cache, or the router's when the
    proxy is in another network, set by hand to a MAC nobody has, as after a switch)."""
    info = vg_lab.info()
    ws, address = _ns(info, "webservice0"), info.address("proxy1")
    mac = json.loads(_ip(_ns(info, "proxy1"), "-j", "link", "show", "dev", "eth0"))[0]["address"]
    route = _ip(ws, "route", "get", address).split()
    if "via" in route:  # vg-other-24: the router's cache is the one that matters
        ws, route = _ns_gateway(info), _ip(_ns_gateway(info), "route", "get", address).split()
    dev = route[route.index("dev") + 1]
    # the proxy announces itself 3, 5 and 7 s from now, detached: with the wrong MAC set,
    # firstbox's way to it may be cut
    once = f"arping -U -c 1 -I eth0 {address}"
    later = f"sleep 3; {once}; sleep 2; {once}; sleep 2; {once}"
    got = _plain_ssh(info, address,
                     f"setsid -f sh -c {shlex.quote(later)} </dev/null >/tmp/garp.out 2>&1")
    assert got.returncode == 0, got.stderr
    subprocess.run(["ip", "-n", ws, "neigh", "replace", address, "lladdr", "00:16:3e:00:00:01",
                    "dev", dev, "nud", "stale"], check=True)
    assert "00:16:3e:00:00:01" in _ip(ws, "neigh", "show", address)
    assert wait_until(lambda: f"lladdr {mac} " in _ip(ws, "neigh", "show", address), 15.0), \
        _ip(ws, "neigh", "show", address)
    assert _answers(info, address)


def test_lab_down_removes_everything_recorded(vg_lab: Lab) -> None:
    info = vg_lab.info()
    net = info.raw["net"]
    recorded = NetRecords(vg_lab.dir).entries()
    assert ("netns", net["gateway_ns"]) in recorded
    vg_lab.down()
    left = namespaces()
    assert not [n for kind, n in recorded if kind == "netns" and n in left]
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True,
                            text=True, check=True).stdout
    assert not [n for kind, n in recorded if kind == "route" and n in routes]
