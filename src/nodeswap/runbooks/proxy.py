"""The proxy runbook (R6-R37) as data: which step runs where, with which exact command. Pure.

plan.py decides the values (R7-R17 via rules.py) and hands them here as a ``Context``; this
module turns them into ``Step``s, phase by phase. Each phase is a small table or function, so a
later role (webservice, ...) reuses the shape with other rows. Every command is built with
nodeswap.shell (``cmd``/``chain``/``write_file_atomic``): values never reach a shell unquoted.

Targets: ``firstbox`` (direct), ``<node>-old`` (old address), ``<node>-new`` (temporary
address, pinned key ``<node>-new``), ``<node>-switched`` (old address, same pinned key: the new
VM after R31-R33), and physical hosts by their node name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from nodeswap.checks.console import curl_command
from nodeswap.errors import BugError
from nodeswap.model import Analysis, Step, Target
from nodeswap.shell import chain, cmd, write_file_atomic
from nodeswap.values import node_name_problem

SETTINGS_DIR = "/pitrix/conf/settings"
KERNELS = "/pitrix/kernels"
EXEC_NODES = "/pitrix/upgrade/exec_nodes.sh"
UPDATE = "/pitrix/upgrade/update.sh"
KNOWN_HOSTS = "/root/.ssh/known_hosts"

# Reference copies fetched from each old node before anything changes (R27-R29 compare the
# new node against them; R31 needs the interfaces file). (key, path, rule, may be absent)
FETCHES: tuple[tuple[str, str, str, bool], ...] = (
    ("haproxy", "/etc/haproxy/haproxy.cfg", "R27", False),
    ("rc.local", "/etc/rc.local", "R28", True),
    ("rc.local.head", "/etc/rc.local.head", "R28", True),
    ("rc.local.tail", "/etc/rc.local.tail", "R28", True),
    ("interfaces", "/etc/network/interfaces", "R31", False),
)

# Optional proxy packages by deployed component (R24-R26).
COMPONENT_PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("boss", "R24", "pitrix-ks-proxy-boss"),
    ("boss2", "R25", "pitrix-ks-proxy-boss2"),
    ("warehouse", "R26", "pitrix-ks-proxy-warehouse"),
)

# R31 rewrites the temporary address to the old one in these files of the new VM (the runbook
# names only the interfaces file; vm_network_routing_rule also put it in rc.local.tail).
REWRITTEN_AT_SWITCH = ("/etc/network/interfaces", "/etc/rc.local.tail")

PING_WAIT = 600  # seconds a bounded ping loop may wait for a host to come or go


@dataclass(frozen=True)
class NodeContext:
    """What plan.py decided for one node, as the steps need it."""

    name: str
    old_address: str
    temp_address: str
    old_host_name: str
    old_host_address: str
    new_host_name: str
    new_host_address: str
    settings: str  # new settings text (R7-R17)
    switched_settings: str  # R30: the new settings with the old MGMT/EIP values back


@dataclass(frozen=True)
class Context:
    role: str
    new_tools: bool  # installer >= 4.3.0: R18 (.py) else R19 (.sh)
    components: frozenset[str]
    firstbox_address: str
    nodes: Sequence[NodeContext]  # in switch order
    today: str  # YYYYMMDD for R6
    vip: str | None = None
    console_url: str | None = None
    sub_region: bool = False


# ---- small command helpers ------------------------------------------------------------------
def _or_true(command: str) -> str:
    """A status command whose non-zero exit is information, not failure (judged by parsing)."""
    return f"{command} || true"


def _not(command: str) -> str:
    return f"! {command}"


def _cat_if_present(path: str) -> str:
    return f"{cmd('test', '!', '-e', path)} || {cmd('cat', path)}"


def _ping_loop(address: str, *, until_up: bool) -> str:
    """A bounded loop on firstbox: wait until ``address`` answers ping (or stops)."""
    probe = cmd("ping", "-c", "1", "-W", "1", address) + " >/dev/null 2>&1"
    body = f"until {probe}; do sleep 1; done" if until_up else f"while {probe}; do sleep 1; done"
    return cmd("timeout", str(PING_WAIT), "sh", "-c", body)


def _sha_matches(path: str, content: str) -> str:
    """Read-only: exit 0 iff ``path`` holds exactly ``content`` (sha256)."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    return cmd("printf", "%s  %s\\n", digest, path) + " | " + cmd("sha256sum", "--check",
                                                                    "--status")


