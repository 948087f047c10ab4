"""`lab up --net netns` (issue 10, "The lab, a real network where the risk is"): the zone's
hosts in their own network namespaces, reached only through firstbox's /30 (docs/lab-netns.md).

Plain OpenSSH and nodeswap reach every host through ``ssh.jump``; this machine's namespace
has no address on the lab's bridges and no way to the zone but the /30; no lab namespace has a
way out (a default route only to the lab's gateway namespace, which has connected routes
only); `lab down` leaves no namespace, link or route of the lab, also after the controller
was killed. No test sends a packet anywhere but inside the lab (`ip route get`
only asks the kernel)."""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_kit import assert_no_way_out

from nodeswap.errors import LabError
from nodeswap.lab import Lab, LabInfo
from nodeswap.lab.netns import Names, NetRecords, lab_id, namespaces
from nodeswap.lab.system import wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]
EXE = Path(__file__).resolve().parents[2] / ".venv/bin/nodeswap"
STATE_ROOT = Path("/var/lib/nodeswap-lab")
OUTSIDE = "198.51.100.7"  # TEST-NET-2: asked about with `ip route get`, never sent to


def _up(kind: str) -> Lab:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    return Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-netns-{kind}", topology="default",
                  net="netns")


@pytest.fixture(scope="module")
def netns_lab() -> Iterator[Lab]:
    lab = _up("zone")
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def _lab_names(info: LabInfo) -> list[str]:
    net = info.raw["net"]
    return [net["bridge_ns"], net["gateway_ns"], net["operator_link"],
            *net["namespaces"].values()]


def test_lab_json_names_the_jump_and_zone_addresses(netns_lab: Lab) -> None:
    info = netns_lab.info()
    net = info.raw["net"]
    assert info.raw["ssh"]["jump"] == f"root@{net['jump']}"
    assert ipaddress.ip_address(net["jump"]) in ipaddress.ip_network("169.254.200.0/22")
    block = ipaddress.ip_network(net["block"])
    assert all(ipaddress.ip_address(h.address) in block for h in info.hosts.values())
    assert info.address("proxy0").endswith(".100.21")  # 127.16.100.21 -> 10.2xx.100.21
    assert all(len(n) <= 15 and net["labid"] in n for n in _lab_names(info))
    known = Path(info.known_hosts).read_text()
    assert any(line.split()[0].split(",")[-1] == net["jump"] for line in known.splitlines())


def test_plain_openssh_reaches_every_host_through_firstbox(netns_lab: Lab) -> None:
    """`ssh -F CONFIG -J root@JUMP root@ZONE-ADDRESS hostname`, strict host keys."""
    info = netns_lab.info()
    for key, host in info.hosts.items():
        res = subprocess.run(info.ssh_command(key, "hostname"), capture_output=True, text=True,
                             timeout=60, check=False)
        assert res.returncode == 0, (key, res.stderr)
        assert res.stdout.strip() == host.name
        assert "-J" in info.ssh_command(key)


