"""Before R21: the new VM's temporary addresses are free on its network (R3, R16, R12). Pure.

Ping from firstbox (planning, R16) misses a holder that drops ICMP: a router, a VRRP peer, a
firewall, a host of another network. ARP is answered by any holder on the segment, so right
before launch the physical host that will run the new VM (R13) probes each temporary address
on the bridge the VM's NIC will join: the MGMT address on ``physical_host_network_interface``
(R14, usually br0) and, in VG zones, the dummy EIP (R12) on
``physical_host_eip_network_interface`` (R15, usually br1).

``probe_command`` runs iputils' ``arping -D`` (duplicate address detection: exit 0 = no reply
= free, 1 = someone answered = taken, 2 = could not probe) and prints, after arping's own
lines, one marker line per probe: ``nodeswap-dad IFACE ADDRESS STATUS``. Another arping
(Thomas Habets' ``arping`` package reads -D differently) is not run at all: the command
prints ``nodeswap-dad-no-iputils`` and its version line instead. ``check`` judges the markers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nodeswap.i18n import _
from nodeswap.shell import cmd

from .findings import Difference

RULE = "R16"
MARK = "nodeswap-dad"
NO_IPUTILS = "nodeswap-dad-no-iputils"
COUNT, DEADLINE = 2, 3  # probes, seconds: arping -D -c 2 -w 3
_MARK = re.compile(rf"^{MARK} (?P<iface>\S+) (?P<address>\S+) (?P<status>\d+)$")
_REPLY = re.compile(r"reply from (?P<address>\S+) \[(?P<mac>[0-9A-Fa-f:]+)\]")


def probe_command(probes: Sequence[tuple[str, str]]) -> str:
    """Read-only, on the new VM's physical host: ``arping -D`` for each (bridge, address),
    every probe's output followed by its marker line, in the probes' order. Several probes (a
    VG node's MGMT and dummy EIP) run at once, each into its own file of a scratch folder
    (``mktemp -d``, removed after): a free address is silent for the whole probe, and MGMT
    then EIP took 4.2 s. Exits 0 whatever it found (``check`` judges); iputils' arping only."""
    version = cmd("arping", "-V") + " 2>&1"

    def dad(iface: str, addr: str) -> str:
        return cmd("arping", "-D", "-c", str(COUNT), "-w", str(DEADLINE), "-I", iface, addr)

    if len(probes) == 1:  # no VG nodes: nothing to run beside it
        (iface, addr), = probes
        body = f"{dad(iface, addr)} 2>&1; echo {cmd(MARK, iface, addr)} $?"
    else:
        runs = [f'( {dad(iface, addr)} > "$d/{i}" 2>&1; echo {cmd(MARK, iface, addr)} $? '
                f'>> "$d/{i}" ) &' for i, (iface, addr) in enumerate(probes)]
        outs = " ".join(f'"$d/{i}"' for i in range(len(probes)))
        body = f'd=$(mktemp -d) && {{ {" ".join(runs)} wait; cat {outs}; rm -rf "$d"; }}'
    return (f"if {version} | {cmd('grep', '-q', 'iputils')}; then {body}; "
            f"else echo {cmd(NO_IPUTILS)} \"$({version} | head -n 1)\"; fi")


def check(output: str, probes: Sequence[tuple[str, str]], *, node: str, host: str,
          keys: dict[str, str] | None = None, step: str = "STEP") -> list[Difference]:
    """An *unexpected* finding (the run stops before launch) for each probe whose address
    answers ARP (taken), that could not run, or that printed no result. ``keys``: address ->
    the spec key that chooses it (``nodes.NODE.temp_address``), named in the remedy."""
    lines = output.splitlines()
    section = f"temporary addresses of {node} on {host}"
    seen = next((ln[len(NO_IPUTILS):].strip() for ln in lines if ln.startswith(NO_IPUTILS)),
                None)
    if seen is not None:
        return [Difference(section, None, seen or None, None, None, "unexpected", RULE, _(
            "{host} has no iputils arping (arping -V: {seen!r}), so the temporary addresses "
            "{addresses} could not be checked on its network before launch: install "
            "iputils-arping on {host} and resume, or check them by hand and resume with "
            "--mark-done {step} --reason WHY").format(
                step=step, host=host, seen=seen or "nothing",
                addresses=", ".join(a for _i, a in probes)))]
    results = results_of(lines)
    out = []
    for iface, addr in probes:
        got = results.get((iface, addr))
        if got is None:
            out.append(Difference(section, None, None, None, None, "unexpected", RULE, _(
                "arping -D printed no result for {address} on {host}'s {iface}: look on "
                "{host}, then resume").format(address=addr, host=host, iface=iface)))
            continue
        status, line, said = got
        if status != 0:
            spec_key = (keys or {}).get(addr, f"nodes.{node}.temp_address")
            shown = " / ".join(s.strip() for s in said if s.strip())[-300:] or None
            reason = (_taken(addr, host, iface, node, spec_key=spec_key, said=said) if status == 1
                      else _unprobed(addr, host, iface, status, step))
            out.append(Difference(section, None, shown, None, line, "unexpected", RULE,
                                  reason))
    return out


def results_of(lines: Sequence[str]) -> dict[tuple[str, str], tuple[int, int, list[str]]]:
    """(iface, address) -> (arping's exit status, the marker's line number, arping's lines)."""
    out: dict[tuple[str, str], tuple[int, int, list[str]]] = {}
    start = 0
    for number, raw in enumerate(lines, start=1):
        m = _MARK.match(raw.strip())
        if m:
            out[(m.group("iface"), m.group("address"))] = (
                int(m.group("status")), number, list(lines[start:number - 1]))
            start = number
    return out


def _taken(addr: str, host: str, iface: str, node: str, *, spec_key: str, said: list[str]
           ) -> str:
    macs = sorted({m.group("mac").lower() for s in said for m in _REPLY.finditer(s)})
    who = _(" from {macs}").format(macs=", ".join(macs)) if macs else ""
    return _("{address} answers ARP on {host}'s {iface}{who}: another device holds it "
             "(perhaps one that does not answer ping: a router, a VRRP peer), and the new "
             "{node} would share it. No new VM is launched: undo the run (it restores the "
             "settings), choose a free address for {key} in the spec, make a new plan and "
             "apply it").format(address=addr, host=host, iface=iface, who=who, node=node,
                                key=spec_key)


def _unprobed(addr: str, host: str, iface: str, status: int, step: str) -> str:
    return _("arping -D could not probe {address} on {host}'s {iface} (exit status "
             "{status}): is {iface} the bridge of that network on {host} (the settings' "
             "physical_host_network_interface / physical_host_eip_network_interface)? Fix "
             "it, or check the address by hand and resume with --mark-done {step} --reason "
             "WHY").format(step=step, address=addr, host=host, iface=iface, status=status)


def parse_probes(option: str) -> list[tuple[str, str]]:
    """The option ``probes`` (``IFACE=ADDRESS,...``) as (bridge, address) pairs."""
    return [(p.split("=", 1)[0], p.split("=", 1)[1]) for p in option.split(",") if "=" in p]
