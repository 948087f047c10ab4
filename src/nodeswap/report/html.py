"""The report as one self-contained HTML file: ``render_html``, from the Jinja2 template
``templates/report.html.j2`` (autoescape on, StrictUndefined): outputs are untrusted zone text.
Inline CSS; no external fetch, no script. Pure.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from .formatting import fmt_duration, fmt_exit, fmt_line, fmt_time, verdict
from .model import RunReport


def html_text(text: object) -> Markup:
    """Escaped HTML of untrusted text; balanced backticks become <code> (as in md)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:
        return escape(str(text))
    return Markup("").join(escape(p) if i % 2 == 0 else Markup("<code>%s</code>") % p
                           for i, p in enumerate(parts))


def render_html(r: RunReport) -> str:
    """The report as one self-contained HTML file (inline CSS, no script, no fetch)."""
    import jinja2  # noqa: PLC0415 (only the HTML rendering needs it)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nodeswap.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )  # fmt: skip
    env.filters.update(time=fmt_time, duration=fmt_duration, exit=fmt_exit, text=html_text)
    env.globals.update(fmt_line=fmt_line, verdict=verdict)
    return env.get_template("report.html.j2").render(r=r)
