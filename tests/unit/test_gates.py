"""Gates as the operator sees them (nodeswap.run.gates), the hints they print
(nodeswap.run.hints) and the executor gathering a gate on the local transport: the file diff,
the checks run again at the gate (recorded), the approver called with data only (issue 9: the
interactive gate crashed with an SQLite thread error, and a gate without a terminal showed
nothing)."""

from __future__ import annotations

import asyncio
import shlex
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap.errors import StoppedAtGate
from nodeswap.plan.model import Analysis, Plan, Step, Target
from nodeswap.run.events import (
    NORMAL,
    QUIET,
    VERBOSE,
    GateReached,
    RunStarted,
    StepEnded,
    StepLines,
    StepStarted,
)
from nodeswap.run.execute import Executor
from nodeswap.run.gates import Gate, GateCheck, file_diff, rechecks, written_path
from nodeswap.run.hints import Hints, commands_in
from nodeswap.run.journal import Journal
from nodeswap.shell import cmd
from nodeswap.transport.local import LocalConnector


def write_step(path: Path, content: str, **kw: object) -> Step:
    tmp = f"{path}.nodeswap-tmp"
    command = f"cat > {cmd(tmp)} && chmod 644 {cmd(tmp)} && mv -f {cmd(tmp)} {cmd(str(path))}"
    return Step(id="r30-settings-px0", phase="switch:px0", rule="R30", title="old values back",
                target="firstbox", command=command, stdin=content, gate=True,
                **kw)  # type: ignore[arg-type]  # fmt: skip


def check_step(sid: str, fetched: Path, reference: str | None, phase: str = "check") -> Step:
    return Step(id=sid, phase=phase, rule="R28", title="compare", target="firstbox",
                command=f"cat {cmd(str(fetched))}", side_effect=False,
                analysis=Analysis("rc", reference))  # fmt: skip


def fetch_step(sid: str, path: Path) -> Step:
    return Step(id=sid, phase="prepare", rule="R28", title="fetch", target="firstbox",
                command=f"cat {cmd(str(path))}", side_effect=False)


def plan_of(steps: list[Step]) -> Plan:
    t = Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)
    return Plan("proxy", "4.3.0", ("bionic", "18.04.6"), {}, {"firstbox": t}, tuple(steps))


# --- pure ---------------------------------------------------------------------------------


def test_written_path_reads_the_atomic_write_pattern(tmp_path: Path) -> None:
    target = tmp_path / "my settings" / "proxy0"
    assert written_path(write_step(target, "x=1\n")) == str(target)
    assert written_path(Step("a", "p", "R1", "t", "fb", command="virsh start px0")) is None
    broken = Step("b", "p", "R1", "t", "fb", command="cat > 'unterminated", stdin="x")
    assert written_path(broken) is None


def test_file_diff_names_the_rule_and_shows_the_change() -> None:
    diff = file_diff("/pitrix/conf/settings/px0", 'a="1"\nb="2"\n', 'a="1"\nb="3"\n', "R30")
    assert diff[0] == "--- /pitrix/conf/settings/px0 (now)"
    assert diff[1] == "+++ /pitrix/conf/settings/px0 (after R30)"
    assert '-b="2"' in diff and '+b="3"' in diff


def test_summary_lists_attention_items_and_details_list_everything() -> None:
    findings = ("[ignored] bind (R27): moved", "[attention] backend api (R27): sub-region")
    gate = Gate("RUN", write_step(Path("/s/px0"), "x\n"), "firstbox", "127.0.0.9", "cat > ...",
                "abc", ("--- a", "+++ b", "-x", "+y"), "",
                (GateCheck("r27-haproxy-px0", "R27", "haproxy", True, findings),
                 GateCheck("r29-supervisor-px0", "R29", "supervisor", False, (), "exit 1")))
    text = gate.summary()
    assert "GATE r30-settings-px0 (R30) on firstbox (127.0.0.9)" in text
    assert "plan sha256 abc" in text and "command: cat > ..." in text
    assert "    +y" in text
    assert "R27 r27-haproxy-px0: ok (1 ignored differences)" in text
    assert "[attention] backend api" in text and "[ignored]" not in text
    assert "R29 r29-supervisor-px0: COULD NOT RUN" in text
    assert "[ignored] bind" in gate.details()
    assert [c.step_id for c in gate.failed_checks()] == ["r29-supervisor-px0"]


