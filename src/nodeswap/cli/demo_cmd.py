"""`nodeswap demo`: lab up, plan, apply --yes, report, lab down; prints where the report is."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from nodeswap.demo import DEMO_STATE_DIR, run_demo, succeeded
from nodeswap.errors import EXIT_FAILED, InputError, Problem
from nodeswap.i18n import _
from nodeswap.lab.api import NETS
from nodeswap.lab.topology import checked as checked_topology

from .options import JsonOpt, LabDirOpt, QuietOpt, VerboseOpt, level_of
from .render import view

Opt = typer.Option


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(  # noqa: PLR0917 (typer maps parameters to options)
        topology: Annotated[str, Opt("--topology", metavar="NAME|FILE",
                                     help="Lab topology: default, vg-same-24, "
                                     "vg-other-24, installer-4.2, boss1-warehouse, sub-region, "
                                     "or a YAML file.")] = "default",
        keep: Annotated[bool, Opt("--keep", help="Leave the lab running afterwards.")] = False,
        state_dir: LabDirOpt = DEMO_STATE_DIR,
        out: Annotated[Path, Opt("--out", metavar="DIR", help="Where the plan and the reports go.")
                       ] = Path("out/demo"),
        json_out: JsonOpt = False,
        verbose: VerboseOpt = False,
        quiet: QuietOpt = False,
        net: Annotated[str, Opt(
            "--net", metavar="auto|netns|loopback",
            help="The lab's network (as `nodeswap lab up --net`): auto, the default, is netns "
            "(real routes, ARP, haproxy and keepalived) where this machine can run it.")
        ] = "auto",
    ) -> None:
        """A whole proxy upgrade (R2-R37) in the lab, with the code of a real run: lab up,
        discover, plan, apply with every gate approved, report, lab down (needs root).
        With --json, stdout holds only the run's events; demo's own lines go to stderr."""
        checked_topology(topology)  # a typo is bad input (exit 2), before the lab starts
        if net not in NETS:
            raise InputError([Problem(_("--net {net!r}: one of {nets}").format(
                net=net, nets=", ".join(NETS)), key="--net")])
        level = level_of(verbose, quiet)

        def say(text: str) -> None:  # the demo's narration (not with -q)
            if not quiet:
                typer.echo(f"demo: {text}", err=json_out)

        with view(json_out, show_output=verbose, level=level) as events:
            result = asyncio.run(run_demo(
                topology=topology, state_dir=state_dir, out_dir=out, keep=keep,
                events=events, say=say, net=net))
        typer.echo(f"demo: run {result.run_id} ended {result.state}", err=json_out)
        typer.echo(f"demo: report {result.report_html.resolve()} "
                   f"(and {result.report_markdown.resolve()})", err=json_out)
        if keep:
            typer.echo(f"demo: the lab is still up: nodeswap lab down --lab "
                       f"{result.lab_dir}", err=json_out)
        if not succeeded(result):
            raise typer.Exit(EXIT_FAILED)
