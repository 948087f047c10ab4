"""R37, after both switches: the old VMs' files kept under archive names, their domains
undefined. Pure."""

from __future__ import annotations

from nodeswap.i18n import N_
from nodeswap.plan.model import Step
from nodeswap.shell import cmd

from .base import Context, NodeContext
from .commands import KERNELS, keep_as, negate, virsh

# step titles: plan data, in English; shown translated (i18n.retranslate, issue 13)
LIST_DOMAINS = N_("list the domains on {host}")
KEEP_AS = N_("keep {file} as {archive} (or {dated} if taken)")
UNDEFINE = N_("undefine the old domain {node} on {host}")
KEEP_DONE = N_("keep {file} as {archive} (launch_vms.sh skips a node whose .Done it finds: R21 "
               "of a later upgrade)")


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
            title=LIST_DOMAINS.format(host=n.old_host_name), target=n.old_host_name,
            command=cmd("virsh", "list", "--all"), side_effect=False, timeout=60.0))
        for ext in ("img", "xml"):
            src, dst, dated = archive_names(ctx, n, ext)
            command, check = keep_as(src, dst, dated)
            steps.append(Step(
                id=f"r37-rename-{ext}-{n.name}", phase="archive", rule="R37",
                title=KEEP_AS.format(file=src, archive=dst, dated=dated.rsplit("/", 1)[-1]),
                target=n.old_host_name, command=command, check=check,
                undo=f"if {cmd('test', '-e', dated)}; then {cmd('mv', dated, src)}; "
                     f"else {cmd('mv', dst, src)}; fi", timeout=300.0))
        _, plain_xml, dated_xml = archive_names(ctx, n, "xml")
        steps.append(Step(
            id=f"r37-undefine-{n.name}", phase="archive", rule="R37",
            title=UNDEFINE.format(node=n.name, host=n.old_host_name),
            target=n.old_host_name, command=virsh("undefine", n.name),
            check=negate(virsh("dominfo", n.name) + " >/dev/null 2>&1"),
            undo=f"if {cmd('test', '-e', dated_xml)}; then {cmd('virsh', 'define', dated_xml)}"
                 f"; else {cmd('virsh', 'define', plain_xml)}; fi", timeout=60.0))
        done, plain_done, dated_done = archive_names(ctx, n, "Done")
        command, check = keep_as(done, plain_done, dated_done, optional=True)
        steps.append(Step(
            id=f"r37-done-{n.name}", phase="archive", rule="R37",
            title=KEEP_DONE.format(file=done, archive=plain_done),
            target=n.old_host_name, command=command, check=check,
            undo=f"if {cmd('test', '-e', dated_done)}; then {cmd('mv', dated_done, done)}; "
                 f"elif {cmd('test', '-e', plain_done)}; then {cmd('mv', plain_done, done)};"
                 " fi", timeout=60.0))
    return steps
