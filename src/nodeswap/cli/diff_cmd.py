"""`nodeswap diff haproxy|rc OLD NEW`: the R27/R28 comparisons as standalone tools.

Thin: read the two files (size, emptiness and binary content checked by
nodeswap.checks.textfile), call nodeswap.checks.haproxy / rcfiles (and, for haproxy.cfg,
nodeswap.checks.validate when a haproxy binary exists), render with rich or as JSON.
Exit status: 0 nothing unexpected, 1 something unexpected, 2 invalid input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from nodeswap.checks import haproxy, rcfiles, textfile, validate
from nodeswap.checks.findings import AddressMap, Difference, has_unexpected, report_json
from nodeswap.errors import EXIT_FAILED, InputError, Problem
from nodeswap.i18n import _, word

from .options import JsonOpt

diff_app = typer.Typer(
    name="diff",
    help="Compare a config file of the old node with the new node's (R27 haproxy.cfg, "
    "R28 rc.local*). Exit status: 0 nothing unexpected; 1 something unexpected; "
    "2 invalid input.",
    no_args_is_help=True,
)

HAPROXY_HELP = """Compare two haproxy.cfg files semantically (R27).

Whitespace, comments and quoting never matter; `server` and `bind` lines are sets; rule \
lists (acl, use_backend, http-request, tcp-request ...) keep their order. Each difference \
is classed: ignored (binds moved, section layout listen vs frontend+backend, the website \
forward on 8081, lines equal once the temporary address is mapped back), attention (with \
--sub-region: server lines of api-front/ws-front/io-front, with the edit to make), \
unexpected (everything else).

When a haproxy binary is found, NEW is also checked with `haproxy -c -dr -f NEW`; each \
complaint is an unexpected difference (section "haproxy -c"). That is this machine's \
haproxy, users and files: use --no-validate when they cannot match the node's.

\b
Examples:
  nodeswap diff haproxy old/haproxy.cfg new/haproxy.cfg
  nodeswap diff haproxy old.cfg new.cfg --sub-region --address-map 10.16.0.2=10.16.0.12
  nodeswap diff haproxy old.cfg new.cfg --json

JSON: {"differences": [{"section", "old", "new", "old_line", "new_line", "class", "rule", \
"reason"}]} (a side with nothing is null).

Exit status: 0 nothing unexpected; 1 something unexpected; 2 invalid input (missing, empty, \
binary or over 10 MB file, not haproxy syntax: the message names file and line).
"""

RC_HELP = """Compare two rc.local / rc.local.head / rc.local.tail files line by line (R28).

Blank lines, comment lines and trailing whitespace are ignored; order matters. A line that \
differs only by the new node's temporary address (--address-map OLD=NEW) is attention: it \
must be edited at the switch. Everything else is unexpected. Same JSON and exit status as \
`nodeswap diff haproxy`.
"""

AddressMapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--address-map",
        help="OLD=NEW: the new node is at NEW (temporary address) for OLD; repeatable, "
        "or a comma list.",
        metavar="OLD=NEW",
    ),
]


def read_text(path: Path) -> str:
    """A file's text, or an InputError naming the file (missing, too big, empty, binary)."""
    name = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError([Problem(_("no such file"), name)]) from None
    except OSError as exc:
        raise InputError([Problem(_("cannot read: {error}").format(error=exc.strerror),
                                  name)]) from exc
    if path.is_dir():
        raise InputError([Problem(_("is a directory, not a file"), name)])
    if size > textfile.MAX_BYTES:
        raise textfile.too_big(size, name)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(_("cannot read: {error}").format(error=exc.strerror),
                                  name)]) from exc
    return textfile.decode(data, name)


def read_both(old: Path, new: Path) -> tuple[str, str]:
    """Both files' text, reporting the problems of both at once."""
    problems: list[Problem] = []
    texts: list[str] = []
    for path in (old, new):
        try:
            texts.append(read_text(path))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return texts[0], texts[1]


def diff_haproxy(
    old: Path, new: Path, *, sub_region: bool, address_map: AddressMap, validate_new: bool,
    haproxy_bin: str | None,
) -> tuple[list[Difference], str]:
    """Findings for two haproxy.cfg files, and a note on validation."""
    old_text, new_text = read_both(old, new)
    findings = haproxy.compare_text(old_text, new_text, old_file=str(old), new_file=str(new),
                                    sub_region=sub_region, address_map=address_map)
    if not validate_new:
        return findings, "not validated with haproxy -c (--no-validate)"
    binary = haproxy_bin or validate.find_haproxy()
    if binary is None:
        return findings, "not validated: no haproxy binary found"
    problems = validate.validate(str(new), binary)
    verdict = "rejected" if problems else "accepted"
    return findings + problems, f"{new} {verdict} by `{binary} -c`"


