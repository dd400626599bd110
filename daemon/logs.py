"""Logging set-up for the CLI and the daemon: stderr, shaped for journald when under systemd.

Under systemd, stderr goes to the journal, which stamps every line itself and
reads a leading ``<N>`` as the line's syslog priority (so ``journalctl -p
warning`` works). Elsewhere each line carries an ISO 8601 local time.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

_PRIORITY = {  # syslog priorities of the logging levels
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class _Handler(logging.StreamHandler):
    """Our stderr handler; a distinct class so set-up can find and replace it.

    It writes to whatever ``sys.stderr`` is at the time (as logging's own
    last-resort handler does), so a stream swapped by a test runner and closed
    later is never written to.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # not StreamHandler's: it would pin the stream

    @property
    def stream(self) -> TextIO:
        return sys.stderr


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{super().format(record)}"


def journald_stderr() -> bool:
    """True when stderr is the journal stream systemd connected (``$JOURNAL_STREAM``).

    The variable is inherited by children whose stderr may be redirected, so it
    counts only when its device:inode pair is stderr's own.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    try:
        st = os.fstat(sys.stderr.fileno())
        return (int(device), int(inode)) == (st.st_dev, st.st_ino)
    except (ValueError, OSError, AttributeError):
        return False


def setup_logging(level: str) -> None:
    """Log at ``level`` ("DEBUG", "INFO", "WARNING", "ERROR") to stderr.

    Safe to call again (the daemon does on SIGHUP): our handler is replaced,
    never duplicated, and handlers others installed are left alone.
    """
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler()
    if journald_stderr():
        handler.setFormatter(_JournalFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S%z"
        ))
    root.addHandler(handler)
    root.setLevel(number)
    # APScheduler reports every job run at INFO; the heartbeat alone would flood the journal.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if number <= logging.DEBUG
                                              else logging.WARNING)
    logging.captureWarnings(True)
