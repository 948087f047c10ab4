"""The runbook registry (issue 12): runbooks by role, role-free phases in runbooks/common, and
a new role is a new runbook module and nothing else: a toy runbook defined here plans on
examples/zone, and nothing outside runbooks/ names a role's module."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap import runbooks
from nodeswap.errors import BugError, RuleError
from nodeswap.live.sources import read_zone
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Analysis, Plan, Step
from nodeswap.plan.spec import Spec
from nodeswap.runbooks.base import Context, Fetch, NodeContext, Package, Runbook
from nodeswap.runbooks.commands import (
    cat_file,
    destroy_if_running,
    parse_tree_digest,
    same_tree_digest,
    start_unless_running,
    supervisor_status,
)
from nodeswap.runbooks.common import fetch_id
from nodeswap.runbooks.switch import switch_phase

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "nodeswap"
# runbooks/ modules that are no role's
ROLE_FREE = {"__init__", "base", "commands", "common", "deadman", "probe"}
NGINX = "/etc/nginx/nginx.conf"


# ---- the registry -------------------------------------------------------------------------------
def test_proxy_is_registered_by_its_module_alone() -> None:
    assert "proxy" in runbooks.roles()
    rb = runbooks.runbook_for("proxy")
    assert rb.role == "proxy"
    assert rb.fetched_files == ("/etc/haproxy/haproxy.cfg", "/etc/rc.local",
                                "/etc/rc.local.head", "/etc/rc.local.tail",
                                "/etc/network/interfaces")
    assert rb.component_packages == {"pitrix-ks-proxy-boss": "boss",
                                     "pitrix-ks-proxy-boss2": "boss2",
                                     "pitrix-ks-proxy-warehouse": "warehouse"}


def test_an_unknown_role_names_the_known_ones() -> None:
    with pytest.raises(RuleError, match=r"no runbook for role 'toy': the known roles are .*proxy"):
        runbooks.runbook_for("toy")


def test_two_runbooks_for_one_role_are_a_bug() -> None:
    with pytest.raises(BugError, match="two runbooks for role 'proxy'"):
        runbooks.register(Runbook(role="proxy"))


# ---- a second role: a toy runbook, planned on examples/zone ------------------------------------
def toy_checks(ctx: Context) -> list[Step]:
    return [Step(id=f"toy-nginx-{n.name}", phase="check", rule="R28",
                 title=f"compare {NGINX}: old {n.name} vs new", target=f"{n.name}-new",
                 command=cat_file(NGINX), side_effect=False,
                 analysis=Analysis("rc", against=fetch_id(n.name, "nginx")))
            for n in ctx.nodes]


def toy_switch_checks(ctx: Context, n: NodeContext) -> list[Step]:
    return [Step(id=f"toy-supervisor-{n.name}", phase=switch_phase(n), rule="R35",
                 title=f"supervisor status of the switched {n.name}",
                 target=f"{n.name}-switched", command=supervisor_status(), side_effect=False)]


TOY = Runbook(
    role="webservice",
    fetches=(Fetch("nginx", "R28", NGINX, cat_file(NGINX), path=NGINX),),
    packages=(Package("R23", "pitrix-ks-webservice"),
              Package("R26", "pitrix-ks-webservice-warehouse", "warehouse")),
    checks=toy_checks, switch_checks=toy_switch_checks,
    warnings=lambda ctx: ("toy: check the web pages by eye",))


@pytest.fixture
def toy() -> Iterator[Runbook]:
    """TOY registered for the test (in place of a real webservice runbook, if one exists)."""
    real = runbooks.runbook_for(TOY.role) if TOY.role in runbooks.roles() else None
    runbooks.register(TOY, replace=True)
    try:
        yield TOY
    finally:
        runbooks.unregister(TOY.role)
        if real is not None:
            runbooks.register(real)


def toy_plan() -> Plan:
    spec = Spec.from_yaml("role: webservice\ntarget: {os_name: bionic, os_version: '18.04.6'}\n"
                          "seed: 1\n", path="toy.yaml")
    zone = read_zone(ROOT / "examples" / "zone", "4.3.1", "warehouse", spec)
    return build_plan(zone, spec, today="20261202")


@pytest.mark.usefixtures("toy")
def test_a_toy_runbook_plans_the_common_phases_and_its_own_steps() -> None:
    plan = toy_plan()
    assert plan.role == "webservice" and set(plan.nodes) == {"webservice0", "webservice1"}
    ids = [s.id for s in plan.steps]
    assert len(ids) == len(set(ids))
    assert all(s.target in plan.targets for s in plan.steps)
    assert list(dict.fromkeys(s.phase for s in plan.steps)) == [
        "prepare", "settings", "build", "launch", "deploy", "check", "switch:webservice0",
        "switch:webservice1", "archive"]
    # the interfaces file is kept for R31/R33 although the toy does not name it (issue 10)
    assert ids[:6] == ["fetch-webservice0-nginx", "fetch-webservice0-interfaces",
                       "fetch-webservice1-nginx", "fetch-webservice1-interfaces", "r6-backup",
                       "rollback-point"]
    assert plan.step("r23-update").command == \
        "/pitrix/upgrade/update.sh -f webservice0,webservice1 pitrix-ks-webservice"
    assert plan.step("r26-update").command.endswith("pitrix-ks-webservice-warehouse")
    assert "toy-nginx-webservice1" in ids
    switch = [s.id for s in plan.steps if s.phase == "switch:webservice0"]
    assert switch[0] == "r30-settings-webservice0" and plan.step(switch[0]).gate
    assert switch[-2:] == ["toy-supervisor-webservice0", "deadman-disarm-webservice0"]
    assert "r31-address-webservice0" in switch and "r34-known-hosts-all-webservice0" in switch
    r31 = plan.step("r31-address-webservice0")
    assert "/etc/network/interfaces" in r31.command and "rc.local.tail" not in r31.command
    assert ids[-1] == "r37-done-webservice1"
    # Nothing of the proxy runbook leaks in.
    assert not any("haproxy" in s.command or s.rule in ("R27", "R29", "R36")
                   for s in plan.steps)
    assert plan.warnings[0].startswith("R20:") and "new webservice nodes" in plan.warnings[0]
    assert plan.warnings[1] == "toy: check the web pages by eye"
    # and no R16 warning: the automatic temporary addresses .252 and .251 look like no
    # router's (issue 10: the choice passes .254/.253 by)
    assert plan.warnings[2:] == ()


@pytest.mark.usefixtures("toy")
def test_the_spec_accepts_a_registered_role() -> None:
    assert "webservice" in runbooks.roles()
    assert toy_plan().steps


# ---- nothing outside runbooks/ names a role's module ---------------------------------------------
def role_modules() -> set[str]:
    names = {p.stem for p in (SRC / "runbooks").glob("*.py")} - ROLE_FREE
    return names | set(runbooks.roles())


def role_imports(path: Path, roles: set[str]) -> list[int]:
    """The lines of ``path`` whose import names a role's runbook module: absolutely
    (``nodeswap.runbooks.proxy``, ``from nodeswap.runbooks import proxy``) or relatively
    (``from .proxy import X``, ``from . import proxy``)."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            mods = [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".") if node.module else []
            mods = [base, *([*base, a.name] for a in node.names)]
        else:
            continue
        for parts in mods:
            relative = isinstance(node, ast.ImportFrom) and node.level > 0
            if (relative and any(p in roles for p in parts)) or (
                    parts[:2] == ["nodeswap", "runbooks"] and len(parts) > 2
                    and parts[2] in roles):
                bad.append(node.lineno)
                break
    return bad


