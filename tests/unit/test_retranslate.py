# ruff: noqa: RUF001 (the Chinese text keeps its full-width punctuation)
"""Step titles and plan warnings shown in the operator's language (issue 13).

They are plan data: English in the plan (its digest, JSON, the journal), made from N_-marked
templates; ``i18n.retranslate`` matches a shown title back to its template and formats the
Chinese translation with the values it holds. Here: English is the identity; every title and
warning of both golden plans comes out Chinese; for every template and arbitrary values,
the match gives back the translation formatted with those values; unknown text is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nodeswap import datatext, i18n
from nodeswap.plan.rules import R16_WARNING
from nodeswap.runbooks import common, proxy, switch

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CJK = re.compile(r"[\u4e00-\u9fff]")
SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789./_-", min_size=1, max_size=16)


@pytest.fixture
def zh() -> Iterator[None]:
    before = i18n._chosen
    i18n.set_language("zh")
    yield
    i18n._chosen = before


@pytest.fixture
def en() -> Iterator[None]:
    before = i18n._chosen
    i18n.set_language("en")
    yield
    i18n._chosen = before


def golden_texts() -> list[str]:
    out: list[str] = []
    for path in sorted(GOLDEN.glob("*.plan.json")):
        plan = json.loads(path.read_text())
        out += [s["title"] for s in plan["steps"]] + list(plan["warnings"])
    return out


def data_templates() -> list[str]:
    return [t for t in i18n.data_templates() if datatext.compile_template(t) is not None]


@given(text=st.text())
def test_english_shows_the_data_as_it_is(text: str) -> None:
    before = i18n._chosen
    i18n.set_language("en")
    try:
        assert i18n.retranslate(text) == text
    finally:
        i18n._chosen = before


def test_every_title_and_warning_of_the_golden_plans_is_shown_in_chinese(zh: None) -> None:
    texts = golden_texts()
    assert len(texts) > 200  # both example zones: every step, every warning
    english = [t for t in texts if i18n.retranslate(t) == t or not CJK.search(i18n.retranslate(t))]
    assert english == []


def test_the_values_are_kept_and_nested_titles_translated(zh: None) -> None:
    title = common.KEEP_OLD.format(node="proxy0", what="/etc/haproxy/haproxy.cfg", rules="R27")
    assert i18n.retranslate(title) == "保存旧 proxy0 的 /etc/haproxy/haproxy.cfg，供 R27 使用"
    # R33's steps moved before R32: a title within a title, both translated
    early = switch.EARLY.format(title=switch.APT_UPDATE, address="10.1.0.51")
    assert i18n.retranslate(early) == ("更新软件包列表（apt-get update），在 R32 之前于 "
                                       "10.1.0.51 执行（R20、R30、R33）")
    # a plain value that is itself a marked message (the fetched supervisor status)
    sup = common.KEEP_OLD.format(node="proxy1", what="supervisor status", rules="R29/R35")
    assert i18n.retranslate(sup) == "保存旧 proxy1 的 supervisor 状态，供 R29/R35 使用"
    # R16's reason is a template of its own
    r16 = R16_WARNING.format(address="10.1.1.254", node="proxy0",
                             why="the last host of 10.1.1.0/24")
    assert "（10.1.1.0/24 的最后一个主机地址）" in i18n.retranslate(r16)
    assert i18n.retranslate(proxy.NO_CONSOLE_WARNING).startswith("R36：")


def test_unknown_text_and_values_with_their_own_words_stay(zh: None) -> None:
    assert i18n.retranslate("a title nobody templated") == "a title nobody templated"
    assert i18n.retranslate("") == ""
    # a value is not translated unless it is a marked message itself
    title = switch.STOP_OLD.format(node="done")  # "done" is a state word, but no space in it
    assert i18n.retranslate(title) == "停止旧 done 的服务"


def test_english_titles_are_unchanged(en: None) -> None:
    for t in golden_texts():
        assert i18n.retranslate(t) == t


@given(data=st.data())
def test_any_values_come_back_in_the_translation(data: st.DataObject) -> None:
    template = data.draw(st.sampled_from(data_templates()))
    names = sorted(set(datatext.PLACEHOLDER.findall(template)))
    values = {n: data.draw(SAFE, label=n) for n in names}
    english = template.format(**values)
    reg = datatext.registry(tuple(i18n.data_templates()))
    found = reg.matches(english)
    # unambiguous: this template, and only it, gives back exactly these values
    assume([t.text for t, _ in found] == [template] and found[0][1] == values)
    before = i18n._chosen
    i18n.set_language("zh")
    try:
        assert i18n.retranslate(english) == i18n._(template).format(**values)
    finally:
        i18n._chosen = before


def test_templates_are_tried_most_specific_first() -> None:
    reg = datatext.Registry.of(["keep {file} as {archive} (or {dated} if taken)",
                                "keep {a} as {b}", "the {x} of {y}", "plain words"])
    assert [t.text for t in reg.templates] == [
        "keep {file} as {archive} (or {dated} if taken)", "keep {a} as {b}", "the {x} of {y}"]
    assert reg.plain == frozenset({"plain words"})
    got = reg.matches("keep x as y (or z if taken)")
    assert got[0][1] == {"file": "x", "archive": "y", "dated": "z"}
    # a name used twice must hold the same value twice
    twice = datatext.Registry.of(["{node} and {node}"])
    assert twice.matches("a and a") and not twice.matches("a and b")
    assert datatext.compile_template("{{literal}} {x}") is None
    assert datatext.compile_template("{0} and {x!r}") is None


def test_a_translation_naming_other_placeholders_keeps_the_english() -> None:
    got = datatext.match("stop x", ("stop {node}",), lambda t: "停止 {host}")
    assert got == "stop x"


def test_progress_lines_and_gate_text_show_the_title_translated(zh: None) -> None:
    from nodeswap.run.events import GateReached, StepEnded, StepLines, StepStarted  # noqa: PLC0415

    title = switch.SHUT_DOWN.format(node="proxy0")
    lines = StepLines()
    lines(StepStarted("run1", "r32-shutdown-proxy0", "run", "proxy0-old", "R32", title, 3))
    out = lines(StepEnded("run1", "r32-shutdown-proxy0", "proxy0-old", "done", 0, 1.0))
    assert "关闭旧 proxy0" in out and title not in out
    gate = lines(GateReached("run1", "r30-settings-proxy0", "firstbox", "R30",
                             switch.SETTINGS_BACK.format(node="proxy0", address="10.1.0.2"),
                             "cat > x"))
    assert "将 proxy0 旧的 MGMT/EIP 值（10.1.0.2）写回其 settings" in gate


def test_live_plan_warnings_are_shown_in_chinese(zh: None) -> None:
    from nodeswap.live import discover, fence  # noqa: PLC0415
    from nodeswap.plan import preflight  # noqa: PLC0415
    from nodeswap.zone import snapshot  # noqa: PLC0415

    cases = {
        snapshot.NO_VIP_HOLDER.format(vip="10.1.0.20"): "R23：没有旧节点持有 VIP 10.1.0.20",
        snapshot.BOSS_WARNING.format(boss="2"): "R24/R25：deploy_boss 为 2，",
        fence.CRON_PUSH.format(where="/etc/cron.d/push", line="* * * * * root update.sh -f all"):
            "R20：firstbox 上有一条推送软件包的 cron 任务（/etc/cron.d/push）："
            "* * * * * root update.sh -f all",
        fence.FOREIGN_JOB.format(pid=42, args="bash /pitrix/upgrade/update.sh -f all"):
            "pid 42：bash /pitrix/upgrade/update.sh -f all",
        discover.OLD_NODE_SILENT.format(node="proxy1", address="10.1.0.22", error="timed out"):
            "R2：旧节点 proxy1（10.1.0.22）没有响应：timed out",
        preflight.APT_UNREAD.format(looked="a, b", read="none", os_name="jammy",
                                    os_version="22.04"): "请在 R23 之前确认它有 jammy 22.04 的分支",
    }
    for english, chinese in cases.items():
        assert chinese in i18n.retranslate(english), english


def test_ignore_unfinished_warning_is_stored_in_english_shown_in_chinese(zh: None) -> None:
    from nodeswap.run import statedir as planzone  # noqa: PLC0415 (where the templates are)

    inner = planzone.UNFINISHED.format(run="r1", firstbox="10.1.0.2", state="gate")
    stored = planzone.PLANNED_ANYWAY.format(text=inner)
    assert stored.startswith("run r1 of this zone")  # the plan's warning: English
    shown = i18n.retranslate(stored)
    assert shown.startswith("本可用区的运行 r1（firstbox 10.1.0.2）未完成（gate）")
    assert "planned anyway" not in shown and "of this zone" not in shown
