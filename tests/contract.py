"""The provider contract: tests every backend passes (after vdirsyncer's tests/storage).

A backend's test module subclasses :class:`MailboxContract` and/or
:class:`CalendarContract` as ``Test...`` classes, overrides the ``mailbox`` /
``calendar`` fixture and implements the few methods that put data into the
backend the way the outside world would (mail delivered by a server, events
written by another calendar client). This file is not named ``test_*`` so
pytest only runs these tests through such subclasses.

Capabilities a backend gains one at a time are class attributes, False here:
a backend's class sets one to True once it has it, and until then the tests
that need it are skipped with that reason (never silently passed):
``supports_answer_fields`` (Reply-To, Content-Type and a body excerpt),
``supports_folders`` (every folder of rule 6, moves, the final search) and
``CalendarContract.supports_lookup`` (an event found again outside the window).

The failure contracts at the end (issue 10) hold for every backend, without capability
flags: an unreachable part, a malformed answer and (where there is a login) a refused
one each end in the project's own error, never a library's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import pytest

from interview_followup.providers.base import (
    Attendee,
    CalendarChanges,
    CalendarSource,
    Event,
    Folder,
    Interest,
    Mailbox,
    MessageBatch,
    Response,
)
from interview_followup.providers.errors import (
    AuthExpired,
    BadData,
    ProviderError,
    ProviderUnavailable,
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


def raw_mail(text: str) -> EmailMessage:
    """A message exactly as written (a read receipt, an HTML-only mail)."""
    msg = message_from_bytes(text.replace("\n", "\r\n").encode(), policy=default_policy)
    assert isinstance(msg, EmailMessage)
    return msg


ATS_BODY = ("Dear Alex,\n\nThank you for your interest in Acme Corp. We have decided to "
            "move forward with other candidates for the Platform Engineer role.\n")


def needs(flag: str, obj: object) -> None:
    """Skip (with the reason shown) a test of a capability the backend does not have yet."""
    if not getattr(obj, flag):
        pytest.skip(f"{type(obj).__name__}.{flag} is False: not supported by this backend yet")


def draft(marker: str, to: str = "dana@acme.example") -> EmailMessage:
    msg = mail(sender="Alex Rivera <alex@home.example>", to=to, subject="Thank you")
    msg[MARKER] = marker
    return msg


class MailboxContract:
    """What the engine relies on from every Mailbox."""

    supports_answer_fields = False  # reply_to, content_type, excerpt (issue 8)
    supports_folders = False  # every folder of rule 6, moves, search_answers (issue 8)

    @pytest.fixture
    def mailbox(self) -> Mailbox:
        raise NotImplementedError("a backend's test class provides the mailbox fixture")

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        """Put ``msg`` into the inbox as a mail server would."""
        raise NotImplementedError

    def file_into(self, mailbox: Mailbox, msg: EmailMessage, folder: str) -> None:
        """Put ``msg`` into the user's ``folder`` ("Archive", "Junk", "Trash", "Drafts":
        the backend's own name for that role) as a mail rule or the server would."""
        raise NotImplementedError

    def move(self, mailbox: Mailbox, message_id: str, folder: str) -> None:
        """Move the message ``message_id`` from where it is into ``folder`` (named as for
        :meth:`file_into`), as the user's mail client does when they archive it."""
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


    # -- what the answer rules read (issue 8) ---------------------------------
    def test_reply_to_and_content_type_are_read(self, mailbox: Mailbox) -> None:
        needs("supports_answer_fields", self)
        self.deliver(mailbox, mail(sender="Acme Corp <no-reply@us.greenhouse-mail.io>",
                                   Reply_To="Dana Recruiter <dana@acme.example>"))
        receipt = raw_mail(
            "From: Dana Recruiter <dana@acme.example>\nTo: alex@home.example\n"
            "Subject: Read: Thank you\nMessage-ID: <mdn-1@acme.example>\n"
            f"Date: {format_datetime(datetime.now(UTC))}\nMIME-Version: 1.0\n"
            "Content-Type: multipart/report;\n report-type=disposition-notification;\n"
            ' boundary="b1"\n\n--b1\nContent-Type: text/plain\n\nYour message was read.\n'
            "--b1\nContent-Type: message/disposition-notification\n\n"
            "Disposition: manual-action/MDN-sent-manually; displayed\n--b1--\n")
        self.deliver(mailbox, receipt)
        got = {m.subject: m for m in mailbox.messages_since(None, self.not_before()).messages}
        ats, mdn = got["Re: Interview"], got["Read: Thank you"]
        assert [(a.email, a.name) for a in ats.reply_to] == [("dana@acme.example",
                                                              "Dana Recruiter")]
        assert ats.content_type.startswith("text/plain")
        assert mdn.reply_to == ()
        assert mdn.content_type.startswith("multipart/report")
        assert "report-type=disposition-notification" in mdn.content_type

    def test_excerpt_is_filled_for_a_candidate_and_never_shown(self, mailbox: Mailbox) -> None:
        needs("supports_answer_fields", self)
        ats = mail(sender="Acme Corp <no-reply@us.greenhouse-mail.io>",
                   subject="Your application")
        ats.set_content(ATS_BODY)
        html = raw_mail(
            "From: Dana Recruiter <dana@acme.example>\nTo: alex@home.example\n"
            "Subject: Next steps\nMessage-ID: <html-1@acme.example>\n"
            f"Date: {format_datetime(datetime.now(UTC))}\nMIME-Version: 1.0\n"
            "Content-Type: text/html; charset=utf-8\n\n"
            "<html><head><style>p {color: red}</style></head><body><p>Hi Alex,</p>"
            "<p>Could you do a <b>final round</b> on Friday?</p></body></html>\n")
        self.deliver(mailbox, ats)
        self.deliver(mailbox, html)
        interest = Interest(domains=frozenset({"greenhouse-mail.io", "acme.example"}))
        got = {m.subject: m for m in
               mailbox.messages_since(None, self.not_before(), interest).messages}
        assert "interest in Acme Corp" in got["Your application"].excerpt
        assert "final round on Friday" in got["Next steps"].excerpt
        assert "color" not in got["Next steps"].excerpt
        for m in got.values():  # rule 10: a body never reaches a log line through repr
            assert m.excerpt and m.excerpt not in repr(m) and "excerpt" not in repr(m)

    # -- every folder of rule 6 (issue 8) -------------------------------------
    def test_message_in_an_archive_folder_is_returned_as_other(self, mailbox: Mailbox) -> None:
        needs("supports_folders", self)
        msg = mail(subject="filed by a rule")
        self.file_into(mailbox, msg, "Archive")
        batch = mailbox.messages_since(None, self.not_before())
        assert [(m.message_id, m.folder) for m in batch.messages] == [
            (msg["Message-ID"], Folder.OTHER)]
        assert batch.messages[0].folder_name

    def test_moved_message_is_seen_again_in_its_new_folder(self, mailbox: Mailbox) -> None:
        needs("supports_folders", self)
        msg = mail(subject="archived by the user")
        self.deliver(mailbox, msg)
        first = mailbox.messages_since(None, self.not_before())
        assert [(m.message_id, m.folder) for m in first.messages] == [
            (msg["Message-ID"], Folder.INBOX)]
        self.move(mailbox, msg["Message-ID"], "Archive")
        second = mailbox.messages_since(first.checkpoint, self.not_before())
        assert (msg["Message-ID"], Folder.OTHER) in [(m.message_id, m.folder)
                                                     for m in second.messages]
        assert all(m.folder is not Folder.INBOX for m in second.messages)
        assert mailbox.messages_since(second.checkpoint, self.not_before()).messages == ()

    def test_drafts_junk_and_trash_are_never_returned(self, mailbox: Mailbox) -> None:
        needs("supports_folders", self)
        self.deliver(mailbox, mail(subject="inbox"))
        for folder in ("Drafts", "Junk", "Trash"):
            self.file_into(mailbox, mail(subject=folder.lower()), folder)
        first = mailbox.messages_since(None, self.not_before())
        assert [m.subject for m in first.messages] == ["inbox"]
        for folder in ("Junk", "Trash"):
            self.file_into(mailbox, mail(subject=f"later {folder.lower()}"), folder)
        self.move(mailbox, first.messages[0].message_id, "Trash")
        second = mailbox.messages_since(first.checkpoint, self.not_before())
        assert second.messages == ()
        interest = Interest(domains=frozenset({"acme.example"}))
        assert mailbox.search_answers(self.not_before(), interest) == []

    def test_search_answers_finds_an_archived_answer_after_since(self, mailbox: Mailbox) -> None:
        needs("supports_folders", self)
        now = datetime.now(UTC)
        since = now - timedelta(days=5)
        answer = mail(subject="Your application")
        answer.set_content(ATS_BODY)
        old = mail(subject="before the interview")
        old.replace_header("Date", format_datetime(now - timedelta(days=10)))
        other = mail(sender="Sam <sam@elsewhere.example>", subject="not about it")
        self.file_into(mailbox, answer, "Archive")
        self.file_into(mailbox, old, "Archive")
        self.deliver(mailbox, other)
        self.file_into(mailbox, mail(subject="junk from acme"), "Junk")
        found = mailbox.search_answers(since, Interest(domains=frozenset({"acme.example"})))
        assert [(m.message_id, m.folder) for m in found] == [
            (answer["Message-ID"], Folder.OTHER)]
        assert "interest in Acme Corp" in found[0].excerpt
        by_address = mailbox.search_answers(
            since, Interest(addresses=frozenset({"sam@elsewhere.example"})))
        assert [m.message_id for m in by_address] == [other["Message-ID"]]


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

    supports_lookup = False  # CalendarSource.lookup (issue 8, rule 8)

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

    # -- an event that left the window (rule 8) --------------------------------
    def test_lookup_finds_an_event_postponed_beyond_the_window(
            self, calendar: CalendarSource) -> None:
        needs("supports_lookup", self)
        self.put_event(calendar, interview())
        first = self.read(calendar, None)
        later = datetime(2027, 1, 20, 10, 0, tzinfo=NY)  # two months on: outside WINDOW
        self.put_event(calendar, interview(start=later, end=later + timedelta(hours=1)))
        second = self.read(calendar, first.checkpoint)
        assert "iv-1@acme.example" not in self.by_uid(second)
        event = calendar.lookup("iv-1@acme.example", NY)
        assert event is not None and not event.cancelled
        assert (event.uid, event.start) == ("iv-1@acme.example", later)
        assert event.title == "Interview: Platform Engineer"

    def test_lookup_of_a_deleted_or_cancelled_event_is_none(
            self, calendar: CalendarSource) -> None:
        needs("supports_lookup", self)
        self.put_event(calendar, interview())
        self.put_event(calendar, interview("other@acme.example", title="Lunch"))
        self.read(calendar, None)
        self.delete_event(calendar, "iv-1@acme.example")
        assert calendar.lookup("iv-1@acme.example", NY) is None
        self.put_event(calendar, interview("other@acme.example", title="Lunch", cancelled=True))
        assert calendar.lookup("other@acme.example", NY) is None
        assert calendar.lookup("never-was@acme.example", NY) is None


