"""nodeswap.run.interrupt in a child process (a stop signal sent to pytest itself would end the
test run if a handler were missing): SIGTERM cancels a run's task with its cause, a cleanup
that hangs is cut after the grace time, the previous handlers come back; outside a run,
SIGTERM does what Ctrl-C does in asyncio.run (its main task cancelled)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_script(body: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_sigterm_cancels_the_run_then_cuts_a_hanging_cleanup() -> None:
    out = run_script("""
        import asyncio, os, signal, time
        from nodeswap.run import interrupt
        interrupt.install()

        async def main():
            with interrupt.cancel_on_signals(grace=0.5) as stop:
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    await asyncio.sleep(30)
                except asyncio.CancelledError as exc:
                    print("cancelled by", interrupt.cause(exc), stop.exit_code)
                    started = time.monotonic()
                    try:
                        await asyncio.sleep(30)  # a cleanup that hangs
                    except asyncio.CancelledError:
                        print("cleanup cut after the grace:", 0.4 < time.monotonic() - started < 5)
            print("restored", signal.getsignal(signal.SIGTERM) is interrupt._on_sigterm)

        asyncio.run(main())
    """)
    assert out == ["cancelled by SIGTERM 143", "cleanup cut after the grace: True", "restored True"]


def test_a_second_signal_cuts_the_cleanup_at_once() -> None:
    out = run_script("""
        import asyncio, os, signal
        from nodeswap.run import interrupt
        interrupt.install()

        async def main():
            with interrupt.cancel_on_signals(grace=30) as stop:
                try:
                    os.kill(os.getpid(), signal.SIGINT)
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    try:
                        os.kill(os.getpid(), signal.SIGTERM)
                        await asyncio.sleep(30)
                    except asyncio.CancelledError as exc:
                        print("cut by", interrupt.cause(exc))
            print(stop.describe(), stop.exit_code)

        asyncio.run(main())
    """)
    assert out == ["cut by SIGTERM", "Ctrl-C (SIGINT) 130"]


def test_sigterm_outside_a_run_cancels_asyncio_runs_main_task() -> None:
    out = run_script("""
        import asyncio, os, signal
        from nodeswap.run import interrupt
        interrupt.install()

        async def main():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                print("cancelled")
                raise

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            print("KeyboardInterrupt", interrupt.exit_code(interrupt.received()))
    """)
    assert out == ["cancelled", "KeyboardInterrupt 143"]
