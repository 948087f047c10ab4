"""The demo: a whole proxy upgrade in the lab, end to end, with the same code as a real run.

Lab up (a simulated zone of real sshd hosts), discovery and a live plan (R2, R4-R26), apply
with every gate approved (R6-R37), the report (Markdown and HTML), lab down unless kept. It
never prints: progress goes to the EventSink and to ``say``; the CLI renders both.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nodeswap.errors import NodeswapError
from nodeswap.lab.api import DEFAULT_STATE_ROOT, Lab
from nodeswap.live.planning import plan_live
from nodeswap.live.reach import Reach, make_reach
from nodeswap.plan.model import Plan
from nodeswap.plan.spec import Spec
from nodeswap.report import RunRecords, build_report, render_html, render_markdown
from nodeswap.report.privatefile import write_private
from nodeswap.run import journal as J
from nodeswap.run.events import EventSink
from nodeswap.run.journal import Journal, journal_path
from nodeswap.run.lock import operator_name
from nodeswap.run.runs import DriveOptions, drive, journal_name
from nodeswap.run.statedir import own_known_hosts
from nodeswap.transport.ssh import SshConnector

DEMO_STATE_DIR = DEFAULT_STATE_ROOT / "demo"
TARGET_OS = ("bionic", "18.04.6")
SUB_REGION_TOPOLOGIES = frozenset({"sub-region"})


@dataclass(frozen=True)
class DemoResult:
    run_id: str
    state: str
    plan_file: Path
    report_html: Path
    report_markdown: Path
    lab_dir: Path
    kept: bool


def demo_spec(topology: str) -> Spec:
    """What an operator would write for this zone: the proxies to bionic 18.04.6."""
    return Spec.model_validate({
        "role": "proxy",
        "target": {"os_name": TARGET_OS[0], "os_version": TARGET_OS[1]},
        "sub_region": topology in SUB_REGION_TOPOLOGIES,
        "path": f"<demo spec for {topology}>",
    })


async def run_demo(
    *, topology: str, state_dir: Path, out_dir: Path, keep: bool, events: EventSink,
    say: Callable[[str], None], net: str = "auto",
) -> DemoResult:
    """Lab up, plan, apply --yes, report, lab down (unless ``keep``). ``net``: the lab's
    network (``Lab.up``): auto is netns where this machine can run it."""
    say(f"lab up: topology {topology} in {state_dir}")
    lab = Lab.up(state_dir, topology=topology, net=net)
    info = lab.info()
    if info.raw.get("ssh", {}).get("jump"):
        say(f"network: netns (each host in its own network namespace, real haproxy and "
            f"keepalived; reached only through firstbox at {info.raw['ssh']['jump']})")
    else:
        say(f"network: loopback ({info.raw.get('net_note') or 'asked for'})")
    try:
        return await _upgrade(topology, state_dir=state_dir, out_dir=out_dir, keep=keep,
                              events=events, say=say)
    finally:
        if not keep:
            lab.down()
            say(f"lab down ({state_dir}); the journal stays in {state_dir / 'nodeswap'}")


async def _upgrade(
    topology: str, *, state_dir: Path, out_dir: Path, keep: bool, events: EventSink,
    say: Callable[[str], None],
) -> DemoResult:
    reach = make_reach(lab=state_dir, firstbox=None)  # the lab's key and known_hosts
    assert reach.firstbox is not None, "a zone lab always has a firstbox"
    today = _dt.date.today().strftime("%Y%m%d")
    say("discover the zone (R2) and plan (R4-R26): MACs from gen_mac.py, temporary "
        "addresses pinged, hosts' room checked")
    connector = SshConnector(reach.ssh)
    try:
        plan, _snap = await plan_live(connector, reach.firstbox, demo_spec(topology),
                                      today=today)
    finally:
        await connector.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_file = out_dir / "plan.json"
    plan_file.write_text(_plan_json(plan))
    say(f"plan: {len(plan.steps)} steps, switch order {plan.meta.get('switch_order')}; "
        f"saved to {plan_file}")
    journal, run_id = _start(plan, reach, state_dir / "nodeswap")
    say(f"apply run {run_id} (every gate approved: --yes)")
    try:
        await drive(journal, run_id, DriveOptions(), events, action="apply",
                    approver=lambda step: True)
    except NodeswapError as exc:
        say(f"the run stopped: {exc}")
    state = journal.run(run_id).state
    report = build_report(RunRecords.from_journal(journal, run_id))
    html, md = out_dir / "report.html", out_dir / "report.md"
    write_private(html, render_html(report))
    write_private(md, render_markdown(report))
    journal.close()
    return DemoResult(run_id, state, plan_file, html, md, state_dir, keep)


def _start(plan: Plan, reach: Reach, state: Path) -> tuple[Journal, str]:
    """Record the run (the plan was made a moment ago: no fingerprint check needed)."""
    zone = journal_name(plan, reach)
    conn = {"mode": "ssh", **reach.to_dict(),
            "known_hosts": own_known_hosts(state, reach.ssh.known_hosts)}
    journal = Journal.open(journal_path(state, zone))
    run_id = journal.create_run(plan, operator=operator_name(), zone=zone, connection=conn)
    return journal, run_id


def _plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, sort_keys=True) + "\n"


def succeeded(result: DemoResult) -> bool:
    return result.state == J.RUN_DONE