# -- failure contracts (issue 10) -----------------------------------------------------
#
# However a backend fails, the engine sees one of the project's errors
# (providers/errors.py), never a library's (socket.error, requests, imaplib, caldav,
# httplib2, googleapiclient's HttpError, json.JSONDecodeError, icalendar's ValueError):
# a backend's test module subclasses CalendarFailureContract / MailboxFailureContract,
# and also CalendarLoginContract / MailboxLoginContract when the backend has a login.
# Each fixture hands over a part broken one way (a server stopped, a folder removed, a
# server answering garbage, a password refused) as a Broken: the part, its account and
# what else the message must name (the host, the file). The part was read once before
# it broke, so a read from that checkpoint is tried as well as a first one.

P = TypeVar("P", CalendarSource, Mailbox)


@dataclass(frozen=True)
class Broken(Generic[P]):
    """A calendar source or mailbox set up to fail, and what its error must name."""

    part: P
    account: str
    names: tuple[str, ...] = ()  # each must be in the error's text: host:port, a path
    checkpoint: str | None = None  # from a read made before it broke


FAILING_MARKER = "iv-1@acme.example/thank-you/dana@acme.example"
INTEREST = Interest(domains=frozenset({"acme.example"}))


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)


CALENDAR_CALLS: dict[str, Callable[[Broken[CalendarSource]], object]] = {
    "changes": lambda b: b.part.changes(None, *WINDOW, NY),
    "changes since a checkpoint": lambda b: b.part.changes(b.checkpoint, *WINDOW, NY),
    "lookup": lambda b: b.part.lookup("iv-1@acme.example", NY),
}
MAILBOX_CALLS: dict[str, Callable[[Broken[Mailbox]], object]] = {
    "messages_since": lambda b: b.part.messages_since(None, _since(), INTEREST),
    "messages_since a checkpoint": lambda b: b.part.messages_since(b.checkpoint, _since(),
                                                                   INTEREST),
    "create_draft": lambda b: b.part.create_draft(draft(FAILING_MARKER), FAILING_MARKER, None),
    "find_marker": lambda b: b.part.find_marker(FAILING_MARKER),
    "search_answers": lambda b: b.part.search_answers(_since(), INTEREST),
}


