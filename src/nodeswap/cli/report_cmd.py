"""`nodeswap report [RUN] [--html FILE] [--markdown FILE]`: what a run did.

Thin: find the journal that holds RUN (or the latest run of any journal in the state folder,
chosen as `status` and `resume` choose it: --state-dir, else --lab's LAB/nodeswap, else the
default), build the report with nodeswap.report, write the files asked for (mode 0600:
only their owner may read them); with neither file, print the Markdown (rendered by rich on
a terminal). Exit 2 when there is no journal or no such run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nodeswap.errors import InputError, Problem
from nodeswap.report import RunRecords, build_report, render_html, render_markdown
from nodeswap.report.privatefile import write_private
from nodeswap.run.journal import Journal
from nodeswap.run.runs import find_run
from nodeswap.run.runs import journals as all_journals
from nodeswap.run.runs import state_dir_for as state_folder

from .run_cmd import FIRSTBOX_RUN_OPT, LAB_OPT, STATE_OPT

Opt = typer.Option


def journals(folder: Path) -> list[Path]:
    """The journals in ``folder``; none is an input error (wrong --state-dir / --lab?)."""
    found = all_journals(folder) if folder.is_dir() else []  # + per-firstbox folders
    if not found:
        raise InputError([Problem(
            f"no nodeswap journal in {folder} (choose one with --state-dir DIR or --lab DIR)",
            file=str(folder))])  # fmt: skip
    return found


def open_run(folder: Path, run_id: str | None) -> tuple[Journal, str]:
    """The journal holding ``run_id`` (or the latest run under ``folder``) and the run id."""
    paths = journals(folder)
    if run_id is not None:
        return find_run(folder, run_id), run_id
    latest: tuple[float, str, Path] | None = None
    for path in paths:
        j = Journal.open(path)
        try:
            for r in j.runs()[:1]:
                if latest is None or (r.started, r.id) > latest[:2]:
                    latest = (r.started, r.id, path)
        finally:
            j.close()
    if latest is None:
        raise InputError([Problem(f"no run recorded in the journals under {folder}",
                                  file=str(folder))])  # fmt: skip
    return Journal.open(latest[2]), latest[1]


def _write(path: Path, text: str) -> None:
    try:
        write_private(path, text)
    except OSError as exc:
        raise InputError([Problem(f"cannot write the report: {exc.strerror or exc}",
                                  file=str(path))]) from exc


def register(app: typer.Typer) -> None:

    @app.command("report")
    def report(  # noqa: PLR0917 (typer maps parameters to options)
        run_id: Annotated[str | None, typer.Argument(metavar="[RUN]")] = None,
        html: Annotated[Path | None, Opt("--html", help="write one self-contained HTML file")
                        ] = None,
        markdown: Annotated[Path | None, Opt("--markdown", help="write GitHub Markdown")] = None,
        state_dir: Annotated[Path | None, STATE_OPT] = None,
        lab: Annotated[Path | None, LAB_OPT] = None,
        firstbox: Annotated[str | None, FIRSTBOX_RUN_OPT] = None,
    ) -> None:
        """What run RUN did (default: the latest): steps with outcomes and durations, nodes
        before/after, R27/R28 differences, service status (R29/R35). Without --html or
        --markdown, prints the Markdown. Files are written with mode 0600; secrets are
        masked (***)."""
        journal, rid = open_run(state_folder(state_dir, lab, firstbox), run_id)
        try:
            rep = build_report(RunRecords.from_journal(journal, rid))
        finally:
            journal.close()
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
            typer.echo(f"report of run {rid} ({rep.state}): Markdown in {markdown}"
                       " (mode 0600: only you can read it)")
        if html is not None:
            _write(html, render_html(rep))
            typer.echo(f"report of run {rid} ({rep.state}): HTML in {html}"
                       " (mode 0600: only you can read it)")
