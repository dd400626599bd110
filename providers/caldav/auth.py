"""What `followup auth NAME` and `followup doctor` ask of a CalDAV calendar.

``followup auth`` asks for the password (``getpass``: never echoed), calls
:func:`check` with it, and stores it with ``providers._shared.secrets.set_secret(keyring_key(
NAME), password)`` only when the server took it. ``doctor`` calls :func:`check` with
the stored password and shows the calendars that will be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import PRESETS, settings


def password_prompt(options: Mapping[str, Any]) -> str:
    """The prompt for the password, naming what the service wants (an app password)."""
    preset = PRESETS.get(str(options.get("preset") or ""))
    what = preset.password_help if preset else "the password of your CalDAV account"
    return f"CalDAV password for {options.get('username')} ({what}): "


def check(account: str, options: Mapping[str, Any], password: str) -> list[str]:
    """Log in with ``password`` and list the names of the calendars that will be read.

    :raises ValueError: unusable options. :raises AuthExpired: the login was refused.
    :raises ProviderUnavailable: the server cannot be reached, or a calendar named in
        ``calendars`` does not exist (the message lists those found).
    """
    from .calendar import CalDAVCalendar

    checked = settings(options)
    calendar = CalDAVCalendar(account, checked["url"], checked["username"], lambda: password,
                              calendars=tuple(checked["calendars"]))
    try:
        return [c.name for c in calendar.calendars()]
    finally:
        calendar.close()
