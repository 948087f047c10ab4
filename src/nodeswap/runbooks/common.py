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

from nodeswap.checks import arp
from nodeswap.errors import BugError
from nodeswap.i18n import N_
from nodeswap.plan.model import Analysis, Step, Target
from nodeswap.shell import chain, cmd, write_file_atomic
from nodeswap.zone.values import node_name_problem

from .archive import archive
from .base import Context, Fetch, NodeContext, Runbook
from .commands import (
    INTERFACES,
    KERNELS,
    KNOWN_HOSTS,
    PING_WAIT,
    RC_TAIL,
    SETTINGS_DIR,
    UPDATE,
    cat_file,
    destroy_if_running,
    fetch_id,
    ping_loop,
    same_tree_digest,
    settings_path,
    sha_matches,
    undefine_if_defined,
    virsh,
)
from .switch import switch

# Step titles and warnings: plan data, in English; shown translated (i18n.retranslate, issue 13)
KEEP_OLD = N_("keep the old {node}'s {what} for {rules}")
BACKUP = N_("back up {folder} to {dest}")
ROLLBACK_POINT = N_("rollback point: undoing it rebuilds node lists and packages from the "
                    "restored settings and cleans firstbox's known_hosts")
WRITE_SETTINGS = N_("write the new settings of {node} (temporary address {temporary}, host "
                    "{host})")
NODE_LISTS = N_("refresh the zone's node lists")
BUILD_PACKAGES = N_("build the packages (pitrix-hosts now carries the temporary addresses: "
                    "R20)")
ADDRESS_FREE = N_("before launch: nothing answers ARP for the new {node}'s temporary "
                  "addresses on {host} ({probes}; ping misses holders that drop ICMP)")
LAUNCH = N_("launch the new {node} on {host} ({address})")
DOMAIN_RUNS = N_("the domain {node} runs on {host}")
WAIT_NEW = N_("wait until the new {node} answers at {address}")
INSTALL_OS = N_("install the new VMs' OS layer")
NEW_KEYS = N_("the new {node}'s host keys (at {address}, its key pinned)")
KNOWN_NAME = N_("firstbox's known_hosts: {node} with the keys its name presents now (the "
                "Pitrix scripts go by name; the step before checked they are the new VM's)")
REACHES = N_("firstbox reaches {node} by name at the new VM (update.sh and exec_nodes.sh go "
             "by name: R20)")
INSTALL_PACKAGE = N_("install {package} on the new nodes")
R20_WARNING = N_("R20: after the package build, no package is pushed to any node but the new "
                 "{role} nodes until the switch (pitrix-hosts carries the temporary "
                 "addresses).")


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
# R31/R33 compare the new VM's network configuration with the old one's (runbooks.switch)
INTERFACES_FETCH = Fetch("interfaces", "R31", INTERFACES, cat_file(INTERFACES), path=INTERFACES)


def fetches(rb: Runbook, ctx: Context) -> list[Step]:
    """The runbook's reference copies from each old node (read-only), before any change, and
    the interfaces file (R31) when the runbook does not keep it itself."""
    own = rb.fetches + (() if any(f.key == "interfaces" for f in rb.fetches)
                        else (INTERFACES_FETCH,))
    return [Step(id=fetch_id(n.name, f.key), phase="prepare", rule=f.rule,
                 title=KEEP_OLD.format(node=n.name, what=f.what, rules=f.title_rules),
                 target=f"{n.name}-old", command=f.command, side_effect=False, timeout=60.0)
            for n in ctx.nodes for f in own]


BACKUP_STEP = "r6-backup"


def backup_dir(ctx: Context) -> str:
    """R6's folder: ``settings.YYYYMMDD``, and ``.ZONE`` after it in a region (issue 10)."""
    return f"{SETTINGS_DIR}.{ctx.today}" + (f".{ctx.backup_zone}" if ctx.backup_zone else "")


