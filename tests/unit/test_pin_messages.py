"""The message for a host that does not present the key its run pinned (issue 9): which run
pinned it, when, at which address, what became of that VM, whose key the host presented if a
run ever pinned it, and the next move. Real keys, a real journal; no network."""

from __future__ import annotations

import time
from pathlib import Path

import asyncssh

from nodeswap.plan.model import Plan, Step, Target
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal
from nodeswap.run.schema import RETIRED_BY_ROLLBACK
from nodeswap.transport.keymessages import pin_fate, pinned_key_message

TARGET = Target("proxy1-new", "10.0.0.7", "proxy1-new", pin=True)


def key() -> tuple[str, str]:
    """(openssh public key text, its SHA256 fingerprint)."""
    k = asyncssh.generate_private_key("ssh-ed25519")
    return k.export_public_key("openssh").decode().strip(), k.get_fingerprint("sha256")


def utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def journal(tmp: Path) -> Journal:
    j = Journal.open(tmp / "j.sqlite")
    plan = Plan("proxy", "4.3.0", ("xenial", "16.04.5"), {}, {TARGET.name: TARGET},
                (Step("a", "p", "R1", "a", TARGET.name, command="true"),))  # fmt: skip
    for rid in ("r-old", "r-new"):
        j.create_run(plan, operator="op", run_id=rid)
    return j


def test_the_old_vm_of_a_rolled_back_run_answers(tmp_path: Path) -> None:
    """The presented key is the one a rolled-back run pinned: its rollback said the VM was
    destroyed, yet something answers with its key. The message says both runs' stories."""
    j = journal(tmp_path)
    (old, old_fp), (new, new_fp) = key(), key()
    j.pin_key("proxy1-new", old, "10.0.0.7", "r-old")
    j.set_run_state("r-old", J.RUN_ROLLED_BACK)
    [gone] = j.retire_pins("r-old", RETIRED_BY_ROLLBACK.format(run_id="r-old"))
    assert gone.retired is not None
    j.pin_key("proxy1-new", new, "10.0.0.7", "r-new")
    [mine] = [p for p in j.pins("proxy1-new") if p.run_id == "r-new"]
    text = pinned_key_message(TARGET, old_fp, new, "r-new", j.pins("proxy1-new"))
    assert text.startswith(f"proxy1-new (10.0.0.7) presented host key {old_fp}, but key_id "
                           f"'proxy1-new' is pinned to {new_fp} by run r-new on "
                           f"{utc(mine.pinned)}, when it first answered at 10.0.0.7 (still "
                           "pinned by run r-new which is running): this is not the host "
                           "nodeswap built.")  # fmt: skip
    assert (f"The key it presented was pinned by run r-old at 10.0.0.7 on {utc(gone.pinned)}: "
            f"that VM was destroyed by rollback of run r-old at {utc(gone.retired)}.") in text
    assert "`nodeswap rollback r-new`, then a new plan" in text
    assert "ssh-keyscan 10.0.0.7" in text


def test_an_unknown_key_names_only_the_pin(tmp_path: Path) -> None:
    j = journal(tmp_path)
    (pinned, pinned_fp), (_, stranger_fp) = key(), key()
    j.pin_key("proxy1-new", pinned, "10.0.0.7", "r-new")
    j.set_run_state("r-new", J.RUN_GATE)
    text = pinned_key_message(TARGET, stranger_fp, pinned, "r-new", j.pins("proxy1-new"))
    assert f"is pinned to {pinned_fp} by run r-new on " in text
    assert "(still pinned by run r-new which is gate)" in text
    assert "The key it presented" not in text


def test_fate_of_a_pin(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.pin_key("proxy1-new", key()[0], "10.0.0.7", "r-old")
    j.pin_key("vm:x", key()[0], "10.0.0.9", None)
    live = {p.key_id: p for p in j.pins()}
    assert pin_fate(live["proxy1-new"]) == "still pinned by run r-old which is running"
    assert pin_fate(live["vm:x"]) == "still pinned, outside any run"
    [gone] = j.retire_pins("r-old", RETIRED_BY_ROLLBACK.format(run_id="r-old"))
    assert gone.retired is not None
    assert pin_fate(gone) == f"destroyed by rollback of run r-old at {utc(gone.retired)}"
