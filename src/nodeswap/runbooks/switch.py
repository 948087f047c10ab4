"""R30-R34 for one node (the switch), one helper per rule, composed by ``switch``. Pure.

Targets as in ``runbooks.common``: ``<node>-old``, ``<node>-new``, ``<node>-switched``, the
physical hosts by their node name, ``firstbox``.
"""

from __future__ import annotations

from dataclasses import replace

from nodeswap.checks.execnodes import done_marker
from nodeswap.checks.network import NETWORK_DUMP
from nodeswap.i18n import N_
from nodeswap.plan.model import Analysis, Step
from nodeswap.shell import chain, cmd, write_file_atomic

from . import deadman
from . import probe as console_probe
from .base import Context, NodeContext, Runbook
from .commands import (
    KNOWN_HOSTS,
    PING_WAIT,
    REBOOT_WAIT,
    all_stopped,
    destroy_if_running,
    exec_nodes,
    fetch_id,
    holds_none,
    negate,
    or_true,
    ping_loop,
    replace_addresses,
    rewrite_addresses,
    settings_path,
    sha_matches,
    start_unless_running,
    sweep,
    virsh,
    write_text,
)

# Step titles: plan data, in English; shown translated (i18n.retranslate, issue 13)
SETTINGS_BACK = N_("put {node}'s old MGMT/EIP values back ({address}) in its settings")
GLOBAL_CONF = N_("rebuild the global packages (pitrix-hosts with the restored address)")
NEW_ADDRESS = N_("new {node}: {change} in {files} and every file under /etc")
NEW_ADDRESS_WHY = N_("new {node}: {change} in {files} ({why}) and every file under /etc")
NETWORK_NOW = N_("the new {node}'s network configuration now equals the old VM's (MAC lines "
                 "aside)")
ARP = N_("gratuitous ARP for {addresses} (neighbours learn the new MAC)")
NETWORK_SWITCHED = N_("the switched {node}'s network configuration equals the old VM's")
ADDRESSES_SWITCHED = N_("the switched {node} holds exactly the old VM's addresses (and the "
                        "VIP)")
SWEEP_SWITCHED = N_("no file under /etc of the switched {node} holds {addresses}")
HOSTS_AGAIN = N_("install the last pitrix-hosts again on {node} (built after {last}'s R30; new "
                 "nodes only: R20)")
HOSTS_STALE = N_("/etc/hosts of {host} maps no temporary address")
STOP_OLD = N_("stop the services of the old {node}")
NO_AUTOSTART = N_("no autostart of the old {node} on {host} (a host reboot would revive a "
                  "second VM with the same address)")
SHUT_DOWN = N_("shut the old {node} down")
GONE = N_("wait until {address} stops answering")
STOP_NEW = N_("stop the services of the new {node}")
APT_UPDATE = N_("apt-get update")
HOSTS_NEW = N_("install the rebuilt pitrix-hosts on the new node only (R20)")
REBOOT = N_("reboot the new {node} onto {address}")
BACK_UP = N_("wait until {address} answers again")
IDENTITY = N_("{address} is the new VM (same pinned host key as at {temporary})")
FORGET_FIRSTBOX = N_("forget stale host keys on firstbox")
FORGET_ALL = N_("forget stale host keys on every node (judged node by node: a node not being "
                "upgraded that is down is a warning)")
EARLY = N_("{title}, at {address} before R32 (R20, R30, R33)")


def switch_phase(n: NodeContext) -> str:
    return f"switch:{n.name}"


def settings_back(n: NodeContext) -> list[Step]:
    """R30: the old MGMT/EIP values back in the node's settings (the gate of the switch), then
    build_global_conf.sh."""
    path = settings_path(n.name)
    return [
        Step(id=f"r30-settings-{n.name}", phase=switch_phase(n), rule="R30", gate=True,
           title=SETTINGS_BACK.format(node=n.name, address=n.old_address),
           target="firstbox", command=write_file_atomic(path), stdin=n.switched_settings,
           check=sha_matches(path, n.switched_settings),
           verify=sha_matches(path, n.switched_settings),
           undo=write_text(path, n.settings), timeout=60.0),
        Step(id=f"r30-global-conf-{n.name}", phase=switch_phase(n), rule="R30",
           title=GLOBAL_CONF,
           target="firstbox", command=cmd("/pitrix/upgrade/build_global_conf.sh"),
           timeout=1800.0,
           rerun_safe="rebuilds the global packages from the settings files: again, the same "
                      "packages (nothing is pushed to a node)"),
    ]


