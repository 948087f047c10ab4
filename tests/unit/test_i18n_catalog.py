"""The Chinese catalog and the language choice (nodeswap.i18n, issue 13).

- Every user-facing message is in the zh catalog: the messages are extracted with Babel's
  own extractor (``_``, ``N_``, ``ngettext`` in src/nodeswap and the report's templates) plus
  every help text of the built CLI, and compared with the .po; a message missing, empty or
  fuzzy fails, and so does a translation that drops or renames a ``{placeholder}``.
- The committed .mo is the .po compiled (an installed wheel reads it without Babel).
- Rule titles R0-R37 exist in both languages, the Chinese in the original runbook's words.
- The language: --lang, NODESWAP_LANG, then LANGUAGE / LC_ALL / LC_MESSAGES / LANG in
  gettext's order, without setlocale; English loads no catalog and not even gettext.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodeswap import i18n
from nodeswap.ruletitles import TITLES

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
CJK = re.compile(r"[\u4e00-\u9fff]")

babel = pytest.importorskip("babel")  # a test extra (pyproject); the .mo needs no Babel


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("i18n_catalog", ROOT / "scripts" /
                                                  "i18n_catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalog() -> ModuleType:
    return _script()


@pytest.fixture
def english() -> Iterator[None]:
    before = i18n._chosen
    i18n.set_language("en")
    yield
    i18n._chosen = before


def test_every_user_facing_message_is_translated(catalog: ModuleType) -> None:
    template = catalog.extract()
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    # the extraction is not empty or partial: it sees the CLI's help, the gate prompt, the
    # report's headings and the edge's error labels
    assert len(ids) > 300
    assert "Approve gate {id} ({rule})? [y]es, [n]o, [d]etails: " in ids
    assert "Appendix: every step" in ids and "invalid input" in ids
    assert "Print the version and exit." in ids
    assert any(i.startswith("Plan an upgrade of the role's nodes") for i in ids)
    missing = catalog.missing(template, catalog.read())
    assert missing == [], f"{len(missing)} messages lack a translation: run " \
        f"scripts/i18n_catalog.py update, translate, compile: {missing[:10]}"


def test_the_check_fails_on_a_message_missing_from_the_catalog(catalog: ModuleType) -> None:
    """The comparison can fail: a new message, or an emptied translation, is reported."""
    from babel.messages.catalog import Catalog  # noqa: PLC0415

    template, po = Catalog(), Catalog(locale="zh_CN")
    template.add("a brand-new message")
    template.add("an old one")
    po.add("an old one", "")
    assert catalog.missing(template, po) == ["a brand-new message", "an old one"]
    po["an old one"].string = "旧的"
    assert catalog.missing(template, po) == ["a brand-new message"]


def test_translations_keep_every_placeholder_and_help_block(catalog: ModuleType) -> None:
    for msg in catalog.read():
        if not msg.id:
            continue
        ids = (msg.id,) if isinstance(msg.id, str) else tuple(msg.id)
        strings = (msg.string,) if isinstance(msg.string, str) else tuple(msg.string)
        want = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == want, (ids[0], text)
            assert text.count("\b") == ids[0].count("\b"), ids[0]  # click's \b blocks


def test_the_committed_mo_is_the_po_compiled(catalog: ModuleType) -> None:
    assert catalog.MO.read_bytes() == catalog.compiled(catalog.read()), \
        "run scripts/i18n_catalog.py compile"


def test_the_wheel_ships_the_mo() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert '"locale/*/LC_MESSAGES/*.mo"' in text


def test_rule_titles_r0_to_r37_in_both_languages() -> None:
    assert sorted(TITLES, key=lambda r: int(r[1:])) == [f"R{i}" for i in range(38)]
    zh_spec = (Path("/work/shared/spec/runbook-proxy-upgrade.zh.md"))
    for rule, (en, zh) in TITLES.items():
        assert en and not CJK.search(en), rule
        assert CJK.search(zh), rule
        assert i18n.rule_title(rule, "en") == en and i18n.rule_title(rule, "zh") == zh
    if zh_spec.exists():  # the original's wording (where the spec is at hand)
        original = zh_spec.read_text()
        for rule in ("R6", "R20", "R21", "R22", "R27", "R29", "R34", "R36", "R37"):
            assert TITLES[rule][1] in original.replace("`", ""), rule
    assert i18n.rule_title("R99") == ""


@pytest.mark.parametrize(("env", "want"), [
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),  # the first variable set decides
    ({"LANGUAGE": "fr:zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LANGUAGE": "de", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"NODESWAP_LANG": "zh", "LANG": "en_US.UTF-8"}, "zh"),
    ({"NODESWAP_LANG": "en", "LANGUAGE": "zh_CN"}, "en"),
    ({"NODESWAP_LANG": "klingon", "LANG": "zh_CN.UTF-8"}, "zh"),  # refused by the CLI
])
def test_language_of_the_environment(env: dict[str, str], want: str) -> None:
    assert i18n.language_of(env) == want


@given(st.dictionaries(st.sampled_from(["NODESWAP_LANG", *i18n.LOCALE_VARS]),
                       st.text(max_size=20)))
def test_language_of_never_fails(env: dict[str, str]) -> None:
    assert i18n.language_of(env) in i18n.LANGUAGES


def test_normalize_refuses_other_languages() -> None:
    assert i18n.normalize("zh_CN.UTF-8") == "zh" and i18n.normalize("C") == "en"
    with pytest.raises(ValueError, match="one of en, zh"):
        i18n.normalize("fr_FR")


def test_messages_in_both_languages() -> None:
    before = i18n._chosen
    try:
        i18n.set_language("zh")
        assert i18n._("invalid input") == "输入无效"
        assert i18n.ngettext("{n} unexpected finding", "{n} unexpected findings", 3) \
            .format(n=3) == "3 个意外差异"
        assert i18n._("a message nobody wrote") == "a message nobody wrote"
        assert i18n.word("done") == "完成" and i18n.word("proxy0") == "proxy0"
        assert i18n.phase_title("switch:proxy1") == "切换 proxy1"
        i18n.set_language("en")
        assert i18n._("invalid input") == "invalid input"
        assert i18n.ngettext("{n} gate", "{n} gates", 1) == "{n} gate"
        assert i18n.phase_title("switch:proxy1") == "switch:proxy1"  # the id, as before
    finally:
        i18n._chosen = before


def _modules_after(code: str, **env: str) -> dict[str, object]:
    clean = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), **env}
    out = subprocess.run([sys.executable, "-c", code + "\nimport json, sys\n"
                          "print(json.dumps({'gettext': 'gettext' in sys.modules, "
                          "'out': OUT}))"], capture_output=True, text=True, env=clean,
                         check=True, cwd=SRC)  # fmt: skip
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_english_loads_no_catalog_and_not_gettext() -> None:
    got = _modules_after("from nodeswap.i18n import _\nOUT = _('invalid input')",
                         LANG="en_US.UTF-8")
    assert got == {"gettext": False, "out": "invalid input"}


def test_chinese_loads_the_catalog_only_when_a_message_is_translated() -> None:
    lazy = _modules_after("import nodeswap.i18n, nodeswap.errors\nOUT = ''",
                          LANG="zh_CN.UTF-8")
    assert lazy["gettext"] is False
    # no zh_CN locale needs to be generated: gettext is given the catalog's folder itself
    got = _modules_after("from nodeswap.i18n import _\nOUT = _('invalid input')",
                         LANG="zh_CN.UTF-8", LC_ALL="")
    assert got == {"gettext": True, "out": "输入无效"}


def test_problem_names_file_line_rule_and_key_in_chinese(english: None) -> None:
    from nodeswap.errors import Problem  # noqa: PLC0415

    p = Problem("bad", file="spec.yaml", line=3, key="nodes.proxy0", rule="R13")
    assert str(p) == "spec.yaml:3: R13: key nodes.proxy0: bad"
    i18n.set_language("zh")
    assert str(p) == "spec.yaml:3: R13: 键 nodes.proxy0: bad"
