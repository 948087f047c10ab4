"""The shared connection options' precedence, in-process: a config file's value (click's
default_map, as nodeswap.cli.main passes it) < NODESWAP_* < the command line; --lab drops
configured connection values; a configured user yields to a USER@ typed in --firstbox;
NODESWAP_IDENTITY splits at spaces. The program's own use: tests/test_cli_config.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from nodeswap.cli.options import FirstboxOpt, IdentityOpt, LabOpt, UserOpt

app = typer.Typer()
seen: list[tuple[object, ...]] = []


@app.command("probe")
def probe(lab: LabOpt = None, firstbox: FirstboxOpt = None, user: UserOpt = None,
          identity_file: IdentityOpt = None) -> None:  # fmt: skip
    seen.append((lab, firstbox, user, identity_file))


@app.command("other")
def other() -> None:
    """(a group, so `probe` is named on the command line as in nodeswap)"""


CONFIG = {"probe": {"firstbox": "root@10.0.0.5", "user": "cfg", "identity_file": ["/cfg/key"]}}


def got(monkeypatch: pytest.MonkeyPatch, *args: str, env: dict[str, str] | None = None,
        config: bool = True) -> tuple[object, ...]:
    for var in ("NODESWAP_FIRSTBOX", "NODESWAP_USER", "NODESWAP_IDENTITY"):
        monkeypatch.delenv(var, raising=False)
    for var, value in (env or {}).items():
        monkeypatch.setenv(var, value)
    seen.clear()
    app(["probe", *args], standalone_mode=False, default_map=CONFIG if config else None)
    return seen[0]


def test_config_then_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    assert got(monkeypatch, config=False) == (None, None, None, None)
    assert got(monkeypatch) == (None, "root@10.0.0.5", "cfg", [Path("/cfg/key")])
    env = {"NODESWAP_FIRSTBOX": "10.0.0.6", "NODESWAP_USER": "envuser",
           "NODESWAP_IDENTITY": "/env/a /env/b"}
    assert got(monkeypatch, env=env) == (None, "10.0.0.6", "envuser",
                                         [Path("/env/a"), Path("/env/b")])
    assert got(monkeypatch, "--firstbox", "10.0.0.7", "--user", "me", "-i", "/x", env=env) == (
        None, "10.0.0.7", "me", [Path("/x")])


def test_lab_drops_configured_connection_values(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"NODESWAP_FIRSTBOX": "10.0.0.6"}
    assert got(monkeypatch, "--lab", "/l", env=env) == (Path("/l"), None, None, None)
    typed = got(monkeypatch, "--lab", "/l", "--firstbox", "10.0.0.7", "--user", "me")
    assert typed == (Path("/l"), "10.0.0.7", "me", None)  # typed ones stay (and are refused later)


def test_a_configured_user_yields_to_the_user_typed_in_firstbox(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    assert got(monkeypatch, "--firstbox", "ops@10.0.0.7")[1:3] == ("ops@10.0.0.7", None)
    assert got(monkeypatch, "--firstbox", "10.0.0.7")[1:3] == ("10.0.0.7", "cfg")
    assert got(monkeypatch, "--firstbox", "ops@10.0.0.7", env={"NODESWAP_USER": "e"})[2] is None
    assert got(monkeypatch, "--firstbox", "ops@10.0.0.7", "--user", "me")[2] == "me"
