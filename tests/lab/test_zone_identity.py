"""Issue 9 on real labs: another zone's plan is refused before any connection beyond
firstbox, and no run is recorded; the lab's sshd forwards only to the lab's own hosts;
`nodeswap trust` at a terminal.

Two labs of one topology side by side are twins but for their addresses (each lab takes its
own 127.N block) and their host keys. The host-key case (same address, another machine) is
made by giving lab A's firstbox new host keys, as a reinstalled or replaced firstbox would
have. Connections are counted in each host's sshd log: sshd logs every connection, even one
that only reads the host key."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pexpect
import pytest

from nodeswap.errors import EXIT_INPUT
from nodeswap.lab import Lab
from nodeswap.lab.hostroot import HostPaths, generate_host_keys
from nodeswap.live.reach import make_reach
from nodeswap.run.runs import read_plan, start

pytestmark = pytest.mark.lab
NODESWAP = [sys.executable, "-m", "nodeswap"]
ROOT = Path(__file__).resolve().parents[2]
STATE_ROOT = Path("/var/lib/nodeswap-lab")
SPEC = "role: proxy\ntarget: {os_name: bionic, os_version: \"18.04.6\"}\n"


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NODESWAP, *args], capture_output=True, text=True, timeout=180,
                          check=False, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def labs() -> Iterator[tuple[Lab, Lab]]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    up: list[Lab] = []
    try:
        for tag in ("a", "b"):
            up.append(Lab.up(STATE_ROOT / f"pytest-{os.getpid()}-zoneid-{tag}",
                             topology="default"))
        yield up[0], up[1]
    finally:
        for lab in up:
            lab.down()
            lab.cleanup()


def firstbox(lab: Lab) -> str:
    info = lab.info()
    assert info.firstbox is not None
    return info.address(info.firstbox)


def log_sizes(*labs: Lab) -> dict[str, int]:
    return {str(p): p.stat().st_size for lab in labs
            for p in sorted((lab.dir / "hostdata").glob("*/sshd.log"))}  # fmt: skip


def grown(before: dict[str, int]) -> dict[str, str]:
    """The new text of every sshd log that grew since ``before``."""
    out = {}
    for path, size in before.items():
        with open(path, "rb") as f:
            f.seek(size)
            new = f.read().decode(errors="replace")
        if new:
            out[Path(path).parent.name] = new
    return out


@pytest.fixture(scope="module")
def plan_a(labs: tuple[Lab, Lab], tmp_path_factory: pytest.TempPathFactory) -> Path:
    a, _ = labs
    tmp = tmp_path_factory.mktemp("plans")
    (tmp / "spec.yaml").write_text(SPEC)
    done = ns("plan", "--lab", str(a.dir), "--spec", str(tmp / "spec.yaml"),
              "--out", str(tmp / "plan-a.json"))
    assert done.returncode == 0, done.stderr
    return tmp / "plan-a.json"


def test_a_plan_names_the_zone_it_was_made_on(labs: tuple[Lab, Lab], plan_a: Path) -> None:
    a, _ = labs
    zone = json.loads(plan_a.read_text())["zone"]
    keygen = subprocess.run(["ssh-keygen", "-lf", str(HostPaths.of(a.dir, "firstbox")
                                                     .host_key("ed25519")) + ".pub"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert zone == {"firstbox": firstbox(a), "zone_ids": ["pek3a"], "offline": False,
                    "host_key": f"ssh-ed25519 {keygen[1]}"}
    assert json.loads((a.dir / "nodeswap" / "zone.json").read_text())["zone_ids"] == ["pek3a"]


def test_another_labs_plan_is_refused_before_any_connection(labs: tuple[Lab, Lab],
                                                            plan_a: Path) -> None:
    a, b = labs
    assert firstbox(a) != firstbox(b)
    before = log_sizes(a, b)
    done = ns("apply", str(plan_a), "--lab", str(b.dir), "--yes")
    assert done.returncode == EXIT_INPUT, done.stderr
    assert f"made on firstbox {firstbox(a)}" in done.stderr
    assert f"--lab {b.dir} is firstbox {firstbox(b)}" in done.stderr
    assert grown(before) == {}  # no connection at all, to either lab
    assert ns("status", "--lab", str(b.dir)).stdout.startswith("no runs under")
    assert not list(b.dir.glob("nodeswap/*.journal.sqlite"))


def test_an_offline_plan_is_refused_before_any_connection(labs: tuple[Lab, Lab],
                                                          tmp_path: Path) -> None:
    _, b = labs
    out = tmp_path / "offline.json"
    made = ns("plan", "--settings-dir", str(ROOT / "examples/zone"), "--installer-version",
              "4.3.1", "--components", "boss2,warehouse", "--spec",
              str(ROOT / "examples/upgrade.yaml"), "--seed", "1", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert json.loads(out.read_text())["zone"]["offline"] is True
    before = log_sizes(b)
    done = ns("apply", str(out), "--lab", str(b.dir), "--yes")
    assert done.returncode == EXIT_INPUT, done.stderr
    assert "was made offline" in done.stderr and "firstbox 10.16.100.2" in done.stderr
    assert grown(before) == {}
    assert ns("status", "--lab", str(b.dir)).stdout.startswith("no runs under")


async def _forward(lab: Lab, to: str) -> str:
    """Ask lab's firstbox to forward to ``to``:22; the banner, or the refusal."""
    info = lab.info()
    async with asyncssh.connect(firstbox(lab), known_hosts=info.known_hosts,
                                client_keys=[info.identity_file], username="root") as conn:
        try:
            reader, writer = await conn.open_connection(to, 22)
        except asyncssh.ChannelOpenError as exc:
            return f"refused: {exc.reason}"
        banner = await reader.readline()
        writer.close()
        return bytes(banner).decode(errors="replace")


