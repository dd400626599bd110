"""The "local" provider: an iCalendar file and a Maildir++ mailbox.

The calendar file is re-read only when it changed (mtime, size) or when the
engine's window moved to another day; otherwise a cycle costs one ``stat``.
A re-read of an edited file cuts and parses only what changed (``BlockCache``)
and, when the engine hands back the checkpoint of the last read, reports only
the events that changed (``complete=False``): the engine then compares those,
not the whole window.
An event that left the window is looked up by its UID in the whole file (any
date), parsing only that event's components (rule 8).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._shared.ical import BlockCache, read_event, read_events
from ..base import CalendarChanges, CalendarSource, Event
from ..errors import BadData, ProviderUnavailable
from . import maildir
from .maildir import SETTLE_NS, MaildirMailbox

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .. import Owner

logger = logging.getLogger(__name__)


class LocalCalendar(CalendarSource):
    def __init__(self, account: str, path: Path) -> None:
        self.account = account
        self.path = Path(path)
        self._cache = BlockCache()
        self._checkpoint: str | None = None  # the one the last read returned

    def changes(
        self, checkpoint: str | None, start: datetime, end: datetime, default_tz: tzinfo
    ) -> CalendarChanges:
        st = self._stat()
        signature = {
            "mtime_ns": st.st_mtime_ns,
            "size": st.st_size,
            # A file written this very moment may change again without its
            # mtime moving (coarse clock): such a read is not trusted as final.
            "settled": time.time_ns() - st.st_mtime_ns > SETTLE_NS,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "tz": str(default_tz),
        }
        if _unchanged(checkpoint, signature):
            return CalendarChanges(events=(), removed=(), checkpoint=checkpoint,
                                   complete=False, unchanged=True)
        last, self._checkpoint = self._checkpoint, None
        try:
            # The reader, not the data: read_events lets go of the file's bytes once cut
            # (a file of 100k events is 34 MB) instead of holding them while it parses.
            events, problems = read_events(self._read, start, end, default_tz,
                                           source=str(self.path), cache=self._cache)
        except BadData as exc:
            raise BadData(self.account, str(self.path), exc.problem) from None
        logger.debug("read %s: %d events in window, %d problems",
                     self.path, len(events), len(problems))
        self._checkpoint = json.dumps(signature, sort_keys=True)
        delta = self._cache.delta
        if delta is not None and any(delta) and checkpoint is not None and checkpoint == last:
            # The engine holds the result of the last read: what changed since is enough.
            # (Nothing changed, as when a file read just after its write is read again:
            # the whole result, which is always right.)
            gone, new = delta
            before = {e.uid: e for e in gone}
            present = {e.uid for e in new}
            return CalendarChanges(
                events=tuple(e for e in new if before.get(e.uid) != e),
                # As the engine reads a complete result: gone from the window's end side.
                removed=tuple(sorted({e.uid for e in gone
                                      if e.uid not in present and e.end >= start})),
                checkpoint=self._checkpoint,
                complete=False,
                problems=tuple(problems),
            )
        return CalendarChanges(
            events=tuple(events),
            removed=(),
            checkpoint=self._checkpoint,
            complete=True,
            problems=tuple(problems),
        )

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        data = self._read()
        try:
            event, problems = read_event(data, uid, default_tz, source=str(self.path))
        except BadData as exc:
            raise BadData(self.account, str(self.path), exc.problem) from None
        for problem in problems:
            logger.debug("looking up %s: %s", uid, problem)
        return None if event is None or event.cancelled else event

    def _stat(self) -> os.stat_result:
        with self._file_errors():
            return self.path.stat()

    def _read(self) -> bytes:
        with self._file_errors():
            return self.path.read_bytes()

    @contextmanager
    def _file_errors(self) -> Iterator[None]:
        """The file's OSErrors as the project's own error, naming the file."""
        try:
            yield
        except FileNotFoundError:
            raise ProviderUnavailable(self.account,
                                      f"calendar file not found: {self.path}") from None
        except OSError as exc:
            raise ProviderUnavailable(
                self.account, f"cannot read calendar {self.path}: {exc.strerror or exc}"
            ) from None


def _unchanged(checkpoint: str | None, now: dict[str, object]) -> bool:
    if not checkpoint:
        return False
    try:
        old = json.loads(checkpoint)
        same_file = (
            old["settled"]
            and old["mtime_ns"] == now["mtime_ns"]
            and old["size"] == now["size"]
        )
        # The window slides with the clock; a re-read once a day picks up the
        # events it newly covers (the engine's horizon is days, not minutes).
        same_window = (
            str(old["start"])[:10] == str(now["start"])[:10]
            and str(old["end"])[:10] == str(now["end"])[:10]
            and old["tz"] == now["tz"]
        )
    except (ValueError, TypeError, KeyError):
        return False
    return bool(same_file and same_window)


# The option tables (name, type, default, help; None: required) of the two backends
# here: the calendar file and the Maildir. Path options are resolved against the config
# file's folder by the config checker.
CALENDAR_OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("path", Path, None, "the iCalendar (.ics) file"),
)
MAILDIR_OPTIONS = maildir.OPTIONS  # path, drafts, sent, layout (docs/maildir.md)


def calendar_settings(options: Mapping[str, Any], owner: Owner | None = None) -> dict[str, Any]:
    """:raises ValueError: ``path: file not found: ...``."""
    path = options.get("path")
    if path is None:
        raise ValueError("path: required")
    if not Path(path).is_file():
        raise ValueError(f"path: file not found: {path}")
    return dict(options)


def maildir_settings(options: Mapping[str, Any], owner: Owner | None = None) -> dict[str, Any]:
    """:raises ValueError: ``path: not a directory: ...``."""
    result = maildir.settings(options)
    if not Path(result["path"]).is_dir():
        raise ValueError(f"path: not a directory: {result['path']}")
    return result


def open_calendar(account: str, options: Mapping[str, Any],
                  owner: Owner | None = None) -> tuple[LocalCalendar, Callable[[], None]]:
    return LocalCalendar(account, Path(options["path"])), lambda: None


def open_maildir(account: str, options: Mapping[str, Any],
                 owner: Owner | None = None) -> tuple[MaildirMailbox, Callable[[], None]]:
    box = maildir.open_mailbox(account, options)
    return box, box.close  # its directory watches
