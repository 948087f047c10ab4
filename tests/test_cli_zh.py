# ruff: noqa: RUF001 (the Chinese output keeps its full-width punctuation)
"""nodeswap in Chinese, started as an operator starts it (issue 13): LANG=zh_CN.UTF-8 in a
real process (no generated zh_CN locale is needed: nothing calls setlocale), --lang zh,
NODESWAP_LANG and the config's language. Help, an input error still naming its file, line,
key and rule (R…), and the offline plan of the shipped example zone (10.x addresses: planned,
never applied). English stays the default.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from cliproc import run_nodeswap

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "nodeswap" / "examples"
CJK = re.compile(r"[\u4e00-\u9fff]")
BASE = {k: v for k, v in os.environ.items()
        if k not in ("LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "NODESWAP_LANG")}


def nodeswap(*args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A real start of ``python -m nodeswap`` with these locale variables (no fork server)."""
    return subprocess.run([sys.executable, "-m", "nodeswap", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**BASE, "COLUMNS": "100", **env}, check=False)  # fmt: skip


def example_plan(*more: str) -> list[str]:
    return ["plan", "--settings-dir", str(EXAMPLES / "zone"), "--installer-version", "4.3.1",
            "--spec", str(EXAMPLES / "upgrade.yaml"), "--seed", "1", "--date", "20261127",
            *more]


def test_help_in_chinese_with_lang_zh_cn() -> None:
    top = nodeswap("--help", LANG="zh_CN.UTF-8")
    assert top.returncode == 0, top.stderr
    assert "以替换的方式升级 Pitrix 可用区的管理虚拟机" in top.stdout
    assert "退出码：0 正常" in top.stdout and "选项" in top.stdout and "命令" in top.stdout
    assert "显示本帮助并退出。" in top.stdout  # click's own help option too
    plan = nodeswap("plan", "--help", LANG="zh_CN.UTF-8")
    assert plan.returncode == 0, plan.stderr
    assert "为该角色的节点制定升级计划，不做任何改动。" in plan.stdout
    assert f"--settings-dir {EXAMPLES}/zone" in plan.stdout  # the installed path, as in English
    assert "升级规格（YAML）" in plan.stdout


def test_english_stays_the_default() -> None:
    for env in ({}, {"LANG": "en_US.UTF-8"}, {"LANG": "C.UTF-8"}):
        top = nodeswap("--help", **env)
        assert top.returncode == 0, top.stderr
        assert "Upgrade a Pitrix zone's management VMs" in top.stdout
        assert not CJK.search(top.stdout)


def test_input_error_in_chinese_names_file_line_key_and_rule(tmp_path: Path) -> None:
    spec = tmp_path / "upgrade.yaml"
    spec.write_text('role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
                    "nodes:\n  proxy0: {physical_host: 10.16.100.11}\n")
    res = nodeswap(*example_plan()[:5], "--spec", spec, LANG="zh_CN.UTF-8")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(f"nodeswap: 输入无效: {spec}: R13: 键 "
                                 "nodes.proxy0.physical_host: physical_host 10.16.100.11")
    assert "是旧 proxy0 所在的物理机；请另选一台" in res.stderr
    spec.write_text('role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
                    "bogus: 1\n")
    res = nodeswap(*example_plan()[:5], "--spec", spec, LANG="zh_CN.UTF-8")
    assert res.returncode == 2
    assert res.stderr.strip() == f"nodeswap: 输入无效: {spec}:3: 键 bogus: 未知的键 'bogus'"


