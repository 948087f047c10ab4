"""`nodeswap exec GROUP -- COMMAND`: a command on a node group, in parallel, structured.

Thin: parse GROUP and the remote command (everything after ``--``), run the job
(nodeswap.live.exec: groups as exec_nodes.sh names them, or a hosts file's hosts), print each
host as it finishes, then a summary (or one JSON object). Exit 0 only if every host ran the
command with status 0.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand

from nodeswap.errors import EXIT_FAILED, EXIT_OK, InputError, Problem
from nodeswap.i18n import _
from nodeswap.live.exec import ExecResult, Job, exec_job, read_hosts_file
from nodeswap.live.reach import Reach, make_reach
from nodeswap.run.events import HostDone, host_block
from nodeswap.shell import cmd

from .options import (
    DirectOpt,
    FirstboxOpt,
    IdentityOpt,
    JsonOpt,
    JumpOpt,
    KnownHostsOpt,
    LabOpt,
    UserOpt,
)

if TYPE_CHECKING:
    from typer import _click as click

HELP = """Run COMMAND on a node group in parallel; exit 0 only if every host exited 0.

What /pitrix/upgrade/exec_nodes.sh does, judged by each host's own exit status. GROUP is a \
group as exec_nodes.sh names it (all, phy, vm, ks, vg, a role such as proxy, a node name, or a \
comma list of them), resolved from the zone's settings files on firstbox (--firstbox, or \
--lab of a zone lab) or from a plain lab's lab.json. Instead of GROUP, --hosts-file FILE \
lists the hosts: one [USER@]HOST[:PORT] per line, '#' comments and blank lines allowed.

Options go before or after GROUP; everything after -- is the remote command. One word after \
-- is a shell command line, run as written; several words are an argument list, each word \
quoted, so none is split again or expanded on the host.

Each host is printed as it finishes: NODE (ADDRESS): ok, FAILED exit N or UNREACHABLE, then \
its output lines prefixed with NODE| (stderr NODE!|); then a summary. --json prints one \
object: {"hosts": {KEY: {"exit_status", "stdout", "stderr", "error", "node", "address"}}, \
"summary": {"ok", "failed", "unreachable"}}, KEY being the node's name or the hosts file's \
entry; "node" is null for an address no zone names.

\b
Examples (the lab ones after `nodeswap lab up`):
  nodeswap exec --lab /var/lib/nodeswap-lab/default proxy -- supervisorctl status
  nodeswap exec proxy,webservice --lab /var/lib/nodeswap-lab/default --json -- uname -n
  nodeswap exec proxy --lab /var/lib/nodeswap-lab/default \\
      -- 'grep DISTRIB_RELEASE /etc/lsb-release | cut -d= -f2'     # one word: a shell line
  nodeswap exec proxy --firstbox root@10.16.100.2 -- supervisorctl status
  nodeswap exec --hosts-file hosts.txt -i ~/.ssh/id_ed25519 --forks 20 -- uptime

Exit status: 0 every host ran COMMAND with status 0; 1 a host failed, timed out or was \
unreachable; 2 invalid input (nothing run).
"""


def show_host(done: HostDone) -> None:
    """One host's block, printed as it finishes."""
    sys.stdout.write(host_block(done))
    sys.stdout.flush()


def show_result(result: ExecResult, json_out: bool) -> None:
    """The JSON object, or the summary line after the hosts' blocks."""
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        return
    counts = result.counts
    sys.stdout.write(
        f"-- {len(result.results)} hosts in {result.took:.2f}s: ok {counts['ok']}, failed "
        f"{counts['failed']}, unreachable {counts['unreachable']}\n"
    )


async def exec_and_show(reach: Reach, job: Job, json_out: bool) -> int:
    """Run the job, print as hosts finish (not with --json), then the whole; the exit code."""
    result = await exec_job(reach, job, on_result=None if json_out else show_host)
    show_result(result, json_out)
    return EXIT_OK if result.ok else EXIT_FAILED