def test_the_role_check_catches_what_it_should(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("from nodeswap.runbooks import proxy\nimport nodeswap.runbooks.proxy\n"
                      "from .proxy import FETCHES\nfrom . import proxy as rb\n"
                      "from nodeswap.runbooks import common, runbook_for\n")
    assert role_imports(sample, {"proxy"}) == [1, 2, 3, 4]


def test_nothing_outside_runbooks_imports_a_role_module() -> None:
    roles = role_modules()
    assert "proxy" in roles
    found = {str(p.relative_to(SRC)): bad for p in SRC.rglob("*.py")
             if "runbooks" not in p.relative_to(SRC).parts
             and (bad := role_imports(p, roles))}
    assert not found, f"modules naming a role's runbook module: {found}"


def test_no_module_outside_runbooks_is_named_after_a_role() -> None:
    """Lab files for a role are named e.g. lab/roles/proxy_pkgs.py, never proxy.py."""
    roles = role_modules()
    named = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
             if p.stem in roles and "runbooks" not in p.relative_to(SRC).parts]
    assert not named


# ---- the switch: one helper per rule, composed in rule order ------------------------------------
def test_the_switch_runs_r30_to_r36_in_order_behind_one_gate() -> None:
    spec = Spec.from_yaml("role: proxy\ntarget: {os_name: bionic, os_version: '18.04.6'}\n"
                          "seed: 1\nvip: 10.16.100.20\n", path="up.yaml")
    zone = read_zone(ROOT / "examples" / "zone", "4.3.1", "", spec)
    plan = build_plan(zone, spec, today="20261202")
    for node in plan.nodes:
        steps = [s for s in plan.steps if s.phase == f"switch:{node}"]
        # R33's apt steps run at the temporary address before R32 (runbooks.switch.switch
        # says which rules allow it); every other step in rule order
        moved = {f"r33-apt-update-{node}", f"r33-hosts-{node}"}
        # the dead-man: armed right before R32 (rule R32), disarmed after every check (R35)
        dead = {f"deadman-arm-{node}", f"deadman-disarm-{node}", "console-probe-start",
                "console-probe-stop"}  # issue 10: the console probe spans the switches
        rules = [int(s.rule[1:]) for s in steps if s.id not in moved | dead]
        assert rules == sorted(rules) and rules[0] == 30 and rules[-1] == 36
        ids = [s.id for s in steps]
        assert max(ids.index(m) for m in moved) < ids.index(f"r32-stop-{node}")
        assert min(ids.index(m) for m in moved) > ids.index(f"r31-address-{node}")
        assert ids.index(f"deadman-arm-{node}") + 1 == ids.index(f"r32-stop-{node}")
        last = ids[:-1] if ids[-1] == "console-probe-stop" else ids
        assert last[-1] == f"deadman-disarm-{node}"
        assert [s.gate for s in steps] == [True] + [False] * (len(steps) - 1)


