"""The numbered product rules, one clause per test, through the real engine.

Every test runs the engine over a real SQLite state with the in-memory
calendar and mailbox of tests/memory.py, moving a manual clock. The clock
starts on Monday 2 March 2026, 10:00 in New York (the user's zone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from interview_followup.daemon.engine import Engine
from interview_followup.daemon.lifecycle import STATUS_CHECK, THANK_YOU
from interview_followup.daemon.mime import MARKER_HEADER
from interview_followup.daemon.state import Store
from interview_followup.providers.base import Address, Attendee, Folder, MailMessage, Response
from tests.memory import (
    ACCOUNT,
    ME,
    Crash,
    StoredDraft,
    World,
    inbound,
    interview_event,
    person,
)

NY = ZoneInfo("America/New_York")
JANE = person("jane.doe@acme.com", "Jane Doe")
SAM = person("sam.lee@acme.com", "Sam Lee")
PRIYA = person("priya.shah@acme.com", "Priya Shah")  # the recruiter
HOUR, DAY, MINUTE = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
ENGINE_CALLS = {"messages_since", "search_answers", "create_draft", "find_marker"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "world")
    yield w
    w.close()


def make_world(tmp_path: Path, **kw: object) -> World:
    return World(tmp_path / "other", **kw)  # type: ignore[arg-type]


def add(world: World, start: timedelta, uid: str = "iv1", *, minutes: int = 60,
        interviewers: tuple[Attendee, ...] = (JANE, SAM), **kw: object) -> str:
    """An interview starting ``start`` from now; returns its interview id."""
    event = interview_event(uid, world.clock.now + start, minutes=minutes,
                            interviewers=interviewers, **kw)  # type: ignore[arg-type]
    world.calendar.put(event)
    return world.iid(uid)


def ended(world: World, ago: timedelta = HOUR, uid: str = "iv1", **kw: object) -> str:
    """An interview of an hour that ended ``ago`` before now."""
    return add(world, -ago - HOUR, uid, **kw)  # type: ignore[arg-type]


def drafts(world: World, kind: str | None = None, iid: str | None = None) -> list[StoredDraft]:
    return world.mailbox.stored(kind, iid)


def to(draft: StoredDraft) -> list[str]:
    return [a.email for a in draft.header.to]


def reply(world: World, sender: str = "jane.doe@acme.com", **kw: object) -> MailMessage:
    return inbound(sender, date=world.clock.now, **kw)  # type: ignore[arg-type]


def close_by_hand(world: World, iid: str, how: str) -> None:
    """What `followup skip|done ID` does: its own connection to the same state."""
    store = Store.open(world.config.daemon.state_dir)
    try:
        iv = store.interview(iid)
        assert iv is not None
        iv.closed, iv.closed_reason = how, "by hand"
        with store.transaction() as conn:
            store.save_interview(conn, iv)
    finally:
        store.close()


def thank_you_then_week(world: World, deliver: MailMessage | None = None) -> str:
    """Thank-you notes now; ``deliver`` a day later; then the status check's due time."""
    iid = ended(world)
    world.cycle()
    assert len(drafts(world, THANK_YOU)) == 2
    world.advance(DAY)
    if deliver is not None:
        world.mailbox.deliver(replace(deliver, date=world.clock.now))
    world.cycle()
    world.advance(7 * DAY)  # Tuesday 10:00 in New York: working hours
    world.cycle()
    return iid


def replace_date(msg: MailMessage, when: datetime) -> MailMessage:
    return replace(msg, date=when)


# -- rules 1 and 2: which events are interviews ----------------------------------------


@pytest.mark.parametrize(
    ("title", "description", "is_interview"),
    [
        ("Phone screen with Acme", "", True),
        ("Acme / Alex", "Agenda #interview", True),
        ("Acme sync", "", False),  # not tagged
        ("Mock interview with Acme alumni", "", False),  # ignore rule
        ("Interview: Acme", "#nofollowup", False),
    ],
)
def test_rule_1_2_only_tagged_events_are_interviews(
    world: World, title: str, description: str, is_interview: bool
) -> None:
    ended(world, title=title, description=description)
    world.cycle()
    assert bool(drafts(world)) is is_interview


@pytest.mark.parametrize(
    "change",
    [
        {"all_day": True},
        {"cancelled": True},
        {"attendees": (Attendee(ME, "Alex", Response.DECLINED, is_self=True), JANE)},
        # A colleague at the user's own domain organized it: the user is hiring.
        {"organizer": person("boss@example.org", "Boss")},
    ],
    ids=["all-day", "cancelled", "declined", "hiring-side"],
)
def test_rule_2_exclusions_get_no_drafts(world: World, change: dict[str, object]) -> None:
    event = interview_event("iv1", world.clock.now - 2 * HOUR, interviewers=(JANE,))
    world.calendar.put(replace(event, **change))  # type: ignore[arg-type]
    world.cycle()
    world.advance(8 * DAY)
    world.cycle()
    assert drafts(world) == []
    assert world.store.interviews() == []


