"""The "microsoft" provider against the fake Graph server (tests/fakes/graph_server.py).

Real HTTP through the provider's own client; tokens are issued by the fake (msal and
the keyring are exercised in tests/test_microsoft_auth.py and tests/test_microsoft_e2e.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from interview_followup.daemon.config import AccountConfig, Config, parse_config
from interview_followup.daemon.config import open_account as open_account_
from interview_followup.daemon.detect import classify
from interview_followup.daemon.errors import ConfigError
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import (
    Attendee,
    CalendarSource,
    Folder,
    Interest,
    Mailbox,
    ReplyTo,
    Response,
)
from interview_followup.providers.errors import AuthExpired, ProviderUnavailable, RateLimited
from interview_followup.providers.microsoft.account import MicrosoftAccount, open_account
from interview_followup.providers.microsoft.calendar import GraphCalendar
from interview_followup.providers.microsoft.graph import GraphHttp
from interview_followup.providers.microsoft.mailbox import (
    MARKER_HEADER,
    MARKER_PROPERTY,
    OutlookMailbox,
)
from tests.contract import (
    NY,
    WINDOW,
    CalendarContract,
    EventSpec,
    MailboxContract,
    draft,
    interview,
    mail,
)
from tests.fakes.graph_server import FakeGraph

SCOPES = ["Calendars.Read", "Mail.ReadWrite", "User.Read"]
ME = "alex@home.example"


class FakeTokens:
    """Access tokens straight from the fake's token issuer (msal is not under test here)."""

    def __init__(self, fake: FakeGraph) -> None:
        self.fake = fake
        self.token = fake.issue_tokens(SCOPES)["access_token"]
        self.forced = 0

    def access_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.forced += 1
            self.token = self.fake.issue_tokens(SCOPES)["access_token"]
        return self.token


class Sleeps(list[float]):
    """Retry.sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config(tmp_path: Path, sections: str = "") -> Config:
    return parse_config(
        f'[me]\nname = "Alex Rivera"\nemail = "{ME}"\ntimezone = "America/New_York"\n'
        f"{sections}\n"
        '[[accounts]]\nname = "work"\nprovider = "microsoft"\nclient_id = "app-id"\n'
        'endpoint = "http://127.0.0.1:9/"\n',
        tmp_path / "config.toml",
    )


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph(seed=7, email=ME)
    server.start()
    yield server
    server.stop()
    assert server.errors == []  # the fake's own bugs would show here
    assert server.send_attempts == []  # nothing ever tries to send


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def account(fake: FakeGraph, tmp_path: Path, sleeps: Sleeps) -> Iterator[MicrosoftAccount]:
    opened = open_account(
        AccountConfig("work", "microsoft", {"client_id": fake.client_id, "endpoint": fake.url}),
        config(tmp_path), retry=Retry(base=0.0, sleep=sleeps), tokens=FakeTokens(fake))
    yield opened
    opened.close()


# -- turning test data into what Outlook would hold --------------------------------
def _address(value: str) -> dict[str, Any]:
    [(name, addr)] = getaddresses([value])
    return {"emailAddress": {"name": name, "address": addr}}


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def graph_message(msg: EmailMessage, *, sent: bool = False) -> dict[str, Any]:
    """``msg`` as Graph shows a received (or, with ``sent``, a sent) message."""
    when = _utc(parsedate_to_datetime(str(msg["Date"])))
    arrived = _utc(datetime.now(UTC))
    result: dict[str, Any] = {
        "subject": str(msg["Subject"]),
        "from": _address(str(msg["From"])),
        "toRecipients": [_address(v) for v in str(msg["To"]).split(",")],
        "ccRecipients": [_address(v) for v in str(msg.get("Cc", "")).split(",") if v.strip()],
        "receivedDateTime": arrived,
        "sentDateTime": when,
        "internetMessageId": str(msg["Message-ID"]),
        "body": _body(msg),
    }
    if msg["Reply-To"]:
        result["replyTo"] = [_address(v) for v in str(msg["Reply-To"]).split(",")]
    if sent:
        # Sent by Outlook from our draft: the extended property stays with the message.
        if msg[MARKER_HEADER]:
            result["singleValueExtendedProperties"] = [
                {"id": MARKER_PROPERTY, "value": str(msg[MARKER_HEADER])}]
    else:
        # Outlook gives the headers as received: raw values, unfolded.
        result["internetMessageHeaders"] = [{"name": k, "value": " ".join(str(v).split())}
                                            for k, v in msg.raw_items()]
    return result


def _body(msg: EmailMessage) -> dict[str, str]:
    """The body Outlook keeps: the text part, else the HTML one."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return {"contentType": "text", "content": ""}
    kind = "html" if part.get_content_subtype() == "html" else "text"
    return {"contentType": kind, "content": str(part.get_content())}


