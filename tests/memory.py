"""An in-memory provider and an engine harness for the lifecycle tests.

``MemoryCalendar`` and ``MemoryMailbox`` implement the provider interface over
plain Python objects, with the fault injection the rule-5 tests need: a
``create_draft`` that stores the draft and then "crashes" (the process dies
between the API call and the state write), or crashes before storing it.

``World`` builds a real :class:`Engine` over a real SQLite state in a folder;
``World.restart()`` closes the store and builds a new engine over the same
state folder and the same provider objects, like a daemon restart would.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from pathlib import Path

from interview_followup.daemon.calendar_sync import interview_id
from interview_followup.daemon.clock import ManualClock
from interview_followup.daemon.config import Config, parse_config
from interview_followup.daemon.domains import registrable_domain
from interview_followup.daemon.engine import CycleReport, Engine
from interview_followup.daemon.mime import MARKER_HEADER
from interview_followup.daemon.state import Store
from interview_followup.providers.base import (
    Account,
    Address,
    Attendee,
    CalendarChanges,
    CalendarSource,
    DraftRef,
    Event,
    Folder,
    Interest,
    Mailbox,
    MailMessage,
    MessageBatch,
    ReplyTo,
    Response,
)

ACCOUNT = "mem"
ME = "alex@example.org"
ZONE = "America/New_York"

_ids = itertools.count(1)


class Crash(BaseException):
    """The process died: no ``except Exception`` in the engine may swallow it."""


# -- calendar ------------------------------------------------------------------


class MemoryCalendar(CalendarSource):
    """A dict of events. ``complete=True`` answers every read with all events of the
    window (deletions are absences); ``complete=False`` answers incrementally,
    with the uids removed since the checkpoint (an integer version)."""

    def __init__(self, complete: bool = True) -> None:
        self.complete = complete
        self.events: dict[str, Event] = {}
        self.version = 0
        self._changed: dict[str, int] = {}  # uid -> version of its last change
        self._removed: dict[str, int] = {}
        self.calls = 0
        self.lookups: list[str] = []

    def put(self, event: Event) -> None:
        self.version += 1
        self.events[event.uid] = event
        self._changed[event.uid] = self.version
        self._removed.pop(event.uid, None)

    def delete(self, uid: str) -> None:
        self.version += 1
        self.events.pop(uid, None)
        self._changed.pop(uid, None)
        self._removed[uid] = self.version

    def changes(
        self, checkpoint: str | None, start: datetime, end: datetime, default_tz: tzinfo
    ) -> CalendarChanges:
        self.calls += 1

        def in_window(e: Event) -> bool:
            return e.end > start and e.start < end

        if self.complete or checkpoint is None:
            events = tuple(e for e in self.events.values() if in_window(e))
            return CalendarChanges(events, (), str(self.version), complete=True)
        since = int(checkpoint)
        if since == self.version:
            return CalendarChanges((), (), checkpoint, complete=False, unchanged=True)
        changed = [self.events[uid] for uid, v in self._changed.items() if v > since]
        events = tuple(e for e in changed if in_window(e))
        # As Graph's calendarView delta does: an event moved out of the window is "removed".
        removed = tuple([uid for uid, v in self._removed.items() if v > since]
                        + [e.uid for e in changed if not in_window(e)])
        return CalendarChanges(events, removed, str(self.version), complete=False)

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        self.lookups.append(uid)
        event = self.events.get(uid)
        return None if event is None or event.cancelled else event


# -- mailbox -------------------------------------------------------------------


@dataclass
class StoredDraft:
    """Everything ever written with ``create_draft``, kept after the user deletes it."""

    ref: DraftRef
    header: MailMessage
    message: EmailMessage
    marker: str
    kind: str
    interview_id: str
    created: datetime


@dataclass
class MemoryMailbox(Mailbox):
    """Inbox and sent messages in one log (the checkpoint is a position in it), and drafts.

    Every call the engine makes is appended to ``calls``; the test-side methods
    (``deliver``, ``send_draft``, ``delete_draft``) are not.
    """

    clock: ManualClock
    log: list[MailMessage] = field(default_factory=list)
    drafts: list[MailMessage] = field(default_factory=list)
    history: list[StoredDraft] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    crash_after_store: bool = False  # next create_draft stores, then the process dies
    crash_before_store: bool = False  # next create_draft dies before storing anything
    _hidden: list[tuple[int, MailMessage]] = field(default_factory=list)
    _sent_markers: dict[str, str] = field(default_factory=dict)  # sent id -> original marker

    # -- the Mailbox interface ------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        self.calls.append("messages_since")
        still_hidden = []
        for calls_left, msg in self._hidden:
            if calls_left > 0:
                still_hidden.append((calls_left - 1, msg))
            else:
                self.log.append(msg)
        self._hidden = still_hidden
        if checkpoint is None:
            found = [m for m in self.log if m.date is None or m.date >= not_before]
        else:
            found = self.log[int(checkpoint):]
        return MessageBatch(tuple(found), str(len(self.log)))

    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        """Every folder, hidden messages too: a search sees what a read has not yet."""
        self.calls.append("search_answers")
        everything = [*self.log, *(m for _, m in self._hidden)]
        return [m for m in everything if m.folder is not Folder.DRAFTS
                and m.date is not None and m.date >= since
                and interest.matches(m, registrable_domain)]

    def create_draft(
        self, message: EmailMessage, marker: str, reply_to: ReplyTo | None
    ) -> DraftRef:
        self.calls.append("create_draft")
        if self.crash_before_store:
            self.crash_before_store = False
            raise Crash("died before the draft reached the mailbox")
        if message[MARKER_HEADER] != marker:
            raise AssertionError(f"marker header {message[MARKER_HEADER]!r} != {marker!r}")
        n = next(_ids)
        thread = reply_to.thread_id if reply_to and reply_to.thread_id else f"thread-{n}"
        header = MailMessage(
            id=f"draft-{n}", folder=Folder.DRAFTS, sender=_address(message["From"]),
            to=tuple(_addresses(message.get_all("To", []))), date=self.clock(),
            subject=str(message["Subject"] or ""), message_id=str(message["Message-ID"]),
            in_reply_to=str(message["In-Reply-To"] or ""),
            references=tuple(str(message["References"] or "").split()),
            thread_id=thread, marker=marker,
        )
        ref = DraftRef(header.id, Folder.DRAFTS, thread, header.message_id, self.clock())
        iid, kind, _ = marker.split("/", 2)
        self.drafts.append(header)
        self.history.append(StoredDraft(ref, header, message, marker, kind, iid, self.clock()))
        if self.crash_after_store:
            self.crash_after_store = False
            raise Crash("died after the draft was stored, before the state recorded it")
        return ref

    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        self.calls.append("find_marker")
        return [
            DraftRef(m.id, m.folder, m.thread_id, m.message_id)
            for m in (*self.drafts, *self.log)
            if m.folder in (Folder.DRAFTS, Folder.SENT) and m.marker == marker
        ]

    # -- what the user and the world do ----------------------------------------
    def deliver(self, msg: MailMessage, hidden_for: int = 0) -> None:
        """A message arrives; ``hidden_for`` = how many messages_since calls miss it."""
        if hidden_for:
            self._hidden.append((hidden_for, msg))
        else:
            self.log.append(msg)

    def send_draft(self, draft_id: str, keep_marker: bool = True) -> MailMessage:
        """The user sends a draft: it leaves the drafts and appears in sent, now."""
        draft = next(d for d in self.drafts if d.id == draft_id)
        self.drafts.remove(draft)
        sent = replace(draft, id=f"sent-{next(_ids)}", folder=Folder.SENT, date=self.clock(),
                       marker=draft.marker if keep_marker else "")
        self._sent_markers[sent.id] = draft.marker
        self.log.append(sent)
        return sent

    def delete_draft(self, draft_id: str) -> None:
        self.drafts[:] = [d for d in self.drafts if d.id != draft_id]

    # -- what the tests look at ------------------------------------------------
    def sent(self) -> list[MailMessage]:
        return [m for m in self.log if m.folder is Folder.SENT]

    def present_markers(self) -> list[str]:
        """The marker of every draft and sent message now in the mailbox (dropped ones too)."""
        return [d.marker for d in self.drafts] + [
            self._sent_markers.get(m.id, m.marker) for m in self.sent()
        ]

    def stored(self, kind: str | None = None, iid: str | None = None) -> list[StoredDraft]:
        return [s for s in self.history
                if (kind is None or s.kind == kind) and (iid is None or s.interview_id == iid)]


def _address(value: object) -> Address | None:
    name, email = parseaddr(str(value or ""))
    return Address(email.lower(), name) if email else None


def _addresses(values: Iterable[object]) -> list[Address]:
    return [Address(e.lower(), n) for n, e in getaddresses([str(v) for v in values]) if e]


def inbound(sender: str, subject: str = "Re: your interview", *, date: datetime,
            name: str = "", headers: Mapping[str, str] | None = None, in_reply_to: str = "",
            references: tuple[str, ...] = (), thread_id: str = "") -> MailMessage:
    """An inbox message from ``sender``."""
    n = next(_ids)
    return MailMessage(
        id=f"in-{n}", folder=Folder.INBOX, sender=Address(sender.lower(), name),
        to=(Address(ME),), date=date, subject=subject, message_id=f"<in-{n}@mail.test>",
        in_reply_to=in_reply_to, references=references,
        thread_id=thread_id or f"thread-in-{n}", headers=dict(headers or {}),
    )


# -- events --------------------------------------------------------------------


def person(email: str, name: str = "", response: Response = Response.ACCEPTED, *,
           is_resource: bool = False) -> Attendee:
    return Attendee(email=email, name=name, response=response, is_resource=is_resource)


def interview_event(uid: str, start: datetime, *, minutes: int = 60,
                    title: str = "Interview: Acme (Backend Engineer)",
                    interviewers: Iterable[Attendee] = (),
                    organizer: Attendee | None = None, description: str = "",
                    **kw: object) -> Event:
    """An interview the user attends, with ``interviewers`` besides the user."""
    attendees = (Attendee(ME, "Alex Rivera", Response.ACCEPTED, is_self=True), *interviewers)
    return Event(uid=uid, title=title, start=start, end=start + timedelta(minutes=minutes),
                 description=description, organizer=organizer, attendees=attendees,
                 **kw)  # type: ignore[arg-type]


# -- the engine harness ----------------------------------------------------------

BASE_CONFIG = f"""
[me]
name = "Alex Rivera"
email = "{ME}"
signature = "Alex Rivera"
timezone = "{ZONE}"