# -- rule 3: who gets a note ---------------------------------------------------------


def test_rule_3_one_personal_draft_per_interviewer(world: World) -> None:
    iid = ended(world)
    world.cycle()
    notes = drafts(world, THANK_YOU)
    assert sorted(to(d) for d in notes) == [["jane.doe@acme.com"], ["sam.lee@acme.com"]]
    bodies = {to(d)[0]: d.message.get_content() for d in notes}
    assert "Dear Jane," in bodies["jane.doe@acme.com"]
    assert "Dear Sam," in bodies["sam.lee@acme.com"]
    assert {d.marker for d in notes} == {f"{iid}/thank_you/jane.doe@acme.com",
                                         f"{iid}/thank_you/sam.lee@acme.com"}


def test_rule_3_one_shared_draft_when_configured(tmp_path: Path) -> None:
    w = make_world(tmp_path, extra_config="[drafts]\none_per_interviewer = false\n")
    try:
        iid = ended(w)
        w.cycle()
        (note,) = drafts(w, THANK_YOU)
        assert sorted(to(note)) == ["jane.doe@acme.com", "sam.lee@acme.com"]
        assert note.marker == f"{iid}/thank_you/all"
        greeting = note.message.get_content().splitlines()[0]
        assert greeting.startswith("Dear ") and "Jane" in greeting and "Sam" in greeting
    finally:
        w.close()


def test_rule_3_rooms_declined_and_automated_attendees_get_none(world: World) -> None:
    ended(world, interviewers=(
        JANE,
        person("room-4a@resource.calendar.google.com", "Room 4A", is_resource=True),
        person("kim.park@acme.com", "Kim Park", Response.DECLINED),
        person("no-reply@acme.com", "Acme Recruiting"),
        person("fred@fireflies.ai", "Fireflies.ai Notetaker"),
        Attendee("everyone@acme.com", "All staff", Response.ACCEPTED, is_group=True),
    ))
    world.cycle()
    assert [to(d) for d in drafts(world, THANK_YOU)] == [["jane.doe@acme.com"]]


def test_rule_3_the_organizer_when_no_attendee_remains(world: World) -> None:
    ended(world, interviewers=(), organizer=PRIYA)
    world.cycle()
    assert [to(d) for d in drafts(world, THANK_YOU)] == [["priya.shah@acme.com"]]


