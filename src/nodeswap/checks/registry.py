"""One entry point for the executor: ``analyze(kind, output, reference, options)``. Pure.

The fetch is a read-only step run elsewhere; its output (and, for comparisons, the old
node's output captured earlier: ``reference``) comes here and a ``CheckResult`` goes back
(``.ok`` is False when any finding is *unexpected*; ``.findings`` are ``Difference`` values).

Kinds, what ``output``/``reference`` hold, and the options each reads (all strings):

=================  ==============================================  ==========================
kind               output / reference                              options
=================  ==============================================  ==========================
haproxy            new node's haproxy.cfg / old node's (required)  sub_region "0"|"1",
                                                                   address_map "o=n,o2=n2",
                                                                   node
rc                 new node's rc file / old node's (required;      address_map, file
                   empty output = file absent)                     (rc.local...), node,
                                                                   rewritten_at_switch "1"
supervisor         ``supervisorctl status`` of the node /          node, rule (R29|R35)
                   the old node's (optional)
supervisor_exec    ``exec_nodes.sh -f proxy "supervisorctl         nodes "proxy0,proxy1",
                   status"`` output / an earlier run (optional)    rule (R29|R35)
vip                ``ip addr`` (or ``ip -o addr``) of the node     vip (required), node,
                                                                   temporary "0"|"1", or
                                                                   address + address_map
console            output of ``console.curl_command(url)``         url (required), timeout,
                                                                   via (the VIP it is pinned to)
vip_holders        ``ip addr`` of one host / JSON {label: ``ip     vip (required), label (this
                   addr`` of each other host} (the executor's      host's), temporary (labels
                   ``gather`` option builds it)                    of new VMs at temporary
                                                                   addresses), rule
exec_nodes         ``exec_nodes.sh -f TARGETS "CMD && echo MARK"``  nodes (must have done it:
                   (MARK: ``execnodes.done_marker()``), judged     "proxy0,proxy1"), rule,
                   node by node, never by its exit code            what (it did not ...),
                                                                   remedy (for other nodes)
name_reach         firstbox's ``getent hosts NAME`` and            node (required),
                   ``ssh-keyscan NAME`` / JSON {label: the new     temporary, old (addresses)
                   VM's public key files} (``gather``)
ports              ``ports.probe_command`` output (``ADDR PORT     nodes "proxy0=ADDR,...",
                   open|closed`` lines)                            ports "7777,8565", rule
network            the new VM's network files (``network.NETWORK_    address_map (old=temporary
                   DUMP``) / the old VM's interfaces file          before R31), node, rule
                   (required)
addresses          ``ip -4 -o addr`` of the switched VM / the old  vip, node, rule
                   VM's interfaces file (required)
stale              a ``grep -HnowF`` sweep (``path:line:address``  addresses "a=who,b=who",
                   lines; none: nothing left)                      node, rule
address_free       ``arp.probe_command`` output on the new VM's    probes "br0=ADDR,br1=ADDR"
                   physical host (``arping -D`` per address and    (required), node, host,
                   a ``nodeswap-dad IFACE ADDR STATUS`` line)      keys "ADDR=spec key,...",
                                                                   step
=================  ==============================================  ==========================

The executor reads one option itself: ``gather`` ("label=STEP,label2=STEP2"), whose reference
is then the JSON object {label: that earlier step's stdout} (for checks of several hosts).

Unreadable zone output (a haproxy.cfg that does not parse) is a finding, not an exception:
it is the zone's fact. Invalid *options* are the caller's bug or the operator's input and
raise ``InputError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

from . import arp, execnodes, haproxy, names, network, ports, rcfiles, supervisor, vip
from .console import judge, parse_curl
from .findings import AddressMap, CheckResult, Difference

KINDS = ("haproxy", "rc", "supervisor", "supervisor_exec", "vip", "vip_holders", "console",
         "exec_nodes", "name_reach", "ports",
         "network", "addresses", "stale", "address_free")
Analyzer = Callable[[str, str | None, Mapping[str, str]], list[Difference]]


def analyze(
    kind: str, output: str, reference: str | None, options: Mapping[str, str]
) -> CheckResult:
    """Parse and judge one check's output (see the module docstring for kinds and options)."""
    analyzer = _ANALYZERS.get(kind)
    if analyzer is None:
        raise InputError([Problem(_("unknown check kind {kind!r}; known: {kinds}").format(
            kind=kind, kinds=", ".join(KINDS)),
                                  key="kind")])
    return CheckResult(kind, tuple(analyzer(output, reference, options)))


