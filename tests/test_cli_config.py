"""The operator's defaults as the program sees them (config file < NODESWAP_* < flags, --lab
dropping a configured firstbox, an unsafe file refused with exit 2) and the run's log file
(STATE/logs/RUN.log and --log-file: 0600, the events, no secret). Few program starts: the
loader's cases are unit tests (tests/unit/test_config.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from cliproc import run_nodeswap
from nodeswap.errors import EXIT_INPUT
from nodeswap.plan.model import Plan, Step, Target


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NODESWAP_")}
    return run_nodeswap(*args, env={**base, **(env or {})})


def conf(tmp: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp / "config.yaml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_config_then_environment_then_flags(tmp_path: Path) -> None:
    """`status` lists the runs of the firstbox's state folder (STATE_ROOT/ADDRESS): which
    firstbox and which root won shows in its answer."""
    root, other = tmp_path / "root", tmp_path / "other"
    cfg = conf(tmp_path, f"firstbox: root@127.0.0.5\nstate_dir: {other}\n")
    env = {"NODESWAP_CONFIG": str(cfg)}
    assert ns("status", env=env).stdout == f"no runs under {other / '127.0.0.5'}\n"
    env["NODESWAP_STATE_DIR"] = str(root)  # the variable beats the file's state_dir
    assert ns("status", env=env).stdout == f"no runs under {root / '127.0.0.5'}\n"
    env["NODESWAP_FIRSTBOX"] = "root@127.0.0.6"  # ... and the file's firstbox
    assert ns("status", env=env).stdout == f"no runs under {root / '127.0.0.6'}\n"
    flag = ns("status", "--firstbox", "127.0.0.7", "-o", "json", env=env)  # the flag beats all
    assert flag.returncode == 0 and json.loads(flag.stdout) == []
    assert ns("status", "--firstbox", "127.0.0.7", env=env).stdout == \
        f"no runs under {root / '127.0.0.7'}\n"
    # where an operator keeps it: ~/.config/nodeswap/config.yaml (no NODESWAP_CONFIG)
    home = tmp_path / "home"
    (home / ".config" / "nodeswap").mkdir(parents=True)
    cfg.rename(home / ".config" / "nodeswap" / "config.yaml")
    mine = ns("status", env={"HOME": str(home), "XDG_CONFIG_HOME": "",
                             "NODESWAP_STATE_DIR": str(root)})
    assert mine.stdout == f"no runs under {root / '127.0.0.5'}\n", mine.stderr


def test_lab_drops_a_configured_firstbox_not_a_typed_one(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    env = {"NODESWAP_CONFIG": str(conf(tmp_path, "firstbox: root@127.0.0.5\nuser: ops\n")),
           "NODESWAP_FIRSTBOX": "127.0.0.6"}
    got = ns("discover", "--lab", str(lab), env=env)  # the lab's lab.json is what counts
    assert got.returncode == EXIT_INPUT
    assert got.stderr == (f"nodeswap: invalid input: {lab / 'lab.json'}: not a lab state "
                          f"folder: [Errno 2] No such file or directory: "
                          f"'{lab / 'lab.json'}'\n")
    typed = ns("discover", "--lab", str(lab), "--firstbox", "127.0.0.7", env=env)
    assert typed.returncode == EXIT_INPUT and "give --lab or --firstbox, not both" in typed.stderr


def test_a_config_file_others_can_write_is_refused(tmp_path: Path) -> None:
    cfg = conf(tmp_path, "firstbox: root@127.0.0.5\n", 0o664)
    got = ns("status", env={"NODESWAP_CONFIG": str(cfg)})
    assert got.returncode == EXIT_INPUT and got.stdout == ""
    assert got.stderr == (f"nodeswap: invalid input: {cfg}: refused: mode 0664 lets others "
                          f"change it; chmod go-w {cfg}\n")
    for asks, shows in ((["-h"], "Usage: nodeswap [OPTIONS]"),
                        (["status", "--help"], "Usage: nodeswap status"), (["-V"], "nodeswap ")):
        helped = ns(*asks, env={"NODESWAP_CONFIG": str(cfg)})  # how to fix it still shows
        assert helped.returncode == 0 and helped.stdout.startswith(shows), (asks, helped)
        assert helped.stderr.startswith(f"nodeswap: warning: {cfg}: refused: mode 0664"), asks


def test_the_run_log_is_private_has_the_events_and_no_secret(tmp_path: Path) -> None:
    secret = "Hunter2-not-for-logs"  # noqa: S105 (the value the log must not show)
    step = Step("show-settings", "p", "R6", "prints settings", "fb", side_effect=False,
                command=f"echo 'pitrix_db_password: {secret}'; echo 'password={secret}'")
    plan = Plan("proxy", "4.3.0", ("bionic", "18.04.6"), {},
                {"fb": Target("fb", "127.0.0.1", "fb", via_firstbox=False)}, (step,),
                transport="local")  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_dict()))
    extra = tmp_path / "extra" / "run.log"
    done = ns("apply", str(tmp_path / "plan.json"), "--local", "--state-dir",
              str(tmp_path / "state"), "--lock-path", str(tmp_path / "zone.lock"), "-v",
              "--log-file", str(extra))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (log,) = (tmp_path / "state" / "logs").iterdir()
    assert log.name.endswith(".log") and log.name[:-4] in done.stdout  # STATE/logs/RUN.log
    for path in (log, extra):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert secret not in text
        assert "pitrix_db_password: ***" in text and "password=***" in text
        assert f"apply of run {log.name[:-4]} begins: nodeswap apply" in text
        events = [json.loads(line.split(": ", 1)[1]) for line in text.splitlines()
                  if " nodeswap.events: " in line]  # fmt: skip
        names = [e["event"] for e in events]  # output lines may come in one event or two
        assert [n for i, n in enumerate(names) if not i or names[i - 1] != n] == [
            "RunStarted", "StepStarted", "StepOutput", "StepEnded", "RunEnded"]
        assert text.splitlines()[-1].endswith(f"apply of run {log.name[:-4]} ends")
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_identity_variable_holds_files_separated_by_spaces(tmp_path: Path) -> None:
    (tmp_path / "not-a-key").write_text("hello\n")
    (tmp_path / "hosts").write_text("127.0.0.1:1\n")
    env = {"NODESWAP_CONFIG": "none",
           "NODESWAP_IDENTITY": f"{tmp_path / 'not-a-key'} {tmp_path / 'other'}"}
    got = ns("exec", "--hosts-file", str(tmp_path / "hosts"), "--", "true", env=env)
    assert got.returncode == EXIT_INPUT  # the first file is read, alone: not "FILE FILE"
    assert got.stderr == (f"nodeswap: invalid input: {tmp_path / 'not-a-key'}: cannot read "
                          "identity file: Invalid private key\n")
