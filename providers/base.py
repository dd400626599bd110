"""The provider interface: a calendar source and a mailbox.

A provider module (``providers/<name>.py``) exposes ``open_account(account, ctx)``
returning an :class:`Account` (a calendar and a mailbox that belong together).
The engine only ever sees the types below; every method raises only
:mod:`providers.errors` exceptions, never an SDK's own.

Checkpoints are opaque strings owned by the provider (an mtime signature, a
Google sync token or Gmail history id, a Graph delta link, IMAP UIDVALIDITY and
UID). The engine stores them and hands them back; ``None`` means "start over".

All datetimes are timezone-aware.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.message import EmailMessage
from typing import Any


class Response(enum.Enum):
    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs-action"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Attendee:
    email: str  # lower-case; "" when the calendar gives none
    name: str = ""
    response: Response = Response.UNKNOWN
    is_resource: bool = False  # rooms, equipment (CUTYPE=ROOM/RESOURCE, Google resource)
    is_self: bool = False  # the provider says this is the calendar's owner
    is_group: bool = False  # CUTYPE=GROUP, distribution lists


@dataclass(frozen=True)
class Event:
    """One occurrence of a calendar event (recurring events are expanded)."""

    uid: str  # stable across edits; a recurring instance has uid + "/" + its recurrence id
    title: str
    start: datetime
    end: datetime
    description: str = ""
    location: str = ""
    all_day: bool = False
    cancelled: bool = False
    organizer: Attendee | None = None
    attendees: tuple[Attendee, ...] = ()
    categories: tuple[str, ...] = ()
    # Provider-specific tags that mark an interview (a Google colour name, a
    # private extended property); compared with the [detect] categories.
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CalendarChanges:
    """What changed since a checkpoint.

    ``complete`` is True when ``events`` is every event of the window (a full
    read): an interview whose event is absent has been deleted. When False,
    ``events`` holds only new or changed events and ``removed`` the uids of
    deleted ones. ``unchanged`` means nothing was read at all.
    """

    events: tuple[Event, ...]
    removed: tuple[str, ...]
    checkpoint: str | None
    complete: bool
    unchanged: bool = False
    problems: tuple[str, ...] = ()  # items skipped as unreadable, named for the log


class Folder(enum.Enum):
    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"


@dataclass(frozen=True)
class Address:
    email: str  # lower-case
    name: str = ""


@dataclass(frozen=True)
class MailMessage:
    """Headers of one message: never its body."""

    id: str  # provider id (Maildir key, Gmail id, Graph id)
    folder: Folder
    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    date: datetime | None = None
    subject: str = ""
    message_id: str = ""  # with angle brackets
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    thread_id: str = ""  # provider thread/conversation id, "" when none
    marker: str = ""  # value of X-Interview-Followup, "" when absent
    # Lower-cased header names -> values for the auto-reply rules:
    # auto-submitted, x-autoreply, x-autorespond, precedence, x-auto-response-suppress ...
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageBatch:
    messages: tuple[MailMessage, ...]
    checkpoint: str | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftRef:
    """Where a draft (or the message it became) lives."""

    id: str
    folder: Folder
    thread_id: str = ""
    message_id: str = ""
    created: datetime | None = None


@dataclass(frozen=True)
class ReplyTo:
    """The sent message a new draft answers in its thread."""

    message_id: str
    references: tuple[str, ...] = ()
    thread_id: str = ""
    provider_id: str = ""  # for APIs that reply by id (Graph createReply)


class CalendarSource(ABC):
    @abstractmethod
    def changes(
        self, checkpoint: str | None, start: datetime, end: datetime, default_tz: tzinfo
    ) -> CalendarChanges:
        """Events overlapping [start, end) that changed since ``checkpoint``.

        ``default_tz`` interprets floating times. :raises: ProviderError.
        """


class Mailbox(ABC):
    @abstractmethod
    def messages_since(self, checkpoint: str | None, not_before: datetime) -> MessageBatch:
        """Inbox and sent messages that arrived since ``checkpoint``.

        With no checkpoint, messages no older than ``not_before`` (a bound, so
        a first run over a large mailbox stays cheap). A message may be
        returned twice (callers are idempotent); one is never skipped.
        :raises: ProviderError.
        """

    @abstractmethod
    def create_draft(
        self, message: EmailMessage, marker: str, reply_to: ReplyTo | None
    ) -> DraftRef:
        """Store ``message`` (which already carries the marker header) as a draft.

        Never sends. Atomic: after a crash the draft either exists whole or
        not at all. :raises: ProviderError.
        """

    @abstractmethod
    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        """Drafts and sent messages carrying ``marker``. :raises: ProviderError.

        ``subject`` and ``since`` (the claim's subject and time) let a backend whose
        service may drop custom headers fall back to matching subject and recipient.
        """


@dataclass
class Account:
    name: str
    calendar: CalendarSource
    mailbox: Mailbox
    provider: str
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release connections; the default has nothing to release."""
