"""The runbook by hand (issue 3, "Done means"): R6 to R37 typed as the runbook says, with plain
`ssh` (strict host keys, the lab's key) against a zone lab: `default`, and the VG zones
`vg-same-24` and `vg-other-24` (issue 10: the EIP's dummy, R12, and its return, R30/R31), on
either lab network (a netns lab's ssh goes through its jump; R36 asks the console from firstbox).

Shared by tests/lab/test_runbook_by_hand.py (which then checks the end state) and
bench/bench_upgrade.py (which times it next to nodeswap's run). The new settings files are
written with sed over ssh, as an operator would. The new proxy0 goes to old proxy1's physical
host and the reverse (R13: with VG nodes, both are VG nodes), at two borrowed addresses (R3, R16)
in the proxies' own network that no settings file uses and nothing answers, and in a VG zone
with the runbook's example dummy EIPs (R12: 2.2.2.2, 2.2.2.3). Where the operator has to wait
(a launched VM booting, R21; the old node going silent, R32; the new node back at the old
address, R33) the sequence waits as an operator would: ping or ssh again until it answers, with
a deadline. Must not: use nodeswap's executor.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nodeswap.errors import LabError

from .api import Lab, LabInfo, wait_for
from .standins.pitrixlab import parse_settings

TARGET_OS = ("bionic", "18.04.6")
NODES = ("proxy0", "proxy1")
DUMMY_EIP = {"proxy0": "2.2.2.2", "proxy1": "2.2.2.3"}  # R12's example, one per node


class Shell:
    """Plain ssh into the lab, failing loudly with the output."""

    def __init__(self, info: LabInfo) -> None:
        self.info = info

    def run(self, host: str, command: str, *, ok: bool = True) -> str:
        done = subprocess.run(self.info.ssh_command(host, command), capture_output=True,
                              text=True, timeout=300, check=False)
        if ok and done.returncode != 0:
            raise LabError(f"{host}: {command!r} exited {done.returncode}\n"
                           f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done.stdout

    def fb(self, command: str) -> str:
        return self.run(self.info.address(self.info.firstbox or ""), command)


def settings(sh: Shell, name: str) -> dict[str, str]:
    return parse_settings(sh.fb(f"cat /pitrix/conf/settings/{name}"))


def host_key(sh: Shell, address: str) -> str:
    return sh.run(address, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]


def expect(cond: bool, what: str) -> None:
    """What the operator reads on the screen before going on (R-numbered in ``what``)."""
    if not cond:
        raise LabError(f"by hand: {what}")


@dataclass
class ByHand:
    """What the sequence used and did: per node, old and temporary addresses (MGMT; in a VG
    zone the EIP and its dummy too), old and new physical hosts, the old VM's host key;
    ``marks``: (what, seconds since the start)."""

    old_addr: dict[str, str] = field(default_factory=dict)
    old_eip: dict[str, str] = field(default_factory=dict)  # empty: no VG nodes
    dummy_eip: dict[str, str] = field(default_factory=dict)
    old_host: dict[str, str] = field(default_factory=dict)
    temp: dict[str, str] = field(default_factory=dict)
    new_host: dict[str, str] = field(default_factory=dict)
    old_keys: dict[str, str] = field(default_factory=dict)
    marks: list[tuple[str, float]] = field(default_factory=list)


def run_by_hand(lab: Lab, mark: Callable[[str], None] | None = None) -> ByHand:
    """R6-R37 on ``lab`` (a zone topology), step by step over plain ssh."""
    t0 = time.monotonic()
    info = lab.info()
    sh = Shell(info)
    zone = info.raw["zone"]
    old = {p: settings(sh, p) for p in NODES}
    bh = ByHand(old_addr={p: old[p]["mgmt_network_address"] for p in NODES},
                old_host={p: old[p]["physical_host"] for p in NODES},
                temp=borrowed(sh, old["proxy0"]["mgmt_network_address"]))
    if old["proxy0"].get("eip_network_address"):  # VG nodes: the proxies have an EIP (R12)
        bh.old_eip = {p: old[p]["eip_network_address"] for p in NODES}
        bh.dummy_eip = dict(DUMMY_EIP)
    bh.new_host = {"proxy0": bh.old_host["proxy1"], "proxy1": bh.old_host["proxy0"]}  # R13
    bh.old_keys = {p: host_key(sh, bh.old_addr[p]) for p in NODES}

    def note(what: str) -> None:
        bh.marks.append((what, round(time.monotonic() - t0, 3)))
        if mark is not None:
            mark(what)

    temp = bh.temp
    for p in NODES:  # the older variant: save rc.local* and haproxy.cfg before anything
        sh.fb(f"mkdir -p /root/old-{p} && scp -q root@{p}:/etc/haproxy/haproxy.cfg "
              f"'root@{p}:/etc/rc.local*' /root/old-{p}/")
    # R6: back up the settings folder.
    sh.fb("cp -arf /pitrix/conf/settings /pitrix/conf/settings.$(date +%Y%m%d)")
    new_settings(sh, bh)
    # R18 (installer 4.3.x): node list and packages.
    sh.fb("/pitrix/bin/gen_node_list.py && /pitrix/build/build_pkgs_allinone.py")
    note("R6-R18 settings and packages")
    # R21, R22: launch the new VMs, wait until they have booted, install them.
    out = sh.fb("/pitrix/install/launch_vms.sh proxy")
    expect("Launch [proxy0] OK" in out and "Launch [proxy1] OK" in out, f"R21 launch: {out}")
    for p in NODES:
        wait_ping(sh, temp[p], up=True)
    sh.fb("/pitrix/install/install_nodes.sh proxy")
    note("R21-R22 launch and install")
    # R23, R25 (boss v2): deploy the platform services. update.sh reaches the nodes by name,
    # which now means the new VMs: ssh refuses the changed key it still knows for each name, so
    # the operator forgets the old VMs' keys first (ssh then learns the new ones: accept-new).
    for p in NODES:
        sh.fb(f"ssh-keygen -f /root/.ssh/known_hosts -R {p}")
    sh.fb("/pitrix/upgrade/update.sh -f proxy pitrix-ks-proxy")
    sh.fb("/pitrix/upgrade/update.sh -f proxy pitrix-ks-proxy-boss2")
    note("R23-R25 deploy")
    # R27, R28: compare the old and new files (differences expected: binds, website 8081).
    for p in NODES:
        new_cfg = sh.fb(f"ssh root@{temp[p]} cat /etc/haproxy/haproxy.cfg")
        old_cfg = sh.fb(f"cat /root/old-{p}/haproxy.cfg")
        expect("listen website" in old_cfg and "listen website" not in new_cfg,
               f"R27 {p}: haproxy.cfg differs as expected")
        sh.fb(f"ssh root@{temp[p]} cat /etc/rc.local /etc/rc.local.head /etc/rc.local.tail")
    # R29: the platform services (exec_nodes reaches the names: still the old nodes).
    status = sh.fb('/pitrix/upgrade/exec_nodes.sh -f proxy "supervisorctl status"')
    expect("FATAL" not in status and "RUNNING" in status, f"R29 services: {status}")
    note("R27-R29 checks")
    for p in NODES:
        switch(lab, sh, bh, p, note)
        note(f"R30-R34 switch {p}")
    # R35: the services again, now on the new nodes (by name, from firstbox).
    status = sh.fb('/pitrix/upgrade/exec_nodes.sh -f proxy "supervisorctl status; hostname"')
    expect(status.count("cb_server") == 2 and "FATAL" not in status
           and "STOPPED" not in status, f"R35 services: {status}")
    # R36: the console through the VIP, asked from firstbox (a netns lab's zone addresses are
    # not this machine's to dial; the operator's browser is in the zone's network too).
    code = sh.fb(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 "
                 f"{shlex.quote(zone['console_url'])} || true").strip()
    expect(code == "200", f"R36 console answers {code or 'nothing'}")
    # R37: archive the old VMs on their physical hosts.
    for p in NODES:
        listing = sh.run(bh.old_host[p], "virsh list --all")
        expect(re.search(rf"{p}\s+shut off", listing) is not None, f"R37 {p}: {listing}")
        sh.run(bh.old_host[p], f"cd /pitrix/kernels && mv {p}.img old-{p}.img && "
                               f"mv {p}.xml old-{p}.xml && virsh undefine {p}")
    note("R35-R37 checks and archive")
    return bh


def borrowed(sh: Shell, address: str) -> dict[str, str]:
    """R3/R16: two addresses in the proxies' own /24 (a VG zone's proxies may sit in the VG
    network) that no settings file and no /etc/hosts line on firstbox names, from .41 up (the
    operator reads both before choosing; `vg-same-24`'s VG hosts hold .41-.43)."""
    net = address.rsplit(".", 1)[0]
    used = set(re.findall(rf"\b{re.escape(net)}\.(\d+)\b",
                          sh.fb("cat /pitrix/conf/settings/* /etc/hosts")))
    free = [f"{net}.{i}" for i in range(41, 250) if str(i) not in used]
    return dict(zip(NODES, free[:2], strict=True))


def new_settings(sh: Shell, bh: ByHand) -> None:
    """R7-R17 on firstbox: each node's new settings file, sed over its old one."""
    # R7-R17: the new settings files, from the old ones (R8: the gateway kept, empty in a VG
    # zone already; R10/R11: the routing rules follow the address; R12: no VG nodes, no EIP
    # block; VG nodes: a dummy EIP and a new EIP MAC, R9).
    for p in NODES:
        f = f"/pitrix/conf/settings/{p}"
        eip = ""
        if bh.old_eip:
            eip = (f"m2=$(/pitrix/bin/gen_mac.py); sed -i "
                   f"-e 's/^eip_network_address=.*/eip_network_address=\"{bh.dummy_eip[p]}\"/' "
                   f"-e \"s/^eip_network_mac_address=.*/eip_network_mac_address=\\\"$m2\\\"/\" "
                   f"{f}; ")
        sh.fb(
            f"set -e; m1=$(/pitrix/bin/gen_mac.py); "
            f"sed -i -e 's/^os_name=.*/os_name=\"{TARGET_OS[0]}\"/' "
            f"-e 's/^os_version=.*/os_version=\"{TARGET_OS[1]}\"/' "
            f"-e \"s/^mgmt_network_mac_address=.*/mgmt_network_mac_address=\\\"$m1\\\"/\" "
            f"-e 's/{bh.old_addr[p]}/{bh.temp[p]}/g' "
            f"-e 's/^physical_host=.*/physical_host=\"{bh.new_host[p]}\"/' {f}; {eip}")


def switch(lab: Lab, sh: Shell, bh: ByHand, p: str,
           note: Callable[[str], None] = lambda what: None) -> None:
    """R30-R34 for one node; ``note("R32 NODE")`` right before R32 stops the old node (the
    bench measures the console's downtime per switch from there: issue 10)."""
    old_addr, temp = bh.old_addr, bh.temp
    f = f"/pitrix/conf/settings/{p}"
    # R30: the old node's MGMT (and EIP) values back into its settings file, then the
    # global conf.
    eip_back = (f" -e 's/^eip_network_address=.*/eip_network_address=\"{bh.old_eip[p]}\"/'"
                if bh.old_eip else "")
    sh.fb(f"sed -i -e 's/{temp[p]}/{old_addr[p]}/g'{eip_back} {f} && "
          "/pitrix/upgrade/build_global_conf.sh")
    # R31: on the new VM, its addresses in /etc/network/interfaces become the old ones (the
    # MGMT address; with VG nodes the EIP that R12 replaced by the dummy).
    eip_iface = (f" -e 's/address {bh.dummy_eip[p]}$/address {bh.old_eip[p]}/'"
                 if bh.old_eip else "")
    sh.run(temp[p], f"sed -i -e 's/address {temp[p]}$/address {old_addr[p]}/'{eip_iface} "
                    "/etc/network/interfaces")
    # R32: the old node stops its services and shuts down.
    note(f"R32 {p}")
    sh.run(old_addr[p], "supervisorctl stop all")
    sh.run(old_addr[p], "shutdown -h now", ok=False)
    wait_ping(sh, old_addr[p], up=False)
    # R33: the new node: services stopped, pitrix-hosts installed, reboot.
    sh.run(temp[p], "supervisorctl stop all && apt-get update && "
                    "apt-get --yes --allow-unauthenticated install pitrix-hosts")
    sh.run(temp[p], "shutdown -r now", ok=False)
    wait_ssh(lab, old_addr[p])
    # R34: stale host keys of the name and the address, on firstbox and every node.
    for target in (p, old_addr[p], temp[p]):
        sh.fb(f"ssh-keygen -f /root/.ssh/known_hosts -R {target}")
        sh.fb(f"/pitrix/upgrade/exec_nodes.sh -f all "
              f"\"ssh-keygen -f /root/.ssh/known_hosts -R {target}\"")


def wait_ping(sh: Shell, address: str, *, up: bool, timeout: float = 120) -> None:
    """Ping from firstbox until ``address`` answers (or stops answering)."""
    def seen() -> bool:
        out = sh.fb(f"ping -c 1 -W 1 {address} || true")
        return ("100% packet loss" not in out) == up

    wait_for(seen, timeout, f"{address} to {'answer' if up else 'stop answering'} ping")


def wait_ssh(lab: Lab, address: str, timeout: float = 120) -> None:
    """ssh again until ``address`` answers (the new VM back at the old address, R33)."""
    info = lab.info()

    def up() -> bool:
        done = subprocess.run(info.ssh_command(address, "true"), capture_output=True,
                              timeout=30, check=False)
        return done.returncode == 0

    wait_for(up, timeout, f"{address} to answer ssh")
