"""The role-free phases of an upgrade by replacement (R6-R37), for any role's runbook. Pure.

plan.py decides the values (R7-R17 via rules.py) and hands them here as a ``Context``; the
role's ``Runbook`` (runbooks/<role>.py) declares what is its own: the files kept from the old
nodes, the packages per component, the files rewritten at the switch, its checks and
warnings. ``steps`` composes both, phase by phase, in the runbook's order.

Targets: ``firstbox`` (direct), ``<node>-old`` (old address), ``<node>-new`` (temporary
address, pinned key ``<node>-new``), ``<node>-switched`` (old address, same pinned key: the new
VM after R31-R33), and physical hosts by their node name.
"""

from __future__ import annotations

from dataclasses import replace

from nodeswap.errors import BugError
from nodeswap.plan.model import Step, Target
from nodeswap.shell import chain, cmd, write_file_atomic
from nodeswap.zone.values import node_name_problem

from .base import Context, NodeContext, Runbook
from .commands import (
    INTERFACES,
    KERNELS,
    KNOWN_HOSTS,
    PING_WAIT,
    RC_TAIL,
    REBOOT_WAIT,
    SETTINGS_DIR,
    UPDATE,
    all_stopped,
    destroy_if_running,
    exec_nodes,
    keep_as,
    negate,
    ping_loop,
    replace_address,
    same_tree_digest,
    settings_path,
    sha_matches,
    start_unless_running,
    undefine_if_defined,
    virsh,
    write_text,
)


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


# ---- prepare: reference copies, R6 --------------------------------------------------------
def fetch_id(node: str, key: str) -> str:
    return f"fetch-{node}-{key}"


def fetches(rb: Runbook, ctx: Context) -> list[Step]:
    """The runbook's reference copies from each old node (read-only), before any change."""
    return [Step(id=fetch_id(n.name, f.key), phase="prepare", rule=f.rule,
                 title=f"keep the old {n.name}'s {f.what} for {f.title_rules}",
                 target=f"{n.name}-old", command=f.command, side_effect=False, timeout=60.0)
            for n in ctx.nodes for f in rb.fetches]


BACKUP_STEP = "r6-backup"


def backup(ctx: Context) -> Step:
    """R6: back up the settings folder (once: a backup of today's is never overwritten). Its
    check and verify print the backup's path and digest; the report shows them. The copy is
    made under a temporary name, then renamed: a copy cut half-way (kill -9, a lost link) is
    never taken for the backup, and the next attempt starts it again."""
    dest = f"{SETTINGS_DIR}.{ctx.today}"
    tmp = f"{dest}.nodeswap-tmp"
    return Step(
        id=BACKUP_STEP, phase="prepare", rule="R6",
        title=f"back up {SETTINGS_DIR} to {dest}", target="firstbox",
        command=chain(cmd("test", "!", "-e", dest), cmd("rm", "-rf", tmp),
                      cmd("cp", "-arf", SETTINGS_DIR, tmp), cmd("mv", "-T", tmp, dest)),
        check=chain(cmd("test", "-d", dest), same_tree_digest(SETTINGS_DIR, dest)),
        verify=same_tree_digest(SETTINGS_DIR, dest), timeout=300.0)


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
        rerun_safe="does nothing going forward (only its undo acts)",
        undo=chain(cmd(f"/pitrix/bin/gen_node_list.{ext}"),
                   cmd(f"/pitrix/build/build_pkgs_allinone.{ext}"),
                   cmd("/pitrix/upgrade/build_global_conf.sh"), *forget),
        timeout=3600.0)


def prepare(rb: Runbook, ctx: Context) -> list[Step]:
    return [*fetches(rb, ctx), backup(ctx), rollback_point(ctx)]


