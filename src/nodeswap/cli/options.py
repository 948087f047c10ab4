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

from nodeswap.errors import InputError, Problem
from nodeswap.run.events import NORMAL, QUIET, VERBOSE

Opt = typer.Option

# where the zone is and how to log in (nodeswap.live.reach)
LabOpt = Annotated[Path | None, Opt(
    "--lab", metavar="DIR", help="A lab's state folder: firstbox, login and keys from its "
    "lab.json; nodeswap's state in LAB/nodeswap.")]
FirstboxOpt = Annotated[str | None, Opt(
    "--firstbox", metavar="[USER@]ADDRESS", help="The zone's firstbox (its state folder "
    "holds the zone's runs).")]
UserOpt = Annotated[str | None, Opt(
    "--user", help="Login user on the zone's hosts (default: the one in --firstbox, the "
    "lab's, else root).")]
IdentityOpt = Annotated[list[Path] | None, Opt(
    "--identity-file", "-i", metavar="FILE", help="SSH private key (repeatable).")]
KnownHostsOpt = Annotated[Path | None, Opt(
    "--known-hosts", metavar="FILE", help="A known_hosts file (must exist); host keys are "
    "always checked. Merged into nodeswap's own known_hosts for this firstbox (its keys win "
    "for the hosts it names; `nodeswap trust` adds firstbox's key); exec checks against it "
    "alone (default: the lab's, else ~/.ssh/known_hosts).")]
DirectOpt = Annotated[bool, Opt(
    "--direct", help="Reach the nodes directly, not through firstbox as a jump host.")]
JumpOpt = Annotated[str | None, Opt(
    "--jump", metavar="[USER@]HOST", help="A bastion in front of firstbox (firstbox is "
    "reached through it).")]

# where nodeswap keeps a zone's state (nodeswap.run.statedir)
StateOpt = Annotated[Path | None, Opt(
    "--state-dir", metavar="DIR", help="nodeswap's state folder (journals, its own "
    "known_hosts). Default: LAB/nodeswap with --lab, else one folder per firstbox in "
    "/var/lib/nodeswap as root ($NODESWAP_STATE_DIR), where runs are looked up.")]
LockPathOpt = Annotated[str, Opt(
    "--lock-path", metavar="PATH", help="The zone lock's file on firstbox (held while a run "
    "upgrades the zone).")]

# what to print
JsonOpt = Annotated[bool, Opt(
    "--json", help="Print JSON (for scripts) instead of text; a run's events one per line.")]
VerboseOpt = Annotated[bool, Opt("--verbose", "-v", help="Also show every command's output.")]
QuietOpt = Annotated[bool, Opt("--quiet", "-q", help="Show only gates and errors.")]

__all__ = [
    "DirectOpt", "FirstboxOpt", "IdentityOpt", "JsonOpt", "JumpOpt",
    "KnownHostsOpt", "LabOpt", "LockPathOpt", "QuietOpt", "StateOpt", "UserOpt", "VerboseOpt",
    "level_of",
]


def level_of(verbose: bool, quiet: bool) -> int:
    """The view's level from -v / -q (QUIET, NORMAL, VERBOSE); both is an input error."""
    if verbose and quiet:
        raise InputError([Problem("give -v or -q, not both", key="--quiet")])
    return VERBOSE if verbose else QUIET if quiet else NORMAL
