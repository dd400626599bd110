"""The provider contract: tests every backend passes (after vdirsyncer's tests/storage).

A backend's test module subclasses :class:`MailboxContract` and/or
:class:`CalendarContract` as ``Test...`` classes, overrides the ``mailbox`` /
``calendar`` fixture and implements the few methods that put data into the
backend the way the outside world would (mail delivered by a server, events
written by another calendar client). This file is not named ``test_*`` so
pytest only runs these tests through such subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from providers.base import (
    Attendee,
    CalendarChanges,
    CalendarSource,
    Event,
    Folder,
    Mailbox,
    MessageBatch,
    Response,
)

MARKER = "X-Interview-Followup"


def mail(
    sender: str = "Dana Recruiter <dana@acme.example>",
    to: str = "Alex Rivera <alex@home.example>",
    subject: str = "Re: Interview",
    **headers: str,
) -> EmailMessage:
    """A small message as it would arrive; extra headers by keyword (Cc=..., In_Reply_To=...)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="test.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Thanks, we will be in touch.\n")
    return msg


def draft(marker: str, to: str = "dana@acme.example") -> EmailMessage:
    msg = mail(sender="Alex Rivera <alex@home.example>", to=to, subject="Thank you")
    msg[MARKER] = marker
    return msg


class MailboxContract:
    """What the engine relies on from every Mailbox."""

    @pytest.fixture
    def mailbox(self) -> Mailbox:
        raise NotImplementedError("a backend's test class provides the mailbox fixture")

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        """Put ``msg`` into the inbox as a mail server would."""
        raise NotImplementedError

    def record_sent(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        """Put ``msg`` into sent mail as the user's mail client would after sending."""
        raise NotImplementedError

    @staticmethod
    def not_before() -> datetime:
        return datetime.now(UTC) - timedelta(days=1)

    @staticmethod
    def ids(batch: MessageBatch) -> list[str]:
        return [m.message_id for m in batch.messages]

    # -- drafts --------------------------------------------------------------
    def test_created_draft_is_found_by_its_marker(self, mailbox: Mailbox) -> None:
        msg = draft("iv1/thank-you/dana@acme.example")
        ref = mailbox.create_draft(msg, "iv1/thank-you/dana@acme.example", None)
        assert ref.folder is Folder.DRAFTS
        found = mailbox.find_marker("iv1/thank-you/dana@acme.example")
        assert [(f.id, f.folder) for f in found] == [(ref.id, Folder.DRAFTS)]
        assert found[0].message_id == msg["Message-ID"]

    def test_long_marker_survives_header_folding(self, mailbox: Mailbox) -> None:
        marker = ("nouid-" + "0123456789abcdef" * 4 + "@calendar.google.com/20261125T150000Z"
                  "/thank-you/jane.doe-longname@interviewers.acme.example")
        mailbox.create_draft(draft(marker), marker, None)
        assert len(mailbox.find_marker(marker)) == 1

    def test_marker_that_does_not_exist_finds_nothing(self, mailbox: Mailbox) -> None:
        mailbox.create_draft(draft("iv1/thank-you/dana@acme.example"),
                             "iv1/thank-you/dana@acme.example", None)
        assert mailbox.find_marker("iv2/thank-you/dana@acme.example") == []
        assert mailbox.find_marker("iv1/thank-you") == []  # a prefix is not the marker

    def test_draft_is_never_seen_as_inbound(self, mailbox: Mailbox) -> None:
        self.deliver(mailbox, mail(subject="real answer"))
        msg = draft("iv1/thank-you/dana@acme.example")
        mailbox.create_draft(msg, "iv1/thank-you/dana@acme.example", None)
        batch = mailbox.messages_since(None, self.not_before())
        assert [m.subject for m in batch.messages] == ["real answer"]
        assert all(m.folder is not Folder.DRAFTS for m in batch.messages)
        assert msg["Message-ID"] not in self.ids(batch)

    def test_sent_message_carrying_a_marker_is_found_in_sent(self, mailbox: Mailbox) -> None:
        self.record_sent(mailbox, draft("iv1/thank-you/dana@acme.example"))
        found = mailbox.find_marker("iv1/thank-you/dana@acme.example")
        assert [f.folder for f in found] == [Folder.SENT]

    # -- reading -------------------------------------------------------------
    def test_delivered_message_is_returned_once(self, mailbox: Mailbox) -> None:
        msg = mail()
        self.deliver(mailbox, msg)
        first = mailbox.messages_since(None, self.not_before())
        assert self.ids(first) == [msg["Message-ID"]]
        assert first.messages[0].folder is Folder.INBOX
        again = mailbox.messages_since(first.checkpoint, self.not_before())
        assert again.messages == ()
        assert mailbox.messages_since(again.checkpoint, self.not_before()).messages == ()

    def test_message_after_the_checkpoint_is_returned(self, mailbox: Mailbox) -> None:
        self.deliver(mailbox, mail(subject="first"))
        first = mailbox.messages_since(None, self.not_before())
        later = mail(subject="second")
        self.deliver(mailbox, later)
        second = mailbox.messages_since(first.checkpoint, self.not_before())
        assert later["Message-ID"] in self.ids(second)
        assert mailbox.messages_since(second.checkpoint, self.not_before()).messages == ()

    def test_sent_message_is_returned_from_sent(self, mailbox: Mailbox) -> None:
        msg = mail(sender="Alex Rivera <alex@home.example>", to="dana@acme.example")
        self.record_sent(mailbox, msg)
        batch = mailbox.messages_since(None, self.not_before())
        assert [(m.message_id, m.folder) for m in batch.messages] == [
            (msg["Message-ID"], Folder.SENT)
        ]

    def test_headers_the_rules_need_are_present(self, mailbox: Mailbox) -> None:
        msg = mail(
            sender="Dana Recruiter <Dana@ACME.example>",
            to="Alex Rivera <alex@home.example>, Sam <sam@acme.example>",
            subject="Automatic reply: Thank you",
            Cc="Lee <lee@acme.example>",
            In_Reply_To="<thanks-1@home.example>",
            References="<start@acme.example> <thanks-1@home.example>",
            Auto_Submitted="auto-replied",
        )
        del msg["Date"]
        msg["Date"] = "Tue, 10 Nov 2026 16:30:00 -0500"
        self.deliver(mailbox, msg)
        [got] = mailbox.messages_since(None, self.not_before()).messages
        assert got.sender is not None
        assert (got.sender.email, got.sender.name) == ("dana@acme.example", "Dana Recruiter")
        assert [a.email for a in got.to] == ["alex@home.example", "sam@acme.example"]
        assert [(a.email, a.name) for a in got.cc] == [("lee@acme.example", "Lee")]
        assert got.date == datetime(2026, 11, 10, 21, 30, tzinfo=UTC)
        assert got.subject == "Automatic reply: Thank you"
        assert got.message_id == msg["Message-ID"]
        assert got.in_reply_to == "<thanks-1@home.example>"
        assert got.references == ("<start@acme.example>", "<thanks-1@home.example>")
        assert got.headers.get("auto-submitted") == "auto-replied"

    def test_encoded_names_and_subjects_survive(self, mailbox: Mailbox) -> None:
        # EmailMessage writes these as RFC 2047 encoded words.
        msg = mail(sender='"Müller, Jörg" <jorg@acme.example>',
                   subject="Réponse : entretien — merci")
        assert b"=?utf-8?" in msg.as_bytes()
        self.deliver(mailbox, msg)
        [got] = mailbox.messages_since(None, self.not_before()).messages
        assert got.sender is not None
        assert (got.sender.email, got.sender.name) == ("jorg@acme.example", "Müller, Jörg")
        assert got.subject == "Réponse : entretien — merci"


@dataclass(frozen=True)
class EventSpec:
    """An event as another calendar client would write it."""

    uid: str
    title: str
    start: datetime
    end: datetime
    description: str = ""
    organizer: Attendee | None = None
    attendees: tuple[Attendee, ...] = ()
    cancelled: bool = False


NY = ZoneInfo("America/New_York")
WINDOW = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def interview(uid: str = "iv-1@acme.example", **changes: Any) -> EventSpec:
    base = EventSpec(
        uid=uid,
        title="Interview: Platform Engineer",
        start=datetime(2026, 11, 10, 14, 0, tzinfo=NY),
        end=datetime(2026, 11, 10, 15, 0, tzinfo=NY),
        description="Discussed: the on-call rotation\n{{ not a template }}",
    )
    return replace(base, **changes)


class CalendarContract:
    """What the engine relies on from every CalendarSource."""

    @pytest.fixture
    def calendar(self) -> CalendarSource:
        raise NotImplementedError("a backend's test class provides the calendar fixture")

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        """Create or replace the event ``spec.uid`` as another client would."""
        raise NotImplementedError

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        raise NotImplementedError

    @staticmethod
    def read(calendar: CalendarSource, checkpoint: str | None) -> CalendarChanges:
        return calendar.changes(checkpoint, *WINDOW, NY)

    @staticmethod
    def by_uid(changes: CalendarChanges) -> dict[str, Event]:
        return {e.uid: e for e in changes.events}

    @staticmethod
    def nothing_changed(changes: CalendarChanges) -> bool:
        return changes.unchanged or (
            not changes.complete and not changes.events and not changes.removed
        )

    def test_first_read_is_complete(self, calendar: CalendarSource) -> None:
        self.put_event(calendar, interview())
        self.put_event(calendar, interview("old@acme.example",
                                           start=datetime(2026, 9, 1, 10, tzinfo=NY),
                                           end=datetime(2026, 9, 1, 11, tzinfo=NY)))
        changes = self.read(calendar, None)
        assert changes.complete and not changes.unchanged
        assert list(self.by_uid(changes)) == ["iv-1@acme.example"]  # outside the window: absent
        event = self.by_uid(changes)["iv-1@acme.example"]
        assert event.title == "Interview: Platform Engineer"
        assert event.start == datetime(2026, 11, 10, 19, 0, tzinfo=UTC)
        assert event.end == datetime(2026, 11, 10, 20, 0, tzinfo=UTC)
        assert event.description == "Discussed: the on-call rotation\n{{ not a template }}"
        assert changes.checkpoint

    def test_unchanged_source_reports_nothing_new(self, calendar: CalendarSource) -> None:
        self.put_event(calendar, interview())
        first = self.read(calendar, None)
        second = self.read(calendar, first.checkpoint)
        assert self.nothing_changed(second)

    def test_edit_is_seen(self, calendar: CalendarSource) -> None:
        self.put_event(calendar, interview())
        first = self.read(calendar, None)
        moved = datetime(2026, 11, 12, 10, 0, tzinfo=NY)
        self.put_event(calendar, interview(title="Interview (moved)", start=moved,
                                           end=moved + timedelta(hours=1)))
        second = self.read(calendar, first.checkpoint)
        event = self.by_uid(second)["iv-1@acme.example"]
        assert (event.title, event.start) == ("Interview (moved)", moved)

    def test_deletion_is_seen(self, calendar: CalendarSource) -> None:
        self.put_event(calendar, interview())
        self.put_event(calendar, interview("other@acme.example", title="Lunch"))
        first = self.read(calendar, None)
        self.delete_event(calendar, "iv-1@acme.example")
        second = self.read(calendar, first.checkpoint)
        if second.complete:
            assert "iv-1@acme.example" not in self.by_uid(second)
        else:
            assert "iv-1@acme.example" in second.removed

    def test_people_are_kept(self, calendar: CalendarSource) -> None:
        organizer = Attendee("dana@acme.example", "Dana Recruiter")
        people = (
            Attendee("alex@home.example", "Alex Rivera", Response.ACCEPTED),
            Attendee("jorg.muller@acme.example", "Müller, Jörg", Response.ACCEPTED),
            Attendee("sam@acme.example", "Sam Lee", Response.DECLINED),
            Attendee("room-4b@acme.example", "Room 4B", Response.ACCEPTED, is_resource=True),
        )
        self.put_event(calendar, interview(organizer=organizer, attendees=people))
        event = self.by_uid(self.read(calendar, None))["iv-1@acme.example"]
        assert event.organizer is not None and event.organizer.email == "dana@acme.example"
        got = {a.email: a for a in event.attendees}
        assert got["jorg.muller@acme.example"].name == "Müller, Jörg"
        assert got["sam@acme.example"].response is Response.DECLINED
        assert got["alex@home.example"].response is Response.ACCEPTED
        assert got["room-4b@acme.example"].is_resource
        assert not got["jorg.muller@acme.example"].is_resource

    def test_cancelled_event_is_never_an_active_one(self, calendar: CalendarSource) -> None:
        self.put_event(calendar, interview(cancelled=True))
        changes = self.read(calendar, None)
        event = self.by_uid(changes).get("iv-1@acme.example")
        assert event is None or event.cancelled