def manual_restore(ctx: Context) -> str:
    """What an operator can still do by hand once R37 has begun (rollback refuses then)."""
    lines = ["Manual restore, per node, while the old images are kept (named "
             f"old-NODE.{ctx.today}.* instead where an earlier upgrade's archive was there):"]
    for n in ctx.nodes:
        k = f"{KERNELS}/old-{n.name}"
        lines.append(
            f"  {n.name}: on {n.new_host_name} `virsh destroy {n.name}`; on {n.old_host_name} "
            f"`mv {k}.img {KERNELS}/{n.name}.img; mv {k}.xml {KERNELS}/{n.name}.xml; "
            f"mv {k}.Done {KERNELS}/{n.name}.Done; "
            f"virsh define {KERNELS}/{n.name}.xml; virsh start {n.name}`; on firstbox restore "
            f"{settings_path(n.name)} from {SETTINGS_DIR}.{ctx.today} and run "
            "build_global_conf.sh")
    return "\n".join(lines)


# ---- settings, packages, launch ------------------------------------------------------------
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
            check=sha_matches(path, n.settings), verify=sha_matches(path, n.settings),
            undo=cmd("cp", "-af", f"{SETTINGS_DIR}.{ctx.today}/{n.name}", path), timeout=60.0))
    return steps


def build(ctx: Context) -> list[Step]:
    """R18 (installer >= 4.3.0, .py tools) or R19 (.sh): node list, then packages. From here
    on R20 holds: no package reaches any node but the new ones until the switch."""
    rule, ext = ("R18", "py") if ctx.new_tools else ("R19", "sh")
    return [
        Step(id=f"{rule.lower()}-node-list", phase="build", rule=rule,
           title="refresh the zone's node lists", target="firstbox",
           command=cmd(f"/pitrix/bin/gen_node_list.{ext}"), timeout=600.0,
           rerun_safe="gen_node_list rewrites the node lists from the settings files: "
                      "again, the same lists"),
        Step(id=f"{rule.lower()}-build-pkgs", phase="build", rule=rule,
           title="build the packages (pitrix-hosts now carries the temporary addresses: R20)",
           target="firstbox", command=cmd(f"/pitrix/build/build_pkgs_allinone.{ext}"),
           timeout=3600.0,
           rerun_safe="builds the packages from the settings files: again, the same packages "
                      "(nothing is pushed to a node)"),
    ]


def launch(ctx: Context) -> list[Step]:
    """R21 (one VM per step, so undo removes exactly it) and R22."""
    steps: list[Step] = []
    for n in ctx.nodes:
        kern = f"{KERNELS}/{n.name}"
        remove = chain(destroy_if_running(n.name), undefine_if_defined(n.name),
                       cmd("rm", "-f", f"{kern}.img", f"{kern}.xml", f"{kern}.Done"))
        steps.append(Step(
            id=f"r21-launch-{n.name}", phase="launch", rule="R21",
            title=f"launch the new {n.name} on {n.new_host_name} ({n.new_host_address})",
            target="firstbox", command=cmd("/pitrix/install/launch_vms.sh", n.name),
            check=launched(n), check_target=n.new_host_name,
            undo=remove, undo_target=n.new_host_name, timeout=1800.0))
        steps.append(Step(
            id=f"r21-domain-{n.name}", phase="launch", rule="R21",
            title=f"the domain {n.name} runs on {n.new_host_name}", target=n.new_host_name,
            command=virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "running"),
            side_effect=False, timeout=60.0))
        steps.append(Step(
            id=f"r21-wait-{n.name}", phase="launch", rule="R21",
            title=f"wait until the new {n.name} answers at {n.temp_address}", target="firstbox",
            command=ping_loop(n.temp_address, until_up=True), side_effect=False, waits=True,
            timeout=PING_WAIT + 30.0))
    steps.append(Step(
        id="r22-install", phase="launch", rule="R22", title="install the new VMs' OS layer",
        target="firstbox", command=cmd("/pitrix/install/install_nodes.sh", ctx.names),
        check=on_every_node(ctx, cmd("test", "-s", RC_TAIL)), timeout=3600.0))
    return steps


def launched(n: NodeContext) -> str:
    """R21 took effect: launch_vms.sh's ``.Done`` marker is on the new host and the domain
    runs there (read-only, on the new physical host)."""
    return chain(cmd("test", "-e", f"{KERNELS}/{n.name}.Done"),
                 virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "running"))


