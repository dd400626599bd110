"""providers._shared.ical.read_events on realistic iCalendar text (Google, Outlook, Apple
shapes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from interview_followup.providers._shared.ical import read_events
from interview_followup.providers.base import Event, Response
from interview_followup.providers.errors import BadData

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
NOV = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
CALENDARS = Path(__file__).parent / "data" / "calendars"

NY_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
"""


def outlook_vtimezone(tzid: str, standard: int, daylight: int, std_rule: str,
                      dst_rule: str) -> str:
    """A VTIMEZONE as Exchange writes it: Windows name, rules from year 1601."""
    return (
        f"BEGIN:VTIMEZONE\nTZID:{tzid}\n"
        f"BEGIN:STANDARD\nDTSTART:16010101T020000\nTZOFFSETFROM:{daylight:+05d}\n"
        f"TZOFFSETTO:{standard:+05d}\nRRULE:FREQ=YEARLY;INTERVAL=1;{std_rule}\nEND:STANDARD\n"
        f"BEGIN:DAYLIGHT\nDTSTART:16010101T020000\nTZOFFSETFROM:{standard:+05d}\n"
        f"TZOFFSETTO:{daylight:+05d}\nRRULE:FREQ=YEARLY;INTERVAL=1;{dst_rule}\nEND:DAYLIGHT\n"
        "END:VTIMEZONE\n"
    )


PACIFIC = outlook_vtimezone("Pacific Standard Time", -800, -700,
                            "BYDAY=1SU;BYMONTH=11", "BYDAY=2SU;BYMONTH=3")
EASTERN = outlook_vtimezone("Eastern Standard Time", -500, -400,
                            "BYDAY=1SU;BYMONTH=11", "BYDAY=2SU;BYMONTH=3")


def ics(*events: str, head: str = "", timezones: str = "") -> bytes:
    """A VCALENDAR around ``events`` (VEVENT bodies without BEGIN/END), CRLF line ends."""
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    text = (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Test//Test//EN\n"
        f"{head}{timezones}{body}END:VCALENDAR\n"
    )
    return text.replace("\n", "\r\n").encode("utf-8")


def read(data: bytes, window: tuple[datetime, datetime] = NOV,
         tz: ZoneInfo = NY) -> tuple[list[Event], list[str]]:
    return read_events(data, window[0], window[1], tz, source="test.ics")


def only(data: bytes, **kw: object) -> Event:
    events, problems = read(data, **kw)  # type: ignore[arg-type]
    assert problems == []
    [event] = events
    return event


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def begin_line(data: bytes, uid: str, component: str = "VEVENT") -> int:
    """The line number (from 1) of the BEGIN line of the component with this UID."""
    lines = data.decode().split("\r\n")
    at = lines.index(f"UID:{uid}")
    return max(i for i in range(at) if lines[i] == f"BEGIN:{component}") + 1


def read_fixture(name: str, tz: ZoneInfo = NY) -> tuple[list[Event], list[str]]:
    return read_events((CALENDARS / name).read_bytes(), *NOV, tz, source=name)


# -- recurrence ----------------------------------------------------------------

def test_weekly_series_with_exdate_and_moved_instance() -> None:
    data = ics(
        """UID:weekly-1@example.com
DTSTAMP:20261001T000000Z
DTSTART;TZID=America/New_York:20261103T100000
DTEND;TZID=America/New_York:20261103T110000
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=America/New_York:20261110T100000
SUMMARY:Phone screen series""",
        """UID:weekly-1@example.com
DTSTAMP:20261001T000000Z
RECURRENCE-ID;TZID=America/New_York:20261117T100000
DTSTART;TZID=America/New_York:20261118T160000
DTEND;TZID=America/New_York:20261118T170000
SEQUENCE:1
SUMMARY:Phone screen (moved)""",
        timezones=NY_VTIMEZONE,
    )
    events, problems = read(data)
    assert problems == []
    assert [(e.uid, e.title, e.start) for e in events] == [
        ("weekly-1@example.com/20261103T150000Z", "Phone screen series", utc(2026, 11, 3, 15)),
        # 10 Nov is excluded; 17 Nov moved to the 18th, keeping its recurrence id
        ("weekly-1@example.com/20261117T150000Z", "Phone screen (moved)", utc(2026, 11, 18, 21)),
        ("weekly-1@example.com/20261124T150000Z", "Phone screen series", utc(2026, 11, 24, 15)),
    ]
    assert all(e.end - e.start == timedelta(hours=1) for e in events)


