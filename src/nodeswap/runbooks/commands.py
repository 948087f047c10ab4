"""The Pitrix paths and the small command builders every runbook uses. Pure.

Every command is built with nodeswap.shell (``cmd``/``chain``): values never reach a shell
unquoted. Nothing here knows a role.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from nodeswap.errors import BugError
from nodeswap.shell import chain, cmd

SETTINGS_DIR = "/pitrix/conf/settings"
KERNELS = "/pitrix/kernels"
EXEC_NODES = "/pitrix/upgrade/exec_nodes.sh"
UPDATE = "/pitrix/upgrade/update.sh"
KNOWN_HOSTS = "/root/.ssh/known_hosts"
INTERFACES = "/etc/network/interfaces"
RC_TAIL = "/etc/rc.local.tail"  # install_nodes.sh writes it (R22's marker)

PING_WAIT = 600  # seconds a bounded ping loop may wait for a host to come or go
REBOOT_WAIT = 120  # seconds resume waits for a VM cut in its reboot to answer again (R33)


def fetch_id(node: str, key: str) -> str:
    """The id of the read-only step keeping the old node's ``key`` (runbooks.base.Fetch)."""
    return f"fetch-{node}-{key}"


def settings_path(node: str) -> str:
    return f"{SETTINGS_DIR}/{node}"


def or_true(command: str) -> str:
    """A status command whose non-zero exit is information, not failure (judged by parsing)."""
    return f"{command} || true"


def negate(command: str) -> str:
    return f"! {command}"


def cat_if_present(path: str) -> str:
    return f"{cmd('test', '!', '-e', path)} || {cmd('cat', path)}"


def cat_file(path: str, *, optional: bool = False) -> str:
    """``cat PATH``; for a file that may be absent, nothing (and exit 0) when it is."""
    return cat_if_present(path) if optional else cmd("cat", path)


def ping_loop(address: str, *, until_up: bool) -> str:
    """A bounded loop on firstbox: wait until ``address`` answers ping (or stops). It probes
    five times a second (a ping that gets no answer still waits its 1 s): the step after it,
    during the switch (R32, R33), starts within 0.2 s of the change, not up to a second late.
    ``--foreground`` keeps ``timeout`` (and the loop) in the command's process group: without
    it timeout makes a group of its own, which the transport's stop of an interrupted
    command (Ctrl-C, SIGTERM: a kill of the group) never reaches, and the wait ran on."""
    probe = cmd("ping", "-c", "1", "-W", "1", address) + " >/dev/null 2>&1"
    pause = "sleep 0.2"
    body = f"until {probe}; do {pause}; done" if until_up else f"while {probe}; do {pause}; done"
    return cmd("timeout", "--foreground", str(PING_WAIT), "sh", "-c", body)


