"""The vdir calendar: a cycle costs one directory listing while nothing changed.

The listing (names, mtimes, sizes) is the checkpoint's signature, as the local .ics
file's mtime is in :mod:`providers.local`. When it changed, only the files whose
(mtime, size) changed are read again; the others' events come from memory. A file
vdirsyncer is still writing is a dot-file or ``.tmp`` and is not listed.

An unreadable file (not iCalendar, cut short) is named in ``problems``; if this
process read it before, its last readable version stands in for it, so a file caught
mid-write changes nothing. A look-up (rule 8) tries the file named after the UID
first, then any file that holds the UID's text; one of those that cannot be read
raises ProviderUnavailable rather than have its interview count as cancelled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from .._shared.ical import read_event, read_events
from ..base import CalendarChanges, CalendarSource, Event
from ..errors import BadData, ProviderUnavailable
from ..local.maildir import SETTLE_NS

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class _Read:
    mtime_ns: int
    size: int
    window: tuple[str, str, str]
    events: tuple[Event, ...]
    problems: tuple[str, ...]


class VdirCalendar(CalendarSource):
    def __init__(self, account: str, path: Path, fileext: str = ".ics") -> None:
        self.account = account
        self.path = Path(path)
        self.fileext = fileext
        self._cache: dict[str, _Read] = {}

    def changes(self, checkpoint: str | None, start: datetime, end: datetime,
                default_tz: tzinfo) -> CalendarChanges:
        listing = self._list()
        now = time.time_ns()
        window = (start.isoformat(), end.isoformat(), str(default_tz))
        signature = {
            "v": CHECKPOINT_VERSION, "kind": "vdir",
            "files": hashlib.sha256(json.dumps(sorted(listing.items())).encode()).hexdigest(),
            # A file written this very moment may change again without its mtime moving.
            "settled": all(now - mtime > SETTLE_NS for mtime, _ in listing.values()),
            "window": [window[0][:10], window[1][:10], window[2]],
        }
        if _unchanged(checkpoint, signature):
            return CalendarChanges((), (), checkpoint, complete=False, unchanged=True)
        events: list[Event] = []
        problems: list[str] = []
        reread = 0
        for name, (mtime, size) in sorted(listing.items()):
            cached = self._cache.get(name)
            if cached is None or (cached.mtime_ns, cached.size, cached.window) != (
                    mtime, size, window):
                cached = self._read_file(name, mtime, size, start, end, default_tz, window)
                reread += 1
            events.extend(cached.events)
            problems.extend(cached.problems)
        for gone in set(self._cache) - set(listing):
            del self._cache[gone]
        logger.debug("account %s: %s: %d files (%d read), %d events in window",
                     self.account, self.path, len(listing), reread, len(events))
        return CalendarChanges(tuple(events), (), json.dumps(signature, sort_keys=True),
                               complete=True, problems=tuple(problems))

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        base = uid.rpartition("/")[0]
        names = list(self._list())
        # vdirsyncer names a file after its UID (with unsafe characters replaced).
        first = [n for n in names if n[: -len(self.fileext)] in {uid, base}]
        for name in first + [n for n in names if n not in first]:
            data = self._read_bytes(name)
            if name not in first and (base or uid).encode() not in data:
                continue  # (the series UID is part of an instance's UID)
            try:
                event, _ = read_event(data, uid, default_tz, source=str(self.path / name))
            except BadData as exc:
                # Unknown is not deleted: ask again next cycle.
                raise ProviderUnavailable(self.account, f"{self.path / name}: {exc.problem}; "
                                          f"looking for {uid} again next cycle") from None
            if event is not None:
                return None if event.cancelled else event
        return None

    def count(self) -> int:
        """How many item files the folder holds (for `followup doctor`)."""
        return len(self._list())

    # -- files -----------------------------------------------------------------------
    def _list(self) -> dict[str, tuple[int, int]]:
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            raise ProviderUnavailable(self.account,
                                      f"calendar folder not found: {self.path}") from None
        except OSError as exc:
            raise ProviderUnavailable(self.account, f"cannot list calendar folder "
                                      f"{self.path}: {exc.strerror or exc}") from None
        listing: dict[str, tuple[int, int]] = {}
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.endswith(self.fileext):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue  # removed while listing: gone
            listing[entry.name] = (st.st_mtime_ns, st.st_size)
        return listing

    def _read_bytes(self, name: str) -> bytes:
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return b""  # removed since the listing: it holds nothing any more
        except OSError as exc:
            raise ProviderUnavailable(self.account, f"cannot read {self.path / name}: "
                                      f"{exc.strerror or exc}") from None

    def _read_file(self, name: str, mtime: int, size: int, start: datetime, end: datetime,
                   default_tz: tzinfo, window: tuple[str, str, str]) -> _Read:
        source = str(self.path / name)
        data = self._read_bytes(name)
        try:
            events, problems = read_events(data, start, end, default_tz, source=source,
                                            cache=False)  # one small file: nothing to reuse
        except BadData as exc:
            before = self._cache.get(name)
            # Its last readable version (of this window) stands in for it; else nothing.
            kept = before.events if before is not None and before.window == window else ()
            read = _Read(mtime, size, window, kept, (f"{source}: {exc.problem}",))
        else:
            read = _Read(mtime, size, window, tuple(events), tuple(problems))
        self._cache[name] = read
        return read


def _unchanged(checkpoint: str | None, now: dict[str, object]) -> bool:
    if not checkpoint:
        return False
    try:
        old = json.loads(checkpoint)
        return bool(old["settled"] and {k: v for k, v in old.items() if k != "settled"}
                    == {k: v for k, v in now.items() if k != "settled"})
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