def on_every_node(ctx: Context, test: str) -> str:
    """Read-only, on firstbox: exit 0 iff ``test`` passes on every one of the new nodes, each
    reached by firstbox's ssh at its temporary address exactly as update.sh reaches it (its
    host-key policy is firstbox's own, as for update.sh and exec_nodes.sh; never a prompt).
    Not exec_nodes.sh: it reaches nodes by name, which still means the old nodes before the
    switch, and its exit code says nothing of the command's."""
    return chain(*(cmd("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                       f"root@{n.temp_address}", test)
                   for n in ctx.nodes))


def packages_installed(ctx: Context, package: str) -> str:
    """update.sh took effect: ``package`` is installed (dpkg status ``install ok
    installed``) on every new node; a new VM starts from the base image without it."""
    query = cmd("dpkg-query", "-W", "--showformat=${Status}", package)
    return on_every_node(ctx, f'test "$({query})" = {cmd("install ok installed")}')


def deploy(rb: Runbook, ctx: Context) -> list[Step]:
    """R23-R26: the runbook's packages (those of deployed components only), to the new nodes
    only (R20); then the runbook's checks of the deploy."""
    return [Step(id=f"{p.rule.lower()}-update", phase="deploy", rule=p.rule,
                 title=f"install {p.name} on the new nodes", target="firstbox",
                 command=cmd(UPDATE, "-f", ctx.names, p.name),
                 check=packages_installed(ctx, p.name), timeout=3600.0)
            for p in rb.packages
            if p.component is None or p.component in ctx.components] + rb.deploy_checks(ctx)


# ---- switch, one helper per rule ---------------------------------------------------------------
def switch_phase(n: NodeContext) -> str:
    return f"switch:{n.name}"


def settings_back(n: NodeContext) -> list[Step]:
    """R30: the old MGMT/EIP values back in the node's settings (the gate of the switch), then
    build_global_conf.sh."""
    path = settings_path(n.name)
    return [
        Step(id=f"r30-settings-{n.name}", phase=switch_phase(n), rule="R30", gate=True,
           title=f"put {n.name}'s old MGMT/EIP values back ({n.old_address}) in its settings",
           target="firstbox", command=write_file_atomic(path), stdin=n.switched_settings,
           check=sha_matches(path, n.switched_settings),
           verify=sha_matches(path, n.switched_settings),
           undo=write_text(path, n.settings), timeout=60.0),
        Step(id=f"r30-global-conf-{n.name}", phase=switch_phase(n), rule="R30",
           title="rebuild the global packages (pitrix-hosts with the restored address)",
           target="firstbox", command=cmd("/pitrix/upgrade/build_global_conf.sh"),
           timeout=1800.0,
           rerun_safe="rebuilds the global packages from the settings files: again, the same "
                      "packages (nothing is pushed to a node)"),
    ]


def old_address_on_new_vm(rb: Runbook, n: NodeContext) -> list[Step]:
    """R31: the new VM's files the runbook names take the old address instead of the
    temporary one. No undo: rollback destroys the new VM (R21, R33 undo)."""
    rewrites = rb.rewritten_at_switch
    files = [r.path for r in rewrites]
    done = chain(cmd("grep", "-qwF", n.old_address, INTERFACES),
                 *(negate(cmd("grep", "-qwF", n.temp_address, f)) for f in files))
    where = " and ".join(f.rsplit("/", 1)[-1] for f in files)
    why = "".join(f" ({r.why})" for r in rewrites if r.why)
    return [Step(
        id=f"r31-address-{n.name}", phase=switch_phase(n), rule="R31",
        title=f"new {n.name}: {n.temp_address} -> {n.old_address} in {where}{why}",
        target=f"{n.name}-new",
        command=chain(*(replace_address(f, n.temp_address, n.old_address) for f in files)),
        check=done, verify=done, timeout=60.0)]


def stop_old(n: NodeContext) -> list[Step]:
    """R32: stop the old node's services, keep its domain from autostarting, shut it down and
    wait until its address is silent."""
    phase, old = switch_phase(n), f"{n.name}-old"
    return [
        Step(id=f"r32-stop-{n.name}", phase=phase, rule="R32",
           title=f"stop the services of the old {n.name}", target=old,
           command=cmd("supervisorctl", "stop", "all"), check=all_stopped(),
           undo=cmd("supervisorctl", "start", "all"), timeout=300.0),
        Step(id=f"r32-autostart-{n.name}", phase=phase, rule="R32",
           title=f"no autostart of the old {n.name} on {n.old_host_name} (a host reboot would "
                 "revive a second VM with the same address)", target=n.old_host_name,
           command=virsh("autostart", "--disable", n.name),
           check=virsh("dominfo", n.name) + " | "
           + cmd("grep", "-qE", "^Autostart:[[:space:]]+disable"),
           undo=virsh("autostart", n.name), timeout=60.0),
        Step(id=f"r32-shutdown-{n.name}", phase=phase, rule="R32",
           title=f"shut the old {n.name} down", target=old, command=cmd("shutdown", "-h", "now"),
           disconnects=True, undo_target=n.old_host_name,
           # decided on the physical host, which is up: the old VM is down on purpose
           check=virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "shut off"),
           check_target=n.old_host_name,
           # rollback (also after a cut or failed shutdown): start the old VM unless it runs
           undo=chain(start_unless_running(n.name, n.old_address),
                      ping_loop(n.old_address, until_up=True)),
           timeout=60.0),
        Step(id=f"r32-gone-{n.name}", phase=phase, rule="R32",
           title=f"wait until {n.old_address} stops answering", target="firstbox",
           command=ping_loop(n.old_address, until_up=False), side_effect=False, waits=True,
           timeout=PING_WAIT + 30.0),
    ]