NETWORK_FILES = ("/etc/network/interfaces", "/etc/network/interfaces.d", "/etc/netplan")


def old_address_on_new_vm(rb: Runbook, n: NodeContext) -> list[Step]:
    """R31: every temporary address of the node (MGMT, and with VG nodes the dummy EIP of R12)
    becomes the old node's, in the files the runbook names and in every other text file
    under the new VM's /etc (its network configuration, ifupdown's or netplan's, included);
    then that configuration must equal the old VM's (MAC lines aside), or the run stops
    before R32. No undo: rollback destroys the new VM (R21, R33 undo)."""
    rewrites = rb.rewritten_at_switch
    files = [r.path for r in rewrites]
    pairs = n.address_map
    outside = [f for f in files if not f.startswith("/etc/")]
    done = chain(*(cmd("grep", "-rqswF", old, *NETWORK_FILES) for _, old in pairs),
                 holds_none(n.temporary, "/etc", *outside))
    where = " and ".join(f.rsplit("/", 1)[-1] for f in files)
    whys = [r.why for r in rewrites if r.why]
    change = ", ".join(f"{a} -> {b}" for a, b in pairs)
    title = (NEW_ADDRESS_WHY.format(node=n.name, change=change, files=where,
                                    why=") (".join(whys)) if whys
             else NEW_ADDRESS.format(node=n.name, change=change, files=where))
    return [
        Step(id=f"r31-address-{n.name}", phase=switch_phase(n), rule="R31",
             title=title,
             target=f"{n.name}-new",
             command=chain(*(replace_addresses(f, pairs) for f in files),
                           rewrite_addresses(pairs, "/etc")),
             check=done, verify=done, timeout=60.0),
        network_check(n, f"r31-network-{n.name}", "R31", f"{n.name}-new",
                      NETWORK_NOW.format(node=n.name)),
    ]


def network_check(n: NodeContext, step_id: str, rule: str, target: str, title: str, *,
                  phase: str | None = None, mapped: bool = False) -> Step:
    """Read-only: the VM's network files (ifupdown or netplan) against the old VM's
    interfaces file fetched at prepare; ``mapped``: still at the temporary addresses."""
    options: tuple[tuple[str, str], ...] = (("node", n.name), ("rule", rule))
    if mapped:
        amap = ",".join(f"{old}={temp}" for temp, old in n.address_map)
        options = (("address_map", amap), *options)
    return Step(id=step_id, phase=phase or switch_phase(n), rule=rule, title=title,
                target=target, command=NETWORK_DUMP, side_effect=False, timeout=60.0,
                analysis=Analysis("network", against=fetch_id(n.name, "interfaces"),
                                  options=options))


