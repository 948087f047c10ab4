"""The whole upgrade, end to end on the lab, for every topology (issue 6): discovery, live
plan, apply with every gate approved, and the verified end state (R2-R37)."""

from __future__ import annotations

import pytest
from upgrade_kit import zone

from nodeswap.runbooks import components_of

pytestmark = pytest.mark.lab

# topology -> (R19: installer < 4.3.0, components the old proxies' packages show: R24-R26)
TOPOLOGIES = {
    "default": (False, {"boss2"}),
    "vg-same-24": (False, {"boss2"}),
    "vg-other-24": (False, {"boss2"}),
    "installer-4.2": (True, {"boss"}),
    "boss1-warehouse": (False, {"boss", "warehouse"}),
    "sub-region": (False, {"boss2"}),
}
COMPONENT_RULES = {"boss": "R24", "boss2": "R25", "warehouse": "R26"}


# default in make test; the others in make test-slow (vg-other-24's whole upgrade also ends in
# the verified state in make test, killed twice on the way: tests/lab/test_crash_resume_vg.py)
QUICK = ("default",)


@pytest.mark.parametrize("topology", [t if t in QUICK else pytest.param(t, marks=pytest.mark.slow)
                                      for t in TOPOLOGIES])
def test_upgrade_ends_in_the_verified_state(topology: str) -> None:
    old_tools, components = TOPOLOGIES[topology]
    with zone(topology) as z:
        plan = z.plan()
        assert z.snap is not None and set(components_of(z.snap)) == components
        rules = {s.rule for s in plan.steps}
        assert ("R19" in rules) == old_tools and ("R18" in rules) != old_tools
        for comp, rule in COMPONENT_RULES.items():
            assert (rule in rules) == (comp in components), rule
        assert z.run() == "done", z.errors
        z.assert_upgraded()
        if topology == "default":  # nodeswap's own known_hosts learnt the switched keys
            after = z.rediscover()
            assert all(n.error is None for n in after.old_nodes.values()), after.old_nodes
            assert {p for n in after.old_nodes.values() for p in n.packages} >= {
                "pitrix-ks-proxy"}
