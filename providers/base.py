"""The provider interface: a calendar source and a mailbox.

Each backend opens a calendar source or a mailbox from plain values (the account's
name, its part's options, the owner); :func:`providers.open_account` pairs them into
an :class:`Account` through the registry in :mod:`providers`.
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
from collections.abc import Callable, Mapping, Sequence
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

    def as_organizer(self, attendees: Sequence[Attendee], is_self: bool) -> Attendee:
        """This person as the organizer, with the name and answer the attendee list gives
        them when it lists them (the APIs keep the organizer's answer there)."""
        same = next((a for a in attendees if self.email and a.email == self.email), None)
        return Attendee(self.email, self.name or (same.name if same else ""),
                        same.response if same else Response.UNKNOWN,
                        is_self=is_self or bool(same and same.is_self))


@dataclass(frozen=True, slots=True)  # slots: a calendar reader keeps thousands of them
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
    """The role of the folder a message is in. Drafts, Junk/Spam and Trash are never
    read for answers; every other folder of the user's is (rule 6)."""

    INBOX = "inbox"
    SENT = "sent"
    DRAFTS = "drafts"
    OTHER = "other"  # Archive, the user's own folders and labels, where rules file mail


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
    # (providers._shared.headers.RULE_HEADERS lists them).
    headers: Mapping[str, str] = field(default_factory=dict)
    reply_to: tuple[Address, ...] = ()
    folder_name: str = ""  # the folder or label as the user sees it ("Archive", "Jobs/Acme")
    # The top-level Content-Type, lower-case, with its parameters:
    # "multipart/report; report-type=disposition-notification", "text/calendar; method=request".
    content_type: str = ""
    # The first providers._shared.excerpt.MAX_EXCERPT characters of the body as plain text (HTML
    # reduced to text), for the company name and an out-of-office return day. Used to
    # decide, then dropped: never stored, never logged (hence repr=False).
    excerpt: str = field(default="", repr=False)


@dataclass(frozen=True)
class Interest:
    """What could make a message an answer: the waiting interviews' registrable domains
    (the company's, and the tracking systems that write for it), people's addresses and
    thread ids. A remote mailbox fetches a body excerpt only for a message that matches
    (sender, Reply-To, a recipient of the user's sent mail, or thread), so quota stays
    low; the final search before a status check looks for exactly these."""

    domains: frozenset[str] = frozenset()  # registrable domains, lower-case
    addresses: frozenset[str] = frozenset()  # lower-case
    threads: frozenset[str] = frozenset()  # provider thread ids
    message_ids: frozenset[str] = frozenset()  # with angle brackets; In-Reply-To/References

    def matches(self, msg: MailMessage, registrable: Callable[[str], str]) -> bool:
        """Whether ``msg`` is a candidate (``registrable`` maps a domain to its
        registrable part: the caller's public-suffix function)."""
        people = [a for a in (msg.sender, *msg.reply_to, *msg.to, *msg.cc) if a is not None]
        for a in people:
            if a.email in self.addresses:
                return True
            domain = a.email.rpartition("@")[2]
            if domain and registrable(domain) in self.domains:
                return True
        if msg.thread_id and msg.thread_id in self.threads:
            return True
        return bool(self.message_ids & {msg.in_reply_to, *msg.references})


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

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        """The event ``uid`` wherever it now is in time (a uid from :meth:`changes`), or
        None when it was deleted or cancelled. Asked before an interview whose event left
        the window counts as cancelled: it may have been postponed beyond it (rule 8).
        :raises: ProviderError.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot look up an event")


class Mailbox(ABC):
    @abstractmethod
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        """Messages that arrived since ``checkpoint`` in every folder of rule 6 (Inbox,
        Sent, Archive, the user's folders and labels; never Drafts, Junk/Spam, Trash).
        A message filed from one folder into another may come again, with its new folder.

        With no checkpoint, messages no older than ``not_before`` (a bound, so
        a first run over a large mailbox stays cheap; Sent is read back that far too,
        rule 11). A message may be returned twice (callers are idempotent); one is never
        skipped. ``excerpt`` is filled for messages ``interest`` matches (for all of
        them when ``interest`` is None). :raises: ProviderError.
        """

    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        """Every message after ``since`` in every folder of rule 6 (all but Drafts,
        Junk/Spam and Trash) that ``interest`` matches, with its excerpt: the one search
        right before a status check is drafted (rule 7). :raises: ProviderError.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot search")

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


@dataclass
class PartsAccount(Account):
    """A calendar and a mailbox opened apart (an IMAP mailbox beside a Google calendar):
    closing the account closes each part."""

    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