def after_reboot(ctx: Context, n: NodeContext) -> list[Step]:
    """After R33: neighbours learn the new MAC at once (gratuitous ARP), the switched VM's
    network files and live addresses are the old VM's, and no file under its /etc holds one
    of its temporary addresses."""
    phase, switched = switch_phase(n), f"{n.name}-switched"
    olds = [b for _, b in n.address_map]
    arp = chain(*(cmd("arping", "-U", "-c", "1", "-I", nic, addr)
                  for nic, addr in zip(n.nics, olds, strict=False)))
    missing = cmd("echo", "R33: no arping on the VM: neighbours keep the old MAC until their "
                  "ARP entries expire") + " >&2"
    whose = ",".join(f"{a}={n.name}" for a in n.temporary)
    return [
        Step(id=f"r33-arp-{n.name}", phase=phase, rule="R33",
             title=ARP.format(addresses=", ".join(olds)),
             target=switched, timeout=60.0,
             command=f"if command -v arping >/dev/null; then {arp}; else {missing}; fi",
             rerun_safe="a gratuitous ARP again only refreshes the neighbours' caches"),
        network_check(n, f"r33-network-{n.name}", "R33", switched,
                      NETWORK_SWITCHED.format(node=n.name)),
        Step(id=f"r33-addresses-{n.name}", phase=phase, rule="R33",
             title=ADDRESSES_SWITCHED.format(node=n.name),
             target=switched, command=cmd("ip", "-4", "-o", "addr", "show"), side_effect=False,
             timeout=60.0, analysis=Analysis("addresses", against=fetch_id(n.name, "interfaces"),
                                             options=(("vip", ctx.vip or ""), ("node", n.name),
                                                      ("rule", "R33")))),
        Step(id=f"r33-sweep-{n.name}", phase=phase, rule="R33",
             title=SWEEP_SWITCHED.format(node=n.name, addresses=" or ".join(n.temporary)),
             target=switched,
             command=sweep(n.temporary, "/etc", recursive=True), side_effect=False,
             timeout=120.0, analysis=Analysis("stale", options=(
                 ("addresses", whose), ("node", n.name), ("rule", "R33")))),
    ]


def names_refreshed(ctx: Context) -> list[Step]:
    """After the last switch: the nodes switched before it got a pitrix-hosts built while the
    later ones were still at their temporary addresses; they get the last one (R33's
    install again, on the role's new nodes only: R20), then no /etc/hosts of the role's
    nodes nor firstbox's maps a temporary address."""
    last = ctx.nodes[-1]
    phase = switch_phase(last)
    whose = ",".join(f"{a}={m.name}" for m in ctx.nodes for a in m.temporary)
    temps = [a for m in ctx.nodes for a in m.temporary]
    steps = [Step(
        id=f"r33-hosts-again-{m.name}", phase=phase, rule="R33",
        title=HOSTS_AGAIN.format(node=m.name, last=last.name), target=f"{m.name}-switched",
        timeout=900.0,
        command=chain(cmd("apt-get", "update"),
                      cmd("apt-get", "--yes", "--allow-unauthenticated", "install",
                          "--reinstall", "pitrix-hosts")),
        rerun_safe="apt-get install --reinstall of the same package writes the same files")
        for m in ctx.nodes[:-1]]
    for host in [f"{m.name}-switched" for m in ctx.nodes] + ["firstbox"]:
        steps.append(Step(
            id=f"r33-hosts-stale-{host}", phase=phase, rule="R33",
            title=HOSTS_STALE.format(host=host), target=host,
            command=sweep(temps, "/etc/hosts"), side_effect=False, timeout=60.0,
            analysis=Analysis("stale", options=(("addresses", whose), ("node", host),
                                                ("rule", "R33")))))
    return steps


def stop_old(n: NodeContext) -> list[Step]:
    """R32: stop the old node's services, keep its domain from autostarting, shut it down and
    wait until its address is silent."""
    phase, old = switch_phase(n), f"{n.name}-old"
    return [
        Step(id=f"r32-stop-{n.name}", phase=phase, rule="R32",
           title=STOP_OLD.format(node=n.name), target=old,
           command=cmd("supervisorctl", "stop", "all"), check=all_stopped(),
           undo=cmd("supervisorctl", "start", "all"), timeout=300.0),
        Step(id=f"r32-autostart-{n.name}", phase=phase, rule="R32",
           title=NO_AUTOSTART.format(node=n.name, host=n.old_host_name),
           target=n.old_host_name,
           command=virsh("autostart", "--disable", n.name),
           check=virsh("dominfo", n.name) + " | "
           + cmd("grep", "-qE", "^Autostart:[[:space:]]+disable"),
           undo=virsh("autostart", n.name), timeout=60.0),
        Step(id=f"r32-shutdown-{n.name}", phase=phase, rule="R32",
           title=SHUT_DOWN.format(node=n.name), target=old, command=cmd("shutdown", "-h", "now"),
           disconnects=True, undo_target=n.old_host_name,
           # decided on the physical host, which is up: the old VM is down on purpose
           check=virsh("domstate", n.name) + " | " + cmd("grep", "-qx", "shut off"),
           check_target=n.old_host_name,
           # rollback (also after a cut or failed shutdown): start the old VM unless it runs
           undo=chain(start_unless_running(n.name, n.old_address),
                      ping_loop(n.old_address, until_up=True)),
           timeout=60.0),
        Step(id=f"r32-gone-{n.name}", phase=phase, rule="R32",
           title=GONE.format(address=n.old_address), target="firstbox",
           command=ping_loop(n.old_address, until_up=False), side_effect=False, waits=True,
           timeout=PING_WAIT + 30.0),
    ]