def restart_new(n: NodeContext) -> list[Step]:
    """R33: on the new VM, stop the services, install the rebuilt pitrix-hosts, reboot onto
    the old address; then wait for it there and make sure it is the new VM (pinned key)."""
    phase, new = switch_phase(n), f"{n.name}-new"
    return [
        Step(id=f"r33-stop-{n.name}", phase=phase, rule="R33",
           title=f"stop the services of the new {n.name}", target=new,
           command=cmd("supervisorctl", "stop", "all"), check=all_stopped(), timeout=300.0),
        Step(id=f"r33-apt-update-{n.name}", phase=phase, rule="R33", title="apt-get update",
           target=new, command=cmd("apt-get", "update"), timeout=900.0,
           rerun_safe="apt-get update only refreshes the package lists"),
        Step(id=f"r33-hosts-{n.name}", phase=phase, rule="R33",
           title="install the rebuilt pitrix-hosts on the new node only (R20)", target=new,
           command=cmd("apt-get", "--yes", "--allow-unauthenticated", "install", "pitrix-hosts"),
           timeout=900.0,
           rerun_safe="apt-get install of a package installed at its candidate version "
                      "changes nothing"),
        Step(id=f"r33-reboot-{n.name}", phase=phase, rule="R33",
           title=f"reboot the new {n.name} onto {n.old_address}", target=new,
           command=cmd("shutdown", "-r", "now"), disconnects=True, timeout=60.0,
           # decided on firstbox, which is up: the VM answers at the old address (R32 made it
           # silent, R33-identity checks its pinned key next), not at the temporary one
           check=came_back(n), check_target="firstbox",
           # rollback (also after a cut or failed reboot): the new VM leaves the old address
           # before the old VM comes back (R32's undo runs after this one)
           undo_target=n.new_host_name, undo=destroy_if_running(n.name)),
        Step(id=f"r33-up-{n.name}", phase=phase, rule="R33",
           title=f"wait until {n.old_address} answers again", target="firstbox",
           command=ping_loop(n.old_address, until_up=True), side_effect=False, waits=True,
           timeout=PING_WAIT + 30.0),
        Step(id=f"r33-identity-{n.name}", phase=phase, rule="R33",
           title=f"{n.old_address} is the new VM (same pinned host key as at {n.temp_address})",
           target=f"{n.name}-switched", command=cmd("hostname"), side_effect=False,
           timeout=60.0),
    ]


