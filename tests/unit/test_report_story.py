"""The report's summary and story (issue 13), from journals built through the Journal API
with a fake clock: the first sentence for each end state, step counts that include a
rollback's undone steps, the OS that serves now, sessions on one time line, gates with who
approved them and when, settings changes with secrets masked, old and new host keys.
(tests/lab/test_report_render.py renders journals of real runs with Chromium.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report import (
    KEY,
    KEY_FP,
    NEW_SUP,
    OLD_HA,
    OLD_SUP,
    SECRET,
    Clock,
    attempt,
    done,
    make_plan,
    record_failed_run,
)

from nodeswap.report import html as H
from nodeswap.report import markdown as MD
from nodeswap.report import model as M
from nodeswap.report import records, story
from nodeswap.report.headline import headline, names
from nodeswap.run import journal as J
from nodeswap.run import sessionlog
from nodeswap.run.journal import Journal

OLD_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQ1ut7ZA0dQzBkjWkJ9sSt0x2dkbQ7nPq7fvP0mAvhW old"


# the outputs of a run where nothing changed (the checks find nothing unexpected)
OUTPUTS = {"fetch-proxy0-haproxy": OLD_HA, "r27-haproxy-proxy0": OLD_HA,
           "fetch-proxy0-supervisor": OLD_SUP, "r29-supervisor-proxy0": OLD_SUP,
           "r35-supervisor-proxy0": OLD_SUP}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The journal's clock (and the session log's), a fake: durations are exact."""
    c = Clock()
    monkeypatch.setattr(J, "time", c)
    monkeypatch.setattr(sessionlog, "time", c)
    return c


def report(j: Journal, rid: str) -> M.RunReport:
    return M.build_report(records.RunRecords.from_journal(j, rid))


def finished_run(folder: Path, clock: Clock) -> tuple[Journal, str]:
    """Every step done in two sessions: apply stopped at the gate, resume approved it."""
    j = Journal.open(folder / "z.journal.sqlite")
    rid = j.create_run(make_plan(), operator="ops@desk", zone="zone1", run_id="run-2")
    j.saw_key("proxy0-old", OLD_KEY, "10.16.0.2", rid)
    first = j.begin_session(rid, "apply", "ops@desk")
    steps = [s.id for s in make_plan().steps]
    gate = steps.index("r30-settings-proxy0")
    for sid in steps[:gate]:
        done(j, clock, rid, sid, 1.0, stdout=OUTPUTS.get(sid, ""))
    j.set_step_state(rid, "r30-settings-proxy0", J.GATE)
    j.set_run_state(rid, J.RUN_GATE, "stopped at gate r30-settings-proxy0")
    j.end_session(first, J.RUN_GATE)
    clock.now += 600.0  # ten minutes before someone resumes
    second = j.begin_session(rid, "resume", "lead@jump")
    j.approve(rid, "r30-settings-proxy0", "lead@jump")
    approved_at = clock.now
    j.pin_key("proxy0-new", KEY, "10.16.0.12", rid)
    for sid in steps[gate:]:
        done(j, clock, rid, sid, 1.0, stdout=OUTPUTS.get(sid, ""))
    j.set_run_state(rid, J.RUN_DONE)
    j.end_session(second, J.RUN_DONE)
    assert approved_at > 0
    return j, rid


def test_finished_run_summary_says_what_a_manager_asks(tmp_path: Path, clock: Clock) -> None:
    j, rid = finished_run(tmp_path, clock)
    r = report(j, rid)
    assert headline(r) == ("proxy0 replaced by jammy 22.04 in 10 min 10 s; 0 unexpected "
                           "findings; 1 gate approved by lead@jump.")
    (node,) = r.nodes
    assert node.replaced and node.os_now == "jammy 22.04" and node.old_os == "xenial 16.04.5"
    assert node.old_key == f"SHA256:{_fp(OLD_KEY)} (ssh-ed25519)" and node.new_key and \
        node.new_key.startswith(KEY_FP)
    assert r.outcome_counts == (("done", len(make_plan().steps)),)
    assert r.zone_ids == ("zone1",)


def _fp(key: str) -> str:
    return M.fingerprint(key).split()[0].removeprefix("SHA256:")


def test_sessions_lie_on_one_time_line_with_who_and_how_they_ended(tmp_path: Path,
                                                                    clock: Clock) -> None:
    j, rid = finished_run(tmp_path, clock)
    r = report(j, rid)
    apply, resume = r.sessions
    assert (apply.action, apply.operator, apply.outcome) == ("apply", "ops@desk",
                                                             "stopped at a gate")
    assert (resume.action, resume.operator, resume.outcome) == ("resume", "lead@jump",
                                                                "finished")
    assert apply.left == 0.0 and resume.left > 90.0  # the ten minutes' wait lies between
    assert resume.left + resume.width <= 100.0
    assert apply.steps == 6 and resume.steps == 4
    (gate,) = r.gates
    assert (gate.step_id, gate.state, gate.who) == ("r30-settings-proxy0", "approved",
                                                    "lead@jump")
    assert gate.approved == resume.started and gate.at == resume.left
    md, html = MD.render_markdown(r), H.render_html(r)
    for text in (md, html):
        assert "lead@jump" in text and "stopped at a gate" in text
    assert "| r30-settings-proxy0 | R30 | put proxy0's old values back | lead@jump |" in md