def fails_with(error: type[ProviderError], broken: Broken[Any],
               call: Callable[[Broken[Any]], object], name: str) -> ProviderError:
    """Run ``call`` on the broken part: it must raise exactly ``error`` (not a subclass, not
    a library's exception) for the part's account, naming what failed."""
    try:
        result = call(broken)
    except ProviderError as exc:
        assert type(exc) is error, (f"{name}: {type(exc).__name__} ({exc}), expected "
                                    f"{error.__name__}")
        assert exc.account == broken.account
        text = str(exc)
        assert text.startswith(f"account {broken.account!r}: ")
        for what in broken.names:
            assert what in text, f"{name}: {what!r} is not named in {text!r}"
        return exc
    except Exception as exc:  # the point of the contract: name the leak
        pytest.fail(f"{name}: a library exception leaked: {type(exc).__module__}."
                    f"{type(exc).__qualname__}: {exc}", pytrace=False)
    pytest.fail(f"{name}: no error from a broken part (returned {result!r})", pytrace=False)


class CalendarFailureContract:
    """An unreachable calendar and one that answers what cannot be read."""

    # The exact error a malformed answer ends in: BadData where the answer itself is
    # refused (a file or feed that is not iCalendar, a server's unreadable XML),
    # ProviderUnavailable where the backend takes it for a transient fault (an API's
    # garbled JSON is retried like an outage) or the place is not what it must be.
    malformed_error: type[ProviderError] = BadData

    @pytest.fixture
    def unreachable_calendar(self) -> Broken[CalendarSource]:
        """Read once, then out of reach: its server stopped, its file or folder removed."""
        raise NotImplementedError

    @pytest.fixture
    def malformed_calendar(self) -> Broken[CalendarSource]:
        """Read once, then what it holds or answers is not what the backend reads."""
        raise NotImplementedError

    @pytest.mark.parametrize("call", CALENDAR_CALLS)
    def test_unreachable_is_provider_unavailable(
            self, unreachable_calendar: Broken[CalendarSource], call: str) -> None:
        fails_with(ProviderUnavailable, unreachable_calendar, CALENDAR_CALLS[call], call)

    @pytest.mark.parametrize("call", CALENDAR_CALLS)
    def test_malformed_answer_is_the_projects_error(
            self, malformed_calendar: Broken[CalendarSource], call: str) -> None:
        fails_with(self.malformed_error, malformed_calendar, CALENDAR_CALLS[call], call)