[daemon]
state_dir = "state"

[[accounts]]
name = "{ACCOUNT}"
provider = "local"
calendar = "calendar.ics"
maildir = "Maildir"
"""


def make_config(folder: Path, extra: str = "") -> Config:
    """A real parsed config; the local account's files exist but are never read
    (the engine is handed the memory account directly)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calendar.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (folder / "Maildir").mkdir(exist_ok=True)
    path = folder / "config.toml"
    text = extra + "\n" + BASE_CONFIG  # sections in ``extra`` come first: [me] is below
    path.write_text(text)
    return parse_config(text, path)


class World:
    """A config, a clock, the memory providers and an engine over a state folder."""

    def __init__(self, folder: Path, *, extra_config: str = "", complete: bool = True,
                 now: datetime | None = None) -> None:
        self.config = make_config(folder, extra_config)
        # A Monday, with no DST change in the weeks around it.
        self.clock = ManualClock(now or datetime(2026, 4, 6, 14, 0, tzinfo=UTC))
        self.calendar = MemoryCalendar(complete=complete)
        self.mailbox = MemoryMailbox(self.clock)
        self.engine = self.build()

    @property
    def store(self) -> Store:
        return self.engine.store

    def account(self) -> Account:
        return Account(ACCOUNT, self.calendar, self.mailbox, "memory")

    def build(self, *, dry_run: bool = False, store: Store | None = None) -> Engine:
        store = store or Store.open(self.config.daemon.state_dir)
        return Engine(self.config, store, {ACCOUNT: self.account()}, clock=self.clock,
                      dry_run=dry_run)

    def cycle(self) -> CycleReport:
        return self.engine.cycle()

    def restart(self) -> None:
        self.engine.close()
        self.engine = self.build()

    def close(self) -> None:
        self.engine.close()

    def advance(self, delta: timedelta) -> None:
        self.clock.now += delta

    @staticmethod
    def iid(uid: str) -> str:
        return interview_id(ACCOUNT, uid)
