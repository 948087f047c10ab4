"""What an operator used to Ansible, Terraform or kubectl expects (issue 13): -h, -V and
`version`, shell completion (installed and used in a real bash, by pexpect), human metavars,
one help text per shared option, --lab DIR on the lab commands, exit 2 for bad input, --json
(and -o json) on the commands that print results. The help of every command is read in-process
(one walk over the click tree); the rest starts the program a few times only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import typer
from typer import _click as click
from typer.core import TyperGroup

from cliproc import run_nodeswap
from nodeswap.cli import app, options, register
from nodeswap.errors import EXIT_INPUT, InputError
from nodeswap.lab.faults import HELP as FAULT_HELP

ENV = {**os.environ, "NODESWAP_CONFIG": "none"}


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_nodeswap(*args, env=env or ENV)


def commands() -> list[tuple[str, click.Command, click.Context]]:
    """Every command of the CLI with a context to render its help in."""
    register([])
    root = typer.main.get_command(app)
    out = []

    def walk(cmd: click.Command, ctx: click.Context, path: str) -> None:
        out.append((path, cmd, ctx))
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk(sub, click.Context(sub, info_name=name, parent=ctx), f"{path} {name}")

    walk(root, click.Context(root, info_name="nodeswap",
                             help_option_names=["-h", "--help"]), "nodeswap")  # fmt: skip
    return out


COMMANDS = commands()
BUILTIN = {"help", "install_completion", "show_completion"}


def test_every_help_has_human_metavars_and_a_line_for_every_option() -> None:
    assert len(COMMANDS) > 20  # the walk reached the groups' commands (lab, diff)
    bad = []
    for path, cmd, ctx in COMMANDS:
        text = cmd.get_help(ctx)
        usage = text.splitlines()[0]
        if re.search(r"[{}]|\[\[", usage):
            bad.append(f"{path}: usage {usage!r}")
        if "-h, --help" not in text:
            bad.append(f"{path}: no -h")
        for param in cmd.params:
            record = param.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            if re.search(r"<[a-z]|[{}]|\b(TEXT|PATH|NUMBER|VALUE|BOOLEAN)\b", names):
                bad.append(f"{path}: {names!r}")
            if param.name not in BUILTIN and not help_text.strip():
                bad.append(f"{path}: {names} has no help")
    assert "\n".join(bad) == ""


def shared_declarations() -> dict[tuple[str, ...], str]:
    """The option names of each option declared in cli/options.py, with its name there."""
    out = {}
    for name in options.__all__:
        hint = getattr(options, name, None)
        for meta in getattr(hint, "__metadata__", ()):
            decls = [d for d in (getattr(meta, "default", None), *getattr(meta, "param_decls", ()))
                     if isinstance(d, str) and d.startswith("-")]
            if decls:
                out[tuple(sorted(decls))] = name
    return out


def test_a_shared_option_reads_the_same_on_every_command() -> None:
    shared = shared_declarations()
    assert {("--lab",), ("--lab", "--state-dir"), ("--json",)} <= set(shared)
    helps: dict[str, set[str]] = {}
    uses: dict[str, int] = {}
    for _path, cmd, ctx in COMMANDS:
        for param in cmd.params:
            key = tuple(sorted(param.opts + param.secondary_opts))
            if key in shared and (record := param.get_help_record(ctx)) is not None:
                helps.setdefault(shared[key], set()).add(record[1].split("  [default:")[0])
                uses[shared[key]] = uses.get(shared[key], 0) + 1
    assert {name: len(h) for name, h in helps.items() if len(h) > 1} == {}
    assert uses["JsonOpt"] >= 15 and uses["LabDirOpt"] >= 5 and uses["FirstboxOpt"] >= 8


def test_commands_that_print_results_take_json() -> None:
    without = {path for path, cmd, _ in COMMANDS if not isinstance(cmd, TyperGroup)
               and not any("--json" in p.opts for p in cmd.params)}  # fmt: skip
    assert without == set()


def test_dash_o_json_is_json_and_the_words_after_double_dash_stay() -> None:
    sy = options.output_synonym
    assert sy(["status", "-o", "json"]) == sy(["status", "-ojson"]) == ["status", "--json"]
    assert sy(["status", "--output=json"]) == ["status", "--json"]
    assert sy(["--output", "json", "status"]) == ["--json", "status"]
    assert sy(["report", "-o", "text"]) == ["report"]
    assert sy(["exec", "all", "--", "ls", "-o", "json"]) == ["exec", "all", "--", "ls", "-o",
                                                             "json"]
    with pytest.raises(InputError, match="-o takes json or text, not 'yaml'"):
        sy(["status", "-o", "yaml"])
    with pytest.raises(InputError, match="not None"):
        sy(["status", "-o"])


def test_version_faults_and_bad_input_as_the_program(tmp_path: Path) -> None:
    short, command = ns("-V"), ns("version", "--json")
    assert short.returncode == 0 and re.fullmatch(r"nodeswap \d+\.\d+\S*\n", short.stdout)
    assert json.loads(command.stdout) == {"name": "nodeswap",
                                          "version": short.stdout.split()[1]}
    listed = ns("lab", "faults", "-o", "json")
    assert json.loads(listed.stdout) == [{"kind": k, "params": p, "effect": e}
                                         for k, (p, e) in FAULT_HELP.items()]  # fmt: skip
    text = ns("lab", "faults").stdout
    assert text.startswith("host-down  (host)\n    sshd stopped") and "cron-push  (" in text
    typo = ns("lab", "up", "--topology", "defualt", "--lab", str(tmp_path / "lab"))
    assert typo.returncode == EXIT_INPUT and not (tmp_path / "lab").exists()
    assert typo.stderr.startswith("nodeswap: invalid input: key --topology: unknown topology "
                                  "'defualt': not a file, and not one of [")
    demo = ns("demo", "--topology", "defualt", "--lab", str(tmp_path / "demo"))
    assert demo.returncode == EXIT_INPUT and "unknown topology 'defualt'" in demo.stderr
    assert not (tmp_path / "demo").exists()
    fault = ns("lab", "fault", "no-such", "--state-dir", str(tmp_path))  # the older name
    assert fault.returncode == EXIT_INPUT
    assert "unknown fault 'no-such': one of host-down" in fault.stderr
    fmt = ns("status", "-o", "yaml")
    assert (fmt.returncode, fmt.stdout) == (EXIT_INPUT, "")
    assert fmt.stderr == ("nodeswap: invalid input: key --output: -o takes json or text, "
                          "not 'yaml'\n")


def test_completion_installs_and_completes_in_bash(tmp_path: Path) -> None:
    """`--install-completion` as an operator runs it ($SHELL bash), then Tab in a new bash."""
    home, bindir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bindir.mkdir()
    wrapper = bindir / "nodeswap"  # what the console script does: the name is `nodeswap`
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m nodeswap \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**ENV, "HOME": str(home), "SHELL": "/bin/bash",
           "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    (home / ".bashrc").write_text("PS1='$ '\n")
    bash = pexpect.spawn("bash", ["--rcfile", str(home / ".bashrc"), "-i"], env=env,
                         encoding="utf-8", timeout=30, dimensions=(24, 200))
    try:  # typed at the operator's bash: typer finds the shell it was started from
        bash.expect_exact("$ ")
        bash.sendline("nodeswap --install-completion; echo rc=$?")
        bash.expect(r"rc=(\d+)")
        assert bash.match.group(1) == "0", bash.before
        bash.expect_exact("$ ")
        assert "nodeswap" in (home / ".bashrc").read_text()
        bash.sendline(f"exec bash --rcfile {home / '.bashrc'} -i")  # a new shell, as after login
        bash.expect_exact("$ ")
        bash.send("nodeswap rol\t")
        bash.expect_exact("rollback ")
        bash.sendline(" -h | head -1")
        bash.expect_exact("Usage: nodeswap rollback [OPTIONS] RUN")
        bash.send("nodeswap lab faults --js\t")
        bash.expect_exact("--json ")
        bash.sendline("")
        bash.expect_exact('"kind": "host-down"')
    finally:
        bash.sendline("exit")
        bash.close(force=True)


def test_lab_command_option_is_lab_with_state_dir_kept() -> None:
    ups = [cmd for path, cmd, _ in COMMANDS if path in ("nodeswap lab up", "nodeswap demo")]
    assert len(ups) == 2
    for cmd in ups:
        (lab,) = [p for p in cmd.params if "--lab" in p.opts]
        assert set(lab.opts) == {"--lab", "--state-dir"} and lab.metavar == "DIR"