def test_instance_moved_out_of_the_window_disappears_from_it() -> None:
    data = ics(
        """UID:s2
DTSTART:20261124T150000Z
DTEND:20261124T160000Z
RRULE:FREQ=DAILY;COUNT=2
SUMMARY:Onsite""",
        """UID:s2
RECURRENCE-ID:20261124T150000Z
DTSTART:20261205T150000Z
DTEND:20261205T160000Z
SUMMARY:Onsite (moved)""",
    )
    events, _ = read(data)
    assert [e.uid for e in events] == ["s2/20261125T150000Z"]


def test_recurring_all_day_instance_id_is_its_date() -> None:
    data = ics("UID:allday-series\nDTSTART;VALUE=DATE:20261102\nRRULE:FREQ=WEEKLY;COUNT=2\n"
               "SUMMARY:Job fair")
    events, _ = read(data)
    assert [e.uid for e in events] == ["allday-series/20261102", "allday-series/20261109"]


def test_open_ended_series_is_expanded_only_in_the_window() -> None:
    data = ics("UID:daily\nDTSTART:20200101T120000Z\nDURATION:PT30M\nRRULE:FREQ=DAILY\n"
               "SUMMARY:Standup")
    events, _ = read(data)
    assert len(events) == 30
    assert events[0].start == utc(2026, 11, 1, 12) and events[0].end == utc(2026, 11, 1, 12, 30)


# -- time zones ----------------------------------------------------------------

def test_iana_tzid_with_its_vtimezone() -> None:
    event = only(ics("UID:a\nDTSTART;TZID=America/New_York:20261110T140000\n"
                     "DTEND;TZID=America/New_York:20261110T150000\nSUMMARY:x",
                     timezones=NY_VTIMEZONE))
    assert (event.start, event.end) == (utc(2026, 11, 10, 19), utc(2026, 11, 10, 20))
    assert event.uid == "a"


def test_outlook_windows_tzid_with_its_vtimezone() -> None:
    event = only(ics(
        "UID:040000008200E00074C5B7101A82E00800000000D0\n"
        "SUMMARY;LANGUAGE=en-US:Interview with Contoso\n"
        "DTSTART;TZID=Pacific Standard Time:20261110T100000\n"
        "DTEND;TZID=Pacific Standard Time:20261110T110000\n"
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\n"
        "BEGIN:VALARM\nACTION:DISPLAY\nDESCRIPTION:REMINDER\nTRIGGER:-PT15M\nEND:VALARM",
        head="METHOD:REQUEST\n", timezones=PACIFIC,
    ))
    assert event.title == "Interview with Contoso"
    assert (event.start, event.end) == (utc(2026, 11, 10, 18), utc(2026, 11, 10, 19))


def test_utc_times() -> None:
    event = only(ics("UID:u\nDTSTART:20261110T093000Z\nDTEND:20261110T100000Z\nSUMMARY:x"))
    assert event.start == utc(2026, 11, 10, 9, 30)
    assert event.start.utcoffset() == timedelta(0)


def test_floating_times_are_read_in_the_default_zone() -> None:
    data = ics("UID:f\nDTSTART:20261110T090000\nDTEND:20261110T100000\nSUMMARY:x")
    assert only(data).start == utc(2026, 11, 10, 14)  # New York
    assert only(data, tz=BERLIN).start == utc(2026, 11, 10, 8)


def test_floating_times_follow_x_wr_timezone() -> None:
    data = ics("UID:g\nDTSTART:20261110T090000\nDTEND:20261110T100000\nSUMMARY:x",
               head="X-WR-TIMEZONE:Europe/Berlin\n")
    assert only(data).start == utc(2026, 11, 10, 8)


def test_series_across_the_new_york_dst_change_keeps_local_time() -> None:
    # Outlook's own VTIMEZONE for the series: 10:00 local each week.
    data = ics("UID:ny-dst\nDTSTART;TZID=Eastern Standard Time:20260302T100000\n"
               "DTEND;TZID=Eastern Standard Time:20260302T110000\n"
               "RRULE:FREQ=WEEKLY;COUNT=2\nSUMMARY:Weekly sync", timezones=EASTERN)
    events, _ = read(data, window=(utc(2026, 3, 1), utc(2026, 3, 15)))
    assert [e.start for e in events] == [utc(2026, 3, 2, 15), utc(2026, 3, 9, 14)]
    assert [e.uid for e in events] == ["ny-dst/20260302T150000Z", "ny-dst/20260309T140000Z"]


