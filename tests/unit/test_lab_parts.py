"""The lab's parts without a lab up (issue 12): the fault table is the list of kinds (API,
CLI, README), a role's lab packages are found by role (adding a role is adding a file under
lab/roles), and a topology is checked when read."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from nodeswap.cli import lab_cmd
from nodeswap.errors import LabError
from nodeswap.lab import Lab, roles
from nodeswap.lab.faults import FAULTS, HELP, KINDS
from nodeswap.lab.packages import initial_packages, repo_packages
from nodeswap.lab.topology import TOPOLOGY_DIR, check, load, relocate

README = Path(__file__).parents[2] / "src/nodeswap/lab/README.md"


def test_the_readme_documents_every_fault_kind_and_no_other() -> None:
    text = README.read_text().split("## Fault API", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| ([a-z-]+) \|", text, re.M)
    assert documented[1:] == list(KINDS)  # the first row is the table's header
    rows = re.findall(r"^\| ([a-z-]+) \| (.*?) \| (.*) \|$", text, re.M)[1:]
    assert {k: (p, e) for k, p, e in rows} == HELP  # `lab faults` prints the same table


def test_the_cli_lists_the_kinds_of_the_table() -> None:
    hint = typing.get_type_hints(lab_cmd.fault, include_extras=True)["kind"]
    (argument,) = [m for m in hint.__metadata__ if hasattr(m, "help")]
    assert argument.help.startswith(" | ".join(KINDS) + " (")


def test_an_unknown_fault_is_refused_before_the_controller_is_asked(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"unknown fault 'no-such'.*host-down"):
        Lab(tmp_path).fault("no-such")  # no lab in tmp_path: the table answered
    assert set(FAULTS) == set(KINDS)


def test_role_packages_are_found_by_role() -> None:
    proxy = roles.for_role("proxy")
    assert proxy is not None and "pitrix-ks-proxy" in proxy.packages
    assert roles.for_role("no-such-role") is None
    assert {r.role for r in roles.all_roles()} >= {"proxy", "webservice"}


def test_repo_packages_come_from_every_role_in_build_order() -> None:
    assert repo_packages() == (
        "pitrix-global-conf", "pitrix-alert-agent", "pitrix-hosts", "pitrix-ks-proxy",
        "pitrix-ks-proxy-boss", "pitrix-ks-proxy-boss2", "pitrix-ks-proxy-warehouse",
        "pitrix-ks-webservice")


@pytest.mark.parametrize(("boss", "warehouse", "extra"), [
    (0, False, []), (1, False, ["pitrix-ks-proxy-boss"]),
    (2, True, ["pitrix-ks-proxy-boss2", "pitrix-ks-proxy-warehouse"])])
def test_an_installed_proxy_has_the_zones_components(boss: int, warehouse: bool,
                                                     extra: list[str]) -> None:
    t = {"deploy_boss": boss, "deploy_warehouse": warehouse}
    assert initial_packages("proxy", t) == ["pitrix-hosts", "pitrix-global-conf",
                                            "pitrix-ks-proxy", *extra]
    assert initial_packages("dns", t) == ["pitrix-hosts", "pitrix-global-conf"]


def test_a_new_roles_packages_are_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roles, "_ROLES", dict(roles._ROLES))
    roles.register(roles.RolePackages(role="toy", packages=("pitrix-ks-toy",),
                                      initial=lambda _t: ("pitrix-ks-toy",),
                                      programs={"pitrix-ks-toy": ("toy_server",)}))
    assert "pitrix-ks-toy" in repo_packages()
    assert initial_packages("toy", {})[-1] == "pitrix-ks-toy"


def test_the_builtin_topologies_pass_the_check() -> None:
    for path in sorted(TOPOLOGY_DIR.glob("*.yaml")):
        assert load(path)["zone_id"], path


def _default() -> dict[str, Any]:
    return relocate(yaml.safe_load((TOPOLOGY_DIR / "default.yaml").read_text()), 16)


def test_a_broken_topology_names_every_problem(tmp_path: Path) -> None:
    t = _default()
    t["vms"][0]["physical"] = "nowhere"
    t["vms"][1]["name"] = t["vms"][2]["name"]
    problems = check(t)
    assert any("unknown physical host 'nowhere'" in p for p in problems)
    assert any("used twice" in p for p in problems)
    del t["vip"]
    assert check(t) == ["missing key 'vip'"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(t))
    with pytest.raises(LabError, match="missing key 'vip'"):
        load(path)
