"""Example zones and specs, shipped inside the package so an installed wheel has them.

``zone/`` and ``zone-vg/`` are settings folders (/pitrix/conf/settings) of sample zones, and
``upgrade.yaml``/``upgrade-vg.yaml`` their specs. They name 10.x addresses: plan them offline
(``nodeswap plan --settings-dir ...``), never apply them. In a source checkout, ``examples/`` at
the root is a link to this folder.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