def _write_text(path: str, content: str) -> str:
    """Write ``content`` to ``path`` atomically without stdin (for undo commands)."""
    tmp = f"{path}.nodeswap-tmp"
    return chain(cmd("printf", "%s", content) + " > " + cmd(tmp), cmd("mv", "-f", tmp, path))


def _tree_sums(path: str) -> str:
    return (cmd("cd", path) + " && find . -type f -print0 | LC_ALL=C sort -z | "
            "xargs -0 -r sha256sum")


def _same_tree(a: str, b: str) -> str:
    return f'test "$({_tree_sums(a)})" = "$({_tree_sums(b)})"'


def _exec_nodes(targets: str, command: str) -> str:
    if "#" in command:  # exec_nodes.sh refuses it; node names cannot hold one (values.py)
        raise BugError(f"exec_nodes.sh commands may not contain '#': {command!r}")
    return cmd(EXEC_NODES, "-f", targets, command)


def _virsh(action: str, *args: str) -> str:
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


# ---- targets ----------------------------------------------------------------------------------
def targets(ctx: Context) -> dict[str, Target]:
    out = {"firstbox": Target("firstbox", ctx.firstbox_address, "firstbox", via_firstbox=False)}
    for n in ctx.nodes:
        out[f"{n.name}-old"] = Target(f"{n.name}-old", n.old_address, f"{n.name}-old")
        out[f"{n.name}-new"] = Target(f"{n.name}-new", n.temp_address, f"{n.name}-new", pin=True)
        out[f"{n.name}-switched"] = Target(f"{n.name}-switched", n.old_address, f"{n.name}-new",
                                           pin=True)
        for host, addr in ((n.old_host_name, n.old_host_address),
                           (n.new_host_name, n.new_host_address)):
            out.setdefault(host, Target(host, addr, host))
    return out


# ---- phases -----------------------------------------------------------------------------------
def fetch_id(node: str, key: str) -> str:
    return f"fetch-{node}-{key}"


def prepare(ctx: Context) -> list[Step]:
    """Reference copies from each old node (read-only), then R6: back up the settings folder."""
    steps: list[Step] = []
    for n in ctx.nodes:
        for key, path, rule, optional in FETCHES:
            steps.append(Step(
                id=fetch_id(n.name, key), phase="prepare", rule=rule,
                title=f"keep the old {n.name}'s {path} for {rule}", target=f"{n.name}-old",
                command=_cat_if_present(path) if optional else cmd("cat", path),
                side_effect=False, timeout=60.0))
        steps.append(Step(
            id=fetch_id(n.name, "supervisor"), phase="prepare", rule="R29",
            title=f"keep the old {n.name}'s supervisor status for R29/R35",
            target=f"{n.name}-old", command=_or_true(cmd("supervisorctl", "status")),
            side_effect=False, timeout=60.0))
    backup = f"{SETTINGS_DIR}.{ctx.today}"
    steps.append(Step(
        id="r6-backup", phase="prepare", rule="R6",
        title=f"back up {SETTINGS_DIR} to {backup}", target="firstbox",
        command=chain(cmd("test", "!", "-e", backup), cmd("cp", "-arf", SETTINGS_DIR, backup)),
        check=chain(cmd("test", "-d", backup), _same_tree(SETTINGS_DIR, backup)),
        verify=_same_tree(SETTINGS_DIR, backup), timeout=300.0))
    steps.append(rollback_point(ctx))
    return steps


def rollback_point(ctx: Context) -> Step:
    """Does nothing going forward. Its undo, the last one a rollback runs (after every
    settings file is restored from the R6 backup and the new VMs are gone), rebuilds the node
    lists and packages from the restored settings (R18/R19, R30's build_global_conf.sh) and
    forgets on firstbox the host keys seen at the nodes' names and addresses, so firstbox's
    known_hosts agrees with the old VMs again (R34)."""
    ext = "py" if ctx.new_tools else "sh"
    forget = [cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-R", v) + " >/dev/null 2>&1 || true"
              for n in ctx.nodes for v in (n.name, n.old_address, n.temp_address)]
    return Step(
        id="rollback-point", phase="prepare", rule="R6",
        title="rollback point: undoing it rebuilds node lists and packages from the restored "
              "settings and cleans firstbox's known_hosts",
        target="firstbox", command="true",
        undo=chain(cmd(f"/pitrix/bin/gen_node_list.{ext}"),
                   cmd(f"/pitrix/build/build_pkgs_allinone.{ext}"),
                   cmd("/pitrix/upgrade/build_global_conf.sh"), *forget),
        timeout=3600.0)