def test_rule_3_no_interviewer_one_draft_with_empty_to_greeting_the_named_one(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    iid = ended(world, interviewers=(), description="Interviewers: Dana Scully")
    with caplog.at_level(logging.WARNING):
        world.cycle()
    (note,) = drafts(world, THANK_YOU)
    assert note.message["To"] is None and to(note) == []
    assert note.marker == f"{iid}/thank_you/nobody"
    assert "Dear Dana," in note.message.get_content()
    assert "empty To" in caplog.text


def test_rule_3_no_interviewer_and_no_name_leaves_a_placeholder(world: World) -> None:
    ended(world, interviewers=())
    world.cycle()
    (note,) = drafts(world, THANK_YOU)
    assert "Dear [interviewer's name]," in note.message.get_content()


def test_rule_3_names_from_the_description_greet_bare_addresses(world: World) -> None:
    ended(world, interviewers=(person("jdoe@acme.com"),), description="Interviewers: Jane Doe")
    world.cycle()
    (note,) = drafts(world, THANK_YOU)
    assert "Dear Jane," in note.message.get_content()


def test_rule_3_the_attendee_snapshot_survives_edits_and_deletion(world: World) -> None:
    iid = ended(world, ago=timedelta(minutes=10))
    world.cycle()  # detected: the snapshot is taken
    event = world.calendar.events["iv1"]
    world.calendar.put(replace(event, attendees=event.attendees[:1]))  # interviewers removed
    world.cycle()
    world.calendar.delete("iv1")  # a scheduling tool tidies up after the interview
    world.advance(HOUR)
    world.cycle()
    assert sorted(to(d)[0] for d in drafts(world, THANK_YOU, iid)) == [
        "jane.doe@acme.com", "sam.lee@acme.com"]


# -- rule 4: thank-you timing --------------------------------------------------------


def test_rule_4_thank_you_due_exactly_thank_you_after_the_end(world: World) -> None:
    add(world, -HOUR)  # ends now
    report = world.cycle()
    assert drafts(world) == []
    assert report.next_due == world.clock.now + HOUR
    world.advance(HOUR - timedelta(minutes=1))
    world.cycle()
    assert drafts(world) == []
    world.advance(timedelta(minutes=1))
    world.cycle()
    assert len(drafts(world, THANK_YOU)) == 2
    assert all(d.created == world.clock.now for d in drafts(world))


@pytest.mark.parametrize(("ago", "written"), [(timedelta(hours=47, minutes=59), True),
                                              (timedelta(hours=48, minutes=1), False)])
def test_rule_4_thank_you_window(world: World, ago: timedelta, written: bool) -> None:
    iid = ended(world, ago=ago)
    world.cycle()
    assert bool(drafts(world, THANK_YOU)) is written
    iv = world.store.interview(iid)
    assert iv is not None and iv.missed is not written


def test_rule_4_missed_thank_you_still_gets_the_status_check(world: World) -> None:
    iid = ended(world, ago=3 * DAY, organizer=PRIYA)  # ended Friday 10:00 in New York
    world.cycle()
    assert drafts(world) == []
    world.advance(4 * DAY - timedelta(minutes=1))  # a minute before end + 7 days
    world.cycle()
    assert drafts(world) == []
    world.advance(timedelta(minutes=1))
    world.cycle()
    (check,) = drafts(world)
    assert check.kind == STATUS_CHECK and check.interview_id == iid
    assert to(check) == ["priya.shah@acme.com"]


# -- rule 5: at most once --------------------------------------------------------------


def test_rule_5_every_draft_carries_its_marker_header(world: World) -> None:
    iid = ended(world)
    world.cycle()
    world.advance(8 * DAY)
    world.cycle()
    assert len(drafts(world)) == 3
    for d in drafts(world):
        assert d.message[MARKER_HEADER] == d.marker
        assert d.marker.startswith(f"{iid}/{d.kind}/")
        row = world.store.draft(d.marker)
        assert row is not None and row.state == "created" and row.draft_id == d.ref.id


def test_rule_5_reruns_and_restarts_write_nothing_again(world: World) -> None:
    ended(world)
    world.cycle()
    world.cycle()
    world.restart()
    world.cycle()
    world.advance(HOUR)
    world.cycle()
    assert len(drafts(world)) == 2


def test_rule_5_a_deleted_draft_is_not_recreated(world: World) -> None:
    ended(world)
    world.cycle()
    for d in list(world.mailbox.drafts):
        world.mailbox.delete_draft(d.id)
    world.cycle()
    world.restart()
    world.advance(HOUR)
    world.cycle()
    assert world.mailbox.drafts == []
    assert len(drafts(world)) == 2


def test_rule_5_crash_after_create_before_record_leaves_one_draft(world: World) -> None:
    iid = ended(world, interviewers=(JANE,))
    world.mailbox.crash_after_store = True
    with pytest.raises(Crash):
        world.cycle()
    marker = f"{iid}/thank_you/jane.doe@acme.com"
    row = world.store.draft(marker)
    assert row is not None and row.state == "claimed"  # recorded before the API call
    world.restart()
    report = world.cycle()
    world.cycle()
    assert [d.marker for d in drafts(world)] == [marker]
    assert report.created == []  # found in the mailbox, not written again
    row = world.store.draft(marker)
    assert row is not None and row.state == "created" and row.draft_id == drafts(world)[0].ref.id


def test_rule_5_crash_before_the_draft_was_stored_writes_it_after_restart(world: World) -> None:
    iid = ended(world, interviewers=(JANE,))
    world.mailbox.crash_before_store = True
    with pytest.raises(Crash):
        world.cycle()
    assert drafts(world) == []
    world.restart()
    world.cycle()
    world.cycle()
    assert [d.marker for d in drafts(world)] == [f"{iid}/thank_you/jane.doe@acme.com"]


def test_rule_5_a_claim_left_by_a_crash_is_not_written_after_the_window(world: World) -> None:
    ended(world, interviewers=(JANE,))
    world.mailbox.crash_before_store = True
    with pytest.raises(Crash):
        world.cycle()
    world.restart()
    world.advance(3 * DAY)  # the machine stayed off past the thank-you window
    world.cycle()
    assert drafts(world, THANK_YOU) == []


def test_rule_5_a_status_check_claim_left_by_a_crash_respects_an_answer(world: World) -> None:
    ended(world, interviewers=(JANE,))
    world.cycle()
    world.advance(8 * DAY)
    world.mailbox.crash_before_store = True
    with pytest.raises(Crash):
        world.cycle()
    world.restart()
    world.advance(HOUR)
    world.mailbox.deliver(reply(world))  # Jane answers while the daemon is down
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []


def test_rule_5_crash_mid_batch_writes_each_marker_once(world: World) -> None:
    ended(world, interviewers=(JANE, SAM, person("maria.garcia@acme.com", "Maria Garcia")))
    world.mailbox.crash_after_store = True  # the first of three is stored, then death
    with pytest.raises(Crash):
        world.cycle()
    world.restart()
    world.cycle()
    markers = [d.marker for d in drafts(world)]
    assert len(markers) == 3 == len(set(markers))


# -- rule 6: what counts as an answer --------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "subject", "headers", "answers"),
    [
        ("jane.doe@acme.com", "Re: Thank you", {}, True),
        ("tom.becker@acme.com", "Next steps", {}, True),  # a colleague at the company
        ("jane.doe@acme.com", "Re: Thank you", {"Auto-Submitted": "auto-replied"}, False),
        ("jane.doe@acme.com", "Re: Thank you", {"X-Autoreply": "yes"}, False),
        ("jane.doe@acme.com", "Out of office: Re: Thank you", {}, False),
        ("jane.doe@acme.com", "Automatic reply: Thank you", {}, False),
        ("pat.stranger@gmail.com", "Re: Thank you", {}, False),
        (ME, "Re: Thank you", {}, False),  # the user's own address
    ],
    ids=["interviewer", "colleague", "auto-submitted", "x-autoreply", "out-of-office",
         "automatic-reply", "freemail-stranger", "self"],
)
def test_rule_6_what_answers_an_interview(
    world: World, sender: str, subject: str, headers: dict[str, str], answers: bool
) -> None:
    msg = inbound(sender, subject, date=world.clock.now, headers=headers)
    iid = thank_you_then_week(world, msg)
    assert bool(drafts(world, STATUS_CHECK)) is not answers
    iv = world.store.interview(iid)
    assert iv is not None and (iv.answered_at is not None) is answers


