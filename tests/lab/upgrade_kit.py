"""Helpers for end-to-end upgrade tests on the lab: plan, run (optionally stopping at a gate),
and check the zone's state from the outside with plain ssh (never through nodeswap's own
executor, so the checks cannot share its mistakes).

    with zone("vg-other-24") as z:
        z.plan()                         # discovery + live plan (R2-R26)
        z.run(stop_at_gate=None)         # apply with every gate approved; returns the run state
        z.assert_upgraded()              # the verified end state of issue 6
        z.rollback(); z.assert_rolled_back()

Each ``zone`` is a fresh lab of its own, taken down at the end.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nodeswap.checks import downtime
from nodeswap.demo import demo_spec
from nodeswap.errors import NodeswapError
from nodeswap.lab import Lab, netconf
from nodeswap.lab.api import LabInfo
from nodeswap.live.planning import plan_live
from nodeswap.live.reach import Reach, make_reach
from nodeswap.plan.model import Plan
from nodeswap.plan.spec import Spec
from nodeswap.report import RunRecords, build_report
from nodeswap.report.downtime import Downtime
from nodeswap.run import journal as J
from nodeswap.run.deadman import parse_state
from nodeswap.run.events import Event, EventSink, StepEnded, StepStarted, discard
from nodeswap.run.gates import Gate
from nodeswap.run.journal import Journal
from nodeswap.run.lock import DEFAULT_LOCK_PATH
from nodeswap.run.mirror import mirror_dir
from nodeswap.run.runs import DriveOptions, drive, start
from nodeswap.runbooks import deadman
from nodeswap.runbooks import probe as console_probe
from nodeswap.transport.ssh import SshConnector
from nodeswap.zone.snapshot import Snapshot

STATE_ROOT = Path("/var/lib/nodeswap-lab")


@dataclass
class Ssh:
    """Plain OpenSSH against the lab: strict host keys, the lab's key and known_hosts."""

    info: LabInfo

    def run(self, address: str, command: str, *, check: bool = True,
            known_hosts: str | None = None) -> subprocess.CompletedProcess[str]:
        jump = self.info.raw["ssh"].get("jump")
        via = ["-F", self.info.raw["ssh"]["config"], "-J", jump] if jump else []
        argv = ["ssh", *via, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={known_hosts or self.info.known_hosts}",
                "-o", "KexAlgorithms=curve25519-sha256", "-o", "ConnectTimeout=5",
                "-i", self.info.identity_file, f"{self.info.user}@{address}", command]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"ssh {address} {command!r}: exit {res.returncode}\n"
                                 f"{res.stdout}{res.stderr}")
        return res

    def out(self, address: str, command: str) -> str:
        return self.run(address, command).stdout


