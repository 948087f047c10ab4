"""nodeswap: upgrade a Pitrix zone's management VMs by replacement (runbook R0-R37)."""

__version__ = "0.1.0"