def backup(ctx: Context) -> Step:
    """R6: back up the settings folder (once: a backup of today's is never overwritten). Its
    check and verify print the backup's path and digest; the report shows them. The copy is
    made under a temporary name, then renamed: a copy cut half-way (kill -9, a lost link) is
    never taken for the backup, and the next attempt starts it again."""
    dest = backup_dir(ctx)
    tmp = f"{dest}.nodeswap-tmp"
    return Step(
        id=BACKUP_STEP, phase="prepare", rule="R6",
        title=BACKUP.format(folder=SETTINGS_DIR, dest=dest), target="firstbox",
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
        title=ROLLBACK_POINT,
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
            f"{settings_path(n.name)} from {backup_dir(ctx)} and run "
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
            title=WRITE_SETTINGS.format(node=n.name, temporary=n.temp_address,
                                        host=n.new_host_name), target="firstbox",
            command=write_file_atomic(path), stdin=n.settings,
            check=sha_matches(path, n.settings), verify=sha_matches(path, n.settings),
            undo=cmd("cp", "-af", f"{backup_dir(ctx)}/{n.name}", path), timeout=60.0))
    return steps


def build(ctx: Context) -> list[Step]:
    """R18 (installer >= 4.3.0, .py tools) or R19 (.sh): node list, then packages. From here
    on R20 holds: no package reaches any node but the new ones until the switch."""
    rule, ext = ("R18", "py") if ctx.new_tools else ("R19", "sh")
    return [
        Step(id=f"{rule.lower()}-node-list", phase="build", rule=rule,
           title=NODE_LISTS, target="firstbox",
           command=cmd(f"/pitrix/bin/gen_node_list.{ext}"), timeout=600.0,
           rerun_safe="gen_node_list rewrites the node lists from the settings files: "
                      "again, the same lists"),
        Step(id=f"{rule.lower()}-build-pkgs", phase="build", rule=rule,
           title=BUILD_PACKAGES,
           target="firstbox", command=cmd(f"/pitrix/build/build_pkgs_allinone.{ext}"),
           timeout=3600.0,
           rerun_safe="builds the packages from the settings files: again, the same packages "
                      "(nothing is pushed to a node)"),
    ]


def launch(ctx: Context) -> list[Step]:
    """R16's last look (every new host, before any launch), R21 (one VM per step, so undo
    removes exactly it) and R22."""
    steps: list[Step] = [address_free(n) for n in ctx.nodes]
    for n in ctx.nodes:
        kern = f"{KERNELS}/{n.name}"
        remove = chain(destroy_if_running(n.name), undefine_if_defined(n.name),
                       cmd("rm", "-f", f"{kern}.img", f"{kern}.xml", f"{kern}.Done"))
        steps.append(Step(
            id=f"r21-launch-{n.name}", phase="launch", rule="R21",
            title=LAUNCH.format(node=n.name, host=n.new_host_name, address=n.new_host_address),
            target="firstbox", command=cmd("/pitrix/install/launch_vms.sh", n.name),
            check=launched(n), check_target=n.new_host_name,
            undo=remove, undo_target=n.new_host_name, timeout=1800.0))
        steps.append(Step(
            id=f"r21-domain-{n.name}", phase="launch", rule="R21",
            title=DOMAIN_RUNS.format(node=n.name, host=n.new_host_name), target=n.new_host_name,
            command=virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "running"),
            side_effect=False, timeout=60.0))
        steps.append(Step(
            id=f"r21-wait-{n.name}", phase="launch", rule="R21",
            title=WAIT_NEW.format(node=n.name, address=n.temp_address), target="firstbox",
            command=ping_loop(n.temp_address, until_up=True), side_effect=False, waits=True,
            timeout=PING_WAIT + 30.0))
    steps += [s for n in ctx.nodes for s in name_reaches_new_vm(n)]
    steps.append(Step(
        id="r22-install", phase="launch", rule="R22", title=INSTALL_OS,
        target="firstbox", command=cmd("/pitrix/install/install_nodes.sh", ctx.names),
        check=on_every_node(ctx, cmd("test", "-s", RC_TAIL)), timeout=3600.0))
    return steps