@dataclass
class Zone:
    """One lab zone under test, and what the test did to it."""

    lab: Lab
    topology: str
    spec: Spec
    reach: Reach
    ssh: Ssh
    plan_: Plan | None = None
    snap: Snapshot | None = None
    journal: Journal | None = None
    run_id: str = ""
    errors: list[NodeswapError] = field(default_factory=list)
    switch_deadline: int | None = None  # apply --switch-deadline (None: the default)

    @property
    def info(self) -> LabInfo:
        return self.lab.info()

    @property
    def firstbox(self) -> str:
        fb = self.reach.firstbox
        assert fb is not None
        return fb.address

    # -- doing -----------------------------------------------------------------------------
    def plan(self) -> Plan:
        async def go() -> tuple[Plan, Snapshot]:
            fb = self.reach.firstbox
            assert fb is not None
            connector = SshConnector(self.reach.ssh)
            try:
                return await plan_live(connector, fb, self.spec, today=today())
            finally:
                await connector.close()

        self.plan_, self.snap = asyncio.run(go())
        return self.plan_

    def run(self, *, stop_at_gate: str | None = None,
            approver: Callable[[Gate], bool] | None = None, action: str = "apply",
            events: EventSink | None = None) -> str:
        """Apply (or resume / rollback) the plan; gates approved unless ``stop_at_gate``
        names the gate step to refuse. Returns the run's state; a NodeswapError that ended
        the run is kept in ``errors``. ``events`` sees the executor's events as they happen
        (``on_step`` makes one that injects a fault at a precise point)."""
        plan = self.plan_ or self.plan()
        ok = approver or (lambda step: step.id != stop_at_gate)

        async def go() -> None:  # one event loop: start (when new) and drive, as the CLI
            if self.journal is None:
                self.journal, self.run_id = await start(
                    plan, reach=self.reach, state_dir=self.lab.dir / "nodeswap",
                    switch_deadline=self.switch_deadline)
            await drive(self.journal, self.run_id, DriveOptions(), events or discard,
                        action=action, approver=ok)

        try:
            asyncio.run(go())
        except NodeswapError as exc:
            self.errors.append(exc)
        return self.state()

    def new_run(self) -> None:
        """Leave the current run (its journal stays on disk, in the same file): the next
        ``run`` records a new one, of the plan made last (``plan()`` again to replan)."""
        if self.journal is not None:
            self.journal.close()
        self.journal, self.run_id, self.errors = None, "", []

    def resume(self, **kw: object) -> str:
        return self.run(action="resume", **kw)  # type: ignore[arg-type]

    def rollback(self) -> str:
        return self.run(action="rollback")

    def state(self) -> str:
        assert self.journal is not None
        return self.journal.run(self.run_id).state

    def step_state(self, step_id: str) -> str:
        assert self.journal is not None
        return self.journal.step(self.run_id, step_id).state

    def output(self, step_id: str, kind: str = "run") -> str:
        """The stdout of the step's latest finished attempt of ``kind`` (``analysis``: the
        findings text of its check)."""
        assert self.journal is not None
        out = self.journal.last_output(self.run_id, step_id, kind)
        assert out is not None, f"{step_id}: no finished {kind} attempt"
        return out

    def attempt_outcomes(self, step_id: str, kind: str) -> list[str | None]:
        assert self.journal is not None
        return [a.outcome for a in self.journal.attempts(self.run_id, step_id) if a.kind == kind]

    def instance(self, name: str, *, new: bool = True) -> str:
        """The lab instance id (``NAME.N``, the ``iid`` in lab.json) of the new (highest
        N) or old (lowest N) VM called ``name``: what lab faults take as ``host``."""
        hosts = self.info.raw["hosts"]
        iids = sorted((str(h["iid"]) for h in hosts.values() if h.get("hostname") == name),
                      key=lambda iid: int(iid.rsplit(".", 1)[1]))
        assert iids, f"no instance of {name} in lab.json"
        return iids[-1] if new else iids[0]

    def rediscover(self) -> Snapshot:
        """Discovery as the operator runs it after the upgrade: through nodeswap's own
        known_hosts in the state folder (which apply updated with the switched keys)."""
        from nodeswap.live.discover import discover  # noqa: PLC0415
        from nodeswap.live.reach import reach_of  # noqa: PLC0415

        reach = reach_of(self.lab.dir, None, None, identity_file=None, known_hosts=None,
                         direct=False)  # the lab's files; nodeswap's own known_hosts

        async def go() -> Snapshot:
            fb = reach.firstbox
            assert fb is not None
            connector = SshConnector(reach.ssh)
            try:
                return await discover(connector, fb)
            finally:
                await connector.close()

        return asyncio.run(go())

    # -- looking ---------------------------------------------------------------------------
    def node_plan(self, name: str) -> tuple[str, str, str, str]:
        """(old address, temporary address, old host address, new host address)."""
        assert self.plan_ is not None
        n = self.plan_.nodes[name]
        return n.old_address, n.temp_address, n.old_physical_host, n.physical_host

    def host_keys(self, address: str) -> set[str]:
        """The host keys an address presents (ssh-keyscan, as `type base64`)."""
        scan = ["ssh-keyscan", "-T", "5", "-t", "ed25519,rsa", address]
        if self.info.raw["ssh"].get("jump"):  # a netns lab: only firstbox reaches the zone
            res = self.ssh.run(self.firstbox, " ".join(scan), check=False)
        else:
            res = subprocess.run(scan, capture_output=True, text=True, timeout=30, check=False)
        return {" ".join(ln.split()[1:3]) for ln in res.stdout.splitlines()
                if ln and not ln.startswith("#")}

    def answers(self, address: str) -> bool:
        return self.ssh.run(address, "true", check=False).returncode == 0

    def settings(self, name: str) -> str:
        return self.ssh.out(self.firstbox, f"cat /pitrix/conf/settings/{name}")

    def supervisor_ok(self, address: str) -> bool:
        out = self.ssh.run(address, "supervisorctl status", check=False).stdout
        lines = [ln for ln in out.splitlines() if ln.strip()]
        return bool(lines) and all(ln.split()[1] == "RUNNING" for ln in lines)

    def console_code(self) -> str:
        assert self.plan_ is not None
        vip = self.snap.vip if self.snap else None
        assert vip, "the lab's zone has a VIP"
        return self.ssh.out(self.firstbox, "curl -s -o /dev/null --max-time 10 -w "
                            f"'%{{http_code}}' http://{vip}/").strip()

    def vip_holders(self) -> list[str]:
        assert self.plan_ is not None and self.snap is not None and self.snap.vip
        holders = []
        for name, n in self.plan_.nodes.items():
            if self.answers(n.old_address) and \
                    f"{self.snap.vip}/" in self.ssh.out(n.old_address, "ip addr show"):
                holders.append(name)
        return holders

    # -- the end states ----------------------------------------------------------------------
    def assert_upgraded(self) -> None:
        """Issue 6's verified end state: new VMs at the old addresses with the pinned keys
        and the target OS, old VMs archived and undefined, services RUNNING, console
        answering, VIP on a proxy, settings backup present and verified."""
        assert self.plan_ is not None and self.journal is not None and self.snap is not None
        assert self.state() == J.RUN_DONE, self.errors
        os_name, os_version = self.plan_.target_os
        for name, n in self.plan_.nodes.items():
            text = self.settings(name)
            assert f'mgmt_network_address="{n.old_address}"' in text, name
            assert f'os_name="{os_name}"' in text and f'os_version="{os_version}"' in text
            pinned = self.journal.pinned_key(f"{name}-new", self.run_id)
            assert pinned is not None, f"{name}: no key pinned for the new VM by this run"
            assert " ".join(pinned.split()[:2]) in self.host_keys(n.old_address), \
                f"{name}: the VM at {n.old_address} does not present the pinned key"
            assert self.ssh.out(n.old_address, "hostname").strip() == name
            assert self.supervisor_ok(n.old_address), f"{name}: services not all RUNNING"
            old_host = n.old_physical_host
            kernels = self.ssh.out(old_host, "ls /pitrix/kernels").split()
            assert f"old-{name}.img" in kernels and f"old-{name}.xml" in kernels, kernels
            assert f"{name}.img" not in kernels, kernels
            assert self.ssh.run(old_host, f"virsh dominfo {name}", check=False).returncode != 0
        assert self.console_code() == "200"
        assert len(self.vip_holders()) == 1
        self.assert_backup_verified()
        self.assert_old_addresses_only()
        self.assert_no_temporary_names()
        self.assert_deadman_disarmed()
        self.assert_console_probed()

    def temporary_addresses(self) -> set[str]:
        """Every temporary address of the plan: MGMT (R16) and, with VG nodes, EIP (R12)."""
        assert self.plan_ is not None
        return {a for n in self.plan_.nodes.values()
                for a in (n.temp_address, n.eip_temp_address) if a}

    def old_addresses(self, name: str) -> set[str]:
        """The old VM's addresses: its MGMT address and its EIP (as discovery read it)."""
        assert self.plan_ is not None and self.snap is not None
        eip = [ln.split("=", 1)[1].strip().strip('"') for ln in
               self.snap.settings[name].splitlines() if ln.startswith("eip_network_address=")]
        return {self.plan_.nodes[name].old_address, *(a for a in eip if a)}

    def assert_old_addresses_only(self) -> None:
        """R31 (issue 10): each switched VM's /etc/network/interfaces and live addresses are
        exactly the old VM's (MGMT and EIP; the VIP aside), and no file under its /etc holds
        a temporary address of its own."""
        assert self.plan_ is not None and self.snap is not None
        for name, n in self.plan_.nodes.items():
            want = self.old_addresses(name)
            iface = self.network_config(n.old_address)
            configured = {ln.split()[1] for ln in iface.splitlines()
                          if ln.split()[:1] == ["address"]}
            assert configured == want, f"{name}: interfaces file {configured} != {want}"
            # R31 (issue 10): the whole file is the old VM's (netmask, gateway, EIP: a /23 or
            # /25 network keeps its prefix), MAC lines aside
            before = self.snap.old_nodes[name].files.get("/etc/network/interfaces")
            assert before is not None, f"{name}: discovery kept no interfaces file"
            assert _no_mac(iface) == _no_mac(before), f"{name}: {iface!r} != {before!r}"
            live = self.ssh.out(n.old_address, "ip -4 -o addr show").splitlines()
            addrs = {ln.split()[3].split("/")[0] for ln in live} - {"127.0.0.1", self.snap.vip}
            assert addrs == want, f"{name}: ip -4 addr {addrs} != {want}"
            names = {ln.split()[1] for ln in live} - {"lo"}
            assert names == ({"eth0", "eth1"} if len(want) > 1 else {"eth0"}), names
            own = [a for a in (n.temp_address, n.eip_temp_address) if a]
            stale = self.ssh.run(n.old_address, "grep -rlwIF "
                                 + " ".join(f"-e {a}" for a in own) + " /etc", check=False)
            assert stale.stdout == "", f"{name}: temporary address left in {stale.stdout}"

    def network_config(self, address: str) -> str:
        """The VM's network configuration as interfaces text: its interfaces file, or (a new
        VM of a ``netplan_releases`` topology) its netplan file read as the lab's boot reads
        it (lab/netconf.py)."""
        if self.ssh.run(address, "test -e /etc/network/interfaces", check=False).returncode:
            return netconf.netplan_as_interfaces(self.ssh.out(address, "cat /etc/netplan/*.yaml"))
        return self.ssh.out(address, "cat /etc/network/interfaces")

    def assert_no_temporary_names(self) -> None:
        """Issue 10: after the last switch no host of the zone up (and not firstbox) maps a
        temporary address in /etc/hosts (the first switched node got pitrix-hosts while the
        others were still at theirs)."""
        pattern = " ".join(f"-e {a}" for a in sorted(self.temporary_addresses()))
        up = [str(h["address"]) for h in self.info.raw["hosts"].values() if h.get("up")]
        for address in {self.firstbox, *up}:
            res = self.ssh.run(address, f"grep -nwF {pattern} /etc/hosts", check=False)
            assert res.returncode == 1, f"{address}: /etc/hosts maps {res.stdout}{res.stderr}"

    def deadman_state(self, node: str) -> dict[str, str]:
        """The dead-man job's state file on firstbox (runbooks.deadman), read over ssh."""
        out = self.ssh.run(self.firstbox, f"cat {deadman.paths(node)['state']}",
                           check=False).stdout
        return parse_state(out)

    def deadman_alive(self, node: str, pid: str) -> bool:
        """The pid runs the node's dead-man script on firstbox (firstbox's own ps)."""
        out = self.ssh.out(self.firstbox, "ps -eo pid=,ppid=,args=")
        return any(ln.split()[0] == pid and deadman.paths(node)["script"] in ln
                   for ln in out.splitlines() if ln.strip())

    def assert_deadman_disarmed(self) -> None:
        """Issue 11: every node's dead-man was armed (its pid in the journal and its state
        file) and disarmed after the switch checks; no job is left running on firstbox."""
        assert self.plan_ is not None and self.journal is not None
        for name in self.plan_.nodes:
            state = self.deadman_state(name)
            assert state.get("state") == "disarmed", (name, state)
            if self.journal.step(self.run_id, deadman.arm_id(name)).state == J.DONE:
                armed = parse_state(self.journal.last_output(self.run_id,
                                                             deadman.arm_id(name)) or "")
                assert armed.get("pid") == state["pid"], (name, armed, state)
            assert not self.deadman_alive(name, state["pid"]), f"{name}: dead-man still runs"
            assert self.journal.step(self.run_id, deadman.disarm_id(name)).state in (
                J.DONE, J.SKIPPED)

    def probe_file(self, name: str) -> str:
        """A file of the console probe in the run's folder on firstbox, read over ssh."""
        folder = mirror_dir(DEFAULT_LOCK_PATH, self.run_id)
        return self.ssh.run(self.firstbox, f"cat {folder}/{name}", check=False).stdout

    def assert_probe_gone(self) -> dict[str, str]:
        """Issue 10: no console probe of this run runs on firstbox (plain ssh, its ps); its
        state file, when it has one."""
        state = parse_state(self.probe_file(console_probe.STATE))
        assert state.get("state") in (None, "stopped"), state
        out = self.ssh.out(self.firstbox, "ps -eo pid=,ppid=,args=")
        mine = f"{mirror_dir(DEFAULT_LOCK_PATH, self.run_id)}/{console_probe.SCRIPT}"
        assert not any(ln.split()[0] == state.get("pid") or mine in ln
                       for ln in out.splitlines() if ln.strip()), out
        return state

    def assert_console_probed(self) -> Downtime:
        """Issue 10: the console probe ran on firstbox through every switch and is gone; the
        stop step's runs are the samples on firstbox (its bash = checks.downtime.runs); the
        report has each switched node's downtime, measured from them."""
        assert self.plan_ is not None and self.journal is not None
        assert self.assert_probe_gone().get("state") == "stopped"
        raw = downtime.parse_samples(self.probe_file(console_probe.SAMPLES))
        assert len(raw) > 20, raw
        assert downtime.parse_runs(self.output(console_probe.STOP)) == downtime.runs(raw)
        report = build_report(RunRecords.from_journal(self.journal, self.run_id))
        dt = report.downtime
        assert dt is not None and dt.state == "collected" and dt.samples == len(raw), dt
        assert sorted(s.node for s in dt.switches) == sorted(self.plan_.nodes), dt.switches
        for s in dt.switches:
            assert s.complete and s.probed, s
            assert all(s.start <= w.start <= w.end <= s.end for w in s.windows), s
            # in whole ms: a sum of the windows' float seconds is not the total's float
            # (CI: 1.58 + 2.264 + 2.263 + 2.266 + 0.805 = 9.177999... against 9.178)
            ms = [round(w.duration * 1000) for w in s.windows]
            assert round(s.total * 1000) == sum(ms) >= round(s.longest * 1000), s
        return dt

    def assert_backup_verified(self) -> None:
        """R6: the backup folder holds exactly the settings as discovery found them, and the
        run's report names it with the digest of its sorted per-file checksums."""
        assert self.snap is not None
        assert self.plan_ is not None
        r6 = next(s for s in self.plan_.steps if s.id == "r6-backup")
        backup = f"/pitrix/conf/settings.{today()}"  # a region's: .ZONE after the date
        found = re.search(re.escape(backup) + r"(\.[a-z0-9-]+)?(?=\s)", r6.command)
        assert found is not None, r6.command
        backup = found.group(0)
        for name, text in self.snap.settings.items():
            assert self.ssh.out(self.firstbox, f"cat {backup}/{name}") == text, name
        if self.journal is not None:
            sums = self.ssh.out(self.firstbox, f"cd {backup} && find . -type f -print0 | "
                                "LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum")
            report = build_report(RunRecords.from_journal(self.journal, self.run_id))
            assert [(b.path, b.sha256) for b in report.backups] == [(backup, sums.split()[0])]

    def assert_rolled_back(self) -> None:
        """Issue 6's rollback: the old nodes serve again at their addresses with their old
        keys, settings restored from the R6 backup, the new VMs and their images gone,
        firstbox's known_hosts consistent (exec_nodes.sh reaches every proxy)."""
        assert self.plan_ is not None and self.snap is not None
        assert self.state() == J.RUN_ROLLED_BACK, self.errors
        for name, n in self.plan_.nodes.items():
            # the old VM answers with the key the lab gave it (the lab's known_hosts)
            assert self.ssh.out(n.old_address, "hostname").strip() == name
            assert self.supervisor_ok(n.old_address), f"{name}: services not all RUNNING"
            assert self.settings(name) == self.snap.settings[name], f"{name}: settings"
            kernels = self.ssh.out(n.physical_host, "ls /pitrix/kernels").split()
            assert f"{name}.img" not in kernels and f"{name}.Done" not in kernels, kernels
            assert not self.answers(n.temp_address), f"{name}: new VM still at {n.temp_address}"
            dominfo = self.ssh.out(n.old_physical_host, f"virsh dominfo {name}")
            assert "enable" in dominfo.split("Autostart:")[1].split("\n")[0], dominfo
            # issue 11: a dead-man armed by the run was disarmed first (or fired): none runs
            job = self.deadman_state(name)
            assert job.get("state") in (None, "disarmed", "fired"), (name, job)
            assert not job or not self.deadman_alive(name, job["pid"]), (name, job)
        self.assert_probe_gone()  # issue 10: stopped before the undos, none left running
        names = ",".join(self.plan_.nodes)
        out = self.ssh.out(self.firstbox,
                           f"/pitrix/upgrade/exec_nodes.sh -f {names} hostname")
        for name in self.plan_.nodes:
            assert f"Execing [{name}]" in out and "Host key verification failed" not in out, out
            assert "IDENTIFICATION HAS CHANGED" not in out, out  # the scripts' ssh warns only
        assert self.console_code() == "200"