def test_r6_backup_digest_is_printed_only_for_an_identical_tree(tmp_path: Path) -> None:
    """R6's check and verify (same_tree_digest) run by bash on a real folder: exit 0 and
    ``SHA256  PATH`` (the digest of the sorted per-file checksums) iff the copy is exact; the
    report reads it back with parse_tree_digest."""
    src, dest = tmp_path / "settings", tmp_path / "settings copy"
    (src / "sub").mkdir(parents=True)
    (src / "proxy0").write_text("a=1\n")
    (src / "sub" / "x").write_text("b\n")
    shutil.copytree(src, dest)
    command = same_tree_digest(str(src), str(dest))
    ok = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    sums = subprocess.run(["bash", "-c", "find . -type f -print0 | LC_ALL=C sort -z | "
                           "xargs -0 -r sha256sum | sha256sum"], cwd=dest,
                          capture_output=True, text=True, check=True).stdout.split()[0]  # fmt: skip
    assert ok.returncode == 0
    assert parse_tree_digest(ok.stdout) == (str(dest), sums)
    (dest / "proxy0").write_text("a=2\n")
    bad = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and bad.stdout == ""
    assert parse_tree_digest("") is None


# ---- idempotent undos at the switch (issue 11) ---------------------------------------------------
def _stubs(tmp: Path, *, state: str, answers: bool, broken: bool = False) -> dict[str, str]:
    """PATH with a `virsh` that reports ``state`` and logs its calls, and a `ping` that
    answers or not: the undo commands run by real bash against them."""
    bin_ = tmp / "bin"
    bin_.mkdir(exist_ok=True)
    (bin_ / "virsh").write_text(f'#!/bin/sh\necho "$*" >> {tmp}/calls\n'
                                f'[ "$1" = domstate ] && echo {state!r}\n'
                                f'exit {1 if broken else 0}\n')
    (bin_ / "ping").write_text(f"#!/bin/sh\nexit {0 if answers else 1}\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"}


@pytest.mark.parametrize(("state", "answers", "started", "ok"), [
    ("shut off", False, True, True),    # the old VM is off and its address free: start it
    ("running", False, False, True),    # already running (a second rollback): nothing to do
    ("shut off", True, False, False),   # the new VM holds the address: refuse, say why
])  # fmt: skip
def test_the_old_vm_starts_only_when_needed_and_safe(tmp_path: Path, state: str, answers: bool,
                                                     started: bool, ok: bool) -> None:
    env = _stubs(tmp_path, state=state, answers=answers)
    res = subprocess.run(["bash", "-c", start_unless_running("proxy0", "10.16.100.21")],
                         env=env, capture_output=True, text=True, check=False)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert (res.returncode == 0) is ok, res.stderr
    assert ("start -- proxy0" in calls) is started, calls
    if not ok:
        assert "10.16.100.21 answers" in res.stderr and "destroy that VM first" in res.stderr


@pytest.mark.parametrize(("state", "broken", "destroyed", "ok"), [
    ("running", False, True, True), ("shut off", False, False, True),
    ("", True, False, False),  # virsh does not answer: an error, not "not running"
])  # fmt: skip
def test_the_new_vm_is_destroyed_only_when_running(tmp_path: Path, state: str, broken: bool,
                                                   destroyed: bool, ok: bool) -> None:
    env = _stubs(tmp_path, state=state, answers=False, broken=broken)
    res = subprocess.run(["bash", "-c", destroy_if_running("proxy0")], env=env,
                         capture_output=True, text=True, check=False)
    assert (res.returncode == 0) is ok, res.stderr
    assert ("destroy -- proxy0" in (tmp_path / "calls").read_text()) is destroyed