def restart_new(n: NodeContext) -> list[Step]:
    """R33: on the new VM, stop the services, install the rebuilt pitrix-hosts, reboot onto
    the old address; then wait for it there and make sure it is the new VM (pinned key)."""
    phase, new = switch_phase(n), f"{n.name}-new"
    return [
        Step(id=f"r33-stop-{n.name}", phase=phase, rule="R33",
           title=STOP_NEW.format(node=n.name), target=new,
           command=cmd("supervisorctl", "stop", "all"), check=all_stopped(), timeout=300.0),
        Step(id=f"r33-apt-update-{n.name}", phase=phase, rule="R33", title=APT_UPDATE,
           target=new, command=cmd("apt-get", "update"), timeout=900.0,
           rerun_safe="apt-get update only refreshes the package lists"),
        Step(id=f"r33-hosts-{n.name}", phase=phase, rule="R33",
           title=HOSTS_NEW, target=new,
           command=cmd("apt-get", "--yes", "--allow-unauthenticated", "install", "pitrix-hosts"),
           timeout=900.0,
           rerun_safe="apt-get install of a package installed at its candidate version "
                      "changes nothing"),
        Step(id=f"r33-reboot-{n.name}", phase=phase, rule="R33",
           title=REBOOT.format(node=n.name, address=n.old_address), target=new,
           command=cmd("shutdown", "-r", "now"), disconnects=True, timeout=60.0,
           # decided on firstbox, which is up: the VM answers at the old address (R32 made it
           # silent, R33-identity checks its pinned key next), not at the temporary one
           check=came_back(n), check_target="firstbox",
           # rollback (also after a cut or failed reboot): the new VM leaves the old address
           # before the old VM comes back (R32's undo runs after this one)
           undo_target=n.new_host_name, undo=destroy_if_running(n.name)),
        # firstbox first forgets the old VM's MAC for the address (its ARP cache kept it
        # REACHABLE 15-45 s after the old VM's halt, then probed it: the new VM went unseen
        # for 27-50 s on a real network; issue 10), so its first ping asks by broadcast and
        # the new VM answers; r33-arp then tells every other neighbour
        Step(id=f"r33-up-{n.name}", phase=phase, rule="R33",
           title=BACK_UP.format(address=n.old_address), target="firstbox",
           command=f"{forget_mac(n.old_address)}; {ping_loop(n.old_address, until_up=True)}",
           side_effect=False, waits=True, timeout=PING_WAIT + 30.0),
        Step(id=f"r33-identity-{n.name}", phase=phase, rule="R33",
           title=IDENTITY.format(address=n.old_address, temporary=n.temp_address),
           target=f"{n.name}-switched", command=cmd("hostname"), side_effect=False,
           timeout=60.0),
    ]


FORGET_AGAIN = "ssh-keygen -R of a name or address no longer known changes nothing (exit 0)"


def forget_mac(address: str) -> str:
    """firstbox's ARP cache forgets ``address`` (a kernel cache, relearnt at the next packet:
    no state of the zone changes; an `ip` that cannot is ignored)."""
    return cmd("ip", "neigh", "flush", "to", address) + " >/dev/null 2>&1"


def came_back(n: NodeContext) -> str:
    """R33's reboot took effect, seen from firstbox: wait (bounded) until the VM answers at
    either address, and it must be the old one (R32 made the old VM silent there). The
    temporary address is asked first: before the reboot (a first run) it answers at once,
    where asking the silent old one first cost 2.2 s per switch on a real network."""
    temp, old = (cmd("ping", "-c", "1", "-W", "1", a) + " >/dev/null 2>&1"
                 for a in (n.temp_address, n.old_address))
    return cmd("timeout", "--foreground", str(REBOOT_WAIT), "sh", "-c",
               f"while :; do if {temp}; then exit 1; fi; if {old}; then exit 0; fi; "
               "sleep 0.2; done")


