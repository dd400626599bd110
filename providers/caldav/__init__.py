"""A CalDAV calendar (RFC 4791): iCloud, Fastmail, Nextcloud, Radicale, any CalDAV server.

Discovery from a server or principal URL with python-caldav; then, per calendar, one
``sync-collection`` REPORT (RFC 6578) a cycle where the server offers sync tokens, a
``getetag`` PROPFIND (an ETag diff) where it does not, and a ``calendar-query`` for the
window only when something changed. See :mod:`providers.caldav.calendar`.

The password (an app-specific password for iCloud and Fastmail, an app password for
Nextcloud) lives in the system keyring under :func:`keyring_key`; ``followup auth
NAME`` asks for it. Light on purpose: :data:`OPTIONS` and :data:`PRESETS` load neither
python-caldav nor requests; :func:`open_calendar` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..base import CalendarSource

TYPE = "caldav"


@dataclass(frozen=True)
class Preset:
    url: str  # "{url}" stands for the account's own url (a self-hosted server's root)
    password_help: str


PRESETS: dict[str, Preset] = {
    "icloud": Preset("https://caldav.icloud.com/",
                     "an app-specific password (account.apple.com > Sign-In and Security > "
                     "App-Specific Passwords); your Apple Account password is refused"),
    "fastmail": Preset("https://caldav.fastmail.com/dav/",
                       "an app password with CalDAV access (Settings > Privacy & Security > "
                       "Manage app passwords and access)"),
    "nextcloud": Preset("{url}/remote.php/dav/",
                        "an app password (Settings > Security > Devices & sessions > Create "
                        "new app password)"),
}

# (name, type, default, help), as every backend's table. A default of None: required
# (here: `url` unless a preset fills it, and `username`).
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("preset", str, "", "a known service that fills in `url` (icloud, fastmail) or completes "
     "it (nextcloud: `url` is the server, e.g. \"https://cloud.example.org\"): "
     + ", ".join(PRESETS)),
    ("url", str, None, "the CalDAV server or principal URL (https://; http:// only for "
     "127.0.0.1/localhost); required without a preset, overrides icloud's and fastmail's"),
    ("username", str, None, "the login: the Apple Account email (iCloud), the full address "
     "(Fastmail), the user name (Nextcloud)"),
    ("calendars", list, [], "the display names of the calendars to read; empty: every "
     "calendar that holds events (task lists are left out)"),
)
# What `followup auth NAME` asks for and keeps in the keyring under keyring_key(NAME).
SECRET = "password"


def settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options checked, with defaults applied and ``url`` resolved from the preset.

    :raises ValueError: with every problem, one per line, named by option.
    """
    problems = [f"unknown option {k!r}" for k in options if k not in {o[0] for o in OPTIONS}]
    result = {name: options.get(name, default) for name, _, default, _ in OPTIONS}
    try:
        result["url"] = server_url(options)
    except ValueError as exc:
        problems.append(f"url: {exc}")
    if not result["username"] or not isinstance(result["username"], str):
        problems.append("username: required")
    names = result["calendars"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        problems.append("calendars: a list of calendar names")
    if problems:
        raise ValueError("\n".join(problems))
    return result


def keyring_key(account: str) -> str:
    """The keyring entry (username under service ``interview-followup``) of the password."""
    return f"{account}/caldav"


def server_url(options: Mapping[str, Any]) -> str:
    """The URL discovery starts from. :raises ValueError: none given, or not https://."""
    preset = str(options.get("preset") or "")
    url = str(options.get("url") or "").strip()
    if preset:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        template = PRESETS[preset].url
        if "{url}" in template:
            if not url:
                raise ValueError(f"preset {preset!r} needs `url`: the server's address")
            if "/remote.php/" not in url:
                url = template.format(url=url.rstrip("/"))
        elif not url:
            url = template
    if not url:
        raise ValueError("`url` is needed (or a `preset`)")
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"`url` is not a web address: {url!r}")
    local = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValueError("`url` must start with https:// (a password would travel "
                         "unencrypted)")
    return url


def open_calendar(account: str, options: Mapping[str, Any],
                  password: Callable[[], str | None] | None = None) -> CalendarSource:
    """The CalDAV calendar of ``account``; ``password`` returns the password (default: from
    the keyring). :raises ValueError: as :func:`settings` (the config checker calls it
    first)."""
    from .calendar import CalDAVCalendar

    if password is None:
        from .._shared.secrets import getter

        password = getter(account, keyring_key(account))

    checked = settings(options)
    return CalDAVCalendar(account, checked["url"], checked["username"], password,
                          calendars=tuple(checked["calendars"]))
