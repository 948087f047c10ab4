"""The operator's defaults: config files, then ``NODESWAP_*`` variables, then the command line.

Files, lowest first (a later one overrides the keys it sets): ``/etc/nodeswap/config.yaml``,
then ``~/.config/nodeswap/config.yaml`` ($XDG_CONFIG_HOME moves it). ``NODESWAP_CONFIG=FILE``
reads only FILE (it must exist); ``NODESWAP_CONFIG=none`` reads no file (tests and make
targets). A file is a YAML mapping of these keys only:

    firstbox: root@10.16.100.2        # --firstbox          NODESWAP_FIRSTBOX
    user: root                        # --user              NODESWAP_USER
    identity: ~/.ssh/id_ed25519       # --identity-file (a FILE or a list)  NODESWAP_IDENTITY
    known_hosts: ~/.ssh/known_hosts   # --known-hosts       NODESWAP_KNOWN_HOSTS
    state_dir: /var/lib/nodeswap      # the state root      NODESWAP_STATE_DIR
    language: en                      # en or zh            NODESWAP_LANG

A file another user could change (group- or world-writable, or owned by someone other than
the user running nodeswap or root) is refused, as is an unknown key or a value of the wrong
type: InputError (exit 2) naming the file and the line. Reading only: applying the values
(as the CLI's option defaults) is the CLI's.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _

SYSTEM_FILE = Path("/etc/nodeswap/config.yaml")
# config key -> its NODESWAP_* variable
ENV = {"firstbox": "NODESWAP_FIRSTBOX", "user": "NODESWAP_USER",
       "identity": "NODESWAP_IDENTITY", "known_hosts": "NODESWAP_KNOWN_HOSTS",
       "state_dir": "NODESWAP_STATE_DIR", "language": "NODESWAP_LANG"}  # fmt: skip
KEYS = tuple(ENV)
PATH_KEYS = ("identity", "known_hosts", "state_dir")
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Config:
    """The merged values (key -> str, or a list of str for identity) and, per key, the file
    that set it."""

    values: dict[str, str | list[str]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()


def user_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "nodeswap" / "config.yaml"


def files_to_read(env: Mapping[str, str]) -> list[tuple[Path, bool]]:
    """The files to read, lowest first, each with whether it must exist."""
    chosen = env.get("NODESWAP_CONFIG")
    if chosen is not None and chosen.strip().lower() in ("none", ""):
        return []
    if chosen is not None:
        return [(Path(chosen).expanduser(), True)]
    return [(SYSTEM_FILE, False), (user_file(env), False)]


def refuse_unsafe(path: Path, st: os.stat_result, uid: int) -> None:
    """A config file names the hosts nodeswap logs into and the keys it uses: only its
    reader (or root) may be able to change it."""
    name = str(path)
    if st.st_uid not in (uid, 0):
        raise InputError([Problem(_("refused: owned by uid {owner}, not by you (uid {uid}) or "
                                    "root; another user could change it").format(
                                        owner=st.st_uid, uid=uid), file=name)])
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InputError([Problem(_("refused: mode {mode} lets others change it; chmod go-w "
                                    "{file}").format(mode=f"{stat.S_IMODE(st.st_mode):04o}",
                                                     file=name), file=name)])


def parse(text: str, name: str) -> tuple[dict[str, str | list[str]], list[Problem]]:
    """One file's values, and every problem in it (file and line named)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return {}, [Problem(_("not YAML: {error}").format(
            error=getattr(exc, "problem", None) or exc), file=name,
                            line=mark.line + 1 if mark else None)]
    if root is None:
        return {}, []
    if not isinstance(root, yaml.MappingNode):
        return {}, [Problem(_("a config file is a mapping of keys (firstbox: ..., user: ...)"),
                            file=name, line=root.start_mark.line + 1)]
    values: dict[str, str | list[str]] = {}
    problems: list[Problem] = []
    for knode, vnode in root.value:
        key, line = str(knode.value), knode.start_mark.line + 1
        if key not in KEYS:
            problems.append(Problem(_("unknown key {key}: one of {keys}").format(
                key=repr(key), keys=", ".join(KEYS)),
                                    file=name, line=line, key=key))
            continue
        got = _value(key, vnode)
        if isinstance(got, str) and got.startswith("!"):
            problems.append(Problem(got[1:], file=name, line=vnode.start_mark.line + 1,
                                    key=key))
        else:
            values[key] = got
    return values, problems


def _value(key: str, node: yaml.Node) -> str | list[str]:
    """The value of ``key`` (paths with ~ expanded); a string starting with ! is a problem."""
    if key == "identity" and isinstance(node, yaml.SequenceNode):
        items = [n.value for n in node.value if isinstance(n, yaml.ScalarNode)]
        if len(items) != len(node.value) or not all(items):
            return "!identity: a FILE or a list of FILEs"
        return [str(Path(i).expanduser()) for i in items]
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        return f"!{key}: a non-empty text value"
    value = str(node.value).strip()
    if key == "language" and value not in LANGUAGES:
        return "!language: " + _("one of {choices}, not {value}").format(
            choices=", ".join(LANGUAGES), value=repr(value))
    if key in PATH_KEYS:
        value = str(Path(value).expanduser())
    return [value] if key == "identity" else value


def load(env: Mapping[str, str] | None = None, uid: int | None = None) -> Config:
    """The config files' merged values (a later file wins key by key); InputError (exit 2)
    for a missing NODESWAP_CONFIG file, an unsafe file, or any problem in one."""
    env = os.environ if env is None else env
    uid = os.geteuid() if uid is None else uid
    values: dict[str, str | list[str]] = {}
    origin: dict[str, str] = {}
    read: list[str] = []
    for path, required in files_to_read(env):
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise InputError([Problem(_("not a file"), file=str(path))])
            refuse_unsafe(path, st, uid)
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            if not required:
                continue
            raise InputError([Problem(_("no such config file (NODESWAP_CONFIG)"),
                                      file=str(path))]) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError([Problem(_("cannot read: {error}").format(error=exc),
                                      file=str(path))]) from exc
        got, problems = parse(text, str(path))
        if problems:
            raise InputError(problems)
        values.update(got)
        origin.update(dict.fromkeys(got, str(path)))
        read.append(str(path))
    return Config(values, origin, tuple(read))


# the command options the keys set (their parameter names in the CLI's commands)
OPTION_OF = {"firstbox": "firstbox", "user": "user", "identity": "identity_file",
             "known_hosts": "known_hosts"}  # fmt: skip


def option_defaults(config: Config) -> dict[str, str | list[str]]:
    """Option defaults (parameter name -> value) from the config's connection keys."""
    return {OPTION_OF[k]: v for k, v in config.values.items() if k in OPTION_OF}


def environment_defaults(config: Config, env: Mapping[str, str]) -> dict[str, str]:
    """The variables the config sets that are not set already (state_dir, language: read
    where they are used, as NODESWAP_STATE_DIR and NODESWAP_LANG)."""
    out = {}
    for key in ("state_dir", "language"):
        value = config.values.get(key)
        if isinstance(value, str) and not env.get(ENV[key]):
            out[ENV[key]] = value
    return out
