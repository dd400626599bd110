"""Credentials of an IMAP account: a password, app password or OAuth2 token in the keyring.

The secret lives in the system keyring under :func:`secret_key` (service
``interview-followup``, as every backend's; ``NAME/imap``, so an account whose calendar
is Google's keeps its OAuth credentials under ``NAME`` beside it), never in the config
or a file, and is read each time a connection logs in. ``followup auth NAME`` calls
:func:`ask_password` and then the mailbox's ``describe()`` (a login and one LIST), so a
mistyped password is reported at once (AuthExpired) and the folders found are shown.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

from .._shared import secrets


def secret_key(account: str) -> str:
    """The keyring username of an account's IMAP secret."""
    return f"{account}/imap"


def keyring_password(account: str) -> Callable[[], str | None]:
    """The getter :class:`~providers.imap.mailbox.ImapMailbox` takes: the stored secret."""
    return secrets.getter(account, secret_key(account))


def ask_password(account: str, prompt: str = "", *,
                 read: Callable[[str], str] = getpass.getpass) -> str:
    """Ask for the password (never echoed) and store it in the keyring.

    :raises NoKeyring: no keyring can keep it (there is no plain-file fallback).
    :raises ValueError: nothing was typed.
    """
    value = read(prompt or f"IMAP password (or app password) for account {account}: ")
    if not value:
        raise ValueError("no password given")
    secrets.set_secret(secret_key(account), value)
    return value
