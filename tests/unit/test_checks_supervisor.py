"""R29/R35: supervisorctl status and exec_nodes.sh output parsed and judged (pure)."""

from __future__ import annotations

from nodeswap.checks.supervisor import check, check_exec, parse_exec_nodes, parse_status

OLD = """\
cb_server                        RUNNING   pid 1234, uptime 10 days, 1:02:03
wan_gate_server                  RUNNING   pid 1240, uptime 1:02:03
wanctl_server                    RUNNING   pid 1250, uptime 0:00:09
"""

NEW_BAD = """\
cb_server                        RUNNING   pid 234, uptime 0:01:03
wan_gate_server                  FATAL     Exited too quickly (process log may have details)
extra:worker_0                   STARTING
"""

EXEC = """\
proxy0 proxy1
supervisorctl status
Execing [proxy0] with [supervisorctl status] ...
cb_server                        RUNNING   pid 1234, uptime 1:02:03
wanctl_server                    RUNNING   pid 1250, uptime 0:00:09
Execing [proxy1] with [supervisorctl status] ...
unix:///var/run/supervisor.sock no such file
Done.
"""


def test_parse_status_lines() -> None:
    status = parse_status(OLD + "\n")
    first = status.programs[0]
    assert (first.name, first.state, first.pid, first.uptime, first.line) == (
        "cb_server", "RUNNING", 1234, "10 days, 1:02:03", 1)
    assert status.names == {"cb_server", "wan_gate_server", "wanctl_server"}
    assert status.unparsed == ()


def test_parse_status_keeps_error_lines_apart() -> None:
    status = parse_status("unix:///var/run/supervisor.sock no such file\n")
    assert status.programs == () and status.unparsed == (
        (1, "unix:///var/run/supervisor.sock no such file"),)


def test_all_running_same_set_passes() -> None:
    assert check(parse_status(OLD), parse_status(OLD), node="proxy0") == []


def test_not_running_missing_and_extra_programs_are_findings() -> None:
    diffs = check(parse_status(NEW_BAD), parse_status(OLD), node="proxy0", rule="R35")
    reasons = [d.reason for d in diffs]
    assert reasons == [
        "program wan_gate_server is FATAL, not RUNNING",
        "program extra:worker_0 is STARTING, not RUNNING",
        "program wanctl_server runs on the old node but is missing here",
        "program extra:worker_0 is not on the old node",
    ]
    assert {(d.klass, d.rule, d.section) for d in diffs} == {
        ("unexpected", "R35", "supervisor proxy0")}
    assert diffs[0].new_line == 2 and diffs[2].old_line == 3


def test_no_program_at_all_is_a_finding() -> None:
    diffs = check(parse_status(""))
    assert len(diffs) == 1 and "no program" in diffs[0].reason


def test_parse_exec_nodes_blocks() -> None:
    run = parse_exec_nodes(EXEC)
    assert run.done and run.header == ("proxy0 proxy1", "supervisorctl status")
    assert [(b.node, b.command, b.line) for b in run.blocks] == [
        ("proxy0", "supervisorctl status", 3), ("proxy1", "supervisorctl status", 6)]


def test_exec_nodes_judged_by_output_not_exit_status() -> None:
    diffs = check_exec(parse_exec_nodes(EXEC), nodes=["proxy0", "proxy1"])
    assert [(d.section, d.new, d.new_line) for d in diffs] == [
        ("supervisor proxy1", "unix:///var/run/supervisor.sock no such file", 7)]


def test_exec_nodes_missing_node_and_unfinished_run() -> None:
    cut = EXEC.split("Execing [proxy1]", maxsplit=1)[0]
    diffs = check_exec(parse_exec_nodes(cut), nodes=["proxy0", "proxy1"])
    assert [d.reason.split(":")[0] for d in diffs] == [
        "exec_nodes.sh output has no final `Done.`", "no `Execing [proxy1]` block"]


def test_exec_nodes_against_an_earlier_run() -> None:
    before = EXEC.replace("unix:///var/run/supervisor.sock no such file",
                          "cb_server RUNNING pid 1, uptime 0:00:01")
    after = before.replace("wanctl_server                    RUNNING   pid 1250, uptime "
                           "0:00:09\n", "")
    diffs = check_exec(parse_exec_nodes(after), parse_exec_nodes(before), rule="R35")
    assert [(d.section, d.reason) for d in diffs] == [
        ("supervisor proxy0", "program wanctl_server runs on the old node but is missing here")]


LAB_EXEC = """\
Nodes: [ proxy0 proxy1 ]
Command: [ supervisorctl status ]
Execing [proxy0] with [supervisorctl status] ...
cb_server                        RUNNING   pid 1234, uptime 1:02:03
Execing [proxy1] with [supervisorctl status] ...
Error: the node [proxy1] (127.1.0.12) is unreachable!
Done.
"""


def test_exec_nodes_header_targets_and_unreachable_node() -> None:
    run = parse_exec_nodes(LAB_EXEC)
    assert run.targets == ("proxy0", "proxy1") and run.errors == ()
    diffs = check_exec(run)
    assert [(d.section, d.reason) for d in diffs] == [
        ("supervisor proxy1", "exec_nodes.sh could not run the command there")]
    without_block = LAB_EXEC.replace(
        "Execing [proxy1] with [supervisorctl status] ...\n"
        "Error: the node [proxy1] (127.1.0.12) is unreachable!\n", "")
    diffs = check_exec(parse_exec_nodes(without_block))
    assert [d.section for d in diffs] == ["supervisor proxy1"]
    assert "no `Execing [proxy1]` block" in diffs[0].reason


def test_exec_nodes_unknown_target_in_header() -> None:
    text = ("Nodes: [ proxy0 ]\nCommand: [ supervisorctl status ]\n"
            "Error: the settings file of node [proxy9] does not exist!\n")
    diffs = check_exec(parse_exec_nodes(text))
    assert [d.reason for d in diffs][:2] == [
        "exec_nodes.sh refused a target",
        "exec_nodes.sh output has no final `Done.`: the run did not finish"]
    assert diffs[0].new == "Error: the settings file of node [proxy9] does not exist!"
