"""Benchmark the whole proxy upgrade (issue 11): nodeswap next to the runbook typed by hand.

On a zone lab brought up with ``--timing realistic`` (boots, shutdowns, launches, installs, apt
and update.sh take real-world durations scaled down 1/30: src/nodeswap/lab/timing.py) and, by
default, on its real network (``--net auto``: each host in its own network namespace with
Debian's haproxy and keepalived, docs/lab-netns.md; loopback where that cannot run, and the
results say so), twice, each on a fresh lab:

  nodeswap   `nodeswap plan --lab DIR --spec upgrade.yaml --out plan.json`, then
             `nodeswap apply plan.json --lab DIR --yes` (the CLI, as an operator runs it)
  by hand    nodeswap.lab.byhand: R6-R37 over plain ssh, the sequence of
             tests/lab/test_runbook_by_hand.py

During each run, a thread probes each switched node's address (the old proxy0/proxy1
addresses) every 0.1 s: a TCP connect to its sshd (0.2 s timeout) and the SSH banner (1 s).
On a netns lab the thread runs inside firstbox's network namespace (this machine's own never
dials a zone address); on loopback, from this machine. A node's unanswered time is the longest
stretch between the last answered probe before a silence and the first answered probe after it
(so it includes up to one probe period). Goals (issue 11): nodeswap's whole upgrade no slower
than by hand; each node's address unanswered no longer than its reboot (the lab's shutdown + VM
boot time) + 5 s.

The console's availability through the VIP (issue 10) is measured for both by the same probe
on firstbox (nodeswap.runbooks.probe: curl every 0.25 s, 2 s timeout): nodeswap starts it
itself (before the first switch's R32; its report's ``downtime``, read with
`nodeswap report --json`), and for the run typed by hand the bench starts the same script with
the same commands on firstbox over plain ssh, before the upgrade, and stops it after. Downtime
per switch: the longest (and total) unanswered window between the node's R32 and, for nodeswap,
its R36, by hand the end of its R34 (the hand sequence checks the console once, after both
switches).

Topologies: `default`, `vg-same-24`, `vg-other-24` (``--topology``, repeatable; default all
three), each with both: the runbook typed by hand (nodeswap.lab.byhand) knows the VG zones'
dummy EIP (R12) and its return (R30/R31).

Run as root: `.venv/bin/python bench/bench_upgrade.py [--timing realistic|off] [--topology T]
[--net auto|netns|loopback]`; writes bench/results/upgrade[-TOPOLOGY][-TIMING][-loopback].json
and .md (`default`, realistic, netns: upgrade.json/.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # this checkout's nodeswap, not the venv's

from nodeswap.checks import downtime as DT  # noqa: E402
from nodeswap.lab import Lab, timing  # noqa: E402
from nodeswap.lab.byhand import NODES, run_by_hand  # noqa: E402
from nodeswap.lab.labhost import ssh_banner  # noqa: E402
from nodeswap.lab.netns import run_in  # noqa: E402
from nodeswap.runbooks import probe as P  # noqa: E402

OUT = ROOT / "bench" / "results"
STATE = Path("/var/lib/nodeswap-lab")
SPEC = 'role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
PROBE_EVERY = 0.1
NEXT_RESUME = re.compile(r"^next: nodeswap (resume \S+ --approve (\S+) .*)$", re.M)
FOLLOW_GATES = True  # --no-follow: stop at the first gate --yes refuses
DONE = re.compile(r"^\[\d+/\d+\] done\s+\S+ \((R[\d-]+)\) .* ([\d.]+)s$")
SLACK = 5.0  # the "reboot plus 5 s"
TOPOLOGIES = ("default", "vg-same-24", "vg-other-24")
PROBE_DIR = "/root/bench-console-probe"  # the by-hand run's probe folder on firstbox


def answers(address: str) -> bool:
    """sshd at ``address`` accepts a TCP connection (0.2 s) and sends its SSH banner (within
    1 s: a loaded machine may be slow to fork sshd's child, which is not the address being
    silent; a host that is down refuses the connection at once)."""
    return ssh_banner(address, connect=0.2, wait=1.0)


class Prober:
    """Probes addresses until stopped: (seconds since start, answered). From this machine, or
    from inside network namespace ``ns`` (a netns lab's firstbox)."""

    def __init__(self, addresses: dict[str, str], ns: str | None = None) -> None:
        self.addresses = addresses
        self.ns = ns
        self.seen: dict[str, list[tuple[float, bool]]] = {n: [] for n in addresses}
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        if self.ns is None:
            self.loop()
        else:  # a thread of its own entered the namespace: its sockets are made in it
            run_in(self.ns, self.loop)

    def loop(self) -> None:
        while not self.stop.is_set():
            tick = time.monotonic()
            for name, addr in self.addresses.items():
                self.seen[name].append((round(time.monotonic() - self.t0, 3), answers(addr)))
            self.stop.wait(max(0.0, PROBE_EVERY - (time.monotonic() - tick)))

    def __enter__(self) -> Prober:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def silences(self, name: str) -> list[dict[str, float]]:
        """Each stretch the address did not answer: from the last answered probe before it to
        the first answered probe after it (open at the end: to the last probe)."""
        out: list[dict[str, float]] = []
        last_ok: float | None = None
        silent_since: float | None = None
        probes = self.seen[name]
        for t, ok in probes:
            if ok:
                if silent_since is not None:
                    start = last_ok if last_ok is not None else silent_since
                    out.append({"from": start, "to": t, "s": round(t - start, 3)})
                    silent_since = None
                last_ok = t
            elif silent_since is None:
                silent_since = t
        if silent_since is not None and probes:
            start = last_ok if last_ok is not None else silent_since
            out.append({"from": start, "to": probes[-1][0], "s": round(probes[-1][0] - start, 3),
                        "open": 1.0})
        return out


class FirstboxProbe:
    """nodeswap's console probe (runbooks.probe: the same script, start and stop commands)
    started by the bench on firstbox over plain ssh, for the run typed by hand."""

    def __init__(self, lab: Lab) -> None:
        self.info = lab.info()
        self.url = self.info.raw["zone"]["console_url"]
        self.clock: list[tuple[float, float, int]] = []

    def _run(self, command: str, stdin: str = "") -> str:
        fb = self.info.address(self.info.firstbox or "")
        t0 = time.time()
        done = subprocess.run(self.info.ssh_command(fb, f"{P.DIR_VAR}={shlex.quote(PROBE_DIR)}; "
                                                    + command),
                              input=stdin, capture_output=True, text=True, timeout=120,
                              check=True)
        now = DT.firstbox_now(done.stdout)
        if now is not None:
            self.clock.append((t0, time.time(), now))
        return done.stdout

    def __enter__(self) -> FirstboxProbe:
        step = P.start(self.url, "bench")
        self._run(f"rm -rf {shlex.quote(PROBE_DIR)}; " + step.command, step.stdin or "")
        return self

    def __exit__(self, *exc: object) -> None:
        self.out = self._run(P.stop_command())


def console(runs: list[DT.Run], spans: list[tuple[str, float, float | None]],
            clock: list[tuple[float, float, int]]) -> dict[str, Any]:
    """The console's downtime from a probe's runs: per switch span, and every window."""
    offset = DT.clock_offset(clock)
    off = offset[0] if offset else 0
    per = DT.per_switch(runs, spans, off)
    return {"samples": sum(r.count for r in runs), "clock_offset_ms": off,
            "windows_s": [w.duration_ms / 1000 for w in DT.windows(runs)],
            "switches": {s.node: {"longest_s": s.longest_ms / 1000, "total_s": s.total_ms / 1000,
                                  "probed": s.probed, "complete": s.complete}
                         for s in per}}


def nodeswap_console(lab: Lab) -> dict[str, Any]:
    """The downtime nodeswap's own probe measured: its report's JSON (issue 10)."""
    done = nodeswap("report", "--lab", str(lab.dir), "--json")
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    d = json.loads(done.stdout).get("downtime") or {}
    return {"samples": d.get("samples", 0), "clock_offset_ms": round(
                1000 * (d.get("clock_offset") or 0)),
            "windows_s": [w["duration"] for w in d.get("windows", [])],
            "switches": {s["node"]: {"longest_s": s["longest"], "total_s": s["total"],
                                     "probed": s["probed"], "complete": s["complete"]}
                         for s in d.get("switches", [])}}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def old_addresses(lab: Lab) -> dict[str, str]:
    info = lab.info()
    return {n: info.hosts[n].address for n in NODES}


def nodeswap(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="100")
    return subprocess.run([sys.executable, "-m", "nodeswap", *args], capture_output=True,
                          text=True, env=env, timeout=3600, check=False)


def run_nodeswap(lab: Lab, work: Path) -> dict[str, Any]:
    spec, plan = work / "upgrade.yaml", work / "plan.json"
    spec.write_text(SPEC)
    t0 = time.monotonic()
    planned = nodeswap("plan", "--lab", str(lab.dir), "--spec", str(spec), "--out", str(plan))
    t_plan = time.monotonic() - t0
    if planned.returncode != 0:
        raise SystemExit(f"nodeswap plan failed ({planned.returncode}):\n{planned.stderr}")
    applied = nodeswap("apply", str(plan), "--lab", str(lab.dir), "--yes")
    log = applied.stdout + applied.stderr
    stops: list[str] = []
    while FOLLOW_GATES and applied.returncode == 3 and len(stops) < 5:
        # --yes refused a gate (a check failed when run again there): as an operator, paste
        # the printed `next: nodeswap resume RUN --approve GATE ...` line (and keep --yes)
        m = NEXT_RESUME.search(applied.stdout + applied.stderr)
        if m is None:
            break
        stops.append(m.group(2))
        applied = nodeswap(*shlex.split(m.group(1)), "--yes")
        log += f"\n==== {m.group(0)}\n" + applied.stdout + applied.stderr
    total = time.monotonic() - t0
    (work / "apply.log").write_text(log)
    return {"plan_s": round(t_plan, 2), "apply_s": round(total - t_plan, 2),
            "total_s": round(total, 2), "exit": applied.returncode, "gate_stops": stops,
            "log": str(work / "apply.log"), "step_s_by_rule": by_rule(log),
            "temporaries": plan_temporaries(plan)}


def by_rule(log: str) -> dict[str, float]:
    """Seconds of nodeswap's finished steps per rule, from apply's progress lines
    (``[n/N] done STEP (RULE) ... 1.2s``); steps that ran at once overlap, so the sum can
    exceed the wall time."""
    out: dict[str, float] = {}
    for line in log.splitlines():
        m = DONE.match(line.rstrip())
        if m:
            out[m.group(1)] = round(out.get(m.group(1), 0.0) + float(m.group(2)), 2)
    return out


def run_hand(lab: Lab, work: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    at: dict[str, float] = {}  # mark -> wall clock (the probe's spans)

    def mark(what: str) -> None:
        at.setdefault(what, time.time())

    temporaries: list[str] = []
    with FirstboxProbe(lab) as probe:
        try:
            bh = run_by_hand(lab, mark=mark)
            marks, error = bh.marks, None
            temporaries = [*bh.temp.values(), *bh.dummy_eip.values()]
        except Exception as exc:  # reported in the results, not hidden
            marks, error = [], f"{type(exc).__name__}: {exc}"
        total = time.monotonic() - t0
    spans: list[tuple[str, float, float | None]] = [
        (n, at[f"R32 {n}"], at.get(f"R30-R34 switch {n}")) for n in NODES if f"R32 {n}" in at]
    return {"total_s": round(total, 2), "exit": 0 if error is None else 1, "error": error,
            "marks": marks, "console": console(DT.parse_runs(probe.out), spans, probe.clock),
            "temporaries": temporaries}


def plan_temporaries(plan: Path) -> list[str]:
    """The temporary addresses nodeswap's plan borrowed (MGMT, and VG zones' dummy EIP)."""
    nodes = json.loads(plan.read_text())["nodes"].values()
    return [a for n in nodes for a in (n.get("temp_address"), n.get("eip_temp_address")) if a]


def leftovers(lab: Lab, temporaries: list[str]) -> dict[str, list[str]]:
    """Files under each switched VM's /etc that still name a temporary address (issue 10:
    none after R31/R33), found over ssh at the node's old (now its own) address."""
    if not temporaries:
        return {}
    info = lab.info()
    pats = " ".join(f"-e {shlex.quote(t)}" for t in temporaries)
    out: dict[str, list[str]] = {}
    for n, addr in old_addresses(lab).items():
        done = subprocess.run(info.ssh_command(addr, f"grep -rlwF {pats} /etc 2>/dev/null; true"),
                              capture_output=True, text=True, timeout=120, check=False)
        out[n] = done.stdout.split() if done.returncode == 0 else [
            f"? (ssh exited {done.returncode})"]
    return out


def firstbox_ns(lab: Lab) -> str | None:
    """A netns lab's firstbox namespace (None: a loopback lab)."""
    raw = lab.info().raw
    net = raw.get("net") or {}
    if net.get("mode") != "netns":
        return None
    return str(net["namespaces"][raw["hosts"][raw["firstbox"]]["iid"]])


def one(kind: str, profile: str, i: int, topology: str = "default",
        net: str = "auto") -> dict[str, Any]:
    state = STATE / f"bench-upgrade-{kind}"
    work = Path(f"/var/lib/nodeswap-bench/upgrade-{topology}-{kind}-{i + 1}")
    work.mkdir(parents=True, exist_ok=True)
    load_before = loadavg()
    lab = Lab.up(state, topology=topology, timing=profile, net=net)
    try:
        addrs = old_addresses(lab)
        ns = firstbox_ns(lab)
        raw = lab.info().raw
        with Prober(addrs, ns) as probe:
            result = run_nodeswap(lab, work) if kind == "nodeswap" else run_hand(lab, work)
        if kind == "nodeswap":
            result["console"] = nodeswap_console(lab)
        result["etc_leftovers"] = leftovers(lab, result["temporaries"])
        result["silences"] = {n: probe.silences(n) for n in addrs}
        result["unanswered_s"] = {n: max((s["s"] for s in result["silences"][n]), default=0.0)
                                  for n in addrs}
        result["probes"] = {n: len(probe.seen[n]) for n in addrs}
        result["net"] = "netns" if ns is not None else "loopback"
        if raw.get("net_note"):
            result["net_note"] = raw["net_note"]
    finally:
        lab.down()
        lab.cleanup()
    result["load_before"], result["load_after"] = load_before, loadavg()
    return result


def longest(r: dict[str, Any], n: str, key: str = "longest_s") -> float | None:
    """The console's longest (or total) window in ``n``'s switch, None: not measured."""
    got = r.get("console", {}).get("switches", {}).get(n)
    return None if got is None else float(got[key])


def median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known and len(known) == len(values) else None


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    if not runs:
        return {}
    return {"total_s": round(statistics.median(r["total_s"] for r in runs), 2),
            "unanswered_s": {n: round(statistics.median(r["unanswered_s"][n] for r in runs), 2)
                             for n in NODES},
            "console_longest_s": {n: median_or_none([longest(r, n) for r in runs])
                                  for n in NODES}}


def console_cell(runs: list[dict[str, Any]], med: dict[str, Any], n: str) -> str:
    """``median s [longest/total of each run]`` of the console's downtime in n's switch."""
    if not runs:
        return "not run"
    m = med.get("console_longest_s", {}).get(n)
    each_run = ", ".join("?" if longest(r, n) is None else
                         f"{longest(r, n):.2f}/{longest(r, n, 'total_s'):.2f}" for r in runs)
    return ("?" if m is None else f"{m:.2f} s") + f" [{each_run}]"


def console_rows(res: dict[str, Any]) -> list[str]:
    ns, bh = res["runs"]["nodeswap"], res["runs"]["by_hand"]
    mn, mb = res["median"]["nodeswap"], res["median"]["by_hand"]
    def samples(runs: list[dict[str, Any]]) -> list[Any]:
        return [r.get("console", {}).get("samples") for r in runs]
    return [f"| console through the VIP, {n} switch: longest unanswered window [longest/total "
            f"per run] | {console_cell(ns, mn, n)} | {console_cell(bh, mb, n)} |"
            for n in NODES] + [
        f"| console probe requests (0.25 s apart) | {samples(ns)} | {samples(bh) or '-'} |"]


LAB_VIP = {
    "loopback": ("Console downtime: the loopback lab (lab/power.py) moves the VIP to the other "
                 "proxy at the instant its holder goes down, with no keepalived advertisement "
                 "delay, and the console answers while the VIP holder's haproxy runs; a zone with "
                 "real keepalived (the netns lab, docs/lab-netns.md) shows the failover's real "
                 "window."),
    "netns": ("Console downtime: measured on the netns lab, where the VIP is real keepalived's "
              "(VRRP between the proxy VMs' namespaces) and the console is the VIP holder's real "
              "haproxy in front of the webservice VMs: a window is time the console did not "
              "answer through the VIP, from firstbox. The node addresses are probed from "
              "inside firstbox's namespace."),
}


def nets_of(res: dict[str, Any]) -> str:
    """The lab network(s) the runs had (and why a netns run fell back to loopback)."""
    runs = [r for v in res["runs"].values() for r in v]
    nets = sorted({str(r.get("net", "loopback")) for r in runs})
    notes = sorted({str(r["net_note"]) for r in runs if r.get("net_note")})
    return "/".join(nets) + (f" ({'; '.join(notes)})" if notes else "")


def vip_notes(res: dict[str, Any]) -> list[str]:
    nets = sorted({str(r.get("net", "loopback")) for v in res["runs"].values() for r in v})
    return [LAB_VIP[n] for n in nets]


def each(runs: list[dict[str, Any]], get: Any) -> str:
    return ", ".join(f"{get(r):.1f}" for r in runs)


def table(res: dict[str, Any]) -> str:
    ns, bh = res["runs"]["nodeswap"], res["runs"]["by_hand"]
    mn, mb = res["median"]["nodeswap"], res["median"]["by_hand"]
    limit = res["unanswered_goal_s"]
    lines = [
        f"# Whole proxy upgrade: nodeswap vs the runbook by hand ({res['when']})", "",
        f"Lab `{res['topology']}` on its {nets_of(res)} network, timing "
        f"`{res['timing']['profile']}` (scale "
        f"{res['timing']['scale']:.4f}: {json.dumps(res['timing']['delays'])}); "
        f"{res['cpus']} CPUs shared with other work (load averages below). {len(ns)} pairs of "
        "runs, each on a fresh lab, the order alternating; medians, each run in brackets.", "",
        "| | nodeswap (plan + apply --yes) | by hand (plain ssh) |", "|---|---|---|",
        f"| whole upgrade | {mn['total_s']:.1f} s [{each(ns, lambda r: r['total_s'])}] "
        f"(plan [{each(ns, lambda r: r['plan_s'])}]) | {mb['total_s']:.1f} s "
        f"[{each(bh, lambda r: r['total_s'])}] |",
    ]
    for n in NODES:
        def gap(r: dict[str, Any], n: str = n) -> float:
            return float(r["unanswered_s"][n])
        lines.append(f"| {n} address unanswered (longest silence) | {mn['unanswered_s'][n]:.1f}"
                     f" s [{each(ns, gap)}] | {mb['unanswered_s'][n]:.1f} s [{each(bh, gap)}] |")
    lines += console_rows(res)
    def left(r: dict[str, Any]) -> str:
        return "?" if "etc_leftovers" not in r else str(sum(map(len, r["etc_leftovers"].values())))
    lines += [f"| files under the switched VMs' /etc still naming a temporary address (R31, "
              f"R33; which: upgrade.json `etc_leftovers`) | [{', '.join(map(left, ns))}] | "
              f"[{', '.join(map(left, bh))}] |"]
    lines += [f"| gates --yes refused, then approved by name as printed | "
              f"{[r.get('gate_stops', []) for r in ns]} | - |",
              f"| exit status | {[r['exit'] for r in ns]} | {[r['exit'] for r in bh]} |",
              f"| load (1 min) before each run | {[r['load_before'][0] for r in ns]} | "
              f"{[r['load_before'][0] for r in bh]} |", "", *vip_notes(res), "",
              "Goals (issue 11), on the medians:", ""]
    failed = [i + 1 for i, r in enumerate(ns) if r["exit"] != 0]
    failed += [i + 1 for i, r in enumerate(bh) if r["exit"] != 0 and i + 1 not in failed]
    if failed:
        lines += [f"NOT EVALUATED: run(s) {sorted(failed)} did not finish the upgrade (exit "
                  "status above; nodeswap's log: the `log` path in upgrade.json). A run that "
                  "stops early is neither faster nor a shorter outage.", ""]
        return "\n".join(lines) + "\n"
    ratio = mn["total_s"] / mb["total_s"] if mb["total_s"] else float("inf")
    wins = sum(a["total_s"] <= b["total_s"] for a, b in zip(ns, bh, strict=True))
    met = "met" if ratio <= 1.0 else "NOT met"
    lines.append(f"- whole upgrade no slower than by hand: {met} (nodeswap {ratio:.2f}x the "
                 f"hand sequence, {mn['total_s'] - mb['total_s']:+.1f} s; no slower in {wins} "
                 f"of {len(ns)} pairs)")
    for n in NODES:
        got = mn["unanswered_s"][n]
        met = "met" if got <= limit else "NOT met"
        worst = max(r["unanswered_s"][n] for r in ns)
        lines.append(f"- {n} unanswered <= reboot {res['reboot_s']:.2f} s + {SLACK:.0f} s = "
                     f"{limit:.2f} s: {met} ({got:.1f} s, {got - limit:+.1f} s; worst run "
                     f"{worst:.1f} s)")
    last_ns, last_bh = ns[-1], bh[-1]
    lines += ["", "Where the time goes (last pair): nodeswap's step seconds per rule "
              "(overlapping steps counted each) | the hand sequence's phases (cumulative):", "",
              "| nodeswap rule: s | by hand: at s |", "|---|---|"]
    rules = [f"{r}: {t:.1f}" for r, t in last_ns.get("step_s_by_rule", {}).items()]
    marks = [f"{w}: {t:.1f}" for w, t in last_bh.get("marks", [])]
    for i in range(max(len(rules), len(marks))):
        lines.append(f"| {rules[i] if i < len(rules) else ''} | "
                     f"{marks[i] if i < len(marks) else ''} |")
    lines += ["", "Every silence (s), per run: nodeswap " + json.dumps(
        [{n: [x["s"] for x in r["silences"][n]] for n in NODES} for r in ns]) + "; by hand "
        + json.dumps([{n: [x["s"] for x in r["silences"][n]] for n in NODES} for r in bh])]
    errors = [r["error"] for r in bh if r.get("error")]
    if errors:
        lines += ["", f"By hand failed: {errors}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--timing", default="realistic", choices=sorted(timing.PROFILES))
    ap.add_argument("--runs", type=int, default=3, help="pairs of runs (default 3)")
    ap.add_argument("--topology", action="append", choices=TOPOLOGIES,
                    help="a lab topology (repeatable; default: all three)")
    ap.add_argument("--net", default="auto", choices=("auto", "netns", "loopback"),
                    help="the lab's network (default auto: netns where it can run, else "
                    "loopback, and the results say why)")
    ap.add_argument("--no-follow", action="store_true",
                    help="when --yes is refused at a gate, stop there (default: resume with the "
                    "printed --approve GATE, as an operator would, and report the stop)")
    a = ap.parse_args()
    global FOLLOW_GATES  # noqa: PLW0603 (one option of this script)
    FOLLOW_GATES = not a.no_follow
    ok = True
    for topology in a.topology or TOPOLOGIES:
        ok = bench(topology, a.timing, a.runs, a.net) and ok
    return 0 if ok else 1


def bench(topology: str, profile: str, runs: int, net: str = "auto") -> bool:
    """``runs`` pairs on ``topology`` (nodeswap alone where the hand sequence cannot run);
    writes the results; True when every run finished."""
    res: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": platform.node(),
        "cpus": os.cpu_count(), "timing": timing.public(profile), "topology": topology,
        "reboot_s": timing.reboot_s(profile), "probe_every_s": PROBE_EVERY,
        "console_probe": {"interval_s": DT.INTERVAL, "timeout_s": DT.TIMEOUT},
        "runs": {"nodeswap": [], "by_hand": []}}
    res["unanswered_goal_s"] = round(res["reboot_s"] + SLACK, 3)
    kinds = ("nodeswap", "by_hand")
    for i in range(runs):
        for kind in kinds if i % 2 == 0 else kinds[::-1]:
            print(f"--> {topology}: {kind} ({i + 1}/{runs})", flush=True)
            got = one(kind, profile, i, topology, net)
            res["runs"][kind].append(got)
            print(json.dumps({k: v for k, v in got.items() if k not in ("silences", "marks")}),
                  flush=True)
    res["median"] = {k: median_of(v) for k, v in res["runs"].items()}
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = ("" if topology == "default" else f"-{topology}") + \
        ("" if profile == "realistic" else f"-{profile}") + \
        ("-loopback" if net == "loopback" else "")
    (OUT / f"upgrade{suffix}.json").write_text(json.dumps(res, indent=1) + "\n")
    md = table(res)
    (OUT / f"upgrade{suffix}.md").write_text(md)
    print(md)
    return all(r["exit"] == 0 for v in res["runs"].values() for r in v)


if __name__ == "__main__":
    sys.exit(main())
