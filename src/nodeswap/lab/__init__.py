"""The lab: a simulated Pitrix zone of real OpenSSH hosts on loopback (see lab/README.md).

Public API: ``Lab`` (up, down, status, info, fault), ``LabInfo``/``LabHost`` (lab.json).
"""

from .api import DEFAULT_STATE_DIR, Lab, LabHost, LabInfo, resolve_topology

__all__ = ["DEFAULT_STATE_DIR", "Lab", "LabHost", "LabInfo", "resolve_topology"]
