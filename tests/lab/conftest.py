"""Shared lab fixtures: a plain-hosts lab and a zone lab, each up once per test session.

    plain_lab   Lab with 6 plain hosts (h0001..h0006), no zone; ``plain_lab.info()`` is lab.json
    zone_lab    Lab running the `default` topology (firstbox, 3 KS hosts, proxy0/1, webservice0/1)

Both are torn down at the end of the session (`Lab.down`, then their state folder is removed)
and skip when not root. Tests that change the zone in ways other tests would notice (faults,
the runbook) bring up their own lab with ``fresh_zone_lab`` (module scope) instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodeswap.lab import Lab

STATE_ROOT = Path("/var/lib/nodeswap-lab")


def _state_dir(kind: str) -> Path:
    return STATE_ROOT / f"pytest-{os.getpid()}-{kind}"


def _lab(kind: str, **kwargs: object) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = Lab.up(_state_dir(kind), **kwargs)  # type: ignore[arg-type]
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


@pytest.fixture(scope="session")
def plain_lab() -> Iterator[Lab]:
    """Six plain hosts (real sshd each, own root), no zone."""
    yield from _lab("plain", hosts=6)


@pytest.fixture(scope="session")
def zone_lab() -> Iterator[Lab]:
    """The default topology, shared by the whole session: do not change the zone in it."""
    yield from _lab("zone", topology="default")


@pytest.fixture(scope="module")
def fresh_zone_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A default-topology lab of this test module's own (for tests that change the zone)."""
    name = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")
    yield from _lab(f"zone-{name}", topology="default")


@pytest.fixture
def topology_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A lab of this test's own, from an indirect parameter ``(topology, net)``."""
    topology, net = request.param
    yield from _lab(f"{request.node.originalname}-{topology}-{net}", topology=topology, net=net)