def test_rule_6_a_reply_in_the_thank_you_thread_counts(world: World) -> None:
    iid = ended(world, interviewers=(JANE,))
    world.cycle()
    sent = world.mailbox.send_draft(world.mailbox.drafts[0].id)
    world.advance(DAY)
    # From a personal address, so only the thread ties it to the interview.
    world.mailbox.deliver(reply(world, "jane.personal@gmail.com", thread_id=sent.thread_id))
    world.advance(8 * DAY)
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []
    iv = world.store.interview(iid)
    assert iv is not None and iv.answered_at is not None


def test_rule_6_a_reply_to_the_thank_you_message_id_counts(world: World) -> None:
    ended(world, interviewers=(JANE,))
    world.cycle()
    sent = world.mailbox.send_draft(world.mailbox.drafts[0].id, keep_marker=False)
    world.cycle()
    world.advance(DAY)
    world.mailbox.deliver(reply(world, "jane.personal@gmail.com", in_reply_to=sent.message_id))
    world.advance(8 * DAY)
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []


def test_rule_6_a_later_interview_with_the_company_counts(world: World) -> None:
    first = ended(world)
    world.cycle()
    world.advance(DAY)
    second = add(world, 3 * DAY, "iv2", interviewers=(person("maria.garcia@acme.com"),))
    world.cycle()
    world.advance(7 * DAY)
    world.cycle()
    assert drafts(world, STATUS_CHECK, first) == []
    iv = world.store.interview(first)
    assert iv is not None and iv.answered_by is not None and second in iv.answered_by


def test_rule_6_mail_before_the_interview_started_does_not_count(world: World) -> None:
    early = world.clock.now - 3 * HOUR  # the interview starts an hour later
    world.mailbox.deliver(inbound("jane.doe@acme.com", "See you soon", date=early))
    iid = thank_you_then_week(world)
    assert len(drafts(world, STATUS_CHECK, iid)) == 1


# -- rule 7: the status check -----------------------------------------------------------


def test_rule_7_the_final_search_finds_an_answer_the_reads_missed(world: World) -> None:
    """An answer filed away where the cycle's reads have not seen it (a label the history
    has not reported yet, a folder a delta lags on) is found by the one search of every
    folder right before the status check, and nothing is drafted."""
    iid = ended(world)
    world.cycle()
    world.advance(DAY)
    archived = replace(reply(world, "priya.shah@acme.com"), folder=Folder.OTHER,
                       folder_name="Archive")
    world.mailbox.deliver(archived, hidden_for=100)
    world.advance(7 * DAY)
    world.cycle()
    assert world.mailbox.calls.count("search_answers") == 1  # one search, for this check
    assert drafts(world, STATUS_CHECK) == []
    iv = world.store.interview(iid)
    assert iv is not None and iv.answered_at == archived.date
    world.advance(DAY)
    world.cycle()
    assert world.mailbox.calls.count("search_answers") == 1  # answered: no more searches


def test_rule_7_due_status_check_after_the_end_when_no_note_was_sent(world: World) -> None:
    iid = ended(world)
    end = world.clock.now - HOUR
    world.cycle()
    world.clock.now = end + 7 * DAY - timedelta(minutes=1)
    report = world.cycle()
    assert drafts(world, STATUS_CHECK) == []
    assert report.next_due == end + 7 * DAY
    world.advance(timedelta(minutes=1))
    world.cycle()
    (check,) = drafts(world, STATUS_CHECK)
    assert check.interview_id == iid
    assert to(check) == ["jane.doe@acme.com"]  # no organizer: the first interviewer
    body = check.message.get_content()
    assert "timeline" in body and "next steps" in body


