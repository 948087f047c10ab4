"""R34 through exec_nodes.sh, judged node by node from its output (issue 10): never by its
exit code; a node being upgraded must have done it, any other node that did not is a warning
(*attention*) naming it."""

from __future__ import annotations

from pathlib import Path

from nodeswap.checks import analyze
from nodeswap.checks.execnodes import done_marker
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal, OutputRecorder
from nodeswap.transport.redact import Redactor

OPTS = {"nodes": "proxy0,proxy1", "rule": "R34", "what": "forget the stale host keys",
        "remedy": "ssh-keygen -R there"}


def run_output(blocks: dict[str, str], *, done: bool = True) -> str:
    """exec_nodes.sh's output shape (reference/pitrix.md section 4)."""
    out = [f"Nodes: [ {' '.join(sorted(blocks))} ]", "Command: [ forget ]"]
    for node in sorted(blocks):
        out += [f"Execing [{node}] with [forget] ...", blocks[node]]
    return "\n".join(out + (["Done."] if done else [])) + "\n"


OK = f"# Host proxy0 found: line 3\n/root/.ssh/known_hosts updated.\n{done_marker()}"


def test_every_node_done_is_ok() -> None:
    res = analyze("exec_nodes", run_output({"proxy0": OK, "proxy1": done_marker(),
                                            "webservice0": OK}), None, OPTS)
    assert res.ok and res.findings == ()


def test_an_unrelated_node_down_is_a_warning_naming_it() -> None:
    down = "Error: the node [webservice1] (127.16.100.5) is unreachable!"
    res = analyze("exec_nodes", run_output({"proxy0": OK, "proxy1": OK, "webservice1": down}),
                  None, OPTS)
    assert res.ok
    (f,) = res.findings
    assert f.klass == "attention" and f.rule == "R34" and "webservice1" in f.reason
    assert f.new == down and "ssh-keygen -R there" in f.reason


def test_a_node_being_upgraded_must_succeed() -> None:
    failed = "ssh: connect to host proxy1 port 22: Connection refused"
    res = analyze("exec_nodes", run_output({"proxy0": OK, "proxy1": failed}), None, OPTS)
    assert not res.ok
    (f,) = res.findings
    assert f.klass == "unexpected" and f.section == "exec_nodes proxy1" and f.new == failed


def test_a_command_that_failed_silently_is_not_done() -> None:
    """exec_nodes.sh reports a failed remote command as OK: no end marker, not done."""
    res = analyze("exec_nodes", run_output({"proxy0": "do_known_hosts: failed", "proxy1": OK}),
                  None, OPTS)
    assert not res.ok and "no end marker" in res.findings[0].new  # type: ignore[operator]


def test_an_upgraded_node_missing_or_an_unfinished_run_is_unexpected() -> None:
    res = analyze("exec_nodes", run_output({"proxy0": OK}, done=False), None, OPTS)
    reasons = [f.reason for f in res.findings if f.klass == "unexpected"]
    assert len(reasons) == 2 and any("Done." in r for r in reasons)
    assert any("proxy1" in r for r in reasons)


def test_a_refused_target_is_unexpected() -> None:
    text = "Nodes: [ ]\nError: the settings file of node [proxy9] does not exist!\n"
    res = analyze("exec_nodes", text, None, {"nodes": "", "rule": "R34"})
    assert not res.ok


def test_the_report_names_the_unreachable_node_as_a_warning(tmp_path: Path) -> None:
    """The run goes on past R34 with webservice1 down; its report names webservice1 among
    what to do by hand (attention), in Markdown and HTML, and counts no unexpected finding."""
    from zonekit import make_spec, make_zone  # noqa: PLC0415 (tests/unit helper)

    from nodeswap.plan.build import build_plan  # noqa: PLC0415
    from nodeswap.report import RunRecords, build_report  # noqa: PLC0415
    from nodeswap.report.html import render_html  # noqa: PLC0415
    from nodeswap.report.markdown import render_markdown  # noqa: PLC0415

    plan = build_plan(make_zone("novg", vip="10.16.100.100"), make_spec(seed=1),
                      today="20240101")
    step = plan.step("r34-known-hosts-all-proxy0")
    assert step.analysis is not None and step.analysis.kind == "exec_nodes"
    j = Journal.open(tmp_path / "z.journal.sqlite")
    rid = j.create_run(plan, operator="op", zone="z")
    down = "Error: the node [webservice1] (10.16.100.5) is unreachable!"
    out = run_output({"proxy0": OK, "proxy1": OK, "webservice1": down})
    j.set_step_state(rid, step.id, J.RUNNING)
    aid = j.begin_attempt(rid, step.id, "run", "firstbox", step.command)
    rec = OutputRecorder(Redactor())
    rec.feed("stdout", out)
    out_z, err_z, _, _ = rec.finish()
    j.end_attempt(aid, outcome="ok", exit_status=0, stdout_z=out_z, stderr_z=err_z)
    j.set_step_state(rid, step.id, J.DONE)
    rep = build_report(RunRecords.from_journal(j, rid))
    assert rep.unexpected == 0
    (found,) = [(c, d) for c, d in rep.attention if c.step_id == step.id]
    assert found[1].rule == "R34" and "webservice1" in found[1].reason
    assert "webservice1 did not forget" in render_markdown(rep)
    assert "webservice1 did not forget" in render_html(rep)
