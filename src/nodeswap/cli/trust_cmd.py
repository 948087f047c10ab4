"""`nodeswap trust --firstbox [USER@]ADDR`: first contact with a zone.

Asks firstbox for its host key (no login; through the ``--jump`` bastion when given), shows
its SHA256 fingerprint, asks the operator (``--yes`` for scripts) and records it in nodeswap's
own known_hosts for that firstbox (``STATE/known_hosts``, the per-firstbox state folder), so
`discover`, `plan` and `apply` then check firstbox's key strictly against it. Nothing is
written unless the operator says yes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.live.reach import make_reach
from nodeswap.live.zonecheck import write_label
from nodeswap.run.statedir import KNOWN_HOSTS, own_known_hosts, state_dir_for
from nodeswap.transport.hostkey import key_line, key_name, scan_key
from nodeswap.zone.knownhosts import with_key

from .options import (
    FirstboxOpt,
    IdentityOpt,
    JsonOpt,
    JumpOpt,
    KnownHostsOpt,
    StateOpt,
    UserOpt,
)

Opt = typer.Option


def known_keys(text: str, host: str) -> list[str]:
    """The keys ("type base64") a known_hosts text has for ``host`` (plain entries only)."""
    names = {host, f"[{host}]:22"}
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and not line.startswith(("#", "@")) and \
                names & set(words[0].split(",")):
            out.append(" ".join(words[1:3]))
    return out


def register(app: typer.Typer) -> None:
    @app.command("trust")
    def trust(  # noqa: PLR0917 (typer maps parameters to options)
        firstbox: FirstboxOpt = None,
        jump: JumpOpt = None,
        user: UserOpt = None,
        identity_file: IdentityOpt = None,
        known_hosts: KnownHostsOpt = None,
        state_dir: StateOpt = None,
        yes: Annotated[bool, Opt("--yes", "-y", help="Record the key without asking "
                                 "(scripts; check the fingerprint another way first).")
                       ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """First contact with a zone: show firstbox's host key fingerprint, ask, record it.

        Connects to firstbox at the address given (no login; through --jump when given),
        shows the SHA256 fingerprint of the host key it presents, and asks whether to trust
        it. Yes records it in nodeswap's own known_hosts for this firstbox (default
        /var/lib/nodeswap/ADDRESS/known_hosts as root); every later command checks firstbox
        against it. Compare the fingerprint with the one firstbox's console shows
        (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`). Exit 0 recorded (or already
        known), 1 not trusted (nothing written), 2 invalid input. --json: one object
        {firstbox, key, known_hosts, recorded, already_trusted} on stdout, the rest on stderr.

        \b
        Examples:
          nodeswap trust --firstbox root@10.16.100.2
          nodeswap trust --firstbox root@10.16.100.2 --jump ops@bastion --yes
        """
        if firstbox is None:
            raise InputError([Problem(_("say which firstbox: --firstbox [USER@]ADDR"),
                                      key="--firstbox")])
        reach = make_reach(lab=None, firstbox=firstbox, user=user,
                           identity_file=identity_file or [], known_hosts=known_hosts,
                           jump=jump)  # fmt: skip
        fb = reach.firstbox
        assert fb is not None
        folder = state_dir_for(state_dir, None, firstbox)
        own = folder / KNOWN_HOSTS
        # the bastion (if any) is checked against nodeswap's file once it exists
        ssh = replace(reach.ssh, known_hosts=str(own)) if own.is_file() else reach.ssh
        key = asyncio.run(scan_key(ssh, fb.address))
        name, line = key_name(key), key_line(key)
        have = known_keys(own.read_text(), fb.address) if own.is_file() else []

        def say(text: str) -> None:
            typer.echo(text, err=as_json)

        def result(recorded: bool, path: Path) -> None:
            if as_json:
                typer.echo(json.dumps({"firstbox": fb.address, "key": name,
                                       "known_hosts": str(path), "recorded": recorded,
                                       "already_trusted": line in have}))  # fmt: skip

        if line in have:
            say(_("firstbox {address}: host key {key} is already trusted ({file})").format(
                address=fb.address, key=name, file=own))
            result(False, own)
            return
        say(_("firstbox {address} presents host key {key}").format(address=fb.address, key=name))
        if have:
            say(_("WARNING: nodeswap knows other keys for {address} ({file}); trusting this one "
                  "replaces them. A changed key means another machine answers there, or "
                  "firstbox was reinstalled: find out which first.").format(
                      address=fb.address, file=own))
        if not yes:
            if not sys.stdin.isatty():
                raise InputError([Problem(_("no terminal to ask on: check the fingerprint, "
                                            "then run again with --yes"), key="--yes")])
            if not typer.confirm(_("Trust this key for {address}?").format(address=fb.address),
                                 default=False):
                say(_("not trusted: nothing recorded"))
                result(False, own)
                raise typer.Exit(1)
        path = Path(own_known_hosts(folder, reach.ssh.known_hosts,
                                    given=reach.given_known_hosts))
        path.write_text(with_key(path.read_text(), fb.address, line))
        write_label(folder, fb.address, ())
        say(_("recorded: {address} {key} in {file}").format(address=fb.address, key=name,
                                                             file=path))
        result(True, path)