def test_rule_7_due_status_after_the_sent_thank_you(world: World) -> None:
    ended(world)
    world.cycle()
    world.advance(2 * DAY)  # Wednesday 10:00: the user sends a note
    world.mailbox.send_draft(world.mailbox.drafts[0].id)
    world.cycle()
    world.advance(7 * DAY - timedelta(minutes=1))
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []
    world.advance(timedelta(minutes=1))
    world.cycle()
    assert len(drafts(world, STATUS_CHECK)) == 1


def test_rule_7_goes_to_the_external_organizer(world: World) -> None:
    ended(world, organizer=PRIYA)
    world.cycle()
    world.advance(8 * DAY)
    world.cycle()
    (check,) = drafts(world, STATUS_CHECK)
    assert to(check) == ["priya.shah@acme.com"]
    assert check.message["In-Reply-To"] is None  # no note went to Priya: a new message


def test_rule_7_is_a_reply_when_the_note_to_that_person_was_sent(world: World) -> None:
    ended(world, organizer=SAM)
    world.cycle()
    note = next(d for d in world.mailbox.drafts if d.to[0].email == "sam.lee@acme.com")
    sent = world.mailbox.send_draft(note.id)
    world.advance(8 * DAY)
    world.cycle()
    (check,) = drafts(world, STATUS_CHECK)
    assert to(check) == ["sam.lee@acme.com"]
    assert check.message["In-Reply-To"] == sent.message_id
    assert sent.message_id in str(check.message["References"]).split()
    assert check.header.subject == f"Re: {sent.subject}"
    assert check.header.thread_id == sent.thread_id


def test_rule_7_is_a_reply_even_when_the_client_dropped_the_marker(world: World) -> None:
    ended(world, interviewers=(JANE,))
    world.cycle()
    sent = world.mailbox.send_draft(world.mailbox.drafts[0].id, keep_marker=False)
    world.advance(8 * DAY)
    world.cycle()
    (check,) = drafts(world, STATUS_CHECK)
    assert check.message["In-Reply-To"] == sent.message_id


def test_rule_7_due_on_saturday_waits_until_monday_morning(tmp_path: Path) -> None:
    saturday_noon = datetime(2026, 2, 28, 12, 0, tzinfo=NY)
    w = make_world(tmp_path, now=saturday_noon + HOUR)
    try:
        add(w, -2 * HOUR, interviewers=(JANE,))  # ended Saturday noon
        w.cycle()
        w.clock.now = datetime(2026, 3, 7, 12, 0, tzinfo=NY)  # a week later: Saturday
        report = w.cycle()
        assert drafts(w, STATUS_CHECK) == []
        # Monday 09:00 in New York, just after the switch to summer time (13:00 UTC).
        assert report.next_due == datetime(2026, 3, 9, 9, 0, tzinfo=NY)
        w.clock.now = datetime(2026, 3, 9, 8, 59, tzinfo=NY)
        w.cycle()
        assert drafts(w, STATUS_CHECK) == []
        w.clock.now = datetime(2026, 3, 9, 9, 0, tzinfo=NY)
        w.cycle()
        (check,) = drafts(w, STATUS_CHECK)
        assert check.created == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    finally:
        w.close()


def test_rule_7_inbox_checked_once_more_right_before_writing(world: World) -> None:
    iid = ended(world)
    world.cycle()
    world.advance(8 * DAY)
    # It lands while the cycle runs: the cycle's first inbox read misses it.
    world.mailbox.deliver(reply(world), hidden_for=1)
    before = world.mailbox.calls.count("messages_since")
    world.cycle()
    assert world.mailbox.calls.count("messages_since") == before + 2
    assert drafts(world, STATUS_CHECK) == []
    iv = world.store.interview(iid)
    assert iv is not None and iv.answered_at is not None and not iv.answered_late


def test_rule_7_an_answer_after_the_status_check_is_reported(world: World) -> None:
    iid = ended(world)
    world.cycle()
    world.advance(8 * DAY)
    world.cycle()
    assert len(drafts(world, STATUS_CHECK)) == 1
    world.advance(HOUR)
    world.mailbox.deliver(reply(world))
    report = world.cycle()
    assert any(iid in n and "answered after the status-check" in n for n in report.notices)
    iv = world.store.interview(iid)
    assert iv is not None and iv.answered_late


def test_rule_7_only_one_status_check_ever(world: World) -> None:
    ended(world)
    world.cycle()
    world.advance(8 * DAY)
    world.cycle()
    world.mailbox.delete_draft(drafts(world, STATUS_CHECK)[0].ref.id)
    for _ in range(3):
        world.advance(8 * DAY)
        world.cycle()
        world.restart()
    assert len(drafts(world, STATUS_CHECK)) == 1
    assert world.engine.next_due() is None


