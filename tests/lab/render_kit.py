"""Render a report the way a person would print it: Debian's headless Chromium
(``--print-to-pdf``, ``--screenshot``) with no network, read back with poppler-utils
(``pdfinfo``, ``pdftotext``, ``pdffonts``). Set-up: scripts/render-setup.sh (make test-slow).

Chromium runs as root here, so ``--no-sandbox``; a user-data-dir of its own in a temp folder;
every host name resolves to nothing (``--host-resolver-rules``), and its net log tells which
http(s) requests the *page* made (``page_fetches``: the browser's own update and account
checks, initiated by no origin, are not the page's).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = ("chromium", "pdftotext", "pdfinfo", "pdffonts")
SETUP = "scripts/render-setup.sh"


def need_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `bash {SETUP}` (make test-slow does)")


@dataclass(frozen=True)
class Rendered:
    pdf: Path
    png: Path
    netlog: Path

    def pages(self) -> int:
        info = subprocess.run(["pdfinfo", str(self.pdf)], capture_output=True, text=True,
                              check=True).stdout
        return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]

    def text(self, first: int | None = None, last: int | None = None) -> str:
        argv = ["pdftotext", "-enc", "UTF-8"]
        argv += ["-f", str(first)] if first else []
        argv += ["-l", str(last)] if last else []
        return subprocess.run([*argv, str(self.pdf), "-"], capture_output=True, text=True,
                              check=True).stdout

    def fonts(self) -> str:
        return subprocess.run(["pdffonts", str(self.pdf)], capture_output=True, text=True,
                              check=True).stdout

    def png_size(self) -> tuple[int, int]:
        head = self.png.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
        return struct.unpack(">II", head[16:24])  # type: ignore[return-value]


def _chromium(html: Path, *args: str, netlog: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="nodeswap-chromium-") as profile:
        argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                f"--user-data-dir={profile}", "--disable-background-networking",
                "--host-resolver-rules=MAP * ~NOTFOUND", *args]
        if netlog is not None:
            argv.append(f"--log-net-log={netlog}")
        res = subprocess.run([*argv, html.resolve().as_uri()], capture_output=True, text=True,
                             timeout=120, check=False)
        assert res.returncode == 0, f"chromium: exit {res.returncode}\n{res.stderr[-2000:]}"


def render(html: Path, *, width: int = 1280, height: int = 2400) -> Rendered:
    """A plain ``--print-to-pdf`` of ``html`` (the page's own @page rule sets the paper) and
    a screenshot, next to it."""
    out = Rendered(html.with_suffix(".pdf"), html.with_suffix(".png"),
                   html.with_suffix(".netlog.json"))
    _chromium(html, f"--print-to-pdf={out.pdf}", netlog=out.netlog)
    _chromium(html, f"--screenshot={out.png}", f"--window-size={width},{height}")
    assert out.pdf.stat().st_size > 0 and out.png.stat().st_size > 0
    return out


def page_fetches(netlog: Path) -> list[str]:
    """The http(s) URLs the page asked for (requests with an initiator: the file's own
    opaque origin, "null"); Chromium's own background requests have none."""
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    return [e["params"]["url"] for e in log["events"]
            if names.get(e["type"]) == "URL_REQUEST_START_JOB"
            and str(e["params"].get("url", "")).startswith(("http://", "https://"))
            and e["params"].get("initiator") != "not an origin"]


_GLUE = r"[\w.:/@+-]"  # a character that would make a token longer


def broken_tokens(text: str, tokens: list[str]) -> list[str]:
    """The tokens that a line break cuts somewhere in ``text`` (``prox`` at a line's end,
    ``y0`` at the next one's start: as pdftotext reads a printed ``prox y0``)."""
    cut = []
    for t in tokens:
        for i in range(1, len(t)):
            pattern = (f"(?<!{_GLUE}){re.escape(t[:i])}[ \\t]*\\n\\s*{re.escape(t[i:])}"
                       f"(?!{_GLUE})")
            if re.search(pattern, text):
                cut.append(t)
                break
    return cut
