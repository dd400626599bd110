"""Answers as they really arrive in Gmail, and events postponed out of view (issue 8, rules 6-8).

Through the real google-api-python-client against the fake Google server: an answer
archived or filed under a label before the next cycle, Spam/Trash/Drafts never, body
excerpts for candidates only (counted in the fake's request log), the one bounded search
before a status check, and ``events.get`` for an event that left the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from interview_followup.providers._shared import secrets
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import Folder, Interest, MailMessage
from interview_followup.providers.google.api import GoogleApi
from interview_followup.providers.google.calendar import GoogleCalendar
from interview_followup.providers.google.mailbox import SEARCH_LIMIT, Gmail
from tests.contract import NY, WINDOW
from tests.fakes.google_server import FakeGoogle
from tests.keyring_backend import use_file_keyring
from tests.test_google_provider import (
    ACCOUNT,
    credentials_json,
    event_at,
    not_before,
    read,
    started_fake,
)

ACME = Interest(domains=frozenset({"acme.example"}))


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    server = started_fake()
    yield server
    server.stop()
    assert server.send_attempts == []  # the provider never sends (rule 10)
    assert server.errors == []


@pytest.fixture
def api(fake: FakeGoogle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GoogleApi:
    use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    secrets.set_secret(ACCOUNT, credentials_json(fake))
    return GoogleApi(ACCOUNT, fake.url, retry=Retry(sleep=lambda _: None))


@pytest.fixture
def gmail(api: GoogleApi) -> Gmail:
    return Gmail(api)


@pytest.fixture
def calendar(api: GoogleApi) -> GoogleCalendar:
    return GoogleCalendar(api)


def answer(subject: str = "Re: Thank you", sender: str = "Dana Recruiter <dana@acme.example>",
           body: str = "Thanks Alex, we will be in touch next week.", *,
           html: str = "", attachment: bytes = b"", when: datetime | None = None,
           **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Alex Rivera <alex.rivera@gmail.com>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="acme.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    if attachment:
        msg.add_attachment(attachment, maintype="application", subtype="pdf",
                           filename="offer.pdf")
    return msg.as_bytes()


def gets(fake: FakeGoogle, since: int = 0) -> list[tuple[str, str]]:
    """(message id, format) of every messages.get after request ``since``."""
    return [(r.path.rsplit("/", 1)[-1], r.query.get("format", "full"))
            for r in fake.api_requests[since:]
            if "/messages/" in r.path and r.method == "GET"]


def by_subject(messages: tuple[MailMessage, ...] | list[MailMessage]) -> dict[str, MailMessage]:
    return {m.subject: m for m in messages}


# -- every folder of rule 6 ------------------------------------------------------------

def test_answer_archived_before_the_next_cycle_is_read_from_all_mail(
        fake: FakeGoogle, gmail: Gmail) -> None:
    first = gmail.messages_since(None, not_before())
    mid = fake.deliver(answer(), ["INBOX", "UNREAD", "CATEGORY_PERSONAL"])
    fake.archive(mid)  # history: messageAdded (INBOX), then labelRemoved INBOX
    second = gmail.messages_since(first.checkpoint, not_before(), ACME)
    [got] = second.messages
    assert (got.folder, got.folder_name) == (Folder.OTHER, "Archive")
    assert got.excerpt.startswith("Thanks Alex")
    history = next(r for r in fake.api_requests if r.path.endswith("/history"))
    assert set(history.query_lists["historyTypes"]) == {"messageAdded", "labelAdded",
                                                        "labelRemoved"}


def test_answer_filed_by_a_filter_under_a_user_label(fake: FakeGoogle, gmail: Gmail) -> None:
    jobs = fake.add_label("Jobs/Acme")
    first = gmail.messages_since(None, not_before())
    fake.deliver(answer("Next steps"), [jobs, "UNREAD"])  # "Skip the Inbox, apply label"
    fake.deliver(answer("Re: scheduling"), [jobs, "INBOX"])
    second = gmail.messages_since(first.checkpoint, not_before(), ACME)
    got = {m.subject: (m.folder, m.folder_name) for m in second.messages}
    assert got == {"Next steps": (Folder.OTHER, "Jobs/Acme"),
                   "Re: scheduling": (Folder.INBOX, "Inbox")}
    fake.deliver(answer("Offer"), [jobs])
    third = gmail.messages_since(second.checkpoint, not_before(), ACME)
    assert [(m.folder, m.folder_name) for m in third.messages] == [(Folder.OTHER, "Jobs/Acme")]
    assert [r.path for r in fake.api_requests].count("/gmail/v1/users/me/labels") == 1  # cached


def test_a_label_added_later_files_the_message_again(fake: FakeGoogle, gmail: Gmail) -> None:
    mid = fake.deliver(answer(), ["INBOX"])
    first = gmail.messages_since(None, not_before())
    jobs = fake.add_label("Jobs")
    fake.modify_labels(mid, add=[jobs], remove=["INBOX"])  # moved to a label in Gmail's UI
    second = gmail.messages_since(first.checkpoint, not_before())
    assert [(m.id, m.folder, m.folder_name) for m in second.messages] == [
        (mid, Folder.OTHER, "Jobs")]


def test_drafts_spam_and_trash_are_never_read(fake: FakeGoogle, gmail: Gmail) -> None:
    first = gmail.messages_since(None, not_before())
    fake.deliver(answer("spam"), ["SPAM"])
    fake.deliver(answer("trash"), ["TRASH"])
    fake.add_draft(answer("my own draft"))
    binned = fake.deliver(answer("binned at once"), ["INBOX"])
    fake.modify_labels(binned, add=["TRASH"], remove=["INBOX"])
    before = len(fake.api_requests)
    second = gmail.messages_since(first.checkpoint, not_before(), ACME)
    assert second.messages == ()
    assert {id for id, _ in gets(fake, before)} <= {binned}  # the history labels said enough
    assert not any(r.query.get("format") == "full" for r in fake.api_requests[before:])


def test_mail_taken_back_from_spam_is_read(fake: FakeGoogle, gmail: Gmail) -> None:
    mid = fake.deliver(answer("was spam"), ["SPAM"])
    first = gmail.messages_since(None, not_before())
    assert first.messages == ()
    fake.modify_labels(mid, add=["INBOX"], remove=["SPAM"])  # "Not spam"
    second = gmail.messages_since(first.checkpoint, not_before())
    assert [(m.subject, m.folder) for m in second.messages] == [("was spam", Folder.INBOX)]


def test_reading_or_starring_mail_costs_no_message_request(fake: FakeGoogle,
                                                           gmail: Gmail) -> None:
    mid = fake.deliver(answer(), ["INBOX", "UNREAD"])
    first = gmail.messages_since(None, not_before())
    fake.modify_labels(mid, remove=["UNREAD"])
    fake.modify_labels(mid, add=["STARRED", "IMPORTANT"])
    before = len(fake.api_requests)
    second = gmail.messages_since(first.checkpoint, not_before(), ACME)
    assert second.messages == ()
    assert [r.path for r in fake.api_requests[before:]] == ["/gmail/v1/users/me/history"]


# -- bodies for candidates only ---------------------------------------------------------

def test_candidates_get_an_excerpt_and_the_others_no_body_request(
        fake: FakeGoogle, gmail: Gmail) -> None:
    first = gmail.messages_since(None, not_before())
    ats = fake.deliver(answer(
        "Your application", sender="Acme Corp <no-reply@us.greenhouse-mail.io>",
        body="", html="<html><body><p>Thank you for your interest in <b>Acme Corp</b>.</p>"
        "<p>We have decided to move forward with other candidates.</p></body></html>",
        Reply_To="Dana <dana@careers.acme.example>"))
    offer = fake.deliver(answer("Offer", body="Please find the offer attached.",
                                attachment=b"%PDF-1.4 secret"))
    news = fake.deliver(answer("Weekly digest", sender="news@letters.example",
                               List_Unsubscribe="<mailto:u@letters.example>"))
    before = len(fake.api_requests)
    batch = gmail.messages_since(first.checkpoint, not_before(), ACME)
    got = by_subject(batch.messages)
    assert "move forward with other candidates" in got["Your application"].excerpt
    assert "<p>" not in got["Your application"].excerpt
    assert got["Offer"].excerpt == "Please find the offer attached."
    assert got["Weekly digest"].excerpt == ""
    assert [a.email for a in got["Your application"].reply_to] == ["dana@careers.acme.example"]
    assert got["Weekly digest"].headers.get("list-unsubscribe") == "<mailto:u@letters.example>"
    assert got["Offer"].content_type.startswith("multipart/mixed")
    assert sorted(gets(fake, before)) == sorted([
        (ats, "metadata"), (ats, "full"), (offer, "metadata"), (offer, "full"),
        (news, "metadata")])
    assert not any("attachments" in r.path for r in fake.api_requests)
    metadata = next(r for r in fake.api_requests[before:] if r.query.get("format") == "metadata")
    assert {"Reply-To", "Content-Type", "List-Unsubscribe"} <= set(
        metadata.query_lists["metadataHeaders"])


def test_a_known_thread_gets_its_body_in_one_request(fake: FakeGoogle, gmail: Gmail) -> None:
    sent = answer("Thank you", sender="alex.rivera@gmail.com")
    sent_id = fake.deliver(sent, ["SENT"])
    first = gmail.messages_since(None, not_before())
    thread = fake.messages[sent_id]["threadId"]
    reply = EmailMessage()
    reply["From"] = "Sam <sam.lee@gmail.com>"  # a freemail address: only the thread knows
    reply["To"] = "alex.rivera@gmail.com"
    reply["Subject"] = "Re: Thank you"
    reply["Message-ID"] = make_msgid(domain="gmail.com")
    reply["In-Reply-To"] = str(first.messages[0].message_id)
    reply.set_content("Great talking to you!")
    mid = fake.deliver(reply.as_bytes(), ["INBOX"])
    before = len(fake.api_requests)
    batch = gmail.messages_since(first.checkpoint, not_before(),
                                 Interest(threads=frozenset({thread})))
    assert [m.excerpt for m in batch.messages] == ["Great talking to you!"]
    assert gets(fake, before) == [(mid, "full")]


def test_without_an_interest_every_message_has_its_excerpt(fake: FakeGoogle,
                                                           gmail: Gmail) -> None:
    fake.deliver(answer("one"))
    fake.deliver(answer("two", sender="news@letters.example"))
    batch = gmail.messages_since(None, not_before())
    assert all(m.excerpt for m in batch.messages) and len(batch.messages) == 2
    assert {form for _, form in gets(fake)} == {"full"}


def test_an_idle_cycle_is_one_history_request(fake: FakeGoogle, gmail: Gmail) -> None:
    fake.deliver(answer())
    first = gmail.messages_since(None, not_before(), ACME)
    before = len(fake.api_requests)
    again = gmail.messages_since(first.checkpoint, not_before(), ACME)
    assert again.messages == () and again.checkpoint == first.checkpoint
    assert [r.path for r in fake.api_requests[before:]] == ["/gmail/v1/users/me/history"]


# -- the final search (rule 7) ---------------------------------------------------------

def test_search_finds_an_archived_answer_after_since_and_not_one_before(
        fake: FakeGoogle, gmail: Gmail) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=3)
    old = fake.deliver(answer("Scheduling your interview", when=now - timedelta(days=5)),
                       ["INBOX"], internal_date=now - timedelta(days=5))
    late = fake.deliver(answer("Re: Thank you", when=now - timedelta(days=1)), ["INBOX"],
                        internal_date=now - timedelta(days=1))
    fake.archive(late)
    fake.deliver(answer("spam from them"), ["SPAM"], internal_date=now - timedelta(hours=2))
    fake.add_draft(answer("my draft to them", sender="alex.rivera@gmail.com"))
    fake.deliver(answer("not them", sender="pat@globex.example"), ["INBOX"],
                 internal_date=now - timedelta(hours=1))
    found = gmail.search_answers(since, ACME)
    assert [(m.id, m.folder, m.folder_name) for m in found] == [
        (late, Folder.OTHER, "Archive")]
    assert found[0].excerpt.startswith("Thanks Alex")
    assert old not in {m.id for m in found}
    [listing] = [r for r in fake.api_requests if r.path.endswith("/messages")]
    q = listing.query["q"]
    assert f"after:{int(since.timestamp())}" in q
    assert {"-in:drafts", "-in:spam", "-in:trash", "from:acme.example"} <= set(
        q.replace("{", " ").replace("}", " ").split())
    assert listing.query["maxResults"] == str(SEARCH_LIMIT)


def test_search_reads_the_interest_threads_and_addresses(fake: FakeGoogle, gmail: Gmail) -> None:
    sent_id = fake.deliver(answer("Thank you", sender="alex.rivera@gmail.com"), ["SENT"])
    thread = fake.messages[sent_id]["threadId"]
    sent_msgid = fake.parsed(sent_id)["Message-ID"]
    reply = answer("Re: Thank you", sender="Sam <sam.lee@gmail.com>", In_Reply_To=sent_msgid)
    in_thread = fake.deliver(reply, ["INBOX"])
    direct = fake.deliver(answer("Hi", sender="Jo <jo.freelance@gmail.com>"), [])  # archived
    found = gmail.search_answers(
        datetime.now(UTC) - timedelta(days=1),
        Interest(addresses=frozenset({"jo.freelance@gmail.com"}), threads=frozenset({thread})))
    assert {m.id for m in found} == {sent_id, in_thread, direct}
    assert {m.folder for m in found} == {Folder.SENT, Folder.INBOX, Folder.OTHER}


def test_search_with_nobody_to_look_for_asks_nothing(fake: FakeGoogle, gmail: Gmail) -> None:
    assert gmail.search_answers(datetime.now(UTC) - timedelta(days=1), Interest()) == []
    assert fake.api_requests == []


def test_search_is_bounded(fake: FakeGoogle, gmail: Gmail,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("interview_followup.providers.google.mailbox.SEARCH_LIMIT", 3)
    for n in range(5):
        fake.deliver(answer(f"answer {n}"))
    found = gmail.search_answers(datetime.now(UTC) - timedelta(days=1), ACME)
    assert len(found) == 3
    assert len([r for r in fake.api_requests if "/messages/" in r.path]) == 3


# -- events postponed out of view (rule 8) ----------------------------------------------

def test_an_event_postponed_beyond_the_window_is_removed_and_looked_up(
        fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    fake.put_event("primary", event_at("iv"))
    fake.put_event("primary", event_at("gone"))
    _, first = read(calendar)
    later = datetime(2027, 1, 20, 14, 0, tzinfo=NY)  # two months on: past WINDOW's end
    fake.put_event("primary", event_at("iv", start={"dateTime": later.isoformat()},
                                       end={"dateTime": (later + timedelta(hours=1))
                                            .isoformat()}))
    fake.cancel_event("primary", "gone")
    events, second = read(calendar, first.checkpoint)
    assert events == {} and set(second.removed) == {"iv", "gone"}
    moved = calendar.lookup("iv", NY)
    assert moved is not None and moved.start == later and not moved.cancelled
    assert calendar.lookup("gone", NY) is None
    assert calendar.lookup("never-existed", NY) is None
    paths = [r.path for r in fake.api_requests if r.path.endswith(("/iv", "/gone"))]
    assert paths == ["/calendar/v3/calendars/primary/events/iv",
                     "/calendar/v3/calendars/primary/events/gone"]
    assert WINDOW[1] < later


def test_lookup_tries_each_calendar(fake: FakeGoogle, api: GoogleApi) -> None:
    fake.add_calendar("team@group.calendar.google.com")
    fake.put_event("team@group.calendar.google.com", event_at("theirs"))
    both = GoogleCalendar(api, ["primary", "team@group.calendar.google.com"])
    found = both.lookup("theirs", NY)
    assert found is not None and found.uid == "theirs"
    assert [r.status for r in fake.api_requests] == [404, 200]


def test_a_long_search_goes_as_a_post_with_the_get_override(fake: FakeGoogle,
                                                            gmail: Gmail) -> None:
    people = frozenset(f"interviewer.number{n}@acme-holdings-international.example"
                       for n in range(40))
    mid = fake.deliver(answer(sender="interviewer.number7@acme-holdings-international.example"))
    found = gmail.search_answers(datetime.now(UTC) - timedelta(days=1),
                                 Interest(addresses=people))
    assert [m.id for m in found] == [mid]
    [listing] = [r for r in fake.api_requests if r.path.endswith("/messages")]
    assert len(listing.query["q"]) > 2048 and listing.body == b""
