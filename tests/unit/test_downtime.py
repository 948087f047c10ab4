"""The console probe (issue 10), its pure parts: summarising samples into windows of
unavailability and per-switch downtime (checks.downtime), the probe's script and steps
(runbooks.probe) and where they sit in the plan. Its behaviour on hosts is tested against the
lab (tests/lab/upgrade_kit.py ``assert_console_probed``, run by every e2e upgrade)."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_plan import plan_for
from zonekit import KINDS

from nodeswap.checks import downtime as D
from nodeswap.plan import graph
from nodeswap.run.probe import prefixed
from nodeswap.run.runs import read_plan
from nodeswap.runbooks import deadman
from nodeswap.runbooks import probe as P

T0 = 1_700_000_000_000
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def samples(*spec: tuple[int, int]) -> list[D.Sample]:
    """(offset ms from T0, status) pairs."""
    return [D.Sample(T0 + ms, status) for ms, status in spec]


def test_a_503_stretch_is_one_closed_window_from_its_first_failure_to_the_next_answer() -> None:
    s = samples((0, 200), (250, 200), (500, 503), (750, 0), (1000, 503), (1250, 200), (1500, 200))
    assert D.windows(D.runs(s)) == [D.Window(T0 + 500, T0 + 1250, True, (503, 0))]
    assert D.windows(D.runs(s))[0].duration_ms == 750


def test_a_window_still_open_at_the_end_or_at_a_gap_is_a_lower_bound() -> None:
    s = samples((0, 200), (250, 0), (500, 0), (20_500, 0), (20_750, 200), (21_000, 0))
    ws = D.windows(D.runs(s))
    assert ws == [D.Window(T0 + 250, T0 + 500, False, (0,)),  # the probe paused: a gap
                  D.Window(T0 + 20_500, T0 + 20_750, True, (0,)),
                  D.Window(T0 + 21_000, T0 + 21_000, False, (0,))]


def test_redirects_answer_and_server_errors_do_not() -> None:
    assert D.answered(200) and D.answered(302) and not D.answered(0)
    assert not D.answered(503) and not D.answered(404) and not D.answered(199)


def test_parsing_reads_samples_runs_and_firstbox_time_and_ignores_the_rest() -> None:
    text = f"state=stopped\npid=42\n{T0} {T0 + 750} 200 4\n{T0 + 1000} {T0 + 1000} 000 1\n" \
           f"garbage 1 2\nnow_ms={T0 + 5}\n"
    assert D.parse_runs(text) == [D.Run(T0, T0 + 750, 200, 4), D.Run(T0 + 1000, T0 + 1000, 0, 1)]
    assert D.firstbox_now(text) == T0 + 5 and D.firstbox_now("no time") is None
    assert D.parse_samples(f"{T0 + 9} 200\nx\n{T0} 503\n") == samples((0, 503), (9, 200))


def test_the_clock_offset_comes_from_the_shortest_round_trip() -> None:
    t = T0 / 1000
    got = D.clock_offset([(t, t + 2.0, T0 + 3000), (t + 10, t + 10.2, T0 + 10_100 + 500)])
    assert got == (500, 100)
    assert D.clock_offset([]) is None


def test_per_switch_clips_windows_to_each_span_and_maps_the_clock() -> None:
    off = 2000  # firstbox runs 2 s ahead
    s = samples(*[(ms, 503 if 10_000 <= ms < 13_000 else 200) for ms in range(0, 40_000, 250)])
    t = T0 / 1000
    spans = [("proxy0", t + 9 - 2, t + 20 - 2), ("proxy1", t + 25 - 2, t + 35 - 2),
             ("proxy2", t + 38 - 2, None)]
    got = D.per_switch(D.runs(s), spans, off)
    assert [g.node for g in got] == ["proxy0", "proxy1", "proxy2"]
    assert got[0].longest_ms == got[0].total_ms == 3000 and got[0].probed and got[0].complete
    assert got[1].windows == () and got[1].longest_ms == 0 and got[1].probed
    assert not got[2].complete and got[2].span[1] == pytest.approx(t + 39.75 - 2)


def test_a_span_the_probe_did_not_cover_is_not_probed() -> None:
    s = samples((0, 200), (250, 200), (30_000, 200), (30_250, 200))
    t = T0 / 1000
    assert not D.per_switch(D.runs(s), [("p", t + 1, t + 2)], 0)[0].probed
    assert not D.per_switch(D.runs(s), [("p", t - 5, t + 0.2)], 0)[0].probed
    assert D.per_switch(D.runs(s), [("p", t + 30.1, t + 30.2)], 0)[0].probed


# ---- properties (hypothesis) ------------------------------------------------------------
STATUS = st.sampled_from([0, 200, 200, 200, 302, 404, 503])


@st.composite
def sample_lists(draw: st.DrawFn) -> list[D.Sample]:
    steps = draw(st.lists(st.tuples(st.sampled_from([250, 250, 1250, 2250, 12_000]), STATUS),
                          max_size=60))
    out, t = [], T0
    for dt, status in steps:
        t += dt
        out.append(D.Sample(t, status))
    return out


def brute_force(s: list[D.Sample], gap: int = D.GAP_MS) -> list[D.Window]:
    """Sample by sample, without runs: the definition of the module docstring."""
    out: list[D.Window] = []
    i = 0
    while i < len(s):
        if D.answered(s[i].status):
            i += 1
            continue
        j, seen = i, [s[i].status]
        while j + 1 < len(s) and not D.answered(s[j + 1].status) and \
                s[j + 1].ms - s[j].ms <= gap:
            j += 1
            seen += [s[j].status] if s[j].status not in seen else []
        closed = j + 1 < len(s) and s[j + 1].ms - s[j].ms <= gap
        out.append(D.Window(s[i].ms, s[j + 1].ms if closed else s[j].ms, closed, tuple(seen)))
        i = j + 1
    return out


@given(sample_lists())
def test_windows_from_runs_are_the_windows_of_the_samples(s: list[D.Sample]) -> None:
    rs = D.runs(s)
    assert D.windows(rs) == brute_force(s)
    assert sum(r.count for r in rs) == len(s)
    assert all(a.last_ms < b.first_ms for a, b in pairwise(rs))


@given(sample_lists(), st.integers(0, 200_000), st.integers(0, 200_000))
def test_per_switch_windows_lie_in_their_span_and_add_up(s: list[D.Sample], a: int,
                                                         b: int) -> None:
    lo, hi = sorted((a, b))
    t = T0 / 1000
    (got,) = D.per_switch(D.runs(s), [("p", t + lo / 1000, t + hi / 1000)], 0)
    assert all(T0 + lo <= w.start_ms <= w.end_ms <= T0 + hi for w in got.windows)
    assert got.total_ms == sum(w.duration_ms for w in got.windows) >= got.longest_ms >= 0
    assert all(x.end_ms <= y.start_ms for x, y in pairwise(got.windows))
    if all(D.answered(x.status) for x in s):
        assert got.windows == ()


@given(sample_lists(), st.integers(0, 200_000), st.integers(0, 200_000),
       st.floats(0, 0.999), st.floats(0, 0.999))
@example(s=[D.Sample(ms=T0 + 250, status=0)], a=249, b=249, fa=0.5, fb=0.5)  # no whole ms
def test_per_switch_windows_lie_in_spans_that_are_not_whole_ms(
        s: list[D.Sample], a: int, b: int, fa: float, fb: float) -> None:
    """The executor's step times are floats (R32's start at ...801177 s): a window cut to the
    span never starts before it nor ends after it (found by the netns lab: ms rounding)."""
    lo, hi = sorted((a + fa, b + fb))
    t = T0 / 1000
    (got,) = D.per_switch(D.runs(s), [("p", t + lo / 1000, t + hi / 1000)], 0)
    assert all(T0 + lo <= w.start_ms <= w.end_ms <= T0 + hi for w in got.windows)


@settings(max_examples=25, deadline=None)
@given(sample_lists())
def test_the_stop_steps_bash_prints_the_runs(s: list[D.Sample]) -> None:
    text = "".join(f"{x.ms} {x.status:03d}\n" for x in s) + "not a sample\n"
    out = subprocess.run(["bash", "-c", 'sm=/dev/stdin; ' + P.COMPACT], input=text,
                         capture_output=True, text=True, check=True).stdout
    assert D.parse_runs(out) == D.runs(s)


# ---- the script and the plan ------------------------------------------------------------
def test_the_job_is_valid_bash_and_quotes_the_url() -> None:
    url = "http://1.2.3.4/$(reboot)'x"
    text = P.job_script(url)
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    assert "URL='http://1.2.3.4/$(reboot)'\"'\"'x'\n" in text
    for cmd in (P.start("http://v/", "switch:p").command, P.stop_command(),
                P.stop_command(collect=False)):
        subprocess.run(["bash", "-n"], input=cmd, text=True, check=True)


@pytest.mark.parametrize("name", ["zone", "zone-vg"])
def test_the_probe_spans_every_switch(name: str) -> None:
    plan = read_plan(GOLDEN / f"{name}.plan.json")
    ids = [s.id for s in plan.steps]
    order = [s.id.removeprefix("r32-stop-") for s in plan.steps
             if s.id.startswith("r32-stop-")]  # switch order
    first, last = order[0], order[-1]
    start, stop = plan.step(P.START), plan.step(P.STOP)
    assert ids.index(P.START) + 1 == ids.index(deadman.arm_id(first))
    assert ids.index(P.STOP) == ids.index(deadman.disarm_id(last)) + 1
    assert start.phase == f"switch:{first}" and stop.phase == f"switch:{last}"
    assert start.target == stop.target == "firstbox" and start.undo is not None
    assert all(ids.index(P.START) < ids.index(f"r32-stop-{n}") < ids.index(f"r36-console-{n}")
               < ids.index(P.STOP) for n in plan.nodes)
    anc, pos = graph.ancestors(plan.steps), {s.id: i for i, s in enumerate(plan.steps)}
    for n in plan.nodes:  # by the graph's rules too: started before, stopped after
        assert anc[f"r32-stop-{n}"] >> pos[P.START] & 1
        assert anc[P.STOP] >> pos[f"r36-console-{n}"] & 1


@pytest.mark.parametrize("kind", KINDS)
def test_no_console_no_probe(kind: str) -> None:
    plan = plan_for(kind)
    if not any(s.id.startswith("r36-console-") for s in plan.steps):
        assert not any(s.id in (P.START, P.STOP) for s in plan.steps)


def test_the_executor_gives_the_probe_steps_the_runs_folder() -> None:
    step = P.stop("switch:p")
    got = prefixed(step, step.command, "/var/lib/nodeswap/runs/R 1")
    assert got.startswith("NODESWAP_RUN_DIR='/var/lib/nodeswap/runs/R 1'; ")
    other = deadman.disarm("p", "switch:p")
    assert prefixed(other, other.command, "/x") == other.command


def test_the_probe_asks_a_console_named_by_host_through_the_vip() -> None:
    """Issue 10: like R36 (checks.console.pin), a console URL that names a host is requested
    of the VIP (curl --resolve, Host header and TLS name kept); an address URL as it is."""
    from nodeswap.runbooks.probe import job_script  # noqa: PLC0415

    named = job_script("https://console.pek3a.test/", "10.16.100.250")
    assert "PIN=(--resolve console.pek3a.test:443:10.16.100.250)" in named
    assert "PIN=()" in job_script("http://10.16.100.250/", "10.16.100.250")
    assert "PIN=()" in job_script("https://console.pek3a.test/", None)