def test_series_across_the_berlin_dst_change_keeps_local_time() -> None:
    data = ics("UID:ber-dst\nDTSTART;TZID=Europe/Berlin:20261023T090000\n"
               "DTEND;TZID=Europe/Berlin:20261023T100000\nRRULE:FREQ=DAILY;COUNT=4\n"
               "SUMMARY:Daily")
    events, _ = read(data, window=(utc(2026, 10, 20), utc(2026, 10, 30)), tz=NY)
    assert [e.start for e in events] == [
        utc(2026, 10, 23, 7), utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)
    ]


def test_single_event_on_the_dst_day_itself() -> None:
    # 2026-03-08 02:00 New York jumps to 03:00: 01:30-03:30 local is one hour.
    event = only(ics("UID:dst-day\nDTSTART;TZID=America/New_York:20260308T013000\n"
                     "DTEND;TZID=America/New_York:20260308T033000\nSUMMARY:x",
                     timezones=NY_VTIMEZONE), window=(utc(2026, 3, 1), utc(2026, 3, 15)))
    assert (event.start, event.end) == (utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30))


# -- all-day, missing ends, overlap --------------------------------------------

def test_all_day_event() -> None:
    event = only(ics("UID:ad\nDTSTART;VALUE=DATE:20261110\nDTEND;VALUE=DATE:20261112\n"
                     "SUMMARY:Conference"))
    assert event.all_day
    assert (event.start, event.end) == (datetime(2026, 11, 10, tzinfo=NY),
                                        datetime(2026, 11, 12, tzinfo=NY))


def test_missing_dtend() -> None:
    events, _ = read(ics(
        "UID:date-only\nDTSTART;VALUE=DATE:20261110\nSUMMARY:a",
        "UID:instant\nDTSTART:20261111T150000Z\nSUMMARY:b",
        "UID:duration\nDTSTART:20261112T150000Z\nDURATION:PT45M\nSUMMARY:c",
    ))
    spans = {e.uid: e.end - e.start for e in events}
    assert spans == {"date-only": timedelta(days=1), "instant": timedelta(0),
                     "duration": timedelta(minutes=45)}


def test_window_is_half_open() -> None:
    events, _ = read(ics(
        "UID:ends-at-start\nDTSTART:20261031T230000Z\nDTEND:20261101T000000Z\nSUMMARY:a",
        "UID:starts-at-end\nDTSTART:20261201T000000Z\nDTEND:20261201T010000Z\nSUMMARY:b",
        "UID:spans-all\nDTSTART:20261001T000000Z\nDTEND:20270101T000000Z\nSUMMARY:c",
        "UID:instant-at-start\nDTSTART:20261101T000000Z\nSUMMARY:d",
    ))
    assert sorted(e.uid for e in events) == ["instant-at-start", "spans-all"]


def test_events_at_the_edges_in_extreme_zones_are_kept() -> None:
    # Kiritimati is UTC+14, Pago Pago UTC-11: their local dates differ from UTC.
    events, _ = read(ics(
        "UID:kiri\nDTSTART;TZID=Pacific/Kiritimati:20261101T143000\n"
        "DTEND;TZID=Pacific/Kiritimati:20261101T153000\nSUMMARY:a",  # 00:30Z on the 1st
        "UID:kiri-before\nDTSTART;TZID=Pacific/Kiritimati:20261101T130000\n"
        "DTEND;TZID=Pacific/Kiritimati:20261101T140000\nSUMMARY:c",  # ends 00:00Z on the 1st
        "UID:pago\nDTSTART;TZID=Pacific/Pago_Pago:20261130T120000\n"
        "DTEND;TZID=Pacific/Pago_Pago:20261130T130000\nSUMMARY:b",  # 23:00Z on the 30th
        "UID:pago-after\nDTSTART;TZID=Pacific/Pago_Pago:20261130T130000\n"
        "DTEND;TZID=Pacific/Pago_Pago:20261130T140000\nSUMMARY:d",  # 00:00Z on 1 Dec
    ))
    assert sorted(e.uid for e in events) == ["kiri", "pago"]


# -- status, categories, people ------------------------------------------------

