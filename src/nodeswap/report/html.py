"""The report as one self-contained HTML file: ``render_html``, from the Jinja2 templates
``templates/report.html.j2`` (and the ``checks.html.j2`` it includes; autoescape on,
StrictUndefined): outputs are untrusted zone text. Inline CSS; no external fetch, no script.
Printed (headless Chromium's --print-to-pdf) it is A4 by its own ``@page`` rule, and a token
(a name, an address, a step id, a path) never breaks across lines: ``html_text`` keeps every
word that holds ``. / : @ - _`` whole. Pure.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from nodeswap.i18n import _ as gettext_
from nodeswap.i18n import language, phase_title, retranslate, rule_title, word

from .formatting import (
    NOT_COLLECTED,
    fmt_clock,
    fmt_duration,
    fmt_exit,
    fmt_line,
    fmt_time,
    fmt_windows,
    probe_sentence,
    step_note,
    verdict,
)
from .headline import gates_fact, headline
from .model import RunReport

TOKEN_MAX = 48  # longer words may break (a long command line must not run off the page)
_WORD = re.compile(r"(\S+)")


def _words(text: str) -> Markup:
    out = []
    for i, part in enumerate(_WORD.split(text)):
        if i % 2 == 1 and len(part) <= TOKEN_MAX and any(c in part for c in "./:@-_"):
            out.append(Markup('<span class="tok">%s</span>') % part)
        else:
            out.append(escape(part))
    return Markup("").join(out)


def html_text(text: object) -> Markup:
    """Escaped HTML of untrusted text; balanced backticks become <code> (as in md); tokens
    kept whole (see the module doc)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:
        return _words(str(text))
    return Markup("").join(_words(p) if i % 2 == 0 else Markup("<code>%s</code>") % p
                           for i, p in enumerate(parts))


def targets(r: RunReport) -> list[tuple[str, str]]:
    """Each step target with its address, in the order the steps first name them."""
    seen: dict[str, str] = {}
    for s in r.steps:
        seen.setdefault(s.target, s.address)
    return list(seen.items())


def _markup(message: str) -> Markup:
    """A template's message in the operator's language, escaped, as Markup: its ``.format``
    escapes plain values and keeps markup (a ``tok`` span) as it is."""
    return Markup(escape(gettext_(message)))  # noqa: S704 (escaped just before)


def render_html(r: RunReport) -> str:
    """The report as one self-contained HTML file (inline CSS, no script, no fetch)."""
    import jinja2  # noqa: PLC0415 (only the HTML rendering needs it)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nodeswap.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.filters.update(time=fmt_time, clock=fmt_clock, duration=fmt_duration, exit=fmt_exit,
                       text=html_text, data=retranslate, windows=fmt_windows)
    env.filters.update(state=word)
    env.globals.update(fmt_line=fmt_line, verdict=verdict, step_note=step_note, _=_markup,
                       rule_title=rule_title, phase_title=phase_title, lang=language(),
                       probe_sentence=probe_sentence, not_collected=NOT_COLLECTED)
    return env.get_template("report.html.j2").render(
        r=r, headline=headline(r), gates_text=gates_fact(r), targets=targets(r))
