# ruff: noqa: RUF001 (the Chinese report keeps its full-width punctuation)
"""The report in Chinese (issue 13): ``<html lang="zh">``, the headings, the summary sentence
and the words of states in Chinese; data (step ids, commands, addresses, outputs) as
recorded; English unchanged. The rendering itself (headless Chromium, the CJK font of
scripts/render-setup.sh) is the lab's render test's; here the HTML is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report import Clock, done, make_plan, record_failed_run

from nodeswap import i18n
from nodeswap.report import html as H
from nodeswap.report import model as M
from nodeswap.report import records
from nodeswap.report.headline import headline
from nodeswap.run import journal as J
from nodeswap.run import sessionlog
from nodeswap.run.journal import Journal


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()  # as test_report's
    monkeypatch.setattr(J, "time", c)
    monkeypatch.setattr(sessionlog, "time", c)
    return c


@pytest.fixture
def zh() -> Iterator[None]:
    before = i18n._chosen
    i18n.set_language("zh")
    yield
    i18n._chosen = before


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def parsed(html: str) -> Text:
    p = Text()
    p.feed(html)
    return p


def done_report(folder: Path, clock: Clock) -> M.RunReport:
    j = Journal.open(folder / "z.journal.sqlite")
    rid = j.create_run(make_plan(), operator="op", zone="z")
    for s in make_plan().steps:
        if s.gate:
            j.approve(rid, s.id, "ops@desk")
        done(j, clock, rid, s.id, 1.0)
    j.set_run_state(rid, J.RUN_DONE)
    try:
        return M.build_report(records.RunRecords.from_journal(j, rid))
    finally:
        j.close()


def test_done_report_in_chinese(tmp_path: Path, clock: Clock, zh: None) -> None:
    rep = done_report(tmp_path, clock)
    assert re.fullmatch(r"proxy0 已替换为 jammy 22\.04，用时 10\.0 s；\d+ 个意外差异；"
                        r"1 个关卡已由 ops@desk 批准。", headline(rep)), headline(rep)
    page = parsed(H.render_html(rep))
    text = "".join(page.parts)
    assert page.lang == "zh"
    for heading in ("最终状态", "执行过程与时间线", "附录：全部步骤", "升级前系统", "总用时",
                    "主机密钥（旧）", "settings 键（R7-R17）", "proxy 升级报告"):
        assert heading in text, heading
    assert "完成" in text and "Appendix" not in text and "Final state" not in text
    # a gate's rule with its Chinese title (the runbook's words), the step's own title kept
    assert "更新firstbox节点的settings文件中的MGMT和EIP网络配置" in text
    assert "r30-settings-proxy0" in text


def test_failed_report_in_chinese(tmp_path: Path, clock: Clock, zh: None) -> None:
    j, rid = record_failed_run(tmp_path, clock)
    try:
        rep = M.build_report(records.RunRecords.from_journal(j, rid))
    finally:
        j.close()
    assert headline(rep) == ("proxy0 未替换（仍为 xenial 16.04.5）；运行失败，停在步骤 "
                             "r33-hosts-proxy0（R33，proxy0-new）；修复后继续，或回滚；"
                             "2 个意外差异；1 个关卡已由 op@box 批准。")
    text = "".join(parsed(H.render_html(rep)).parts)
    assert "失败的步骤" in text and "stdout 最后几行" in text
    assert "E: Unable to locate package pitrix-hosts" in text  # the output as recorded


def test_english_report_is_unchanged(tmp_path: Path, clock: Clock) -> None:
    before = i18n._chosen
    i18n.set_language("en")
    try:
        rep = done_report(tmp_path, clock)
        page = parsed(H.render_html(rep))
    finally:
        i18n._chosen = before
    assert page.lang == "en"
    text = "".join(page.parts)
    assert "Appendix: every step" in text and "Final state" in text
    assert not re.search(r"[\u4e00-\u9fff]", text)


def test_markdown_report_in_chinese(tmp_path: Path, clock: Clock, zh: None) -> None:
    from nodeswap.report.markdown import render_markdown  # noqa: PLC0415

    text = render_markdown(done_report(tmp_path, clock))
    assert text.startswith("# nodeswap 报告：运行 ")
    for heading in ("| 摘要 |", "| 最终状态 | 完成 |", "## 关卡", "## 执行过程与时间线",
                    "## 附录：全部步骤", "### 切换 proxy0 — "):
        assert heading in text, heading
    assert "Appendix" not in text and "Final state" not in text


def test_step_titles_and_warnings_shown_in_chinese_stored_in_english(
        tmp_path: Path, clock: Clock, zh: None) -> None:
    """The plan's titles and warnings (English plan data) are shown translated in both the
    HTML and the Markdown report; the journal keeps the plan as it was."""
    from dataclasses import replace  # noqa: PLC0415

    from nodeswap.report.markdown import render_markdown  # noqa: PLC0415
    from nodeswap.runbooks import common, switch  # noqa: PLC0415

    plan = make_plan()
    r30 = switch.SETTINGS_BACK.format(node="proxy0", address="10.16.0.2")
    r20 = common.R20_WARNING.format(role="proxy")
    plan = replace(plan, warnings=(r20,), steps=tuple(
        replace(s, title=r30) if s.id == "r30-settings-proxy0" else s for s in plan.steps))
    j = Journal.open(tmp_path / "z.journal.sqlite")
    try:
        rid = j.create_run(plan, operator="op", zone="z")
        for s in plan.steps:
            if s.gate:
                j.approve(rid, s.id, "ops@desk")
            done(j, clock, rid, s.id, 1.0)
        j.set_run_state(rid, J.RUN_DONE)
        recs = records.RunRecords.from_journal(j, rid)
        rep = M.build_report(recs)
    finally:
        j.close()
    assert recs.plan.warnings == (r20,)  # stored: English
    assert any(s.title == r30 for s in recs.plan.steps)
    for text in ("".join(parsed(H.render_html(rep)).parts), render_markdown(rep)):
        assert "将 proxy0 旧的 MGMT/EIP 值（10.16.0.2）写回其 settings" in text
        assert "R20：构建软件包之后、切换之前" in text
        assert r30 not in text and "R20: after the package build" not in text