def test_long_diffs_are_cut_in_the_summary_not_in_the_details() -> None:
    diff = tuple(f"+line {i}" for i in range(100))
    gate = Gate("RUN", write_step(Path("/s"), ""), "fb", "127.0.0.1", "c", diff=diff)
    assert "+line 99" not in gate.summary() and "60 more lines (answer d)" in gate.summary()
    assert "+line 99" in gate.details()


def test_rechecks_take_the_node_s_checks_and_earlier_switches_only() -> None:
    """Of an earlier switch, only its post-switch checks (R33's network checks of the switched
    VM, R35/R36; issue 10): its R31 look and its last look before R32 read hosts that moved
    away (a --yes resume stopped at the next gate on them)."""
    px0, px1 = Target("px0-new", "127.0.0.2", "px0-new"), Target("px1-new", "127.0.0.3", "n1")
    fb = Target("firstbox", "127.0.0.1", "fb", via_firstbox=False)

    def chk(sid: str, target: str, phase: str = "check", rule: str = "R27") -> Step:
        return Step(sid, phase, rule, "t", target, "true", side_effect=False,
                    analysis=Analysis("rc", None))  # fmt: skip

    def gate(node: str) -> Step:
        return Step(f"r30-{node}", f"switch:{node}", "R30", "t", "firstbox", "true", gate=True)

    from nodeswap.plan.model import NodePlan  # noqa: PLC0415

    nodes = {n: NodePlan(n, "", "", "", "", "", "", "", None, None) for n in ("px0", "px1")}
    steps = (chk("c0", "px0-new"), chk("c1", "px1-new"), chk("zone", "firstbox"), gate("px0"),
             # the last look before px0's R32 read px0's new VM at its temporary address
             chk("look-px0", "px0-new", "switch:px0", "R32"),
             chk("r31-px0", "px0-new", "switch:px0", "R31"),
             chk("r33-net-px0", "px0-switched", "switch:px0", "R33"),
             chk("r35-px0", "firstbox", "switch:px0", "R35"), gate("px1"),
             Step("r37", "archive", "R37", "t", "firstbox", "virsh list --all", gate=True,
                  side_effect=False))  # fmt: skip
    plan = Plan("proxy", "4.3", ("b", "18"), nodes,
                {"px0-new": px0, "px1-new": px1, "firstbox": fb}, steps)
    assert [s.id for s in rechecks(plan, plan.step("r30-px0"))] == ["c0", "zone"]
    assert [s.id for s in rechecks(plan, plan.step("r30-px1"))] == ["c1", "zone", "r33-net-px0",
                                                                    "r35-px0"]
    assert [s.id for s in rechecks(plan, plan.step("r37"))] == ["r33-net-px0", "r35-px0"]


def test_hints_repeat_the_invocation_options_quoted_only_where_needed(tmp_path: Path) -> None:
    lab = tmp_path / "a lab"
    h = Hints.of(lab=lab)
    line = h.next("resume", "20261202-070000-abcdef", "--approve", "r30-settings-proxy1")
    assert line == ("next: nodeswap resume 20261202-070000-abcdef --approve r30-settings-proxy1"
                    f" --lab '{lab}'")
    assert shlex.split(commands_in(f"text\n{line}\nmore")[0])[-1] == str(lab)
    assert Hints().command("rollback", "R") == "nodeswap rollback R"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
               min_size=1))
def test_a_hint_is_one_line_that_the_shell_splits_back_to_its_words(path: str) -> None:
    h = Hints(("--state-dir", path.replace("\n", "_").replace("\r", "_")))
    line = h.command("resume", "RUN")
    assert "\n" not in line
    assert shlex.split(line) == ["nodeswap", "resume", "RUN", *h.options]


def test_step_lines_levels_and_counter() -> None:
    events = [RunStarted("R", 84), StepStarted("R", "s", "run", "fb", "R21", "launch", 25),
              StepEnded("R", "s", "fb", "done", 0, 0.4)]
    normal = "".join(map(StepLines(NORMAL), events))
    assert "[26/84] done    s (R21) on fb: launch 0.4s" in normal
    assert len(normal.splitlines()) == 2  # the run's start and one line for the step
    assert "".join(map(StepLines(QUIET), events)) == ""
    verbose = "".join(map(StepLines(VERBOSE), events))
    assert "[26/84] s (R21) on fb: launch" in verbose
    failed = StepEnded("R", "s", "fb", "failed", 1, 0.1, "failed")
    assert "failed" in StepLines(QUIET)(failed)
    gate = GateReached("R", "g", "fb", "R30", "t", "c", None, "GATE g summary\n")
    assert StepLines(QUIET)(gate) == "GATE g summary\n"


# --- the executor at a gate (local transport, real bash) -----------------------------------