FORGET_AGAIN = "ssh-keygen -R of a name or address no longer known changes nothing (exit 0)"


def came_back(n: NodeContext) -> str:
    """R33's reboot took effect, seen from firstbox: wait (bounded) until the VM answers at
    either address, then it must be the old one (R32 made the old VM silent there)."""
    probe = [cmd("ping", "-c", "1", "-W", "1", a) + " >/dev/null 2>&1"
             for a in (n.old_address, n.temp_address)]
    wait = cmd("timeout", "--foreground", str(REBOOT_WAIT), "sh", "-c",
               f"until {probe[0]} || {probe[1]}; do sleep 0.2; done")
    return f"{wait}; {probe[0]}"


def forget_host_keys(n: NodeContext) -> list[Step]:
    """R34: the stale host keys of the node's name, old and temporary address, on firstbox
    and on every node."""
    forget = [cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-R", v)
              for v in (n.name, n.old_address, n.temp_address)]
    return [
        Step(id=f"r34-known-hosts-{n.name}", phase=switch_phase(n), rule="R34",
           title="forget stale host keys on firstbox", target="firstbox",
           command=chain(*forget), timeout=60.0, rerun_safe=FORGET_AGAIN),
        Step(id=f"r34-known-hosts-all-{n.name}", phase=switch_phase(n), rule="R34",
           title="forget stale host keys on every node", target="firstbox",
           command=exec_nodes("all", " && ".join(forget)), timeout=600.0,
           rerun_safe=FORGET_AGAIN),
    ]


# R33's steps that run at the temporary address before R32 (see ``switch``).
BEFORE_R32 = ("r33-apt-update", "r33-hosts")


def switch(rb: Runbook, ctx: Context, n: NodeContext) -> list[Step]:
    """R30-R34 for one node, then the runbook's checks after the switch (R35/R36); the first
    step is a gate.

    Order: R30, R31, then R33's ``apt-get update`` and pitrix-hosts install on the new VM at
    its temporary address, the runbook's last look (read-only: a failure stops the run before
    the old node is touched), R32, the rest of R33. Moving the two apt steps before R32
    shortens the outage and keeps the runbook's intent: R33 runs them on the new node
    "reached by its IP address", which is its temporary address until the reboot (R31 only
    edited the file), before R32 as after; R20 allows packages to the new nodes; the
    package is the one R30's build_global_conf.sh just rebuilt with the node's old address,
    exactly what R33 would install after R32; and R3 wants the new VMs ready before the old
    ones are switched off. The new VM's services keep running until R33's stop, after R32.
    Every command run while the node is out of service (R32's stop of the old node until the
    new one answers at the old address) gets ``ctx.outage_timeout`` at most (the waits and
    the shutdown/reboot themselves keep theirs: their undo waits for a boot)."""
    restart = restart_new(n)
    moved = {f"{prefix}-{n.name}" for prefix in BEFORE_R32}
    early = [replace(s, title=f"{s.title}, at {n.temp_address} before R32 (R20, R30, R33)")
             for s in restart if s.id in moved]
    late = [s for s in restart if s.id not in moved]
    outage = [short(s, ctx.outage_timeout) for s in stop_old(n) + late]
    return (settings_back(n) + old_address_on_new_vm(rb, n) + early + rb.last_look(ctx, n)
            + outage + forget_host_keys(n) + rb.switch_checks(ctx, n))


def short(step: Step, limit: float) -> Step:
    """``step`` with at most ``limit`` seconds, unless it waits or takes its host down."""
    if step.waits or step.disconnects or step.timeout <= limit:
        return step
    return replace(step, timeout=limit)


# ---- archive -----------------------------------------------------------------------------------
def archive_names(ctx: Context, n: NodeContext, ext: str) -> tuple[str, str, str]:
    """(the old VM's file, its archive name, the dated name used instead when an earlier
    upgrade's archive holds the plain one: R37 never overwrites an archive)."""
    return (f"{KERNELS}/{n.name}.{ext}", f"{KERNELS}/old-{n.name}.{ext}",
            f"{KERNELS}/old-{n.name}.{ctx.today}.{ext}")