def test_the_labs_firstbox_forwards_only_to_the_labs_hosts(labs: tuple[Lab, Lab]) -> None:
    a, b = labs
    other = a.info().address("proxy0")
    assert asyncio.run(_forward(b, b.info().address("proxy0"))).startswith("SSH-2.0-")
    for to in (other, "127.255.255.254"):
        before = log_sizes(b)
        assert asyncio.run(_forward(b, to)).startswith("refused")
        log = grown(before)["firstbox"]
        assert f"to connect to host {to} port 22, but the request was denied" in log


def test_a_twin_at_the_same_address_is_refused_by_its_host_key(labs: tuple[Lab, Lab],
                                                               plan_a: Path) -> None:
    """Lab A's firstbox gets new host keys (another machine at its address): apply and
    resume refuse, naming both keys, after one key read from firstbox and nothing else."""
    a, _ = labs
    plan = read_plan(plan_a)
    # a run recorded while firstbox was still the plan's (resume is checked below)
    journal, run_id = asyncio.run(start(plan, reach=make_reach(lab=a.dir, firstbox=None),
                                        state_dir=a.dir / "nodeswap"))
    journal.close()
    a.fault("host-down", host="firstbox")
    paths = HostPaths.of(a.dir, "firstbox")
    for kind in ("ed25519", "rsa"):
        paths.host_key(kind).unlink()
        paths.host_key(kind).with_suffix(".pub").unlink()
    generate_host_keys(paths, ("ed25519", "rsa"))
    a.clear_fault("host-down", host="firstbox")
    assert plan.zone is not None and plan.zone.host_key is not None
    before = log_sizes(a)
    done = ns("apply", str(plan_a), "--lab", str(a.dir), "--yes")
    assert done.returncode == EXIT_INPUT, done.stderr
    assert f"with host key {plan.zone.host_key}" in done.stderr
    assert "presents host key ssh-ed25519 SHA256:" in done.stderr
    log = grown(before)
    assert list(log) == ["firstbox"], log  # nothing but firstbox was contacted
    assert log["firstbox"].count("[preauth]") == 1 and "Accepted" not in log["firstbox"]
    listing = ns("status", "--lab", str(a.dir)).stdout.splitlines()
    assert len(listing) == 1 and listing[0].split()[:2] == [run_id, "pek3a"]  # none new
    before = log_sizes(a)
    again = ns("resume", run_id, "--lab", str(a.dir), "--yes")
    assert again.returncode == EXIT_INPUT, again.stderr
    assert f"run {run_id} was made on firstbox {firstbox(a)}" in again.stderr
    assert list(grown(before)) == ["firstbox"]


def test_trust_at_a_terminal(labs: tuple[Lab, Lab], tmp_path: Path) -> None:
    """No: nothing recorded, exit 1. Yes: the key it showed is in nodeswap's known_hosts for
    that firstbox, and plain OpenSSH checking strictly against that file logs in."""
    _, b = labs
    fb = firstbox(b)
    env = {**os.environ, "NODESWAP_STATE_DIR": str(tmp_path), "HOME": str(tmp_path)}
    pub = HostPaths.of(b.dir, "firstbox").host_key("ed25519").with_suffix(".pub")
    want = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                          check=True).stdout.split()[1]
    own = tmp_path / fb / "known_hosts"
    for answer, code in (("n", 1), ("y", 0)):
        child = pexpect.spawn(NODESWAP[0], [*NODESWAP[1:], "trust", "--firstbox", f"root@{fb}"],
                              env=env, encoding="utf-8", timeout=60)  # fmt: skip
        child.expect(r"presents host key ssh-ed25519 (SHA256:\S+)")
        assert child.match.group(1) == want
        child.expect(r"Trust this key for .*\? \[y/N\]: ")
        child.sendline(answer)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == code, child.before
        if answer == "n":
            assert "not trusted: nothing recorded" in str(child.before)
            assert not own.exists()
    assert own.read_text() == f"{fb} {pub.read_text().split()[0]} {pub.read_text().split()[1]}\n"
    info = b.info()
    login = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                            "-o", f"UserKnownHostsFile={own}", "-i", info.identity_file,
                            f"root@{fb}", "hostname"],
                           capture_output=True, text=True, timeout=30, check=False)
    assert login.returncode == 0 and login.stdout.strip() == "qingcloud-firstbox", login.stderr
    again = subprocess.run([*NODESWAP, "trust", "--firstbox", f"root@{fb}", "-y", "--json"],
                           capture_output=True, text=True, timeout=60, env=env, check=False)
    assert again.returncode == 0, again.stderr  # --json: the result on stdout, words on stderr
    assert json.loads(again.stdout) == {"firstbox": fb, "key": f"ssh-ed25519 {want}",
                                        "known_hosts": str(own), "recorded": False,
                                        "already_trusted": True}
    assert "is already trusted" in again.stderr