def gate_rig(tmp_path: Path, approver: object, *, change_rc: bool = False
             ) -> tuple[Executor, Journal, str]:  # fmt: skip
    settings = tmp_path / "settings"
    settings.write_text('addr="10.0.0.51"\n')
    old_rc, new_rc = tmp_path / "old.rc", tmp_path / "new.rc"
    old_rc.write_text("#!/bin/sh\nexit 0\n")
    new_rc.write_text("#!/bin/sh\nexit 0\n")
    # a hand edit after the check ran (and passed): seen when the check runs again at the gate
    edit = Step("edit", "check", "R0", "hand edit", "firstbox",
                command=f"printf '#!/bin/sh\\nexit 1\\n' > {cmd(str(new_rc))}")
    plan = plan_of([fetch_step("fetch-rc", old_rc), check_step("r28-rc", new_rc, "fetch-rc"),
                    *([edit] if change_rc else []),
                    write_step(settings, 'addr="10.0.0.21"\n')])  # fmt: skip
    journal = Journal.open(tmp_path / "state" / "z.journal.sqlite")
    events: list[object] = []
    ex = Executor(journal, LocalConnector(), events=events.append,
                  approver=approver,  # type: ignore[arg-type]
                  lock_path=str(tmp_path / "lock"))  # fmt: skip
    rid = ex.start(plan, operator="tester")
    ex.events = events  # type: ignore[attr-defined]
    return ex, journal, rid


def test_approver_gets_the_gate_in_another_thread_without_the_journal(tmp_path: Path) -> None:
    seen: list[Gate] = []

    def approve(gate: Gate) -> bool:
        assert threading.current_thread() is not threading.main_thread()
        seen.append(gate)
        return True

    ex, journal, rid = gate_rig(tmp_path, approve)
    asyncio.run(ex.execute(rid))
    (gate,) = seen
    assert gate.id == "r30-settings-px0"
    assert '-addr="10.0.0.51"' in gate.diff and '+addr="10.0.0.21"' in gate.diff
    assert [(c.step_id, c.ok) for c in gate.checks] == [("r28-rc", True)]
    kinds = [a.kind for a in journal.attempts(rid, "r28-rc")]
    assert "gate-check" in kinds  # the check run again at the gate is recorded
    shown = [e for e in ex.events if isinstance(e, GateReached)]  # type: ignore[attr-defined]
    assert shown[0].summary == gate.summary()
    assert (tmp_path / "settings").read_text() == 'addr="10.0.0.21"\n'


def test_a_coroutine_approver_is_awaited_and_no_stops_with_the_next_command(
    tmp_path: Path,
) -> None:
    async def refuse(gate: Gate) -> bool:
        await asyncio.sleep(0)
        return False

    ex, _journal, rid = gate_rig(tmp_path, refuse, change_rc=True)
    with pytest.raises(StoppedAtGate) as err:
        asyncio.run(ex.execute(rid))
    assert commands_in(str(err.value)) == [f"nodeswap resume {rid} --approve r30-settings-px0",
                                           f"nodeswap rollback {rid}"]
    assert (tmp_path / "settings").read_text() == 'addr="10.0.0.51"\n'
    shown = [e for e in ex.events if isinstance(e, GateReached)]  # type: ignore[attr-defined]
    assert "R28 r28-rc: FAILED" in shown[0].summary
    assert "[unexpected] rc.local (R28)" in shown[0].summary


def test_the_journal_refuses_other_threads(tmp_path: Path) -> None:
    """Why the approver never gets the journal: SQLite objects stay in their thread."""
    journal = Journal.open(tmp_path / "j.sqlite")
    errors: list[BaseException] = []

    def use() -> None:
        try:
            journal.runs()
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert errors


def test_findings_keep_their_continuation_lines_and_ignored_ones_stay_hidden() -> None:
    from nodeswap.run.gates import group_findings  # noqa: PLC0415

    text = ("[ignored] listen website (R27): moved\n  bind 0.0.0.0:8081\n  balance source\n"
            "[attention] backend api (R27): sub-region\n  server api_0 10.0.0.1:80")
    items = group_findings(text)
    assert len(items) == 2 and items[0].endswith("balance source")
    gate = Gate("RUN", write_step(Path("/s"), ""), "fb", "127.0.0.1", "c",
                checks=(GateCheck("r27", "R27", "haproxy", True, items),))
    summary = gate.summary()
    assert "bind 0.0.0.0:8081" not in summary and "server api_0 10.0.0.1:80" in summary
    assert "bind 0.0.0.0:8081" in gate.details()