def test_cancelled_events_are_included_and_flagged() -> None:
    events, _ = read(ics("UID:c1\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\n"
                         "STATUS:CANCELLED\nSUMMARY:Canceled: Interview",
                         "UID:c2\nDTSTART:20261111T150000Z\nDTEND:20261111T160000Z\n"
                         "STATUS:CONFIRMED\nSUMMARY:Interview"))
    assert [(e.uid, e.cancelled) for e in events] == [("c1", True), ("c2", False)]


def test_itip_cancel_after_request_in_one_file_cancels() -> None:
    request = ics("UID:inv-9\nSEQUENCE:0\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\n"
                  "SUMMARY:Interview", head="METHOD:REQUEST\n")
    cancel = ics("UID:inv-9\nSEQUENCE:1\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\n"
                 "SUMMARY:Canceled: Interview", head="METHOD:CANCEL\n")
    event = only(request + cancel)
    assert event.cancelled and event.title == "Canceled: Interview"


def test_categories_repeated_and_comma_separated() -> None:
    event = only(ics("UID:cat\nDTSTART:20261110T150000Z\nSUMMARY:x\n"
                     "CATEGORIES:Interview,Job search\nCATEGORIES:Important\n"
                     "CATEGORIES:Interview"))
    assert event.categories == ("Interview", "Job search", "Important")


def test_organizer_and_attendees() -> None:
    event = only(ics(
        'UID:people\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\nSUMMARY:Interview\n'
        'ORGANIZER;CN="Dana Recruiter":MAILTO:Dana@ACME.example\n'
        'ATTENDEE;CN="Müller, Jörg";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:Jorg.Muller@Acme.'
        'example\n'
        'ATTENDEE;CN=Sam Lee;PARTSTAT=DECLINED:mailto:sam@acme.example\n'
        'ATTENDEE;CN=Lee Park;PARTSTAT=TENTATIVE:mailto:lee@acme.example\n'
        'ATTENDEE;CN=Pat;PARTSTAT=DELEGATED;DELEGATED-TO="mailto:kim@acme.example":mailto:pat@a'
        'cme.example\n'
        'ATTENDEE;CN=Kim:mailto:kim@acme.example\n'
        'ATTENDEE;CUTYPE=ROOM;CN="Room 4B, Floor 2";PARTSTAT=ACCEPTED:mailto:room4b@acme.example\n'
        'ATTENDEE;CUTYPE=RESOURCE;CN=Projector:mailto:projector@acme.example\n'
        'ATTENDEE;CUTYPE=GROUP;CN=Hiring Team:mailto:hiring@acme.example\n'
        'ATTENDEE;CN=No Mail;PARTSTAT=ACCEPTED:urn:uuid:3d0f0b4c-1c7b-4bde-9d8b-6f1f7f1e2a10\n'
        'ATTENDEE;EMAIL=Ana@Acme.example;CN=Ana:urn:uuid:77\n'
    ))
    assert event.organizer is not None
    assert (event.organizer.email, event.organizer.name, event.organizer.response) == (
        "dana@acme.example", "Dana Recruiter", Response.UNKNOWN)
    got = [(a.email, a.name, a.response, a.is_resource, a.is_group) for a in event.attendees]
    assert got == [
        ("jorg.muller@acme.example", "Müller, Jörg", Response.ACCEPTED, False, False),
        ("sam@acme.example", "Sam Lee", Response.DECLINED, False, False),
        ("lee@acme.example", "Lee Park", Response.TENTATIVE, False, False),
        ("pat@acme.example", "Pat", Response.DECLINED, False, False),  # delegated away
        ("kim@acme.example", "Kim", Response.NEEDS_ACTION, False, False),  # RFC default
        ("room4b@acme.example", "Room 4B, Floor 2", Response.ACCEPTED, True, False),
        ("projector@acme.example", "Projector", Response.NEEDS_ACTION, True, False),
        ("hiring@acme.example", "Hiring Team", Response.NEEDS_ACTION, False, True),
        ("", "No Mail", Response.ACCEPTED, False, False),
        ("ana@acme.example", "Ana", Response.NEEDS_ACTION, False, False),
    ]


# -- text ----------------------------------------------------------------------

def test_text_is_kept_exactly() -> None:
    long_text = "x" * 100_000
    event = only(ics(
        "UID:text\nDTSTART:20261110T150000Z\n"
        "SUMMARY:Interview {{ config.secret }}\\, round 2\\; final\n"
        "DESCRIPTION:Interviewers: Jörg\\, Sam\\nDiscussed: Kafka\\n\\n#interview\n"
        "LOCATION:Room 4B\\, HQ\n"
        f"X-ALT-DESC;FMTTYPE=text/html:<p>{long_text}</p>\n"
        f"COMMENT:{long_text}"
    ))
    assert event.title == "Interview {{ config.secret }}, round 2; final"
    assert event.description == "Interviewers: Jörg, Sam\nDiscussed: Kafka\n\n#interview"
    assert event.location == "Room 4B, HQ"