def sha_matches(path: str, content: str) -> str:
    """Read-only: exit 0 iff ``path`` holds exactly ``content`` (sha256)."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    return cmd("printf", "%s  %s\\n", digest, path) + " | " + cmd("sha256sum", "--check",
                                                                    "--status")


def write_text(path: str, content: str) -> str:
    """Write ``content`` to ``path`` atomically without stdin (for undo commands)."""
    tmp = f"{path}.nodeswap-tmp"
    return chain(cmd("printf", "%s", content) + " > " + cmd(tmp), cmd("mv", "-f", tmp, path))


def tree_sums(path: str) -> str:
    return (cmd("cd", path) + " && find . -type f -print0 | LC_ALL=C sort -z | "
            "xargs -0 -r sha256sum")


def same_tree(a: str, b: str) -> str:
    return f'test "$({tree_sums(a)})" = "$({tree_sums(b)})"'


def same_tree_digest(a: str, b: str) -> str:
    """Read-only: exit 0 iff ``a`` and ``b`` hold the same files with the same contents, then
    print ``SHA256  b`` (as sha256sum prints a file's), the sha256 of ``b``'s sorted per-file
    checksums: what ``cd b && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    | sha256sum`` prints. The report reads it back (``parse_tree_digest``)."""
    return chain(same_tree(a, b), f's="$({tree_sums(b)} | sha256sum)"',
                 cmd("printf", "%s  %s\\n") + ' "${s%% *}" ' + cmd(b))


def parse_tree_digest(output: str) -> tuple[str, str] | None:
    """(path, sha256) from ``same_tree_digest``'s output; None for any other text."""
    m = re.fullmatch(r"([0-9a-f]{64})  (.+)\n?", output)
    return None if m is None else (m.group(2), m.group(1))


def exec_nodes(targets: str, command: str) -> str:
    if "#" in command:  # exec_nodes.sh refuses it; node names cannot hold one (values.py)
        raise BugError(f"exec_nodes.sh commands may not contain '#': {command!r}")
    return cmd(EXEC_NODES, "-f", targets, command)


def virsh(action: str, *args: str) -> str:
    """``virsh ACTION [FLAGS] -- DOMAIN``: virsh's parser (vshCommandParse) reads every word
    after a lone ``--`` as data, so no domain name can be taken for an option such as
    ``--help`` (which prints help and exits 0). Names are validated anyway (values.py);
    this is defence in depth. The /pitrix scripts get no ``--``: their parsing is not
    public, and the runbook writes them without it; ``ssh-keygen -R NAME`` neither: NAME is
    the argument of ``-R`` (getopt takes the next word as it is) and ``-R --`` would remove a
    host named ``--``; coreutils (cp, mv, rm, cat, test) only get absolute paths, which
    cannot start with ``-`` (and ``test`` would read a ``--`` as an operand)."""
    *flags, domain = args
    return cmd("virsh", action, *flags, "--", domain)


def address_expr(old: str, new: str) -> str:
    """A sed -E expression replacing the whole address ``old`` by ``new``."""
    pattern = old.replace(".", r"\.")
    return f"s/(^|[^0-9.]){pattern}([^0-9.]|$)/\\1{new}\\2/g"


def replace_addresses(path: str, pairs: Sequence[tuple[str, str]]) -> str:
    """Each ``(from, to)`` address replaced in ``path``, when the file exists (a VM on
    netplan may have no /etc/network/interfaces)."""
    exprs = [w for a, b in pairs for w in ("-e", address_expr(a, b))]
    return f"{{ {cmd('test', '!', '-e', path)} || {cmd('sed', '-i', '-E', *exprs, path)}; }}"


def _words(addresses: Iterable[str]) -> list[str]:
    return [w for a in addresses for w in ("-e", a)]


def rewrite_addresses(pairs: Sequence[tuple[str, str]], root: str) -> str:
    """R31: every text file under ``root`` holding one of the ``(from, to)`` addresses (a
    whole word) gets each ``to`` instead (grep -r follows no symlink: files only)."""
    find = cmd("grep", "-D", "skip", "-rlwIFZ", *_words(a for a, _ in pairs), "--", root)
    exprs = [w for a, b in pairs for w in ("-e", address_expr(a, b))]
    return f"{find} | " + cmd("xargs", "-0", "-r", "sed", "-i", "-E", *exprs)


def holds_none(addresses: Iterable[str], *paths: str) -> str:
    """Read-only: exit 0 iff no text file under ``paths`` holds any of ``addresses``."""
    return negate(cmd("grep", "-D", "skip", "-rqswIF", *_words(addresses), "--", *paths))


def sweep(addresses: Iterable[str], *paths: str, recursive: bool = False) -> str:
    """Read-only: ``path:line:address`` for each whole-word hit of ``addresses`` in ``paths``
    (checks.network.check_stale reads it); exit 0 when nothing is found too, not on a read
    error."""
    flags = "-rHnowIF" if recursive else "-HnowF"
    return (cmd("grep", "-D", "skip", flags, *_words(addresses), "--", *paths)
            + "; test $? -le 1")


def supervisor_status() -> str:
    return or_true(cmd("supervisorctl", "status"))


def start_unless_running(name: str, address: str) -> str:
    """Idempotent ``virsh start``: only a domain that is not running (virsh refuses to start
    an active one), and never while another host answers at its ``address`` (the new VM after
    R33's reboot: libvirt would start a second VM with the same IP; the undo fails instead,
    saying so)."""
    busy = cmd("ping", "-c", "1", "-W", "1", address) + " >/dev/null 2>&1"
    why = (f"{address} answers: another host holds it (the new VM?); {name} is not started "
           "beside it (destroy that VM first)")
    return (f"if {running(name)}; then true; elif {busy}; then {cmd('echo', why)} >&2; false;"
            f" else {virsh('start', name)}; fi")


def destroy_if_running(name: str) -> str:
    """Idempotent ``virsh destroy``: only a running domain (virsh refuses to destroy one that
    is not); a failure to destroy a running one is an error, and so is a virsh that does not
    answer at all (it is not taken for "not running")."""
    return (f"if {running(name)}; then {virsh('destroy', name)};"
            f" else {cmd('virsh', 'list', '--all', '--name')} >/dev/null; fi")


def undefine_if_defined(name: str) -> str:
    """Idempotent ``virsh undefine``: only a domain that is defined."""
    return f"if {virsh('dominfo', name)} >/dev/null 2>&1; then {virsh('undefine', name)}; fi"


def running(name: str) -> str:
    return virsh("domstate", name) + " 2>/dev/null | " + cmd("grep", "-qx", "running")


def all_stopped() -> str:
    """Read-only: every program supervisord knows is STOPPED (``supervisorctl status`` exits
    non-zero then: its output decides)."""
    return ('test -z "$(' + cmd("supervisorctl", "status") + " 2>&1 | "
            + cmd("grep", "-vw", "STOPPED") + ')"')


def keep_as(src: str, plain: str, dated: str, *, optional: bool = False) -> tuple[str, str]:
    """(command, check) of an R37 rename: ``src`` to ``plain``, or to ``dated`` when
    ``plain`` is taken; refused (exit 1, nothing moved) when both are. ``optional``: a
    ``src`` that is absent is fine."""
    pick = (f"if {cmd('test', '-e', plain)}; then d={cmd(dated)}; else d={cmd(plain)}; fi")
    refuse = ('test ! -e "$d" || { echo "R37: $d exists (an earlier archive): not '
              'overwritten" >&2; false; }')
    move = chain(pick + "; " + refuse, 'mv -T ' + cmd(src) + ' "$d"')
    command = f"{cmd('test', '!', '-e', src)} || {{ {move}; }}" if optional else move
    check = chain(cmd("test", "!", "-e", src),
                  f"{{ {cmd('test', '-e', plain)} || {cmd('test', '-e', dated)}; }}")
    return command, (cmd("test", "!", "-e", src) if optional else check)
