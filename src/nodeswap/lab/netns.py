"""`--net netns` (issue 10): a zone lab's hosts in their own network namespaces, on bridges
in a namespace the lab owns, with one veth pair from this machine to firstbox.

Owns the names (each ≤ 15 characters, carrying the lab's id), the mapping of a topology's
127.16.a.b addresses into 10.200.a.b, the checks against this machine's routes, and creating
and removing namespaces, bridges, veths and `unreachable` routes, each recorded in
``records/net.jsonl`` before it is made (docs/lab-netns.md). Must not: delete anything it did
not record, find anything by pattern, add an address to this machine's namespace other than
the operator's /30, or give any lab namespace a route out of the zone (the lab's gateway
namespace has only connected routes: netroute.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import ipaddress
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from nodeswap.errors import LabError
from nodeswap.i18n import _

T = TypeVar("T")
JSON = dict[str, Any]
Net = ipaddress.IPv4Network
IFNAMSIZ = 15  # the kernel's limit for interface names (16 with the NUL); used for all names
TOPOLOGY_PREFIX = "127.16."
BLOCKS = range(200, 216)  # 10.200.0.0/16 first; the next when a lab beside uses it
JUMP_RANGE = ipaddress.IPv4Network("169.254.200.0/22")  # operator /30s: link-local, never routed
ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "unreachable", "blackhole",
               "prohibit", "throw", "nat", "anycast"}
CLONE_NEWNET = 0x40000000
NO_IPV6 = ("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


# ---------------------------------------------------------------------- names (pure)


def lab_id(folder: Path) -> str:
    """5 characters of [a-z0-9] from the lab folder's absolute path (labs side by side)."""
    n = int.from_bytes(hashlib.sha256(str(Path(folder).absolute()).encode()).digest()[:8], "big")
    out = ""
    for _i in range(5):
        n, r = divmod(n, len(_ALPHABET))
        out += _ALPHABET[r]
    return out


@dataclass(frozen=True)
class Names:
    """Every name a netns lab creates, from its id (docs/lab-netns.md, decision 2)."""

    labid: str

    def __post_init__(self) -> None:
        if not (1 <= len(self.labid) <= 5 and all(c in _ALPHABET for c in self.labid)):
            raise ValueError(f"bad lab id {self.labid!r}")

    @property
    def bridge_ns(self) -> str:
        return _short(f"nw{self.labid}b")

    def host_ns(self, n: int) -> str:
        return _short(f"nw{self.labid}h{n}")

    def bridge(self, k: int) -> str:
        return _short(f"b{self.labid}n{k}")

    def host_veth(self, n: int) -> str:
        return _short(f"v{self.labid}h{n}")

    @property
    def operator(self) -> str:
        return _short(f"o{self.labid}")


def _short(name: str) -> str:
    if len(name) > IFNAMSIZ:
        raise LabError(_("name {name!r} is over {n} characters (too many hosts)").format(
            name=name, n=IFNAMSIZ))
    return name


# ---------------------------------------------------------------------- addresses (pure)


def map_address(address: str, block: int) -> str:
    """127.16.a.b -> 10.BLOCK.a.b; anything else as it is."""
    if address.startswith(TOPOLOGY_PREFIX):
        return f"10.{block}." + address[len(TOPOLOGY_PREFIX):]
    return address


def map_topology(topology: JSON, block: int) -> JSON:
    """The topology with every 127.16.* address (in any value) moved to 10.BLOCK.*."""
    text = json.dumps(topology).replace(f'"{TOPOLOGY_PREFIX}', f'"10.{block}.')
    return dict(json.loads(text))


def zone_networks(t: JSON) -> list[Net]:
    """The zone's networks: ``network`` and ``vg_network`` as written, and the /24 of every
    host address (MGMT and EIP) that none of those holds; sorted, MGMT first."""
    given = [ipaddress.ip_network(t[k], strict=False) for k in ("network", "vg_network")
             if t.get(k)]
    nets: list[Net] = [n for n in given if isinstance(n, Net)]
    for addr in host_addresses(t):
        ip = ipaddress.IPv4Address(addr)
        if not any(ip in n for n in nets):
            nets.append(ipaddress.IPv4Network(f"{addr}/24", strict=False))
    return [nets[0], *sorted(set(nets[1:]) - {nets[0]})] if nets else []


def host_addresses(t: JSON) -> list[str]:
    hosts = [t["firstbox"], *t["physical"], *t["vms"]]
    out = [str(h["address"]) for h in hosts]
    out += [str(h["eip"]["address"]) for h in hosts if isinstance(h.get("eip"), dict)]
    return out


