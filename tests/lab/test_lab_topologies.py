"""Every topology comes up and its firstbox holds what the runbook's rules read (issue 3)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap.errors import LabError
from nodeswap.lab import Lab
from nodeswap.lab.api import TOPOLOGY_DIR, resolve_topology
from nodeswap.lab.standins.pitrixlab import parse_settings

pytestmark = pytest.mark.lab

TOPOLOGIES = sorted(p.stem for p in TOPOLOGY_DIR.glob("*.yaml"))


def test_all_named_topologies_exist() -> None:
    assert set(TOPOLOGIES) >= {"default", "vg-same-24", "vg-other-24", "installer-4.2",
                               "boss1-warehouse", "sub-region"}
    with pytest.raises(LabError, match="unknown topology"):
        resolve_topology("no-such")


@pytest.fixture(params=[t for t in TOPOLOGIES if t != "default"])
def topo_lab(request: pytest.FixtureRequest) -> Iterator[tuple[str, Lab]]:
    lab = Lab.up(Path(f"/var/lib/nodeswap-lab/pytest-topo-{request.param}"),
                 topology=request.param)
    try:
        yield request.param, lab
    finally:
        lab.down()
        lab.cleanup()


def _fb(lab: Lab, command: str) -> str:
    info = lab.info()
    done = subprocess.run(info.ssh_command(info.address(info.firstbox or ""), command),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_topology_facts(topo_lab: tuple[str, Lab]) -> None:
    name, lab = topo_lab
    proxy0 = parse_settings(_fb(lab, "cat /pitrix/conf/settings/proxy0"))
    listing = _fb(lab, "ls /pitrix/bin /pitrix/build /pitrix/conf/variables; "
                       "cat /pitrix/version.json")
    if name == "installer-4.2":
        assert "gen_node_list.sh" in listing and "gen_node_list.py" not in listing
        assert "build_pkgs_allinone.sh" in listing and "variables.yaml" not in listing
        assert "vg_mgmt_network_gateway.pek3a" in listing
    else:
        assert "gen_node_list.py" in listing and "variables.yaml" in listing
    if name.startswith("vg-"):
        assert proxy0["mgmt_network_gateway"] == ""
        assert proxy0["eip_network_mac_address"].startswith("00:16:3e:")
        vg = _fb(lab, "cat /pitrix/conf/nodes/vgateway").split()
        assert len(vg) == 5  # nodes=( a b c );
        rule = proxy0["mgmt_network_routing_rule"]
        assert (rule == "") == (name == "vg-same-24"), rule
        assert "via" in proxy0["vm_network_routing_rule"]
    if name == "boss1-warehouse":
        cfg = _ssh(lab, "proxy0", "cat /etc/haproxy/haproxy.cfg; ls /etc/nginx/sites-enabled")
        assert "listen warehouse-front" in cfg and "boss.conf" in cfg
    if name == "sub-region":
        cfg = _ssh(lab, "proxy0", "cat /etc/haproxy/haproxy.cfg")
        globals_ = lab.info().raw["topology"]
        assert globals_ and ".90.31:7777" in cfg  # hand-edited backend to the global zone


def _ssh(lab: Lab, host: str, command: str) -> str:
    done = subprocess.run(lab.info().ssh_command(host, command), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout
