"""The webservice role's lab packages: pitrix-ks-webservice (its supervisor programs only)."""

from __future__ import annotations

from . import RolePackages, register

PACKAGES = register(RolePackages(
    role="webservice",
    packages=("pitrix-ks-webservice",),
    initial=lambda _t: ("pitrix-ks-webservice",),
    programs={"pitrix-ks-webservice": ("ws_server", "api_server", "io_server")},
))
