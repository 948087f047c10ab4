"""Stand-ins and faults of the zone lab (issue 3): one lab for the module, faults cleared
after each test so they do not leak into the next."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from nodeswap.checks import analyze
from nodeswap.checks.console import curl_command, pin
from nodeswap.errors import LabError
from nodeswap.lab import Lab
from nodeswap.lab.api import wait_for

pytestmark = pytest.mark.lab


WS1 = "/pitrix/conf/settings/webservice1"
# webservice1 moved to a host where it has no .Done (settings backed up to /root/ws1.bak)
MOVE_WS1 = (f"cp {WS1} /root/ws1.bak && sed -i -e \"s/^physical_host=.*/physical_host="
            "\\\"$(getent hosts pek3ar01n01 | cut -d' ' -f1)\\\"/\"")


def run(lab: Lab, host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(lab.info().ssh_command(host, command), capture_output=True,
                          text=True, timeout=timeout, check=False)


def fb(lab: Lab, command: str) -> subprocess.CompletedProcess[str]:
    return run(lab, lab.info().firstbox or "", command)


def test_hostnames_and_etc_hosts(fresh_zone_lab: Lab) -> None:
    info = fresh_zone_lab.info()
    for name in info.hosts:
        assert run(fresh_zone_lab, name, "hostname").stdout.strip() == name
    assert "proxy0" in fb(fresh_zone_lab, "getent hosts proxy0").stdout


def test_exec_nodes_prompt_and_exit_status_caveat(fresh_zone_lab: Lab) -> None:
    no = fb(fresh_zone_lab, 'echo n | /pitrix/upgrade/exec_nodes.sh proxy "hostname"')
    assert "Are you sure to exec the command on the above nodes [y/N]?" in no.stdout
    assert no.returncode == 0 and "Execing" not in no.stdout
    failing = fb(fresh_zone_lab, '/pitrix/upgrade/exec_nodes.sh -f proxy0 "false"')
    assert failing.returncode == 0  # a failing remote command is still "OK"
    assert "Execing [proxy0] with [false] ..." in failing.stdout
    assert failing.stdout.rstrip().endswith("Done.")
    unknown = fb(fresh_zone_lab, '/pitrix/upgrade/exec_nodes.sh -f nosuch "true"')
    assert unknown.returncode == 1
    assert fb(fresh_zone_lab, "ls /pitrix/log/exec_nodes/exec_proxy0.log").returncode == 0


def test_gen_mac_and_node_groups(fresh_zone_lab: Lab) -> None:
    macs = fb(fresh_zone_lab, "for i in 1 2 3; do /pitrix/bin/gen_mac.py; done").stdout.split()
    assert len(set(macs)) == 3 and all(m.startswith("00:16:3e:") for m in macs)
    out = fb(fresh_zone_lab, "/pitrix/bin/gen_node_list.py && cat /pitrix/conf/nodes/proxy "
                             "/pitrix/conf/nodes/vm /pitrix/conf/nodes/vg").stdout.splitlines()
    assert out[1] == "nodes=( proxy0 proxy1 );"
    assert out[2] == "nodes=( proxy0 proxy1 webservice0 webservice1 );"
    assert out[3] == "nodes=( );"


def test_virsh_supervisor_dpkg_ip(fresh_zone_lab: Lab) -> None:
    phys = fresh_zone_lab.info().raw["hosts"]["proxy0"]["physical"]
    assert "running" in run(fresh_zone_lab, phys, "virsh list --all").stdout
    assert "Autostart:      enable" in run(fresh_zone_lab, phys, "virsh dominfo proxy0").stdout
    assert run(fresh_zone_lab, phys, "virsh dominfo nosuch").returncode != 0
    st = run(fresh_zone_lab, "proxy1", "supervisorctl stop all; supervisorctl status")
    assert "STOPPED" in st.stdout and st.returncode == 3
    st = run(fresh_zone_lab, "proxy1", "supervisorctl start all && supervisorctl status")
    assert st.returncode == 0 and "RUNNING" in st.stdout
    pk = run(fresh_zone_lab, "proxy0", "dpkg-query -W 'pitrix-ks-proxy*'").stdout
    assert "pitrix-ks-proxy\t" in pk and "pitrix-ks-proxy-boss2\t" in pk
    vip = fresh_zone_lab.info().raw["zone"]["vip"]
    assert vip in run(fresh_zone_lab, "proxy0", "ip addr").stdout
    assert vip not in run(fresh_zone_lab, "proxy1", "ip addr").stdout
    assert "is running" in run(fresh_zone_lab, "proxy0", "service haproxy status").stdout


def test_update_refuses_unknown_package(fresh_zone_lab: Lab) -> None:
    done = fb(fresh_zone_lab, "/pitrix/upgrade/update.sh -f proxy pitrix-nosuch")
    assert done.returncode != 0 and "does not exist" in (done.stdout + done.stderr)
    done = fb(fresh_zone_lab, "echo n | /pitrix/upgrade/update.sh proxy pitrix-ks-proxy")
    assert "Are you sure to update the packages on the above nodes [y/N]?" in done.stdout


def test_launch_refuses_done_and_unprepared_release(fresh_zone_lab: Lab) -> None:
    done = fb(fresh_zone_lab, "/pitrix/install/launch_vms.sh webservice0")
    assert "has been launched already" in done.stdout
    fb(fresh_zone_lab, MOVE_WS1 + " -e 's/^os_version=.*/os_version=\"20.04.1\"/' " + WS1)
    done = fb(fresh_zone_lab, "/pitrix/install/launch_vms.sh webservice1")
    fb(fresh_zone_lab, "cp /root/ws1.bak /pitrix/conf/settings/webservice1")
    assert done.returncode == 1 and "not prepared" in done.stdout, done.stdout


def nodeswap_lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodeswap", "lab", *args], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_fault_disk_full(fresh_zone_lab: Lab) -> None:
    """Injected and cleared with the CLI, as an operator does (text, then --json)."""
    lab = str(fresh_zone_lab.dir)
    put = nodeswap_lab("fault", "disk-full", "--host", "pek3ar01n01", "--lab", lab)
    assert put.returncode == 0, put.stderr
    assert put.stdout.startswith("fault disk-full injected (") and put.stdout.endswith(
        f" in {lab}\n")
    try:
        assert " 100% " in run(fresh_zone_lab, "pek3ar01n01", "df -P / | tail -1").stdout
        fb(fresh_zone_lab, MOVE_WS1 + " " + WS1)
        done = fb(fresh_zone_lab, "/pitrix/install/launch_vms.sh -f webservice1")
        assert done.returncode == 1 and "No space left on device" in done.stdout, done.stdout
    finally:
        fb(fresh_zone_lab, "cp /root/ws1.bak /pitrix/conf/settings/webservice1")
        gone = nodeswap_lab("fault", "disk-full", "--host", "pek3ar01n01", "--clear", "--lab",
                            lab, "--json")  # fmt: skip
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["fault"] == "disk-full" and json.loads(gone.stdout)["cleared"]
    assert " 100% " not in run(fresh_zone_lab, "pek3ar01n01", "df -P / | tail -1").stdout


def test_fault_command_fails_and_hangs(fresh_zone_lab: Lab) -> None:
    fresh_zone_lab.fault("command-fails", host="proxy1", command="supervisorctl")
    done = run(fresh_zone_lab, "proxy1", "supervisorctl status")
    assert done.returncode == 1 and "injected failure" in done.stderr
    fresh_zone_lab.clear_fault("command-fails", host="proxy1", command="supervisorctl")
    assert run(fresh_zone_lab, "proxy1", "supervisorctl status").returncode == 0
    fresh_zone_lab.fault("command-hangs", host="proxy1", command="hostname")
    with pytest.raises(subprocess.TimeoutExpired):
        run(fresh_zone_lab, "proxy1", "hostname", timeout=2)
    fresh_zone_lab.clear_fault("command-hangs", host="proxy1", command="hostname")
    assert run(fresh_zone_lab, "proxy1", "hostname").stdout.strip() == "proxy1"


def test_fault_supervisor_fatal(fresh_zone_lab: Lab) -> None:
    fresh_zone_lab.fault("supervisor-fatal", host="proxy0", program="cb_server")
    out = fb(fresh_zone_lab, '/pitrix/upgrade/exec_nodes.sh -f proxy "supervisorctl status"')
    assert "FATAL" in out.stdout and out.returncode == 0
    fresh_zone_lab.clear_fault("supervisor-fatal", host="proxy0", program="cb_server")
    assert "FATAL" not in run(fresh_zone_lab, "proxy0", "supervisorctl status").stdout


def test_fault_address_taken(fresh_zone_lab: Lab) -> None:
    net = fresh_zone_lab.info().raw["zone"]["network"].rsplit(".", 1)[0]
    addr = f"{net}.77"
    assert fb(fresh_zone_lab, f"ping -c 1 {addr}").returncode == 1
    dad = f"arping -D -c 2 -w 3 -I br0 {addr}"  # R16: what the new host runs before R21
    free = run(fresh_zone_lab, "pek3ar01n01", dad)
    assert free.returncode == 0 and "Received 0 response(s)" in free.stdout, free
    fresh_zone_lab.fault("address-taken", address=addr)
    assert fb(fresh_zone_lab, f"ping -c 2 {addr}").returncode == 0
    taken = run(fresh_zone_lab, "pek3ar01n01", dad)
    assert taken.returncode == 1 and f"Unicast reply from {addr} [" in taken.stdout, taken
    fresh_zone_lab.clear_fault("address-taken", address=addr)
    assert fb(fresh_zone_lab, f"ping -c 1 {addr}").returncode == 1
    assert run(fresh_zone_lab, "pek3ar01n01", dad).returncode == 0
    no_bridge = run(fresh_zone_lab, "pek3ar01n01", f"arping -D -I br7 {addr}")
    assert no_bridge.returncode == 2 and "Device br7 not available" in no_bridge.stderr


def test_fault_haproxy_hand_edit(fresh_zone_lab: Lab) -> None:
    fresh_zone_lab.fault("haproxy-hand-edit", host="proxy1")
    assert "hand-made-front" in run(fresh_zone_lab, "proxy1", "cat /etc/haproxy/haproxy.cfg").stdout
    fresh_zone_lab.clear_fault("haproxy-hand-edit", host="proxy1")
    assert "hand-made" not in run(fresh_zone_lab, "proxy1", "cat /etc/haproxy/haproxy.cfg").stdout


def test_fault_vip_and_console(fresh_zone_lab: Lab) -> None:
    zone = fresh_zone_lab.info().raw["zone"]
    fresh_zone_lab.fault("vip-to", host="proxy1")
    assert zone["vip"] in run(fresh_zone_lab, "proxy1", "ip addr").stdout
    fresh_zone_lab.clear_fault("vip-to")
    with urllib.request.urlopen(zone["console_url"], timeout=10) as resp:  # noqa: S310
        assert b"QingCloud Console" in resp.read()


def test_console_answers_by_its_name_through_the_vip(fresh_zone_lab: Lab) -> None:
    """R36 (issue 10): the console's name is asked of the VIP with curl --resolve, as the
    plan's step runs it on firstbox; the lab's console serves its name and the VIP only (the
    name does not resolve on firstbox: hosts resolve from files)."""
    zone = fresh_zone_lab.info().raw["zone"]
    url = f"http://console.{zone['domain']}/"

    def judged(u: str, vip: str | None) -> list[str]:
        out = fb(fresh_zone_lab, curl_command(u, vip=vip)).stdout
        via = vip if pin(u, vip) else None
        return [f.reason for f in analyze("console", out, None, {"url": u, "via": via or ""})
                .findings]

    assert judged(url, zone["vip"]) == []
    assert judged(zone["console_url"], zone["vip"]) == []  # an address: asked as it is
    (unpinned,) = judged(url, None)
    assert "curl error 6" in unpinned  # could not resolve: not through the VIP
    (other,) = judged(f"http://other.{zone['domain']}/", zone["vip"])
    assert other.startswith(f"through the VIP {zone['vip']}: HTTP 404"), other


def test_fault_host_down_and_hang(fresh_zone_lab: Lab) -> None:
    fresh_zone_lab.fault("host-down", host="webservice1")
    assert run(fresh_zone_lab, "webservice1", "true").returncode == 255
    out = fb(fresh_zone_lab, '/pitrix/upgrade/exec_nodes.sh -f webservice "hostname"')
    assert out.returncode == 1 and "unreachable" in out.stdout
    fresh_zone_lab.clear_fault("host-down", host="webservice1")
    assert run(fresh_zone_lab, "webservice1", "hostname").stdout.strip() == "webservice1"
    fresh_zone_lab.fault("host-hang", host="webservice1")
    with pytest.raises(subprocess.TimeoutExpired):
        run(fresh_zone_lab, "webservice1", "true", timeout=2)
    fresh_zone_lab.clear_fault("host-hang", host="webservice1")
    wait_for(lambda: run(fresh_zone_lab, "webservice1", "true").returncode == 0, 30,
             "webservice1 to answer again")


def test_reboot_keeps_host_key_and_vm_returns(fresh_zone_lab: Lab) -> None:
    key = run(fresh_zone_lab, "webservice0", "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout
    iid = fresh_zone_lab.info().raw["hosts"]["webservice0"]["iid"]

    def pid() -> object:
        host = fresh_zone_lab.status()["hosts"][iid]
        return host.get("pid") if host.get("up") else None

    before = pid()
    run(fresh_zone_lab, "webservice0", "reboot")  # happens a moment after the answer
    wait_for(lambda: pid() not in (None, before)
             and run(fresh_zone_lab, "webservice0", "true").returncode == 0, 30,
             "webservice0 back after reboot (a new sshd)")
    assert run(fresh_zone_lab, "webservice0", "cat /etc/ssh/ssh_host_ed25519_key.pub").stdout \
        == key


def test_unknown_fault_and_token(fresh_zone_lab: Lab) -> None:
    with pytest.raises(LabError, match="unknown fault"):
        fresh_zone_lab.fault("no-such-fault")
    url = json.loads((fresh_zone_lab.dir / "controller.json").read_text())["url"]
    req = urllib.request.Request(url + "/op/status", b"{}", {"X-Lab-Token": "x"})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(req, timeout=5)  # noqa: S310