def remote_command(words: list[str] | None, before: list[str]) -> str:
    """The remote command from the words after ``--`` (None: there was no ``--``): one word
    is a shell command line as written; several are an argument list, each word quoted."""
    if words is None:
        got = _(" (got {words}, and no --)").format(words=repr(" ".join(before))) \
            if before else ""
        raise InputError([Problem(_("the COMMAND goes after --: nodeswap exec GROUP -- COMMAND")
                                  + got, key="COMMAND")])  # fmt: skip
    if not words:
        raise InputError([Problem(_("no COMMAND given after --"), key="COMMAND")])
    return words[0] if len(words) == 1 else cmd(*words)


def group_of(words: list[str], hosts_file: Path | None) -> str | None:
    """GROUP, the one argument before ``--`` (none with --hosts-file)."""
    if hosts_file is not None:
        if words:
            raise InputError([Problem(_("give GROUP ({words}) or --hosts-file, not both").format(
                words=repr(" ".join(words))), key="GROUP")])
        return None
    if not words:
        raise InputError([Problem(_("no GROUP: name a node group (all, proxy, vm, phy, a node, "
                                    "a comma list) or give --hosts-file"), key="GROUP")])
    if len(words) > 1:
        raise InputError([Problem(_("one GROUP (a comma list for several), not {words}: the "
                                    "COMMAND goes after --").format(words=repr(words)),
                                  key="GROUP")])
    return words[0]


_REMOTE = "nodeswap.exec.remote"


class _RemoteAfterDoubleDash(TyperCommand):
    """Everything after the first ``--`` is the remote command, kept as typed (in
    ``ctx.meta``); what comes before it is parsed as usual, options before or after GROUP."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[_REMOTE] = args[at + 1 :]
            args = args[:at]
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS] [GROUP] -- COMMAND..."]


Opt = typer.Option


def register(app: typer.Typer) -> None:
    @app.command("exec", cls=_RemoteAfterDoubleDash, help=HELP,
                 context_settings={"allow_interspersed_args": True})  # fmt: skip
    def exec_(  # noqa: PLR0917 (typer maps parameters to options)
        ctx: typer.Context,
        group: Annotated[list[str] | None, typer.Argument(
            metavar="GROUP", show_default=False,
            help="Node group (all, proxy, vm, phy, a name, a comma list); none with "
                 "--hosts-file. COMMAND: everything after --.")] = None,
        firstbox: FirstboxOpt = None,
        lab: LabOpt = None,
        hosts_file: Annotated[Path | None, Opt(
            "--hosts-file", metavar="FILE",
            help="One [USER@]HOST[:PORT] per line; replaces GROUP.")] = None,
        forks: Annotated[int, Opt("--forks", min=1, help="Hosts at once.")] = 64,
        user: UserOpt = None,
        identity_file: IdentityOpt = None,
        known_hosts: KnownHostsOpt = None,
        direct: DirectOpt = False,
        jump: JumpOpt = None,
        timeout: Annotated[float, Opt("--timeout", metavar="SECONDS",
                                      help="Seconds per command.")] = 600.0,
        connect_timeout: Annotated[float, Opt(
            "--connect-timeout", metavar="SECONDS", help="Seconds to connect to a host.")] = 10.0,
        json_out: JsonOpt = False,
    ) -> None:
        before = list(group or ())
        command = remote_command(ctx.meta.get(_REMOTE), before)
        name = group_of(before, hosts_file)
        hosts = None if hosts_file is None else tuple(read_hosts_file(hosts_file))
        reach = make_reach(lab=lab, firstbox=firstbox, user=user,
                           identity_file=identity_file or [], known_hosts=known_hosts,
                           direct=direct, connect_timeout=connect_timeout,
                           jump=jump)  # fmt: skip
        job = Job(name, hosts, command, forks, timeout)
        raise typer.Exit(asyncio.run(exec_and_show(reach, job, json_out)))
