"""Shared library of the lab's stand-ins (Python standard library only).

Copied into every zone host as /lab/lib/pitrixlab.py and imported by the stand-in scripts;
the controller imports the same module, so settings parsing, node groups, /etc/hosts,
interfaces and rc.local files are rendered by one implementation (what a role's packages
write is the controller's: lab/roles). Must not: import anything outside the
standard library (it runs under the host's /usr/bin/python3, inside a chroot).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

SETTINGS_DIR = Path("/pitrix/conf/settings")
NODES_DIR = Path("/pitrix/conf/nodes")
LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)="(.*)"\s*$')

# ------------------------------------------------------------------ controller client


def _post(op: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to the controller's ``/op/OP`` (its URL and this host's token are in
    /lab/host.json): the status and the JSON answer. A plain HTTP/1.1 exchange on a socket:
    every stand-in starts a Python, and urllib.request (http.client, email) costs twice as
    much to import as everything else a stand-in needs."""
    info = json.loads(Path("/lab/host.json").read_text())
    host, _, port = info["url"].removeprefix("http://").partition(":")
    data = json.dumps(body).encode()
    head = (f"POST /op/{op} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Lab-Token: {info['token']}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n")
    if host == "unix":  # a netns lab: the controller's unix socket (url unix:/lab/ctl.sock)
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(300)
        conn.connect(port)
    else:
        conn = socket.create_connection((host, int(port)), timeout=300)
    with conn:
        conn.sendall(head.encode() + data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    status_line, _, rest = b"".join(chunks).partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise SystemExit(f"{Path(sys.argv[0]).name}: the lab controller gave no answer")
    return int(parts[1]), dict(json.loads(payload or b"{}"))


def call(op: str, **body: Any) -> dict[str, Any]:
    """Ask the lab controller; a refused operation ends the stand-in with its error."""
    status, data = _post(op, body)
    if status >= 400:
        raise SystemExit(f"{Path(sys.argv[0]).name}: {data.get('error', f'HTTP {status}')}")
    return data


def ask(op: str, **body: Any) -> tuple[dict[str, Any], str | None]:
    """Like ``call``, but a refused operation comes back as its error text (not an exit):
    for stand-ins that print errors in their real tool's own shape (virsh)."""
    status, data = _post(op, body)
    if status >= 400:
        return {}, str(data.get("error", f"HTTP {status}"))
    return data, None


def pause(what: str) -> None:
    """Take the time the real command takes (``what``: a key of lab/timing.py's FIGURES),
    as the lab's timing says (/lab/host.json "delays"; none by default)."""
    delay = json.loads(Path("/lab/host.json").read_text()).get("delays", {}).get(what, 0)
    if delay > 0:
        time.sleep(delay)


# ------------------------------------------------------------------ settings files


def parse_settings(text: str) -> dict[str, str]:
    """KEY="value" lines of a settings file (sections are comments), in file order."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


def read_settings(name: str, root: Path = Path("/")) -> dict[str, str]:
    return parse_settings((root / SETTINGS_DIR.relative_to("/") / name).read_text())


def all_settings(root: Path = Path("/")) -> dict[str, dict[str, str]]:
    folder = root / SETTINGS_DIR.relative_to("/")
    return {p.name: parse_settings(p.read_text()) for p in sorted(folder.iterdir())
            if p.is_file()}


def render_settings(sections: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """A settings file from (section title, [(key, value)]) pairs."""
    parts = []
    for title, items in sections:
        body = "".join(f'{k}="{v}"\n' for k, v in items)
        parts.append(f"## {title}\n{body}")
    return "\n".join(parts)


# ------------------------------------------------------------------ node groups (gen_node_list)

FIXED_GROUPS = ("all", "phy", "vm", "ks", "vg", "vgateway", "hyper", "non-ks", "non-vg",
                "non-hyper", "proxy", "webservice", "dnsmaster", "zoocassa", "pgpool",
                "pgserver", "seed", "vbr", "snapshot", "bm", "boss", "eipctl", "dns")


def node_groups(settings: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Every group file's members (reference.md section 3); empty groups included."""
    groups: dict[str, list[str]] = {g: [] for g in FIXED_GROUPS}
    for name, s in sorted(settings.items()):
        role = s.get("role", "")
        vg = "vgateway" in role
        hyper = s.get("feature_hypernode") == "on"
        vm = bool(s.get("physical_host_network_interface"))
        member = {"all": True, "phy": not vm, "vm": vm, "ks": not hyper and not vg, "vg": vg,
                  "vgateway": vg, "hyper": hyper, "non-ks": hyper or vg, "non-vg": not vg,
                  "non-hyper": not hyper, "dns": "dnsmaster" in role or "dnsslave" in role}
        for group, members in groups.items():
            if group in member:
                hit = member[group]
            elif group == "pgserver":
                hit = any(r in role for r in ("pgserver", "pgmaster", "pgslave"))
            else:
                hit = group in role
            if hit:
                members.append(name)
    return groups


def render_group(members: list[str]) -> str:
    return "nodes=( " + "".join(m + " " for m in members) + ");\n"


def read_group(name: str, root: Path = Path("/")) -> list[str] | None:
    path = root / NODES_DIR.relative_to("/") / name
    if not path.exists():
        return None
    m = re.search(r"nodes=\((.*)\)", path.read_text(), re.S)
    return m.group(1).split() if m else []


def resolve_targets(spec: str, root: Path = Path("/")) -> tuple[list[str], list[str]]:
    """exec_nodes/update targets: comma list of groups and names -> (nodes, unknown)."""
    nodes: list[str] = []
    unknown: list[str] = []
    for item in [t for t in spec.split(",") if t]:
        group = read_group(item, root)
        members = group if group is not None else [item]
        for m in members:
            if not (root / SETTINGS_DIR.relative_to("/") / m).exists():
                unknown.append(m)
            elif m not in nodes:
                nodes.append(m)
    return sorted(nodes), unknown


# ------------------------------------------------------------------ files the zone's scripts write


def zone_info(root: Path = Path("/")) -> dict[str, Any]:
    """The zone facts the controller leaves on firstbox (/pitrix/lab/zone.json)."""
    return dict(json.loads((root / "pitrix/lab/zone.json").read_text()))


def render_hosts(settings: dict[str, dict[str, str]], zone: dict[str, Any]) -> str:
    """/etc/hosts as pitrix-hosts ships it: every node, floating names, extra lines."""
    lines = ["127.0.0.1 localhost", f"{zone['firstbox_address']} {zone['firstbox']}"]
    for name, s in sorted(settings.items()):
        addr = s.get("mgmt_network_address", "")
        if addr:
            lines.append(f"{addr} {name}.mgmt.pitrix.yunify.com {name}")
    lines.append(f"{zone['vip']} proxy.mgmt.pitrix.yunify.com proxy")
    for z, each in (zone.get("zones") or {}).items():  # a region: <zone>-proxy per zone
        lines.append(f"{each['vip']} {z}-proxy.mgmt.pitrix.yunify.com {z}-proxy")
    return "\n".join(lines) + "\n"


def render_rc_files(s: dict[str, str]) -> dict[str, str]:
    """rc.local, rc.local.head and rc.local.tail as install_nodes.sh writes them."""
    head = f"#!/bin/sh\nethtool -K {s.get('mgmt_network_interface', 'eth0')} tso off gso off\n"
    rules = [s[k] for k in ("mgmt_network_routing_rule", "vm_network_routing_rule") if s.get(k)]
    tail = "#!/bin/sh\n" + "".join(r + "\n" for r in rules)
    rc = ("#!/bin/sh -e\n. /etc/rc.local.head\n/usr/bin/supervisord -c /etc/supervisor/"
          "supervisord.conf\n. /etc/rc.local.tail\nexit 0\n")
    return {"etc/rc.local": rc, "etc/rc.local.head": head, "etc/rc.local.tail": tail}


def render_interfaces(s: dict[str, str]) -> str:
    """/etc/network/interfaces from a settings file (MGMT, and EIP when present)."""
    out = ["auto lo", "iface lo inet loopback", ""]
    nics = [("mgmt", "eth0")] + ([("eip", "eth1")] if s.get("eip_network_address") else [])
    for net, default in nics:
        nic = s.get(f"{net}_network_interface") or default
        out += [f"auto {nic}", f"iface {nic} inet static",
                f"    address {s.get(f'{net}_network_address', '')}",
                f"    netmask {s.get(f'{net}_network_netmask', '255.255.255.0')}"]
        gw = s.get(f"{net}_network_gateway", "")
        if gw:
            out.append(f"    gateway {gw}")
        if net == "mgmt" and s.get("mgmt_network_dns_servers"):
            out.append(f"    dns-nameservers {s['mgmt_network_dns_servers']}")
        out.append("")
    return "\n".join(out)


def interfaces_address(text: str) -> str | None:
    """The first non-loopback `address` of an interfaces file (where the host comes back)."""
    m = re.search(r"^iface\s+(?!lo\b)\S+\s+inet\s+static\s*\n(?:\s+\S.*\n)*?\s+address\s+(\S+)",
                  text, re.M)
    return m.group(1) if m else None


def log_dir(name: str) -> Path:
    path = Path("/pitrix/log") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def confirm(question: str) -> bool:
    """The y/N prompt of the Pitrix scripts (anything but y/yes is no)."""
    sys.stdout.write(question + " ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