class CalendarLoginContract:
    """A calendar whose login is refused (a wrong password, a revoked grant, a 401)."""

    @pytest.fixture
    def refused_calendar(self) -> Broken[CalendarSource]:
        raise NotImplementedError

    @pytest.mark.parametrize("call", CALENDAR_CALLS)
    def test_refused_login_is_auth_expired(
            self, refused_calendar: Broken[CalendarSource], call: str) -> None:
        exc = fails_with(AuthExpired, refused_calendar, CALENDAR_CALLS[call], call)
        assert f"followup auth {refused_calendar.account}" in str(exc)


class MailboxFailureContract:
    """An unreachable mailbox and one that answers what cannot be read."""

    malformed_error: type[ProviderError] = BadData  # as CalendarFailureContract's

    @pytest.fixture
    def unreachable_mailbox(self) -> Broken[Mailbox]:
        raise NotImplementedError

    @pytest.fixture
    def malformed_mailbox(self) -> Broken[Mailbox]:
        raise NotImplementedError

    @pytest.mark.parametrize("call", MAILBOX_CALLS)
    def test_unreachable_is_provider_unavailable(
            self, unreachable_mailbox: Broken[Mailbox], call: str) -> None:
        fails_with(ProviderUnavailable, unreachable_mailbox, MAILBOX_CALLS[call], call)

    @pytest.mark.parametrize("call", MAILBOX_CALLS)
    def test_malformed_answer_is_the_projects_error(
            self, malformed_mailbox: Broken[Mailbox], call: str) -> None:
        fails_with(self.malformed_error, malformed_mailbox, MAILBOX_CALLS[call], call)


class MailboxLoginContract:
    """A mailbox whose login is refused."""

    @pytest.fixture
    def refused_mailbox(self) -> Broken[Mailbox]:
        raise NotImplementedError

    @pytest.mark.parametrize("call", MAILBOX_CALLS)
    def test_refused_login_is_auth_expired(
            self, refused_mailbox: Broken[Mailbox], call: str) -> None:
        exc = fails_with(AuthExpired, refused_mailbox, MAILBOX_CALLS[call], call)
        assert f"followup auth {refused_mailbox.account}" in str(exc)
