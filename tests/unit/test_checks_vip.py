"""R23: which node holds the keepalived VIP (pure)."""

from __future__ import annotations

from nodeswap.checks.vip import addresses, check_holders, check_node, holds_vip, keepalived_state

IP_ADDR = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UP qlen 1000
    link/ether 00:16:3e:12:34:56 brd ff:ff:ff:ff:ff:ff
    inet 10.16.0.12/24 brd 10.16.0.255 scope global eth0
    inet 10.16.0.100/32 scope global eth0
"""
IP_O = "2: eth0    inet 10.16.0.2/24 brd 10.16.0.255 scope global eth0\\       valid_lft forever\n"


def test_addresses_from_ip_addr_and_ip_o() -> None:
    assert addresses(IP_ADDR) == [("lo", "127.0.0.1"), ("eth0", "10.16.0.12"),
                                  ("eth0", "10.16.0.100")]
    assert addresses(IP_O) == [("eth0", "10.16.0.2")]


def test_holds_vip_exact_address_only() -> None:
    assert holds_vip(IP_ADDR, "10.16.0.100").interface == "eth0"
    assert not holds_vip(IP_ADDR, "10.16.0.10").holds


def test_keepalived_state() -> None:
    log = ("Keepalived_vrrp: VRRP_Instance(VI_1) Entering BACKUP STATE\n"
           "Keepalived_vrrp: VRRP_Instance(VI_1) Entering MASTER STATE\n")
    assert keepalived_state(log) == "MASTER"
    assert keepalived_state("BACKUP\n") == "BACKUP"
    assert keepalived_state("nothing") is None


def test_new_node_at_temporary_address_holding_vip_is_reported_with_remedy() -> None:
    diffs = check_node(IP_ADDR, "10.16.0.100", "proxy0-new", temporary=True)
    assert len(diffs) == 1 and diffs[0].klass == "unexpected" and diffs[0].rule == "R23"
    assert "stop keepalived on proxy0-new" in diffs[0].reason
    assert check_node(IP_ADDR, "10.16.0.100", "proxy0", temporary=False) == []


def test_holders_across_nodes() -> None:
    old_holder = {"proxy0": IP_ADDR.replace("10.16.0.12", "10.16.0.2"), "proxy1": IP_O}
    assert check_holders(old_holder, "10.16.0.100") == []
    both = {"proxy0": IP_ADDR, "proxy0-new": IP_ADDR}
    reasons = [d.reason for d in check_holders(both, "10.16.0.100", temporary=["proxy0-new"])]
    assert len(reasons) == 2 and "split brain" in reasons[1]
    none = check_holders({"proxy1": IP_O}, "10.16.0.100")
    assert len(none) == 1 and "no proxy node holds" in none[0].reason


# ---- the last look before R32 (issue 11) ------------------------------------------------------
def test_last_look_wants_exactly_one_holder() -> None:
    from nodeswap.checks.vip import check_one_holder  # noqa: PLC0415

    other = "2: eth0    inet 10.16.0.13/24 scope global eth0\n"
    one = {"proxy0-old": IP_ADDR, "proxy1-old": other, "proxy0-new": other}
    assert check_one_holder(one, "10.16.0.100", ["proxy0-new"]) == []
    [none] = check_one_holder({"a": other}, "10.16.0.100")
    assert none.klass == "unexpected" and none.rule == "R32" and "no proxy" in none.reason
    [split] = check_one_holder({"a": IP_ADDR, "b": IP_ADDR}, "10.16.0.100")
    assert split.klass == "unexpected" and "split brain" in split.reason
    [new] = check_one_holder({"proxy0-new": IP_ADDR, "proxy0-old": other}, "10.16.0.100",
                             ["proxy0-new"])
    assert new.klass == "attention" and "not fatal" in new.reason  # reported, not fatal


def test_vip_holders_through_the_registry() -> None:
    import json  # noqa: PLC0415

    import pytest  # noqa: PLC0415

    from nodeswap.checks import analyze  # noqa: PLC0415
    from nodeswap.errors import InputError  # noqa: PLC0415

    other = "2: eth0    inet 10.16.0.13/24 scope global eth0\n"
    opts = {"vip": "10.16.0.100", "label": "proxy0-old", "temporary": "proxy1-new"}
    assert analyze("vip_holders", other, json.dumps({"proxy1-new": IP_ADDR}), opts).ok
    assert not analyze("vip_holders", IP_ADDR, json.dumps({"proxy1-old": IP_ADDR}), opts).ok
    assert not analyze("vip_holders", other, json.dumps({"proxy1-old": other}), opts).ok
    with pytest.raises(InputError):
        analyze("vip_holders", other, "[]", opts)
