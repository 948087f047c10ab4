"""The runbook by hand (issue 3, "Done means"): R6 to R37 typed as the runbook says, with plain
`ssh` (strict host keys, the lab's key) against the default lab; then the end state.

The new settings files are written here with sed over ssh, as an operator would. The new
proxy0 goes to old proxy1's physical host and the reverse (R13), at two borrowed addresses
(R3, R16) that no settings file uses and nothing answers.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request

import pytest

from nodeswap.lab import Lab, LabInfo
from nodeswap.lab.api import wait_for
from nodeswap.lab.standins.pitrixlab import parse_settings

pytestmark = pytest.mark.lab

TARGET_OS = ("bionic", "18.04.6")


class Shell:
    """Plain ssh into the lab, failing loudly with the output."""

    def __init__(self, info: LabInfo) -> None:
        self.info = info

    def run(self, host: str, command: str, *, ok: bool = True) -> str:
        done = subprocess.run(self.info.ssh_command(host, command), capture_output=True,
                              text=True, timeout=120, check=False)
        if ok and done.returncode != 0:
            raise AssertionError(f"{host}: {command!r} exited {done.returncode}\n"
                                 f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done.stdout

    def fb(self, command: str) -> str:
        return self.run(self.info.address(self.info.firstbox or ""), command)


def _settings(sh: Shell, name: str) -> dict[str, str]:
    return parse_settings(sh.fb(f"cat /pitrix/conf/settings/{name}"))


def _host_key(sh: Shell, address: str) -> str:
    return sh.run(address, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1]


def test_runbook_r6_to_r37_by_hand(fresh_zone_lab: Lab) -> None:  # noqa: PLR0915
    info = fresh_zone_lab.info()
    sh = Shell(info)
    zone = info.raw["zone"]
    net = zone["network"].rsplit(".", 1)[0]  # e.g. 127.16.100
    old = {p: _settings(sh, p) for p in ("proxy0", "proxy1")}
    old_addr = {p: old[p]["mgmt_network_address"] for p in old}
    old_host = {p: old[p]["physical_host"] for p in old}
    temp = {"proxy0": f"{net}.41", "proxy1": f"{net}.42"}  # R3/R16: borrowed addresses
    new_host = {"proxy0": old_host["proxy1"], "proxy1": old_host["proxy0"]}  # R13: swap
    old_keys = {p: _host_key(sh, old_addr[p]) for p in old}
    for p in old:  # the older variant: save rc.local* and haproxy.cfg before anything
        sh.fb(f"mkdir -p /root/old-{p} && scp -q root@{p}:/etc/haproxy/haproxy.cfg "
              f"'root@{p}:/etc/rc.local*' /root/old-{p}/")

    # R6: back up the settings folder.
    sh.fb("cp -arf /pitrix/conf/settings /pitrix/conf/settings.$(date +%Y%m%d)")
    # R7-R17: the new settings files, from the old ones (no VG: gateway kept, no EIP block).
    for p in ("proxy0", "proxy1"):
        f = f"/pitrix/conf/settings/{p}"
        sh.fb(
            f"set -e; m1=$(/pitrix/bin/gen_mac.py); "
            f"sed -i -e 's/^os_name=.*/os_name=\"{TARGET_OS[0]}\"/' "
            f"-e 's/^os_version=.*/os_version=\"{TARGET_OS[1]}\"/' "
            f"-e \"s/^mgmt_network_mac_address=.*/mgmt_network_mac_address=\\\"$m1\\\"/\" "
            f"-e 's/{old_addr[p]}/{temp[p]}/g' "
            f"-e 's/^physical_host=.*/physical_host=\"{new_host[p]}\"/' {f}")
    # R18 (installer 4.3.x): node list and packages.
    sh.fb("/pitrix/bin/gen_node_list.py && /pitrix/build/build_pkgs_allinone.py")
    # R21, R22: launch and install the new VMs.
    out = sh.fb("/pitrix/install/launch_vms.sh proxy")
    assert "Launch [proxy0] OK" in out and "Launch [proxy1] OK" in out, out
    sh.fb("/pitrix/install/install_nodes.sh proxy")
    # R23, R25 (boss v2): deploy the platform services.
    sh.fb("/pitrix/upgrade/update.sh -f proxy pitrix-ks-proxy")
    sh.fb("/pitrix/upgrade/update.sh -f proxy pitrix-ks-proxy-boss2")
    # R27, R28: compare the old and new files (differences expected: binds, website 8081).
    for p in ("proxy0", "proxy1"):
        new_cfg = sh.fb(f"ssh root@{temp[p]} cat /etc/haproxy/haproxy.cfg")
        old_cfg = sh.fb(f"cat /root/old-{p}/haproxy.cfg")
        assert "listen website" in old_cfg and "listen website" not in new_cfg
        sh.fb(f"ssh root@{temp[p]} cat /etc/rc.local /etc/rc.local.head /etc/rc.local.tail")
    # R29: the platform services (exec_nodes reaches the names: still the old nodes).
    status = sh.fb('/pitrix/upgrade/exec_nodes.sh -f proxy "supervisorctl status"')
    assert "FATAL" not in status and "RUNNING" in status

    for p in ("proxy0", "proxy1"):
        f = f"/pitrix/conf/settings/{p}"
        # R30: the old node's MGMT values back into its settings file, then the global conf.
        sh.fb(f"sed -i 's/{temp[p]}/{old_addr[p]}/g' {f} && /pitrix/upgrade/build_global_conf.sh")
        # R31: on the new VM, its address in /etc/network/interfaces becomes the old one.
        sh.run(temp[p], f"sed -i 's/address {temp[p]}$/address {old_addr[p]}/' "
                        "/etc/network/interfaces")
        # R32: the old node stops its services and shuts down.
        sh.run(old_addr[p], "supervisorctl stop all")
        sh.run(old_addr[p], "shutdown -h now", ok=False)
        _wait_unreachable(sh, old_addr[p])
        # R33: the new node: services stopped, pitrix-hosts installed, reboot.
        sh.run(temp[p], "supervisorctl stop all && apt-get update && "
                        "apt-get --yes --allow-unauthenticated install pitrix-hosts")
        sh.run(temp[p], "shutdown -r now", ok=False)
        _wait_answers(fresh_zone_lab, old_addr[p])
        # R34: stale host keys of the name and the address, on firstbox and every node.
        for target in (p, old_addr[p], temp[p]):
            sh.fb(f"ssh-keygen -f /root/.ssh/known_hosts -R {target}")
            sh.fb(f"/pitrix/upgrade/exec_nodes.sh -f all "
                  f"\"ssh-keygen -f /root/.ssh/known_hosts -R {target}\"")
    # R35: the services again, now on the new nodes (by name, from firstbox).
    status = sh.fb('/pitrix/upgrade/exec_nodes.sh -f proxy "supervisorctl status; hostname"')
    assert status.count("cb_server") == 2 and "FATAL" not in status and "STOPPED" not in status
    # R36: the console through the VIP.
    with urllib.request.urlopen(zone["console_url"], timeout=10) as resp:  # noqa: S310
        assert resp.status == 200
    # R37: archive the old VMs on their physical hosts.
    for p in ("proxy0", "proxy1"):
        listing = sh.run(old_host[p], "virsh list --all")
        assert re.search(rf"{p}\s+shut off", listing), listing
        sh.run(old_host[p], f"cd /pitrix/kernels && mv {p}.img old-{p}.img && "
                            f"mv {p}.xml old-{p}.xml && virsh undefine {p}")

    # ---- the end state
    info = fresh_zone_lab.info()
    for p in ("proxy0", "proxy1"):
        s = _settings(sh, p)
        assert (s["os_name"], s["os_version"]) == TARGET_OS
        assert s["mgmt_network_address"] == old_addr[p]
        assert s["physical_host"] == new_host[p]
        assert sh.run(old_addr[p], "hostname").strip() == p
        assert _host_key(sh, old_addr[p]) != old_keys[p]  # a new VM at the old address
        assert TARGET_OS[1] in sh.run(old_addr[p], "cat /etc/lsb-release")
        assert "RUNNING" in sh.run(old_addr[p], "supervisorctl status")
        kernels = sh.run(old_host[p], "ls /pitrix/kernels").split()
        assert {f"old-{p}.img", f"old-{p}.xml"} <= set(kernels)
        assert p not in sh.run(old_host[p], "virsh list --all").split()
        assert p in sh.run(new_host[p], "virsh list --all").split()
        olds = [h for h in info.hosts.values() if h.name == p and not h.up]
        assert len(olds) == 1  # the old VM is shut down, still in the lab's records
        # known_hosts cleaned: firstbox's entry for the name and address is the new key
        known = sh.fb(f"ssh-keygen -F {old_addr[p]} -f /root/.ssh/known_hosts; "
                      f"ssh-keygen -F {p} -f /root/.ssh/known_hosts")
        assert old_keys[p] not in known
        assert sh.fb(f"ssh -o StrictHostKeyChecking=yes {p} hostname").strip() == p
    fb_hosts = sh.fb("cat /etc/hosts")
    assert temp["proxy0"] not in fb_hosts  # R20: nothing pushed to firstbox
    for host in info.hosts.values():
        if host.up and host.role != "proxy" and host.kind == "vm":
            assert temp["proxy0"] not in sh.run(host.address, "cat /etc/hosts")


def _wait_unreachable(sh: Shell, address: str) -> None:
    wait_for(lambda: "100% packet loss" in sh.fb(f"ping -c 1 {address} || true"), 30,
             f"{address} to stop answering ping")


def _wait_answers(lab: Lab, address: str) -> None:
    info = lab.info()

    def up() -> bool:
        done = subprocess.run(info.ssh_command(address, "true"), capture_output=True,
                              timeout=30, check=False)
        return done.returncode == 0

    wait_for(up, 60, f"{address} to answer ssh")