def network_of(address: str, nets: Sequence[Net]) -> tuple[int, Net]:
    """(index, network) of the zone network holding ``address``."""
    ip = ipaddress.IPv4Address(address)
    for k, net in enumerate(nets):
        if ip in net:
            return k, net
    raise LabError(_("address {address} is in none of the zone's networks {networks}").format(
        address=address, networks=", ".join(map(str, nets))))


def parse_routes(text: str) -> list[Net]:
    """The IPv4 destinations of `ip -4 route show table all` (default routes left out: every
    network is inside 0.0.0.0/0, which is no overlap, only the way out that the lab's
    `unreachable` routes close)."""
    out: list[Net] = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default":
            continue
        try:
            net = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        if isinstance(net, Net) and net.prefixlen > 0:
            out.append(net)
    return out


def overlaps(nets: Iterable[Net], routes: Iterable[Net]) -> list[tuple[Net, Net]]:
    """Each (zone network, route of this machine) pair that overlaps."""
    routes = list(routes)
    return [(n, r) for n in nets for r in routes if n.overlaps(r)]


def pick_block(topology: JSON, routes: Sequence[Net]) -> int:
    """The first block 10.200.. whose zone networks overlap no route of this machine."""
    for block in BLOCKS:
        if not overlaps(zone_networks(map_topology(topology, block)), routes):
            return block
    bad = overlaps(zone_networks(map_topology(topology, BLOCKS[0])), routes)
    raise LabError(_("every lab block 10.{first}-{last}.0.0/16 overlaps a route of this machine "
                     "(e.g. {net} and {route}: `ip route show table all`)").format(
        first=BLOCKS[0], last=BLOCKS[-1], net=bad[0][0], route=bad[0][1]))


def pick_jump(routes: Sequence[Net]) -> Net:
    """The first /30 of 169.254.200.0/22 that overlaps no route of this machine."""
    for net in JUMP_RANGE.subnets(new_prefix=30):
        if not overlaps([net], routes):
            return net
    raise LabError(_("no free /30 in {range} for the operator's link to firstbox").format(
        range=JUMP_RANGE))


def jump_addresses(net: Net) -> tuple[str, str]:
    """(this machine's side, firstbox's side) of the operator's /30."""
    hosts = list(net.hosts())
    return str(hosts[0]), str(hosts[1])


def interface_addresses(text: str) -> dict[str, list[str]]:
    """``{interface: ["ADDRESS/PREFIX", ...]}`` of an ifupdown interfaces file's static
    stanzas (`address` with `netmask`, or `address A/P`), loopback left out: what the host's
    boot brings up (issue 10)."""
    out: dict[str, list[str]] = {}
    nic, address, mask = None, None, None

    def flush() -> None:
        if nic and address:
            pfx = address if "/" in address else f"{address}/{mask or '255.255.255.0'}"
            out.setdefault(nic, []).append(str(ipaddress.IPv4Interface(pfx)))

    for line in text.splitlines():
        words = line.split()
        if words[:1] == ["iface"]:
            flush()
            nic, address, mask = (words[1] if len(words) > 3 and words[3] == "static"
                                  and words[1] != "lo" else None), None, None
        elif len(words) == 2 and words[0] == "address":
            address = words[1]
        elif len(words) == 2 and words[0] == "netmask":
            mask = words[1]
    flush()
    return out


# ---------------------------------------------------------------------- the machine


