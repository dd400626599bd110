"""Due times of rules 4 and 7, across weekends, DST changes and timezones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from interview_followup.daemon.config import Timing
from interview_followup.daemon.lifecycle import (
    STATUS_CHECK,
    THANK_YOU,
    next_step,
    next_working_time,
)
from interview_followup.daemon.state import DraftRow, Interview

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
T = Timing()


def interview(start: datetime, end: datetime, **kw: object) -> Interview:
    iv = Interview(id="abcd1234", account="home", event_uid="uid", title="Interview",
                   start=start, end=end, company="Acme", company_domain="acme.com", role="",
                   snapshot={"recipients": [{"email": "jane@acme.com", "name": "Jane"}]})
    return replace(iv, **kw)  # type: ignore[arg-type]


def draft(kind: str, claimed: datetime, sent: datetime | None = None) -> DraftRow:
    return DraftRow(marker=f"abcd1234/{kind}/jane@acme.com", interview_id="abcd1234", kind=kind,
                    recipient="jane@acme.com", subject="Thank you", state="created",
                    draft_id="1", message_id="<m@x>", thread_id="", claimed_at=claimed,
                    created_at=claimed, sent_at=sent, sent_message_id=None, sent_references=[],
                    sent_thread_id=None, sent_provider_id=None)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 25, 10, 0, tzinfo=NY), datetime(2026, 11, 25, 10, 0, tzinfo=NY)),
        (datetime(2026, 11, 25, 7, 0, tzinfo=NY), datetime(2026, 11, 25, 9, 0, tzinfo=NY)),
        (datetime(2026, 11, 27, 17, 0, tzinfo=NY), datetime(2026, 11, 30, 9, 0, tzinfo=NY)),
        (datetime(2026, 11, 28, 12, 0, tzinfo=NY), datetime(2026, 11, 30, 9, 0, tzinfo=NY)),
        # Friday evening before the spring-forward Sunday: Monday 09:00 EDT is 13:00 UTC.
        (datetime(2026, 3, 6, 18, 0, tzinfo=NY), datetime(2026, 3, 9, 13, 0, tzinfo=UTC)),
        # Friday evening before the fall-back Sunday: Monday 09:00 EST is 14:00 UTC.
        (datetime(2026, 10, 30, 18, 0, tzinfo=NY), datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
    ],
)
def test_status_checks_wait_for_working_hours(local: datetime, expected: datetime) -> None:
    assert next_working_time(local, T, NY) == expected


def test_working_hours_are_the_users_not_the_events() -> None:
    # 08:00 UTC on a Tuesday is 17:00 in Tokyo (closed) but 09:00 in Berlin (open).
    moment = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert next_working_time(moment, T, BERLIN) == moment
    assert next_working_time(moment, T, TOKYO) == datetime(2026, 11, 25, 9, 0, tzinfo=TOKYO)


def test_custom_working_week() -> None:
    timing = replace(T, working_days=frozenset({6}), working_start=time(10),
                     working_end=time(12))
    moment = datetime(2026, 11, 25, 11, 0, tzinfo=BERLIN)  # a Wednesday
    assert next_working_time(moment, timing, BERLIN) == datetime(2026, 11, 29, 10, 0,
                                                                 tzinfo=BERLIN)


def test_thank_you_due_an_hour_after_the_end_across_a_dst_change() -> None:
    # 01:00 EDT to 01:30 EST on 2026-11-01: the wall clock repeats an hour.
    start = datetime(2026, 11, 1, 1, 0, tzinfo=NY)
    end = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY)
    iv = interview(start, end)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(minutes=90)
    step = next_step(iv, [], start, T, NY)
    assert step.kind == THANK_YOU
    assert step.due == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)


def test_thank_you_missed_after_the_window_then_status_check_from_the_end() -> None:
    end = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
    iv = interview(end - timedelta(hours=1), end)
    assert next_step(iv, [], end + timedelta(hours=47), T, NY).kind == THANK_YOU
    assert next_step(iv, [], end + timedelta(hours=49), T, NY).kind == "missed"
    missed = replace(iv, missed=True)
    step = next_step(missed, [], end + timedelta(hours=49), T, NY)
    assert step.kind == STATUS_CHECK and step.due == end + timedelta(days=7)


def test_status_check_counts_from_the_sent_thank_you() -> None:
    end = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    sent = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
    iv = interview(end - timedelta(hours=1), end)
    unsent = next_step(iv, [draft(THANK_YOU, end + timedelta(hours=1))], sent, T, NY)
    assert unsent.kind == STATUS_CHECK and unsent.due == end + timedelta(days=7)
    step = next_step(iv, [draft(THANK_YOU, end + timedelta(hours=1), sent)], sent, T, NY)
    assert step.kind == STATUS_CHECK and step.due == sent + timedelta(days=7)


def test_nothing_after_an_answer_a_status_check_or_a_close() -> None:
    end = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    later = end + timedelta(days=30)
    iv = interview(end - timedelta(hours=1), end)
    ty = draft(THANK_YOU, end + timedelta(hours=1))
    assert next_step(replace(iv, answered_at=end + timedelta(days=2)), [ty], later, T, NY).kind \
        == ""
    assert next_step(iv, [ty, draft(STATUS_CHECK, later)], later, T, NY).kind == ""
    for closed in ("cancelled", "skipped", "done"):
        assert next_step(replace(iv, closed=closed), [], later, T, NY).kind == ""


def test_a_week_later_keeps_the_local_time_across_a_dst_change() -> None:
    # Ends Monday 2026-03-02 10:00 EST; a week later is Monday 10:00 EDT: 23 hours
    # earlier in UTC than 7 * 24 hours.
    end = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    iv = interview(end - timedelta(hours=1), end, missed=True)
    step = next_step(iv, [], end, T, NY)
    assert step.kind == STATUS_CHECK
    assert step.due == datetime(2026, 3, 9, 10, 0, tzinfo=NY)
    assert step.due == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)


def test_a_status_check_in_hours_is_absolute() -> None:
    end = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # Saturday 10:00 EST
    timing = replace(T, status_check_after=timedelta(hours=36), working_days=frozenset(range(7)),
                     working_start=time(0), working_end=time.max)
    step = next_step(interview(end - timedelta(hours=1), end, missed=True), [], end, timing, NY)
    assert step.due == end + timedelta(hours=36)


@pytest.mark.parametrize("zone", [NY, BERLIN, TOKYO])
def test_an_out_of_office_return_day_delays_the_status_check(zone: ZoneInfo) -> None:
    # Thank-you sent Monday 9 March 2026 10:00; the check is due Monday 16 March 10:00.
    sent = datetime(2026, 3, 9, 10, 0, tzinfo=zone)
    drafts = [draft(THANK_YOU, sent - timedelta(hours=1), sent)]
    start = datetime(2026, 3, 6, 14, 0, tzinfo=zone)
    now = sent + timedelta(days=1)
    plain = next_step(interview(start, start + timedelta(hours=1)), drafts, now, T, zone)
    assert plain.due == datetime(2026, 3, 16, 10, 0, tzinfo=zone)
    # Back on Wednesday 18 March: the first working morning after it, Thursday 09:00.
    away = interview(start, start + timedelta(hours=1), back_on=date(2026, 3, 18))
    step = next_step(away, drafts, now, T, zone)
    assert (step.kind, step.due) == (STATUS_CHECK, datetime(2026, 3, 19, 9, 0, tzinfo=zone))
    assert step.label == "status check (away until Wed 18 Mar)"
    # Back before the check was due anyway: no change.
    early = interview(start, start + timedelta(hours=1), back_on=date(2026, 3, 11))
    assert next_step(early, drafts, now, T, zone).due == plain.due
    # Back in three months: at most 30 days more.
    long = interview(start, start + timedelta(hours=1), back_on=date(2026, 6, 15))
    assert next_step(long, drafts, now, T, zone).due == datetime(2026, 4, 15, 10, 0,
                                                                   tzinfo=zone)