def test_hosts_reach_each_other_by_name_inside_the_zone(netns_lab: Lab) -> None:
    """exec_nodes.sh on firstbox: ssh by name to every node, over the lab's bridge."""
    info = netns_lab.info()
    res = subprocess.run(info.ssh_command(info.firstbox or "", "/pitrix/upgrade/exec_nodes.sh",
                                          "-f", "all", "hostname"),
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert all(f"\n{h}\n" in res.stdout for h in ("proxy0", "webservice1", "pek3ar01n02"))


def test_nodeswap_discovers_through_the_jump_only(netns_lab: Lab) -> None:
    info = netns_lab.info()
    net = info.raw["net"]
    res = subprocess.run([str(EXE), "discover", "--lab", str(netns_lab.dir), "--state-dir",
                          str(netns_lab.dir / "ns-state"), "--json"],
                         capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode == 0, res.stderr
    snap = json.loads(res.stdout)
    assert {n["address"] for n in snap["old_nodes"].values()} == {
        info.address("proxy0"), info.address("proxy1")}
    assert all(n["error"] is None for n in snap["old_nodes"].values())
    # every login on firstbox came from this machine's end of the /30 or from firstbox
    # itself (nodeswap's own hop to firstbox's zone address through the jump)
    log = (netns_lab.dir / "hostdata/firstbox/sshd.log").read_text()
    froms = {ln.split(" from ")[1].split()[0] for ln in log.splitlines()
             if "Accepted publickey" in ln}
    assert net["operator_address"] in froms
    assert froms <= {net["operator_address"], info.address(info.firstbox or "")}


def test_nothing_leaves_the_machine(netns_lab: Lab) -> None:
    info = netns_lab.info()
    net = info.raw["net"]
    zone = [ipaddress.ip_network(n) for n in net["networks"]]
    # this machine's namespace: no address in a zone network, no lab bridge
    mine = json.loads(_ip("-j", "-4", "addr").stdout)
    addrs = [a["local"] for link in mine for a in link.get("addr_info", [])]
    assert not [a for a in addrs if any(ipaddress.ip_address(a) in z for z in zone)]
    assert _ip("link", "show", "dev", f"b{net['labid']}n0").returncode != 0
    # the operator's end of the /30 has that IPv4 address and nothing else (no IPv6 either)
    op = json.loads(_ip("-j", "addr", "show", "dev", net["operator_link"]).stdout)
    assert [a["local"] for a in op[0]["addr_info"]] == [net["operator_address"]]
    for ns in [net["bridge_ns"], *net["namespaces"].values()]:
        assert _ip("-n", ns, "-6", "addr").stdout.strip() == "", ns
    # only the /30 leads into the lab: every zone address is unreachable from here
    for host in info.hosts.values():
        got = _ip("route", "get", host.address)
        assert got.returncode != 0 and "No route to host" in got.stderr, got.stdout
    assert f"dev {net['operator_link']}" in _ip("route", "get", net["jump"]).stdout
    assert_no_way_out(net)


def _eth0(ns: str) -> list[str]:
    data = json.loads(_ip("-n", ns, "-j", "-4", "addr", "show", "dev", "eth0").stdout)
    return [a["local"] for link in data for a in link.get("addr_info", [])]


def test_a_host_that_is_down_has_no_address(netns_lab: Lab) -> None:
    """host-down: webservice0's eth0 loses its address (off the network for real, not only
    its sshd); cleared, it boots at its address again."""
    info = netns_lab.info()
    ns = info.raw["net"]["namespaces"]["webservice0.1"]
    address = info.address("webservice0")
    assert _eth0(ns) == [address]
    # the real eth0 carries the MAC the lab's `ip link` shows (its domain's NIC)
    shown = subprocess.run(info.ssh_command("webservice0", "ip", "-o", "link", "show", "eth0"),
                           capture_output=True, text=True, timeout=60, check=True).stdout
    real = json.loads(_ip("-n", ns, "-j", "link", "show", "dev", "eth0").stdout)[0]["address"]
    assert f"link/ether {real} " in shown
    netns_lab.fault("host-down", host="webservice0")
    try:
        assert _eth0(ns) == []
        got = subprocess.run(info.ssh_command(info.firstbox or "", "ping", "-c1", "-W1",
                                              address),
                             capture_output=True, text=True, timeout=60, check=False)
        assert got.returncode == 1, got  # real ping: ARP finds nobody on the bridge
    finally:
        netns_lab.clear_fault("host-down", host="webservice0")
    assert _eth0(ns) == [address]
    got = subprocess.run(info.ssh_command(info.firstbox or "", "ping", "-c1", "-W1", address),
                         capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 0 and "1 received" in got.stdout, got
    res = subprocess.run(info.ssh_command("webservice0", "hostname"), capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.stdout.strip() == "webservice0", res.stderr


def _eth0_cidr(ns: str) -> list[str]:
    data = json.loads(_ip("-n", ns, "-j", "-4", "addr", "show", "dev", "eth0").stdout)
    return [f"{a['local']}/{a['prefixlen']}" for link in data for a in link.get("addr_info", [])]


def _boot_with(lab: Lab, ns: str, at: str, address: str, netmask: str) -> None:
    """Rewrite webservice1's interfaces (reached at ``at``), reboot it, wait for its boot."""
    info = lab.info()
    text = (f"auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
            f"    address {address}\n    netmask {netmask}\n")
    cmd = info.ssh_command(at, f"printf %s {shlex.quote(text)} >/etc/network/interfaces && reboot")
    subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    prefix = ipaddress.ip_network(f"0.0.0.0/{netmask}").prefixlen
    assert wait_until(lambda: _eth0_cidr(ns) == [f"{address}/{prefix}"]
                      and lab.info().address("webservice1") == address, 30.0), _eth0_cidr(ns)


def test_a_vm_boots_onto_its_interfaces_file(netns_lab: Lab) -> None:
    """A VM's boot brings eth0 up from its own /etc/network/interfaces, netmask included: the
    old address answers no more, the new one does (ssh through the jump, ping from firstbox)."""
    info = netns_lab.info()
    ns = info.raw["net"]["namespaces"]["webservice1.1"]
    old = info.address("webservice1")
    new = old.rsplit(".", 1)[0] + ".42"
    _boot_with(netns_lab, ns, old, new, "255.255.254.0")
    try:
        fb = info.firstbox or ""
        pings = {a: subprocess.run(info.ssh_command(fb, "ping", "-c1", "-W1", a),
                                   capture_output=True, text=True, timeout=60,
                                   check=False).returncode for a in (old, new)}
        assert pings == {old: 1, new: 0}
        res = subprocess.run(netns_lab.info().ssh_command(new, "hostname"), capture_output=True,
                             text=True, timeout=60, check=False)
        assert res.stdout.strip() == "webservice1", res.stderr
    finally:
        _boot_with(netns_lab, ns, new, old, "255.255.255.0")


def test_arping_dad_probes_the_real_mgmt_network_of_a_physical_host(netns_lab: Lab) -> None:
    """R16 (issue 10): the arping stand-in's -D runs the real iputils arping in the host's
    namespace; a physical host's br0 (the MGMT bridge) is its eth0 there: a zone address
    answers (exit 1), a free one does not (exit 0); br1 has no interface (exit 2, said)."""
    info = netns_lab.info()
    phys = next(k for k, h in info.hosts.items() if h.kind == "physical")
    taken = info.address("webservice0")
    used = {h.address for h in info.hosts.values()}
    free = next(a for a in (taken.rsplit(".", 1)[0] + f".{i}" for i in range(200, 250))
                if a not in used)

    def arping(iface: str, address: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(info.ssh_command(phys, "arping", "-D", "-c", "2", "-w", "3",
                                               "-I", iface, address),
                              capture_output=True, text=True, timeout=60, check=False)

    version = subprocess.run(info.ssh_command(phys, "arping", "-V"), capture_output=True,
                             text=True, timeout=60, check=False)
    assert "iputils" in version.stdout + version.stderr
    got = {a: arping("br0", a) for a in (taken, free)}
    assert got[taken].returncode == 1 and "Unicast reply from" in got[taken].stdout, got[taken]
    assert "from 0.0.0.0 eth0" in got[taken].stdout
    assert got[free].returncode == 0 and "Received 0 response" in got[free].stdout, got[free]
    eip = arping("br1", free)
    assert eip.returncode == 2 and "no interface of this host carries br1" in eip.stderr, eip


def test_a_name_that_exists_refuses_the_lab_and_stays() -> None:
    """A namespace already named as this lab's bridge namespace (another lab's, say): `lab up`
    is refused, and that namespace is not touched, nor anything else left behind."""
    folder = STATE_ROOT / f"pytest-{os.getpid()}-netns-taken"
    taken = Names(lab_id(folder)).bridge_ns
    def unreachable() -> str:
        return _ip("-4", "route", "show", "type", "unreachable").stdout

    assert _ip("netns", "add", taken).returncode == 0
    try:
        before, spaces = unreachable(), namespaces()
        with pytest.raises(LabError, match=f"network namespace {taken} exists already"):
            Lab.up(folder, topology="default", net="netns")
        assert taken in namespaces()
        assert NetRecords(folder).entries() == []
        assert unreachable() == before and namespaces() == spaces
    finally:
        _ip("netns", "del", taken)  # this test's own
        Lab(folder).cleanup()


def test_lab_down_removes_everything_even_after_a_crash() -> None:
    """The controller is killed (SIGKILL): `lab down` still removes every recorded namespace,
    link and route, by name, and a second down finds nothing to do."""
    lab = _up("crash")
    try:
        info = lab.info()
        names = _lab_names(info)
        nets = info.raw["net"]["networks"]
        os.kill(info.raw["controller"]["pid"], signal.SIGKILL)
        assert wait_until(lambda: not lab.running(), 10.0)
        result = lab.down()
        assert result["net_removed"], result
        left = namespaces()
        assert not [n for n in names if n in left]
        assert _ip("link", "show", "dev", info.raw["net"]["operator_link"]).returncode != 0
        routes = _ip("-4", "route", "show", "table", "all").stdout
        assert not [n for n in nets if n in routes]
        assert lab.down()["net_removed"] == []
        assert NetRecords(lab.dir).entries()  # the records stay until cleanup
    finally:
        lab.down()
        lab.cleanup()