def ip(*args: str, check: bool = True) -> str:
    """Run `ip ARGS` (no shell); its stdout, or LabError with its stderr."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise LabError(_("ip {args}: {error}").format(args=" ".join(args),
                                                      error=done.stderr.strip()))
    return done.stdout


def _sysctl(setting: str) -> None:
    done = subprocess.run(["sysctl", "-qw", setting], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise LabError(_("sysctl {setting}: {error}").format(setting=setting,
                                                             error=done.stderr.strip()))


def machine_routes() -> list[Net]:
    return parse_routes(ip("-4", "route", "show", "table", "all"))


def namespaces() -> set[str]:
    return {line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()}


def link_exists(name: str, ns: str | None = None) -> bool:
    args = ("-n", ns) if ns else ()
    return bool(ip(*args, "-o", "link", "show", "dev", name, check=False).strip())


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def run_in(ns: str, fn: Callable[[], T]) -> T:
    """``fn()`` in a thread that entered namespace ``ns`` (a network namespace is per
    thread: this process's other threads stay where they are)."""
    box: list[Any] = []

    def enter() -> None:
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {ns}")
            finally:
                os.close(fd)
            box.append((True, fn()))
        except BaseException as exc:  # handed to the caller
            box.append((False, exc))

    thread = threading.Thread(target=enter, daemon=True)
    thread.start()
    thread.join()
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


class NetRecords:
    """``records/net.jsonl``: one line per namespace, link (this machine's) or route, written
    before it is created; teardown removes exactly those, in reverse."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "records" / "net.jsonl"

    def add(self, kind: str, name: str, *, failed: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        row = {"kind": kind, "name": name, **({"failed": True} if failed else {})}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def make(self, kind: str, name: str, *args: str) -> None:
        """Record, then `ip ARGS` creating it; if that fails the record is marked failed (the
        name may be someone else's: teardown leaves it alone)."""
        self.add(kind, name)
        try:
            ip(*args)
        except LabError:
            self.add(kind, name, failed=True)
            raise

    def entries(self) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        failed = {(r["kind"], r["name"]) for r in rows if r.get("failed")}
        rows = [r for r in rows if (r["kind"], r["name"]) not in failed]
        return [(str(r["kind"]), str(r["name"])) for r in rows]

    def teardown(self) -> list[str]:
        """Remove every recorded route, link and namespace still there (idempotent)."""
        removed: list[str] = []
        entries = list(dict.fromkeys(self.entries()))
        if not entries:  # a loopback lab
            return removed
        present = namespaces()
        for kind, name in reversed(entries):
            if kind == "route" and name in _unreachable_routes():
                ip("route", "del", "unreachable", name)
            elif kind == "link" and link_exists(name):
                ip("link", "del", "dev", name)
            elif kind == "netns" and name in present:
                ip("netns", "del", name)
                present.discard(name)
            else:
                continue
            removed.append(f"{kind} {name}")
        return removed


def client_config(ssh_dir: Path) -> str:
    """An ssh_config for plain OpenSSH with the lab's key and known_hosts (passed on to the
    `-J` hop by `ssh -F`), strict host keys."""
    options = [("User", "root"), ("IdentityFile", ssh_dir / "id_ed25519"),
               ("IdentitiesOnly", "yes"), ("UserKnownHostsFile", ssh_dir / "known_hosts"),
               ("StrictHostKeyChecking", "yes"), ("BatchMode", "yes"),
               ("KexAlgorithms", "curve25519-sha256"), ("ConnectTimeout", "5")]
    return "Host *\n" + "".join(f"    {k} {v}\n" for k, v in options)


def _unreachable_routes() -> set[str]:
    out = set()
    for line in ip("-4", "route", "show", "type", "unreachable").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "unreachable":
            out.add(words[1] if "/" in words[1] else words[1] + "/32")
    return out


class NetLab:
    """The namespaces, bridges, veths and routes of one netns lab (docs/lab-netns.md)."""

    def __init__(self, state_dir: Path, topology: JSON, block: int, jump: Net) -> None:
        self.names = Names(lab_id(state_dir))
        self.records = NetRecords(state_dir)
        self.t = topology  # already mapped into 10.BLOCK
        self.block = block
        self.nets = zone_networks(topology)
        self.jump_net = jump
        self.operator_address, self.jump_address = jump_addresses(jump)
        self.lock = threading.Lock()
        self.count = 0
        self.host_ns: dict[str, str] = {}  # host instance id -> its namespace
        self.gateway_ns = ""  # the lab's router (lab/netroute.py), once created

    @classmethod
    def place(cls, state_dir: Path, topology: JSON) -> NetLab:
        """Map the topology into the first free block and pick the operator's /30."""
        routes = machine_routes()
        block = pick_block(topology, routes)
        return cls(state_dir, map_topology(topology, block), block, pick_jump(routes))

    def create(self) -> None:
        """The bridge namespace and its bridges, then this machine's `unreachable` routes
        (refused if a zone network or the /30 overlaps a route of this machine, or a name
        is taken)."""
        bad = overlaps([*self.nets, self.jump_net], machine_routes())
        if bad:
            raise LabError(_("zone network {net} overlaps route {route} of this machine (`ip "
                             "route show table all`): refusing to start").format(
                net=bad[0][0], route=bad[0][1]))
        self._new_ns(self.names.bridge_ns)
        for k in range(len(self.nets)):
            br = self.names.bridge(k)
            ip("-n", self.names.bridge_ns, "link", "add", br, "type", "bridge")
            ip("-n", self.names.bridge_ns, "link", "set", br, "up")
        for net in self.nets:
            self.records.make("route", str(net), "route", "add", "unreachable", str(net))

    def _new_ns(self, ns: str) -> None:
        if ns in namespaces():
            raise LabError(_("network namespace {ns} exists already (another lab's?): "
                             "refusing").format(ns=ns))
        self.records.make("netns", ns, "netns", "add", ns)
        ip("netns", "exec", ns, "sysctl", "-qw", *NO_IPV6)  # IPv4 only: no link-local v6
        ip("-n", ns, "link", "set", "lo", "up")

    def add_host(self, iid: str, address: str, *, firstbox: bool) -> str:
        """A namespace for a host instance, its veth on its network's bridge (`eth0`
        inside, no address until it starts); firstbox also gets the operator's veth."""
        with self.lock:
            self.count += 1
            n = self.count
        ns, veth = self.names.host_ns(n), self.names.host_veth(n)
        k, _net = network_of(address, self.nets)
        self.host_ns[iid] = ns
        self._new_ns(ns)
        br_ns = self.names.bridge_ns
        ip("-n", br_ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("-n", br_ns, "link", "set", veth, "master", self.names.bridge(k), "up")
        ip("-n", ns, "link", "set", "eth0", "up")
        if firstbox:
            self._operator_link(ns)
        return ns

    def _operator_link(self, ns: str) -> None:
        op = self.names.operator
        if link_exists(op):
            raise LabError(_("link {link} exists already (another lab's?): refusing").format(
                link=op))
        self.records.make("link", op, "link", "add", op, "type", "veth", "peer", "name", "jump0",
                          "netns", ns)
        _sysctl(f"net.ipv6.conf.{op}.disable_ipv6=1")  # the /30 is this machine's only address
        ip("addr", "add", f"{self.operator_address}/30", "dev", op)
        ip("link", "set", op, "up")
        ip("-n", ns, "addr", "add", f"{self.jump_address}/30", "dev", "jump0")
        ip("-n", ns, "link", "set", "jump0", "up")

    def set_mac(self, ns: str, mac: str) -> None:
        """`eth0` gets the host's own MAC (a new VM's is new: ARP caches see the change)."""
        ip("-n", ns, "link", "set", "dev", "eth0", "down")
        ip("-n", ns, "link", "set", "dev", "eth0", "address", mac)
        ip("-n", ns, "link", "set", "dev", "eth0", "up")

    def set_address(self, ns: str, address: str, interfaces: str | None = None) -> list[str]:
        """The host is up: its `eth0` gets the addresses its interfaces file gives `eth0`,
        with that file's netmask (a VM's boot), else ``address`` in its zone network (hosts
        without one); any other address is taken away. The addresses the file gives other
        interfaces are returned (no bridge for them yet: a VG node's EIP is not wired)."""
        wanted = interface_addresses(interfaces or "")
        zone_prefix = network_of(address, self.nets)[1].prefixlen
        eth0 = wanted.pop("eth0", None) or [f"{address}/{zone_prefix}"]
        ip("-n", ns, "addr", "flush", "dev", "eth0")
        for a in eth0:
            ip("-n", ns, "addr", "add", a, "dev", "eth0")
        return [f"{nic} {a}" for nic, addrs in wanted.items() for a in addrs]

    def remove_host(self, ns: str) -> None:
        if ns in namespaces():
            ip("netns", "del", ns)
        self.host_ns = {i: n for i, n in self.host_ns.items() if n != ns}

    def ssh_keys(self, ssh_dir: Path) -> JSON:
        """lab.json's ``ssh.jump`` (firstbox at its /30) and ``ssh.config`` (for plain OpenSSH:
        ``ssh -F CONFIG -J JUMP root@ADDRESS``; written once)."""
        config = ssh_dir / "config"
        if not config.exists():
            config.write_text(client_config(ssh_dir))
        return {"jump": f"root@{self.jump_address}", "config": str(config)}

    def public(self) -> JSON:
        """lab.json's ``net``."""
        return {"mode": "netns", "labid": self.names.labid, "block": f"10.{self.block}.0.0/16",
                "networks": [str(n) for n in self.nets], "bridge_ns": self.names.bridge_ns,
                "gateway_ns": self.gateway_ns,
                "operator_link": self.names.operator, "operator_address": self.operator_address,
                "jump": self.jump_address, "namespaces": dict(sorted(self.host_ns.items()))}