def address_free(n: NodeContext) -> Step:
    """Before R21 (R3, R16, R12): the physical host that will run the new VM (R13) probes
    each temporary address with ``arping -D`` on the bridge the VM will join (checks.arp);
    an address that answers stops the run before anything is launched. Phase ``build``
    (no per-node lane: nodeswap.plan.graph): every launch waits for every node's probe."""
    sid = f"r16-free-{n.name}"
    probes = n.arp_probes
    keys = [f"{n.temp_address}=nodes.{n.name}.temp_address"]
    if n.eip_temp_address:
        keys.append(f"{n.eip_temp_address}=nodes.{n.name}.eip_temp_address")
    return Step(
        id=sid, phase="build", rule="R16",
        title=ADDRESS_FREE.format(node=n.name, host=n.new_host_name,
                                  probes=", ".join(f"{b} {a}" for b, a in probes)),
        target=n.new_host_name, command=arp.probe_command(probes), side_effect=False,
        timeout=60.0, analysis=Analysis("address_free", options=(
            ("probes", ",".join(f"{b}={a}" for b, a in probes)), ("node", n.name),
            ("host", n.new_host_name), ("keys", ",".join(keys)), ("step", sid))))


HOST_KEYS = "cat /etc/ssh/ssh_host_*_key.pub"  # no value of the zone in it


def name_reaches_new_vm(n: NodeContext) -> list[Step]:
    """Before R22: update.sh and exec_nodes.sh reach the node BY NAME (firstbox's name
    resolution, its /etc/hosts), with firstbox's own host-key policy. The check: the host
    firstbox reaches as ``n.name`` must present the key nodeswap pinned at the temporary
    address (the new VM's key files, read over that pinned connection), or R22-R26 would
    install onto the old VM (R20): the run stops before R22 with the remedy (analysis
    ``name_reach``). Then firstbox's known_hosts takes the keys the name presents (the new
    VM's, just checked) instead of the old VM's: a strict firstbox would refuse the new VM
    under the old name; R34 forgets them again after the switch, rollback too."""
    keys = Step(
        id=f"r22-keys-{n.name}", phase="launch", rule="R22",
        title=NEW_KEYS.format(node=n.name, address=n.temp_address),
        target=f"{n.name}-new", command=HOST_KEYS, side_effect=False, timeout=60.0)
    forget = cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-R", n.name) + " >/dev/null 2>&1"
    learn = Step(
        id=f"r22-known-name-{n.name}", phase="launch", rule="R22",
        title=KNOWN_NAME.format(node=n.name),
        target="firstbox",
        command=f"{forget}; {cmd('ssh-keyscan', '-T', '5', n.name)} 2>/dev/null >> "
                + cmd(KNOWN_HOSTS) + "; " + cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-F", n.name)
                + " >/dev/null",
        undo=f"{forget} || true", timeout=60.0,
        rerun_safe="forgets the name's keys and learns what it presents again")
    look = chain(cmd("getent", "hosts", n.name) + " || true",
                 cmd("ssh-keyscan", "-T", "5", n.name) + " 2>/dev/null || true")
    return [keys, Step(
        id=f"r22-name-{n.name}", phase="launch", rule="R22",
        title=REACHES.format(node=n.name), target="firstbox", command=look, side_effect=False,
        timeout=60.0, analysis=Analysis("name_reach", options=(
            ("node", n.name), ("temporary", n.temp_address), ("old", n.old_address),
            ("gather", f"{n.name}-new={keys.id}")))), learn]


def launched(n: NodeContext) -> str:
    """R21 took effect: launch_vms.sh's ``.Done`` marker is on the new host and the domain
    runs there (read-only, on the new physical host)."""
    return chain(cmd("test", "-e", f"{KERNELS}/{n.name}.Done"),
                 virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "running"))


def on_every_node(ctx: Context, test: str) -> str:
    """Read-only, on firstbox: exit 0 iff ``test`` passes on every one of the new nodes, each
    reached by firstbox's ssh at its temporary address exactly as update.sh reaches it (its
    host-key policy is firstbox's own, as for update.sh and exec_nodes.sh; never a prompt).
    Not exec_nodes.sh: it reaches nodes by name, which means whatever firstbox's /etc/hosts
    says (``name_reaches_new_vm`` checks it before R22), and its exit code says nothing of
    the command's."""
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
                 title=INSTALL_PACKAGE.format(package=p.name), target="firstbox",
                 command=cmd(UPDATE, "-f", ctx.names, p.name),
                 check=packages_installed(ctx, p.name), timeout=3600.0)
            for p in rb.packages
            if p.component is None or p.component in ctx.components] + rb.deploy_checks(ctx)


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
    r20 = R20_WARNING.format(role=ctx.role)
    return (r20, *rb.warnings(ctx))
