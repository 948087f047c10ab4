# ruff: noqa: RUF001 (the Chinese output keeps its full-width punctuation)
"""A Chinese-reading operator's rehearsal (issue 13), at a real terminal with
LANG=zh_CN.UTF-8 and no generated zh_CN locale: the plan, apply with every gate shown and
asked in Chinese and answered ``y`` (the answers stay y/n/d), then the report in Chinese
(``<html lang="zh">``, its headings and summary sentence).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from nodeswap.lab import Lab
from nodeswap.run import journal as J
from nodeswap.run.journal import Journal

# about 35 s (lab up, plan, 124 steps, report): make test-slow; test_cli_zh.py covers the CLI
pytestmark = [pytest.mark.lab, pytest.mark.slow]

SPEC = 'role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
ENV = {**{k: v for k, v in os.environ.items()
          if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "NODESWAP_LANG")},
       "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
       "COLUMNS": "100", "TERM": "xterm", "LANG": "zh_CN.UTF-8"}  # fmt: skip
NODESWAP = [sys.executable, "-m", "nodeswap"]
PROMPT = r"批准关卡 (r\d+-[a-z0-9-]+)（R\d+）？\[y\] 是，\[n\] 否，\[d\] 详情："


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = Lab.up(Path("/var/lib/nodeswap-lab") / f"zh-pytest-{os.getpid()}", topology="default")
    try:
        yield lab
    finally:
        lab.down()
        lab.cleanup()


def test_rehearsal_in_chinese_gates_answered_y(lab: Lab, tmp_path: Path) -> None:
    spec, plan = tmp_path / "upgrade.yaml", tmp_path / "plan.json"
    spec.write_text(SPEC)
    made = subprocess.run([*NODESWAP, "plan", "--lab", str(lab.dir), "--spec", str(spec),
                           "--out", str(plan)], capture_output=True, text=True, env=ENV,
                          check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "计划已保存到" in made.stderr

    child = pexpect.spawn("/bin/bash", ["--norc", "--noprofile", "-c",
                                        f"nodeswap apply {plan} --lab {lab.dir}"],
                          cwd=str(tmp_path), env=ENV, encoding="utf-8", timeout=300,
                          dimensions=(24, 100))  # fmt: skip
    child.logfile_read = open(tmp_path / "terminal.log", "a")  # noqa: SIM115 (closed with child)
    # the first gate, in Chinese: the rule's title in the runbook's words, the diff, the checks
    child.expect(r"关卡 r30-settings-proxy\d（R30）在 firstbox（[0-9.]+）："
                 r"更新firstbox节点的settings文件中的MGMT和EIP网络配置")
    child.expect("它将做出的修改：")
    child.expect("检查（现在重新运行）：")
    child.expect(r"R27 r27-haproxy-proxy\d: 正常")
    approved = []
    for _ in range(3):  # R30 for each node, then R37
        child.expect(PROMPT)
        approved.append(child.match.group(1))
        child.sendline("y")
        child.expect(f"关卡 {approved[-1]}：已批准")
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0, out
    assert "Traceback" not in out
    assert approved[0].startswith("r30-") and approved[2].startswith("r37-")
    # the closing summary; the next: line stays a command to paste
    assert re.search(r"2 个节点（proxy0, proxy1）已替换为 bionic 18\.04\.6；共 \d+ 步：", out)
    assert re.search(r"3 个关卡由 \S+ 批准；自开始已过 \d+ 秒", out)
    assert re.search(r"\nnext: nodeswap report \S+ --html report-\S+\.html --lab ", out)

    (path,) = (lab.dir / "nodeswap").glob("*.journal.sqlite")
    journal = Journal.open(path)
    try:
        (run,) = journal.runs()
        assert run.state == J.RUN_DONE
    finally:
        journal.close()
    status = subprocess.run([*NODESWAP, "status", run.id, "--lab", str(lab.dir)],
                            capture_output=True, text=True, env=ENV, check=False)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith(f"运行 {run.id}（可用区 ")
    assert re.search(r"\[  1\] 完成 +\S+ \(R\d+\) 在 ", status.stdout), status.stdout[:500]
    html = tmp_path / "report.html"
    rep = subprocess.run([*NODESWAP, "report", run.id, "--lab", str(lab.dir), "--html",
                          str(html)], capture_output=True, text=True, env=ENV, check=False)
    assert rep.returncode == 0, rep.stderr
    assert "的报告：HTML 已写到" in rep.stdout
    page = html.read_text()
    assert '<html lang="zh">' in page
    for heading in ("最终状态", "执行过程与时间线", "附录：全部步骤", "关卡步骤", "批准人"):
        assert heading in page, heading
    text = re.sub(r"<[^>]+>", "", page)  # the summary sentence, its tokens' spans removed
    assert re.search(r"proxy0 和 proxy1 已替换为 bionic 18\.04\.6，用时 [^；]+；"
                     r"\d+ 个意外差异；3 个关卡已由 \S+ 批准。", text), text[:2000]