def forget_host_keys(ctx: Context, n: NodeContext) -> list[Step]:
    """R34: the stale host keys of the node's name, old and temporary address, on firstbox
    (verified gone) and on every node. exec_nodes.sh's exit code says nothing (1 when any
    node of the zone is down, 0 when a command failed): its output is judged node by node
    (analysis ``exec_nodes``): the nodes being upgraded must have forgotten the keys; any
    other node that did not (down, unreachable) is named in the report, not fatal: the old
    VM is already halted, and stopping between two switches helps nobody."""
    values = (n.name, n.old_address, n.temp_address)
    forget = [cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-R", v) for v in values]
    gone = chain(*(negate(cmd("ssh-keygen", "-f", KNOWN_HOSTS, "-F", v)) + " >/dev/null"
                   for v in values))
    # a node without a known_hosts file has nothing stale (ssh-keygen -R would fail there)
    on_node = (f"{{ {cmd('test', '!', '-e', KNOWN_HOSTS)} || {{ {' && '.join(forget)}; }}; }}"
               f" && {cmd('echo', done_marker())}")
    forgotten = " ".join(values)
    return [
        Step(id=f"r34-known-hosts-{n.name}", phase=switch_phase(n), rule="R34",
           title=FORGET_FIRSTBOX, target="firstbox",
           command=chain(*forget), verify=gone, timeout=60.0, rerun_safe=FORGET_AGAIN),
        Step(id=f"r34-known-hosts-all-{n.name}", phase=switch_phase(n), rule="R34",
           title=FORGET_ALL, target="firstbox",
           command=or_true(exec_nodes("all", on_node)), timeout=600.0,
           rerun_safe=FORGET_AGAIN,
           analysis=Analysis("exec_nodes", options=(
               ("nodes", ctx.names), ("rule", "R34"),
               ("what", f"forget the stale host keys of {forgotten}"),
               ("remedy", f"there, ssh-keygen -f {KNOWN_HOSTS} -R each of {forgotten}")))),
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
    the shutdown/reboot themselves keep theirs: their undo waits for a boot).

    The dead-man (``runbooks.deadman``) is armed on firstbox right after the last look,
    before R32 touches the old node, and disarmed after the switch checks (R33's pinned key
    at the old address, R35's services): a node left out of service by a dead nodeswap, or a
    switched node that never comes back right, is reverted by firstbox alone.

    The console probe (``runbooks.probe``, issue 10) starts on firstbox right before the first
    node's dead-man and stops after the last node's checks, so every switch is measured."""
    restart = restart_new(n)
    moved = {f"{prefix}-{n.name}" for prefix in BEFORE_R32}
    early = [replace(s, title=EARLY.format(title=s.title, address=n.temp_address))
             for s in restart if s.id in moved]
    late = [s for s in restart if s.id not in moved]
    outage = [short(s, ctx.outage_timeout) for s in stop_old(n) + late]
    names = names_refreshed(ctx) if n is ctx.nodes[-1] else []
    phase = switch_phase(n)
    url = rb.console(ctx)  # issue 10: the console probe spans every switch
    first = [console_probe.start(url, phase, ctx.vip)] if url and n is ctx.nodes[0] else []
    last = [console_probe.stop(phase)] if url and n is ctx.nodes[-1] else []
    return (settings_back(n) + old_address_on_new_vm(rb, n) + early + rb.last_look(ctx, n)
            + first + [deadman.arm(n, n.old_settings, phase)] + outage + after_reboot(ctx, n)
            + names + forget_host_keys(ctx, n) + rb.switch_checks(ctx, n)
            + [deadman.disarm(n.name, phase)] + last)


def short(step: Step, limit: float) -> Step:
    """``step`` with at most ``limit`` seconds, unless it waits or takes its host down."""
    if step.waits or step.disconnects or step.timeout <= limit:
        return step
    return replace(step, timeout=limit)
