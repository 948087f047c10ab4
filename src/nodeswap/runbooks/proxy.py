"""The proxy runbook: what is proxy's own in the upgrade by replacement. Pure.

The role-free phases (R6 backup, R7-R17 settings, R18/R19 packages, R21/R22 launch, R30-R34
switch mechanics, R37 archive) are runbooks/common.py. Here: the files kept from the old
proxies and compared on the new ones (R27 haproxy.cfg, R28 rc files, R31 interfaces), the
packages per component (R23-R26), the files R31 rewrites, the checks (R23 VIP watch, R27-R29,
R35, R36 console) and the warnings.
"""

from __future__ import annotations

from nodeswap.checks.console import curl_command, names_host, pin
from nodeswap.checks.ports import probe_command, proxy_ports
from nodeswap.i18n import N_
from nodeswap.plan.model import Analysis, Step
from nodeswap.shell import cmd

from . import register
from .base import Context, Fetch, NodeContext, Package, Rewrite, Runbook
from .commands import INTERFACES, RC_TAIL, cat_file, exec_nodes, fetch_id, supervisor_status
from .switch import network_check, switch_phase

HAPROXY = "/etc/haproxy/haproxy.cfg"

# Step titles and warnings: plan data, in English; shown translated (i18n.retranslate, issue 13)
NO_VIP = N_("the new {node} must not hold the VIP {vip}")
COMPARE = N_("compare {path}: old {node} vs new")
SUPERVISOR_EXEC = N_("supervisor status via exec_nodes.sh")
NETWORK_MAPPED = N_("how the new {node} configures its network (ifupdown or netplan): the old "
                    "VM's configuration at the temporary addresses (what R31 rewrites)")
SUPERVISOR_NEW = N_("supervisor status of the new {node} vs the old")
SUPERVISOR_SWITCHED = N_("supervisor status of the switched {node} vs the old")
CONSOLE = N_("the console answers at {url}")
CONSOLE_VIA = N_("the console answers at {url} through the VIP {vip} (its Host header and TLS "
                 "name kept)")
PORTS = N_("the switched {nodes} answer on haproxy's ports ({ports})")
LOOK_SERVICES = N_("last look before R32: the new {node} answers at {address} with its pinned "
                   "key, its services run (R29)")
LOOK_HAPROXY = N_("last look before R32: haproxy.cfg of the new {node} vs the old (R27)")
LOOK_CONSOLE = N_("last look before R32: the console answers at {url} (R36)")
LOOK_CONSOLE_VIA = N_("last look before R32: the console answers at {url} through the VIP {vip} "
                      "(R36)")
LOOK_ADDRESSES = N_("last look before R32: the addresses of {host}")
LOOK_VIP = N_("last look before R32: exactly one proxy holds the VIP {vip}")
NO_CONSOLE_WARNING = N_("R36: no console URL or VIP known: check the console web page by eye "
                        "after each switch.")
BY_NAME_WARNING = N_("R36: the console URL {url} names a host but the VIP is unknown: the "
                     "console check asks for it as firstbox resolves the name, not "
                     "necessarily through the VIP; give vip in the spec.")
NO_VIP_WARNING = N_("R23: the VIP is unknown: the VIP watch after deploy cannot tell which node "
                    "holds it; watch the console during deploy.")

# Reference copies fetched from each old node before anything changes (R27-R29 compare the
# new node against them; R31 needs the interfaces file).
FETCHES = (
    Fetch("haproxy", "R27", HAPROXY, cat_file(HAPROXY), path=HAPROXY),
    *(Fetch(key, "R28", path, cat_file(path, optional=True), path=path)
      for key, path in (("rc.local", "/etc/rc.local"), ("rc.local.head", "/etc/rc.local.head"),
                        ("rc.local.tail", RC_TAIL))),
    Fetch("interfaces", "R31", INTERFACES, cat_file(INTERFACES), path=INTERFACES),
    Fetch("supervisor", "R29", N_("supervisor status"), supervisor_status(), uses="R29/R35"),
)

# R23 always; R24-R26 for the deployed components only.
PACKAGES = (
    Package("R23", "pitrix-ks-proxy"),
    Package("R24", "pitrix-ks-proxy-boss", "boss"),
    Package("R25", "pitrix-ks-proxy-boss2", "boss2"),
    Package("R26", "pitrix-ks-proxy-warehouse", "warehouse"),
)

# R31 rewrites the temporary address to the old one in these files of the new VM (the runbook
# names only the interfaces file; vm_network_routing_rule also put it in rc.local.tail).
REWRITTEN_AT_SWITCH = (
    Rewrite(INTERFACES),
    Rewrite(RC_TAIL, why=N_("vm_network_routing_rule put the temporary address there")),
)


def console_url(ctx: Context) -> str | None:
    if ctx.console_url:
        return ctx.console_url
    return f"http://{ctx.vip}/" if ctx.vip else None


