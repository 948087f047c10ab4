"""Discovery's facts (R2): each command exactly, its parser on captured output; the snapshot's
JSON round trip."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tarfile
from dataclasses import dataclass

import pytest

from nodeswap.errors import ZoneError
from nodeswap.live.discover import _in_order
from nodeswap.runbooks import components_of
from nodeswap.zone import facts as F
from nodeswap.zone.facts import (
    parse_df,
    parse_dpkg,
    parse_dump_hosts,
    parse_ip_addr,
    parse_links,
    parse_nodeinfo,
    parse_settings_tar,
    parse_variable_files,
    parse_variables_yaml,
    parse_version_json,
)
from nodeswap.zone.snapshot import HostCapacity, OldNode, Snapshot

IP_ADDR = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 1000
    link/ether 00:16:3e:00:00:01 brd ff:ff:ff:ff:ff:ff
    inet 10.16.100.21/24 brd 10.16.100.255 scope global eth0
    inet 10.16.100.250/32 scope global eth0
"""


def test_version_json_reads_current_installer() -> None:
    text = json.dumps({"current": {"installer": "4.3.1", "qingcloud": "20200101"}, "old": []})
    assert parse_version_json(text) == "4.3.1"


@pytest.mark.parametrize("text", ["", "{}", '{"current": {}}', "not json"])
def test_version_json_without_installer_is_a_zone_error(text: str) -> None:
    with pytest.raises(ZoneError, match=r"current\.installer"):
        parse_version_json(text)


