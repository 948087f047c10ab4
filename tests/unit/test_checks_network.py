"""checks.network (issue 10, R29/R31/R33): the new VM's network files against the old VM's
interfaces file, its live addresses, the sweep for temporary addresses; and R31's rewrite and
sweep commands run by bash on a real folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from nodeswap.checks import analyze
from nodeswap.checks.findings import AddressMap
from nodeswap.checks.network import check_live, check_stale, compare_config, parse_config
from nodeswap.runbooks.commands import holds_none, replace_addresses, rewrite_addresses, sweep


def interfaces(mgmt: str, eip: str | None, *, mac: str = "", gw: str = "10.16.100.1") -> str:
    """An interfaces file as install_nodes.sh writes it (MGMT, and EIP with VG nodes)."""
    text = ("auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n"
            f"    address {mgmt}\n    netmask 255.255.255.0\n    gateway {gw}\n"
            "    dns-nameservers 10.16.100.2 10.16.100.3\n")
    if mac:
        text += f"    hwaddress ether {mac}\n"
    if eip:
        text += (f"\nauto eth1\niface eth1 inet static\n    address {eip}\n"
                 "    netmask 255.255.255.0\n")
    return text + "\niface eth0 inet6 auto\n    privext 2\n"


OLD = interfaces("10.16.100.21", "198.51.100.21", mac="52:54:00:aa:bb:cc")
NETPLAN = """==> /etc/netplan/01-netcfg.yaml <==
network:
  version: 2
  ethernets:
    eth0:
      match: {macaddress: "52:54:00:11:22:33"}
      addresses: [10.16.100.21/24]
      gateway4: 10.16.100.1
      nameservers: {addresses: [10.16.100.2, 10.16.100.3]}
    eth1:
      addresses: [198.51.100.21/24]
