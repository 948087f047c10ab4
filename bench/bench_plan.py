"""Benchmark (not a test): plan the proxy upgrade of a zone of 1,000 settings files.

Generates the zone in a temporary folder (3 KS nodes, 2 proxies, 995 hyper nodes), then times
what `nodeswap plan` does: read + parse every file, build the zone, plan R6-R37, dump JSON.
Goal: under 1 s. Prints the result and writes it to bench/results/plan.txt.

    .venv/bin/python bench/bench_plan.py
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nodeswap.live.sources import read_spec, read_zone
from nodeswap.plan.build import build_plan

NODES = 1000
RUNS = 5
HERE = Path(__file__).resolve().parent


def settings_text(name: str, role: str, address: str, *, host: str = "", mac: int = 0,
                  hyper: bool = False) -> str:
    vm = bool(host)
    vm_rule = (f'\n## VM Network\nvm_network_routing_rule="ip route add 172.21.130.0/24 '
               f'src {address} via 10.16.0.1"\n') if vm else ""
    return f"""## Role
role="{role}"

## Region
is_region="0"
region_id=""
zone_id="bench1a"

## Feature
feature_vmnode="{'on' if vm else 'off'}"
feature_ksnode="{'off' if hyper else 'on'}"
feature_vgnode="off"
feature_hypernode="{'on' if hyper else 'off'}"
feature_conntrack="off"

## Firstbox
firstbox_address="10.16.0.2"

## General
cpu_arch="x86_64"
os_name="xenial"
os_version="16.04.5"
hostname="{name}"

## Mgmt Network
mgmt_network_interface="eth0"
mgmt_network_address="{address}"
mgmt_network_netmask="255.255.0.0"
mgmt_network_gateway="10.16.0.1"
mgmt_network_dns_servers="10.16.0.25 10.16.0.26"
mgmt_network_mac_address="00:16:3e:{mac >> 16 & 255:02x}:{mac >> 8 & 255:02x}:{mac & 255:02x}"
mgmt_network_routing_rule=""
{vm_rule}
## Host
physical_host="{host}"
physical_host_network_interface="{'br0' if vm else ''}"
physical_host_eip_network_interface=""
{'container_mode="pair"' if hyper else ''}
"""


def make_zone(folder: Path) -> None:
    for i in range(3):
        name = f"bench1ar01n0{i + 1}"
        (folder / name).write_text(settings_text(name, "seed,vbr,snapshot", f"10.16.0.1{i + 1}",
                                                 mac=i + 1))
    for i in range(2):
        name = f"proxy{i}"
        (folder / name).write_text(settings_text(name, "proxy", f"10.16.0.2{i + 1}",
                                                 host=f"10.16.0.1{i + 1}", mac=10 + i))
    for i in range(NODES - 5):
        name = f"bench1ar{i // 40 + 2:02d}n{i % 40 + 1:02d}"
        addr = f"10.16.{i // 200 + 1}.{i % 200 + 10}"
        (folder / name).write_text(settings_text(name, "hyper", addr, mac=100 + i, hyper=True))


def once(folder: Path, spec_path: Path) -> float:
    start = time.perf_counter()
    spec = read_spec(spec_path)
    zone = read_zone(folder, "4.3.1", "boss2,warehouse", spec)
    plan = build_plan(zone, spec, today="20261127")
    json.dumps(plan.to_dict())
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "settings"
        folder.mkdir()
        make_zone(folder)
        spec_path = Path(tmp) / "upgrade.yaml"
        spec_path.write_text("role: proxy\ntarget: {os_name: bionic, os_version: '18.04.6'}\n"
                             "seed: 1\n")
        times = [once(folder, spec_path) for _ in range(RUNS)]
    best, median = min(times), statistics.median(times)
    verdict = "OK" if median < 1.0 else "SLOW"
    text = (f"plan of a {NODES}-node zone (read + parse + zone + plan + JSON), {RUNS} runs: "
            f"best {best:.3f} s, median {median:.3f} s; goal < 1 s: {verdict}\n"
            f"python {platform.python_version()} on {platform.machine()}\n")
    print(text, end="")
    out = HERE / "results" / "plan.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
