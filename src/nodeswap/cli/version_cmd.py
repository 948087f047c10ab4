"""`nodeswap version`: the version, as `nodeswap --version` prints it (or JSON)."""

from __future__ import annotations

import json

import typer

from nodeswap.cli import version_text

from .options import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version(as_json: JsonOpt = False) -> None:
        """Print nodeswap's version (the same as `nodeswap --version`)."""
        text = version_text()
        if as_json:
            typer.echo(json.dumps({"name": "nodeswap", "version": text.split()[-1]}))
        else:
            typer.echo(text)