_STATUS = {Response.ACCEPTED: "accepted", Response.DECLINED: "declined",
           Response.TENTATIVE: "tentativelyAccepted", Response.NEEDS_ACTION: "notResponded",
           Response.UNKNOWN: "none"}


def _attendee(person: Attendee) -> dict[str, Any]:
    return {"emailAddress": {"name": person.name, "address": person.email},
            "type": "resource" if person.is_resource else "required",
            "status": {"response": _STATUS[person.response], "time": "0001-01-01T00:00:00Z"}}


def graph_event(spec: EventSpec, **extra: Any) -> dict[str, Any]:
    """``spec`` as Outlook stores it: local times in the event's own zone."""
    event: dict[str, Any] = {
        "id": spec.uid,
        "subject": spec.title,
        "body": {"contentType": "text", "content": spec.description},
        "start": {"dateTime": spec.start.astimezone(NY).replace(tzinfo=None).isoformat(),
                  "timeZone": "America/New_York"},
        "end": {"dateTime": spec.end.astimezone(NY).replace(tzinfo=None).isoformat(),
                "timeZone": "America/New_York"},
        "isAllDay": False,
        "isCancelled": spec.cancelled,
        "attendees": [_attendee(a) for a in spec.attendees],
    }
    if spec.organizer is not None:
        event["organizer"] = {"emailAddress": {"name": spec.organizer.name,
                                               "address": spec.organizer.email}}
    event.update(extra)
    return event