def test_folded_lines_split_inside_a_multibyte_character() -> None:
    text = "Entretien avec Jörg — équipe données " * 20
    raw = f"DESCRIPTION:{text}".encode()
    folded = b"\r\n ".join(raw[i:i + 75] for i in range(0, len(raw), 75))  # splits UTF-8
    data = ics("UID:fold\nDTSTART:20261110T150000Z\nSUMMARY:x").replace(
        b"SUMMARY:x", b"SUMMARY:x\r\n" + folded)
    assert only(data).description == text


def test_large_description_of_100_kb() -> None:
    body = "Discussed: roadmap\\n" + "Lorem ipsum dolor sit amet. " * 3700
    event = only(ics(f"UID:big\nDTSTART:20261110T150000Z\nSUMMARY:x\nDESCRIPTION:{body}"))
    assert len(event.description) > 100_000
    assert event.description.startswith("Discussed: roadmap\nLorem")


def test_a_utf8_byte_order_mark_is_read_past() -> None:
    # Windows tools write one; the calendar starts right after it.
    data = b"\xef\xbb\xbf" + ics("UID:bom\nDTSTART:20261110T150000Z\nSUMMARY:Jörg")
    assert only(data).title == "Jörg"


def test_line_feed_only_files_are_read() -> None:
    data = ics("UID:lf\nDTSTART:20261110T150000Z\nSUMMARY:lf").replace(b"\r\n", b"\n")
    assert only(data).title == "lf"


# -- identity ------------------------------------------------------------------

def test_event_without_uid_gets_a_stable_one() -> None:
    data = ics("DTSTART:20261110T150000Z\nSUMMARY:Phone screen",
               "DTSTART:20261110T150000Z\nSUMMARY:Other")
    first, _ = read(data)
    again, _ = read(data)
    assert [e.uid for e in first] == [e.uid for e in again]
    assert len({e.uid for e in first}) == 2 and all(e.uid for e in first)


# -- broken data ---------------------------------------------------------------

def test_broken_events_are_reported_by_file_line_and_uid_and_others_parse() -> None:
    data = ics(
        "UID:good-1\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\nSUMMARY:Interview",
        "UID:bad-start\nDTSTART:2026-11-10 15:00\nSUMMARY:x",
        "UID:no-start\nSUMMARY:x",
        "UID:bad-rule\nDTSTART:20261110T150000Z\nRRULE:FREQ=SOMETIMES\nSUMMARY:x",
        "UID:backwards\nDTSTART:20261110T150000Z\nDTEND:20261110T140000Z\nSUMMARY:x",
        # dateutil would never return from these two:
        "UID:interval-0\nDTSTART:20261110T150000Z\nRRULE:FREQ=DAILY;INTERVAL=0\nSUMMARY:x",
        "UID:minutely\nDTSTART:20200101T150000Z\nRRULE:FREQ=MINUTELY\nSUMMARY:x",
        # only the expansion itself fails on this one:
        "UID:bad-setpos\nDTSTART:20261110T150000Z\nRRULE:FREQ=DAILY;BYSETPOS=0\nSUMMARY:x",
        "UID:good-2\nDTSTART:20261111T150000Z\nDTEND:20261111T160000Z\nSUMMARY:Onsite\n"
        "garbage line without a colon",
    )
    events, problems = read(data)
    assert sorted(e.uid for e in events) == ["good-1", "good-2"]
    broken = ["bad-start", "no-start", "bad-rule", "backwards", "interval-0", "minutely",
              "bad-setpos"]
    assert sorted(p.split(": ")[0:2] for p in problems) == sorted(
        [f"test.ics, line {begin_line(data, uid)}", f"VEVENT UID {uid}"] for uid in broken)
    assert f"test.ics, line {begin_line(data, 'no-start')}: VEVENT UID no-start: no DTSTART" \
        in problems
    assert (f"test.ics, line {begin_line(data, 'backwards')}: VEVENT UID backwards: DTEND is "
            "before DTSTART") in problems


