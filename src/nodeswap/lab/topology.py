"""Topologies: a zone described in a small YAML file, found, read, checked and placed.

Owns what a topology says (firstbox, physical hosts, VMs, networks, installer) and how it
becomes the lab's hosts at free loopback addresses (moved whole from 127.16.* to 127.N.*).
Must not: write files or start anything (zonefiles.py writes, the controller starts).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from nodeswap.errors import InputError, LabError, Problem
from nodeswap.i18n import _

from .labhost import Host, port_free

JSON = dict[str, Any]
TOPOLOGY_DIR = Path(__file__).parent / "topologies"
REQUIRED = ("zone_id", "installer", "domain", "network", "gateway", "vip", "vm_base_network",
            "os", "prepared", "deploy_boss", "deploy_warehouse", "firstbox", "physical", "vms")


def resolve_topology(name_or_file: str) -> Path:
    """A topology by name (``src/nodeswap/lab/topologies/NAME.yaml``) or by file path."""
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path.absolute()
    builtin = TOPOLOGY_DIR / f"{name_or_file}.yaml"
    if builtin.exists():
        return builtin
    known = sorted(p.stem for p in TOPOLOGY_DIR.glob("*.yaml"))
    raise LabError(_("unknown topology {name!r}: not a file, and not one of {known}").format(
        name=name_or_file, known=known))


def checked(name_or_file: str) -> Path:
    """A topology the operator named (``--topology``), resolved and checked before anything
    starts: an unknown name or a file that does not check is bad input (InputError, exit 2)."""
    try:
        path = resolve_topology(name_or_file)
        load(path)
    except (LabError, OSError, yaml.YAMLError) as exc:
        raise InputError([Problem(str(exc), key="--topology")]) from exc
    return path


def load(path: Path) -> JSON:
    """A topology file, checked (every problem named at once)."""
    data = yaml.safe_load(path.read_text())
    problems = check(data)
    if problems:
        raise LabError(_("topology {path}: ").format(path=path) + "; ".join(problems))
    return dict(data)


def check(t: Any) -> list[str]:
    """What is wrong with a topology: missing keys, VMs on unknown physical hosts, names
    used twice."""
    if not isinstance(t, dict):
        return [_("not a mapping")]
    problems = [_("missing key {key!r}").format(key=k) for k in REQUIRED if k not in t]
    if problems:
        return problems
    physical = {p.get("name") for p in t["physical"]}
    names = [t["firstbox"].get("name")] + [h.get("name") for h in t["physical"] + t["vms"]]
    problems += [_("name {name!r} is used twice").format(name=n)
                 for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [_("VM {vm!r} runs on unknown physical host {host!r}").format(
        vm=v.get("name"), host=v.get("physical"))
                 for v in t["vms"] if v.get("physical") not in physical]
    if not any(v.get("role") == "proxy" for v in t["vms"]):
        problems.append(_("no proxy VM (the VIP needs one)"))
    zone_of = {p.get("name"): p.get("zone_id", t["zone_id"]) for p in t["physical"]}
    problems += [_("VM {vm!r} of zone {zone!r} runs on {host!r} of zone {host_zone!r}").format(
        vm=v.get("name"), zone=v.get("zone_id", t["zone_id"]), host=v.get("physical"),
        host_zone=zone_of[v.get("physical")])
                 for v in t["vms"] if v.get("physical") in zone_of
                 and v.get("zone_id", t["zone_id"]) != zone_of[v.get("physical")]]
    for key in ("update_node_releases", "netplan_releases"):
        releases = t.get(key, [])
        if not isinstance(releases, list) or not all(
                isinstance(r, str) and re.fullmatch(r"\d{2}\.\d{2}", r) for r in releases):
            problems.append(_('{key} must be a list of OS releases such as "16.04", not '
                              '{releases!r}').format(key=key, releases=releases))
    return problems


def installer_tuple(v: str) -> tuple[int, int, int]:
    parts = [int(p) for p in v.split(".")] + [0, 0, 0]
    return parts[0], parts[1], parts[2]


def relocate(topology: JSON, block: int) -> JSON:
    """The topology with every 127.16.* address moved to 127.<block>.* (side-by-side labs)."""
    text = json.dumps(topology).replace("127.16.", f"127.{block}.")
    return dict(json.loads(text))


def place(topo: JSON) -> JSON:
    """The topology at the first block whose addresses (and the VIP's :80) are free."""
    for block in range(16, 100):
        t = relocate(topo, block)
        vips = list(zone_vips(t).values())
        addrs = [t["firstbox"]["address"], *vips]
        addrs += [h["address"] for h in t["physical"] + t["vms"]]
        if all(port_free(a) for a in addrs) and all(port_free(v, 80) for v in vips):
            return t
    raise LabError(_("no free 127.N.x.y block for the zone's addresses"))


def hosts(t: JSON) -> list[Host]:
    """The lab's hosts of a topology: firstbox, physical hosts, VMs (instance NAME.1)."""
    out = [Host(iid="firstbox", name=t["firstbox"]["name"], address=t["firstbox"]["address"],
                role="firstbox", kind="firstbox")]
    out += [Host(iid=p["name"], name=p["name"], address=p["address"], role=p["role"],
                 kind="physical") for p in t["physical"]]
    phys = {p["name"]: p["name"] for p in t["physical"]}
    for v in t["vms"]:
        out.append(Host(iid=v["name"] + ".1", name=v["name"], address=v["address"],
                        role=v["role"], kind="vm", physical=phys[v["physical"]]))
    return out


def etc_hosts(t: JSON) -> str:
    """/etc/hosts of the zone as installed: every host by name, the VIP as `proxy`."""
    lines = ["127.0.0.1 localhost", f"{t['firstbox']['address']} {t['firstbox']['name']}"]
    for h in t["physical"] + t["vms"]:
        lines.append(f"{h['address']} {h['name']}.mgmt.pitrix.yunify.com {h['name']}")
    lines.append(f"{t['vip']} proxy.mgmt.pitrix.yunify.com proxy")
    lines += floating_lines(t)
    return "\n".join(lines) + "\n"


def zone_vips(t: JSON) -> dict[str, str]:
    """zone id -> its proxies' VIP: the topology's own zone's ``vip``, then each other zone's
    ``zone_variables.<zone>.vip`` (a region, issue 10)."""
    out = {str(t["zone_id"]): str(t["vip"])}
    for zone, values in (t.get("zone_variables") or {}).items():
        if (values or {}).get("vip"):
            out[str(zone)] = str(values["vip"])
    return out


def floating_lines(t: JSON) -> list[str]:
    """A region's floating names ``<zone>-proxy`` (reference section 1), one per zone VIP, when
    the lab's firstbox manages several zones."""
    vips = zone_vips(t)
    if len(vips) < 2:
        return []
    return [f"{vip} {z}-proxy.mgmt.pitrix.yunify.com {z}-proxy" for z, vip in vips.items()]


def zone_of_names(t: JSON) -> dict[str, str]:
    """node name -> zone id of every physical host and VM."""
    return {str(n["name"]): str(n.get("zone_id", t["zone_id"]))
            for n in t["physical"] + t["vms"]}


def first_proxies(t: JSON) -> dict[str, str]:
    """zone id -> the instance id of its first proxy VM (it holds that zone's VIP first)."""
    out: dict[str, str] = {}
    for v in t["vms"]:
        if v["role"] == "proxy":
            out.setdefault(str(v.get("zone_id", t["zone_id"])), str(v["name"]) + ".1")
    return out


def first_proxy(t: JSON) -> str:
    """The instance id of the first proxy VM (it holds the VIP when the zone starts)."""
    return str(next(v["name"] for v in t["vms"] if v["role"] == "proxy")) + ".1"


def public(t: JSON, vip_holder: str | None,
           holders: dict[str, str | None] | None = None) -> JSON:
    """The zone's facts as lab.json's ``zone`` lists them; a region lab (several zone VIPs)
    adds ``zone_ids`` and ``zones``: each zone's ``vip``, ``vip_holder`` and ``console_url``
    (``holders``: zone id -> the instance holding its VIP)."""
    out = {"zone_id": t["zone_id"], "installer": t["installer"], "vip": t["vip"],
           "vip_holder": vip_holder, "network": t["network"], "gateway": t["gateway"],
           "domain": t["domain"], "console_url": f"http://{t['vip']}/"}
    vips = zone_vips(t)
    if len(vips) > 1:
        out["zone_ids"] = list(vips)
        out["zones"] = {z: {"vip": vip, "vip_holder": (holders or {}).get(z),
                            "console_url": f"http://{vip}/"} for z, vip in vips.items()}
    return out