def archive(ctx: Context) -> list[Step]:
    """R37, after both switches: on each old host, keep the old VM's files renamed (never
    over an earlier upgrade's archive: dated names then) and undefine its domain (each VM's
    own name); its ``.Done`` marker is kept aside too, or a later upgrade's launch_vms.sh
    on this host would skip the node (R21)."""
    steps: list[Step] = []
    for i, n in enumerate(ctx.nodes):
        steps.append(Step(
            id=f"r37-list-{n.name}", phase="archive", rule="R37", gate=(i == 0),
            title=f"list the domains on {n.old_host_name}", target=n.old_host_name,
            command=cmd("virsh", "list", "--all"), side_effect=False, timeout=60.0))
        for ext in ("img", "xml"):
            src, dst, dated = archive_names(ctx, n, ext)
            command, check = keep_as(src, dst, dated)
            steps.append(Step(
                id=f"r37-rename-{ext}-{n.name}", phase="archive", rule="R37",
                title=f"keep {src} as {dst} (or {dated.rsplit('/', 1)[-1]} if taken)",
                target=n.old_host_name, command=command, check=check,
                undo=f"if {cmd('test', '-e', dated)}; then {cmd('mv', dated, src)}; "
                     f"else {cmd('mv', dst, src)}; fi", timeout=300.0))
        _, plain_xml, dated_xml = archive_names(ctx, n, "xml")
        steps.append(Step(
            id=f"r37-undefine-{n.name}", phase="archive", rule="R37",
            title=f"undefine the old domain {n.name} on {n.old_host_name}",
            target=n.old_host_name, command=virsh("undefine", n.name),
            check=negate(virsh("dominfo", n.name) + " >/dev/null 2>&1"),
            undo=f"if {cmd('test', '-e', dated_xml)}; then {cmd('virsh', 'define', dated_xml)}"
                 f"; else {cmd('virsh', 'define', plain_xml)}; fi", timeout=60.0))
        done, plain_done, dated_done = archive_names(ctx, n, "Done")
        command, check = keep_as(done, plain_done, dated_done, optional=True)
        steps.append(Step(
            id=f"r37-done-{n.name}", phase="archive", rule="R37",
            title=f"keep {done} as {plain_done} (launch_vms.sh skips a node whose .Done it "
                  "finds: R21 of a later upgrade)",
            target=n.old_host_name, command=command, check=check,
            undo=f"if {cmd('test', '-e', dated_done)}; then {cmd('mv', dated_done, done)}; "
                 f"elif {cmd('test', '-e', plain_done)}; then {cmd('mv', plain_done, done)};"
                 " fi", timeout=60.0))
    return steps


# ---- the whole runbook ------------------------------------------------------------------------
def steps(rb: Runbook, ctx: Context) -> tuple[Step, ...]:
    """Every step of R6-R37 in order. Every node name was validated where it was read
    (inventory, spec); one that is not a node name here is a bug."""
    for n in ctx.nodes:
        why = node_name_problem(n.name)
        if why is not None:
            raise BugError(f"runbook given an unchecked name: {why}")
    if not rb.rewritten(INTERFACES):
        raise BugError(f"the {rb.role} runbook must rewrite {INTERFACES} at the switch (R31)")
    out = (prepare(rb, ctx) + write_settings(ctx) + build(ctx) + launch(ctx) + deploy(rb, ctx)
           + rb.checks(ctx))
    for n in ctx.nodes:
        out += switch(rb, ctx, n)
    out += archive(ctx)
    return tuple(out)


def warnings(rb: Runbook, ctx: Context) -> tuple[str, ...]:
    r20 = ("R20: after the package build, no package is pushed to any node but the new "
           f"{ctx.role} nodes until the switch (pitrix-hosts carries the temporary addresses).")
    return (r20, *rb.warnings(ctx))
