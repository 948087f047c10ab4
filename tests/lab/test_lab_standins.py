"""The stand-ins answer what nodeswap's plan and discovery send, in the real tools' shapes:
virsh (libvirt 4.0), ip (iproute2), df (coreutils), and a physical host's reboot that starts
its autostart domains (the trap R32 closes). One default-topology lab for the module; each
test leaves the zone as it found it (or says what it changed)."""

from __future__ import annotations

import re
import subprocess

import pytest

from nodeswap.checks.vip import holds_vip
from nodeswap.lab import Lab
from nodeswap.lab.api import wait_for
from nodeswap.zone.facts import parse_df, parse_ip_addr, parse_links, parse_nodeinfo

pytestmark = pytest.mark.lab

KERNELS = "/pitrix/kernels"
LFT = "\\       valid_lft forever preferred_lft forever"  # ip -o's continuation


def run(lab: Lab, host: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(lab.info().ssh_command(host, command), capture_output=True,
                          text=True, timeout=timeout, check=False)


def host_of(lab: Lab, vm: str) -> str:
    phys = lab.info().raw["hosts"][vm]["physical"]
    assert isinstance(phys, str)
    return phys


def pid_of(lab: Lab, iid: str) -> int | None:
    host = lab.status()["hosts"].get(iid, {})
    return host.get("pid") if host.get("up") else None


def host_key(lab: Lab, address: str) -> str:
    out = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-T", "5", address],
                         capture_output=True, text=True, timeout=30, check=False).stdout
    return out.split()[-1] if out.split() else ""


def test_virsh_domstate_list_dominfo_nodeinfo(fresh_zone_lab: Lab) -> None:
    lab = fresh_zone_lab
    phys = host_of(lab, "proxy0")
    st = run(lab, phys, "virsh domstate proxy0")
    assert st.returncode == 0 and st.stdout == "running\n\n"
    assert run(lab, phys, "virsh domstate proxy0 | grep -qx running").returncode == 0
    assert run(lab, phys, "virsh domstate --reason proxy0").stdout == "running (booted)\n\n"
    bad = run(lab, phys, "virsh domstate nosuch")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == ("error: failed to get domain 'nosuch'\nerror: Domain not found: "
                          "no domain with matching name 'nosuch'\n\n")
    listing = run(lab, phys, "virsh list --all").stdout.splitlines()
    assert listing[0] == " Id    Name                           State"
    assert listing[1] == "-" * 52
    assert re.fullmatch(r" \d+\s{4,}proxy0\s+running", listing[2])
    assert listing[-1] == ""
    info = run(lab, phys, "virsh dominfo proxy0").stdout
    assert re.search(r"^State:          running$", info, re.M)
    assert re.search(r"^Autostart:      enable$", info, re.M)
    assert re.search(r"^UUID:           [0-9a-f-]{36}$", info, re.M)
    node = run(lab, phys, "virsh nodeinfo")
    assert node.returncode == 0 and "CPU(s):              32\n" in node.stdout
    assert parse_nodeinfo(node.stdout) == (32, 131072)
    assert run(lab, phys, "virsh frobnicate").stderr.startswith("error: unknown command: ")
    vm = run(lab, "proxy0", "virsh list")  # not a hypervisor
    assert vm.returncode == 1 and vm.stderr.startswith("error: failed to connect")


def test_ip_addr_shapes_and_vip(fresh_zone_lab: Lab) -> None:
    lab = fresh_zone_lab
    info = lab.info()
    vip, holder = info.raw["zone"]["vip"], info.raw["zone"]["vip_holder"]
    holder_name = next(k for k, v in info.raw["hosts"].items() if v["iid"] == holder)
    other = "proxy1" if holder_name == "proxy0" else "proxy0"
    addr = info.address(holder_name)
    four = run(lab, holder_name, "ip -4 -o addr show").stdout.splitlines()
    lft = re.escape(LFT)
    assert four[0] == "1: lo    inet 127.0.0.1/8 scope host lo" + LFT
    assert re.fullmatch(rf"2: eth0    inet {re.escape(addr)}/24 brd \S+ scope global eth0{lft}",
                        four[1])
    assert re.fullmatch(rf"2: eth0    inet {re.escape(vip)}/32 scope global eth0{lft}", four[2])
    assert len(four) == 3
    full = run(lab, holder_name, "ip addr show").stdout
    assert re.search(r"^2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 .* state UP ", full,
                     re.M)
    assert re.search(r"^    link/ether 00:16:3e:[0-9a-f:]{8} brd ff:ff:ff:ff:ff:ff$", full, re.M)
    assert holds_vip(full, vip).holds and holds_vip("\n".join(four), vip).holds
    assert not holds_vip(run(lab, other, "ip addr show").stdout, vip).holds
    oneline = run(lab, other, "ip -o addr show").stdout
    assert "inet6 ::1/128 scope host" in oneline and " inet6 fe80::" in oneline
    assert info.address(other) in parse_ip_addr(oneline)
    assert run(lab, other, "ip addr show dev nosuch").returncode == 1