def manual_restore(ctx: Context) -> str:
    """What an operator can still do by hand once R37 has begun (rollback refuses then)."""
    lines = ["Manual restore, per node, while the old images are kept:"]
    for n in ctx.nodes:
        k = f"{KERNELS}/old-{n.name}"
        lines.append(
            f"  {n.name}: on {n.new_host_name} `virsh destroy {n.name}`; on {n.old_host_name} "
            f"`mv {k}.img {KERNELS}/{n.name}.img; mv {k}.xml {KERNELS}/{n.name}.xml; "
            f"virsh define {KERNELS}/{n.name}.xml; virsh start {n.name}`; on firstbox restore "
            f"{settings_path(n.name)} from {SETTINGS_DIR}.{ctx.today} and run "
            "build_global_conf.sh")
    return "\n".join(lines)


def settings_path(node: str) -> str:
    return f"{SETTINGS_DIR}/{node}"


def write_settings(ctx: Context) -> list[Step]:
    """R7-R17: each new settings file, written atomically; undo restores the R6 backup."""
    steps = []
    for n in ctx.nodes:
        path = settings_path(n.name)
        steps.append(Step(
            id=f"r17-settings-{n.name}", phase="settings", rule="R7-R17",
            title=f"write the new settings of {n.name} (temporary address {n.temp_address}, "
                  f"host {n.new_host_name})", target="firstbox",
            command=write_file_atomic(path), stdin=n.settings,
            check=_sha_matches(path, n.settings), verify=_sha_matches(path, n.settings),
            undo=cmd("cp", "-af", f"{SETTINGS_DIR}.{ctx.today}/{n.name}", path), timeout=60.0))
    return steps


def build(ctx: Context) -> list[Step]:
    """R18 (installer >= 4.3.0, .py tools) or R19 (.sh): node list, then packages. From here
    on R20 holds: no package reaches any node but the new ones until the switch."""
    rule, ext = ("R18", "py") if ctx.new_tools else ("R19", "sh")
    return [
        Step(id=f"{rule.lower()}-node-list", phase="build", rule=rule,
           title="refresh the zone's node lists", target="firstbox",
           command=cmd(f"/pitrix/bin/gen_node_list.{ext}"), timeout=600.0),
        Step(id=f"{rule.lower()}-build-pkgs", phase="build", rule=rule,
           title="build the packages (pitrix-hosts now carries the temporary addresses: R20)",
           target="firstbox", command=cmd(f"/pitrix/build/build_pkgs_allinone.{ext}"),
           timeout=3600.0),
    ]


def launch(ctx: Context) -> list[Step]:
    """R21 (one VM per step, so undo removes exactly it) and R22."""
    steps: list[Step] = []
    for n in ctx.nodes:
        kern = f"{KERNELS}/{n.name}"
        remove = "; ".join([
            _or_true(_virsh("destroy", n.name)), _or_true(_virsh("undefine", n.name)),
            cmd("rm", "-f", f"{kern}.img", f"{kern}.xml", f"{kern}.Done")])
        steps.append(Step(
            id=f"r21-launch-{n.name}", phase="launch", rule="R21",
            title=f"launch the new {n.name} on {n.new_host_name} ({n.new_host_address})",
            target="firstbox", command=cmd("/pitrix/install/launch_vms.sh", n.name),
            undo=remove, undo_target=n.new_host_name, timeout=1800.0))
        steps.append(Step(
            id=f"r21-domain-{n.name}", phase="launch", rule="R21",
            title=f"the domain {n.name} runs on {n.new_host_name}", target=n.new_host_name,
            command=_virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "running"),
            side_effect=False, timeout=60.0))
        steps.append(Step(
            id=f"r21-wait-{n.name}", phase="launch", rule="R21",
            title=f"wait until the new {n.name} answers at {n.temp_address}", target="firstbox",
            command=_ping_loop(n.temp_address, until_up=True), side_effect=False, waits=True,
            timeout=PING_WAIT + 30.0))
    steps.append(Step(
        id="r22-install", phase="launch", rule="R22", title="install the new VMs' OS layer",
        target="firstbox", command=cmd("/pitrix/install/install_nodes.sh", _names(ctx)),
        timeout=3600.0))
    return steps


