"""plan refuses a zone left half-applied by an unfinished run that holds no lock (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from zonekit import make_spec, make_zone

from nodeswap.errors import EXIT_INPUT, InputError
from nodeswap.live.planzone import refuse_unfinished
from nodeswap.plan.build import build_plan
from nodeswap.run import journal as J
from nodeswap.run.hints import Hints, commands_in
from nodeswap.run.journal import Journal
from nodeswap.run.statedir import unfinished_runs

FB = "127.16.100.2"


def record(state: Path, *, firstbox: str = FB, state_now: str = J.RUN_GATE,
           began: bool = True, name: str = "pek3a") -> str:
    plan = build_plan(make_zone("novg"), make_spec(seed=1), today="20261127")
    j = Journal.open(state / f"{name}.journal.sqlite")
    rid = j.create_run(plan, operator="op@here", zone=name,
                       connection={"mode": "ssh", "firstbox": ["firstbox", firstbox]})
    if began:
        aid = j.begin_attempt(rid, plan.steps[0].id, "run", "firstbox", "true")
        j.end_attempt(aid, outcome="ok", exit_status=0)
    j.set_run_state(rid, state_now, "stopped")
    j.close()
    return rid


def test_only_begun_unfinished_runs_of_this_firstbox(tmp_path: Path) -> None:
    gate = record(tmp_path)
    record(tmp_path, state_now=J.RUN_DONE)
    record(tmp_path, state_now=J.RUN_ROLLED_BACK)
    record(tmp_path, state_now=J.RUN_FAILED, began=False)  # never ran a step
    record(tmp_path, firstbox="127.17.100.2", name="other")
    (tmp_path / "sub").mkdir()
    failed = record(tmp_path / "sub", state_now=J.RUN_FAILED)
    found = unfinished_runs(tmp_path, FB)
    assert sorted(rid for _, rid in found) == sorted([gate, failed])
    for j, _ in found:
        j.close()


def test_refused_naming_the_run_with_next_lines(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rid = record(tmp_path)
    monkeypatch.setattr("sys.argv", ["nodeswap", "plan", "--lab", "/l", "--spec", "s.yaml"])
    hints = Hints.of(lab=Path("/l"))
    with pytest.raises(InputError) as err:
        refuse_unfinished(tmp_path, FB, hints, ignore=False)
    text = str(err.value)
    assert err.value.exit_code == EXIT_INPUT
    assert f"run {rid} of this zone (firstbox {FB}) is unfinished (gate)" in text
    cmds = commands_in(text)
    step = build_plan(make_zone("novg"), make_spec(seed=1), today="20261127").steps[0].id
    assert f"nodeswap resume {rid} --approve" in cmds[0] and "--lab /l" in cmds[0]
    assert cmds[1] == f"nodeswap rollback {rid} --lab /l"
    assert cmds[2] == "nodeswap plan --lab /l --spec s.yaml --ignore-unfinished"
    assert step  # the plan has steps


def test_ignore_unfinished_goes_on_with_a_warning(tmp_path: Path) -> None:
    rid = record(tmp_path)
    [w] = refuse_unfinished(tmp_path, FB, Hints(), ignore=True)
    assert f"run {rid}" in w and "planned anyway (--ignore-unfinished)" in w


def test_nothing_unfinished_nothing_said(tmp_path: Path) -> None:
    record(tmp_path, state_now=J.RUN_DONE)
    assert refuse_unfinished(tmp_path, FB, Hints(), ignore=False) == []
