"""The report as a person sees and prints it (issue 13): journals of real runs on a lab zone
(report_runs: failed, rolled back, interrupted, done), each rendered by Debian's headless
Chromium (screenshot and a plain --print-to-pdf) and read back with pdftotext: the page count,
what page 1 holds, every name and address whole, nothing in the HTML missing from the PDF,
nothing fetched from the network; a Chinese text is drawn with the CJK font.
Slow (a lab zone upgraded twice, Chromium started ten times): `make test-slow`."""

from __future__ import annotations

import html as htmllib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from render_kit import Rendered, broken_tokens, need_tools, page_fetches, render
from report_runs import KINDS, record_runs

from nodeswap.report import RunRecords, RunReport, build_report, render_html
from nodeswap.run.journal import Journal

pytestmark = [pytest.mark.lab, pytest.mark.slow]
MAX_PAGES = 6  # the default upgrade's report, printed on A4


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    need_tools()
    return record_runs(tmp_path_factory.mktemp("journals"))


def _report(journal: Path, run_id: str) -> RunReport:
    j = Journal.open(journal)
    try:
        return build_report(RunRecords.from_journal(j, run_id))
    finally:
        j.close()


@pytest.fixture(scope="module")
def rendered(runs: dict[str, tuple[Path, str]], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[dict[str, tuple[RunReport, str, Rendered]]]:  # fmt: skip
    folder = tmp_path_factory.mktemp("rendered")
    out = {}
    for kind, (journal, run_id) in runs.items():
        rep = _report(journal, run_id)
        page = folder / f"{kind}.html"
        text = render_html(rep)
        page.write_text(text)
        out[kind] = (rep, text, render(page))
    yield out


def tokens(rep: RunReport) -> list[str]:
    """What must never break across lines: names, addresses, ids, key fingerprints."""
    found = {*rep.zone_ids, rep.run_id, rep.operator}
    for n in rep.nodes:
        found |= {n.name, n.old_address, n.temp_address, n.final_address}
        found |= {k.split()[0] for k in (n.old_key, n.new_key) if k}
    for s in rep.steps:
        found |= {s.step_id, s.target, s.address}
    return sorted(t for t in found if t and t != "?")


def visible_text(page: str) -> str:
    body = re.sub(r"(?s)<style>.*?</style>|<title>.*?</title>", "", page)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


def test_done_report_is_short_and_leads_with_the_summary(
        rendered: dict[str, tuple[RunReport, str, Rendered]]) -> None:
    rep, _, out = rendered["done"]
    assert rep.state == "done"
    assert out.pages() <= MAX_PAGES
    first = out.text(1, 1)
    for must in (*rep.zone_ids, *(n.name for n in rep.nodes), rep.target_os):
        assert must in first, f"{must!r} not on page 1"
    assert re.search(r"proxy0 and proxy1 replaced by bionic 18\.04\.6 in [\d.]+ s; 0 unexpected"
                     r"\s+findings; 3 gates approved by", first), first[:1500]
    assert "xenial 16.04.5 → bionic 18.04.6" in first
    # the sessions of this run: an apply cut by Ctrl-C, then a resume that finished
    assert [(s.action, s.outcome) for s in rep.sessions] == [("apply", "interrupted"),
                                                             ("resume", "finished")]
    assert [g.state for g in rep.gates] == ["approved"] * 3
    assert all(n.old_key and n.new_key and n.old_key != n.new_key for n in rep.nodes)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_prints_whole_tokens_and_hides_nothing(
        kind: str, rendered: dict[str, tuple[RunReport, str, Rendered]]) -> None:
    rep, page, out = rendered[kind]
    assert rep.state == kind
    text = out.text()
    assert out.pages() <= MAX_PAGES
    words = tokens(rep)
    assert broken_tokens(text, words) == []
    html_text = visible_text(page)
    hidden = {t: (html_text.count(t), text.count(t)) for t in words
              if text.count(t) < html_text.count(t)}
    assert hidden == {}, "in the HTML, fewer times in the PDF"
    assert not re.search(r"display:\s*none|visibility:\s*hidden", page)
    first = out.text(1, 1)
    assert all(n.name in first for n in rep.nodes) and rep.zone_ids[0] in first
    width, height = out.png_size()
    assert (width, height) == (1280, 2400)


def test_rolled_back_and_failed_reports_say_what_became_of_the_zone(
        rendered: dict[str, tuple[RunReport, str, Rendered]]) -> None:
    rolled, _, out = rendered["rolled_back"]
    first = out.text(1, 1)
    assert re.search(r"Rolled back after [\d.]+ s: proxy0 and proxy1 serve on xenial 16\.04\.5"
                     r"\s+again", first), first[:1500]
    assert "bionic 18.04.6 was undone" in re.sub(r"\s+", " ", first)
    assert all(not n.replaced and n.os_now == "xenial 16.04.5" for n in rolled.nodes)
    counts = dict(rolled.outcome_counts)
    assert counts.get("undone", 0) > 0 and counts.get("failed") == 1
    assert [s.action for s in rolled.sessions] == ["apply", "rollback"]
    failed, _, out = rendered["failed"]
    assert "the run failed at step r23-update (R23)" in re.sub(r"\s+", " ", out.text(1, 1))
    assert failed.failure is not None and failed.failure.step.step_id == "r23-update"
    interrupted, _, _ = rendered["interrupted"]
    assert interrupted.unexpected == 0  # the cut step's partial output is not compared


def test_the_token_check_sees_a_cut() -> None:
    text = "on prox\ny0 at 127.21.100.\n21, then 127.21.100.1\n\n127.21.100.11 whole"
    assert broken_tokens(text, ["proxy0", "127.21.100.21", "127.21.100.11"]) == [
        "proxy0", "127.21.100.21"]


def test_nothing_is_fetched_from_the_network(
        rendered: dict[str, tuple[RunReport, str, Rendered]], tmp_path: Path) -> None:
    for _, page, out in rendered.values():
        # no element or rule that loads anything (an URL in a command's output is text)
        assert not re.search(r"<script|<link|<img|<iframe|<object|<embed|src=|href=|url\(|"
                             r"@import|=\s*[\"']?https?://", page, re.IGNORECASE)
        assert page_fetches(out.netlog) == []
    # the check itself sees a page that does fetch
    probe = tmp_path / "probe.html"
    probe.write_text('<html><body><img src="http://example.invalid/x.png">hi</body></html>')
    assert page_fetches(render(probe).netlog) == ["http://example.invalid/x.png"]


def test_chinese_text_is_drawn_with_the_cjk_font(runs: dict[str, tuple[Path, str]],
                                                 tmp_path: Path) -> None:
    journal, run_id = runs["done"]
    copy = tmp_path / "zh.journal.sqlite"
    copy.write_bytes(journal.read_bytes())
    db = sqlite3.connect(str(copy))
    db.execute("UPDATE runs SET operator=? WHERE id=?", ("运维@跳板机", run_id))
    db.commit()
    db.close()
    page = tmp_path / "zh.html"
    page.write_text(render_html(_report(copy, run_id)))
    out = render(page)
    assert "运维@跳板机" in out.text(1, 1)
    assert "WenQuanYi" in out.fonts()


def test_the_report_in_chinese_prints_as_short_and_whole(runs: dict[str, tuple[Path, str]],
                                                         tmp_path: Path) -> None:
    """The whole report in Chinese (issue 13): lang="zh", drawn with the CJK font, as short
    as the English one, page 1 leads with its Chinese summary, and no token breaks."""
    from nodeswap import i18n  # noqa: PLC0415

    journal, run_id = runs["done"]
    before = i18n._chosen
    i18n.set_language("zh")
    try:
        rep = _report(journal, run_id)
        html = render_html(rep)
    finally:
        i18n._chosen = before
    assert '<html lang="zh">' in html
    page = tmp_path / "zh-report.html"
    page.write_text(html)
    out = render(page)
    assert out.pages() <= MAX_PAGES, out.pages()
    first = out.text(1, 1)
    assert "已替换为" in first and "总用时" in first and "最终状态" in first, first[:800]
    for name in (*rep.zone_ids, *(n.name for n in rep.nodes)):
        assert name in first, name
    assert "WenQuanYi" in out.fonts()
    assert broken_tokens(out.text(), tokens(rep)) == []
