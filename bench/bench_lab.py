"""Benchmark the lab: time to bring up the default zone and a 100-host lab, memory per host.

Run as root: `.venv/bin/python bench/bench_lab.py`; results go to bench/results/lab.txt.
"""

from __future__ import annotations

import time
from pathlib import Path

from nodeswap.lab import Lab

OUT = Path(__file__).parent / "results" / "lab.txt"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench(label: str, **kwargs: object) -> str:
    state = Path(f"/var/lib/nodeswap-lab/bench-{label}")
    t0 = time.monotonic()
    lab = Lab.up(state, **kwargs)  # type: ignore[arg-type]
    up = time.monotonic() - t0
    try:
        pids = [h["pid"] for h in lab.status()["hosts"].values() if "pid" in h]
        mem = sum(rss_kib(p) for p in pids) / max(1, len(pids))
        t1 = time.monotonic()
    finally:
        lab.down()
        down = time.monotonic() - t1
        lab.cleanup()
    return (f"{label}: {len(pids)} hosts, up {up:.2f} s, down {down:.2f} s, "
            f"sshd RSS {mem / 1024:.1f} MiB per host (idle listener)")


def main() -> None:
    lines = [time.strftime("%Y-%m-%d %H:%M"), bench("default", topology="default"),
             bench("plain100", hosts=100)]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
