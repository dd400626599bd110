"""Open-ended recurring series read from the window, not from their first date (issue 11):
the occurrences in the window are exactly those of the series expanded from its start."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

import interview_followup.providers._shared.ical as ical
from interview_followup.providers._shared.ical import read_events
from tests.test_ical import NY, NY_VTIMEZONE, ics

# Across the end of summer time in New York (1 November 2026).
WINDOW = (datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 12, 30, tzinfo=UTC))
RULES = [
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=MO;WKST=SU",
    "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=DAILY;INTERVAL=4;BYDAY=MO,WE",
    "FREQ=WEEKLY;UNTIL=20261201T000000Z",
    "FREQ=WEEKLY;COUNT=600",  # counted from the first date: left as it is
    "FREQ=MONTHLY;BYDAY=1MO",  # not a fixed period: left as it is
]


def series(first: str, rule: str, zone: str, extra: str = "") -> bytes:
    if zone == "ny":
        times = (f"DTSTART;TZID=America/New_York:{first}T093000\n"
                 f"DTEND;TZID=America/New_York:{first}T100000\n")
        return ics(f"UID:s1\n{times}SUMMARY:Standup\nRRULE:{rule}\n{extra}",
                   timezones=NY_VTIMEZONE)
    return ics(f"UID:s1\nDTSTART:{first}T143000Z\nDURATION:PT30M\nSUMMARY:Standup\n"
               f"RRULE:{rule}\n{extra}")


@pytest.mark.parametrize("zone", ["ny", "utc"])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("first", ["20160105", "20160107", "20260901"])
def test_the_window_sees_the_same_occurrences(monkeypatch: pytest.MonkeyPatch, rule: str,
                                              zone: str, first: str) -> None:
    data = series(first, rule, zone, "EXDATE:20261110T143000Z\n" if zone == "utc" else "")
    fast, problems = read_events(data, *WINDOW, NY)
    assert problems == []
    monkeypatch.setattr(ical, "_fast_forward", lambda components, start: components)
    slow, _ = read_events(data, *WINDOW, NY)
    assert fast == slow
    assert fast or "COUNT" in rule


def test_a_ten_year_old_series_costs_about_what_a_new_one_costs() -> None:
    def cost(first: str) -> float:
        data = series(first, "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "ny")
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            read_events(data, *WINDOW, NY)
            best = min(best, time.perf_counter() - t)
        return best

    assert cost("20160105") < 3 * cost("20260901")
