"""The options every command shares, declared once: where the zone is and how to log in,
where nodeswap keeps its state, and how much to print. A command names them in its signature
(``lab: LabOpt = None``), so `nodeswap CMD --help` reads the same for each option everywhere.

Only declarations and the few checks of their combinations live here; what they mean is
the library's (nodeswap.live.reach.make_reach / reach_of, nodeswap.run.statedir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer import _click as click

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.run.events import NORMAL, QUIET, VERBOSE

Opt = typer.Option

_LAB = "nodeswap.lab"  # ctx.meta: --lab was given on this command line
_CONFIGURED = (click.core.ParameterSource.ENVIRONMENT, click.core.ParameterSource.DEFAULT_MAP)


def _note_lab(ctx: typer.Context, value: Path | None) -> Path | None:
    if value is not None:
        ctx.meta[_LAB] = value
    return value


def _unless_lab(ctx: typer.Context, param: typer.CallbackParam, value: object) -> object:
    """A connection default from a config file or NODESWAP_* is dropped with --lab: the
    lab's lab.json says how to reach it (a value typed on the command line is kept)."""
    if ctx.meta.get(_LAB) is not None and param.name is not None \
            and ctx.get_parameter_source(param.name) in _CONFIGURED:
        return None
    return value


def _user(ctx: typer.Context, param: typer.CallbackParam, value: object) -> object:
    """As ``_unless_lab``; a configured user also yields to a USER@ typed in --firstbox."""
    value = _unless_lab(ctx, param, value)
    typed = ctx.params.get("firstbox")
    if isinstance(typed, str) and "@" in typed and param.name is not None \
            and ctx.get_parameter_source(param.name) in _CONFIGURED \
            and ctx.get_parameter_source("firstbox") == click.core.ParameterSource.COMMANDLINE:
        return None
    return value


def _identities(ctx: typer.Context, param: typer.CallbackParam, value: object) -> object:
    """As ``_unless_lab``; NODESWAP_IDENTITY holds FILEs separated by spaces."""
    value = _unless_lab(ctx, param, value)
    if param.name is not None and isinstance(value, list | tuple) \
            and ctx.get_parameter_source(param.name) == click.core.ParameterSource.ENVIRONMENT:
        return [Path(word) for item in value for word in str(item).split()]
    return value


# where the zone is and how to log in (nodeswap.live.reach)
LabOpt = Annotated[Path | None, Opt(
    "--lab", metavar="DIR", callback=_note_lab, help="A lab's state folder: firstbox, login "
    "and keys from its lab.json (a configured firstbox, user, identity and known_hosts are "
    "ignored); nodeswap's state in LAB/nodeswap.")]
FirstboxOpt = Annotated[str | None, Opt(
    "--firstbox", metavar="[USER@]ADDRESS", envvar="NODESWAP_FIRSTBOX", show_envvar=True,
    callback=_unless_lab, help="The zone's firstbox (its state folder holds the zone's runs; "
    "config key firstbox).")]
UserOpt = Annotated[str | None, Opt(
    "--user", metavar="USER", envvar="NODESWAP_USER", show_envvar=True, callback=_user,
    help="Login user on the zone's hosts (default: the one in --firstbox, the lab's, else "
    "root; config key user).")]
IdentityOpt = Annotated[list[Path] | None, Opt(
    "--identity-file", "-i", metavar="FILE", envvar="NODESWAP_IDENTITY", show_envvar=True,
    callback=_identities, help="SSH private key (repeatable; the variable: FILEs separated "
    "by spaces; config key identity).")]
KnownHostsOpt = Annotated[Path | None, Opt(
    "--known-hosts", metavar="FILE", envvar="NODESWAP_KNOWN_HOSTS", show_envvar=True,
    callback=_unless_lab, help="A known_hosts file (must exist); host keys are "
    "always checked. Merged into nodeswap's own known_hosts for this firstbox (its keys win "
    "for the hosts it names; `nodeswap trust` adds firstbox's key); exec checks against it "
    "alone (default: the lab's, else ~/.ssh/known_hosts; config key known_hosts).")]