def console_analysis(ctx: Context, url: str) -> Analysis:
    """R36 (issue 10): the console through the VIP: a URL that names a host is asked of the
    VIP with that Host header and TLS name (``checks.console.pin``); the finding says so."""
    via = ("via", ctx.vip) if ctx.vip and pin(url, ctx.vip) else None
    return Analysis("console", options=(("url", url),) + ((via,) if via else ()))


def vip_watch(ctx: Context) -> list[Step]:
    """R23's warning: after deploy, the new nodes must not hold the VIP (without a VIP: a
    plan warning instead)."""
    return [Step(
        id=f"r23-vip-{n.name}", phase="deploy", rule="R23",
        title=NO_VIP.format(node=n.name, vip=ctx.vip), target=f"{n.name}-new",
        command=cmd("ip", "-4", "-o", "addr", "show"), side_effect=False, timeout=60.0,
        analysis=Analysis("vip", options=(("vip", ctx.vip or ""), ("node", n.name),
                                          ("temporary", "1"))))
        for n in (ctx.nodes if ctx.vip else ())]


def file_comparisons(ctx: Context, n: NodeContext) -> list[Step]:
    """R27 haproxy.cfg and R28 rc files of the new node against the old node's copies."""
    steps: list[Step] = []
    amap = ("address_map", f"{n.old_address}={n.temp_address}")
    for f in FETCHES:
        if f.rule not in ("R27", "R28"):
            continue
        first = ("sub_region", "1" if ctx.sub_region else "0") if f.key == "haproxy" \
            else ("file", f.key)
        options: tuple[tuple[str, str], ...] = (first, amap, ("node", n.name))
        if any(r.path == f.path for r in REWRITTEN_AT_SWITCH):  # R31 fixes it there too
            options += (("rewritten_at_switch", "1"),)
        steps.append(Step(
            id=f"{f.rule.lower()}-{f.key}-{n.name}", phase="check", rule=f.rule,
            title=COMPARE.format(path=f.path, node=n.name), target=f"{n.name}-new",
            command=f.command, side_effect=False, timeout=60.0,
            analysis=Analysis("haproxy" if f.key == "haproxy" else "rc",
                              against=fetch_id(n.name, f.key), options=options)))
    return steps


def supervisor_exec(ctx: Context, step_id: str, phase: str, rule: str) -> Step:
    """R29/R35: supervisor status of the role's nodes via exec_nodes.sh, parsed (never its
    exit code)."""
    return Step(
        id=step_id, phase=phase, rule=rule, title=SUPERVISOR_EXEC,
        target="firstbox",
        command=exec_nodes(ctx.names, "supervisorctl status"), side_effect=False,
        timeout=300.0, analysis=Analysis("supervisor_exec",
                                         options=(("nodes", ctx.names), ("rule", rule))))


def checks(ctx: Context) -> list[Step]:
    """R27 haproxy.cfg, R28 rc files, R29 the network configuration (under the address map)
    and supervisor (parsed, never exec_nodes' exit code)."""
    steps = [s for n in ctx.nodes for s in file_comparisons(ctx, n)]
    steps += [network_check(n, f"r29-network-{n.name}", "R29", f"{n.name}-new",
                            NETWORK_MAPPED.format(node=n.name), phase="check", mapped=True)
              for n in ctx.nodes]
    steps.append(supervisor_exec(ctx, "r29-exec", "check", "R29"))
    for n in ctx.nodes:
        steps.append(Step(
            id=f"r29-supervisor-{n.name}", phase="check", rule="R29",
            title=SUPERVISOR_NEW.format(node=n.name), target=f"{n.name}-new",
            command=supervisor_status(), side_effect=False, timeout=60.0,
            analysis=Analysis("supervisor", against=fetch_id(n.name, "supervisor"),
                              options=(("node", n.name), ("rule", "R29")))))
    return steps


def switch_checks(ctx: Context, n: NodeContext) -> list[Step]:
    """R35 (the switched node's services, then every proxy's, then haproxy's ports of the
    nodes switched so far) and R36 (the console)."""
    phase = switch_phase(n)
    steps = [
        Step(id=f"r35-supervisor-{n.name}", phase=phase, rule="R35",
             title=SUPERVISOR_SWITCHED.format(node=n.name),
             target=f"{n.name}-switched", command=supervisor_status(), side_effect=False,
             timeout=60.0,
             analysis=Analysis("supervisor", against=fetch_id(n.name, "supervisor"),
                               options=(("node", n.name), ("rule", "R35")))),
        supervisor_exec(ctx, f"r35-exec-{n.name}", phase, "R35"),
        port_check(ctx, n),
    ]
    url = console_url(ctx)
    if url:
        steps.append(Step(
            id=f"r36-console-{n.name}", phase=phase, rule="R36",
            title=(CONSOLE_VIA.format(url=url, vip=ctx.vip) if pin(url, ctx.vip)
                   else CONSOLE.format(url=url)), target="firstbox",
            command=curl_command(url, vip=ctx.vip), side_effect=False, timeout=60.0,
            analysis=console_analysis(ctx, url)))
    return steps


