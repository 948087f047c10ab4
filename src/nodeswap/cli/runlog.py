"""The run's log file: stdlib ``logging``, set up here only (library modules may log through
``logging.getLogger(__name__)``; they never configure it).

apply, resume and rollback write ``STATE/logs/RUN.log`` (and ``--log-file FILE``): mode 0600
in a 0700 folder, appended to by each session of the run (apply, resume, rollback), one line
per record: UTC time, level, logger, message. Every line passes through the journal's
redaction (nodeswap.transport.redact: passwords, tokens, keys masked as ***) before it is
written, and the events logged are the executor's, already redacted with the run's secrets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nodeswap.errors import InputError, Problem
from nodeswap.i18n import _
from nodeswap.run.events import Event, EventSink, event_dict
from nodeswap.transport.redact import Redactor

LOGGER = "nodeswap"
log = logging.getLogger(LOGGER)


class RedactingFormatter(logging.Formatter):
    """Each formatted record (message, arguments and traceback) redacted as a whole."""

    def __init__(self) -> None:
        super().__init__("%(asctime)sZ %(levelname)s %(name)s: %(message)s",
                         datefmt="%Y-%m-%dT%H:%M:%S")  # fmt: skip
        self._redact = Redactor()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if getattr(record, "redacted", False) else self._redact(text)


def private_log(path: Path) -> Path:
    """Create ``path`` (and its folder, 0700 when new) with mode 0600; tighten it if it
    exists. InputError naming the file when it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise InputError([Problem(
            _("cannot write the log: {error}").format(error=exc.strerror or exc),
            file=str(path), key="--log-file")]) from exc
    return path


def log_paths(state_dir: Path, run_id: str, extra: Path | None) -> list[Path]:
    return [state_dir / "logs" / f"{run_id}.log", *([extra] if extra is not None else [])]


@contextmanager
def run_log(state_dir: Path, run_id: str, action: str, extra: Path | None = None
            ) -> Iterator[None]:  # fmt: skip
    """Log to the run's files while the block runs (the session's start and end included)."""
    handlers = []
    for path in log_paths(state_dir, run_id, extra):
        handler = logging.FileHandler(private_log(path), encoding="utf-8")
        handler.setFormatter(RedactingFormatter())
        handlers.append(handler)
        log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.info("%s of run %s begins: %s (pid %d, uid %d)", action, run_id,
             " ".join(["nodeswap", *sys.argv[1:]]), os.getpid(), os.geteuid())
    try:
        yield
    except BaseException as exc:
        log.error("%s of run %s ends with %s: %s", action, run_id, type(exc).__name__, exc)
        raise
    else:
        log.info("%s of run %s ends", action, run_id)
    finally:
        for handler in handlers:
            log.removeHandler(handler)
            handler.close()


def event_line(event: Event, redact: Redactor) -> str:
    """An event as --json prints it, each text field redacted before it is encoded (a
    JSON-encoded text is one line: redacting it afterwards would not see its lines)."""
    data = {k: redact(v) if isinstance(v, str) else v for k, v in event_dict(event).items()}
    return json.dumps(data, ensure_ascii=False)


def logged(sink: EventSink) -> EventSink:
    """``sink``, also logging each event (its JSON form, as --json prints it)."""
    events = logging.getLogger(f"{LOGGER}.events")
    redact = Redactor()

    def both(event: Event) -> None:
        events.info("%s", event_line(event, redact), extra={"redacted": True})
        sink(event)

    return both