def test_broken_override_takes_its_series_along() -> None:
    data = ics(
        "UID:s\nDTSTART:20261103T150000Z\nRRULE:FREQ=WEEKLY;COUNT=3\nSUMMARY:Series",
        "UID:s\nRECURRENCE-ID:20261110T150000Z\nDTSTART:tomorrow\nSUMMARY:Moved",
    )
    events, problems = read(data)
    assert events == [] and len(problems) == 1
    # The line is the broken override's, not the first of its series.
    assert problems[0].startswith("test.ics, line 10: VEVENT UID s: bad DTSTART: ")


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not an iCalendar file: it is empty"),
    (b" \r\n\r\n", "not an iCalendar file: it is empty"),
    (b"not a calendar at all\r\n", "not an iCalendar file: no BEGIN:VCALENDAR line"),
    (b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dana\r\nEND:VCARD\r\n",
     "not an iCalendar file: no BEGIN:VCALENDAR line"),
    (b"<html><body>Sign in to see this calendar</body></html>\r\n",
     "not an iCalendar file: no BEGIN:VCALENDAR line"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
     "not an iCalendar file: binary data, no BEGIN:VCALENDAR line"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03BEGIN:VCALENDAR",
     "not an iCalendar file: binary data, no BEGIN:VCALENDAR line"),
])
def test_data_that_is_not_icalendar_at_all_is_refused_saying_so(data: bytes,
                                                                message: str) -> None:
    with pytest.raises(BadData) as info:
        read(data)
    assert info.value.item == "test.ics"
    assert info.value.problem == message


def test_a_file_cut_short_is_refused_not_read_in_part() -> None:
    # Half a file would make the interviews of the other half look deleted;
    # a sync tool writing it has finished by the next read.
    data = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n"
    with pytest.raises(BadData) as info:
        read(data)
    assert info.value.item == "test.ics"
    assert info.value.problem == (
        "cut short: the VCALENDAR of line 1 has no END:VCALENDAR (a file still being written?)")


# -- one bad component among good ones -----------------------------------------
# Shapes of public calendars that used to make the whole file unreadable.

def test_broken_vtodo_is_skipped_and_the_interview_is_read() -> None:
    events, problems = read_fixture("broken_vtodo.ics")
    [event] = events
    assert (event.uid, event.start) == ("iv-acme-1@acme.example", utc(2026, 11, 10, 19))
    assert [a.email for a in event.attendees] == ["sam.lee@acme.example",
                                                   "alex.rivera@gmail.com"]
    [problem] = problems  # the VTODO beside it, which is fine, is not named
    assert problem.startswith(
        "broken_vtodo.ics, line 5: VTODO UID todo-portfolio@tasks.example: bad DTSTART: ")


@pytest.mark.parametrize(("tz", "start"), [(NY, utc(2026, 11, 12, 15)),
                                           (BERLIN, utc(2026, 11, 12, 9))])
def test_vtimezone_with_an_empty_tzid_is_skipped_and_its_times_read_in_the_default_zone(
    tz: ZoneInfo, start: datetime,
) -> None:
    # Exchange 2010 writes "TZID:" with nothing after it, and TZID="" in its events.
    events, problems = read_fixture("empty_tzid.ics", tz=tz)
    assert [(e.title, e.start, e.end - e.start) for e in events] == [
        ("Phone screen with Initech", start, timedelta(minutes=30)),
        ("Call with the Tokyo office", utc(2026, 11, 13, 0), timedelta(hours=1)),
    ]
    assert problems == ["empty_tzid.ics, line 5: VTIMEZONE: empty TZID"]


def test_vfreebusy_with_bad_data_is_skipped_and_the_interview_is_read() -> None:
    events, problems = read_fixture("bad_freebusy.ics")
    assert [(e.uid, e.start) for e in events] == [
        ("iv-globex-7@globex.example", utc(2026, 11, 11, 15))]
    [problem] = problems
    assert problem.startswith(
        "bad_freebusy.ics, line 4: VFREEBUSY UID fb-2026-11@calendar.example: bad FREEBUSY: ")


def test_vjournal_with_a_bad_date_is_skipped() -> None:
    data = ics("UID:iv\nDTSTART:20261110T150000Z\nSUMMARY:Interview",
               head="BEGIN:VJOURNAL\nUID:notes-1\nDTSTART:last tuesday\nSUMMARY:Notes\n"
                    "END:VJOURNAL\n")
    events, problems = read(data)
    assert [e.uid for e in events] == ["iv"]
    [problem] = problems
    assert problem.startswith("test.ics, line 4: VJOURNAL UID notes-1: bad DTSTART: ")


