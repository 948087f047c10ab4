"""The simulated zone (topologies, zone files, stand-in operations). Not written yet: issue 3."""

from __future__ import annotations

from typing import Any

from nodeswap.errors import LabError


class Zone:
    """Placeholder until the zone part of issue 3 lands: refuses to build a zone."""

    def __init__(self, ctl: Any, config: dict[str, Any]) -> None:
        raise LabError("zone topologies are not implemented yet (issue 3); use --hosts N")
