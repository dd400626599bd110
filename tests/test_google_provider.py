"""The Google provider through the real google-api-python-client against the fake Google server.

Credentials go through the real keyring code (a file keyring in tmp_path); retries
record their waits instead of sleeping. Every test ends by checking that no send
endpoint was called and that the fake saw no request it could not handle.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import ClassVar

import pytest

from interview_followup.daemon.config import parse_config
from interview_followup.daemon.detect import classify
from interview_followup.daemon.mime import build_message
from interview_followup.providers._shared import secrets
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import (
    Address,
    Attendee,
    CalendarChanges,
    CalendarSource,
    Event,
    Folder,
    Mailbox,
    ReplyTo,
    Response,
)
from interview_followup.providers.errors import AuthExpired, ProviderUnavailable, RateLimited
from interview_followup.providers.google import auth as google_auth
from interview_followup.providers.google.account import open_account
from interview_followup.providers.google.api import GoogleApi
from interview_followup.providers.google.calendar import GoogleCalendar
from interview_followup.providers.google.mailbox import Gmail
from tests.configs import make_config
from tests.contract import (
    NY,
    WINDOW,
    CalendarContract,
    EventSpec,
    MailboxContract,
    draft,
    mail,
)
from tests.fakes.google_server import FakeGoogle
from tests.keyring_backend import stored, use_file_keyring

ACCOUNT = "gmail"
MARKER = "iv1/thank_you/dana@acme.example"
_RESPONSE_NAMES = {Response.ACCEPTED: "accepted", Response.DECLINED: "declined",
                   Response.TENTATIVE: "tentative", Response.NEEDS_ACTION: "needsAction",
                   Response.UNKNOWN: "needsAction"}


# -- helpers shared with test_google_e2e -------------------------------------------

def credentials_json(fake: FakeGoogle, scopes: list[str] | None = None) -> str:
    """What `followup auth` stores after consent, with the token endpoint of the fake."""
    tokens = fake.issue_tokens(scopes or google_auth.SCOPES)
    expiry = datetime.now(UTC) + timedelta(seconds=int(tokens["expires_in"]))
    return json.dumps({
        "token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
        "token_uri": fake.url + "token", "client_id": fake.client_id,
        "client_secret": fake.client_secret, "scopes": scopes or google_auth.SCOPES,
        "expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })


def started_fake(seed: int = 1, email: str = "alex.rivera@gmail.com") -> FakeGoogle:
    fake = FakeGoogle(seed=seed, email=email)
    fake.retry_after = 0  # Retry-After: 0 on 429/503, so tests never wait
    fake.start()
    return fake


def api_paths(fake: FakeGoogle) -> list[str]:
    """The API requests so far as 'METHOD path', for request-count assertions."""
    return [f"{r.method} {r.path}" for r in fake.api_requests]


def google_event(spec: EventSpec) -> dict[str, object]:
    def person(a: Attendee) -> dict[str, object]:
        result: dict[str, object] = {"email": a.email,
                                     "responseStatus": _RESPONSE_NAMES[a.response]}
        if a.name:
            result["displayName"] = a.name
        if a.is_resource:
            result["resource"] = True
        return result

    event: dict[str, object] = {
        "id": spec.uid, "iCalUID": spec.uid, "summary": spec.title,
        "description": spec.description,
        "start": {"dateTime": spec.start.isoformat(), "timeZone": str(spec.start.tzinfo)},
        "end": {"dateTime": spec.end.isoformat(), "timeZone": str(spec.end.tzinfo)},
    }
    if spec.organizer is not None:
        event["organizer"] = {"email": spec.organizer.email,
                              "displayName": spec.organizer.name}
    if spec.attendees:
        event["attendees"] = [person(a) for a in spec.attendees]
    if spec.cancelled:
        event["status"] = "cancelled"
    return event


# -- fixtures --------------------------------------------------------------------

@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    server = started_fake()
    yield server
    server.stop()
    assert server.send_attempts == []  # the provider never sends (rule 10)
    assert server.errors == []


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_file_keyring(monkeypatch, tmp_path / "keyring.json")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def api(fake: FakeGoogle, keyring_file: Path, sleeps: list[float]) -> GoogleApi:
    secrets.set_secret(ACCOUNT, credentials_json(fake))
    return GoogleApi(ACCOUNT, fake.url, retry=Retry(sleep=sleeps.append))


@pytest.fixture
def gmail(api: GoogleApi) -> Gmail:
    return Gmail(api)


@pytest.fixture
def calendar(api: GoogleApi) -> GoogleCalendar:
    return GoogleCalendar(api)


def not_before() -> datetime:
    return datetime.now(UTC) - timedelta(days=16)


def read(calendar: CalendarSource, checkpoint: str | None = None,
         ) -> tuple[dict[str, Event], CalendarChanges]:
    changes = calendar.changes(checkpoint, *WINDOW, NY)
    return {e.uid: e for e in changes.events}, changes


def event_at(uid: str, title: str = "Interview: Platform Engineer",
             **extra: object) -> dict[str, object]:
    start = datetime(2026, 11, 10, 14, 0, tzinfo=NY)
    return {"id": uid, "summary": title,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()}, **extra}


# -- the shared contract ------------------------------------------------------------

class TestGmailContract(MailboxContract):
    supports_answer_fields = True
    supports_folders = True
    # Where the contract's folder roles are in Gmail: labels a message gains and loses.
    LABELS: ClassVar[dict[str, list[str]]] = {"Archive": [], "Junk": ["SPAM"],
                                              "Trash": ["TRASH"]}

    @pytest.fixture
    def mailbox(self, gmail: Gmail, fake: FakeGoogle) -> Mailbox:
        self.fake = fake
        return gmail

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        self.fake.deliver(msg.as_bytes(), ["INBOX", "UNREAD"])

    def file_into(self, mailbox: Mailbox, msg: EmailMessage, folder: str) -> None:
        if folder == "Drafts":
            self.fake.add_draft(msg.as_bytes())
            return
        # Mail filed with an old Date (imported, or held) carries it as its internal date.
        when = parsedate_to_datetime(str(msg["Date"]))
        self.fake.deliver(msg.as_bytes(), self.LABELS[folder], internal_date=min(
            when, datetime.now(UTC)))

    def move(self, mailbox: Mailbox, message_id: str, folder: str) -> None:
        [gmail_id] = [i for i in self.fake.messages
                      if self.fake.parsed(i)["Message-ID"] == message_id]
        self.fake.modify_labels(gmail_id, add=self.LABELS[folder], remove=["INBOX"])

    def record_sent(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        self.fake.deliver(msg.as_bytes(), ["SENT"])


class TestGoogleCalendarContract(CalendarContract):
    supports_lookup = True

    @pytest.fixture
    def calendar(self, api: GoogleApi, fake: FakeGoogle) -> CalendarSource:
        self.fake = fake
        return GoogleCalendar(api)

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        self.fake.put_event("primary", google_event(spec))

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        self.fake.cancel_event("primary", uid)


# -- calendar -----------------------------------------------------------------------

def test_every_page_is_read_and_an_idle_sync_costs_one_request(
        fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    for n in range(260):  # the provider asks for 250 per page
        fake.put_event("primary", event_at(f"ev{n:03d}", f"Meeting {n}"))
    events, first = read(calendar)
    assert len(events) == 260 and first.complete
    assert api_paths(fake).count("GET /calendar/v3/calendars/primary/events") == 2
    before = len(fake.api_requests)
    _, second = read(calendar, first.checkpoint)
    assert len(fake.api_requests) - before == 1
    assert "syncToken" in fake.api_requests[-1].query
    assert not second.complete and second.events == () and second.removed == ()


def test_expired_sync_token_reads_everything_again(
        fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    fake.put_event("primary", event_at("a"))
    fake.put_event("primary", event_at("b", "Lunch"))
    _, first = read(calendar)
    fake.expire_sync_tokens()
    fake.put_event("primary", event_at("a", "Interview (moved)"))
    events, second = read(calendar, first.checkpoint)
    assert second.complete  # a full read: absent interviews count as deleted
    assert set(events) == {"a", "b"} and events["a"].title == "Interview (moved)"
    statuses = [(r.status, "syncToken" in r.query) for r in fake.api_requests[-2:]]
    assert statuses == [(410, True), (200, False)]
    _, third = read(calendar, second.checkpoint)
    assert fake.api_requests[-1].status == 200 and not third.complete


def test_cancelled_event_is_removed_in_a_sync_and_absent_from_a_full_read(
        fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    fake.put_event("primary", event_at("a"))
    _, first = read(calendar)
    fake.cancel_event("primary", "a")
    events, second = read(calendar, first.checkpoint)
    assert second.removed == ("a",) and events == {}
    events, full = read(calendar)
    assert full.complete and "a" not in events


def test_event_types_other_than_default_are_ignored(
        fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    for kind in ("outOfOffice", "focusTime", "workingLocation", "birthday", "fromGmail"):
        fake.put_event("primary", event_at(kind, f"Interview block ({kind})", eventType=kind))
    fake.put_event("primary", event_at("real"))
    events, first = read(calendar)
    assert list(events) == ["real"]
    fake.put_event("primary", event_at("focusTime", "Interview prep", eventType="focusTime"))
    events, _ = read(calendar, first.checkpoint)
    assert events == {}


def test_colour_and_private_property_tag_an_interview(
        tmp_path: Path, fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    fake.put_event("primary", event_at("red", "Chat with Acme", colorId="11"))
    fake.put_event("primary", event_at("prop", "Chat with Globex", extendedProperties={
        "private": {"interview-followup": "interview"}}))
    fake.put_event("primary", event_at("plain", "Chat with Initech", colorId="5"))
    events, _ = read(calendar)
    assert events["red"].tags == ("Tomato",)
    assert events["prop"].tags == ("Interview",)
    assert events["plain"].tags == ("Banana",)
    config = make_config(tmp_path, sections='[detect]\ncategories = ["Interview", "tomato"]\n')
    verdicts = {uid: classify(e, config).is_interview for uid, e in events.items()}
    assert verdicts == {"red": True, "prop": True, "plain": False}


def test_attendee_flags(fake: FakeGoogle, calendar: GoogleCalendar) -> None:
    fake.put_event("primary", event_at("a", organizer={
        "email": "Dana@Acme.example", "displayName": "Dana Recruiter"}, attendees=[
        {"email": "dana@acme.example", "organizer": True, "responseStatus": "accepted"},
        {"email": "alex.rivera@gmail.com", "self": True, "responseStatus": "tentative"},
        {"email": "sam@acme.example", "displayName": "Sam Lee",
         "responseStatus": "needsAction"},
        {"email": "c_188@resource.calendar.google.com", "displayName": "Room 4B",
         "resource": True, "responseStatus": "accepted"},
    ]))
    events, _ = read(calendar)
    event = events["a"]
    people = {a.email: a for a in event.attendees}
    assert people["alex.rivera@gmail.com"].is_self
    assert people["alex.rivera@gmail.com"].response is Response.TENTATIVE
    assert (people["sam@acme.example"].name, people["sam@acme.example"].response) == (
        "Sam Lee", Response.NEEDS_ACTION)
    assert people["c_188@resource.calendar.google.com"].is_resource
    assert not people["sam@acme.example"].is_resource
    organizer = event.organizer
    assert organizer is not None
    assert (organizer.email, organizer.name, organizer.response) == (
        "dana@acme.example", "Dana Recruiter", Response.ACCEPTED)
    assert not organizer.is_self


def test_all_day_events_and_html_descriptions(fake: FakeGoogle,
                                              calendar: GoogleCalendar) -> None:
    fake.put_event("primary", {"id": "day", "summary": "Onsite interview",
                               "start": {"date": "2026-11-12"}, "end": {"date": "2026-11-13"}})
    fake.put_event("primary", event_at("html", description=(
        "Interviewers: Jane Doe<br>Discussed: the <b>on-call</b> rotation &amp; budgets<br>"
        '<a href="https://meet.example/x">Join</a>')))
    events, _ = read(calendar)
    day = events["day"]
    assert day.all_day and day.start == datetime(2026, 11, 12, tzinfo=NY)
    assert events["html"].description.splitlines() == [
        "Interviewers: Jane Doe", "Discussed: the on-call rotation & budgets", "Join"]


def test_several_calendars(fake: FakeGoogle, api: GoogleApi) -> None:
    fake.add_calendar("team@group.calendar.google.com")
    fake.put_event("primary", event_at("mine"))
    fake.put_event("team@group.calendar.google.com", event_at("theirs", "Phone screen"))
    calendar = GoogleCalendar(api, ["primary", "team@group.calendar.google.com"])
    events, first = read(calendar)
    assert set(events) == {"mine", "theirs"}
    before = len(fake.api_requests)
    fake.cancel_event("team@group.calendar.google.com", "theirs")
    _, second = read(calendar, first.checkpoint)
    assert len(fake.api_requests) - before == 2 and second.removed == ("theirs",)


def test_a_new_day_at_the_horizon_reads_in_full(fake: FakeGoogle,
                                                calendar: GoogleCalendar) -> None:
    fake.put_event("primary", event_at("a"))
    first = calendar.changes(None, *WINDOW, NY)
    start, end = WINDOW
    same_day = calendar.changes(first.checkpoint, start, end + timedelta(minutes=5), NY)
    next_day = calendar.changes(same_day.checkpoint, start, end + timedelta(days=1), NY)
    assert (first.complete, same_day.complete, next_day.complete) == (True, False, True)


# -- Gmail reading ----------------------------------------------------------------

def test_stale_history_reads_the_mailbox_again(fake: FakeGoogle, gmail: Gmail) -> None:
    fake.deliver(mail(subject="first").as_bytes())
    first = gmail.messages_since(None, not_before())
    fake.deliver(mail(subject="second").as_bytes())
    fake.expire_history()  # our history id is now older than the oldest Gmail keeps
    second = gmail.messages_since(first.checkpoint, not_before())
    assert "second" in [m.subject for m in second.messages]
    assert [r.status for r in fake.api_requests if r.path.endswith("/history")] == [404]
    third = gmail.messages_since(second.checkpoint, not_before())
    assert third.messages == () and fake.api_requests[-1].status == 200


def test_messages_by_label(fake: FakeGoogle, gmail: Gmail) -> None:
    fake.deliver(mail(subject="inbox").as_bytes(), ["INBOX", "UNREAD", "CATEGORY_PERSONAL"])
    fake.deliver(mail(subject="archived").as_bytes(), [])
    fake.deliver(mail(subject="sent").as_bytes(), ["SENT"])
    fake.deliver(mail(subject="spam").as_bytes(), ["SPAM"])
    fake.deliver(mail(subject="trash").as_bytes(), ["TRASH"])
    fake.add_draft(mail(subject="my own draft").as_bytes())
    first = gmail.messages_since(None, not_before())
    got = {m.subject: m.folder for m in first.messages}
    assert got == {"inbox": Folder.INBOX, "archived": Folder.OTHER, "sent": Folder.SENT}
    fake.deliver(mail(subject="spam 2").as_bytes(), ["SPAM"])
    fake.add_draft(mail(subject="draft 2").as_bytes())
    before = len(fake.api_requests)
    second = gmail.messages_since(first.checkpoint, not_before())
    assert second.messages == ()
    assert len(fake.api_requests) - before == 1  # skipped by the history labels: no get


def test_history_pages(fake: FakeGoogle, gmail: Gmail, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("interview_followup.providers.google.mailbox.MESSAGES_PAGE", 2)
    for n in range(3):
        fake.deliver(mail(subject=f"old {n}").as_bytes())
    first = gmail.messages_since(None, not_before())
    assert len(first.messages) == 3
    for n in range(5):
        fake.deliver(mail(subject=f"new {n}").as_bytes())
    second = gmail.messages_since(first.checkpoint, not_before())
    assert sorted(m.subject for m in second.messages) == [f"new {n}" for n in range(5)]
    assert api_paths(fake).count("GET /gmail/v1/users/me/history") == 3
    assert api_paths(fake).count("GET /gmail/v1/users/me/messages") == 2


def test_thread_id_and_reply_headers(fake: FakeGoogle, gmail: Gmail) -> None:
    sent = mail(sender="alex.rivera@gmail.com", to="dana@acme.example", subject="Thank you")
    fake.deliver(sent.as_bytes(), ["SENT"])
    answer = mail(subject="Re: Thank you", In_Reply_To=sent["Message-ID"],
                  References=sent["Message-ID"])
    fake.deliver(answer.as_bytes())
    batch = gmail.messages_since(None, not_before())
    by_subject = {m.subject: m for m in batch.messages}
    assert by_subject["Re: Thank you"].thread_id == by_subject["Thank you"].thread_id != ""
    assert by_subject["Re: Thank you"].in_reply_to == sent["Message-ID"]


# -- Gmail drafts -------------------------------------------------------------------

def test_draft_is_the_raw_message_with_its_marker(fake: FakeGoogle, gmail: Gmail) -> None:
    message = build_message(from_name="Alex Rivera", from_email="alex.rivera@gmail.com",
                            to=[Address("dana@acme.example", "Dana Recruiter")],
                            subject="Thank you — Platform Engineer", body="Dear Dana,\n\nThanks!",
                            marker=MARKER, now=datetime.now(UTC))
    ref = gmail.create_draft(message, MARKER, None)
    stored_draft = fake.drafts[ref.id]
    parsed = fake.parsed(stored_draft["message"]["id"])
    assert parsed["X-Interview-Followup"] == MARKER
    assert parsed["Message-ID"] == message["Message-ID"] == ref.message_id
    assert "DRAFT" in stored_draft["message"]["labelIds"]
    raw = next(r for r in fake.api_requests if r.method == "POST").json()["message"]["raw"]
    assert b"\r\n" in base64.urlsafe_b64decode(raw + "==")  # SMTP line ends


def test_status_check_is_a_reply_in_the_thank_you_thread(fake: FakeGoogle, gmail: Gmail) -> None:
    sent = mail(sender="alex.rivera@gmail.com", to="dana@acme.example",
                subject="Thank you — Platform Engineer")
    sent_id = fake.deliver(sent.as_bytes(), ["SENT"])
    thread = fake.messages[sent_id]["threadId"]
    reply_to = ReplyTo(sent["Message-ID"], (), thread, sent_id)
    message = build_message(from_name="Alex Rivera", from_email="alex.rivera@gmail.com",
                            to=[Address("dana@acme.example")],
                            subject="Re: Thank you — Platform Engineer", body="Any news?",
                            marker="iv1/status_check/dana@acme.example",
                            now=datetime.now(UTC), reply_to=reply_to)
    ref = gmail.create_draft(message, "iv1/status_check/dana@acme.example", reply_to)
    assert ref.thread_id == thread
    assert fake.drafts[ref.id]["message"]["threadId"] == thread
    assert fake.threads[thread][0] == sent_id and len(fake.threads[thread]) == 2
    assert fake.parsed(fake.drafts[ref.id]["message"]["id"])["In-Reply-To"] == sent["Message-ID"]


def test_find_marker_after_the_user_sent_the_draft(fake: FakeGoogle, gmail: Gmail) -> None:
    ref = gmail.create_draft(draft(MARKER), MARKER, None)
    fake.send_draft_as_user(ref.id)
    [found] = gmail.find_marker(MARKER)
    assert found.folder is Folder.SENT and found.created is not None
    search = next(r for r in fake.api_requests if r.query.get("q", "").startswith("in:sent"))
    assert "to:dana@acme.example" in search.query["q"]  # narrowed by the marker's recipient


def test_find_marker_falls_back_when_the_header_was_dropped(fake: FakeGoogle,
                                                           gmail: Gmail) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    ref = gmail.create_draft(draft(MARKER), MARKER, None)
    other = draft("iv2/thank_you/dana@acme.example")
    gmail.create_draft(other, "iv2/thank_you/dana@acme.example", None)
    fake.send_draft_as_user(ref.id, keep_headers=False)  # a client that drops X- headers
    assert gmail.find_marker(MARKER) == []
    found = gmail.find_marker(MARKER, subject="Thank you", since=since)
    assert [f.folder for f in found] == [Folder.SENT]
    assert gmail.find_marker(MARKER, subject="Something else", since=since) == []
    assert gmail.find_marker(MARKER, subject="Thank you", since=datetime.now(UTC) + timedelta(
        hours=1)) == []


# -- faults and retries ---------------------------------------------------------------

@pytest.mark.parametrize("fault", ["429", "403-rate", "403-project-rate", "500", "503", "drop"])
def test_each_fault_kind_is_retried(fault: str, fake: FakeGoogle, gmail: Gmail,
                                    sleeps: list[float]) -> None:
    fake.deliver(mail().as_bytes())
    # httplib2 re-sends a dropped GET once by itself: drop twice to reach our retry.
    fake.inject(fault, at=[0, 1] if fault == "drop" else [0])
    batch = gmail.messages_since(None, not_before())
    assert [m.subject for m in batch.messages] == ["Re: Interview"]
    assert [r.fault for r in fake.api_requests if r.fault] == [fault] * (
        2 if fault == "drop" else 1)
    assert len(sleeps) == 1
    if fault in ("429", "503"):
        assert sleeps == [0.0]  # Retry-After: 0 honoured
    else:
        assert 0.5 <= sleeps[0] <= 1.0  # the first backoff: 1 s with jitter


def test_outage_retries_are_bounded(fake: FakeGoogle, calendar: GoogleCalendar,
                                    sleeps: list[float]) -> None:
    fake.inject("500", rate=1.0)
    with pytest.raises(ProviderUnavailable, match=r"events.list: HTTP 500 \(5 attempts\)"):
        read(calendar)
    assert len(fake.api_requests) == 5
    assert [round(s / 2**n, 3) >= 0.5 for n, s in enumerate(sleeps)] == [True] * 4
    assert all(s <= 2**n for n, s in enumerate(sleeps))  # exponential, jittered


def test_rate_limit_retries_are_bounded(fake: FakeGoogle, gmail: Gmail,
                                        sleeps: list[float]) -> None:
    fake.inject("403-rate", rate=1.0)
    with pytest.raises(RateLimited):
        gmail.messages_since(None, not_before())
    assert len(fake.api_requests) == 5 and len(sleeps) == 4


def test_a_long_retry_after_ends_the_attempt_at_once(fake: FakeGoogle, gmail: Gmail,
                                                     sleeps: list[float]) -> None:
    fake.inject("429", at=[0], retry_after=3600)
    with pytest.raises(RateLimited) as caught:
        gmail.messages_since(None, not_before())
    assert caught.value.retry_after == 3600 and sleeps == []


def test_an_outage_retry_after_is_capped(fake: FakeGoogle, gmail: Gmail,
                                         sleeps: list[float]) -> None:
    fake.deliver(mail().as_bytes())
    fake.inject("503", at=[0], retry_after=3600)
    batch = gmail.messages_since(None, not_before())
    assert [m.subject for m in batch.messages] == ["Re: Interview"]
    assert sleeps == [60.0]  # Retry.max_wait, not an hour inside one cycle


def test_a_failed_read_records_nothing(fake: FakeGoogle, gmail: Gmail) -> None:
    first = gmail.messages_since(None, not_before())
    for n in range(3):
        fake.deliver(mail(subject=f"m{n}").as_bytes())
    fake.inject("503", rate=1.0, paths="/messages/")  # every messages.get fails
    with pytest.raises(ProviderUnavailable):
        gmail.messages_since(first.checkpoint, not_before())
    fake.clear_faults()
    again = gmail.messages_since(first.checkpoint, not_before())  # the same checkpoint
    assert sorted(m.subject for m in again.messages) == ["m0", "m1", "m2"]


def test_a_failed_create_makes_exactly_one_draft(fake: FakeGoogle, gmail: Gmail) -> None:
    fake.inject("500", at=[0], paths="/drafts")
    ref = gmail.create_draft(draft(MARKER), MARKER, None)
    assert list(fake.drafts) == [ref.id]


def test_a_create_whose_answer_was_lost_is_not_repeated(fake: FakeGoogle, api: GoogleApi) -> None:
    message = draft(MARKER)
    # The first attempt fails; while we wait, the draft turns out to exist after all
    # (Google stored it, the answer was lost on the way).
    def meanwhile(_: float) -> None:
        fake.add_draft(message.as_bytes())

    api.retry.sleep = meanwhile
    fake.inject("503", at=[0], paths="/drafts")
    ref = Gmail(api).create_draft(message, MARKER, None)
    assert list(fake.drafts) == [ref.id]
    assert sum(1 for r in fake.api_requests if r.method == "POST") == 1


# -- credentials ------------------------------------------------------------------------

def test_an_expired_access_token_is_refreshed_and_saved(
        fake: FakeGoogle, gmail: Gmail, keyring_file: Path) -> None:
    before = json.loads(stored(keyring_file)[ACCOUNT])["token"]
    gmail.messages_since(None, not_before())
    fake.expire_access_tokens()
    fake.deliver(mail().as_bytes())
    gmail.messages_since(None, not_before())
    after = json.loads(stored(keyring_file)[ACCOUNT])
    assert after["token"] != before and after["refresh_token"]
    assert any(r.path == "/token" for r in fake.requests)


def test_a_revoked_grant_is_auth_expired(fake: FakeGoogle, gmail: Gmail,
                                         keyring_file: Path) -> None:
    gmail.messages_since(None, not_before())
    fake.revoke(json.loads(stored(keyring_file)[ACCOUNT])["refresh_token"])
    with pytest.raises(AuthExpired, match="followup auth gmail"):
        gmail.messages_since(None, not_before())


def test_missing_gmail_permission_is_auth_expired(fake: FakeGoogle, keyring_file: Path) -> None:
    secrets.set_secret(ACCOUNT, credentials_json(fake, [google_auth.SCOPES[0]]))
    gmail = Gmail(GoogleApi(ACCOUNT, fake.url, retry=Retry(sleep=lambda _: None)))
    with pytest.raises(AuthExpired, match="allow every permission"):
        gmail.messages_since(None, not_before())


def test_nothing_stored_is_auth_expired(fake: FakeGoogle, keyring_file: Path) -> None:
    calendar = GoogleCalendar(GoogleApi(ACCOUNT, fake.url))
    with pytest.raises(AuthExpired, match="followup auth gmail"):
        read(calendar)
    assert fake.requests == []


# -- configuration and the account ---------------------------------------------------------

def google_config(tmp_path: Path, extra: str = "") -> str:
    return ('[me]\nname = "Alex Rivera"\nemail = "alex.rivera@gmail.com"\n'
            '[[accounts]]\nname = "gmail"\nprovider = "google"\n'
            f'client_secrets = "secrets/client.json"\n{extra}')


def test_config_resolves_client_secrets_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "client.json").write_text("{}")
    config = parse_config(google_config(tmp_path, 'calendars = ["primary", "team"]\n'),
                          tmp_path / "config.toml")
    options = config.accounts[0].options
    assert options["client_secrets"] == tmp_path / "secrets" / "client.json"
    assert options["calendars"] == ["primary", "team"]


def test_config_problems_are_named(tmp_path: Path) -> None:
    from interview_followup.daemon.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config(google_config(tmp_path, "calendars = []\nmaildir = \"x\"\n"),
                     tmp_path / "config.toml")
    text = str(caught.value)
    assert "accounts[0].client_secrets" in text and "file not found" in text
    assert "accounts[0].calendars" in text and "at least one calendar" in text
    assert "accounts[0].maildir" in text and "unknown key" in text


def test_open_account_touches_nothing(tmp_path: Path, fake: FakeGoogle,
                                      keyring_file: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "client.json").write_text(json.dumps(fake.client_secrets_json()))
    config = parse_config(google_config(tmp_path, f'endpoint = "{fake.url}"\n'),
                          tmp_path / "config.toml")
    account = open_account(config.accounts[0], config)
    assert account.provider == "google" and fake.requests == []
    assert not keyring_file.exists()  # the keyring is read on first use only
    account.close()