# -- rule 8: changes ------------------------------------------------------------------


@pytest.mark.parametrize("complete", [True, False], ids=["full-reads", "incremental"])
def test_rule_8_a_rescheduled_interview_moves_its_due_times(tmp_path: Path,
                                                             complete: bool) -> None:
    w = make_world(tmp_path, complete=complete)
    try:
        add(w, DAY)  # Tuesday 10:00-11:00
        w.cycle()
        event = w.calendar.events["iv1"]
        w.calendar.put(replace(event, start=event.start + DAY, end=event.end + DAY))
        report = w.cycle()
        assert report.next_due == event.end + DAY + HOUR
        w.advance(DAY + 2 * HOUR)  # the old due time has passed
        w.cycle()
        assert drafts(w) == []
        w.advance(DAY)
        w.cycle()
        assert len(drafts(w, THANK_YOU)) == 2
    finally:
        w.close()


@pytest.mark.parametrize("complete", [True, False], ids=["full-reads", "incremental"])
def test_rule_8_postponed_beyond_the_window_is_not_cancelled(tmp_path: Path,
                                                             complete: bool) -> None:
    w = make_world(tmp_path, complete=complete)
    try:
        iid = add(w, DAY)
        w.cycle()
        event = w.calendar.events["iv1"]
        later = 75 * DAY  # beyond the 60 days the service reads ahead
        w.calendar.put(replace(event, start=event.start + later, end=event.end + later))
        w.cycle()
        assert w.calendar.lookups == ["iv1"]  # looked up once before counting it gone
        iv = w.store.interview(iid)
        assert iv is not None and iv.closed is None and iv.start == event.start + later
        w.advance(later + DAY + 2 * HOUR)  # an hour after the postponed interview ended
        w.cycle()
        assert len(drafts(w, THANK_YOU)) == 2
        # Deleted for real: the look-up says so, and it is cancelled.
        add(w, DAY, uid="iv2")
        w.cycle()
        w.calendar.delete("iv2")
        w.cycle()
        gone = w.store.interview(w.iid("iv2"))
        assert gone is not None and gone.closed == "cancelled"
    finally:
        w.close()


@pytest.mark.parametrize("complete", [True, False], ids=["full-reads", "incremental"])
@pytest.mark.parametrize("how", ["cancelled", "deleted"])
def test_rule_8_cancelled_before_it_started_gets_no_drafts(tmp_path: Path, complete: bool,
                                                           how: str) -> None:
    w = make_world(tmp_path, complete=complete)
    try:
        iid = add(w, DAY)
        w.cycle()
        if how == "cancelled":
            w.calendar.put(replace(w.calendar.events["iv1"], cancelled=True))
        else:
            w.calendar.delete("iv1")
        w.cycle()
        for _ in range(10):
            w.advance(DAY)
            w.cycle()
        assert drafts(w) == []
        iv = w.store.interview(iid)
        assert iv is not None and iv.closed == "cancelled"
    finally:
        w.close()


def test_rule_8_cancelled_while_the_daemon_was_down_gets_no_drafts(world: World) -> None:
    add(world, DAY)
    world.cycle()
    world.calendar.put(replace(world.calendar.events["iv1"], cancelled=True))
    world.advance(2 * DAY)  # the laptop slept through the cancellation and the start
    world.cycle()
    assert drafts(world) == []


def test_rule_8_a_move_seen_together_with_a_cancellation_still_moves(world: World) -> None:
    add(world, timedelta(minutes=30))
    world.cycle()
    event = world.calendar.events["iv1"]
    moved = replace(event, start=event.start + 4 * HOUR, end=event.end + 4 * HOUR)
    world.calendar.put(moved)
    world.advance(5 * HOUR)  # past the old due time, before the new one
    world.calendar.put(replace(moved, cancelled=True))
    world.cycle()
    assert drafts(world) == []  # no note due yet, whatever the cancellation means


@pytest.mark.parametrize("how", ["skipped", "done"])
def test_rule_8_skipped_or_done_by_hand_gets_nothing_more(world: World, how: str) -> None:
    first = ended(world, uid="iv1")
    later = add(world, DAY, "iv2", interviewers=(person("hank.scorpio@globex.com"),))
    world.cycle()
    assert len(drafts(world, THANK_YOU, first)) == 2
    close_by_hand(world, first, how)
    close_by_hand(world, later, how)
    for _ in range(10):
        world.advance(DAY)
        world.cycle()
    assert len(drafts(world)) == 2
    assert drafts(world, iid=later) == [] and drafts(world, STATUS_CHECK) == []


# -- rule 10: never send, never touch the user's mail --------------------------------------