def test_ip_link_on_physical_and_vm(fresh_zone_lab: Lab) -> None:
    lab = fresh_zone_lab
    phys = host_of(lab, "proxy0")
    links = run(lab, phys, "ip -o link show")
    assert links.returncode == 0
    assert parse_links(links.stdout)[:3] == ("lo", "eth0", "br0")
    assert "br1" not in parse_links(links.stdout)  # no EIP network in the default topology
    assert any(n.startswith("vnet") for n in parse_links(links.stdout))  # proxy0's NIC
    first = links.stdout.splitlines()[0]
    assert first == ("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN "
                     "mode DEFAULT group default qlen 1000\\    link/loopback "
                     "00:00:00:00:00:00 brd 00:00:00:00:00:00")
    assert " master br0 " in links.stdout.splitlines()[1]
    addrs = run(lab, phys, "ip -4 -o addr show").stdout
    assert re.search(rf"^3: br0    inet {re.escape(lab.info().address(phys))}/24 ", addrs, re.M)
    assert parse_links(run(lab, "proxy1", "ip -o link show").stdout) == ("lo", "eth0")


def test_df_reflects_capacity_and_disk_full(fresh_zone_lab: Lab) -> None:
    lab = fresh_zone_lab
    phys = host_of(lab, "webservice1")
    out = run(lab, phys, f"df -Pk {KERNELS}")
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 2
    assert re.fullmatch(r"Filesystem     1024-blocks +Used Available Capacity Mounted on",
                        lines[0])  # column widths follow the values, as GNU df's do
    assert lines[0].index(" Mounted on") == len(lines[1]) - len(" /")  # right-aligned
    cols = lines[1].split()
    assert int(cols[1]) == int(cols[2]) + int(cols[3]) and cols[4].endswith("%")
    assert parse_df(out.stdout) == 500 * 1024  # the topology's free figure, in MiB
    assert run(lab, phys, "df -h /").stdout.splitlines()[0] == \
        "Filesystem      Size  Used Avail Use% Mounted on"
    missing = run(lab, phys, "df -Pk /nonexistent")
    assert missing.returncode == 1 and "No such file or directory" in missing.stderr
    lab.fault("disk-full", host=phys)
    try:
        full = run(lab, phys, f"df -Pk {KERNELS}").stdout
        assert int(full.splitlines()[1].split()[3]) < 2048  # KiB: nearly nothing
        assert full.splitlines()[1].split()[4] == "100%"
    finally:
        lab.clear_fault("disk-full", host=phys)
    assert parse_df(run(lab, phys, f"df -Pk {KERNELS}").stdout) == 500 * 1024


def test_destroy_undefine_define_start(fresh_zone_lab: Lab) -> None:
    """The old VM leaves the network on destroy and comes back on start at its own address
    with its own host key, after an undefine and a define from the renamed XML."""
    lab = fresh_zone_lab
    fb = lab.info().firstbox or ""
    phys = host_of(lab, "webservice1")
    addr = lab.info().address("webservice1")
    key = host_key(lab, addr)
    assert key
    assert run(lab, phys, "virsh destroy webservice1").stdout == "Domain webservice1 destroyed\n\n"
    assert run(lab, phys, "virsh domstate webservice1").stdout == "shut off\n\n"
    assert run(lab, fb, f"ping -c 1 -W 1 {addr}").returncode == 1
    assert run(lab, "webservice1", "true", timeout=30).returncode == 255
    again = run(lab, phys, "virsh destroy webservice1")
    assert again.returncode == 1 and "domain is not running" in again.stderr
    steps = (f"mv {KERNELS}/webservice1.img {KERNELS}/old-webservice1.img && "
             f"mv {KERNELS}/webservice1.xml {KERNELS}/old-webservice1.xml && "
             "virsh undefine webservice1")
    assert run(lab, phys, steps).stdout == "Domain webservice1 has been undefined\n\n"
    assert "webservice1" not in run(lab, phys, "virsh list --all").stdout
    assert run(lab, phys, "virsh dominfo webservice1").returncode == 1
    defined = run(lab, phys, f"virsh define {KERNELS}/old-webservice1.xml")
    assert defined.stdout == f"Domain webservice1 defined from {KERNELS}/old-webservice1.xml\n\n"
    assert "Autostart:      disable" in run(lab, phys, "virsh dominfo webservice1").stdout
    no_image = run(lab, phys, "virsh start webservice1")
    assert no_image.returncode == 1
    assert f"Cannot access storage file '{KERNELS}/webservice1.img'" in no_image.stderr
    assert run(lab, phys, "virsh define /nonexistent.xml").returncode == 1
    restore = (f"mv {KERNELS}/old-webservice1.img {KERNELS}/webservice1.img && "
               f"mv {KERNELS}/old-webservice1.xml {KERNELS}/webservice1.xml && "
               f"virsh define {KERNELS}/webservice1.xml && virsh autostart webservice1 && "
               "virsh start webservice1")
    started = run(lab, phys, restore)
    assert started.returncode == 0, started.stderr
    assert started.stdout.endswith("Domain webservice1 started\n\n")
    assert run(lab, "webservice1", "hostname").stdout.strip() == "webservice1"
    assert host_key(lab, addr) == key
    active = run(lab, phys, "virsh start webservice1")
    assert active.returncode == 1 and active.stderr == "error: Domain is already active\n\n"


