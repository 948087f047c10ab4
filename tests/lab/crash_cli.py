"""The nodeswap CLI with a SIGKILL armed at an exact point of one step (for the crash tests).

    python crash_cli.py STEP WHEN -- apply PLAN --lab DIR --yes

runs ``nodeswap apply PLAN --lab DIR --yes`` (any nodeswap command line) in this process and
SIGKILLs it, the process and nothing else, at the point named by WHEN of step STEP's ``run``
attempt:

- ``before``: as the attempt is about to be recorded (the step's state says running, its
  command was never sent): a kill at the boundary before the step;
- ``end``: as its end is about to be recorded (the command ran to its end on the host, the
  journal does not know it): the cut a check must see through;
- ``after:SECONDS``: that long after the attempt was recorded (mid-command for long
  commands; for short ones, after them).

Only the journal's two methods are wrapped; everything else is the CLI as an operator runs
it. Exits like nodeswap when the step is never reached.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from nodeswap.run.journal import Journal


def kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(step: str, when: str) -> None:
    begin, end = Journal.begin_attempt, Journal.end_attempt
    mine: set[int] = set()

    def begin_attempt(self: Journal, run_id: str, step_id: str, kind: str, host: str,  # noqa: PLR0917
                      command: str) -> int:
        hit = step_id == step and kind == "run"
        if hit and when == "before":
            kill()
        aid = begin(self, run_id, step_id, kind, host, command)
        if hit:
            mine.add(aid)
            if when.startswith("after:"):
                threading.Timer(float(when.split(":", 1)[1]), kill).start()
        return aid

    def end_attempt(self: Journal, attempt_id: int, **kw: Any) -> None:
        if attempt_id in mine and when == "end":
            kill()
        end(self, attempt_id, **kw)

    Journal.begin_attempt = begin_attempt  # type: ignore[method-assign]
    Journal.end_attempt = end_attempt  # type: ignore[method-assign]


if __name__ == "__main__":
    step_id, when, sep, *rest = sys.argv[1:]
    assert sep == "--", "usage: crash_cli.py STEP WHEN -- NODESWAP-ARGS..."
    arm(step_id, when)
    from nodeswap.cli import main

    sys.argv = ["nodeswap", *rest]
    main()