def test_rule_10_dry_run_writes_nothing_to_the_mailbox(world: World) -> None:
    ended(world)
    real = world.store
    dry = Engine(world.config, Store.memory(copy_of=real),
                 {ACCOUNT: world.account()}, clock=world.clock, dry_run=True)
    try:
        report = dry.cycle()
    finally:
        dry.store.close()
    assert len(report.created) == 2 and all(c.location == "" for c in report.created)
    assert "create_draft" not in world.mailbox.calls and drafts(world) == []
    # The real state is untouched: no interview, no draft, no checkpoint.
    assert real.drafts() == [] and real.interviews() == []
    assert real.checkpoint(ACCOUNT, "calendar") is None
    world.cycle()  # the real run afterwards still writes them
    assert len(drafts(world)) == 2


def test_rule_10_the_engine_only_ever_creates_drafts(world: World) -> None:
    ended(world, organizer=PRIYA)
    world.mailbox.deliver(reply(world, "pat.stranger@gmail.com"))
    world.cycle()
    world.mailbox.send_draft(world.mailbox.drafts[0].id)
    world.mailbox.crash_after_store = True
    world.advance(8 * DAY)
    with pytest.raises(Crash):
        world.cycle()
    world.restart()
    world.advance(HOUR)
    before = list(world.mailbox.log)
    world.mailbox.deliver(reply(world))
    world.cycle()
    assert set(world.mailbox.calls) == ENGINE_CALLS
    assert world.mailbox.calls.count("create_draft") == len(drafts(world)) == 3
    assert world.mailbox.log[: len(before)] == before  # inbox and sent untouched
    assert len(world.mailbox.drafts) == 2  # the unsent note and the status check


def test_rule_10_draft_bodies_never_reach_the_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ended(world, description="Discussed: the zebra-migration project")
    with caplog.at_level(logging.DEBUG):
        world.cycle()
        world.advance(8 * DAY)
        world.cycle()
    assert len(drafts(world)) == 3
    assert "zebra-migration" in drafts(world)[0].message.get_content()
    assert "zebra-migration" not in caplog.text
    assert "Thank you for taking the time" not in caplog.text


@pytest.mark.parametrize("restart", [False, True])
def test_rule_8_a_past_invite_cancelled_by_a_tidy_up_keeps_its_notes(
    world: World, restart: bool
) -> None:
    iid = add(world, -timedelta(minutes=30))  # under way
    world.cycle()  # seen alive after its start
    if restart:
        world.restart()  # a clean restart keeps what the engine saw
    world.advance(HOUR)
    world.calendar.put(replace(world.calendar.events["iv1"], cancelled=True))
    world.cycle()
    world.advance(HOUR)
    world.cycle()
    assert len(drafts(world, THANK_YOU, iid)) == 2
    iv = world.store.interview(iid)
    assert iv is not None and iv.closed is None


def test_rule_8_tagged_nofollowup_after_the_interview_stops_the_drafts(world: World) -> None:
    iid = add(world, -timedelta(minutes=30))
    world.cycle()
    event = world.calendar.events["iv1"]
    world.calendar.put(replace(event, description=event.description + "\n#nofollowup"))
    world.advance(2 * HOUR)
    world.cycle()
    assert drafts(world, THANK_YOU, iid) == []
    iv = world.store.interview(iid)
    assert iv is not None and iv.closed == "skipped"


# -- rule 11: the user's own mail ------------------------------------------------------


def own_mail(world: World, to_address: str, *, when: datetime | None = None,
             subject: str = "Thank you!") -> MailMessage:
    """A message the user wrote themselves (from their phone), in Sent."""
    msg = inbound(ME, subject, date=when or world.clock.now)
    return replace(msg, folder=Folder.SENT, sender=Address(ME), to=(Address(to_address),))


def test_rule_11_the_users_own_thank_you_means_no_thank_you_draft(world: World) -> None:
    iid = add(world, -HOUR - 30 * MINUTE, organizer=PRIYA)  # ended 30 minutes ago
    world.cycle()
    world.mailbox.deliver(own_mail(world, "jane.doe@acme.com"))  # written from the phone
    world.advance(HOUR)
    world.cycle()
    assert drafts(world, THANK_YOU) == []
    iv = world.store.interview(iid)
    assert iv is not None and len(iv.own_sent) == 1
    # ...and the status-check clock starts from it: a week after their message.
    world.advance(7 * DAY - 2 * HOUR)
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []
    world.advance(3 * HOUR)
    world.cycle()
    (check,) = drafts(world, STATUS_CHECK)
    assert to(check) == ["priya.shah@acme.com"]