def test_settings_parse_errors_in_chinese_name_file_line_and_key(tmp_path: Path) -> None:
    """A settings file bash could not source faithfully: every problem at once, each naming
    the file, its line and the key, in the operator's language (exit 2, nothing planned)."""
    zone = tmp_path / "zone"
    shutil.copytree(EXAMPLES / "zone", zone)
    settings = zone / "proxy1"
    lines = settings.read_text().splitlines()
    settings.write_text("\n".join([*lines, "ntp_server=$(cat /etc/ntp)", 'motd="unclosed', ""]))
    first, second = len(lines) + 1, len(lines) + 2
    args = ["plan", "--settings-dir", zone, *example_plan()[3:]]
    zh = nodeswap("--lang", "zh", *args, LANG="C")
    assert zh.returncode == 2, zh.stdout + zh.stderr
    assert zh.stdout == ""
    assert zh.stderr.splitlines() == [
        f"nodeswap: 输入无效: {settings}:{first}: 键 ntp_server: 命令替换 $(...) 不执行就无法读取",
        f"{settings}:{second}: 键 motd: 引号没有闭合：bash 将无法 source 这个文件"]
    en = nodeswap(*args, LANG="C")
    assert en.returncode == 2
    assert en.stderr.splitlines() == [
        f"nodeswap: invalid input: {settings}:{first}: key ntp_server: command substitution "
        "$(...) cannot be read without running it",
        f"{settings}:{second}: key motd: unterminated quote: bash would fail to source the "
        "file"]


def test_offline_plan_of_the_example_zone_in_chinese() -> None:
    res = nodeswap(*example_plan(), LANG="zh_CN.UTF-8")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("计划: 用 bionic 18.04.6 替换 proxy 节点（installer 4.3.1；")
    assert "节点（R9、R12、R13、R16）" in out and "proxy0 的 settings 文件 (R7-R17):" in out
    assert "\n切换 proxy0\n" in out and "\n备份归档\n" in out  # phase headings
    # a gate in the plan: the rule's Chinese title (the runbook's words), then the step's own
    assert re.search(r"关卡 R30 更新firstbox节点的settings文件中的MGMT和EIP网络配置: ", out)
    assert "清单指纹 " in out
    # the steps' titles and the plan's warnings are plan data (English in the plan), shown in
    # Chinese: made again from the translation of the template that made them
    assert "保存旧 proxy0 的 /etc/haproxy/haproxy.cfg，供 R27 使用  @proxy0-old" in out
    assert "R20：构建软件包之后、切换之前，除新的 proxy 节点外不向任何节点推送软件包" in out
    assert "keep the old proxy0" not in out and "R20: after the package build" not in out
    # data is not translated: commands, addresses, settings lines
    assert "&& cp -arf /pitrix/conf/settings /pitrix/conf/settings.20261127" in out
    assert "│ proxy0 │ 10.16.100.21 │" in out
    # the same plan in JSON is the same in both languages
    zh = nodeswap(*example_plan("--json"), LANG="zh_CN.UTF-8")
    en = nodeswap(*example_plan("--json"), LANG="C")
    assert zh.returncode == en.returncode == 0
    assert zh.stdout == en.stdout


def test_lang_flag_env_and_config_choose_the_language(tmp_path: Path) -> None:
    env = {**BASE, "LANG": "C"}
    for args in (["--lang", "zh", "plan", "--help"], ["plan", "--help", "--lang=zh"]):
        res = run_nodeswap(*args, env=env)
        assert res.returncode == 0, res.stderr
        assert "为该角色的节点制定升级计划" in res.stdout
    res = run_nodeswap("plan", "--help", env={**env, "NODESWAP_LANG": "zh"})
    assert "为该角色的节点制定升级计划" in res.stdout
    # the flag wins over the environment, in both directions
    res = run_nodeswap("--lang", "en", "plan", "--help", env={**env, "NODESWAP_LANG": "zh"})
    assert "Plan an upgrade of the role's nodes" in res.stdout
    config = tmp_path / "config.yaml"
    config.write_text("language: zh\n")
    config.chmod(0o600)
    res = run_nodeswap("plan", "--help", env={**env, "NODESWAP_CONFIG": str(config)})
    assert "为该角色的节点制定升级计划" in res.stdout


def test_a_language_not_en_or_zh_is_an_input_error() -> None:
    env = {**BASE, "LANG": "C"}
    res = run_nodeswap("--lang", "fr", "plan", "--help", env=env)
    assert res.returncode == 2
    assert res.stderr.strip() == "nodeswap: invalid input: key --lang: one of en, zh, not 'fr'"
    res = run_nodeswap("status", env={**env, "NODESWAP_LANG": "klingon"})
    assert res.returncode == 2
    assert "key NODESWAP_LANG: one of en, zh, not 'klingon'" in res.stderr
    res = run_nodeswap("plan", "--lang", env=env)
    assert res.returncode == 2 and "--lang needs en or zh" in res.stderr
