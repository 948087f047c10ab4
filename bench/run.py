"""`make bench`: run every bench/bench_*.py (or the ones named with --only), one after another.

    .venv/bin/python bench/run.py [--only NAME]... [--list] [--timeout S] [ARGS...]

NAME is a benchmark's file name with or without the ``bench_`` prefix and ``.py`` suffix
(``exec``, ``lab``, ``plan``, ``upgrade``). ARGS that run.py does not know (for example ``--big`` or
``--sizes 20``) are passed to bench_exec.py only, the one benchmark that takes options.
Each benchmark runs as its own process with the main venv's Python and a timeout; a benchmark
that fails or times out is reported and the others still run. Results go to bench/results/.
Exit status: 0 if every benchmark exited 0, else 1 (2 for bad arguments).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = HERE.parent / ".venv" / "bin" / "python"
TAKES_ARGS = {"bench_exec"}


def discover() -> dict[str, Path]:
    return {p.stem: p for p in sorted(HERE.glob("bench_*.py"))}


def resolve(names: list[str], known: dict[str, Path]) -> list[str] | None:
    out = []
    for raw in names:
        stem = raw.removesuffix(".py")
        stem = stem if stem.startswith("bench_") else f"bench_{stem}"
        if stem not in known:
            print(f"run.py: no benchmark {raw!r}; known: {', '.join(known)}", file=sys.stderr)
            return None
        out.append(stem)
    return out


def run_one(argv: list[str], timeout: float) -> int | None:
    """Run one benchmark; on timeout send SIGTERM (bench_exec takes its lab down in a
    ``finally``), SIGKILL only if it has not ended 120 s later. None when it timed out."""
    proc = subprocess.Popen(argv)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return None
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=120)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the benchmarks (bench/bench_*.py).")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this benchmark (repeatable): exec, lab, plan, upgrade")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="seconds per benchmark (default 3600)")  # fmt: skip
    a, extra = ap.parse_known_args(argv)
    known = discover()
    if a.list:
        print("\n".join(known))
        return 0
    chosen = resolve(a.only, known) if a.only else list(known)
    if chosen is None:
        return 2
    if extra and not any(c in TAKES_ARGS for c in chosen):
        print(f"run.py: options {extra} are for {', '.join(sorted(TAKES_ARGS))}, which is "
              "not selected", file=sys.stderr)  # fmt: skip
        return 2
    outcome: dict[str, str] = {}
    for name in chosen:
        argv_b = [str(PY), str(known[name]), *(extra if name in TAKES_ARGS else [])]
        print(f"==> {name}: {' '.join(argv_b[1:])}", flush=True)
        t0 = time.monotonic()
        rc = run_one(argv_b, a.timeout)
        outcome[name] = "ok" if rc == 0 else (
            f"TIMED OUT after {a.timeout:.0f}s" if rc is None else f"FAILED (exit {rc})")
        outcome[name] += f" in {time.monotonic() - t0:.0f}s"
    print("==> summary")
    for name, what in outcome.items():
        print(f"    {name}: {what}")
    return 0 if all(v.startswith("ok") for v in outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
