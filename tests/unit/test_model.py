"""The plan's data round-trips through JSON exactly (a saved plan is what apply runs)."""

from __future__ import annotations

import json

from nodeswap.plan.model import Analysis, NodePlan, Plan, PlannedFile, Step, Target
from nodeswap.shell import cmd, write_file_atomic


def _plan() -> Plan:
    node = NodePlan(
        name="proxy0", old_address="10.0.0.5", temp_address="10.0.0.51",
        old_physical_host="10.0.0.2", physical_host="10.0.0.3", old_settings="a=\"1\"\n",
        settings="a=\"2\"\n", mgmt_mac="00:16:3e:00:00:01", eip_mac=None, eip_temp_address=None,
    )
    steps = (
        Step(id="r6", phase="prepare", rule="R6", title="backup", target="firstbox",
             command=cmd("cp", "-arf", "/pitrix/conf/settings", "/pitrix/conf/settings.20261127")),
        Step(id="r27", phase="check", rule="R27", title="diff", target="proxy0-new",
             command=cmd("cat", "/etc/haproxy/haproxy.cfg"), side_effect=False,
             analysis=Analysis(kind="haproxy", against="fetch-old",
                               options=(("sub_region", "0"),))),
    )
    return Plan(
        role="proxy", installer_version="4.3.1", target_os=("bionic", "18.04.6"),
        nodes={"proxy0": node},
        targets={"firstbox": Target("firstbox", "10.0.0.1", "firstbox", via_firstbox=False)},
        steps=steps,
        files=(PlannedFile("firstbox", "/pitrix/conf/settings/proxy0", "a=\"2\"\n", rule="R7"),),
    )


def test_plan_round_trips_through_json() -> None:
    plan = _plan()
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.fingerprint() == plan.fingerprint()


def test_fingerprint_changes_with_any_command() -> None:
    plan = _plan()
    other = Plan.from_dict({**plan.to_dict(), "steps": [
        {**plan.to_dict()["steps"][0], "command": "true"}, plan.to_dict()["steps"][1]]})
    assert other.fingerprint() != plan.fingerprint()


def test_cmd_quotes_every_value() -> None:
    assert cmd("echo", "a b", "$(rm -rf /)", "it's") == "echo 'a b' '$(rm -rf /)' 'it'\"'\"'s'"


def test_write_file_atomic_renames_a_temp_file() -> None:
    c = write_file_atomic("/etc/my file", 0o600)
    assert c == "cat > '/etc/my file.nodeswap-tmp' && chmod 600 '/etc/my file.nodeswap-tmp' && " \
        "mv -f '/etc/my file.nodeswap-tmp' '/etc/my file'"
