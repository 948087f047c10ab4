"""The checks (issue 5) on real lab output, read back from the journal: R27 (haproxy.cfg, old vs
new), R29 (supervisor status per node) as `nodeswap apply` ran them, and `nodeswap diff` on the
files the run fetched.

Two zones for the module, each run up to the first switch's gate (old and new nodes both
live): the default topology with the lab's ``haproxy-hand-edit`` fault on the OLD node
compared second (R27 passes for the first node with ignored findings only, and fails for the
second naming the hand-made section), and the sub-region topology (R27 passes with attention
findings for api-front/ws-front/io-front; R29 passes)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from upgrade_kit import Zone, zone

from nodeswap.errors import StepFailed
from nodeswap.run import journal as J

pytestmark = pytest.mark.lab
HAND_MADE = "hand-made-front"
SUB_REGION_BACKENDS = ("api-front", "ws-front", "io-front")


def order(z: Zone) -> list[str]:
    assert z.plan_ is not None
    return z.plan_.meta["switch_order"].split(",")


def r27_order(z: Zone) -> list[str]:
    """Nodes in the order the plan compares their haproxy.cfg."""
    assert z.plan_ is not None
    return [s.id.removeprefix("r27-haproxy-") for s in z.plan_.steps
            if s.id.startswith("r27-haproxy-")]


def findings(z: Zone, step_id: str) -> list[str]:
    """The findings the step's analysis recorded, each ``[class] section (rule): ...``; a
    finding showing a whole section spans several lines (kept together here)."""
    return split_findings(z.output(step_id, "analysis"))


def split_findings(text: str) -> list[str]:
    out: list[str] = []
    for ln in text.splitlines():
        if ln.startswith(("[ignored] ", "[attention] ", "[unexpected] ")) or not out:
            out.append(ln)
        else:
            out[-1] += "\n" + ln
    return [f for f in out if f.strip()]


@pytest.fixture(scope="module")
def hand_edited() -> Iterator[tuple[Zone, str, str]]:
    """Default topology; haproxy-hand-edit on the old node compared second, before the run;
    run towards the first switch's gate. Yields (zone, clean node, hand-edited node)."""
    with zone("default", tag="checks-hand-edit") as z:
        z.plan()
        clean, edited = r27_order(z)
        z.lab.fault("haproxy-hand-edit", host=z.instance(edited, new=False))
        z.run(stop_at_gate=f"r30-settings-{order(z)[0]}")
        yield z, clean, edited


@pytest.fixture(scope="module")
def sub_region() -> Iterator[Zone]:
    with zone("sub-region", tag="checks-sub-region") as z:
        z.plan()
        z.run(stop_at_gate=f"r30-settings-{order(z)[0]}")
        yield z


def test_r27_passes_with_only_ignored_findings(hand_edited: tuple[Zone, str, str]) -> None:
    z, clean, _ = hand_edited
    step = f"r27-haproxy-{clean}"
    assert z.step_state(step) == J.DONE
    assert z.attempt_outcomes(step, "analysis") == ["ok"]
    found = findings(z, step)
    assert found, "the lab's new haproxy.cfg differs from the old in ignorable ways (R27)"
    assert all(f.startswith("[ignored] ") and "(R27)" in f for f in found), found


def test_r27_hand_edit_on_the_old_node_stops_the_run(hand_edited: tuple[Zone, str, str]) -> None:
    z, _, edited = hand_edited
    step = f"r27-haproxy-{edited}"
    assert z.state() == J.RUN_FAILED, z.errors
    err = z.errors[-1]
    assert isinstance(err, StepFailed) and err.step == step and err.rule == "R27", err
    assert f"step {step} (R27:" in str(err) and HAND_MADE in str(err), str(err)
    assert z.step_state(step) == J.FAILED
    assert z.attempt_outcomes(step, "analysis") == ["failed"]
    unexpected = [f for f in findings(z, step) if f.startswith("[unexpected] ")]
    assert unexpected and all(HAND_MADE in f for f in unexpected), findings(z, step)
    # the hand-made section is shown whole: what to recreate on the new node
    assert any("bind 0.0.0.0:9999" in f for f in unexpected), unexpected
    # nothing past the checks ran: no switch began
    assert z.step_state(f"r30-settings-{order(z)[0]}") == J.PENDING


