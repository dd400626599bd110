"""Answers as they really arrive in Outlook, and events postponed out of view (issue 8).

The "microsoft" provider against the fake Graph server over real HTTP: every folder but
Drafts, Deleted Items, Junk Email and Outbox (and the folders below them), an answer
archived or filed by a rule before the next cycle, bodies for candidates only (counted in
the fake's request log), the one bounded search before a status check, and
``GET /me/events/{id}`` for an event the calendar delta reported removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from interview_followup.daemon.config import AccountConfig
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import Folder, Interest, MailMessage
from interview_followup.providers.microsoft.account import MicrosoftAccount, open_account
from interview_followup.providers.microsoft.mailbox import SEARCH_LIMIT, OutlookMailbox
from tests.contract import NY, WINDOW, interview, mail
from tests.fakes.graph_server import FakeGraph
from tests.test_microsoft_provider import (
    FakeTokens,
    Sleeps,
    _utc,
    config,
    graph_event,
    graph_message,
    read,
)

ACME = Interest(domains=frozenset({"acme.example"}))


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph(seed=11, email="alex@home.example")
    server.start()
    yield server
    server.stop()
    assert server.errors == []
    assert server.send_attempts == []
    assert server.non_draft_changes == []  # the user's messages are never changed (rule 10)


@pytest.fixture
def account(fake: FakeGraph, tmp_path: Path) -> Iterator[MicrosoftAccount]:
    opened = open_account(
        AccountConfig("work", "microsoft", {"client_id": fake.client_id, "endpoint": fake.url}),
        config(tmp_path), retry=Retry(base=0.0, sleep=Sleeps()), tokens=FakeTokens(fake))
    yield opened
    opened.close()


@pytest.fixture
def mailbox(account: MicrosoftAccount) -> OutlookMailbox:
    assert isinstance(account.mailbox, OutlookMailbox)
    return account.mailbox


def not_before() -> datetime:
    return datetime.now(UTC) - timedelta(days=16)


def answer(subject: str = "Re: Thank you", sender: str = "Dana Recruiter <dana@acme.example>",
           body: str = "Thanks Alex, we will be in touch next week.",
           **headers: str) -> dict[str, Any]:
    msg: EmailMessage = mail(sender=sender, subject=subject, **headers)
    msg.set_content(body)
    return graph_message(msg)


def requests_since(fake: FakeGraph, before: int) -> list[str]:
    return [r.path for r in fake.api_requests[before:]]


def bodies(fake: FakeGraph, before: int = 0) -> list[str]:
    """Ids of the messages whose body was asked for."""
    return [unquote(r.path.rsplit("/", 1)[-1]) for r in fake.api_requests[before:]
            if r.path.startswith("/v1.0/me/messages/")
            and r.query.get("$select") == ["body"]]


def by_subject(messages: tuple[MailMessage, ...] | list[MailMessage]) -> dict[str, MailMessage]:
    return {m.subject: m for m in messages}


# -- every folder of rule 6 ------------------------------------------------------------
def test_answer_archived_before_the_next_cycle_comes_from_the_archive(
        fake: FakeGraph, mailbox: OutlookMailbox) -> None:
    first = mailbox.messages_since(None, not_before(), ACME)
    mid = fake.deliver(answer(), "inbox")
    fake.file_as_user(mid, "archive")
    second = mailbox.messages_since(first.checkpoint, not_before(), ACME)
    [got] = second.messages
    assert (got.id, got.folder, got.folder_name) == (mid, Folder.OTHER, "Archive")
    assert got.excerpt.startswith("Thanks Alex")


def test_answer_filed_by_a_rule_into_the_users_folders(fake: FakeGraph,
                                                       mailbox: OutlookMailbox) -> None:
    jobs = fake.add_folder("Jobs")
    acme = fake.add_folder("Acme", parent="inbox")
    first = mailbox.messages_since(None, not_before())
    fake.deliver(answer("Next steps"), jobs)
    fake.deliver(answer("Offer"), acme)
    fake.deliver(answer("Hello"), "inbox")
    second = mailbox.messages_since(first.checkpoint, not_before(), ACME)
    got = {m.subject: (m.folder, m.folder_name) for m in second.messages}
    assert got == {"Next steps": (Folder.OTHER, "Jobs"),
                   "Offer": (Folder.OTHER, "Inbox/Acme"),
                   "Hello": (Folder.INBOX, "Inbox")}


def test_drafts_deleted_junk_outbox_and_their_subfolders_are_never_read(
        fake: FakeGraph, mailbox: OutlookMailbox) -> None:
    first = mailbox.messages_since(None, not_before())
    old_folder = fake.add_folder("Old projects", parent="deleteditems")
    for folder in ("drafts", "deleteditems", "junkemail", "outbox", old_folder):
        fake.deliver(answer(f"in {folder}"), folder)
    binned = fake.deliver(answer("binned"), "inbox")
    fake.file_as_user(binned, "deleteditems")
    second = mailbox.messages_since(first.checkpoint, not_before(), ACME)
    assert second.messages == ()
    assert bodies(fake) == []


def test_a_message_taken_back_from_junk_is_read(fake: FakeGraph,
                                                mailbox: OutlookMailbox) -> None:
    mid = fake.deliver(answer("was junk"), "junkemail")
    first = mailbox.messages_since(None, not_before())
    assert first.messages == ()
    fake.file_as_user(mid, "inbox")  # "Not junk"
    second = mailbox.messages_since(first.checkpoint, not_before())
    assert [(m.subject, m.folder) for m in second.messages] == [("was junk", Folder.INBOX)]


def test_folders_are_looked_up_once(fake: FakeGraph, mailbox: OutlookMailbox,
                                    account: MicrosoftAccount, tmp_path: Path) -> None:
    jobs = fake.add_folder("Jobs")
    fake.deliver(answer("one"), jobs)
    first = mailbox.messages_since(None, not_before())
    folder_gets = [p for p in requests_since(fake, 0) if "/mailFolders/" in p]
    assert len(folder_gets) == 8  # 7 well-known folders and Jobs
    fake.deliver(answer("two"), jobs)
    before = len(fake.api_requests)
    second = mailbox.messages_since(first.checkpoint, not_before())
    assert [m.folder_name for m in second.messages] == ["Jobs"]
    assert requests_since(fake, before) == ["/v1.0/me/messages"]
    # Another process (run --once) with the checkpoint knows the well-known folders.
    other = open_account(
        AccountConfig("work", "microsoft", {"client_id": fake.client_id, "endpoint": fake.url}),
        config(tmp_path), retry=Retry(base=0.0, sleep=Sleeps()), tokens=FakeTokens(fake))
    fake.deliver(answer("three"), "archive")
    before = len(fake.api_requests)
    third = other.mailbox.messages_since(second.checkpoint, not_before())
    other.close()
    assert [m.folder_name for m in third.messages] == ["Archive"]
    assert requests_since(fake, before) == ["/v1.0/me/messages",
                                            f"/v1.0/me/mailFolders/{fake.folder_id('archive')}"]


def test_an_idle_cycle_is_one_mail_request_and_one_calendar_request(
        fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    fake.deliver(answer(), "inbox")
    mail_first = account.mailbox.messages_since(None, not_before(), ACME)
    calendar = read(account)
    before = len(fake.api_requests)
    for _ in range(3):
        again = account.mailbox.messages_since(mail_first.checkpoint, not_before(), ACME)
        assert again.messages == () and again.checkpoint == mail_first.checkpoint
        calendar = read(account, calendar.checkpoint)
        assert calendar.events == () and calendar.removed == ()
    assert len(fake.api_requests) - before == 3 * 2


def test_a_message_changed_within_the_overlap_comes_again_only_when_moved(
        fake: FakeGraph, mailbox: OutlookMailbox) -> None:
    mid = fake.deliver(answer(), "inbox")
    first = mailbox.messages_since(None, not_before())
    second = mailbox.messages_since(first.checkpoint, not_before())
    assert second.messages == ()  # the overlap is read again, but nothing comes twice
    fake.file_as_user(mid, "archive")  # a minute later, well inside the overlap
    third = mailbox.messages_since(second.checkpoint, not_before())
    assert [(m.id, m.folder) for m in third.messages] == [(mid, Folder.OTHER)]
    state = json.loads(third.checkpoint or "{}")
    assert state["kind"] == "messages" and len(state["seen"]) == 1
    fake.read_as_user(mid)  # opened in Outlook: no news, and no body asked again
    before = len(fake.api_requests)
    fourth = mailbox.messages_since(third.checkpoint, not_before(), ACME)
    assert fourth.messages == () and requests_since(fake, before) == ["/v1.0/me/messages"]


# -- bodies for candidates only ---------------------------------------------------------
def test_candidates_get_an_excerpt_and_no_body_request_for_the_others(
        fake: FakeGraph, mailbox: OutlookMailbox) -> None:
    first = mailbox.messages_since(None, not_before(), ACME)
    ats = answer("Your application", sender="Acme Corp <no-reply@us.greenhouse-mail.io>",
                 Reply_To="Dana <dana@careers.acme.example>")
    ats["body"] = {"contentType": "html", "content": "<html><body><p>Thank you for your "
                   "interest in <b>Acme Corp</b>.</p><p>We have decided to move forward with "
                   "other candidates.</p></body></html>"}
    ats_id = fake.deliver(ats, "inbox")
    news_id = fake.deliver(answer("Weekly digest", sender="news@letters.example",
                                  List_Unsubscribe="<mailto:u@letters.example>"), "inbox")
    batch = mailbox.messages_since(first.checkpoint, not_before(), ACME)
    got = by_subject(batch.messages)
    application = got["Your application"]
    assert "move forward with other candidates" in application.excerpt
    assert "<p>" not in application.excerpt
    assert [a.email for a in application.reply_to] == ["dana@careers.acme.example"]
    assert application.content_type.startswith("text/plain")
    assert got["Weekly digest"].excerpt == ""
    assert got["Weekly digest"].headers.get("list-unsubscribe") == "<mailto:u@letters.example>"
    assert bodies(fake) == [ats_id] and news_id not in bodies(fake)
    [asked] = [r for r in fake.api_requests if r.query.get("$select") == ["body"]]
    assert 'outlook.body-content-type="text"' in asked.headers.get("prefer", "")


def test_without_an_interest_bodies_come_in_the_listing(fake: FakeGraph,
                                                        mailbox: OutlookMailbox) -> None:
    fake.deliver(answer("one"), "inbox")
    fake.deliver(answer("two", sender="news@letters.example"), "archive")
    batch = mailbox.messages_since(None, not_before())
    assert all(m.excerpt for m in batch.messages) and len(batch.messages) == 2
    assert bodies(fake) == []


# -- the final search (rule 7) ---------------------------------------------------------
def test_search_finds_an_archived_answer_after_since_and_not_one_before(
        fake: FakeGraph, mailbox: OutlookMailbox) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=3)
    old = answer("Scheduling your interview")
    old["receivedDateTime"] = old["sentDateTime"] = _utc(now - timedelta(days=5))
    fake.deliver(old, "archive")
    late_id = fake.deliver(answer(), "inbox")
    fake.file_as_user(late_id, "archive")
    fake.deliver(answer("junk from them"), "junkemail")
    fake.deliver(answer("deleted"), "deleteditems")
    fake.deliver(answer("not them", sender="pat@globex.example"), "inbox")
    found = mailbox.search_answers(since, ACME)
    assert [(m.id, m.folder, m.folder_name) for m in found] == [
        (late_id, Folder.OTHER, "Archive")]
    assert found[0].excerpt.startswith("Thanks Alex")
    [search] = [r for r in fake.api_requests if "$search" in r.query]
    assert search.query["$search"] == ['"participants:acme.example"']
    assert search.query["$top"] == [str(SEARCH_LIMIT)]
    assert "$filter" not in search.query and "$orderby" not in search.query


def test_search_reads_threads_and_addresses(fake: FakeGraph, mailbox: OutlookMailbox) -> None:
    thread_reply = answer("Re: Thank you", sender="Sam <sam.lee@gmail.com>")
    thread_reply["conversationId"] = "conv-7"
    in_thread = fake.deliver(thread_reply, "inbox")
    sent = graph_message(mail(sender="Alex Rivera <alex@home.example>",
                              to="jo.freelance@gmail.com", subject="Portfolio"), sent=True)
    sent_id = fake.deliver(sent, "sentitems")
    found = mailbox.search_answers(
        datetime.now(UTC) - timedelta(days=1),
        Interest(addresses=frozenset({"jo.freelance@gmail.com"}),
                 threads=frozenset({"conv-7"})))
    assert {(m.id, m.folder) for m in found} == {(in_thread, Folder.INBOX),
                                                 (sent_id, Folder.SENT)}
    [threads] = [r for r in fake.api_requests if "conversationId" in r.query.get("$filter",
                                                                                 [""])[0]]
    assert threads.query["$filter"] == ["conversationId eq 'conv-7'"]


def test_search_with_nobody_to_look_for_asks_nothing(fake: FakeGraph,
                                                     mailbox: OutlookMailbox) -> None:
    assert mailbox.search_answers(datetime.now(UTC) - timedelta(days=1), Interest()) == []
    assert fake.api_requests == []


# -- events postponed out of view (rule 8) ----------------------------------------------
def test_an_event_postponed_beyond_the_window_is_removed_by_the_delta_and_found_by_id(
        fake: FakeGraph, account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview()))
    fake.put_event(graph_event(interview("gone@acme.example", title="Lunch")))
    first = read(account)
    later = datetime(2027, 1, 20, 10, 0, tzinfo=NY)
    assert later > WINDOW[1]
    fake.put_event(graph_event(interview(start=later, end=later + timedelta(hours=1))))
    fake.remove_event("gone@acme.example")
    second = read(account, first.checkpoint)
    assert set(second.removed) == {"iv-1@acme.example", "gone@acme.example"}  # alike
    moved = account.calendar.lookup("iv-1@acme.example", NY)
    assert moved is not None and moved.start == later and not moved.cancelled
    assert account.calendar.lookup("gone@acme.example", NY) is None
    [get] = [r for r in fake.api_requests
             if unquote(r.path) == "/v1.0/me/events/iv-1@acme.example"]
    assert 'outlook.timezone="UTC"' in get.headers.get("prefer", "")


def test_lookup_of_a_cancelled_event_is_none(fake: FakeGraph,
                                             account: MicrosoftAccount) -> None:
    fake.put_event(graph_event(interview(cancelled=True)))
    assert account.calendar.lookup("iv-1@acme.example", NY) is None
