#!/usr/bin/env python3
"""The Chinese catalog of nodeswap (nodeswap.i18n), kept with Babel (a dev/test extra only).

    python scripts/i18n_catalog.py update    # extract, merge into the .po, list what is missing
    python scripts/i18n_catalog.py compile   # .po -> .mo (committed: a wheel needs no Babel)
    python scripts/i18n_catalog.py check     # exit 1 if a message lacks its translation

Messages are what the code marks (``_``, ``N_``, ``ngettext`` in src/nodeswap, ``_`` in the
report's Jinja2 templates) plus every help text of the built CLI (command docstrings, option
help: nodeswap.cli.localize translates them where they are shown).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nodeswap"
PO = PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES" / "nodeswap.po"
MO = PO.with_suffix(".mo")
METHODS = [("**/templates/**.j2", "jinja2.ext:babel_extract"), ("**.py", "python")]
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def help_texts() -> list[str]:
    """Every help text of the CLI, in English, as typer builds it."""
    sys.path.insert(0, str(ROOT / "src"))
    import typer  # noqa: PLC0415

    from nodeswap import i18n  # noqa: PLC0415

    before = i18n.language()
    i18n.set_language("en")
    try:
        from nodeswap import cli  # noqa: PLC0415
        from nodeswap.cli.localize import help_texts as texts  # noqa: PLC0415

        cli.register([])
        return sorted(set(texts(typer.main.get_command(cli.app))))
    finally:
        i18n.set_language(before)


def extract() -> Catalog:
    """The template: every message, with where it was found."""
    cat = Catalog(project="nodeswap", domain="nodeswap")
    found = extract_from_dir(str(PACKAGE), method_map=METHODS, keywords=KEYWORDS,
                             comment_tags=("TRANSLATORS:",), strip_comment_tags=True,
                             options_map={"**/templates/**.j2": {"trim_blocks": "true",
                                                                 "lstrip_blocks": "true"}})
    for filename, lineno, message, comments, context in found:
        cat.add(message, None, [(f"src/nodeswap/{filename}", lineno)],
                auto_comments=comments, context=context)
    for text in help_texts():
        cat.add(text, None, [("src/nodeswap/cli (help)", 0)])
    return cat


def read() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="zh_CN", domain="nodeswap")


def missing(template: Catalog, po: Catalog) -> list[str]:
    """Messages of ``template`` with no (or a fuzzy) translation in ``po``."""
    out = []
    for msg in template:
        if not msg.id:
            continue
        got = po.get(msg.id, msg.context)
        strings: Iterable[str] = (got.string if isinstance(got.string, tuple | list)
                                  else [got.string]) if got is not None else []
        if got is None or got.fuzzy or not all(strings):
            out.append(msg.id if isinstance(msg.id, str) else msg.id[0])
    return out


def compiled(po: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, po, use_fuzzy=False)
    return buf.getvalue()


def main(argv: list[str]) -> int:
    action = argv[0] if argv else "check"
    template = extract()
    if action == "update":
        po = read() if PO.exists() else Catalog(locale="zh_CN", domain="nodeswap")
        po.update(template, no_fuzzy_matching=True)
        po.obsolete.clear()
        po.project, po.version, po.fuzzy = "nodeswap", "", False
        po.header_comment = ("# Simplified Chinese messages of nodeswap (nodeswap.i18n).\n"
                             "# Kept with scripts/i18n_catalog.py; the .mo is compiled from it.")
        with PO.open("wb") as f:
            write_po(f, po, width=100, omit_header=False, sort_output=False)
    po = read()
    if action in ("update", "compile"):
        MO.write_bytes(compiled(po))
    lacking = missing(template, po)
    for m in lacking:
        print(f"untranslated: {m[:100]!r}")
    print(f"{len(template) - len(lacking)} of {len(template)} messages translated")
    return 1 if lacking and action == "check" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