def test_vevent_without_its_end_line_is_skipped_and_the_next_one_read() -> None:
    data = ics("UID:iv\nDTSTART:20261110T150000Z\nSUMMARY:Interview").replace(
        b"BEGIN:VEVENT", b"BEGIN:VEVENT\r\nUID:lost-end\r\nDTSTART:20261109T150000Z\r\n"
                         b"SUMMARY:Cut short\r\nBEGIN:VEVENT", 1)
    events, problems = read(data)
    assert [e.uid for e in events] == ["iv"]
    assert problems == ["test.ics, line 4: VEVENT UID lost-end: no END:VEVENT before line 8"]


def test_broken_vtimezone_is_skipped_and_its_times_read_in_the_default_zone() -> None:
    zone = ("BEGIN:VTIMEZONE\nTZID:Followup Test Broken Zone\nBEGIN:STANDARD\n"
            "DTSTART:16010101T000000\nTZOFFSETFROM:-08:00 or so\nTZOFFSETTO:-0800\n"
            "END:STANDARD\nEND:VTIMEZONE\n")
    data = ics("UID:iv\nDTSTART;TZID=Followup Test Broken Zone:20261110T100000\nSUMMARY:x",
               timezones=zone)
    events, problems = read(data)
    assert [(e.uid, e.start) for e in events] == [("iv", utc(2026, 11, 10, 15))]  # New York
    [problem] = problems
    assert problem.startswith("test.ics, line 4: VTIMEZONE TZID Followup Test Broken Zone: ")


def test_vtimezone_defined_after_the_events_still_applies() -> None:
    # Components are parsed one by one; a zone defined further down still counts.
    zone = ("BEGIN:VTIMEZONE\nTZID:Followup Test Late Zone\nBEGIN:STANDARD\n"
            "DTSTART:16010101T000000\nTZOFFSETFROM:-0800\nTZOFFSETTO:-0800\n"
            "END:STANDARD\nEND:VTIMEZONE\n")
    data = ics("UID:iv\nDTSTART;TZID=Followup Test Late Zone:20261110T100000\nSUMMARY:x")
    data = data.replace(b"END:VCALENDAR", zone.replace("\n", "\r\n").encode() + b"END:VCALENDAR")
    assert only(data).start == utc(2026, 11, 10, 18)


def test_bad_lines_of_the_calendar_itself_and_text_around_it_are_skipped() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\n\r\n" + ics(
        "UID:iv\nDTSTART:20261110T150000Z\nSUMMARY:Interview",
        head="X-WR-CALNAME:Jobs\nthis line has no colon\nMETHOD:PUBLISH\n",
    ) + b"<!-- served by a proxy -->\r\n"
    events, problems = read(data)
    assert [e.uid for e in events] == ["iv"]
    outside = "text outside BEGIN:VCALENDAR ... END:VCALENDAR"
    assert sorted(p.split(": ")[0:2] for p in problems) == [
        ["test.ics, line 1", outside],
        ["test.ics, line 16", outside],  # the comment after END:VCALENDAR
        ["test.ics, line 8", "VCALENDAR"],  # the line without a colon
    ]
    assert any(p.startswith("test.ics, line 8: VCALENDAR: bad line: ") for p in problems)


def test_an_end_line_without_its_begin_is_named_and_passed_over() -> None:
    data = ics("UID:iv\nDTSTART:20261110T150000Z\nSUMMARY:Interview", head="END:VTODO\n")
    events, problems = read(data)
    assert [e.uid for e in events] == ["iv"]
    assert problems == ["test.ics, line 4: END:VTODO without BEGIN"]


def test_two_uid_lines_use_the_first_and_say_so_in_plain_text() -> None:
    data = ics("UID:first@acme.example\nUID:second@acme.example\n"
               "DTSTART:20261110T150000Z\nSUMMARY:Interview")
    events, problems = read(data)
    assert [e.uid for e in events] == ["first@acme.example"]
    assert problems == ["test.ics, line 4: VEVENT UID first@acme.example: 2 UID lines, the "
                        "first is used; extra UID second@acme.example"]