def _names(ctx: Context) -> str:
    return ",".join(n.name for n in ctx.nodes)


def deploy(ctx: Context) -> list[Step]:
    """R23 then R24-R26 for deployed components only, to the new nodes only (R20); then a
    watch that the new nodes did not take the VIP (R23's warning)."""
    packages = [("R23", "pitrix-ks-proxy")] + [
        (rule, pkg) for comp, rule, pkg in COMPONENT_PACKAGES if comp in ctx.components]
    steps = [Step(id=f"{rule.lower()}-update", phase="deploy", rule=rule,
                title=f"install {pkg} on the new nodes", target="firstbox",
                command=cmd(UPDATE, "-f", _names(ctx), pkg), timeout=3600.0)
             for rule, pkg in packages]
    for n in ctx.nodes if ctx.vip else ():  # without a VIP: a plan warning instead
        steps.append(Step(
            id=f"r23-vip-{n.name}", phase="deploy", rule="R23",
            title=f"the new {n.name} must not hold the VIP {ctx.vip}", target=f"{n.name}-new",
            command=cmd("ip", "-4", "-o", "addr", "show"), side_effect=False, timeout=60.0,
            analysis=Analysis("vip", options=(("vip", ctx.vip or ""), ("node", n.name),
                                              ("temporary", "1")))))
    return steps


def check(ctx: Context) -> list[Step]:
    """R27 haproxy.cfg, R28 rc files, R29 supervisor (parsed, never exec_nodes' exit code)."""
    steps: list[Step] = []
    for n in ctx.nodes:
        amap = ("address_map", f"{n.old_address}={n.temp_address}")
        for key, path, rule, optional in FETCHES:
            if rule not in ("R27", "R28"):
                continue
            first = ("sub_region", "1" if ctx.sub_region else "0") if key == "haproxy" \
                else ("file", key)
            options: tuple[tuple[str, str], ...] = (first, amap, ("node", n.name))
            if path in REWRITTEN_AT_SWITCH:  # R31 fixes the temporary address there too
                options += (("rewritten_at_switch", "1"),)
            steps.append(Step(
                id=f"{rule.lower()}-{key}-{n.name}", phase="check", rule=rule,
                title=f"compare {path}: old {n.name} vs new", target=f"{n.name}-new",
                command=_cat_if_present(path) if optional else cmd("cat", path),
                side_effect=False, timeout=60.0,
                analysis=Analysis("haproxy" if key == "haproxy" else "rc",
                                  against=fetch_id(n.name, key), options=options)))
    steps.append(Step(
        id="r29-exec", phase="check", rule="R29", title="supervisor status via exec_nodes.sh",
        target="firstbox", command=_exec_nodes(_names(ctx), "supervisorctl status"),
        side_effect=False, timeout=300.0,
        analysis=Analysis("supervisor_exec", options=(("nodes", _names(ctx)), ("rule", "R29")))))
    for n in ctx.nodes:
        steps.append(Step(
            id=f"r29-supervisor-{n.name}", phase="check", rule="R29",
            title=f"supervisor status of the new {n.name} vs the old", target=f"{n.name}-new",
            command=_or_true(cmd("supervisorctl", "status")), side_effect=False, timeout=60.0,
            analysis=Analysis("supervisor", against=fetch_id(n.name, "supervisor"),
                              options=(("node", n.name), ("rule", "R29")))))
    return steps


def _replace_address(path: str, old: str, new: str) -> str:
    pattern = old.replace(".", r"\.")
    return cmd("sed", "-i", "-E", f"s/(^|[^0-9.]){pattern}([^0-9.]|$)/\\1{new}\\2/g", path)


