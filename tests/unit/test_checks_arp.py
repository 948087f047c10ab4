"""Before R21 (issue 10): the new host probes each temporary address with iputils' ``arping -D``
(R16's MGMT address on br0, R12's dummy EIP on br1); an address that answers ARP stops the run
before launch, with the remedy. Outputs below are iputils-arping 20221126's, taken on two
network namespaces joined by a veth pair."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nodeswap.checks import analyze
from nodeswap.checks.arp import probe_command, results_of
from nodeswap.errors import InputError

PROBES = (("br0", "10.16.101.254"), ("br1", "2.2.2.2"))
OPTS = {"probes": "br0=10.16.101.254,br1=2.2.2.2", "node": "proxy0", "host": "zz1ar02n02",
        "keys": "10.16.101.254=nodes.proxy0.temp_address,2.2.2.2=nodes.proxy0.eip_temp_address",
        "step": "r16-free-proxy0"}
FREE = ("ARPING {a} from 0.0.0.0 {i}\nSent 2 probes (2 broadcast(s))\nReceived 0 response(s)\n"
        "nodeswap-dad {i} {a} 0\n")
TAKEN = ("ARPING {a} from 0.0.0.0 {i}\nUnicast reply from {a} [A6:1B:E7:C4:61:48]  0.601ms\n"
         "Sent 1 probes (1 broadcast(s))\nReceived 1 response(s)\nnodeswap-dad {i} {a} 1\n")
NO_DEVICE = "arping: Device {i} not available.\nnodeswap-dad {i} {a} 2\n"


def out(*parts: tuple[str, str, str]) -> str:
    return "".join(t.format(i=i, a=a) for t, i, a in parts)


def test_both_free_is_no_finding() -> None:
    text = out((FREE, "br0", "10.16.101.254"), (FREE, "br1", "2.2.2.2"))
    assert analyze("address_free", text, None, OPTS).findings == ()


def test_a_taken_address_stops_with_its_spec_key_and_the_holder() -> None:
    text = out((FREE, "br0", "10.16.101.254"), (TAKEN, "br1", "2.2.2.2"))
    res = analyze("address_free", text, None, OPTS)
    assert not res.ok
    (f,) = res.findings
    assert f.rule == "R16" and f.new_line == 9
    assert "2.2.2.2 answers ARP on zz1ar02n02's br1 from a6:1b:e7:c4:61:48" in f.reason
    assert "nodes.proxy0.eip_temp_address" in f.reason and "No new VM is launched" in f.reason
    assert f.new is not None and "Unicast reply" in f.new


def test_a_probe_that_could_not_run_or_left_no_result_stops() -> None:
    text = out((NO_DEVICE, "br0", "10.16.101.254"))
    reasons = [f.reason for f in analyze("address_free", text, None, OPTS).findings]
    assert len(reasons) == 2
    assert "could not probe 10.16.101.254 on zz1ar02n02's br0 (exit status 2)" in reasons[0]
    assert "--mark-done r16-free-proxy0" in reasons[0]
    assert "printed no result for 2.2.2.2" in reasons[1]


def test_another_arping_is_not_trusted() -> None:
    text = "nodeswap-dad-no-iputils ARPing 2.21, by Thomas Habets <thomas@habets.se>\n"
    (f,) = analyze("address_free", text, None, OPTS).findings
    assert "no iputils arping" in f.reason and "Thomas Habets" in f.reason
    assert "install iputils-arping on zz1ar02n02" in f.reason


def test_the_probes_option_is_required() -> None:
    with pytest.raises(InputError, match="probes"):
        analyze("address_free", "", None, {"node": "proxy0"})


FAKE = """#!/bin/sh
# arping -V | arping -D -c 2 -w 3 -I IFACE ADDR: exit as iputils would for $ADDR
[ "$1" = -V ] && { echo "{version}"; exit 0; }
for last; do :; done
echo "ARPING $last from 0.0.0.0"
case "$last" in 10.16.101.254) exit 1;; 2.2.2.2) exit 0;; *) exit 2;; esac
"""


@pytest.mark.parametrize(("version", "taken"), [
    ("arping from iputils 20221126", ["10.16.101.254"]),
    ("ARPing 2.21, by Thomas Habets", None)])
def test_the_command_reports_each_exit_status_and_refuses_another_arping(
        tmp_path: Path, version: str, taken: list[str] | None) -> None:
    """The shell composition, run by bash against an arping that exits as iputils does."""
    fake = tmp_path / "arping"
    fake.write_text(FAKE.replace("{version}", version))
    fake.chmod(0o755)
    res = subprocess.run(["bash", "-c", probe_command(PROBES)], capture_output=True, text=True,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False, timeout=30)
    assert res.returncode == 0, res.stderr  # read-only: the analysis judges
    findings = analyze("address_free", res.stdout, None, OPTS).findings
    if taken is None:
        assert res.stdout.startswith("nodeswap-dad-no-iputils ARPing 2.21")
        assert len(findings) == 1 and "no iputils arping" in findings[0].reason
    else:
        assert [f.reason.split()[0] for f in findings] == taken


SLOW = """#!/bin/sh
# an arping that prints its lines slowly, both probes at once: their lines would interleave
[ "$1" = -V ] && { echo "arping from iputils 20221126"; exit 0; }
for last; do :; done
for i in 1 2 3; do echo "Sent probe $i for $last"; sleep 0.05; done
case "$last" in 10.16.101.254) echo "Unicast reply from $last [00:16:3E:00:00:01]"; exit 1;; esac
exit 0
"""


def test_the_probes_run_together_and_each_output_stays_whole(tmp_path: Path) -> None:
    """Both probes run at once (a silent address takes arping's whole count); each probe's
    lines still come right before its own marker, so a reply is told to the right address."""
    fake = tmp_path / "arping"
    fake.write_text(SLOW)
    fake.chmod(0o755)
    res = subprocess.run(["bash", "-c", probe_command(PROBES)], capture_output=True, text=True,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False, timeout=30)
    assert res.returncode == 0, res.stderr
    results = results_of(res.stdout.splitlines())
    assert set(results) == set(PROBES)
    for (_iface, addr), (_status, _line, said) in results.items():
        assert [s for s in said if s.strip()] == [f"Sent probe {i} for {addr}" for i in (1, 2, 3)] \
            + ([f"Unicast reply from {addr} [00:16:3E:00:00:01]"] if addr == "10.16.101.254"
               else [])
    findings = analyze("address_free", res.stdout, None, OPTS).findings
    assert [f.reason.split()[0] for f in findings] == ["10.16.101.254"]


def test_one_probe_runs_alone_and_reports(tmp_path: Path) -> None:
    """No VG nodes: one probe, run as is (no scratch folder), its status reported."""
    fake = tmp_path / "arping"
    fake.write_text(FAKE.replace("{version}", "arping from iputils 20221126"))
    fake.chmod(0o755)
    command = probe_command(PROBES[:1])
    assert "mktemp" not in command
    res = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False, timeout=30)
    assert res.returncode == 0, res.stderr
    assert results_of(res.stdout.splitlines())[PROBES[0]][0] == 1  # 10.16.101.254: taken
