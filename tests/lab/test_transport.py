"""The transport contract, the same tests on the local transport and on SSH (the lab), plus
SSH-only behaviour: jump host, host keys (strict, pinned across an address change, changed
key refused), unreachable host, dropped connection, reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nodeswap.errors import HostKeyError, TransportError
from nodeswap.lab import Lab
from nodeswap.plan.model import Target
from nodeswap.run.journal import Journal
from nodeswap.shell import cmd
from nodeswap.transport.base import OUTPUT_CAP, Connector
from nodeswap.transport.local import LocalConnector
from nodeswap.transport.ssh import SshConfig, SshConnector

pytestmark = pytest.mark.lab


def ssh_config(lab: Lab, *, jump: bool = True, known_hosts: str | None = None) -> SshConfig:
    info = lab.info()
    first = sorted(info.hosts)[0]
    jt = Target(first, info.address(first), first, via_firstbox=False) if jump else None
    return SshConfig(
        identity_files=(info.identity_file,), known_hosts=known_hosts or info.known_hosts,
        jump=jt, connect_timeout=5.0, connect_attempts=2, backoff=0.1,
    )  # fmt: skip


def target(lab: Lab, name: str, **kw: Any) -> Target:
    return Target(name, lab.info().address(name), name, **kw)


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


@pytest.fixture(params=["local", "ssh"])
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[Connector, Target]]:
    if request.param == "local":
        yield LocalConnector(), Target("localhost", "127.0.0.1", "local")
    else:
        lab: Lab = request.getfixturevalue("plain_lab")
        yield SshConnector(ssh_config(lab)), target(lab, "h0002")


def test_result_is_subprocess_shaped(rig: tuple[Connector, Target]) -> None:
    conn, t = rig

    async def go() -> None:
        tr = await conn.transport(t)
        res = await tr.run("echo out; echo err >&2; exit 7", timeout=10)
        assert (res.exit_status, res.stdout, res.stderr, res.host) == (7, "out\n", "err\n", t.name)
        res = await tr.run("cat; printf done", stdin="line1\nline2\n", timeout=10)
        assert res.ok and res.stdout == "line1\nline2\ndone"
        await conn.close()

    run(go)


def test_quoted_arguments_arrive_intact(rig: tuple[Connector, Target]) -> None:
    conn, t = rig
    nasty = ["a b", "$(touch /tmp/pwned)", "it's", '"q"', "x;y", "*", "\\n"]

    async def go() -> None:
        tr = await conn.transport(t)
        res = await tr.run(cmd("printf", "%s\\n", *nasty), timeout=10)
        assert res.stdout.splitlines() == nasty
        await conn.close()

    run(go)


def test_timeout_abandons_the_command(rig: tuple[Connector, Target]) -> None:
    conn, t = rig

    async def go() -> None:
        tr = await conn.transport(t)
        res = await tr.run("echo started; sleep 30", timeout=0.5)
        assert res.timed_out and res.exit_status is None and res.duration < 5
        again = await tr.run("echo still usable", timeout=10)
        assert again.stdout == "still usable\n"
        await conn.close()

    run(go)


def test_output_is_streamed_whole_and_capped_in_the_result(rig: tuple[Connector, Target]) -> None:
    conn, t = rig
    chunks: list[str] = []

    async def go() -> None:
        tr = await conn.transport(t)
        res = await tr.run("head -c 600000 /dev/zero | tr '\\0' x", timeout=30,
                           sink=lambda stream, text: chunks.append(text))  # fmt: skip
        assert res.ok and res.truncated and len(res.stdout) == OUTPUT_CAP
        assert sum(len(c) for c in chunks) == 600000
        await conn.close()

    run(go)


def test_put_and_get_round_trip(rig: tuple[Connector, Target], tmp_path: Path) -> None:
    conn, t = rig
    path = str(tmp_path / "f.txt") if isinstance(conn, LocalConnector) else "/root/nodeswap-put"
    data = "héllo\n$HOME 'x'\n".encode()

    async def go() -> None:
        tr = await conn.transport(t)
        await tr.put(data, path, mode=0o600)
        assert await tr.get(path) == data
        with pytest.raises(TransportError, match="cannot read"):
            await tr.get(path + ".missing")
        await conn.close()

    run(go)


# --- SSH only -------------------------------------------------------------------------------


def test_jump_host_carries_the_connection(plain_lab: Lab) -> None:
    """Via a working jump host the host answers; via a dead one it cannot be reached (so the
    traffic really goes through the jump host); direct, the dead jump host does not matter."""

    async def go() -> None:
        good = SshConnector(ssh_config(plain_lab, jump=True))
        tr = await good.transport(target(plain_lab, "h0003"))
        assert (await tr.run("hostname", timeout=10)).stdout == "h0003\n"
        await good.close()
        dead = Target("deadjump", "127.20.250.250", "deadjump", via_firstbox=False)
        cfg = ssh_config(plain_lab, jump=True)
        bad = SshConnector(SshConfig(**{**cfg.__dict__, "jump": dead}))
        with pytest.raises(TransportError, match="deadjump"):
            await bad.transport(target(plain_lab, "h0003"))
        direct = await bad.transport(target(plain_lab, "h0003", via_firstbox=False))
        assert (await direct.run("hostname", timeout=10)).ok
        await bad.close()

    run(go)


def test_one_connection_is_reused(plain_lab: Lab) -> None:
    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab))
        tr = await conn.transport(target(plain_lab, "h0002"))
        ports = {(await tr.run("echo $SSH_CLIENT", timeout=10)).stdout.split()[1] for _ in range(3)}
        assert len(ports) == 1
        await conn.close()

    run(go)


def test_unknown_host_key_is_refused(plain_lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")

    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab, jump=False, known_hosts=str(empty)))
        with pytest.raises(
            HostKeyError, match=r"h0002 \(127\.[0-9.]+\) presented host key SHA256:"
        ):
            await conn.transport(target(plain_lab, "h0002"))
        await conn.close()

    run(go)


def test_changed_host_key_is_refused(plain_lab: Lab, tmp_path: Path) -> None:
    """known_hosts lists h0002's keys under h0003's address: h0003 answers with its own."""
    info = plain_lab.info()
    a2, a3 = info.address("h0002"), info.address("h0003")
    lines = Path(info.known_hosts).read_text().splitlines()
    swapped = [ln.split(" ", 1)[1] for ln in lines if ln.split(" ", 1)[0].split(",")[-1] == a2
               or a2 in ln.split(" ", 1)[0].split(",")]  # fmt: skip
    kh = tmp_path / "known_hosts"
    kh.write_text("".join(f"{a3} {rest}\n" for rest in swapped))

    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab, jump=False, known_hosts=str(kh)))
        with pytest.raises(HostKeyError, match="not in known_hosts"):
            await conn.transport(target(plain_lab, "h0003"))
        await conn.close()

    run(go)


def test_pinned_key_follows_the_key_id_across_an_address_change(
    plain_lab: Lab, tmp_path: Path
) -> None:
    """A new VM (pin=True) is trusted once at its temporary address and its key pinned; at
    another address (after the switch, R31-R33) the same key_id must present that key."""
    journal = Journal.open(tmp_path / "j.sqlite")
    empty = tmp_path / "known_hosts"
    empty.write_text("")  # nothing known: only pinning can let us in
    info = plain_lab.info()

    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab, jump=False, known_hosts=str(empty)),
                            keys=journal, run_id="r1")  # fmt: skip
        new_vm = Target("proxy0-new", info.address("h0004"), "vm:proxy0", pin=True)
        tr = await conn.transport(new_vm)
        assert (await tr.run("hostname", timeout=10)).stdout == "h0004\n"
        pinned = journal.pinned_key("vm:proxy0", "r1")
        assert pinned is not None and pinned.startswith(("ssh-ed25519", "ssh-rsa"))
        assert journal.pinned_key("vm:proxy0", "r2") is None  # pins belong to their run
        # the same machine under another target name: the pinned key is what lets it in
        same = Target("proxy0", info.address("h0004"), "vm:proxy0")
        assert (await (await conn.transport(same)).run("hostname", timeout=10)).ok
        # another machine answering for that key_id (a different key): refused
        impostor = Target("proxy0", info.address("h0005"), "vm:proxy0")
        with pytest.raises(HostKeyError, match="is pinned to"):
            await conn.transport(impostor)
        # pin=True does not re-trust once a key is pinned
        again = Target("proxy0-new", info.address("h0005"), "vm:proxy0", pin=True)
        with pytest.raises(HostKeyError, match="is pinned to") as refused:
            await conn.transport(again)
        # the message says which run pinned the key, where, and what became of that VM
        assert "by run r1 on " in str(refused.value)
        assert f"first answered at {info.address('h0004')}" in str(refused.value)
        assert "still pinned by run r1" in str(refused.value)
        await conn.close()
        # another run (r2) has no pin for vm:proxy0: its pin=True target is trusted on first
        # sight at h0005 and pinned for r2, while r1's pin stays as it was
        conn2 = SshConnector(ssh_config(plain_lab, jump=False, known_hosts=str(empty)),
                             keys=journal, run_id="r2")  # fmt: skip
        tr2 = await conn2.transport(again)
        assert (await tr2.run("hostname", timeout=10)).stdout == "h0005\n"
        await conn2.close()

    run(go)
    r1, r2 = journal.pinned_key("vm:proxy0", "r1"), journal.pinned_key("vm:proxy0", "r2")
    assert r1 is not None and r2 is not None and r1 != r2


def test_unreachable_host_is_a_transport_error(plain_lab: Lab) -> None:
    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab, jump=False))
        with pytest.raises(TransportError, match=r"nowhere \(127\.20\.250\.250\): cannot connect"):
            await conn.transport(Target("nowhere", "127.20.250.250", "x"))
        await conn.close()

    run(go)


def test_dropped_connection_raises_then_reconnects(plain_lab: Lab) -> None:
    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab))
        t = target(plain_lab, "h0002")
        tr = await conn.transport(t)
        # kill this connection's sshd session process: the connection drops mid-command
        with pytest.raises(TransportError, match="connection lost"):
            await tr.run("echo bye; kill -9 $PPID; sleep 5", timeout=20)
        res = await tr.run("echo back", timeout=10)  # reopened on demand
        assert res.stdout == "back\n"
        await conn.close()

    run(go)


def test_a_known_hosts_key_is_kept_for_the_report(plain_lab: Lab, tmp_path: Path) -> None:
    """Issue 13: a run's connection to a known host (an old node) keeps the key it presented
    (checked against known_hosts) in the journal's seen_keys, so the report still shows the
    old node's key after its replacement; a pinned host's key is a pin, not a seen key."""
    journal = Journal.open(tmp_path / "j.sqlite")
    info = plain_lab.info()
    old = Target("proxy0-old", info.address("h0002"), "proxy0-old")
    new = Target("proxy0-new", info.address("h0003"), "proxy0-new", pin=True)

    async def go() -> None:
        conn = SshConnector(ssh_config(plain_lab, jump=False), keys=journal, run_id="r1")
        for t in (old, new, old):  # the second visit reuses the connection: one row
            assert (await (await conn.transport(t)).run("true", timeout=10)).ok
        await conn.forget(old)  # a reconnection sees the same key: still one row
        assert (await (await conn.transport(old)).run("true", timeout=10)).ok
        await conn.close()

    run(go)
    seen = journal.seen_keys("r1")
    assert list(seen) == ["proxy0-old"]
    kind, blob = seen["proxy0-old"].split()[:2]
    known = Path(info.known_hosts).read_text().split("\n")
    assert any(line.split()[1:3] == [kind, blob] for line in known
               if line and info.address("h0002") in line.split()[0].split(","))
    assert journal.pinned_keys("r1").keys() == {"proxy0-new"}
