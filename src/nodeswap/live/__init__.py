"""The live zone: discovery, live planning, reaching firstbox, the zone checks before and
during a run (other zone, lock, fingerprint, the R20 fence).
"""
