"""An iCalendar feed: a calendar published at a secret https:// address.

Google Calendar's "secret address in iCal format", Outlook's published calendar,
any subscription (``webcal://`` is read as ``https://``). The address is a password
in all but name: it lives in the system keyring (``followup auth NAME`` asks for it),
never in the config file, and only a redacted form
(``https://calendar.google.com/…/basic.ics``) ever reaches a log line.

Light on purpose: importing this package (for :data:`OPTIONS`) loads neither requests
nor the parser; :func:`open_calendar` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..base import CalendarSource

TYPE = "feed"

# (name, type, default, help), as every backend's table: none. The address is the one
# setting, and it is a secret: never in the config file.
OPTIONS: tuple[tuple[str, type, Any, str], ...] = ()
# What `followup auth NAME` asks for (not echoed) and keeps in the keyring under
# keyring_key(NAME). Google Calendar: Settings > your calendar > Integrate calendar >
# "Secret address in iCal format".
SECRET = "the calendar's secret address (https://... or webcal://...)"


def settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """:raises ValueError: an option given (a feed takes none: the address is a secret),
    one per line."""
    problems = [f"unknown option {k!r}" + (": the address is not kept in the config; run "
                                           "`followup auth NAME`" if k == "url" else "")
                for k in options]
    if problems:
        raise ValueError("\n".join(problems))
    return {}


def keyring_key(account: str) -> str:
    """The keyring entry (username under service ``interview-followup``) of the address."""
    return f"{account}/feed-url"


def open_calendar(account: str, options: Mapping[str, Any],
                  url: Callable[[], str | None] | None = None) -> CalendarSource:
    """The feed of ``account``; ``url`` returns the address (default: from the keyring)."""
    from .calendar import FeedCalendar

    settings(options)
    if url is None:
        from .._shared.secrets import getter

        url = getter(account, keyring_key(account))

    return FeedCalendar(account, url)
