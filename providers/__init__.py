"""Calendar and mailbox backends, looked up by (part, type).

An account is a calendar part and a mailbox part, each with its own backend. The
registry below maps ``("calendar", "caldav")`` or ``("mailbox", "imap")`` to the
module that owns the backend's option table (light: no SDK) and to the function
that opens it; the heavy module is imported only when an account uses it, so an
unused backend's SDK is never loaded and ``followup --help`` stays quick.

Everything here takes plain values (the account's name, a part's options, the
owner's addresses and zone): providers import nothing from daemon/.

Option tables are tuples of ``(name, type, default, help)``; a default of None
means required unless the backend's ``settings`` says otherwise (IMAP's ``host``
comes from a preset, its ``username`` from the owner's address).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Account

Option = tuple[str, type, Any, str]
Close = Callable[[], None]

CALENDAR, MAILBOX = "calendar", "mailbox"


@dataclass(frozen=True)
class Owner:
    """What a backend may need to know about the person (from [me])."""

    email: str
    addresses: frozenset[str] = frozenset()
    timezone: tzinfo | None = None


@dataclass(frozen=True)
class Part:
    """One half of an account: a backend type and its checked options."""

    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    part: str  # CALENDAR or MAILBOX
    type: str
    # Where each piece lives, as "module:name" with the module relative to this package
    # (".local", ".google.account"; "" for this module itself).
    table: str  # the option table (in a light module)
    opener: str  # "module:function": (account, options, owner) -> (source, close)
    settings: str = ""  # "module:function": options -> checked options; ValueError lines
    secret: str = ""  # what `followup auth` asks for; "" for nothing, "oauth" for a sign-in
    extra: str = ""  # the pyproject extra that installs its SDK
    modules: tuple[str, ...] = ()  # top-level modules of that extra (find_spec, no import)
    shared: str = ""  # "module:function": (account, options, owner) -> Account of both parts
    help: str = ""


_GOOGLE_MODULES = ("googleapiclient", "google_auth_oauthlib", "google_auth_httplib2")
_BACKENDS = (
    Backend(CALENDAR, "local", ".local:CALENDAR_OPTIONS", ".local:open_calendar",
            ".local:calendar_settings", help="an iCalendar (.ics) file"),
    Backend(CALENDAR, "vdir", ".vdir:OPTIONS", ":_open_vdir",
            ":_vdir_settings", help="a folder of .ics files (khal, vdirsyncer)"),
    Backend(CALENDAR, "feed", ".feed:OPTIONS", ":_open_feed",
            ":_feed_settings", secret="address",
            help="an iCalendar feed at a secret https:// address"),
    Backend(CALENDAR, "caldav", ".caldav:OPTIONS", ":_open_caldav",
            ":_caldav_settings", secret="password", extra="caldav",
            modules=("caldav",), help="a CalDAV server (iCloud, Fastmail, Nextcloud, ...)"),
    Backend(CALENDAR, "google", ".google:GOOGLE_CALENDAR",
            ".google.account:open_calendar", ".google:google_settings",
            secret="oauth", extra="google", modules=_GOOGLE_MODULES,
            shared=".google.account:open_pair", help="Google Calendar"),
    Backend(CALENDAR, "microsoft", ".microsoft:MICROSOFT",
            ".microsoft.account:open_calendar", ".microsoft:microsoft_settings",
            secret="oauth", extra="microsoft", modules=("msal", "requests"),
            shared=".microsoft.account:open_pair",
            help="Outlook.com / Microsoft 365 calendar (Graph)"),
    Backend(MAILBOX, "maildir", ".local:MAILDIR_OPTIONS", ".local:open_maildir",
            ".local:maildir_settings",
            help="a Maildir (Maildir++, or folders side by side as mbsync keeps them)"),
    Backend(MAILBOX, "imap", ".imap:OPTIONS", ":_open_imap",
            ":_imap_settings", secret="password",
            help="any IMAP server (iCloud, Fastmail, Gmail app password, ...)"),
    Backend(MAILBOX, "google", ".google:GMAIL", ".google.account:open_mailbox",
            ".google:google_settings", secret="oauth", extra="google",
            modules=_GOOGLE_MODULES, shared=".google.account:open_pair", help="Gmail"),
    Backend(MAILBOX, "microsoft", ".microsoft:MICROSOFT",
            ".microsoft.account:open_mailbox", ".microsoft:microsoft_settings",
            secret="oauth", extra="microsoft", modules=("msal", "requests"),
            shared=".microsoft.account:open_pair", help="Outlook mail (Graph)"),
)
REGISTRY: dict[tuple[str, str], Backend] = {(b.part, b.type): b for b in _BACKENDS}

@dataclass(frozen=True)
class Shorthand:
    """`provider = NAME`: both parts from one place, with account-level keys.

    ``calendar_keys`` / ``mailbox_keys`` map an account-level key to the part's option
    (None: every key of the part's table, under its own name); ``ignored`` keys are
    accepted and unused (kept so that older configs still load)."""

    calendar: str
    mailbox: str
    calendar_keys: dict[str, str] | None = None
    mailbox_keys: dict[str, str] | None = None
    ignored: tuple[str, ...] = ()


SHORTHANDS: dict[str, Shorthand] = {
    "local": Shorthand("local", "maildir", {"calendar": "path"},
                       {"maildir": "path", "drafts": "drafts", "sent": "sent",
                        "layout": "layout"}, ignored=("endpoint",)),
    "google": Shorthand("google", "google"),
    "microsoft": Shorthand("microsoft", "microsoft"),
}


def shorthand_keys(provider: str) -> dict[str, tuple[str, Option]]:
    """Each account-level key of ``provider = NAME``: (the part it goes to, its option)."""
    short = SHORTHANDS[provider]
    result: dict[str, tuple[str, Option]] = {}
    for part, kind, keys in ((CALENDAR, short.calendar, short.calendar_keys),
                             (MAILBOX, short.mailbox, short.mailbox_keys)):
        table = {o[0]: o for o in options_table(backend(part, kind))}
        mapping = keys if keys is not None else {name: name for name in table}
        for key, option in mapping.items():
            result.setdefault(key, (part, table[option]))
    for key in short.ignored:
        result[key] = ("", (key, str, "", "accepted, unused"))
    return result


def types(part: str) -> list[str]:
    return [t for (p, t) in REGISTRY if p == part]


def backend(part: str, kind: str) -> Backend:
    """:raises LookupError: no such backend."""
    try:
        return REGISTRY[(part, kind)]
    except KeyError:
        raise LookupError(f"unknown {part} type {kind!r} (available: "
                          f"{', '.join(types(part))})") from None


def _attribute(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module, __name__) if module else
                   sys.modules[__name__], name)


def options_table(b: Backend) -> tuple[Option, ...]:
    table: tuple[Option, ...] = _attribute(b.table)
    return table


def check_settings(b: Backend, options: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    """The backend's own checks of a part's options.

    :raises ValueError: one problem a line, each ``option: what is wrong`` where it can.
    """
    if not b.settings:
        return dict(options)
    result: dict[str, Any] = _attribute(b.settings)(options, owner)
    return result


def shorthand_parts(provider: str, options: Mapping[str, Any]) -> tuple[Part, Part]:
    """The two parts that ``provider = NAME`` with account-level ``options`` stands for."""
    short = SHORTHANDS[provider]

    def pick(keys: dict[str, str] | None) -> dict[str, Any]:
        if keys is None:
            return dict(options)
        return {new: options[old] for old, new in keys.items() if old in options}

    return (Part(short.calendar, pick(short.calendar_keys)),
            Part(short.mailbox, pick(short.mailbox_keys)))


def open_account(name: str, calendar: Part, mailbox: Part, owner: Owner,
                 provider: str = "") -> Account:
    """Build the :class:`~providers.base.Account` of one [[accounts]] entry.

    Two parts of the same OAuth backend with the same options share one session
    (one token, one connection pool); any other pair is opened part by part.
    :raises ProviderUnavailable: an optional backend installed without its extra.
    """
    from .base import PartsAccount

    label = provider or (calendar.type if calendar.type == mailbox.type
                         else f"{calendar.type}+{mailbox.type}")
    cal_backend, mail_backend = backend(CALENDAR, calendar.type), backend(MAILBOX, mailbox.type)
    if (cal_backend.shared and cal_backend.shared == mail_backend.shared
            and dict(calendar.options) == dict(mailbox.options)):
        account: Account = _call(name, cal_backend, cal_backend.shared, calendar.options,
                                 owner)
        account.provider = label
        return account
    source, close_calendar = _call(name, cal_backend, cal_backend.opener, calendar.options,
                                   owner)
    try:
        box, close_mailbox = _call(name, mail_backend, mail_backend.opener, mailbox.options,
                                   owner)
    except BaseException:
        close_calendar()
        raise
    return PartsAccount(name=name, calendar=source, mailbox=box, provider=label,
                        closers=[close_mailbox, close_calendar])


def _call(account: str, b: Backend, spec: str, options: Mapping[str, Any],
          owner: Owner) -> Any:
    """``spec(account, options, owner)``; a missing SDK (an optional backend installed
    without its extra) becomes ProviderUnavailable naming the extra."""
    try:
        return _attribute(spec)(account, options, owner)
    except ModuleNotFoundError as exc:
        # An optional backend installed without its extra (its SDK is not a base dependency).
        if exc.name and exc.name.split(".")[0] in {"providers", "daemon"}:
            raise
        from .errors import ProviderUnavailable

        extra = b.extra or b.type
        raise ProviderUnavailable(
            account,
            f"{b.part} type {b.type!r} needs the {extra!r} extra (missing module "
            f"{exc.name!r}): pipx install 'interview-followup[{extra}]', or in a virtualenv "
            f"pip install 'interview-followup[{extra}]'",
        ) from None


def _nothing() -> None:
    pass


def _closer(obj: object) -> Close:
    close = getattr(obj, "close", None)
    return close if callable(close) else _nothing


# -- the new backends' openers, in the registry's (account, options, owner) form ---------
def _open_vdir(account: str, options: Mapping[str, Any], owner: Owner) -> tuple[Any, Close]:
    from .vdir import open_calendar

    source = open_calendar(account, options)
    return source, _closer(source)


def _open_feed(account: str, options: Mapping[str, Any], owner: Owner) -> tuple[Any, Close]:
    from .feed import open_calendar

    source = open_calendar(account, options)
    return source, _closer(source)


def _open_caldav(account: str, options: Mapping[str, Any], owner: Owner) -> tuple[Any, Close]:
    from .caldav import open_calendar

    source = open_calendar(account, options)
    return source, _closer(source)


def _open_imap(account: str, options: Mapping[str, Any], owner: Owner) -> tuple[Any, Close]:
    from .imap import open_mailbox

    box = open_mailbox(account, options, default_username=owner.email)
    return box, _closer(box)


def _vdir_settings(options: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    from .vdir import settings

    return settings(options)


def _feed_settings(options: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    from .feed import settings

    return settings(options)


def _caldav_settings(options: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    from .caldav import settings

    return settings(options)


def _imap_settings(options: Mapping[str, Any], owner: Owner) -> dict[str, Any]:
    from .imap import settings

    return settings(options, owner.email)
