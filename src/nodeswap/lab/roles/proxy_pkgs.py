"""The proxy role's lab packages: pitrix-ks-proxy (+ boss, boss2, warehouse), and the files
they write on a node: haproxy.cfg, keepalived.conf, boss's nginx site; haproxy and keepalived
run afterwards. On the zone's old nodes, haproxy.cfg has the old installer's layout, and in a
sub zone the hand edits that point the old proxies at the global webservices (R27)."""

from __future__ import annotations

from nodeswap.lab import hostroot, services

from . import JSON, Install, RolePackages, register

LISTENERS = (("api-front", 7777, "source", "apiserver", 7777),
             ("ws-front", 8565, "roundrobin", "ws_server", 8565),
             ("io-front", 8000, "source", "io_server", 8000))


def _servers(prefix: str, addrs: list[str], port: int) -> list[str]:
    return [f"    server {prefix}_{i} {a}:{port} check inter 2000 rise 2 fall 3"
            for i, a in enumerate(addrs)]


def render_haproxy(backends: list[str], packages: list[str], *, old_installer: bool) -> str:
    """haproxy.cfg of a proxy node. ``old_installer``: the layout of the files on the old
    nodes (bind lines after the servers, a `website` forward on 8081), as R27 describes."""
    out = ["global", "    log 127.0.0.1 local0", "    maxconn 40960", "    daemon", "",
           "defaults", "    mode tcp", "    log global", "    timeout connect 5s",
           "    timeout client 600s", "    timeout server 600s", ""]
    listeners = list(LISTENERS)
    if "pitrix-ks-proxy-warehouse" in packages:
        listeners.append(("warehouse-front", 8856, "roundrobin", "warehouse_server", 8856))
    for name, port, balance, prefix, bport in listeners:
        bind = f"    bind 0.0.0.0:{port}"
        body = [f"    balance {balance}", *_servers(prefix, backends, bport)]
        out += [f"listen {name}", *([*body, bind] if old_installer else [bind, *body]), ""]
    if old_installer:
        out += ["listen website", "    bind 0.0.0.0:8081", "    balance source",
                *_servers("website", backends, 80), ""]
    # the console (operators browse it at the VIP, R36): the same in both layouts, so R27
    # finds no difference in it
    out += ["listen console", "    bind 0.0.0.0:80", "    balance roundrobin",
            *_servers("console", backends, 80), ""]
    return "\n".join(out)


def render_keepalived(node: str, vip: str, zone_id: str) -> str:
    """keepalived.conf of a proxy node: one VRRP instance for the VIP on eth0, every node
    BACKUP (the highest priority elects itself), priority by node number (proxy0 150, proxy1
    140...), tracking this node's haproxy (docs/lab-netns.md, "keepalived")."""
    digits = "".join(c for c in node if c.isdigit()) or "0"
    priority = max(1, 150 - 10 * int(digits[-2:]))
    secret = (zone_id + "proxyvip")[:8]
    return "\n".join([
        "global_defs {", f"    router_id {node}", "}", "",
        "vrrp_script chk_haproxy {", '    script "/usr/bin/killall -0 haproxy"',
        "    interval 2", "    fall 2", "    rise 2", "}", "",
        "vrrp_instance VI_1 {", "    state BACKUP", "    interface eth0",
        "    virtual_router_id 51", f"    priority {priority}", "    advert_int 1",
        "    authentication {", "        auth_type PASS", f"        auth_pass {secret}", "    }",
        "    virtual_ipaddress {", f"        {vip}", "    }",
        "    track_script {", "        chk_haproxy", "    }", "}", ""])


def initial(t: JSON) -> tuple[str, ...]:
    """A proxy node as the zone was installed: the components the zone deploys."""
    boss = t["deploy_boss"]
    return ("pitrix-ks-proxy",
            *(["pitrix-ks-proxy-boss"] if boss == 1 else []),
            *(["pitrix-ks-proxy-boss2"] if boss == 2 else []),
            *(["pitrix-ks-proxy-warehouse"] if t["deploy_warehouse"] else []))


def backends(t: JSON) -> list[str]:
    """The proxies' backends: the zone's webservice VMs."""
    return [v["address"] for v in t["vms"] if v["role"] == "webservice"]


def render(i: Install) -> None:
    """The files the proxy packages write, then haproxy and keepalived run."""
    cfg = render_haproxy(backends(i.topology), list(i.installed), old_installer=i.old_installer)
    hostroot.write(i.root / "etc/haproxy/haproxy.cfg", cfg)
    hostroot.write(i.root / "etc/keepalived/keepalived.conf",
                   render_keepalived(i.host.name, i.topology["vip"], str(i.topology["zone_id"])))
    if "pitrix-ks-proxy-boss" in i.packages:
        hostroot.write(i.root / "etc/nginx/sites-enabled/boss.conf", "server { listen 80; }\n")
    i.host.extra["keepalived"] = True
    services.set_running(i.root, "haproxy", True)
    # netns labs (real keepalived): the package enables keepalived, it starts at the node's
    # next boot (R33's reboot for a new VM): a new VM never joins VRRP at its temporary
    # address (docs/lab-netns.md); the zone's initial install runs it, as installed
    if i.old_installer or not i.host.extra.get("netns"):
        services.set_running(i.root, "keepalived", True)
    if i.old_installer and i.topology.get("region") and i.host.role == "proxy":
        hand_edit_region(i)


def hand_edit_region(i: Install) -> None:
    """Sub zone: the old proxies' api/ws/io servers point at the global webservices."""
    cfg = i.root / "etc/haproxy/haproxy.cfg"
    text = cfg.read_text()
    for old, new in zip(backends(i.topology), i.topology["region"]["global_webservices"],
                        strict=False):
        text = text.replace(f" {old}:7777", f" {new}:7777").replace(
            f" {old}:8565", f" {new}:8565").replace(f" {old}:8000", f" {new}:8000")
    cfg.write_text(text)


PACKAGES = register(RolePackages(
    role="proxy",
    packages=("pitrix-ks-proxy", "pitrix-ks-proxy-boss", "pitrix-ks-proxy-boss2",
              "pitrix-ks-proxy-warehouse"),
    initial=initial,
    programs={"pitrix-ks-proxy": ("cb_server",), "pitrix-ks-proxy-boss": ("boss_proxy",),
              "pitrix-ks-proxy-boss2": ("boss2_proxy",),
              "pitrix-ks-proxy-warehouse": ("warehouse_proxy",)},
    render=render,
))