def _flag(options: Mapping[str, str], key: str) -> bool:
    value = options.get(key, "0")
    if value not in ("0", "1", "", "true", "false"):
        raise InputError([Problem(_("option {key} must be 0 or 1, got {value!r}").format(key=key,
                                    value=value), key=key)])
    return value in ("1", "true")


def _required(options: Mapping[str, str], key: str, kind: str) -> str:
    value = options.get(key, "")
    if not value:
        raise InputError([Problem(_("check {kind} needs option {key}").format(kind=kind, key=key),
                                  key=key)])
    return value


def _reference(reference: str | None, kind: str) -> str:
    if reference is None:
        raise InputError([Problem(_("check {kind} compares with the old node: reference (the "
                                    "old node's output) is required").format(kind=kind),
                                  key="reference")])
    return reference


def _unreadable(section: str, rule: str, exc: InputError) -> list[Difference]:
    return [Difference(section, None, None, p.line, None, "unexpected", rule,
                       _("cannot read {file}: {message}").format(file=p.file, message=p.message))
            for p in exc.problems]


def _haproxy(output: str, reference: str | None, options: Mapping[str, str]
             ) -> list[Difference]:
    node = options.get("node", "new")
    old = _reference(reference, "haproxy")
    amap = AddressMap.from_option(options.get("address_map"))
    sub_region = _flag(options, "sub_region")
    try:
        return haproxy.compare_text(old, output, old_file="old/haproxy.cfg",
                                    new_file=f"{node}/haproxy.cfg",
                                    sub_region=sub_region, address_map=amap)
    except InputError as exc:
        return _unreadable("haproxy.cfg", haproxy.RULE, exc)


def _rc(output: str, reference: str | None, options: Mapping[str, str]) -> list[Difference]:
    name = options.get("file", "rc.local")
    node = options.get("node", "new")
    old = _reference(reference, "rc")
    amap = AddressMap.from_option(options.get("address_map"))
    # an empty output is an absent file (fetched with "cat if present"): compared as no lines
    return rcfiles.compare_text(old, output, old_file=f"old/{name}",
                                new_file=f"{node}/{name}", section=name, address_map=amap,
                                rewritten_at_switch=options.get("rewritten_at_switch") == "1")


def _supervisor(output: str, reference: str | None, options: Mapping[str, str]
                ) -> list[Difference]:
    old = supervisor.parse_status(reference) if reference is not None else None
    return supervisor.check(supervisor.parse_status(output), old,
                            node=options.get("node", ""), rule=options.get("rule", "R29"))


def _supervisor_exec(output: str, reference: str | None, options: Mapping[str, str]
                     ) -> list[Difference]:
    nodes = [n.strip() for n in options.get("nodes", "").split(",") if n.strip()]
    old = supervisor.parse_exec_nodes(reference) if reference is not None else None
    return supervisor.check_exec(supervisor.parse_exec_nodes(output), old, nodes=nodes,
                                 rule=options.get("rule", "R29"))


def _vip(output: str, reference: str | None, options: Mapping[str, str]) -> list[Difference]:
    address = _required(options, "vip", "vip")
    temporary = _flag(options, "temporary")
    node_address = options.get("address", "")
    if node_address:
        amap = AddressMap.from_option(options.get("address_map"))
        temporary = temporary or node_address in amap.new_addresses
    return vip.check_node(output, address, options.get("node", "?"), temporary)


def _vip_holders(output: str, reference: str | None, options: Mapping[str, str]
                 ) -> list[Difference]:
    address = _required(options, "vip", "vip_holders")
    try:
        others = json.loads(reference) if reference is not None else {}
    except ValueError:
        others = None
    if not isinstance(others, dict):
        raise InputError([Problem(_("check vip_holders needs a JSON object as reference (the "
                                    "gather option)"), key="reference")])
    outputs = {str(k): str(v) for k, v in others.items()}
    outputs[options.get("label", "this host")] = output
    temporary = [t for t in options.get("temporary", "").split(",") if t]
    return vip.check_one_holder(outputs, address, temporary, options.get("rule", "R32"))


