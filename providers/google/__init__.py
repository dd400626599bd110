"""The "google" backend: Google Calendar (calendar.py) and Gmail (mailbox.py) through
google-api-python-client, on one session and token (account.py, api.py, auth.py).

This module holds the option tables only, so the config checker, ``doctor``, ``auth`` and
the docs read them without loading the SDK. (name, type, default, help); a default of
None means required.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .. import Owner

Option = tuple[str, type, Any, str]

_SECRETS: Option = ("client_secrets", Path, None, "the OAuth client JSON downloaded from the "
                    "Google Cloud console (docs/google.md); used by `followup auth` only")
_ENDPOINT: Option = ("endpoint", str, "", "the API root (tests, private endpoints)")
GOOGLE_CALENDAR: tuple[Option, ...] = (
    _SECRETS,
    ("calendars", list, ["primary"], "the calendar ids to read (\"primary\" is your main "
     "calendar)"),
    _ENDPOINT,
)
GMAIL: tuple[Option, ...] = (_SECRETS, _ENDPOINT)

def google_settings(options: Mapping[str, Any], owner: Owner | None = None) -> dict[str, Any]:
    """:raises ValueError: one problem a line, ``option: what``."""
    problems = []
    secrets = options.get("client_secrets")
    if secrets is None:
        problems.append("client_secrets: required")
    elif not Path(secrets).is_file():
        problems.append(f"client_secrets: file not found: {secrets} (the OAuth client JSON "
                        "you downloaded)")
    if options.get("calendars") == []:
        problems.append("calendars: at least one calendar id is needed (\"primary\" is your "
                        "main calendar)")
    if problems:
        raise ValueError("\n".join(problems))
    return dict(options)
