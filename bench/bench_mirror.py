"""Benchmark (not a test): what the run's mirror on firstbox costs (issue 11, "the journal
outlives the operator's machine").

On a fresh lab of the `default` topology (timing off, as `make demo`), `nodeswap plan --lab`
then `nodeswap apply plan.json --lab DIR --yes` through the CLI; the run's log
(LAB/nodeswap/logs/RUN.log) holds the mirror writer's own count: how many commands it sent to
firstbox and the time spent in them, next to the apply's wall time. Also the mirror's size on
firstbox. Writes bench/results/mirror.md.

Run as root: `.venv/bin/python bench/bench_mirror.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))  # this checkout's nodeswap, not the venv's

from nodeswap.lab import Lab  # noqa: E402

OUT = ROOT / "bench" / "results" / "mirror.md"
SPEC = 'role: proxy\ntarget: {os_name: bionic, os_version: "18.04.6"}\n'
COST = re.compile(r"mirror of run (\S+): (\d+) writes, ([\d.]+) s, waited ([\d.]+) s")


def nodeswap(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), NODESWAP_CONFIG="none")
    return subprocess.run([sys.executable, "-m", "nodeswap", *args], capture_output=True,
                          text=True, env=env, timeout=3600, check=False)


def main() -> int:
    state = Path(f"/var/lib/nodeswap-lab/bench-mirror-{os.getpid()}")
    lab = Lab.up(state, topology="default")
    try:
        spec, plan = state / "upgrade.yaml", state / "plan.json"
        spec.write_text(SPEC)
        planned = nodeswap("plan", "--lab", str(state), "--spec", str(spec), "--out", str(plan))
        if planned.returncode != 0:
            raise SystemExit(planned.stderr)
        t0 = time.monotonic()
        applied = nodeswap("apply", str(plan), "--lab", str(state), "--yes")
        wall = time.monotonic() - t0
        if applied.returncode != 0:
            raise SystemExit(applied.stdout[-2000:] + applied.stderr[-2000:])
        (log,) = (state / "nodeswap" / "logs").glob("*.log")
        m = COST.search(log.read_text())
        assert m is not None, "no mirror cost line in the run's log"
        run_id, writes, spent = m.group(1), int(m.group(2)), float(m.group(3))
        waited = float(m.group(4))
        info = lab.info()
        size = subprocess.run(info.ssh_command(info.firstbox or "", "du -sb /var/lib/nodeswap/"
                                               f"runs/{run_id}"),
                              capture_output=True, text=True, check=False).stdout.split()[0]
        steps = len(re.findall(r"^\[\s*\d+/\d+\] ", applied.stdout, re.M))
        text = (f"# The run's mirror on firstbox (issue 11)\n\n"
                f"`nodeswap apply --yes` of the default lab (timing off), {time.strftime('%F')}, "
                f"{os.cpu_count()} cores:\n\n"
                f"| apply wall time | step lines | mirror writes | time in them (beside the "
                f"steps) | the run waited for them | share | mirror size |\n"
                f"|---|---|---|---|---|---|---|\n"
                f"| {wall:.1f} s | {steps} | {writes} | {spent:.2f} s | {waited:.2f} s | "
                f"{100 * waited / wall:.1f} % | {int(size) // 1024} KiB |\n"
                f"\nLoad average when it ended: {os.getloadavg()[0]:.1f} (other work shares "
                "this machine).\n")
        OUT.write_text(text)
        print(text)
    finally:
        lab.down()
        lab.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