def render(findings: Sequence[Difference], title: str, note: str = "") -> None:
    """The readable report: one block per difference (diff-like), then the summary."""
    console = Console(highlight=False)
    styles = {"ignored": "dim", "attention": "yellow", "unexpected": "bold red"}
    console.print(Text(title, style="bold"))
    for d in findings:
        style = styles[d.klass]
        console.print(Text.assemble((f"{d.klass:<10}", style), " ", (d.section, "bold"),
                                    f"  ({d.rule})"))
        if d.old is not None or d.old_line is not None:
            console.print(Text("  - " + _("old") + f"{_at(d.old_line)}: {_lines(d.old, '  - ')}",
                               style="red"))
        if d.new is not None or d.new_line is not None:
            console.print(Text("  + " + _("new") + f"{_at(d.new_line)}: {_lines(d.new, '  + ')}",
                               style="green"))
        console.print(Text(f"    {d.reason}", style=style if d.klass != "ignored" else "dim"))
    counts = {k: sum(1 for d in findings if d.klass == k) for k in styles}
    summary = ", ".join(f"{n} {word(k)}" for k, n in counts.items())
    verdict = _("UNEXPECTED differences") if counts["unexpected"] else _("nothing unexpected")
    console.print(Text(f"{verdict} ({summary})", style="bold red" if counts["unexpected"]
                       else "bold green"))
    if note:
        console.print(Text(note))


def _lines(text: str | None, mark: str) -> str:
    """A multi-line side (a whole section) with each further line marked like the first."""
    return (text or "").replace("\n", "\n" + mark + "  ")


def _at(line: int | None) -> str:
    return f" line {line}" if line is not None else ""


def _finish(findings: Sequence[Difference], as_json: bool, title: str, note: str) -> None:
    if as_json:
        typer.echo(json.dumps(report_json(findings), indent=2, ensure_ascii=False))
    else:
        render(findings, title, note)
    if has_unexpected(findings):
        raise typer.Exit(EXIT_FAILED)


@diff_app.command("haproxy", help=HAPROXY_HELP)
def haproxy_command(  # noqa: PLR0917 (typer reads options from the signature)
    old: Annotated[Path, typer.Argument(help="The old node's haproxy.cfg.")],
    new: Annotated[Path, typer.Argument(help="The new node's haproxy.cfg.")],
    sub_region: Annotated[
        bool, typer.Option("--sub-region", help="The zone is a sub region / sub zone (R27).")
    ] = False,
    address_map: AddressMapOpt = None,
    as_json: JsonOpt = False,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Do not run haproxy -c on NEW.")
    ] = False,
    haproxy_bin: Annotated[
        str | None, typer.Option("--haproxy", metavar="FILE",
                                help="The haproxy binary to validate with.")
    ] = None,
) -> None:
    amap = AddressMap.from_items(address_map or [])
    findings, note = diff_haproxy(old, new, sub_region=sub_region, address_map=amap,
                                  validate_new=not no_validate, haproxy_bin=haproxy_bin)
    _finish(findings, as_json, f"haproxy.cfg {old} → {new}", note)


@diff_app.command("rc", help=RC_HELP)
def rc_command(
    old: Annotated[Path, typer.Argument(help="The old node's rc file.")],
    new: Annotated[Path, typer.Argument(help="The new node's rc file.")],
    address_map: AddressMapOpt = None,
    as_json: JsonOpt = False,
) -> None:
    amap = AddressMap.from_items(address_map or [])
    old_text, new_text = read_both(old, new)
    by_length = sorted(rcfiles.RC_FILES, key=len, reverse=True)
    section = next(
        (n for n in by_length if new.name.endswith(n) or old.name.endswith(n)), new.name
    )
    findings = rcfiles.compare_text(old_text, new_text, old_file=str(old), new_file=str(new),
                                    section=section, address_map=amap)
    _finish(findings, as_json, f"{section} {old} → {new}", "")


def register(app: typer.Typer) -> None:
    """Add `nodeswap diff haproxy|rc` to the app."""
    app.add_typer(diff_app, name="diff")
