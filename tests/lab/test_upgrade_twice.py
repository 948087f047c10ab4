"""A second upgrade of the same zone after a finished one (issue 11): R21 launches each node
again on the host its first archive is on (the hosts swap), R37 keeps both upgrades' archives
(never overwriting one: dated names when taken) and the first upgrade's ``.Done`` markers are
kept aside, so launch_vms.sh does not skip a node it finds one for."""

from __future__ import annotations

import asyncio
import datetime as _dt

import pytest
from upgrade_kit import zone

from nodeswap.live.planning import plan_live
from nodeswap.live.reach import reach_of
from nodeswap.transport.ssh import SshConnector

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_a_second_upgrade_after_a_finished_one_ends_upgraded_and_keeps_both_archives() -> None:
    with zone("default", tag="twice") as z:
        z.plan()
        assert z.run() == "done", z.errors
        z.assert_upgraded()
        first = {n.name: (n.old_physical_host, n.physical_host) for n in z.plan_.nodes.values()}  # type: ignore[union-attr]
        # the operator plans again (another day: today's R6 backup is the first upgrade's),
        # through nodeswap's own known_hosts, which the first apply brought up to date
        z.new_run()
        z.reach = reach_of(z.lab.dir, None, None, identity_file=None, known_hosts=None,
                           direct=False)
        tomorrow = (_dt.date.today() + _dt.timedelta(days=1)).strftime("%Y%m%d")

        async def again() -> None:
            fb = z.reach.firstbox
            assert fb is not None
            connector = SshConnector(z.reach.ssh)
            try:
                z.plan_, z.snap = await plan_live(connector, fb, z.spec, today=tomorrow)
            finally:
                await connector.close()

        asyncio.run(again())
        assert z.run() == "done", z.errors
        for name, (old_host, new_host) in first.items():
            # the first upgrade's archive on its old host, the second's on the other one
            kept = z.ssh.out(old_host, "ls /pitrix/kernels").split()
            assert {f"old-{name}.img", f"old-{name}.xml", f"old-{name}.Done"} <= set(kept)
            assert f"{name}.img" in kept  # the second upgrade's new VM, launched here again
            again_kept = z.ssh.out(new_host, "ls /pitrix/kernels").split()
            assert {f"old-{name}.img", f"old-{name}.xml"} <= set(again_kept), again_kept
