"""Before R22: which VM firstbox reaches by a node's name (issue 10). update.sh and
exec_nodes.sh go by name; the host there must present the key pinned at the temporary
address, or R22-R26 would install onto the old VM (R20)."""

from __future__ import annotations

import json

import pytest

from nodeswap.checks import analyze
from nodeswap.errors import InputError

NEW = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEWNEWNEWNEW root@proxy0.2"
OLD = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLDOLD"
OPTS = {"node": "proxy0", "temporary": "10.16.100.254", "old": "10.16.100.21",
        "gather": "proxy0-new=r22-keys-proxy0"}
REF = json.dumps({"proxy0-new": NEW + "\nssh-rsa AAAAB3NzaRSA root@proxy0.2\n"})


def look(address: str, key: str | None) -> str:
    """firstbox's ``getent hosts proxy0`` then ``ssh-keyscan proxy0`` output."""
    scan = f"proxy0 {' '.join(key.split()[:2])}\n" if key else ""
    return f"{address}   proxy0.mgmt.pitrix.yunify.com proxy0\n{scan}"


def test_the_name_reaches_the_pinned_new_vm() -> None:
    assert analyze("name_reach", look("10.16.100.254", NEW), REF, OPTS).findings == ()


def test_the_name_on_the_old_vm_stops_with_the_remedy() -> None:
    res = analyze("name_reach", look("10.16.100.21", OLD), REF, OPTS)
    assert not res.ok
    (f,) = res.findings
    assert "the old VM" in f.reason and "R20 breach" in f.reason
    assert "getent hosts proxy0" in f.reason and "10.16.100.254" in f.reason


def test_another_key_at_the_temporary_address_is_not_the_new_vm() -> None:
    res = analyze("name_reach", look("10.16.100.254", OLD), REF, OPTS)
    assert not res.ok and "not the new VM's" in res.findings[0].reason


def test_unresolved_or_silent_names_stop() -> None:
    assert "cannot resolve" in analyze("name_reach", "", REF, OPTS).findings[0].reason
    silent = analyze("name_reach", look("10.16.100.254", None), REF, OPTS)
    assert "no ssh host answers" in silent.findings[0].reason


def test_the_new_vm_keys_are_required() -> None:
    with pytest.raises(InputError):
        analyze("name_reach", look("10.16.100.254", NEW), None, OPTS)