def _tar(files: dict[str, str]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("./sub")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
    return base64.b64encode(buf.getvalue()).decode()


def test_settings_tar_keeps_top_level_files_only() -> None:
    b64 = _tar({"./proxy0": 'role="proxy"\n', "./.hidden": "x", "./proxy1~": "y",
                "./sub/inner": "z"})
    assert parse_settings_tar(b64) == {"proxy0": 'role="proxy"\n'}


def test_variables_yaml_zone_wins_over_common() -> None:
    text = """
common: {domain: example.com, is_region: 0}
pek3a: {vg_mgmt_network_gateway: 10.16.101.1, deploy_boss: 2, deploy_warehouse: true,
        vm_base_network: 172.21.0.0/16}
other: {deploy_boss: 1}
"""
    assert parse_variables_yaml(text, "pek3a") == {
        "domain": "example.com", "is_region": "0", "vg_mgmt_network_gateway": "10.16.101.1",
        "deploy_boss": "2", "deploy_warehouse": "1", "vm_base_network": "172.21.0.0/16"}


def test_variable_files_zone_suffix_wins() -> None:
    listing = ("zone_ids\tpek3a \nvg_mgmt_network_gateway\t10.0.0.1 \n"
               "vg_mgmt_network_gateway.pek3a\t10.0.0.9 \nvm_base_network.other\tx\n")
    assert parse_variable_files(listing, "pek3a") == {"vg_mgmt_network_gateway": "10.0.0.9"}


def test_dpkg_lists_installed_packages_only() -> None:
    text = ("pitrix-ks-proxy\tinstall ok installed\n"
            "pitrix-ks-proxy-boss\tunknown ok not-installed\n"
            "pitrix-ks-proxy-boss2\tinstall ok installed\n")
    assert parse_dpkg(text) == ("pitrix-ks-proxy", "pitrix-ks-proxy-boss2")


def test_ip_addr_finds_every_address_including_the_vip() -> None:
    assert parse_ip_addr(IP_ADDR) == ("10.16.100.21", "10.16.100.250", "127.0.0.1")


def test_nodeinfo_cpus_and_memory() -> None:
    text = "CPU model:           x86_64\nCPU(s):              32\nMemory size:         " \
           "131072000 KiB\n"
    assert parse_nodeinfo(text) == (32, 128000)
    assert parse_nodeinfo("") == (None, None)


def test_df_free_megabytes() -> None:
    text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n" \
           "/dev/sda3       960000000 10000000  20480000       2% /pitrix\n"
    assert parse_df(text) == 20000
    assert parse_df("df: /pitrix/kernels: No such file or directory\n") is None


def test_links_names() -> None:
    text = ("1: lo: <LOOPBACK,UP> mtu 65536 ...\n2: eth0: <BROADCAST> mtu 1500 master br0\n"
            "3: br0: <BROADCAST,UP> mtu 1500\n4: vnet0@if3: <UP> mtu 1500\n")
    assert parse_links(text) == ("lo", "eth0", "br0", "vnet0")


def test_dump_hosts_first_address_is_the_vip() -> None:
    text = "# hosts\n10.16.100.250 console.example.com boss.example.com\n10.16.100.31 api\n"
    assert parse_dump_hosts(text) == "10.16.100.250"
    assert parse_dump_hosts("") is None


# ---- each fact's command, exactly (every one only reads) -------------------------------------
FACT_COMMANDS = [
    (F.SETTINGS, "tar -C /pitrix/conf/settings -cf - . | base64 -w 0"),
    (F.INSTALLER_VERSION, "cat /pitrix/version.json"),
    (F.file_text("/pitrix/conf/variables/variables.yaml"),
     "if test -e /pitrix/conf/variables/variables.yaml; then echo 1; "
     "cat /pitrix/conf/variables/variables.yaml; else echo 0; fi"),
    (F.VARIABLE_LISTING,
     "cd /pitrix/conf/variables 2>/dev/null && for f in *; do [ -f \"$f\" ] && "
     "printf '%s\\t%s\\n' \"$f\" \"$(head -c 4096 -- \"$f\" | tr '\\n' ' ')\"; done; true"),
    (F.KERNEL_IMAGES, "ls -1 /pitrix/kernels 2>/dev/null; true"),
    (F.REPOSITORIES, "ls -1 /pitrix/repo 2>/dev/null; true"),
    (F.VIP, "test -x /pitrix/bin/dump_hosts.py && /pitrix/bin/dump_hosts.py"),
    (F.answers_ping("10.16.100.51"), "ping -c 2 -i 0.2 -W 1 10.16.100.51 >/dev/null 2>&1"),
    (F.SUPERVISOR_STATUS, "supervisorctl status 2>&1; true"),
    (F.PITRIX_PACKAGES,
     "dpkg-query -W -f '${Package}\\t${Status}\\n' 'pitrix-*' 2>/dev/null; true"),
    (F.ADDRESSES, "ip addr show; true"),
    (F.NODEINFO, "virsh nodeinfo 2>/dev/null; true"),
    (F.DISK_FREE, "df -Pk /pitrix/kernels 2>/dev/null; true"),
    (F.LINKS, "ip -o link show 2>/dev/null; true"),
]


@pytest.mark.parametrize(("fact", "command"), FACT_COMMANDS, ids=lambda x: getattr(x, "what", ""))
def test_fact_command(fact: F.Fact[object], command: str) -> None:
    assert fact.command == command


@dataclass(frozen=True)
class Out:
    exit_status: int | None
    stdout: str


def test_only_the_settings_and_the_version_are_required() -> None:
    assert {f.what for f, _ in FACT_COMMANDS if f.required} == {
        "/pitrix/conf/settings", "/pitrix/version.json"}


def test_facts_parse_what_comes_back() -> None:
    assert F.file_text("/etc/rc.local").parse(Out(0, "1\nexit 0\n")) == "exit 0\n"
    assert F.file_text("/etc/rc.local").parse(Out(0, "0\n")) is None
    assert F.VIP.parse(Out(0, "10.16.100.250 console\n")) == "10.16.100.250"
    assert F.VIP.parse(Out(1, "10.16.100.250 console\n")) is None  # no dump_hosts.py
    assert F.answers_ping("10.16.100.51").parse(Out(0, "")) is True
    assert F.answers_ping("10.16.100.51").parse(Out(1, "")) is False
    assert F.answers_ping("10.16.100.51").timeout == 30.0
    assert F.KERNEL_IMAGES.parse(Out(0, "a.img\nb.img\n")) == ("a.img", "b.img")
    assert F.NODEINFO.parse(Out(0, "CPU(s): 8\nMemory size: 16384000 KiB\n")) == (8, 16000)


def _snap(**kw: object) -> Snapshot:
    base: dict[str, object] = dict(
        firstbox="10.16.100.2", settings={"proxy0": 'role="proxy"\n'}, installer_version="4.3.1",
        variables={"deploy_boss": "2"}, kernels=("ksnode18046a.img",), repos=("18.04.6",),
        old_nodes={"proxy0": OldNode("proxy0", "10.16.100.21", {"/etc/rc.local": None},
                                     "cb_server RUNNING\n", ("pitrix-ks-proxy-boss2",),
                                     ("10.16.100.21", "10.16.100.250"))},
        vip="10.16.100.250", capacity={"n1": HostCapacity(8, 16000, 50000, ("br0",))})
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_snapshot_round_trips_and_derives_components_and_vip_holder() -> None:
    snap = _snap()
    again = Snapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert again == snap
    assert components_of(snap) == frozenset({"boss2"})
    assert snap.vip_holder == "proxy0"


def test_state_fingerprint_follows_settings_version_and_variables_only() -> None:
    snap = _snap()
    assert _snap(capacity={}).state_fingerprint() == snap.state_fingerprint()
    assert _snap(settings={"proxy0": 'role="proxy" \n'}).state_fingerprint() \
        != snap.state_fingerprint()
    assert _snap(installer_version="4.3.2").state_fingerprint() != snap.state_fingerprint()
    assert _snap(variables={}).state_fingerprint() != snap.state_fingerprint()


def test_hosts_are_asked_at_once_within_the_limit_and_answered_in_order() -> None:
    """Discovery asks hosts at once (issue 10: one after the other through a jump took 4.6 s
    for 49 commands) but never more than the limit, keeps their order, and raises the failure
    that asking them one after the other would have raised first."""
    running, peak = 0, 0

    async def job(i: int, fail: bool = False) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * ((7 * i) % 5))  # finish out of order
        running -= 1
        if fail:
            raise ValueError(f"job {i}")
        return i

    async def main() -> None:
        assert await _in_order([job(i) for i in range(10)], 3) == list(range(10))
        assert 1 < peak <= 3
        with pytest.raises(ValueError, match="job 2"):
            await _in_order([job(i, fail=i in (2, 6)) for i in range(8)], 3)

    asyncio.run(main())
