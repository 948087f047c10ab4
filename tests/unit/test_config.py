"""The config loader (nodeswap.config), in-process: which files are read and in what order,
refusals (unsafe files, unknown keys, bad values: exit 2 naming file and line), and what the
values become (option defaults, NODESWAP_STATE_DIR / NODESWAP_LANG). The CLI's use of it
(precedence against variables and flags, --lab) is in tests/test_cli_config.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nodeswap import config
from nodeswap.errors import InputError

UID = os.geteuid()


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def problems(exc: pytest.ExceptionInfo[InputError]) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_user_file_overrides_the_system_file_key_by_key(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    system = write(tmp_path / "etc/config.yaml", "firstbox: root@10.0.0.2\nuser: ops\n")
    monkeypatch.setattr(config, "SYSTEM_FILE", system)
    write(tmp_path / "home/.config/nodeswap/config.yaml",
          "# mine\nuser: me\nidentity: ~/.ssh/id_ed25519\nlanguage: zh\n")
    cfg = config.load({"HOME": str(tmp_path / "home")}, UID)
    assert cfg.values == {"firstbox": "root@10.0.0.2", "user": "me",
                          "identity": [str(Path("~/.ssh/id_ed25519").expanduser())],
                          "language": "zh"}
    assert cfg.origin["firstbox"] == str(system) and cfg.origin["user"].endswith(
        "home/.config/nodeswap/config.yaml")
    assert config.option_defaults(cfg) == {"firstbox": "root@10.0.0.2", "user": "me",
                                           "identity_file": cfg.values["identity"]}
    # XDG_CONFIG_HOME moves the user's file
    cfg = config.load({"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path)}, UID)
    assert cfg.values == {"firstbox": "root@10.0.0.2", "user": "ops"}


def test_nodeswap_config_names_one_file_or_none(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "SYSTEM_FILE", write(tmp_path / "sys.yaml", "user: sys\n"))
    one = write(tmp_path / "one.yaml", "known_hosts: /k\nstate_dir: /s\n")
    home = {"HOME": str(tmp_path)}
    assert config.load({**home, "NODESWAP_CONFIG": str(one)}, UID).values == {
        "known_hosts": "/k", "state_dir": "/s"}
    assert config.load({**home, "NODESWAP_CONFIG": "none"}, UID).values == {}
    assert config.load(home, UID).values == {"user": "sys"}
    with pytest.raises(InputError) as exc:
        config.load({"NODESWAP_CONFIG": str(tmp_path / "missing.yaml")}, UID)
    assert problems(exc) == [f"{tmp_path / 'missing.yaml'}: no such config file "
                             "(NODESWAP_CONFIG)"]


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_can_change_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "c.yaml", "user: ops\n", mode)
    with pytest.raises(InputError) as exc:
        config.load({"NODESWAP_CONFIG": str(path)}, UID)
    assert exc.value.exit_code == 2
    assert problems(exc) == [f"{path}: refused: mode {mode:04o} lets others change it; "
                             f"chmod go-w {path}"]


def test_a_file_owned_by_another_user_is_refused_root_is_trusted(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "user: ops\n", 0o644)
    if UID == 0:  # root: the file becomes another user's
        os.chown(path, 4242, -1)
        reader = 0
    else:  # the file is ours: read as if by someone else
        reader = UID + 4242
    with pytest.raises(InputError, match=r"c.yaml: refused: owned by uid \d+, not by you"):
        config.load({"NODESWAP_CONFIG": str(path)}, uid=reader)
    if UID == 0:  # a root-owned file (e.g. /etc/nodeswap's) is trusted by every user
        os.chown(path, 0, -1)
        assert config.load({"NODESWAP_CONFIG": str(path)}, uid=4242).values == {"user": "ops"}


def test_unknown_keys_and_bad_values_are_named_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "firstbox: root@10.0.0.2\n\nfirstbx: typo\n"
                 "language: fr\nidentity: [a, {b: c}]\nuser:\n")
    with pytest.raises(InputError) as exc:
        config.load({"NODESWAP_CONFIG": str(path)}, UID)
    assert problems(exc) == [
        f"{path}:3: key firstbx: unknown key 'firstbx': one of firstbox, user, identity, "
        "known_hosts, state_dir, language",
        f"{path}:4: key language: language: one of en, zh, not 'fr'",
        f"{path}:5: key identity: identity: a FILE or a list of FILEs",
        f"{path}:6: key user: user: a non-empty text value",
    ]


def test_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "user: [unclosed\n")
    with pytest.raises(InputError, match=r"bad.yaml:2: not YAML"):
        config.load({"NODESWAP_CONFIG": str(bad)}, UID)
    listed = write(tmp_path / "list.yaml", "- user\n")
    with pytest.raises(InputError, match=r"list.yaml:1: a config file is a mapping"):
        config.load({"NODESWAP_CONFIG": str(listed)}, UID)
    empty = write(tmp_path / "empty.yaml", "# nothing yet\n")
    assert config.load({"NODESWAP_CONFIG": str(empty)}, UID).values == {}


def test_state_dir_and_language_become_variables_unless_set() -> None:
    cfg = config.Config({"state_dir": "/srv/ns", "language": "zh", "user": "u"})
    assert config.environment_defaults(cfg, {}) == {"NODESWAP_STATE_DIR": "/srv/ns",
                                                    "NODESWAP_LANG": "zh"}
    assert config.environment_defaults(cfg, {"NODESWAP_STATE_DIR": "/x"}) == {
        "NODESWAP_LANG": "zh"}
    assert config.option_defaults(cfg) == {"user": "u"}
