"""Plain lab hosts: real sshd per host, strict host keys, own hostname, own root (issue 3)."""

from __future__ import annotations

import json
import subprocess

import pytest

from nodeswap.errors import LabError
from nodeswap.lab import Lab

pytestmark = pytest.mark.lab


def _ssh(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(lab.info().ssh_command(host, command), capture_output=True,
                          text=True, timeout=30, check=False)


def test_lab_json_contract(plain_lab: Lab) -> None:
    data = json.loads((plain_lab.dir / "lab.json").read_text())
    assert set(data) >= {"firstbox", "hosts", "ssh"}
    assert data["firstbox"] is None
    assert len(data["hosts"]) == 6
    for host in data["hosts"].values():
        assert host["address"].startswith("127.")
        assert host["kind"] == "plain"
    assert set(data["ssh"]) == {"user", "identity_file", "known_hosts"}


def test_every_host_answers_with_strict_host_keys(plain_lab: Lab) -> None:
    info = plain_lab.info()
    for name in info.hosts:
        done = _ssh(plain_lab, name, "hostname; uname -n")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [name, name]


def test_rsa_host_key_is_known_too(plain_lab: Lab) -> None:
    info = plain_lab.info()
    cmd = info.ssh_command("h0001", "true")
    cmd[1:1] = ["-o", "HostKeyAlgorithms=rsa-sha2-512"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def test_host_root_is_its_own(plain_lab: Lab) -> None:
    done = _ssh(plain_lab, "h0002", "cat /etc/hostname; echo $PATH; touch /usr/x 2>&1; "
                "ls /root/.bashrc; grep -c pyenv /root/.bashrc || true; python3 -c 'print(42)'")
    lines = done.stdout.splitlines()
    assert lines[0] == "h0002"
    assert lines[1].startswith("/lab/faults/bin:/lab/bin:")
    assert "Read-only file system" in lines[2]
    assert lines[3:] == ["/root/.bashrc", "0", "42"]


def test_unknown_key_is_refused(plain_lab: Lab, tmp_path: object) -> None:
    info = plain_lab.info()
    cmd = info.ssh_command("h0001", "true")
    cmd[cmd.index(f"UserKnownHostsFile={info.known_hosts}")] = "UserKnownHostsFile=/dev/null"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 255
    assert "Host key verification failed" in done.stderr


def test_up_on_running_lab_says_so(plain_lab: Lab) -> None:
    with pytest.raises(LabError, match="already running"):
        Lab.up(plain_lab.dir, hosts=2)