def switch(ctx: Context, n: NodeContext) -> list[Step]:
    """R30-R36 for one node; the first step is a gate."""
    phase = f"switch:{n.name}"
    new, old, sw = f"{n.name}-new", f"{n.name}-old", f"{n.name}-switched"
    path = settings_path(n.name)
    files = REWRITTEN_AT_SWITCH
    has_old = [cmd("grep", "-qwF", n.old_address, files[0])]
    no_temp = [_not(cmd("grep", "-qwF", n.temp_address, f)) for f in files]
    forget = [cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-R", v)
              for v in (n.name, n.old_address, n.temp_address)]
    steps = [
        Step(id=f"r30-settings-{n.name}", phase=phase, rule="R30", gate=True,
           title=f"put {n.name}'s old MGMT/EIP values back ({n.old_address}) in its settings",
           target="firstbox", command=write_file_atomic(path), stdin=n.switched_settings,
           check=_sha_matches(path, n.switched_settings),
           verify=_sha_matches(path, n.switched_settings),
           undo=_write_text(path, n.settings), timeout=60.0),
        Step(id=f"r30-global-conf-{n.name}", phase=phase, rule="R30",
           title="rebuild the global packages (pitrix-hosts with the restored address)",
           target="firstbox", command=cmd("/pitrix/upgrade/build_global_conf.sh"),
           timeout=1800.0),
        Step(id=f"r31-address-{n.name}", phase=phase, rule="R31",
           title=f"new {n.name}: {n.temp_address} -> {n.old_address} in interfaces and "
                 "rc.local.tail (vm_network_routing_rule put the temporary address there)",
           target=new, command=chain(*(_replace_address(f, n.temp_address, n.old_address)
                                       for f in files)),
           check=chain(*has_old, *no_temp), verify=chain(*has_old, *no_temp),
           timeout=60.0),  # no undo: rollback destroys the new VM (R21, R33 undo)
        Step(id=f"r32-stop-{n.name}", phase=phase, rule="R32",
           title=f"stop the services of the old {n.name}", target=old,
           command=cmd("supervisorctl", "stop", "all"),
           undo=cmd("supervisorctl", "start", "all"), timeout=300.0),
        Step(id=f"r32-autostart-{n.name}", phase=phase, rule="R32",
           title=f"no autostart of the old {n.name} on {n.old_host_name} (a host reboot would "
                 "revive a second VM with the same address)", target=n.old_host_name,
           command=_virsh("autostart", "--disable", n.name),
           undo=_virsh("autostart", n.name), timeout=60.0),
        Step(id=f"r32-shutdown-{n.name}", phase=phase, rule="R32",
           title=f"shut the old {n.name} down", target=old, command=cmd("shutdown", "-h", "now"),
           disconnects=True, undo_target=n.old_host_name,
           undo=chain(_virsh("start", n.name), _ping_loop(n.old_address, until_up=True)),
           timeout=60.0),
        Step(id=f"r32-gone-{n.name}", phase=phase, rule="R32",
           title=f"wait until {n.old_address} stops answering", target="firstbox",
           command=_ping_loop(n.old_address, until_up=False), side_effect=False, waits=True,
           timeout=PING_WAIT + 30.0),
        Step(id=f"r33-stop-{n.name}", phase=phase, rule="R33",
           title=f"stop the services of the new {n.name}", target=new,
           command=cmd("supervisorctl", "stop", "all"), timeout=300.0),
        Step(id=f"r33-apt-update-{n.name}", phase=phase, rule="R33", title="apt-get update",
           target=new, command=cmd("apt-get", "update"), timeout=900.0),
        Step(id=f"r33-hosts-{n.name}", phase=phase, rule="R33",
           title="install the rebuilt pitrix-hosts on the new node only (R20)", target=new,
           command=cmd("apt-get", "--yes", "--allow-unauthenticated", "install", "pitrix-hosts"),
           timeout=900.0),
        Step(id=f"r33-reboot-{n.name}", phase=phase, rule="R33",
           title=f"reboot the new {n.name} onto {n.old_address}", target=new,
           command=cmd("shutdown", "-r", "now"), disconnects=True, timeout=60.0,
           # rollback: the new VM leaves the old address before the old VM comes back (R32)
           undo_target=n.new_host_name, undo=_or_true(_virsh("destroy", n.name))),
        Step(id=f"r33-up-{n.name}", phase=phase, rule="R33",
           title=f"wait until {n.old_address} answers again", target="firstbox",
           command=_ping_loop(n.old_address, until_up=True), side_effect=False, waits=True,
           timeout=PING_WAIT + 30.0),
        Step(id=f"r33-identity-{n.name}", phase=phase, rule="R33",
           title=f"{n.old_address} is the new VM (same pinned host key as at {n.temp_address})",
           target=sw, command=cmd("hostname"), side_effect=False, timeout=60.0),
        Step(id=f"r34-known-hosts-{n.name}", phase=phase, rule="R34",
           title="forget stale host keys on firstbox", target="firstbox",
           command=chain(*forget), timeout=60.0),
        Step(id=f"r34-known-hosts-all-{n.name}", phase=phase, rule="R34",
           title="forget stale host keys on every node", target="firstbox",
           command=_exec_nodes("all", " && ".join(forget)), timeout=600.0),
        Step(id=f"r35-supervisor-{n.name}", phase=phase, rule="R35",
           title=f"supervisor status of the switched {n.name} vs the old", target=sw,
           command=_or_true(cmd("supervisorctl", "status")), side_effect=False, timeout=60.0,
           analysis=Analysis("supervisor", against=fetch_id(n.name, "supervisor"),
                             options=(("node", n.name), ("rule", "R35")))),
        Step(id=f"r35-exec-{n.name}", phase=phase, rule="R35",
           title="supervisor status via exec_nodes.sh", target="firstbox",
           command=_exec_nodes(_names(ctx), "supervisorctl status"), side_effect=False,
           timeout=300.0, analysis=Analysis("supervisor_exec",
                                            options=(("nodes", _names(ctx)), ("rule", "R35")))),
    ]
    url = console_url(ctx)
    if url:
        steps.append(Step(
            id=f"r36-console-{n.name}", phase=phase, rule="R36",
            title=f"the console answers at {url}", target="firstbox",
            command=curl_command(url), side_effect=False, timeout=60.0,
            analysis=Analysis("console", options=(("url", url),))))
    return steps