def wait_for(predicate: Callable[[], object], seconds: float = 15.0) -> bool:
    """Poll ``predicate`` every 0.1 s until it is true (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def on_step(step_id: str, do: Callable[[], object], *, when: str = "started") -> EventSink:
    """An event sink that calls ``do`` once, when step ``step_id`` starts (its transport is
    open, its command not yet sent) or, with ``when="ended"``, when it ended."""
    fired: list[bool] = []

    def sink(event: Event) -> None:
        hit = (isinstance(event, StepStarted) and when == "started") or \
            (isinstance(event, StepEnded) and when == "ended")
        if hit and getattr(event, "step_id", None) == step_id and not fired:
            fired.append(True)
            do()

    return sink


def _no_mac(text: str) -> list[str]:
    """An interfaces file's lines without its MAC lines (a new VM has new MACs)."""
    return [ln.rstrip() for ln in text.splitlines()
            if ln.split()[:1] not in (["hwaddress"], ["hw-mac-address"])]


def today() -> str:
    return _dt.date.today().strftime("%Y%m%d")


@contextmanager
def zone(topology: str = "default", *, connect_timeout: float = 10.0,
         tag: str = "", net: str = "loopback") -> Iterator[Zone]:
    """A fresh lab of ``topology`` for one test, down and removed afterwards (``tag``: a
    state folder name of its own, for a zone that lives beside another of its topology;
    ``net``: "netns" for hosts in their own network namespaces, reached through firstbox)."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    state = STATE_ROOT / f"pytest-{os.getpid()}-e2e-{tag or topology}"
    lab = Lab.up(state, topology=topology, net=net)
    try:
        reach = make_reach(lab=state, firstbox=None,  # the lab's key and known_hosts
                           connect_timeout=connect_timeout)
        info = lab.info()
        z = Zone(lab, topology, demo_spec(topology), reach, Ssh(info))
        try:
            yield z
        finally:
            if z.journal is not None:
                z.journal.close()
    finally:
        lab.down()
        lab.cleanup()