def test_start_old_vm_while_a_new_one_of_that_name_runs_elsewhere(fresh_zone_lab: Lab) -> None:
    """A new webservice0 launched on another host at a temporary address; the old one,
    destroyed and started again on its own host, comes back at ITS address and key."""
    lab = fresh_zone_lab
    info = lab.info()
    fb = info.firstbox or ""
    old_phys = host_of(lab, "webservice0")
    new_phys = next(h for h, v in info.raw["hosts"].items()
                    if v["kind"] == "physical" and h != old_phys)
    old_addr = info.address("webservice0")
    temp = old_addr.rsplit(".", 1)[0] + ".240"
    key = host_key(lab, old_addr)
    settings = "/pitrix/conf/settings/webservice0"
    edit = (f"cp {settings} /root/ws0.bak && sed -i -e 's/^physical_host=.*/physical_host="
            f"\"{info.address(new_phys)}\"/' -e 's/^mgmt_network_address=.*/"
            f"mgmt_network_address=\"{temp}\"/' {settings} && "
            "/pitrix/install/launch_vms.sh webservice0")
    try:
        launched = run(lab, fb, edit, timeout=120)
        assert launched.returncode == 0, launched.stdout + launched.stderr
        assert run(lab, new_phys, "virsh domstate webservice0").stdout == "running\n\n"
        assert run(lab, old_phys, "virsh destroy webservice0").returncode == 0
        assert run(lab, fb, f"ping -c 1 -W 1 {old_addr}").returncode == 1
        started = run(lab, old_phys, "virsh start webservice0")
        assert started.returncode == 0, started.stderr
        hosts = lab.info().raw["hosts"]
        at_old = [v for v in hosts.values() if v["address"] == old_addr and v["up"]]
        assert [v["iid"] for v in at_old] == ["webservice0.1"]
        assert host_key(lab, old_addr) == key
        assert run(lab, fb, f"ssh -o BatchMode=yes {old_addr} hostname").stdout.strip() == \
            "webservice0"
        assert run(lab, new_phys, "virsh domstate webservice0").stdout == "running\n\n"
    finally:
        run(lab, new_phys, "virsh destroy webservice0; virsh undefine webservice0; "
                           f"rm -f {KERNELS}/webservice0.*")
        run(lab, fb, f"cp /root/ws0.bak {settings}")


def test_physical_reboot_starts_autostart_domains_only(fresh_zone_lab: Lab) -> None:
    """The trap R32 closes: a host restart brings back every domain marked autostart."""
    lab = fresh_zone_lab
    phys = host_of(lab, "proxy1")
    guests = [n for n, v in lab.info().raw["hosts"].items()
              if v["kind"] == "vm" and v["physical"] == phys and v["up"]]
    assert "proxy1" in guests and len(guests) >= 2
    kept, disabled = "proxy1", next(g for g in guests if g != "proxy1")
    before = {iid: pid_of(lab, iid) for iid in (phys, "proxy1.1", f"{disabled}.1")}
    assert run(lab, phys, f"virsh autostart --disable {disabled}").stdout == \
        f"Domain {disabled} unmarked as autostarted\n\n"
    run(lab, phys, "reboot")
    try:
        wait_for(lambda: pid_of(lab, phys) not in (None, before[phys])
                 and pid_of(lab, "proxy1.1") not in (None, before["proxy1.1"]), 60,
                 f"{phys} rebooted and {kept} started again")
        assert pid_of(lab, f"{disabled}.1") is None
        listing = run(lab, phys, "virsh list --all").stdout
        assert re.search(rf"^ \d+\s+{kept}\s+running$", listing, re.M)
        assert re.search(rf"^ -\s+{disabled}\s+shut off$", listing, re.M)
        assert run(lab, kept, "hostname").stdout.strip() == kept
    finally:
        run(lab, phys, f"virsh autostart {disabled}; virsh start {disabled}")
    assert run(lab, disabled, "hostname").stdout.strip() == disabled