def _console(output: str, reference: str | None, options: Mapping[str, str]
             ) -> list[Difference]:
    url = _required(options, "url", "console")
    try:
        timeout = float(options.get("timeout", "10"))
    except ValueError:
        raise InputError([Problem(
            _("option timeout must be a number of seconds, got {value!r}").format(
                value=options["timeout"]), key="timeout")]) from None
    return judge(parse_curl(output, url, timeout, via=options.get("via") or None))


def _exec_nodes(output: str, reference: str | None, options: Mapping[str, str]
                ) -> list[Difference]:
    nodes = [n.strip() for n in options.get("nodes", "").split(",") if n.strip()]
    return execnodes.check_run(
        supervisor.parse_exec_nodes(output), required=nodes, rule=options.get("rule", "?"),
        what=options.get("what", "run the command"),
        remedy=options.get("remedy", "run the command there by hand"))


def _name_reach(output: str, reference: str | None, options: Mapping[str, str]
                ) -> list[Difference]:
    node = _required(options, "node", "name_reach")
    try:
        gathered = json.loads(reference) if reference is not None else None
    except ValueError:
        gathered = None
    if not isinstance(gathered, dict):
        raise InputError([Problem(_("check name_reach needs a JSON object as reference (the "
                                    "gather option: the new VM's key files)"), key="reference")])
    return names.check_reach(output, "\n".join(str(v) for v in gathered.values()), node=node,
                             temporary=options.get("temporary", ""),
                             old=options.get("old", ""))


def _ports(output: str, reference: str | None, options: Mapping[str, str]) -> list[Difference]:
    try:
        expected = dict(item.split("=", 1) for item in
                        _required(options, "nodes", "ports").split(",") if item)
        numbers = tuple(int(p) for p in _required(options, "ports", "ports").split(","))
    except ValueError:
        raise InputError([Problem(_("check ports needs nodes NODE=ADDRESS,... and ports "
                                    "N,N,..."), key="ports")]) from None
    return ports.check(output, expected, numbers, options.get("rule", "R35"))


def _network(output: str, reference: str | None, options: Mapping[str, str]
             ) -> list[Difference]:
    return network.compare_config(_reference(reference, "network"), output,
                                  AddressMap.from_option(options.get("address_map")),
                                  node=options.get("node", "new"), rule=options.get("rule", "R31"))


def _addresses(output: str, reference: str | None, options: Mapping[str, str]
               ) -> list[Difference]:
    return network.check_live(output, _reference(reference, "addresses"),
                              vip=options.get("vip", ""), node=options.get("node", "new"),
                              rule=options.get("rule", "R33"))


def _stale(output: str, reference: str | None, options: Mapping[str, str]) -> list[Difference]:
    names = dict(p.split("=", 1) for p in options.get("addresses", "").split(",") if "=" in p)
    return network.check_stale(output, node=options.get("node", "?"),
                               rule=options.get("rule", "R33"), names=names)


def _address_free(output: str, reference: str | None, options: Mapping[str, str]
                  ) -> list[Difference]:
    probes = arp.parse_probes(_required(options, "probes", "address_free"))
    keys = dict(p.split("=", 1) for p in options.get("keys", "").split(",") if "=" in p)
    return arp.check(output, probes, node=options.get("node", "?"),
                     host=options.get("host", "the physical host"), keys=keys,
                     step=options.get("step", "STEP"))


_ANALYZERS: dict[str, Analyzer] = {
    "haproxy": _haproxy,
    "rc": _rc,
    "supervisor": _supervisor,
    "supervisor_exec": _supervisor_exec,
    "vip": _vip,
    "vip_holders": _vip_holders,
    "console": _console,
    "exec_nodes": _exec_nodes,
    "name_reach": _name_reach,
    "ports": _ports,
    "network": _network,
    "addresses": _addresses,
    "stale": _stale,
    "address_free": _address_free,
}