# -- the contract ----------------------------------------------------------------------
class TestOutlookMailboxContract(MailboxContract):
    supports_answer_fields = True
    supports_folders = True
    FOLDERS: ClassVar[dict[str, str]] = {"Archive": "archive", "Junk": "junkemail",
                                         "Trash": "deleteditems", "Drafts": "drafts"}

    @pytest.fixture
    def mailbox(self, account: MicrosoftAccount) -> Mailbox:
        return account.mailbox

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        assert isinstance(mailbox, OutlookMailbox)
        _fake_of[mailbox.http.root].deliver(graph_message(msg), "inbox")

    def file_into(self, mailbox: Mailbox, msg: EmailMessage, folder: str) -> None:
        assert isinstance(mailbox, OutlookMailbox)
        _fake_of[mailbox.http.root].deliver(graph_message(msg), self.FOLDERS[folder])

    def move(self, mailbox: Mailbox, message_id: str, folder: str) -> None:
        assert isinstance(mailbox, OutlookMailbox)
        fake = _fake_of[mailbox.http.root]
        [graph_id] = [k for k, m in fake.messages.items()
                      if m.get("internetMessageId") == message_id]
        fake.file_as_user(graph_id, self.FOLDERS[folder])

    def record_sent(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        assert isinstance(mailbox, OutlookMailbox)
        _fake_of[mailbox.http.root].deliver(graph_message(msg, sent=True), "sentitems")


class TestGraphCalendarContract(CalendarContract):
    supports_lookup = True

    @pytest.fixture
    def calendar(self, account: MicrosoftAccount) -> CalendarSource:
        return account.calendar

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        assert isinstance(calendar, GraphCalendar)
        _fake_of[calendar.http.root].put_event(graph_event(spec))

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        assert isinstance(calendar, GraphCalendar)
        _fake_of[calendar.http.root].remove_event(uid)


_fake_of: dict[str, FakeGraph] = {}


@pytest.fixture(autouse=True)
def _register(fake: FakeGraph) -> Iterator[None]:
    """The contract hooks get the provider object only: find its fake by the Graph root."""
    _fake_of[fake.url.rstrip("/") + "/"] = fake
    yield
    _fake_of.pop(fake.url.rstrip("/") + "/", None)


# -- calendar ---------------------------------------------------------------------
def read(account: MicrosoftAccount, checkpoint: str | None = None,
         window: tuple[datetime, datetime] = WINDOW) -> Any:
    return account.calendar.changes(checkpoint, *window, NY)


def graph_requests(fake: FakeGraph) -> list[Any]:
    return list(fake.api_requests)


def test_pages_are_followed_to_the_delta_link(fake: FakeGraph, account: MicrosoftAccount,
                                              ) -> None:
    fake.page_size = 2
    for n in range(5):
        fake.put_event(graph_event(interview(f"ev-{n}")))
    changes = read(account)
    assert sorted(e.uid for e in changes.events) == [f"ev-{n}" for n in range(5)]
    assert changes.complete
    paths = [r.path for r in graph_requests(fake)]
    assert len(paths) == 3 and all(p.endswith("/calendarView/delta") for p in paths)


def test_times_arrive_in_utc_and_the_view_is_asked_for_that(fake: FakeGraph,
                                                            account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    [event] = read(account).events
    assert event.start == datetime(2026, 11, 10, 19, tzinfo=UTC)
    assert event.start.tzinfo is UTC
    [request] = graph_requests(fake)
    assert 'outlook.timezone="UTC"' in request.headers["prefer"]
    assert request.query["startDateTime"] == ["2026-11-01T00:00:00Z"]
    assert request.query["endDateTime"] == ["2026-12-02T00:00:00Z"]  # widened to whole days


def test_idle_read_is_one_request_with_the_delta_link(fake: FakeGraph,
                                                      account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    first = read(account)
    before = len(graph_requests(fake))
    second = read(account, first.checkpoint)
    assert second.unchanged or (not second.events and not second.removed)
    assert len(graph_requests(fake)) == before + 1
    assert "$deltatoken" in graph_requests(fake)[-1].target


def test_expired_delta_link_reads_the_window_again(fake: FakeGraph,
                                                   account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    first = read(account)
    fake.expire_delta_tokens()
    again = read(account, first.checkpoint)
    assert again.complete and [e.uid for e in again.events] == ["iv-1@acme.example"]
    assert [r.status for r in graph_requests(fake)][-2:] == [410, 200]
    assert again.checkpoint != first.checkpoint
    assert read(account, again.checkpoint).events == ()


def test_resync_required_code_also_reads_again(fake: FakeGraph,
                                               account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    first = read(account)
    fake.expire_delta_tokens("resyncRequired")
    assert read(account, first.checkpoint).complete


def test_removed_event_is_reported_by_id(fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    fake.put_event(graph_event(interview("other", title="Lunch")))
    first = read(account)
    fake.remove_event("iv-1@acme.example")
    second = read(account, first.checkpoint)
    assert not second.complete
    assert second.removed == ("iv-1@acme.example",)
    assert second.events == ()


def test_a_new_window_day_reads_in_full(fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    first = read(account)
    later = (WINDOW[0] + timedelta(days=1), WINDOW[1] + timedelta(days=1))
    moved = read(account, first.checkpoint, later)
    assert moved.complete and [e.uid for e in moved.events] == ["iv-1@acme.example"]
    assert "$deltatoken" not in graph_requests(fake)[-1].target


def test_categories_tag_an_interview(fake: FakeGraph, account: MicrosoftAccount,
                                     tmp_path: Path) -> None:
    spec = interview(title="Catch-up with Acme")
    fake.put_event(graph_event(spec, categories=["Interview", "Blue category"]))
    [event] = read(account).events
    assert event.categories == ("Interview", "Blue category")
    decision = classify(event, config(tmp_path))
    assert decision.is_interview and "Interview" in decision.reason


def test_attendees_rooms_answers_and_the_organizer(fake: FakeGraph,
                                                   account: MicrosoftAccount) -> None:
    spec = interview(
        organizer=Attendee("dana@acme.example", "Dana Recruiter"),
        attendees=(Attendee("sam@acme.example", "Sam Lee", Response.TENTATIVE),
                   Attendee("lee@acme.example", "Lee", Response.NEEDS_ACTION),
                   Attendee("room-4b@acme.example", "Room 4B", is_resource=True)))
    fake.put_event(graph_event(spec, responseStatus={"response": "accepted"}))
    [event] = read(account).events
    people = {a.email: a for a in event.attendees}
    assert people["sam@acme.example"].response is Response.TENTATIVE
    assert people["lee@acme.example"].response is Response.NEEDS_ACTION
    assert people["room-4b@acme.example"].is_resource
    assert event.organizer == Attendee("dana@acme.example", "Dana Recruiter")
    mine = [a for a in event.attendees if a.is_self]
    assert [a.response for a in mine] == [Response.ACCEPTED]


def test_declined_by_the_user_is_excluded(fake: FakeGraph, account: MicrosoftAccount,
                                          tmp_path: Path) -> None:
    spec = interview(attendees=(Attendee("sam@acme.example", "Sam"),
                                Attendee(ME, "Alex Rivera", Response.UNKNOWN)))
    fake.put_event(graph_event(spec, responseStatus={"response": "declined"}))
    [event] = read(account).events
    assert [a.response for a in event.attendees if a.email == ME] == [Response.DECLINED]
    assert classify(event, config(tmp_path)).reason == "excluded: declined"


def test_all_day_event_is_marked_and_excluded(fake: FakeGraph, account: MicrosoftAccount,
                                              tmp_path: Path) -> None:
    fake.put_event(graph_event(interview(), isAllDay=True,
                               start={"dateTime": "2026-11-10T00:00:00", "timeZone": "UTC"},
                               end={"dateTime": "2026-11-11T00:00:00", "timeZone": "UTC"}))
    [event] = read(account).events
    assert event.all_day
    assert classify(event, config(tmp_path)).reason == "excluded: all-day event"


def test_organizer_flag_makes_the_user_the_organizer(fake: FakeGraph,
                                                     account: MicrosoftAccount) -> None:
    spec = interview(organizer=Attendee(ME, "Alex Rivera"),
                     attendees=(Attendee("cand@elsewhere.example", "Candidate"),))
    fake.put_event(graph_event(spec, isOrganizer=True,
                               responseStatus={"response": "organizer"}))
    [event] = read(account).events
    assert event.organizer is not None and event.organizer.is_self


def test_html_description_becomes_lines(fake: FakeGraph, account: MicrosoftAccount) -> None:
    body = ("<html><head><style>p {margin:0}</style></head><body><p>Interviewers: Sam Lee"
            "</p><p>Discussed: the&nbsp;roadmap<br>#interview</p></body></html>")
    fake.put_event(graph_event(interview(), body={"contentType": "html", "content": body}))
    [event] = read(account).events
    assert event.description.splitlines() == ["Interviewers: Sam Lee",
                                              "Discussed: the roadmap", "#interview"]


# -- mail -------------------------------------------------------------------------
def not_before() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


def test_mail_is_one_listing_of_every_folder_with_select(fake: FakeGraph,
                                                         account: MicrosoftAccount) -> None:
    fake.deliver(graph_message(mail(subject="answer")), "inbox")
    batch = account.mailbox.messages_since(None, not_before(), Interest())
    assert [m.subject for m in batch.messages] == ["answer"]
    listings = [r for r in graph_requests(fake) if r.path == "/v1.0/me/messages"]
    assert len(listings) == 1
    [request] = listings
    select = request.query["$select"][0].split(",")
    assert {"from", "replyTo", "conversationId", "internetMessageId", "parentFolderId",
            "lastModifiedDateTime"} <= set(select)
    assert "body" not in select and "bodyPreview" not in select
    assert request.query["$filter"][0].startswith("receivedDateTime ge ")
    others = {r.path for r in graph_requests(fake)} - {"/v1.0/me/messages"}
    assert all(p.startswith("/v1.0/me/mailFolders/") for p in others)  # the folders, once


def test_idle_mail_read_is_one_request(
        fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.deliver(graph_message(mail()), "inbox")
    first = account.mailbox.messages_since(None, not_before())
    before = len(graph_requests(fake))
    again = account.mailbox.messages_since(first.checkpoint, not_before())
    assert again.messages == () and again.checkpoint == first.checkpoint
    [request] = graph_requests(fake)[before:]
    assert request.path == "/v1.0/me/messages"
    assert request.query["$filter"][0].startswith("lastModifiedDateTime ge ")


def test_first_read_is_bounded_by_not_before(fake: FakeGraph, account: MicrosoftAccount) -> None:
    old = graph_message(mail(subject="long ago"))
    old["receivedDateTime"] = _utc(datetime.now(UTC) - timedelta(days=30))
    fake.deliver(old, "inbox")
    fake.deliver(graph_message(mail(subject="today")), "inbox")
    batch = account.mailbox.messages_since(None, not_before())
    assert [m.subject for m in batch.messages] == ["today"]


def test_conversation_is_the_thread_and_the_marker_comes_from_the_property(
        fake: FakeGraph, account: MicrosoftAccount) -> None:
    sent = draft("iv1/thank-you/dana@acme.example")
    message = graph_message(sent, sent=True)
    message["conversationId"] = "conv-42"
    fake.deliver(message, "sentitems")
    [got] = account.mailbox.messages_since(None, not_before()).messages
    assert (got.folder, got.thread_id) == (Folder.SENT, "conv-42")
    assert got.marker == "iv1/thank-you/dana@acme.example"


def test_an_unusable_mail_checkpoint_reads_the_lookback_again(
        fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.deliver(graph_message(mail(subject="one")), "inbox")
    old = json.dumps({"v": 1, "kind": "mail", "inbox": "x", "sent": "y"})  # per-folder deltas
    again = account.mailbox.messages_since(old, not_before())
    assert [m.subject for m in again.messages] == ["one"]  # returned twice: allowed
    assert json.loads(again.checkpoint or "{}")["kind"] == "messages"


# -- drafts -----------------------------------------------------------------------
def test_draft_carries_the_marker_twice_and_a_text_body(fake: FakeGraph,
                                                        account: MicrosoftAccount) -> None:
    marker = "iv1/thank-you/dana@acme.example"
    ref = account.mailbox.create_draft(draft(marker), marker, None)
    stored = fake.drafts[ref.id]
    assert {h["name"].lower(): h["value"] for h in stored["internetMessageHeaders"]}[
        "x-interview-followup"] == marker
    assert {p["id"].lower(): p["value"] for p in stored["singleValueExtendedProperties"]}[
        MARKER_PROPERTY.lower()] == marker
    assert stored["body"]["contentType"].lower() == "text"
    assert stored["body"]["content"] == "Thanks, we will be in touch.\n"
    assert [r["emailAddress"]["address"] for r in stored["toRecipients"]] == [
        "dana@acme.example"]
    assert stored["isDraft"] is True
    assert fake.non_draft_changes == []


def test_status_check_is_a_reply_in_the_thank_yous_conversation(
        fake: FakeGraph, account: MicrosoftAccount) -> None:
    thanks = "iv1/thank-you/dana@acme.example"
    ref = account.mailbox.create_draft(draft(thanks), thanks, None)
    sent_id = fake.send_draft_as_user(ref.id)
    [sent] = [m for m in account.mailbox.messages_since(None, not_before()).messages
              if m.folder is Folder.SENT]
    assert sent.id == sent_id and sent.marker == thanks

    check = "iv1/status-check/dana@acme.example"
    message = draft(check)
    message.replace_header("Subject", "Re: Thank you")
    message.set_content("Any news on the timeline?\n")
    reply = account.mailbox.create_draft(
        message, check, ReplyTo(sent.message_id, (), sent.thread_id, sent.id))
    stored = fake.drafts[reply.id]
    assert stored["conversationId"] == sent.thread_id
    assert stored["body"]["content"] == "Any news on the timeline?\n"
    assert [r["emailAddress"]["address"] for r in stored["toRecipients"]] == [
        "dana@acme.example"]
    assert [(f.id, f.folder) for f in account.mailbox.find_marker(check)] == [
        (reply.id, Folder.DRAFTS)]
    calls = [(r.method, r.path.rsplit("/", 1)[-1]) for r in graph_requests(fake)]
    assert ("POST", "createReply") in calls
    assert "PATCH" not in [method for method, _ in calls]  # made whole in one request
    assert fake.non_draft_changes == []


class QuotingGraph(FakeGraph):
    """A service that keeps the quoted original under the body createReply was given."""

    def _create_reply(self, ctx: Any, mid: str, action: str) -> Any:
        reply = super()._create_reply(ctx, mid, action)
        made = json.loads(reply.body)
        stored = self._messages[made["id"]]
        stored["body"] = {"contentType": "html", "content": "<p>ours</p><hr><p>quoted</p>"}
        made["body"] = {"contentType": "text", "content": "ours\n\nquoted"}
        reply.body = json.dumps(made).encode()
        return reply


def test_a_quoted_reply_body_is_replaced_by_ours(tmp_path: Path) -> None:
    server = QuotingGraph(seed=3, email=ME)
    server.start()
    try:
        opened = open_account(
            AccountConfig("work", "microsoft", {"client_id": "x", "endpoint": server.url}),
            config(tmp_path), retry=Retry(base=0.0, sleep=Sleeps()), tokens=FakeTokens(server))
        sent_id = server.deliver(graph_message(draft("iv1/thank-you/dana@acme.example"),
                                               sent=True), "sentitems")
        check = "iv1/status-check/dana@acme.example"
        ref = opened.mailbox.create_draft(draft(check), check,
                                          ReplyTo("<x@home.example>", (), "", sent_id))
        assert server.drafts[ref.id]["body"] == {"contentType": "text",
                                                 "content": "Thanks, we will be in touch.\n"}
        assert [r.method for r in server.api_requests] == ["POST", "PATCH"]
        opened.close()
    finally:
        server.stop()


def test_reply_to_a_deleted_message_becomes_a_new_message(fake: FakeGraph,
                                                          account: MicrosoftAccount) -> None:
    check = "iv1/status-check/dana@acme.example"
    ref = account.mailbox.create_draft(
        draft(check), check, ReplyTo("<gone@home.example>", (), "conv-x", "no-such-id"))
    stored = fake.drafts[ref.id]
    props = {p["id"]: p["value"] for p in stored["singleValueExtendedProperties"]}
    assert props["String 0x1042"] == "<gone@home.example>"  # In-Reply-To, for threading
    assert len(fake.drafts) == 1


# -- throttling, faults, tokens ---------------------------------------------------
def test_retry_after_is_honoured(fake: FakeGraph, account: MicrosoftAccount,
                                 sleeps: Sleeps) -> None:
    fake.put_event(graph_event(interview()))
    fake.inject("429", at=[0], retry_after=7)
    fake.inject("503", at=[1], retry_after=3)
    assert [e.uid for e in read(account).events] == ["iv-1@acme.example"]
    assert sleeps == [7.0, 3.0]
    assert [r.status for r in graph_requests(fake)] == [429, 503, 200]


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_outages_are_retried(fake: FakeGraph, account: MicrosoftAccount, fault: str) -> None:
    fake.deliver(graph_message(mail(subject="hello")), "inbox")
    fake.inject(fault, at=[0, 1])
    batch = account.mailbox.messages_since(None, not_before())
    assert [m.subject for m in batch.messages] == ["hello"]


def test_retries_are_bounded(fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.inject("503", rate=1.0)
    with pytest.raises(ProviderUnavailable, match="503"):
        read(account)
    assert len(graph_requests(fake)) == Retry().tries


def test_endless_429_ends_as_rate_limited(fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.inject("429", rate=1.0)
    with pytest.raises(RateLimited):
        read(account)
    assert len(graph_requests(fake)) == Retry().tries


def test_long_retry_after_is_left_to_the_next_cycle(fake: FakeGraph, account: MicrosoftAccount,
                                                    sleeps: Sleeps) -> None:
    fake.inject("429", at=[0], retry_after=3600)
    with pytest.raises(RateLimited) as caught:
        read(account)
    assert caught.value.retry_after == 3600 and sleeps == []


def test_lost_create_answer_makes_no_second_draft(fake: FakeGraph,
                                                  account: MicrosoftAccount) -> None:
    marker = "iv1/thank-you/dana@acme.example"
    fake.inject("drop-after", at=[0], paths="/v1.0/me/messages")
    ref = account.mailbox.create_draft(draft(marker), marker, None)
    assert list(fake.drafts) == [ref.id]


def test_lost_create_reply_answer_makes_no_second_reply(fake: FakeGraph,
                                                      account: MicrosoftAccount) -> None:
    sent_id = fake.deliver(graph_message(draft("iv1/thank-you/dana@acme.example"), sent=True),
                           "sentitems")
    check = "iv1/status-check/dana@acme.example"
    fake.inject("drop-after", at=[0], paths="/createReply")
    ref = account.mailbox.create_draft(draft(check), check,
                                       ReplyTo("<x@home.example>", (), "", sent_id))
    assert list(fake.drafts) == [ref.id]
    assert fake.drafts[ref.id]["conversationId"] == fake.messages[sent_id]["conversationId"]


def test_a_failed_folder_read_records_nothing(fake: FakeGraph,
                                              account: MicrosoftAccount) -> None:
    first = account.mailbox.messages_since(None, not_before())
    fake.deliver(graph_message(mail(subject="news")), "inbox")
    fake.inject("503", rate=1.0, paths="/mailFolders/")
    with pytest.raises(ProviderUnavailable):
        account.mailbox.messages_since(first.checkpoint, not_before())
    fake.clear_faults()
    again = account.mailbox.messages_since(first.checkpoint, not_before())
    assert [m.subject for m in again.messages] == ["news"]


def test_a_failed_page_records_nothing(fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.page_size = 1
    fake.put_event(graph_event(interview()))
    first = read(account)
    for n in range(3):
        fake.put_event(graph_event(interview(f"new-{n}")))
    fake.inject("500", at=[1, 2, 3, 4, 5])  # the second page of the round, every try
    with pytest.raises(ProviderUnavailable):
        read(account, first.checkpoint)
    again = read(account, first.checkpoint)
    assert sorted(e.uid for e in again.events) == ["new-0", "new-1", "new-2"]


def test_a_failed_draft_write_leaves_nothing(fake: FakeGraph, account: MicrosoftAccount) -> None:
    marker = "iv1/thank-you/dana@acme.example"
    fake.inject("503", rate=1.0, paths="/v1.0/me/messages")
    with pytest.raises(ProviderUnavailable):
        account.mailbox.create_draft(draft(marker), marker, None)
    assert fake.drafts == {}


def test_rejected_token_is_refreshed_once(fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    fake.expire_access_tokens()
    assert len(read(account).events) == 1
    assert isinstance(account.http, GraphHttp)
    tokens = account.http.tokens
    assert isinstance(tokens, FakeTokens) and tokens.forced == 1


def test_token_rejected_twice_pauses_the_account(fake: FakeGraph, tmp_path: Path) -> None:
    class Stale(FakeTokens):
        def access_token(self, *, force_refresh: bool = False) -> str:
            return self.token  # cannot get a better one

    opened = open_account(
        AccountConfig("work", "microsoft", {"client_id": "x", "endpoint": fake.url}),
        config(tmp_path), retry=Retry(base=0.0, sleep=Sleeps()), tokens=Stale(fake))
    fake.expire_access_tokens()
    with pytest.raises(AuthExpired, match="followup auth work"):
        read(opened)
    opened.close()


def test_at_most_four_requests_in_flight(fake: FakeGraph, tmp_path: Path) -> None:
    fake.latency = 0.2
    fake.concurrency_limit = 4  # a fifth concurrent request would get 429 ApplicationThrottled
    http = GraphHttp("work", fake.url, FakeTokens(fake), retry=Retry(tries=1))
    results: list[dict[str, Any]] = []
    errors: list[Exception] = []

    def call() -> None:
        try:
            results.append(http.request("me", "GET", http.url("me")))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    http.close()
    assert errors == [] and len(results) == 10
    assert 1 < fake.max_concurrency_seen <= 4


def test_links_to_other_hosts_are_not_followed(fake: FakeGraph) -> None:
    http = GraphHttp("work", fake.url, FakeTokens(fake))
    with pytest.raises(ProviderUnavailable, match="another host"):
        next(http.pages("list", "https://evil.example/v1.0/me/messages"))
    assert graph_requests(fake) == []


# -- configuration -------------------------------------------------------------------
def test_config_accepts_the_microsoft_keys(tmp_path: Path) -> None:
    parsed = parse_config(
        '[me]\nname = "A"\nemail = "a@b.example"\n[[accounts]]\nname = "work"\n'
        'provider = "microsoft"\nclient_id = "id"\ntenant = "organizations"\n'
        'cloud = "usgov"\n', tmp_path / "c.toml")
    assert parsed.accounts[0].options == {"client_id": "id", "tenant": "organizations",
                                          "cloud": "usgov"}
    with pytest.raises(ConfigError, match="client_id"):
        parse_config('[me]\nname = "A"\nemail = "a@b.example"\n[[accounts]]\nname = "w"\n'
                     'provider = "microsoft"\n', tmp_path / "c.toml")


def test_unknown_cloud_is_a_config_error(tmp_path: Path) -> None:
    entry = AccountConfig("work", "microsoft", {"client_id": "id", "cloud": "mars"})
    with pytest.raises(ConfigError, match=r"accounts\.work\.cloud: unknown cloud 'mars'"):
        open_account_(entry, config(tmp_path))


def test_cloud_sets_the_graph_root(tmp_path: Path) -> None:
    entry = AccountConfig("work", "microsoft", {"client_id": "id", "cloud": "china"})
    opened = open_account_(entry, config(tmp_path))
    assert isinstance(opened, MicrosoftAccount) and opened.http is not None
    assert opened.http.root == "https://microsoftgraph.chinacloudapi.cn/"
    opened.close()
    override = replace(entry, options={**entry.options, "endpoint": "http://127.0.0.1:8/x"})
    opened = open_account_(override, config(tmp_path))
    assert isinstance(opened, MicrosoftAccount) and opened.http is not None
    assert opened.http.url("me") == "http://127.0.0.1:8/x/v1.0/me"
    opened.close()
