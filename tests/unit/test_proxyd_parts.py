"""The pure parts of lab/proxyd.py and the proxy packages' keepalived.conf (issue 10): how a
VM's own haproxy.cfg and keepalived.conf become what the netns lab runs, and how the VIP's
holder is read from `ip -o addr`."""

from __future__ import annotations

from pathlib import Path

from nodeswap.checks.haproxy import compare_text
from nodeswap.lab.proxyd import holder_of, runtime_haproxy, runtime_keepalived
from nodeswap.lab.roles.proxy_pkgs import render_haproxy, render_keepalived

WS = ["10.200.100.31", "10.200.100.32"]


def test_runtime_haproxy_keeps_the_vms_file_but_its_own_paths() -> None:
    text = ("global\n    daemon\n    chroot /var/lib/haproxy\n    pidfile /run/haproxy.pid\n"
            "    stats socket /run/haproxy/admin.sock mode 660\n    user haproxy\n"
            "    maxconn 40960\n\nlisten api-front\n    bind 0.0.0.0:7777\n    bogus 1\n")
    out = runtime_haproxy(text)
    assert "daemon" not in out and "chroot" not in out and "pidfile" not in out
    assert "stats socket" not in out and "user haproxy" not in out
    # everything else as written, errors included: a wrong file breaks the lab's haproxy
    assert "    maxconn 40960\n" in out and "    bogus 1\n" in out and "bind 0.0.0.0:7777" in out


def test_runtime_keepalived_checks_this_vms_haproxy() -> None:
    conf = render_keepalived("proxy1", "10.200.100.250", "pek3a")
    out = runtime_keepalived(conf, Path("/lab/state/proxy1.1/check_haproxy.sh"))
    assert 'script "/lab/state/proxy1.1/check_haproxy.sh"' in out
    assert "killall" not in out and "script_user root" in out
    for line in ("state BACKUP", "interface eth0", "virtual_router_id 51", "priority 140",
                 "advert_int 1", "auth_type PASS", "10.200.100.250", "chk_haproxy"):
        assert line in out, line
    forced = runtime_keepalived(conf, Path("/x"), priority=254)
    assert "priority 254" in forced and "priority 140" not in forced


def test_priorities_follow_the_node_number() -> None:
    def prio(node: str) -> int:
        line = next(x for x in render_keepalived(node, "v", "z").splitlines()
                    if "priority" in x)
        return int(line.split()[1])
    assert prio("proxy0") == 150 and prio("proxy1") == 140 and prio("proxy0") > prio("proxy1")


def test_holder_of_reads_ip_o_addr() -> None:
    shown = ("2: eth0    inet 10.200.100.21/24 brd 10.200.100.255 scope global eth0\\ ...\n"
             "2: eth0    inet 10.200.100.250/32 scope global eth0\\       valid_lft forever\n")
    assert holder_of("10.200.100.250", shown)
    assert not holder_of("10.200.100.25", shown)
    assert not holder_of("10.200.100.250", shown.splitlines()[0])


def test_console_listener_in_both_layouts_is_no_r27_difference() -> None:
    """R27: the console's `listen` on port 80 is the same in the old and the new layout, so
    it adds no difference, not even an ignored one (R27's expected results stay)."""
    old = render_haproxy(WS, ["pitrix-ks-proxy"], old_installer=True)
    new = render_haproxy(WS, ["pitrix-ks-proxy"], old_installer=False)
    assert "listen console" in old and "listen console" in new
    assert "bind 0.0.0.0:80\n" in new
    diffs = compare_text(old, new)
    assert not [d for d in diffs if "console" in str(d)], diffs
