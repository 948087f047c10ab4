"""Stopping on a signal: SIGINT (Ctrl-C) and SIGTERM (how AWX, Rundeck or systemd cancel a
job) end nodeswap cleanly, whatever signal dispositions it inherited.

A background job (`nohup make test &`) starts with SIGINT *ignored*, and SIGTERM's default
kills the process without a trace, so nodeswap installs its handlers explicitly:

- ``install()`` (the CLI's ``main``): SIGINT raises KeyboardInterrupt (Python's default
  handler; ``asyncio.run`` turns it into cancelling its main task); SIGTERM does what SIGINT
  does, noted so the exit code says which (130 or 143).
- ``cancel_on_signals()`` (around a run, inside its event loop): both signals cancel the
  running task (``loop.add_signal_handler``), so the executor records the interruption in the
  journal, the transports stop the commands they run (remote ones too) and the zone lock is
  released. A second signal, or ``GRACE`` seconds of such cleaning up, cancel it again: the
  cleanup is cut short (the journal is already written; a lock left behind is reclaimed by
  `resume` on this machine).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from nodeswap.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from nodeswap.i18n import _

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE = 7.0  # seconds of cleaning up after the first signal before it is cut short

_received: list[int] = []  # the stop signals this process received, in order


def received() -> int | None:
    """The first stop signal this process received (None: none)."""
    return _received[0] if _received else None


def describe(signum: int | None) -> str:
    if signum == signal.SIGINT:
        return "Ctrl-C (SIGINT)"
    if signum is None:
        return _("a cancellation")
    return signal.Signals(signum).name


def exit_code(signum: int | None) -> int:
    """130 for SIGINT (and an unknown cause), 143 for SIGTERM."""
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def cause(exc: BaseException) -> str:
    """What cancelled a task: the signal named in its cancellation, else the last signal
    received, else 'a cancellation' (a library caller cancelled it)."""
    msg = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
    return msg or describe(_received[-1] if _received else None)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM does what SIGINT does at this moment (asyncio.run's handler cancels its main
    task; Python's default raises KeyboardInterrupt)."""
    _received.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT and SIGTERM explicitly in this process (main thread only), even when
    inherited as ignored."""
    # Python's own default_int_handler for SIGINT: asyncio.run recognises it and then cancels
    # its main task on Ctrl-C instead of raising KeyboardInterrupt anywhere.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)


@dataclass
class Stop:
    """What ``cancel_on_signals`` saw: the signals received while it was active."""

    signals: list[int] = field(default_factory=list)

    @property
    def signum(self) -> int | None:
        return self.signals[0] if self.signals else None

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)

    def describe(self) -> str:
        return describe(self.signum)


@contextmanager
def cancel_on_signals(grace: float = GRACE) -> Iterator[Stop]:
    """Inside a running event loop, in the main thread: SIGINT and SIGTERM cancel the current
    task (whatever their inherited disposition); the previous handlers come back on exit.
    Elsewhere (another thread) it only yields an empty Stop."""
    stop = Stop()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    timer: list[asyncio.TimerHandle] = []

    def on_signal(signum: int) -> None:
        _received.append(signum)
        stop.signals.append(signum)
        if len(stop.signals) == 1:
            task.cancel(describe(signum))
            timer.append(loop.call_later(grace, task.cancel, describe(signum)))
        else:  # a second signal: cut the cleanup short
            task.cancel(describe(signum))

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield stop
    finally:
        for t in timer:
            t.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            restore: Any = previous[sig] if previous[sig] is not None else signal.SIG_DFL
            signal.signal(sig, restore)