def test_rule_11_mail_to_the_company_domain_counts_and_before_the_end_does_not(
        world: World) -> None:
    iid = ended(world, 2 * HOUR)
    world.mailbox.deliver(own_mail(world, "priya.shah@acme.com",
                                   when=world.clock.now - 4 * HOUR))  # before: not a thank-you
    world.mailbox.deliver(own_mail(world, "alex@friend.example"))  # not to them
    world.cycle()
    assert len(drafts(world, THANK_YOU)) == 2
    other = ended(world, 2 * HOUR, uid="iv2", organizer=PRIYA,
                  interviewers=(person("ravi@acme.com", "Ravi"),))
    world.mailbox.deliver(own_mail(world, "careers@acme.com"))  # the company's domain
    world.cycle()
    iv = world.store.interview(other)
    assert iv is not None and len(iv.own_sent) == 1
    assert drafts(world, THANK_YOU, other) == []
    assert world.store.interview(iid) is not None


def test_rule_11_a_later_message_moves_the_clock_and_one_after_it_was_due_ends_it(
        world: World) -> None:
    iid = ended(world)
    world.cycle()
    for d in list(world.mailbox.drafts):
        world.mailbox.send_draft(d.id)
    world.cycle()
    world.advance(3 * DAY)
    world.mailbox.deliver(own_mail(world, "jane.doe@acme.com", subject="My portfolio"))
    world.cycle()
    world.advance(5 * DAY)  # eight days after the notes, five after the portfolio
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []  # the portfolio moved the clock
    world.advance(2 * DAY + 2 * HOUR)  # a week after the portfolio, in working hours
    world.mailbox.deliver(own_mail(world, "priya.shah@acme.com", subject="Any news?"))
    world.cycle()
    world.advance(7 * DAY)
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []  # they followed up themselves: never two
    iv = world.store.interview(iid)
    assert iv is not None and len(iv.own_sent) == 2


def test_rule_11_a_first_run_reads_sent_mail_back_before_drafting(world: World) -> None:
    # Interviews of the last two weeks, already followed up by hand before the service ran.
    followed = ended(world, 9 * DAY, uid="old", interviewers=(JANE,))
    world.mailbox.deliver(own_mail(world, "jane.doe@acme.com",
                                   when=world.clock.now - 9 * DAY + 2 * HOUR))
    world.mailbox.deliver(own_mail(world, "jane.doe@acme.com", subject="Following up",
                                   when=world.clock.now - HOUR))
    world.cycle()  # the very first cycle
    assert drafts(world) == []
    iv = world.store.interview(followed)
    assert iv is not None and len(iv.own_sent) == 2


def test_the_role_comes_from_the_companys_mail_when_no_invitation_names_it(
        world: World) -> None:
    iid = add(world, DAY, title="Acme interview", organizer=PRIYA)
    world.cycle()
    iv = world.store.interview(iid)
    assert iv is not None and iv.role == ""
    world.mailbox.deliver(reply(world, "priya.shah@acme.com",
                                subject="Interview confirmation: Senior Data Engineer at Acme"))
    world.mailbox.deliver(reply(world, "jobs@globex.example",  # another company: ignored
                                subject="Interview confirmation: Staff Designer at Globex"))
    world.cycle()
    iv = world.store.interview(iid)
    assert iv is not None and iv.role == "Senior Data Engineer"
    assert iv.answered_at is None  # mail before the interview is never an answer
    world.advance(DAY + 2 * HOUR)
    world.cycle()
    notes = drafts(world, THANK_YOU)
    assert notes and all("Senior Data Engineer" in d.message.get_content() for d in notes)
    # Likely, not sure: the body names it, the subject line does not.
    assert all("Senior Data Engineer" not in str(d.message["Subject"]) for d in notes)


def test_rule_7_the_main_contacts_out_of_office_return_day_delays_the_check(
        world: World) -> None:
    iid = ended(world, organizer=PRIYA)  # Priya, the recruiter, is the main contact
    world.cycle()
    world.advance(DAY)  # Tuesday 7 April
    away = replace(reply(world, "priya.shah@acme.com", subject="Automatic reply: Thank you",
                         headers={"Auto-Submitted": "auto-replied"}),
                   excerpt="I am out of the office with limited access to email and will be "
                           "back on Monday 20 April.")
    world.mailbox.deliver(away)
    world.cycle()
    iv = world.store.interview(iid)
    assert iv is not None and iv.back_on == date(2026, 4, 20) and iv.answered_at is None
    world.advance(7 * DAY)  # Tuesday 14 April: the check would be due now
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []
    world.clock.now = datetime(2026, 4, 21, 8, 30, tzinfo=NY)  # before working hours
    world.cycle()
    assert drafts(world, STATUS_CHECK) == []
    world.clock.now = datetime(2026, 4, 21, 9, 5, tzinfo=NY)  # the first working morning after
    world.cycle()
    (check,) = drafts(world, STATUS_CHECK)
    assert to(check) == ["priya.shah@acme.com"]
