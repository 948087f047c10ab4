"""Names in planned commands (issue 14): `--` before names only where the tool is known to
honour it, validation everywhere."""

from __future__ import annotations

import shlex

import pytest
from zonekit import make_spec, make_zone

from nodeswap.errors import BugError
from nodeswap.plan.build import build_plan
from nodeswap.plan.model import Plan
from nodeswap.runbooks import common, runbook_for
from nodeswap.runbooks.base import Context, NodeContext
from nodeswap.runbooks.commands import exec_nodes

TODAY = "20261127"


# ---- commands: `--` where the tool honours it, validation everywhere -----------------------------
def plan() -> Plan:
    return build_plan(make_zone(), make_spec(seed=1), today=TODAY)


def commands(p: Plan) -> list[str]:
    return [c for s in p.steps for c in (s.command, s.check, s.verify, s.undo) if c]


def simple_commands(line: str) -> list[list[str]]:
    """The words of each simple command of a shell line (split at && || ; | !)."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=";&|!<>")
    lex.whitespace_split = True
    out: list[list[str]] = [[]]
    words = list(lex)
    for i, word in enumerate(words):
        redirect = word[:1] in ("<", ">")
        if word in ("&&", "||", ";", "|", "!"):
            out.append([])
        elif not redirect and not (i and words[i - 1][:1] in ("<", ">")) and not (
                word.isdigit() and i + 1 < len(words) and words[i + 1][:1] in ("<", ">")):
            out[-1].append(word)  # redirections (>/dev/null 2>&1) left out
    keywords = ("if", "then", "elif", "else", "fi", "do", "done", "while", "until")
    out = [w[next((i for i, x in enumerate(w) if x not in keywords), len(w)):] for w in out]
    return [w for w in out if w]  # `if`/`then`/... of compound commands left out


def test_virsh_gets_double_dash_before_the_domain_name() -> None:
    """virsh's parser (tools/vsh.c, vshCommandParse) takes a lone `--` as "data only from
    here": `virsh undefine -- --help` undefines a domain named --help instead of printing
    help and exiting 0."""
    p = plan()
    assert p.step("r37-undefine-proxy1").command == "virsh undefine -- proxy1"
    assert p.step("r32-autostart-proxy0").command == "virsh autostart --disable -- proxy0"
    seen = set()
    for c in commands(p):
        for words in simple_commands(c):
            if words[:1] == ["virsh"] and words[1] not in ("list", "define", "nodeinfo"):
                assert words[-2:-1] == ["--"] and words[-1] in ("proxy0", "proxy1"), c
                seen.add(words[1])
    assert seen == {"destroy", "undefine", "domstate", "autostart", "start", "dominfo"}


def test_ssh_keygen_and_pitrix_scripts_get_no_double_dash() -> None:
    """`ssh-keygen -R NAME`: NAME is the argument of -R (getopt takes the next word whatever it
    starts with), and `-R -- NAME` would remove a host named `--`. The /pitrix scripts are run
    exactly as the runbook writes them."""
    p = plan()
    assert "ssh-keygen -f /root/.ssh/known_hosts -R proxy0" in p.step(
        "r34-known-hosts-proxy0").command
    assert p.step("r21-launch-proxy0").command == "/pitrix/install/launch_vms.sh proxy0"
    assert p.step("r22-install").command == "/pitrix/install/install_nodes.sh proxy0,proxy1"
    assert p.step("r23-update").command == \
        "/pitrix/upgrade/update.sh -f proxy0,proxy1 pitrix-ks-proxy"
    assert all(" -- " not in c for c in commands(p) if "/pitrix/" in c.split(" ")[0])


def test_a_hash_in_an_exec_nodes_command_is_a_bug_not_a_traceback_of_value_error() -> None:
    with pytest.raises(BugError):
        exec_nodes("proxy0", "echo a#b")


def test_the_runbook_refuses_a_bad_name_that_got_past_validation() -> None:
    p = plan()
    bad = NodeContext("-rf", "10.16.100.21", "10.16.100.254", "zz1ar01n01", "10.16.100.11",
                      "zz1ar01n02", "10.16.100.12", "", "")
    ctx = Context("proxy", True, frozenset(), "10.16.100.2", (bad,), TODAY)
    assert p.steps
    with pytest.raises(BugError, match="not a node name"):
        common.steps(runbook_for("proxy"), ctx)
