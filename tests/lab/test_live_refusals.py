"""Issue 14 on a real lab: what `plan` and `apply` refuse on a live zone, and the R20 fence.

One lab (default topology) for the module; the tests run in file order and leave the zone
as the next expects: refusals first (they change nothing), then an offline plan applied
with --offline-plan up to its first gate, with a foreign update.sh job and a cron push on
firstbox, and a new plan of that half-applied zone refused naming the run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_GATE, EXIT_INPUT, EXIT_LOCKED
from nodeswap.lab import Lab
from nodeswap.lab.hostroot import HostPaths
from nodeswap.run.hints import commands_in
from nodeswap.run.lock import Lock

pytestmark = pytest.mark.lab
STATE_ROOT = Path("/var/lib/nodeswap-lab")
SPEC = "role: proxy\ntarget: {os_name: bionic, os_version: \"18.04.6\"}\n"
LOCK = "var/lib/nodeswap/zone.lock"


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, timeout=900)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    up = Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-liverefuse", topology="default")
    try:
        yield up
    finally:
        up.down()
        up.cleanup()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("liverefuse")
    (tmp / "spec.yaml").write_text(SPEC)
    return tmp


def fb_root(lab: Lab) -> Path:
    return HostPaths.of(lab.dir, "firstbox").root


def runs(lab: Lab) -> list[str]:
    out = ns("status", "--lab", str(lab.dir)).stdout
    return [] if out.startswith("no runs under") else out.splitlines()


def fence(warnings: list[str]) -> list[str]:
    """The R20 fence's warnings (not the runbook's own R20 reminder)."""
    return [w for w in warnings if w.startswith(("R20: firstbox runs", "R20: a cron entry"))]


def refusals(lab: Lab) -> list[str]:
    log = lab.dir / "nodeswap" / "refusals.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope="module")
def live(lab: Lab, work: Path) -> dict[str, object]:
    """A live plan of the lab (what the zone is: installer version, components)."""
    done = ns("plan", "--lab", str(lab.dir), "--spec", str(work / "spec.yaml"),
              "--out", str(work / "live.json"))
    assert done.returncode == 0, done.stderr
    plan: dict[str, object] = json.loads((work / "live.json").read_text())
    return plan


@pytest.fixture(scope="module")
def offline(lab: Lab, work: Path, live: dict[str, object]) -> Path:
    """An offline plan from a copy of the lab's settings folder."""
    copy = work / "settings"
    shutil.copytree(fb_root(lab) / "pitrix/conf/settings", copy)
    meta = live["meta"]
    assert isinstance(meta, dict)
    done = ns("plan", "--settings-dir", str(copy), "--installer-version",
              str(live["installer_version"]), "--components", meta["components"],
              "--spec", str(work / "spec.yaml"), "--out", str(work / "offline.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads((work / "offline.json").read_text())["zone"]["offline"] is True
    return work / "offline.json"


def test_plan_warns_of_foreign_jobs_and_cron_pushes_on_firstbox(lab: Lab, work: Path,
                                                                live: dict[str, object]) -> None:
    """R20 at plan time: a quiet firstbox gives no fence warning; an update.sh nodeswap did
    not start and a cron entry pushing pitrix-hosts each give one."""
    assert fence(live["warnings"]) == []  # type: ignore[arg-type]
    job = lab.fault("foreign-job")
    lab.fault("cron-push")
    try:
        done = ns("plan", "--lab", str(lab.dir), "--spec", str(work / "spec.yaml"), "--json")
        assert done.returncode == 0, done.stderr
        warnings = fence(json.loads(done.stdout)["warnings"])
        assert len(warnings) == 2, warnings
        assert (f"job nodeswap did not start: pid {job['pid']}: /bin/bash "
                "/lab/faults/jobs/update.sh -f all pitrix-hosts") in warnings[0]
        assert ("cron entry on firstbox pushes packages (/etc/cron.d/lab-pitrix-hosts): "
                "0 3 * * * root /pitrix/upgrade/update.sh -f all pitrix-hosts") in warnings[1]
    finally:
        lab.clear_fault("foreign-job")
        lab.clear_fault("cron-push")


def test_an_offline_plan_that_does_not_fit_is_refused_naming_what_differs(
        lab: Lab, offline: Path) -> None:  # fmt: skip
    """apply --offline-plan compares before any run is recorded: a settings file edited
    since (exit 2, named), a temporary address that answers ping now (R16)."""
    plan = json.loads(offline.read_text())
    settings = fb_root(lab) / "pitrix/conf/settings"
    ks = sorted(p.name for p in settings.iterdir() if p.name not in plan["nodes"])[0]
    text = (settings / ks).read_text()
    (settings / ks).write_text(text + 'hand_note="edited after the plan"\n')
    try:
        done = ns("apply", str(offline), "--lab", str(lab.dir), "--offline-plan")
    finally:
        (settings / ks).write_text(text)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert f"settings files changed since the plan was made: {ks}" in done.stderr
    temp = plan["nodes"]["proxy1"]["temp_address"]
    lab.fault("address-taken", address=temp)
    try:
        done = ns("apply", str(offline), "--lab", str(lab.dir), "--offline-plan")
    finally:
        lab.clear_fault("address-taken", address=temp)
    assert done.returncode == EXIT_INPUT, done.stderr
    assert f"R16: key nodes.proxy1.temp_address: temporary address {temp} of proxy1 " \
        "answers ping from firstbox now" in done.stderr
    without = ns("apply", str(offline), "--lab", str(lab.dir))
    assert without.returncode == EXIT_INPUT and "--offline-plan" in without.stderr
    assert runs(lab) == []  # nothing recorded
    assert len(refusals(lab)) == 3 and all(f"\t{offline}\t" in r for r in refusals(lab))
    assert not (fb_root(lab) / LOCK).exists()  # the lock taken for the comparison: released


def test_a_locked_zone_is_neither_applied_nor_planned(lab: Lab, work: Path) -> None:
    """Another run holds the zone lock: apply records no run (exit 4, logged), plan refuses
    (exit 4) naming the run, its holder and since when, with a next: line."""
    other = Lock("20261201-230000-other1", "alice@elsewhere", "elsewhere", 4242,
                 time.time() - 60)
    lock = fb_root(lab) / LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(other.to_line() + "\n")
    try:
        before = len(refusals(lab))
        done = ns("apply", str(work / "live.json"), "--lab", str(lab.dir), "--yes")
        assert done.returncode == EXIT_LOCKED, done.stderr
        assert "zone locked by run 20261201-230000-other1 of alice@elsewhere" in done.stderr
        assert runs(lab) == [] and len(refusals(lab)) == before + 1
        plan = ns("plan", "--lab", str(lab.dir), "--spec", str(work / "spec.yaml"))
        assert plan.returncode == EXIT_LOCKED, plan.stderr
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(other.since))
        assert ("zone locked by run 20261201-230000-other1 of alice@elsewhere (pid 4242 on "
                f"elsewhere, since {since})") in plan.stderr
        assert commands_in(plan.stderr) == [
            f"nodeswap status 20261201-230000-other1 --lab {lab.dir}"]
        assert lock.read_text() == other.to_line() + "\n"  # left to its holder
    finally:
        lock.unlink()


def test_offline_plan_applied_then_a_new_plan_of_the_half_applied_zone_is_refused(
        lab: Lab, work: Path, offline: Path) -> None:  # fmt: skip
    """The offline plan fits the zone: apply --offline-plan runs it to its first gate, which
    notes the foreign job and the cron push (R20). The run holds no lock at the gate: a
    new plan is refused naming it (its temporary addresses are in use now), and goes on
    with --ignore-unfinished, with the warning."""
    job = lab.fault("foreign-job")
    lab.fault("cron-push")
    try:
        done = ns("apply", str(offline), "--lab", str(lab.dir), "--offline-plan")
    finally:
        lab.clear_fault("foreign-job")
        lab.clear_fault("cron-push")
    assert done.returncode == EXIT_GATE, done.stderr
    [line] = runs(lab)
    run_id = line.split()[0]
    out = done.stdout + done.stderr
    assert f"note: R20: firstbox runs a job nodeswap did not start: pid {job['pid']}" in out
    assert "note: R20: a cron entry on firstbox pushes packages" in out
    assert not (fb_root(lab) / LOCK).exists()  # released at the gate
    again = ns("plan", "--lab", str(lab.dir), "--spec", str(work / "spec.yaml"))
    assert again.returncode == EXIT_INPUT, again.stderr
    assert f"run {run_id} of this zone" in again.stderr and "unfinished (gate)" in again.stderr
    cmds = commands_in(again.stderr)
    assert cmds[0].startswith(f"nodeswap resume {run_id} --approve r30-settings-")
    assert cmds[1] == f"nodeswap rollback {run_id} --lab {lab.dir}"
    assert cmds[2].endswith("--ignore-unfinished") and cmds[2].startswith("nodeswap plan --lab")
    anyway = ns(*cmds[2].split()[1:], "--json")
    assert anyway.returncode == 0, anyway.stderr
    assert any(f"run {run_id}" in w and "planned anyway (--ignore-unfinished)" in w
               for w in json.loads(anyway.stdout)["warnings"])
