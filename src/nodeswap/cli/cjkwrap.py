"""Help text in Chinese wrapped at the terminal's width (nodeswap.cli.localize installs it
for zh only). click's wrapper breaks lines only at spaces and counts characters, so a Chinese
paragraph, which has no spaces, was one line twice as wide as the terminal.
"""

from __future__ import annotations

import re
import unicodedata

from typer._click import _textwrap

# a chunk of Chinese text: each CJK character (or full-width sign) may end a line, except
# before a closing sign, which stays with the character before it, and after an opening one
_CJK_CHUNKS = re.compile(r"(\s+|[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef])")
_CLOSING = set("，。；：、！？）」』》”’")  # noqa: RUF001 (Chinese punctuation)
_OPENING = set("（「『《“‘")  # noqa: RUF001 (and an opening sign stays with the next one)


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal (a CJK character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class CjkWrapper(_textwrap.TextWrapper):
    """click's wrapper for text without spaces between words: it may break between two
    Chinese characters, and counts their width in columns (click counts characters)."""

    def _split(self, text: str) -> list[str]:
        parts = [c for c in _CJK_CHUNKS.split(text) if c]
        chunks: list[str] = []
        for i, chunk in enumerate(parts):
            if not chunk.strip() and 0 < i < len(parts) - 1 \
                    and width(parts[i - 1][-1]) == width(parts[i + 1][0]) == 2:
                continue  # a line break of the source between two Chinese characters
            if chunks and (chunk in _CLOSING or chunks[-1][-1] in _OPENING):
                chunks[-1] += chunk
            else:
                chunks.append(chunk)
        return chunks

    def _wrap_chunks(self, chunks: list[str]) -> list[str]:
        lines: list[str] = []
        chunks.reverse()
        while chunks:
            indent = self.subsequent_indent if lines else self.initial_indent
            room = self.width - width(indent)
            if lines and not chunks[-1].strip():
                chunks.pop()  # no line starts with the space it was broken at
            line: list[str] = []
            used = 0
            while chunks and used + width(chunks[-1]) <= room:
                used += width(chunks[-1])
                line.append(chunks.pop())
            if not line and chunks:  # one word wider than the line: it gets a line
                line.append(chunks.pop())
            while line and not line[-1].strip():
                line.pop()
            if line:
                lines.append(indent + "".join(line))
        return lines
