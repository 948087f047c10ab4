"""`nodeswap report [RUN] [--html FILE] [--markdown|--md FILE]`: what a run did.

Thin: find the journal that holds RUN (or the latest run of any journal in the state folder,
chosen as `status` and `resume` choose it: nodeswap.run.statedir.open_run), build the report
with nodeswap.report, write the files asked for (mode 0600: only their owner may read
them); with neither file, print the Markdown (rendered by rich on
a terminal). Exit 2 when there is no journal or no such run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.report import RunRecords, build_report, render_html, render_markdown
from nodeswap.report.privatefile import write_private
from nodeswap.run.statedir import open_run, state_dir_for

from .options import FirstboxOpt, JsonOpt, LabOpt, StateOpt
from .render import report_dict

Opt = typer.Option


def _write(path: Path, text: str) -> None:
    try:
        write_private(path, text)
    except OSError as exc:
        raise InputError([Problem(_("cannot write the report: {error}").format(
            error=exc.strerror or exc),
                                  file=str(path))]) from exc


def register(app: typer.Typer) -> None:

    @app.command("report")
    def report(  # noqa: PLR0917 (typer maps parameters to options)
        run_id: Annotated[str | None, typer.Argument(
            metavar="RUN", help="A run id (YYYYMMDD-HHMMSS-xxxxxx); none: the latest.")
        ] = None,
        html: Annotated[Path | None, Opt("--html", metavar="FILE",
                                         help="Write one self-contained HTML file (prints on A4:"
                                         " summary first, the steps as an appendix).")
                        ] = None,
        markdown: Annotated[Path | None, Opt("--markdown", "--md", metavar="FILE",
                                             help="Write GitHub Markdown (--md: the same).")
                            ] = None,
        state_dir: StateOpt = None,
        lab: LabOpt = None,
        firstbox: FirstboxOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """What run RUN did (default: the latest), summary first: nodes and OS before -> now,
        wall time, findings, gates with who approved them and when; then the sessions (apply,
        resume, rollback), each node with its settings changes and host keys, the R27/R28
        differences and service status (R29/R35), and every step. Without --html or
        --markdown, prints the Markdown; --json prints the report's data as one JSON object
        ("report_format": 1). Files are written with mode 0600; secrets are masked (***)."""
        journal, rid = open_run(state_dir_for(state_dir, lab, firstbox), run_id)
        try:
            rep = build_report(RunRecords.from_journal(journal, rid))
        finally:
            journal.close()
        if as_json:
            if html is not None or markdown is not None:
                raise InputError([Problem(_("--json prints the report: drop --html/--markdown "
                                            "(or run twice)"), key="--json")])
            typer.echo(json.dumps(report_dict(rep), indent=2, ensure_ascii=False))
            return
        if html is None and markdown is None:
            text = render_markdown(rep)
            if sys.stdout.isatty():
                from rich.console import Console  # noqa: PLC0415 (only for a terminal)
                from rich.markdown import Markdown  # noqa: PLC0415

                Console().print(Markdown(text))
            else:
                typer.echo(text, nl=False)
            return
        if markdown is not None:
            _write(markdown, render_markdown(rep))
            typer.echo(_("report of run {run} ({state}): Markdown in {file} (mode 0600: only "
                         "you can read it)").format(run=rid, state=rep.state, file=markdown))
        if html is not None:
            _write(html, render_html(rep))
            typer.echo(_("report of run {run} ({state}): HTML in {file} (mode 0600: only "
                         "you can read it)").format(run=rid, state=rep.state, file=html))
