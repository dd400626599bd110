"""A Google account: Calendar and Gmail on one API session (one token), or either alone
beside another backend's part."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._shared.retry import Retry
from ..base import Account
from .api import GoogleApi
from .calendar import GoogleCalendar
from .mailbox import Gmail

if TYPE_CHECKING:
    from .. import Owner

@dataclass
class GoogleAccount(Account):
    api: GoogleApi | None = None

    def close(self) -> None:
        if self.api is not None:
            self.api.close()


def open_pair(account: str, options: Mapping[str, Any], owner: Owner | None = None, *,
              retry: Retry | None = None) -> GoogleAccount:
    """Calendar and Gmail on one session (one token). Cheap: nothing is read from the
    keyring and no client is built until the first call."""
    api = GoogleApi(account, options.get("endpoint") or None, retry=retry)
    return GoogleAccount(
        name=account,
        calendar=GoogleCalendar(api, options.get("calendars") or ["primary"]),
        mailbox=Gmail(api),
        provider="google",
        api=api,
    )


def open_calendar(account: str, options: Mapping[str, Any], owner: Owner | None = None
                  ) -> tuple[GoogleCalendar, Callable[[], None]]:
    """The calendar alone (beside another backend's mailbox); the token is the account's."""
    api = GoogleApi(account, options.get("endpoint") or None)
    return GoogleCalendar(api, options.get("calendars") or ["primary"]), api.close


def open_mailbox(account: str, options: Mapping[str, Any], owner: Owner | None = None
                 ) -> tuple[Gmail, Callable[[], None]]:
    """Gmail alone (beside another backend's calendar)."""
    api = GoogleApi(account, options.get("endpoint") or None)
    return Gmail(api), api.close


def open_account(account: Any, config: Any = None, *,
                 retry: Retry | None = None) -> GoogleAccount:
    """:func:`open_pair` of an entry with ``name`` and ``options`` (tests, benches)."""
    return open_pair(account.name, account.options, retry=retry)