"""


def dump(*files: tuple[str, str]) -> str:
    return "".join(f"==> {p} <==\n{t}\n" for p, t in files)


def test_parse_ifupdown_prefixes_and_leaves_lo_inet6_and_mac_aside() -> None:
    cfg = parse_config(OLD)
    assert set(cfg) == {"eth0", "eth1"}
    assert cfg["eth0"].addresses == ("10.16.100.21/24",)
    assert cfg["eth0"].gateway == "10.16.100.1"
    assert cfg["eth0"].dns == ("10.16.100.2", "10.16.100.3")
    assert cfg["eth0"].options == ("method static",)  # no hwaddress, no inet6 privext
    assert cfg["eth1"].line == 13


def test_same_configuration_but_the_mac_is_equal() -> None:
    new = dump(("/etc/network/interfaces", interfaces("10.16.100.21", "198.51.100.21",
                                                      mac="52:54:00:11:22:33")))
    assert compare_config(OLD, new, AddressMap(), node="proxy0", rule="R31") == []


def test_dummy_eip_left_behind_is_unexpected_and_names_the_interface() -> None:
    new = dump(("/etc/network/interfaces", interfaces("10.16.100.21", "2.2.2.2")))
    (d,) = compare_config(OLD, new, AddressMap(), node="proxy0", rule="R31")
    assert d.klass == "unexpected" and d.rule == "R31" and d.section == "network eth1"
    assert "2.2.2.2/24" in (d.new or "") and "198.51.100.21/24" in (d.old or "")


def test_at_r29_the_temporary_addresses_map_back() -> None:
    new = dump(("/etc/network/interfaces", interfaces("10.16.100.254", "2.2.2.2")))
    amap = AddressMap.from_option("10.16.100.21=10.16.100.254,198.51.100.21=2.2.2.2")
    assert compare_config(OLD, new, amap, node="proxy0", rule="R29") == []
    only_mgmt = AddressMap.from_option("10.16.100.21=10.16.100.254")
    assert [d.section for d in compare_config(OLD, new, only_mgmt, node="p", rule="R29")] == [
        "network eth1"]


def test_netplan_on_the_new_vm_compares_by_meaning() -> None:
    assert compare_config(OLD, NETPLAN, AddressMap(), node="proxy0", rule="R33") == []
    wrong = NETPLAN.replace("gateway4: 10.16.100.1", "gateway4: 10.16.100.254")
    (d,) = compare_config(OLD, wrong, AddressMap(), node="proxy0", rule="R33")
    assert "gateway of eth0" in d.reason and "01-netcfg.yaml" in d.reason


def test_missing_interface_and_other_option_lines_are_unexpected() -> None:
    new = dump(("/etc/network/interfaces",
                interfaces("10.16.100.21", None).replace("    gateway", "    mtu 9000\n"
                                                         "    gateway")))
    found = compare_config(OLD, new, AddressMap(), node="proxy0", rule="R31")
    reasons = [d.reason for d in found]
    assert any("interface eth1 is not configured on the new proxy0" in r for r in reasons)
    assert any("options of eth0 differ" in r and "mtu 9000" in r for r in reasons)
    assert all(d.klass == "unexpected" for d in found)


def test_interfaces_d_files_count_and_unreadable_netplan_is_a_finding() -> None:
    main = "auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n"
    new = dump(("/etc/network/interfaces", main),
               ("/etc/network/interfaces.d/eth", interfaces("10.16.100.21", "198.51.100.21")))
    assert compare_config(OLD, new, AddressMap(), node="p", rule="R31") == []
    broken = dump(("/etc/netplan/50.yaml", "network: [unclosed"))
    assert compare_config(OLD, broken, AddressMap(), node="p", rule="R31")


IP = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
      "2: eth0    inet {a}/24 brd 10.16.100.255 scope global eth0\\       valid_lft forever\n"
      "{vip}"
      "3: eth1    inet {b}/24 brd 198.51.100.255 scope global eth1\\       valid_lft forever\n")


def test_live_addresses_exactly_the_old_ones_and_the_vip() -> None:
    vip = "2: eth0    inet 10.16.100.20/32 scope global eth0\\       valid_lft forever\n"
    out = IP.format(a="10.16.100.21", b="198.51.100.21", vip=vip)
    assert check_live(out, OLD, vip="10.16.100.20", node="proxy0", rule="R33") == []
    left = IP.format(a="10.16.100.21", b="2.2.2.2", vip="")
    found = check_live(left, OLD, vip="10.16.100.20", node="proxy0", rule="R33")
    reasons = sorted(d.reason for d in found)
    assert reasons == ["proxy0 does not hold the old VM's address 198.51.100.21",
                       "proxy0 holds 2.2.2.2, not an address of the old VM (a temporary "
                       "address left behind?)"]
    # the VIP elsewhere is not the node's business; an address on the wrong NIC is
    swapped = IP.format(a="198.51.100.21", b="10.16.100.21", vip="")
    assert len(check_live(swapped, OLD, vip="", node="p", rule="R33")) == 2
    assert any("only on the old configuration" in d.reason for d in
               check_live(IP.format(a="10.16.100.21", b="x", vip="").split("3:")[0], OLD,
                          vip="", node="p", rule="R33"))


def test_stale_lines_name_the_file_line_and_whose_address() -> None:
    out = "/etc/hosts:6:10.16.100.253\n/etc/rc.local.tail:2:2.2.2.2\nnoise\n"
    found = check_stale(out, node="proxy0", rule="R33", names={"2.2.2.2": "proxy0"})
    assert [(d.section, d.new_line) for d in found] == [("/etc/hosts", 6),
                                                        ("/etc/rc.local.tail", 2)]
    assert found[1].reason.endswith("2.2.2.2 (proxy0)")
    assert check_stale("", node="p", rule="R33") == []


def test_registry_kinds() -> None:
    res = analyze("network", OLD, OLD, {"node": "proxy0", "rule": "R31"})
    assert res.ok and res.kind == "network"
    res = analyze("addresses", IP.format(a="10.16.100.21", b="2.2.2.2", vip=""), OLD,
                  {"vip": "", "node": "proxy0"})
    assert not res.ok and all(d.rule == "R33" for d in res.findings)
    res = analyze("stale", "/etc/hosts:3:2.2.2.3\n", None,
                  {"addresses": "2.2.2.3=proxy1", "node": "firstbox"})
    assert not res.ok and "(proxy1)" in res.findings[0].reason


def bash(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)


def test_r31_rewrite_and_sweep_by_bash_on_a_real_tree(tmp_path: Path) -> None:
    etc = tmp_path / "etc dir"
    (etc / "network").mkdir(parents=True)
    (etc / "network" / "interfaces").write_text(interfaces("10.16.100.254", "2.2.2.2"))
    (etc / "hosts").write_text("10.16.100.254 proxy0\n10.16.100.253 proxy1\n"
                               "10.16.100.2541 not-an-address\n")
    (etc / "blob").write_bytes(b"\x00\x0110.16.100.254\x00")  # binary: left alone
    (etc / "link").symlink_to(etc / "hosts")
    pairs = [("10.16.100.254", "10.16.100.21"), ("2.2.2.2", "198.51.100.21")]
    temps = [a for a, _ in pairs]
    assert bash(holds_none(temps, str(etc))).returncode == 1
    found = bash(sweep(temps, str(etc), recursive=True))
    assert found.returncode == 0
    assert {d.section.rsplit("/", 1)[-1] for d in check_stale(found.stdout, node="p",
                                                              rule="R33")} == {
        "interfaces", "hosts"}
    assert bash(rewrite_addresses(pairs, str(etc))).returncode == 0
    assert bash(holds_none(temps, str(etc))).returncode == 0
    assert bash(sweep(temps, str(etc), recursive=True)).stdout == ""
    assert (etc / "link").is_symlink()
    assert (etc / "hosts").read_text() == ("10.16.100.21 proxy0\n10.16.100.253 proxy1\n"
                                           "10.16.100.2541 not-an-address\n")
    new = dump(("/etc/network/interfaces", (etc / "network" / "interfaces").read_text()))
    assert compare_config(interfaces("10.16.100.21", "198.51.100.21"), new, AddressMap(),
                          node="p", rule="R31") == []
    assert bash(rewrite_addresses(pairs, str(etc))).returncode == 0  # again: nothing to do
    # the files the runbook names: rewritten where present, an absent one (netplan) is fine
    outside = tmp_path / "rc.local.tail"
    outside.write_text("ip route add 10.16.0.0/16 src 10.16.100.254 via 10.16.100.1\n")
    assert bash(replace_addresses(str(outside), pairs)).returncode == 0
    assert "src 10.16.100.21 via" in outside.read_text()
    assert bash(replace_addresses(str(tmp_path / "absent"), pairs)).returncode == 0
    # chained (as in R31's command), a failing rewrite is not hidden by the next one
    unreadable = tmp_path / "a-dir"
    unreadable.mkdir()
    chained = " && ".join(replace_addresses(str(p), pairs) for p in (unreadable, outside))
    assert bash(chained).returncode != 0


octet = st.integers(min_value=1, max_value=254)


@given(st.tuples(octet, octet, octet, octet), st.tuples(octet, octet))
def test_any_temporary_address_maps_back(old_mgmt: tuple[int, ...],
                                         temp: tuple[int, int]) -> None:
    old = ".".join(map(str, old_mgmt))
    new = f"10.200.{temp[0]}.{temp[1]}"
    if new == old:
        return
    amap = AddressMap.from_option(f"{old}={new}")
    new_text = dump(("/etc/network/interfaces", interfaces(new, None)))
    assert compare_config(interfaces(old, None), new_text, amap, node="p", rule="R29") == []
    assert compare_config(interfaces(old, None), new_text, AddressMap(), node="p",
                          rule="R31")
