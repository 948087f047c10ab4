"""`nodeswap show PLAN.json`: a saved plan, as `plan` showed it when it was made (or JSON).

Thin: read the plan file (refused with exit 2 when it is not a nodeswap plan), render it with
the plan's own view (nodeswap.cli.render), so what a reviewer reads is what `apply` will run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from nodeswap.run.runs import read_plan

from .options import JsonOpt
from .render import plan_console, plan_json, render


def register(app: typer.Typer) -> None:
    @app.command("show")
    def show(
        plan_file: Annotated[Path, typer.Argument(
            metavar="PLAN.json", help="A plan saved by `nodeswap plan --out`.")],
        as_json: JsonOpt = False,
    ) -> None:
        """Show a saved plan: nodes, settings diffs, every step with its rule, host, exact
        command and gates, warnings, and the plan's sha256 (what `apply` records).

        \b
        Examples:
          nodeswap show plan.json | less -R
          nodeswap show plan.json --json | jq '.steps[] | select(.gate) | .id'
        """
        plan = read_plan(plan_file)
        if as_json:
            typer.echo(json.dumps(plan_json(plan), indent=2))
            return
        render(plan, plan_console())
        Console().print(f"plan sha256 {plan.fingerprint()}", soft_wrap=True)
