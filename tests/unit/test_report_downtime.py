"""The report's console downtime per switch (issue 10), from a journal as the executor writes
it: the probe's start and stop steps' outputs (firstbox's clock, the samples as runs) and the
attempts of each node's R32 and R36 steps (the switch spans). Rendered in Markdown and HTML.
The probe on real hosts: tests/lab/test_upgrade_e2e.py (a real outage measured)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_report import Clock, done

from nodeswap.plan.model import Plan, Step, Target
from nodeswap.report import html as H
from nodeswap.report import markdown as MD
from nodeswap.report import model as M
from nodeswap.report import records
from nodeswap.run import journal as J
from nodeswap.run import sessionlog
from nodeswap.run.journal import Journal
from nodeswap.runbooks import probe as P

URL = "http://10.16.100.20/"
SKEW = 3.0  # firstbox's clock runs 3 s ahead of the operator's machine


@pytest.fixture(name="clock")
def _clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(J, "time", c)
    monkeypatch.setattr(sessionlog, "time", c)
    return c


def make_plan() -> Plan:
    targets = {"firstbox": Target("firstbox", "10.16.0.5", "firstbox", via_firstbox=False)}
    steps = [P.start(URL, "switch:proxy0")]
    for n in ("proxy0", "proxy1"):
        steps += [Step(f"r32-stop-{n}", f"switch:{n}", "R32", "stop", "firstbox", "true"),
                  Step(f"r36-console-{n}", f"switch:{n}", "R36", "console", "firstbox", "true",
                       side_effect=False)]
    steps.append(P.stop("switch:proxy1"))
    return Plan("proxy", "4.3.1", ("bionic", "18.04.6"), {}, targets, tuple(steps))


def ms(clock: Clock, later: float = 0.0) -> int:
    """Firstbox's clock, ``later`` seconds after now on this machine's."""
    return round((clock.now + later + SKEW) * 1000)


def record(folder: Path, clock: Clock, *, stop: bool = True) -> M.RunReport:
    j = Journal.open(folder / "z.journal.sqlite")
    try:
        rid = j.create_run(make_plan(), operator="ops@desk", zone="z", run_id="run-1")
        # the start step printed firstbox's time at the middle of its 0.2 s round trip
        mid = ms(clock, 0.1)
        done(j, clock, rid, P.START, 0.2, stdout=f"state=running\npid=7\nnow_ms={mid}\n")
        t0 = ms(clock)  # the probe's first sample
        done(j, clock, rid, "r32-stop-proxy0", 1.0)
        clock.now += 2.0
        outage = (ms(clock), ms(clock, 4.0))  # proxy0's switch: 4 s of 503 then no answer
        clock.now += 6.0
        done(j, clock, rid, "r36-console-proxy0", 0.5)
        done(j, clock, rid, "r32-stop-proxy1", 1.0)
        clock.now += 5.0
        done(j, clock, rid, "r36-console-proxy1", 0.5)
        end = ms(clock)
        runs = (f"{t0} {outage[0] - 250} 200 40\n{outage[0]} {outage[0] + 2000} 503 9\n"
                f"{outage[0] + 2250} {outage[1] - 250} 000 8\n{outage[1]} {end} 200 60\n")
        if stop:
            mid = ms(clock, 0.1)
            done(j, clock, rid, P.STOP, 0.2, stdout=f"state=stopped\n{runs}now_ms={mid}\n")
        j.set_run_state(rid, J.RUN_DONE if stop else J.RUN_FAILED)
        return M.build_report(records.RunRecords.from_journal(j, rid))
    finally:
        j.close()


def test_each_switch_gets_its_windows_on_this_machines_clock(tmp_path: Path,
                                                              clock: Clock) -> None:
    rep = record(tmp_path, clock)
    d = rep.downtime
    assert d is not None and d.state == "collected" and d.url == URL and d.samples == 117
    assert abs((d.clock_offset or 0) - SKEW) < 0.01 and (d.clock_uncertainty or 1) <= 0.1
    p0, p1 = d.switches
    assert (p0.node, p1.node) == ("proxy0", "proxy1") and p0.complete and p0.probed
    assert p0.longest == p0.total == 4.0 and p1.longest == 0.0 and p1.windows == ()
    (w,) = p0.windows
    assert w.closed and w.statuses == (503, 0) and p0.start < w.start < w.end < p0.end
    assert abs(w.start - (p0.start + 3.0)) < 0.01  # the stop's 1 s, then 2 s: no skew left
    assert d.windows == p0.windows


def test_markdown_and_html_show_the_downtime_per_switch(tmp_path: Path, clock: Clock) -> None:
    rep = record(tmp_path, clock)
    md = MD.render_markdown(rep)
    assert "## Console downtime per switch" in md and URL in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| proxy0 "))
    assert "| 4.0 s | 4.0 s |" in row and "(503/no answer)" in row, row
    html = H.render_html(rep)
    assert 'id="downtime"' in html and "503/no answer" in html


def test_a_run_stopped_before_the_stop_step_says_the_samples_are_on_firstbox(
        tmp_path: Path, clock: Clock) -> None:
    d = record(tmp_path, clock, stop=False).downtime
    assert d is not None and d.state == "not collected" and d.switches == () and d.samples == 0
    assert "not collected" in MD.render_markdown(record(tmp_path / "x", clock, stop=False))


def test_no_probe_in_the_plan_no_downtime(tmp_path: Path, clock: Clock) -> None:
    j = Journal.open(tmp_path / "z.journal.sqlite")
    try:
        plan = make_plan()
        bare = Plan(plan.role, plan.installer_version, plan.target_os, {}, plan.targets,
                    tuple(replace(s, after=None) for s in plan.steps
                          if s.id not in (P.START, P.STOP)))
        rid = j.create_run(bare, operator="o", zone="z", run_id="r")
        rep = M.build_report(records.RunRecords.from_journal(j, rid))
    finally:
        j.close()
    assert rep.downtime is None and "Console downtime" not in MD.render_markdown(rep)
