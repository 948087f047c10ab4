"""What a runbook is made of, for any role: the planner's decisions (``Context``,
``NodeContext``) and a role's declarations (``Runbook``: files to fetch, packages, files
rewritten at the switch, its checks). Pure: data only, no commands are built here.

plan.py fills a ``Context`` from the rules (R7-R17); ``runbooks.common`` turns it into the
role-free steps and asks the role's ``Runbook`` for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nodeswap.plan.model import Step


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
    eip_temp_address: str | None = None  # R12: the new VM's dummy EIP (VG nodes only)
    old_eip_address: str | None = None  # R30/R31: the EIP the new VM takes back
    nics: tuple[str, str] = ("eth0", "eth1")  # the MGMT and EIP interfaces (settings)

    @property
    def address_map(self) -> tuple[tuple[str, str], ...]:
        """(temporary, old) of every address R31 changes: MGMT, and the EIP with VG nodes."""
        pairs = [(self.temp_address, self.old_address)]
        if self.eip_temp_address and self.old_eip_address:
            pairs.append((self.eip_temp_address, self.old_eip_address))
        return tuple(pairs)

    @property
    def temporary(self) -> tuple[str, ...]:
        """The node's temporary addresses (MGMT, and the dummy EIP with VG nodes)."""
        return tuple(a for a in (self.temp_address, self.eip_temp_address) if a)
    old_settings: str = ""  # the settings before the upgrade (the dead-man restores them)
    # R14/R15: the new physical host's bridges for the VM's MGMT and EIP NICs (EIP: VG only)
    bridges: tuple[str, str] = ("br0", "")

    @property
    def arp_probes(self) -> tuple[tuple[str, str], ...]:
        """(bridge, address) the new host probes before launch: the temporary MGMT address
        on the MGMT bridge, and with VG nodes the dummy EIP (R12) on the EIP bridge."""
        out = [(self.bridges[0] or "br0", self.temp_address)]
        if self.eip_temp_address:
            out.append((self.bridges[1] or "br1", self.eip_temp_address))
        return tuple(out)


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
    outage_timeout: float = 60.0  # per command while a node is out of service (R32-R33)
    # R6 in a region: the zone the plan is for, named in the backup folder (two zones of one
    # firstbox upgraded the same day each keep their own backup); empty: one zone
    backup_zone: str = ""

    @property
    def names(self) -> str:
        """The nodes as the Pitrix scripts take them: ``proxy0,proxy1``."""
        return ",".join(n.name for n in self.nodes)


@dataclass(frozen=True)
class Fetch:
    """A reference copy kept from each old node before anything changes (a read-only step
    named ``fetch-<node>-<key>``); later checks compare the new node against it."""

    key: str
    rule: str  # the rule that uses it
    what: str  # shown in the step's title: a path, or e.g. "supervisor status"
    command: str
    path: str | None = None  # a file: discovery keeps the same files
    uses: str = ""  # the rules named in the title, when more than ``rule``

    @property
    def title_rules(self) -> str:
        return self.uses or self.rule


@dataclass(frozen=True)
class Package:
    """A package update.sh deploys to the new nodes (R23-R26), always or only when the zone
    has ``component`` deployed."""

    rule: str
    name: str
    component: str | None = None


@dataclass(frozen=True)
class Rewrite:
    """A file of the new VM where R31 replaces the temporary address by the old one, and why
    it holds that address (shown in the step's title)."""

    path: str
    why: str = ""


def no_steps(ctx: Context) -> list[Step]:
    return []


def no_node_steps(ctx: Context, node: NodeContext) -> list[Step]:
    return []


def no_warnings(ctx: Context) -> tuple[str, ...]:
    return ()


def no_console(ctx: Context) -> str | None:
    return None


@dataclass(frozen=True)
class Runbook:
    """What is a role's own in the upgrade by replacement; the rest is ``runbooks.common``.

    The steps run in this order: fetches (before R6), common R6-R22, ``packages`` (R23-R26),
    ``deploy_checks``, ``checks`` (after deploy, before the switches), per node the common
    R30-R34 (``last_look`` right before R32 stops the old node) and ``switch_checks``,
    then the common R37.
    """

    role: str
    fetches: tuple[Fetch, ...] = ()
    packages: tuple[Package, ...] = ()
    rewritten_at_switch: tuple[Rewrite, ...] = (Rewrite("/etc/network/interfaces"),)
    deploy_checks: Callable[[Context], list[Step]] = no_steps
    checks: Callable[[Context], list[Step]] = no_steps
    # read-only steps right before R32 stops the old node: the last look at the new one (R3)
    last_look: Callable[[Context, NodeContext], list[Step]] = no_node_steps
    switch_checks: Callable[[Context, NodeContext], list[Step]] = no_node_steps
    warnings: Callable[[Context], tuple[str, ...]] = no_warnings
    # the URL the console probe requests through the VIP during the switches (issue 10)
    console: Callable[[Context], str | None] = no_console

    @property
    def fetched_files(self) -> tuple[str, ...]:
        """The files kept from each old node, in fetch order."""
        return tuple(f.path for f in self.fetches if f.path is not None)

    @property
    def component_packages(self) -> dict[str, str]:
        """Optional package -> the component whose deployment it shows (R24-R26)."""
        return {p.name: p.component for p in self.packages if p.component is not None}

    def rewritten(self, path: str) -> bool:
        return any(r.path == path for r in self.rewritten_at_switch)