def test_a_session_with_no_end_says_so(tmp_path: Path, clock: Clock) -> None:
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(make_plan(), operator="op", zone="z")
    j.begin_session(rid, "apply", "op@box")
    done(j, clock, rid, "fetch-proxy0-haproxy", 2.0, stdout=OLD_HA)
    (s,) = report(j, rid).sessions
    assert s.ended is None and s.outcome.startswith("no end recorded")
    assert s.width == 100.0 and s.steps == 1


def test_older_journal_gates_and_sessions_not_recorded(tmp_path: Path, clock: Clock) -> None:
    """A run recorded before schema 4: approved gates with no approver, no sessions."""
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(make_plan(), operator="op", zone="z")
    j._db.execute("UPDATE steps SET approved=1 WHERE step_id='r30-settings-proxy0'")
    r = report(j, rid)
    assert r.sessions == ()
    assert r.gates[0].who == "approved (who and when not recorded)"
    assert "sessions were not recorded" in H.render_html(r)
    assert "gate approved (who not recorded)" in headline(r)


def test_rolled_back_run_counts_undone_steps_and_shows_the_old_os(tmp_path: Path,
                                                                  clock: Clock) -> None:
    """Today's bug: a rolled-back run counted its undone steps nowhere and showed the new
    OS; now it counts them and says the old OS serves."""
    j, rid = record_failed_run(tmp_path, clock)
    for sid in ("r30-settings-proxy0", "r17-settings-proxy0"):
        attempt(j, clock, rid, sid, "undo", seconds=0.5)
        j.set_step_state(rid, sid, J.UNDONE)
    j.set_run_state(rid, J.RUN_ROLLED_BACK, "2 steps considered")
    r = report(j, rid)
    counts = dict(r.outcome_counts)
    assert counts["undone"] == 2 and counts["failed"] == 1
    assert sum(counts.values()) == len(r.steps)
    (node,) = r.nodes
    assert not node.replaced and node.os_now == "xenial 16.04.5"
    text = headline(r)
    assert text.startswith("Rolled back after 1 min 13 s: proxy0 serves on xenial 16.04.5 again;"
                           " the upgrade to jammy 22.04 was undone")
    assert "replaced by" not in text and "r33-hosts-proxy0 (R33)" in text
    md = MD.render_markdown(r)
    assert "| OS before → after | proxy0: xenial 16.04.5 → xenial 16.04.5 (unchanged) |" in md
    assert "2 undone" in md and "Before the rollback, the run stopped at step" in md


def test_each_end_state_has_its_sentence(tmp_path: Path, clock: Clock) -> None:
    j, rid = record_failed_run(tmp_path, clock)
    assert headline(report(j, rid)).startswith(
        "proxy0 not replaced (still xenial 16.04.5); the run failed at step r33-hosts-proxy0"
        " (R33) on proxy0-new")
    j.set_step_state(rid, "r33-hosts-proxy0", J.INTERRUPTED)
    j.set_run_state(rid, J.RUN_INTERRUPTED, "stopped by Ctrl-C")
    assert "the run was interrupted at step r33-hosts-proxy0" in headline(report(j, rid))
    assert "## Interrupted step: r33-hosts-proxy0 (R33)" in MD.render_markdown(report(j, rid))
    j.set_step_state(rid, "r33-hosts-proxy0", J.PENDING)
    j.set_step_state(rid, "r30-settings-proxy0", J.GATE)
    j.set_run_state(rid, J.RUN_GATE, "stopped at gate")
    assert "the run waits at gate r30-settings-proxy0 (R30) for approval" in \
        headline(report(j, rid))


def test_a_cut_output_is_never_compared(tmp_path: Path, clock: Clock) -> None:
    """A check step whose run was cut (Ctrl-C: no exit status) has a partial output: the
    report must not find 'unexpected' differences in it."""
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(make_plan(), operator="op", zone="z")
    done(j, clock, rid, "fetch-proxy0-supervisor", 0.5, stdout=OLD_SUP)
    attempt(j, clock, rid, "r29-supervisor-proxy0", "run", seconds=0.5, exit_status=None,
            outcome="interrupted", stdout=NEW_SUP.splitlines()[0] + "\n")
    j.set_step_state(rid, "r29-supervisor-proxy0", J.INTERRUPTED)
    r = report(j, rid)
    (check,) = [c for c in r.services if c.step_id == "r29-supervisor-proxy0"]
    assert check.state == "not run" and "cut or failed" in check.note
    assert r.unexpected == 0


def test_settings_changes_mask_secrets_and_skip_equal_keys() -> None:
    old = 'os_name="xenial"\nzone_password="old-Secret-1"\nhostname="proxy0"\ngone="x"\n'
    new = 'os_name="bionic"\nzone_password="new-Secret-2"\nhostname="proxy0"\nadded="y"\n'
    changes = story.settings_changes(old, new)
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("os_name", "xenial", "bionic"), ("zone_password", "***", "***"),
        ("added", None, "y"), ("gone", "x", None)]


def test_the_report_never_shows_a_settings_secret(tmp_path: Path, clock: Clock) -> None:
    j, rid = finished_run(tmp_path, clock)
    r = report(j, rid)
    keys = [c.key for c in r.nodes[0].settings]
    assert "os_name" in keys and "mgmt_network_address" in keys
    for text in (MD.render_markdown(r), H.render_html(r)):
        assert SECRET not in text


def test_names_reads_like_english() -> None:
    assert [names(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == \
        ["no node", "a", "a and b", "a, b and c"]