def diff_cli(z: Zone, node: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`nodeswap diff haproxy OLD NEW` on the files the run fetched (old: the fetch step's
    output; new: the R27 step's), with the node's address map."""
    old_addr, temp, _, _ = z.node_plan(node)
    old_cfg, new_cfg = tmp / f"{node}-old.cfg", tmp / f"{node}-new.cfg"
    old_cfg.write_text(z.output(f"fetch-{node}-haproxy"))
    new_cfg.write_text(z.output(f"r27-haproxy-{node}"))
    argv = [sys.executable, "-m", "nodeswap", "diff", "haproxy", str(old_cfg), str(new_cfg),
            "--address-map", f"{old_addr}={temp}", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_diff_cli_on_the_fetched_files(hand_edited: tuple[Zone, str, str],
                                       tmp_path: Path) -> None:
    z, clean, edited = hand_edited
    bad = diff_cli(z, edited, tmp_path, "--json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    diffs = json.loads(bad.stdout)["differences"]
    unexpected = [d for d in diffs if d["class"] == "unexpected"]
    assert unexpected and all(HAND_MADE in d["section"] for d in unexpected), unexpected
    assert all(d["rule"] == "R27" for d in diffs), diffs
    good = diff_cli(z, clean, tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    shown = diff_cli(z, edited, tmp_path)
    assert shown.returncode == 1 and HAND_MADE in shown.stdout, shown.stdout + shown.stderr


def test_sub_region_r27_passes_with_attention_findings(sub_region: Zone) -> None:
    z = sub_region
    assert z.state() == J.RUN_GATE, z.errors
    for node in r27_order(z):
        step = f"r27-haproxy-{node}"
        assert z.step_state(step) == J.DONE
        assert z.attempt_outcomes(step, "analysis") == ["ok"]
        found = findings(z, step)
        assert not [f for f in found if f.startswith("[unexpected] ")], found
        attention = [f for f in found if f.startswith("[attention] ")]
        for backend in SUB_REGION_BACKENDS:
            mine = [f for f in attention if f.split("] ", 1)[1].startswith(
                (backend, f"backend {backend}", f"listen {backend}", f"frontend {backend}"))]
            assert mine, f"{node}: no attention finding for {backend}: {attention}"
            assert all("(R27)" in f and "old" in f and "new" in f for f in mine), mine


def test_sub_region_r29_passes_per_node(sub_region: Zone) -> None:
    z = sub_region
    assert z.plan_ is not None
    assert z.step_state("r29-exec") == J.DONE
    assert z.attempt_outcomes("r29-exec", "analysis") == ["ok"]
    for node, n in z.plan_.nodes.items():
        step = f"r29-supervisor-{node}"
        assert z.step_state(step) == J.DONE
        assert z.attempt_outcomes(step, "analysis") == ["ok"]
        assert not [f for f in findings_or_none(z, step) if f.startswith("[unexpected] ")]
        # what R29 parsed is the new node's real status: every program RUNNING, the old set
        new = z.output(step)
        old = z.output(f"fetch-{node}-supervisor")
        programs = {ln.split()[0] for ln in new.splitlines() if ln.strip()}
        assert programs and programs == {ln.split()[0] for ln in old.splitlines() if ln.strip()}
        assert all(ln.split()[1] == "RUNNING" for ln in new.splitlines() if ln.strip()), new
        assert z.supervisor_ok(n.temp_address)
    assert z.step_state(f"r30-settings-{order(z)[0]}") == J.GATE


def findings_or_none(z: Zone, step_id: str) -> list[str]:
    assert z.journal is not None
    return split_findings(z.journal.last_output(z.run_id, step_id, "analysis") or "")
