"""The texts of a host key refused (HostKeyError), out of transport/ssh.py (which owns the
asyncssh calls and is at its size limit): a key not in known_hosts, or a host that does not
present the key its run pinned (which run pinned it, when, where, what became of that VM,
whose key the host presented if a run ever pinned it, and the next move). In the operator's
language (issue 13); fingerprints, addresses and run ids are shown as they are."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nodeswap.i18n import _
from nodeswap.plan.model import Target

if TYPE_CHECKING:
    from nodeswap.run.journal import PinRecord

UNKNOWN_KEY = "<unknown key>"


def fingerprint(key: Any) -> str:
    try:
        return str(key.get_fingerprint("sha256"))
    except Exception:  # a key we cannot fingerprint: say so
        return UNKNOWN_KEY


def text_fingerprint(public_key: str) -> str:
    import asyncssh  # noqa: PLC0415 (on first use: start-up)
    try:
        return fingerprint(asyncssh.import_public_key(public_key))
    except (asyncssh.KeyImportError, ValueError):
        return UNKNOWN_KEY


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _pinned_by(pin: PinRecord) -> str:
    return _("run {run}").format(run=pin.run_id) if pin.run_id else \
        _("no run (pinned outside a run)")


def pin_fate(pin: PinRecord) -> str:
    """What became of the VM a pin is for: 'destroyed by rollback of run X at TIME', or
    'still pinned by run X which is STATE'."""
    if pin.retired is not None:
        return _("{reason} at {time}").format(reason=pin.retired_reason or _("retired"),
                                               time=_utc(pin.retired))
    if pin.run_id is None:
        return _("still pinned, outside any run")
    return _("still pinned by run {run} which is {state}").format(
        run=pin.run_id, state=pin.run_state or _("not in this journal"))


def unknown_key_message(target: Target, shown: str, known_hosts: str | None) -> str:
    """The HostKeyError text for a host whose key is not in the known_hosts file."""
    return _("{host} ({address}) presented host key {key}, which is not in known_hosts "
             "({file}): unknown or changed host key. Check the host, then add its key to that "
             "file.").format(host=target.name, address=target.address, key=shown,
                             file=known_hosts or "~/.ssh/known_hosts")


def pinned_key_message(target: Target, shown: str, pinned: str, run_id: str | None,
                       history: Sequence[PinRecord]) -> str:  # fmt: skip
    """The HostKeyError text for a host that does not present the key run ``run_id`` pinned
    for its key_id: which run pinned it, when, where, what became of that VM, whose key the
    host presented if nodeswap ever pinned it, and the next move."""
    mine = [p for p in history if p.run_id == run_id and p.retired is None
            and p.public_key == pinned]  # fmt: skip
    expected = text_fingerprint(pinned)
    if mine:
        pin = mine[-1]
        origin = _("by {who} on {time}, when it first answered at {address} ({fate})").format(
            who=_pinned_by(pin), time=_utc(pin.pinned), address=pin.first_address,
            fate=pin_fate(pin))
    else:
        origin = _("by run {run}").format(run=run_id)
    text = _("{host} ({address}) presented host key {key}, but key_id {key_id!r} is pinned to "
             "{expected} {origin}: this is not the host nodeswap built.").format(
        host=target.name, address=target.address, key=shown, key_id=target.key_id,
        expected=expected, origin=origin)
    known = [p for p in history if text_fingerprint(p.public_key) == shown]
    for p in known[-3:]:
        text += _(" The key it presented was pinned by {who} at {address} on {time}: that VM "
                  "was {fate}.").format(who=_pinned_by(p), address=p.first_address,
                                        time=_utc(p.pinned), fate=pin_fate(p))
    again = _("`nodeswap rollback {run}`, then a new plan").format(run=run_id) if run_id \
        else _("a new plan")
    return text + _(" The run stops. Next: find out who answers at {address} (`ssh-keyscan "
                    "{address}`, the VM's console). If the VM this run built there was destroyed "
                    "or rebuilt outside nodeswap, start over with {again}: a run never re-pins a "
                    "key it holds.").format(address=target.address, again=again)