def console_url(ctx: Context) -> str | None:
    if ctx.console_url:
        return ctx.console_url
    return f"http://{ctx.vip}/" if ctx.vip else None


def archive(ctx: Context) -> list[Step]:
    """R37, after both switches: on each old host, keep the old VM's files renamed and
    undefine its domain (each VM's own name)."""
    steps: list[Step] = []
    for i, n in enumerate(ctx.nodes):
        kern = f"{KERNELS}/{n.name}"
        steps.append(Step(
            id=f"r37-list-{n.name}", phase="archive", rule="R37", gate=(i == 0),
            title=f"list the domains on {n.old_host_name}", target=n.old_host_name,
            command=cmd("virsh", "list", "--all"), side_effect=False, timeout=60.0))
        for ext in ("img", "xml"):
            src, dst = f"{kern}.{ext}", f"{KERNELS}/old-{n.name}.{ext}"
            steps.append(Step(
                id=f"r37-rename-{ext}-{n.name}", phase="archive", rule="R37",
                title=f"keep {src} as {dst}", target=n.old_host_name,
                command=cmd("mv", src, dst),
                check=chain(cmd("test", "-e", dst), cmd("test", "!", "-e", src)),
                undo=cmd("mv", dst, src), timeout=300.0))
        steps.append(Step(
            id=f"r37-undefine-{n.name}", phase="archive", rule="R37",
            title=f"undefine the old domain {n.name} on {n.old_host_name}",
            target=n.old_host_name, command=_virsh("undefine", n.name),
            check=_not(_virsh("dominfo", n.name) + " >/dev/null 2>&1"),
            undo=cmd("virsh", "define", f"{KERNELS}/old-{n.name}.xml"), timeout=60.0))
    return steps


def steps(ctx: Context) -> tuple[Step, ...]:
    """Every step of R6-R37 in order. Every node name was validated where it was read
    (inventory, spec); one that is not a node name here is a bug."""
    for n in ctx.nodes:
        why = node_name_problem(n.name)
        if why is not None:
            raise BugError(f"runbook given an unchecked name: {why}")
    out = prepare(ctx) + write_settings(ctx) + build(ctx) + launch(ctx) + deploy(ctx) + check(ctx)
    for n in ctx.nodes:
        out += switch(ctx, n)
    out += archive(ctx)
    return tuple(out)


def warnings(ctx: Context) -> tuple[str, ...]:
    out = ["R20: after the package build, no package is pushed to any node but the new "
           f"{ctx.role} nodes until the switch (pitrix-hosts carries the temporary addresses)."]
    if console_url(ctx) is None:
        out.append("R36: no console URL or VIP known: check the console web page by eye "
                   "after each switch.")
    if not ctx.vip:
        out.append("R23: the VIP is unknown: the VIP watch after deploy cannot tell which "
                   "node holds it; watch the console during deploy.")
    return tuple(out)