DirectOpt = Annotated[bool, Opt(
    "--direct", help="Reach the nodes directly, not through firstbox as a jump host.")]
JumpOpt = Annotated[str | None, Opt(
    "--jump", metavar="[USER@]HOST", help="A bastion in front of firstbox (firstbox is "
    "reached through it).")]

# where nodeswap keeps a zone's state (nodeswap.run.statedir)
StateOpt = Annotated[Path | None, Opt(
    "--state-dir", metavar="DIR", help="nodeswap's state folder (journals, its own "
    "known_hosts, logs). Default: LAB/nodeswap with --lab, else one folder per firstbox "
    "under $NODESWAP_STATE_DIR (config key state_dir; default /var/lib/nodeswap as root, "
    "else ~/.local/state/nodeswap), where runs are looked up.")]
LabDirOpt = Annotated[Path, Opt(
    "--lab", "--state-dir", metavar="DIR", help="The lab's folder (lab.json, its hosts' "
    "roots; not under /tmp: sshd refuses chroots below world-writable folders). "
    "--state-dir is the older name.")]
LockPathOpt = Annotated[str, Opt(
    "--lock-path", metavar="FILE", help="The zone lock's file on firstbox (held while a run "
    "upgrades the zone).")]

# what to print
JsonOpt = Annotated[bool, Opt(
    "--json", help="Print JSON (for scripts) instead of text; a run's events one per line "
    "(-o json is the same). Errors stay text on stderr.")]
LogFileOpt = Annotated[Path | None, Opt(
    "--log-file", metavar="FILE", help="Also write the run's log to FILE (mode 0600, "
    "secrets masked); it is always written to STATE/logs/RUN.log.")]
VerboseOpt = Annotated[bool, Opt("--verbose", "-v", help="Also show every command's output.")]
QuietOpt = Annotated[bool, Opt("--quiet", "-q", help="Show only gates and errors.")]

__all__ = [
    "DirectOpt", "FirstboxOpt", "IdentityOpt", "JsonOpt", "JumpOpt",
    "KnownHostsOpt", "LabDirOpt", "LabOpt", "LockPathOpt", "LogFileOpt", "QuietOpt", "StateOpt",
    "UserOpt", "VerboseOpt", "lang_option", "level_of", "output_synonym",
]


def level_of(verbose: bool, quiet: bool) -> int:
    """The view's level from -v / -q (QUIET, NORMAL, VERBOSE); both is an input error."""
    if verbose and quiet:
        raise InputError([Problem(_("give -v or -q, not both"), key="--quiet")])
    return VERBOSE if verbose else QUIET if quiet else NORMAL


def output_synonym(argv: list[str]) -> list[str]:
    """``-o json`` / ``--output json`` (also ``-ojson``, ``--output=json``) as ``--json``,
    ``-o text`` as nothing (text is the default); words after ``--`` are kept as typed
    (exec's remote command). Any other format is an input error."""
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            out += [word, *words]
            break
        if word in ("-o", "--output"):
            fmt: str | None = next(words, None)
        elif word.startswith("--output="):
            fmt = word.split("=", 1)[1]
        elif word.startswith("-o") and len(word) > 2 and not word.startswith("--"):
            fmt = word[2:]
        else:
            out.append(word)
            continue
        if fmt not in ("json", "text"):
            raise InputError([Problem(_("-o takes json or text, not {value}").format(
                value=repr(fmt)), key="--output")])
        out += ["--json"] if fmt == "json" else []
    return out


def lang_option(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--lang zh`` / ``--lang=zh`` anywhere before ``--`` (the root's option, also after a
    command): taken out of ``argv`` and returned, since the language is chosen before any
    command's module is imported and its help built. The last one wins."""
    lang: str | None = None
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--":
            out += [word, *words]
            break
        if word == "--lang":
            lang = next(words, None)
            if lang is None:
                raise InputError([Problem(_("--lang needs en or zh"), key="--lang")])
        elif word.startswith("--lang="):
            lang = word.split("=", 1)[1]
        else:
            out.append(word)
    return lang, out
