"""What `followup auth NAME` and `followup doctor` ask of a feed.

``followup auth`` asks for the address (``getpass``: it is a secret, not echoed),
calls :func:`check`, and stores the address it returns with
``providers._shared.secrets.set_secret(keyring_key(NAME), address)`` only when the feed could
be read. ``doctor`` calls :func:`check` with the stored address. Neither prints the
address: only :func:`~providers._shared.http.redacted` forms.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def check(account: str, address: str) -> tuple[str, str]:
    """Fetch and read the feed once: (the address to store, a line for the user such as
    ``"https://calendar.google.com/…/basic.ics: 14 events in the next 90 days"``).

    :raises ValueError: not an https:// (or webcal://) address.
    :raises AuthExpired: refused or no calendar there (401, 403, 404, 410).
    :raises ProviderUnavailable, BadData: cannot be reached; not an iCalendar feed.
    """
    from .._shared.http import redacted
    from .calendar import FeedCalendar, normalise_url

    url = normalise_url(address)
    calendar = FeedCalendar(account, lambda: url)
    now = datetime.now(UTC)
    try:
        changes = calendar.changes(None, now, now + timedelta(days=90), UTC)
    finally:
        calendar.close()
    return url, f"{redacted(url)}: {len(changes.events)} events in the next 90 days"
