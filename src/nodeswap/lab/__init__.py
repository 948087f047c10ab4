"""The lab: a simulated Pitrix zone of real OpenSSH hosts on loopback (see lab/README.md).

Public API: ``Lab`` (up, down, status, info, fault), ``LabInfo``/``LabHost`` (lab.json).
"""

from pathlib import Path

from .api import DEFAULT_STATE_DIR, Lab, LabHost, LabInfo, resolve_topology

# The lab's manual (layout, controller protocol, Fault API), shipped in the wheel beside this file.
README = Path(__file__).resolve().parent / "README.md"

__all__ = ["DEFAULT_STATE_DIR", "README", "Lab", "LabHost", "LabInfo", "resolve_topology"]
