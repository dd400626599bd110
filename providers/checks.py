"""What `followup auth NAME` and `followup doctor` do with each backend's part.

The registry (:data:`providers.REGISTRY`) names, per backend, whether it has a secret;
here are the two operations, in one form for every backend with a secret kept in the
keyring (IMAP and CalDAV passwords, a feed's address):

- :func:`authorise`: ask (``read`` never echoes), check with the server, and only
  then store in the keyring; returns lines for the person.
- :func:`check`: the same check with what is stored (nothing stored is an
  :class:`~providers.errors.AuthExpired` naming `followup auth`); returns lines.

Neither ever returns or logs a secret: a feed's address appears only redacted.
Google and Microsoft sign in through their own flows (providers.google.auth,
providers.microsoft.auth), which daemon/cli.py drives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import CALENDAR, MAILBOX, backend

if TYPE_CHECKING:
    from . import Owner

Read = Callable[[str], str]


def authorise(account: str, part: str, kind: str, options: Mapping[str, Any],
              owner: Owner, read: Read) -> list[str]:
    """:raises ValueError: nothing typed, or an address that is not https://.
    :raises ProviderError: the login was refused, the server cannot be reached."""
    if (part, kind) == (MAILBOX, "imap"):
        return _imap(account, options, owner, read)
    if (part, kind) == (CALENDAR, "caldav"):
        return _caldav(account, options, read)
    if (part, kind) == (CALENDAR, "feed"):
        return _feed(account, read)
    return []


def check(account: str, part: str, kind: str, options: Mapping[str, Any],
          owner: Owner) -> list[str]:
    """Lines for `followup doctor` (login, folders, calendars), with the stored secret.

    :raises ProviderError: nothing stored (AuthExpired), refused, unreachable."""
    from ._shared import secrets
    from .errors import AuthExpired

    def stored(key: str, what: str) -> str:
        value = secrets.get_secret(key)
        if not value:
            raise AuthExpired(account, f"no {what} stored; run: followup auth {account}")
        return value

    if (part, kind) == (MAILBOX, "maildir"):
        from .local.maildir import open_mailbox as open_maildir

        return _describe(open_maildir(account, options).describe())
    if (part, kind) == (MAILBOX, "imap"):
        from .imap import open_mailbox

        box = open_mailbox(account, options, default_username=owner.email)
        try:
            return _describe(box.describe())
        finally:
            box.close()
    if (part, kind) == (CALENDAR, "caldav"):
        from .caldav import keyring_key
        from .caldav.auth import check as caldav_check

        names = caldav_check(account, options, stored(keyring_key(account), "password"))
        return [f"calendars read: {', '.join(names) or '(none)'}"]
    if (part, kind) == (CALENDAR, "feed"):
        from .feed import keyring_key
        from .feed.auth import check as feed_check

        _, line = feed_check(account, stored(keyring_key(account), "feed address"))
        return [line]
    if (part, kind) == (CALENDAR, "vdir"):
        from .vdir import check as vdir_check

        return [vdir_check(account, options)]
    return []


def needs_secret(part: str, kind: str) -> bool:
    """A secret that `followup auth` asks for and keeps in the keyring (not a sign-in)."""
    return backend(part, kind).secret not in ("", "oauth")


def _imap(account: str, options: Mapping[str, Any], owner: Owner, read: Read) -> list[str]:
    from ._shared import secrets
    from .imap import open_mailbox, settings
    from .imap.auth import secret_key

    checked = settings(options, owner.email)
    what = "OAuth2 access token" if checked["auth"] == "xoauth2" else "password (or app password)"
    password = read(f"IMAP {what} for {checked['username']} at {checked['host']}: ")
    if not password:
        raise ValueError("no password given")
    box = open_mailbox(account, options, default_username=owner.email,
                       password=lambda: password)
    try:
        found = box.describe()
    finally:
        box.close()
    secrets.set_secret(secret_key(account), password)
    return [f"IMAP login as {checked['username']} at {checked['host']}: ok; the password is "
            "in the system keyring", *_describe(found)]


def _caldav(account: str, options: Mapping[str, Any], read: Read) -> list[str]:
    from ._shared import secrets
    from .caldav import keyring_key
    from .caldav.auth import check as caldav_check
    from .caldav.auth import password_prompt

    password = read(password_prompt(options))
    if not password:
        raise ValueError("no password given")
    names = caldav_check(account, options, password)
    secrets.set_secret(keyring_key(account), password)
    return [f"CalDAV login as {options.get('username')}: ok; the password is in the system "
            "keyring", f"calendars read: {', '.join(names) or '(none)'}"]


def _feed(account: str, read: Read) -> list[str]:
    from ._shared import secrets
    from .feed import SECRET, keyring_key
    from .feed.auth import check as feed_check

    address = read(f"Feed address, {SECRET}: ").strip()
    if not address:
        raise ValueError("no address given")
    url, line = feed_check(account, address)
    secrets.set_secret(keyring_key(account), url)
    return [line, "the address is in the system keyring"]


def _describe(found: Mapping[str, Any]) -> list[str]:
    read = ", ".join(f"{name} ({role})" for name, role in found.get("read", ()))
    lines = [f"drafts go to: {found.get('drafts')}", f"folders read: {read or '(none)'}"]
    if found.get("not read"):
        lines.append(f"not read: {', '.join(found['not read'])}")
    if found.get("extensions"):
        lines.append(f"extensions: {', '.join(found['extensions'])}")
    if found.get("layout"):
        lines.append(f"layout: {found['layout']}")
    lines += [f"WARNING: {w}" for w in found.get("warnings", ())]
    return lines