def test_control_characters_in_a_common_name_are_cleaned_and_the_person_kept() -> None:
    data = ics(
        "UID:cn\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\nSUMMARY:Interview\n"
        "ORGANIZER;CN=Dana\x00Recruiter:mailto:dana@acme.example\n"
        "ATTENDEE;CN=Sam\x00 Lee;PARTSTAT=ACCEPTED:mailto:sam@acme.example\n"
        'ATTENDEE;CN="Kim \x07\x1b Park";PARTSTAT=ACCEPTED:mailto:kim@acme.example\n'
        "ATTENDEE;CN=Lee\u2028Chen\x7f:mailto:lee@acme.example")
    event = only(data)
    assert event.organizer is not None
    assert (event.organizer.email, event.organizer.name) == ("dana@acme.example",
                                                             "Dana Recruiter")
    assert [(a.email, a.name, a.response) for a in event.attendees] == [
        ("sam@acme.example", "Sam Lee", Response.ACCEPTED),
        ("kim@acme.example", "Kim Park", Response.ACCEPTED),
        ("lee@acme.example", "Lee Chen", Response.NEEDS_ACTION),
    ]


def test_events_far_outside_the_window_are_not_parsed() -> None:
    # The cut before parsing: a broken event years away is never even looked
    # at, the same one inside the window is.
    backwards = "DTSTART:{d}T150000Z\nDTEND:{d}T140000Z\nSUMMARY:x"
    data = ics("UID:old\n" + backwards.format(d="20200110"),
               "UID:now\n" + backwards.format(d="20261110"))
    events, problems = read(data)
    assert events == []
    assert problems == ["test.ics, line 10: VEVENT UID now: DTEND is before DTSTART"]


def test_naive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        read_events(ics(), datetime(2026, 11, 1), datetime(2026, 12, 1), NY)


# -- size ----------------------------------------------------------------------

def test_ten_thousand_events_over_years() -> None:
    # A real calendar: years of meetings, one window of weeks. Every event of
    # the window must be found however many are skipped around it.
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    bodies = []
    for i in range(10_000):
        s = start + timedelta(hours=7 * i)
        bodies.append(f"UID:m{i}@example.com\nDTSTAMP:20240101T000000Z\n"
                      f"DTSTART;TZID=America/New_York:{s:%Y%m%dT%H%M%S}\n"
                      f"DURATION:PT1H\nSUMMARY:Meeting {i}\n"
                      "ATTENDEE;CN=\"Doe, Jane\";PARTSTAT=ACCEPTED:mailto:jane@example.com\n"
                      "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT10M\nEND:VALARM")
    bodies.append("UID:weekly\nDTSTART:20240101T150000Z\nDURATION:PT1H\nRRULE:FREQ=WEEKLY\n"
                  "SUMMARY:Weekly")
    events, problems = read(ics(*bodies))
    expected = {
        f"m{i}@example.com" for i in range(10_000)
        if NOV[0] <= (start + timedelta(hours=7 * i)).replace(tzinfo=NY) < NOV[1]
    }
    assert problems == []
    assert {e.uid for e in events if not e.uid.startswith("weekly")} == expected
    assert len([e for e in events if e.uid.startswith("weekly/")]) == 5  # Mondays of November


def test_unquoted_comma_in_a_common_name_stays_part_of_the_name() -> None:
    event = only(ics("UID:cn\nDTSTART:20261110T150000Z\nDTEND:20261110T160000Z\n"
                     "SUMMARY:Interview\nATTENDEE;CN=Groß, Jürgen:mailto:j.gross@acme.de"))
    assert event.attendees[0].name == "Groß, Jürgen"


def test_the_email_parameter_is_the_persons_address_beside_a_relay() -> None:
    """Apple writes the organizer as an iMIP relay and the real address in EMAIL= (rule 3)."""
    event = only(ics("""
UID:apple-relay@example
DTSTART:20261110T150000Z
DTEND:20261110T160000Z
SUMMARY:Interview
ORGANIZER;EMAIL="theo.marchetti@icloud.com";CN=Theo Marchetti:mailto:2_HAYDGMZTGQ3
 DSMRUGM4TEMBQGIYTSNBZHA2GCYLDMYZDGMBYHE2DCNZ@imip.me.com
ATTENDEE;EMAIL=sam@acme.example;CN=Sam Lee:/1234567/principal/
ATTENDEE;CN=Ana Ruiz:mailto:ana@acme.example
"""))
    assert event.organizer is not None
    assert (event.organizer.email, event.organizer.name) == ("theo.marchetti@icloud.com",
                                                             "Theo Marchetti")
    assert [a.email for a in event.attendees] == ["sam@acme.example", "ana@acme.example"]
