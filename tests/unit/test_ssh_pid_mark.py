"""The SSH transport's PID line: the remote shell's PID taken off the front of stderr (so an
abandoned command's process group can be stopped), the rest of the output unchanged."""

from __future__ import annotations

import subprocess

from hypothesis import given
from hypothesis import strategies as st

from nodeswap.transport.ssh import PID_MARK, _PidMark, stop_group, with_pid_mark


def feed_all(chunks: list[str]) -> tuple[str, int | None]:
    mark = _PidMark()
    out = "".join(mark.feed(c) for c in chunks) + mark.feed("", final=True)
    return out, mark.pgid


def test_pid_line_taken_off_in_any_chunking() -> None:
    text = f"{PID_MARK}4242\nwarning: x\nmore\n"
    for cut in range(len(text) + 1):
        assert feed_all([text[:cut], text[cut:]]) == ("warning: x\nmore\n", 4242)


@given(st.text())
def test_stderr_without_a_pid_line_passes_unchanged(text: str) -> None:
    if text.startswith(PID_MARK[:1]):
        text = "x" + text
    assert feed_all([text]) == (text, None)


def test_a_pid_line_that_is_not_one_passes_unchanged() -> None:
    assert feed_all([f"{PID_MARK}12ab\nrest"]) == (f"{PID_MARK}12ab\nrest", None)
    assert feed_all([f"{PID_MARK}12"]) == (f"{PID_MARK}12", None)  # no newline: not ours


def test_wrapped_command_keeps_output_status_and_quoting() -> None:
    """The same shell runs the command (eval): status, quoting and $$ (the PID line's)."""
    command = "echo 'a b' \"$0\"; echo $$ >&2; exit 7"
    done = subprocess.run(["bash", "-c", with_pid_mark(command)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 7 and done.stdout == "a b bash\n"
    first, second = done.stderr.splitlines()
    assert first == f"{PID_MARK}{second}"


def test_stop_group_ends_a_process_group() -> None:
    proc = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300; wait"],
                            start_new_session=True)  # fmt: skip
    try:
        done = subprocess.run(["bash", "-c", stop_group(proc.pid)], timeout=30, check=False)
        assert done.returncode == 0
        assert proc.wait(timeout=10) != 0
        alive = f"kill -0 -- -{proc.pid} 2>/dev/null"  # the background sleep too
        gone = subprocess.run(["bash", "-c", f"for i in $(seq 50); do {alive} || exit 0;"
                               " sleep 0.1; done; exit 1"], check=False)  # fmt: skip
        assert gone.returncode == 0, "a process of the group is still there"
    finally:
        proc.kill()
