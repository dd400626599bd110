"""The "local" provider: an iCalendar file and a Maildir++ mailbox.

The calendar file is re-read only when it changed (mtime, size) or when the
engine's window moved to another day; otherwise a cycle costs one ``stat``.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Account, CalendarChanges, CalendarSource
from .errors import BadData, ProviderUnavailable
from .ical import read_events
from .maildir import SETTLE_NS, MaildirMailbox

if TYPE_CHECKING:
    from daemon.config import AccountConfig, Config

logger = logging.getLogger(__name__)


class LocalCalendar(CalendarSource):
    def __init__(self, account: str, path: Path) -> None:
        self.account = account
        self.path = Path(path)

    def changes(
        self, checkpoint: str | None, start: datetime, end: datetime, default_tz: tzinfo
    ) -> CalendarChanges:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise ProviderUnavailable(self.account,
                                      f"calendar file not found: {self.path}") from None
        except OSError as exc:
            raise ProviderUnavailable(
                self.account, f"cannot read calendar {self.path}: {exc.strerror or exc}"
            ) from None
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
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ProviderUnavailable(
                self.account, f"cannot read calendar {self.path}: {exc.strerror or exc}"
            ) from None
        try:
            events, problems = read_events(data, start, end, default_tz, source=str(self.path))
        except BadData as exc:
            raise BadData(self.account, str(self.path), exc.problem) from None
        logger.debug("read %s: %d events in window, %d problems",
                     self.path, len(events), len(problems))
        return CalendarChanges(
            events=tuple(events),
            removed=(),
            checkpoint=json.dumps(signature, sort_keys=True),
            complete=True,
            problems=tuple(problems),
        )


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


def open_account(account: AccountConfig, config: Config) -> Account:
    options = account.options
    return Account(
        name=account.name,
        calendar=LocalCalendar(account.name, Path(options["calendar"])),
        mailbox=MaildirMailbox(account.name, Path(options["maildir"])),
        provider="local",
    )
