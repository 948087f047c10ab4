# ruff: noqa: RUF001 (Chinese text keeps its full-width punctuation)
"""Chinese help wraps at the terminal's width (nodeswap.cli.cjkwrap.CjkWrapper): click
counts characters and breaks only at spaces, so a Chinese paragraph was one line twice as wide
as the terminal. Lines fit in columns, nothing is lost, and no line starts with a closing sign
or ends with an opening one.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nodeswap.cli.cjkwrap import _CLOSING, _OPENING, CjkWrapper, width

WORDS = st.sampled_from(["可用区", "节点", "，", "。", "（", "）", "R27", "haproxy.cfg", " ",
                         "--lab", "settings", "文件", "：", "proxy0", "检查"])


@given(st.lists(WORDS, min_size=1, max_size=80), st.integers(min_value=12, max_value=90))
def test_lines_fit_and_keep_every_character(words: list[str], columns: int) -> None:
    text = "".join(words)
    wrapper = CjkWrapper(columns, initial_indent="  ", subsequent_indent="  ")
    widest = max(width(c) for c in wrapper._split(text))  # a chunk never breaks
    lines = wrapper.wrap(text)
    for i, line in enumerate(lines):
        body = line[2:]
        assert width(line) <= max(columns, 2 + widest), line
        assert i == 0 or body[0] not in _CLOSING, lines
        assert i == len(lines) - 1 or body[-1] not in _OPENING, lines
    assert "".join(line[2:] for line in lines).replace(" ", "") == text.replace(" ", "")


def test_a_help_paragraph_wraps_at_80_columns() -> None:
    text = ("每一步：检查（已完成？跳过）-> 执行 -> 验证 -> 记入运行记录\n（SQLite，权限 0600，"
            "每个有副作用的动作前后都记录）。")
    lines = CjkWrapper(78, initial_indent="  ", subsequent_indent="  ").wrap(text)
    assert len(lines) == 2 and all(width(line) <= 78 for line in lines)
    assert "记录（SQLite" in "".join(lines)  # the source's line break between two Chinese signs
