"""Secrets (OAuth credentials) in the system keyring, one entry per account.

Service ``interview-followup``, username the account name. Every keyring
failure becomes :class:`~providers.errors.NoKeyring`, whose message says how to
get a usable keyring; there is deliberately no plain-file fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from ..errors import NoKeyring

SERVICE = "interview-followup"

log = logging.getLogger(__name__)


def backend(account: str = "") -> KeyringBackend:
    """The keyring in use; NoKeyring when there is none that keeps secrets."""
    try:
        chosen = keyring.get_keyring()
    except Exception as exc:  # a backend named in the environment that cannot load
        raise NoKeyring(account, f"cannot load the keyring backend: {_describe(exc)}") from None
    # fail.Keyring is keyring's "nothing found"; null.Keyring silently forgets everything.
    if isinstance(chosen, fail.Keyring | null.Keyring):
        raise NoKeyring(account, f"keyring found no backend ({type(chosen).__module__})")
    return chosen


def backend_name() -> str:
    """A short description for `followup doctor`, e.g. 'SecretService Keyring'."""
    chosen = backend()
    return getattr(chosen, "name", type(chosen).__name__)


def get_secret(account: str) -> str | None:
    """The stored secret of ``account``, or None when nothing is stored."""
    store = backend(account)
    try:
        return store.get_password(SERVICE, account)
    except Exception as exc:  # locked, D-Bus gone, backend bugs: all mean "no keyring now"
        raise NoKeyring(account, f"cannot read from {_name(store)}: {_describe(exc)}") from None


def getter(account: str, key: str) -> Callable[[], str | None]:
    """A getter of the secret kept under ``key`` (``NAME/imap``, ``NAME/feed-url``) for the
    backends that ask for it when they connect; a missing keyring is named after the
    account, not after its keyring entry."""
    def get() -> str | None:
        try:
            return get_secret(key)
        except NoKeyring as exc:
            raise NoKeyring(account, exc.detail) from None

    return get


def set_secret(account: str, value: str, *, quiet: bool = False) -> None:
    """Store ``value``; ``quiet`` logs at DEBUG (routine write-backs, one of several parts)."""
    store = backend(account)
    try:
        store.set_password(SERVICE, account, value)
    except Exception as exc:
        raise NoKeyring(account, f"cannot write to {_name(store)}: {_describe(exc)}") from None
    log.log(logging.DEBUG if quiet else logging.INFO,
            "stored the credentials of account %s in %s", account, _name(store))


def delete_secret(account: str) -> None:
    """Forget the secret of ``account``; nothing stored is not an error."""
    store = backend(account)
    try:
        store.delete_password(SERVICE, account)
    except keyring.errors.PasswordDeleteError:
        pass
    except Exception as exc:
        raise NoKeyring(account, f"cannot delete from {_name(store)}: {_describe(exc)}") from None


def _name(store: KeyringBackend) -> str:
    return str(getattr(store, "name", type(store).__name__))


def _describe(exc: Exception) -> str:
    if isinstance(exc, keyring.errors.KeyringLocked):
        return "the keyring is locked"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
