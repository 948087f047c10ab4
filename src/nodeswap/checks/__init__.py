"""The checks (R23, R27-R29, R35, R36): fetch is a read-only step elsewhere; here are the
parsers and comparisons, and ``analyze``, the one entry point the executor uses.

Modules: ``findings`` (``Difference``, ``CheckResult``, ``AddressMap``), ``haproxy`` (R27:
the diff engine; its rules in ``haproxy_rules``, the reader in ``haproxy_parse``),
``rcfiles`` (R28), ``supervisor`` (R29/R35), ``vip`` (R23), ``console`` (R36),
``textfile`` (input limits), ``registry`` (``analyze``; its docstring lists the kinds and
options): all pure (tests/unit/test_purity.py). Two modules do I/O and stay out of the
analyzers' imports: ``validate`` (``haproxy -c``) and ``probe`` (an HTTP GET of the console
from this machine).
"""

from __future__ import annotations

from .findings import AddressMap, CheckResult, Difference
from .registry import KINDS, analyze

__all__ = ["KINDS", "AddressMap", "CheckResult", "Difference", "analyze"]
