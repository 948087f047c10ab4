"""Runs a plan's steps along its graph (the steps' ``after``, nodeswap.plan.graph): every step
whose dependencies are done starts, in plan order, up to ``MAX_AT_ONCE`` steps at once and one
side-effect step per host at a time (two launches from firstbox run one after the other, while
the first VM's wait runs beside the second launch).

The first step to fail (or to stop at a gate) stops the scheduling of new steps; the steps
already running finish (each records its own end), then the failure of the step first in
plan order is raised (several read-only steps may fail at once, e.g. all that reach a host
that went down: the one named is the same whatever the timing). A
cancellation (Ctrl-C, SIGTERM) cancels every running step, so each records its interruption in
the journal, and is re-raised once they have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

from nodeswap.errors import BugError
from nodeswap.plan.model import Plan, Step

MAX_AT_ONCE = 16  # steps running at once (read-only fetches and checks, mostly)

RunOne = Callable[[Step, int], Awaitable[None]]


def host_of(plan: Plan, step: Step) -> str:
    """The host a step's command runs on (by address: two targets may name one host)."""
    return plan.targets[step.target].address


class Scheduler:
    """One pass over a plan's graph: the steps not yet finished, run as the graph allows."""

    def __init__(self, plan: Plan, finished: Collection[str], run_one: RunOne, *,
                 limit: int = MAX_AT_ONCE) -> None:  # fmt: skip
        self.plan = plan
        self.finished = set(finished)
        self._run_one = run_one
        self._limit = limit
        self._pos = {s.id: i for i, s in enumerate(plan.steps)}
        self._pending = [s for s in plan.steps if s.id not in self.finished]
        self._running: dict[asyncio.Task[None], Step] = {}
        self._busy: set[str] = set()  # hosts running a side-effect step
        self.failures: dict[int, BaseException] = {}  # plan position -> what it raised

    async def run(self) -> None:
        """Run every step not finished; raise the first failure once nothing runs."""
        try:
            while True:
                if not self.failures:
                    self._start_ready()
                if not self._running:
                    break
                done, _ = await asyncio.wait(self._running,
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: self._pos[self._running[t].id]):
                    self._finished(task)
        except asyncio.CancelledError:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)
            raise
        if self.failures:
            raise self.failures[min(self.failures)]
        if self._pending:  # a valid graph (plan.graph.problems) always drains
            raise BugError(f"steps never became ready: {[s.id for s in self._pending]}")

    def _start_ready(self) -> None:
        for step in list(self._pending):
            if len(self._running) >= self._limit:
                return
            if not set(step.after or ()) <= self.finished:
                continue
            if step.side_effect:
                host = host_of(self.plan, step)
                if host in self._busy:
                    continue
                self._busy.add(host)
            self._pending.remove(step)
            task = asyncio.ensure_future(self._run_one(step, self._pos[step.id]))
            self._running[task] = step

    def _finished(self, task: asyncio.Task[None]) -> None:
        step = self._running.pop(task)
        if step.side_effect:
            self._busy.discard(host_of(self.plan, step))
        exc = task.exception() if not task.cancelled() else asyncio.CancelledError()
        if exc is None:
            self.finished.add(step.id)
        else:
            self.failures[self._pos[step.id]] = exc