def port_check(ctx: Context, n: NodeContext) -> Step:
    """R35 (issue 10: the platform services answer, not only run): every node switched so far
    answers at its address on haproxy's ports (api, ws, io; warehouse where deployed), probed
    from firstbox."""
    order = [m.name for m in ctx.nodes]
    switched = ctx.nodes[:order.index(n.name) + 1]
    numbers = proxy_ports(ctx.components)
    shown = ", ".join(str(p) for p in numbers)
    return Step(
        id=f"r35-ports-{n.name}", phase=switch_phase(n), rule="R35",
        title=PORTS.format(nodes=", ".join(m.name for m in switched), ports=shown),
        target="firstbox",
        command=probe_command([m.old_address for m in switched], numbers), side_effect=False,
        timeout=60.0 + 5.0 * len(numbers) * len(switched),
        analysis=Analysis("ports", options=(
            ("nodes", ",".join(f"{m.name}={m.old_address}" for m in switched)),
            ("ports", ",".join(str(p) for p in numbers)), ("rule", "R35"))))


IP_ADDR = cmd("ip", "-4", "-o", "addr", "show")


def last_look(ctx: Context, n: NodeContext) -> list[Step]:
    """Right before R32 stops the old node (R3: the new VMs are checked, and only then are
    the old nodes switched off), read-only, so a failure stops the run before the old node is
    touched: the new VM answers at its temporary address with the key pinned there (its
    target ``<node>-new``: another key stops the run), its services pass (R29's supervisor
    check and R27's haproxy.cfg comparison, parsed, again), exactly one proxy holds the VIP
    (a new VM holding it is reported, not fatal) and the console answers (R36)."""
    phase, new = switch_phase(n), f"{n.name}-new"
    haproxy = next(s for s in file_comparisons(ctx, n) if s.analysis and
                   s.analysis.kind == "haproxy")
    steps = [
        Step(id=f"r32-look-services-{n.name}", phase=phase, rule="R32",
             title=LOOK_SERVICES.format(node=n.name, address=n.temp_address), target=new,
             command=supervisor_status(), side_effect=False, timeout=60.0,
             analysis=Analysis("supervisor", against=fetch_id(n.name, "supervisor"),
                               options=(("node", n.name), ("rule", "R32")))),
        Step(id=f"r32-look-haproxy-{n.name}", phase=phase, rule="R32",
             title=LOOK_HAPROXY.format(node=n.name),
             target=new, command=haproxy.command, side_effect=False, timeout=60.0,
             analysis=haproxy.analysis),
    ]
    if ctx.vip:
        steps += vip_look(ctx, n)
    url = console_url(ctx)
    if url:
        steps.append(Step(
            id=f"r32-look-console-{n.name}", phase=phase, rule="R32",
            title=(LOOK_CONSOLE_VIA.format(url=url, vip=ctx.vip) if pin(url, ctx.vip)
                   else LOOK_CONSOLE.format(url=url)),
            target="firstbox", command=curl_command(url, vip=ctx.vip), side_effect=False,
            timeout=60.0, analysis=console_analysis(ctx, url)))
    return steps


def vip_look(ctx: Context, n: NodeContext) -> list[Step]:
    """Every proxy host up now shows its addresses (nodes switched before ``n`` at their old
    address, the others old and new), then one step on the old ``n`` judges them all: exactly
    one holds the VIP."""
    order = [m.name for m in ctx.nodes]
    hosts: list[str] = []
    for m in order:
        hosts += [f"{m}-switched"] if order.index(m) < order.index(n.name) \
            else [f"{m}-old", f"{m}-new"]
    phase, own = switch_phase(n), f"{n.name}-old"
    steps = [Step(id=f"r32-look-ip-{n.name}-{h}", phase=phase, rule="R32",
                  title=LOOK_ADDRESSES.format(host=h), target=h,
                  command=IP_ADDR, side_effect=False, timeout=60.0)
             for h in hosts if h != own]
    gather = ",".join(f"{s.target}={s.id}" for s in steps)
    temporary = ",".join(h for h in hosts if h.endswith("-new"))
    steps.append(Step(
        id=f"r32-look-vip-{n.name}", phase=phase, rule="R32",
        title=LOOK_VIP.format(vip=ctx.vip), target=own,
        command=IP_ADDR, side_effect=False, timeout=60.0,
        analysis=Analysis("vip_holders", options=(
            ("vip", ctx.vip or ""), ("label", own), ("gather", gather),
            ("temporary", temporary), ("rule", "R32")))))
    return steps


def warnings(ctx: Context) -> tuple[str, ...]:
    out = []
    if console_url(ctx) is None:
        out.append(NO_CONSOLE_WARNING)
    if not ctx.vip:
        out.append(NO_VIP_WARNING)
    url = console_url(ctx)
    if url and not ctx.vip and names_host(url):
        out.append(BY_NAME_WARNING.format(url=url))
    return tuple(out)


RUNBOOK = register(Runbook(
    role="proxy", fetches=FETCHES, packages=PACKAGES, rewritten_at_switch=REWRITTEN_AT_SWITCH,
    deploy_checks=vip_watch, checks=checks, last_look=last_look, switch_checks=switch_checks,
    warnings=warnings, console=console_url))
