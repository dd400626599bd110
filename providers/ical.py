"""iCalendar data -> :class:`~providers.base.Event` occurrences in a window.

Parsing uses ``icalendar``; recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID
overrides) is expanded by ``recurring_ical_events``. Both are lenient, so the
checks that decide whether one event is usable live here: a broken event is
skipped and named in the problems list, the others go on.

Parsing is the expensive part (icalendar needs ~0.25 ms per event), so
non-recurring events that plainly fall outside the window are cut from the
text before parsing; a calendar of ten years needs only its current weeks
parsed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import recurring_ical_events
import x_wr_timezone
from icalendar import Component

from .base import Attendee, Event, Response
from .errors import BadData

logger = logging.getLogger(__name__)

# Properties that decide when an event happens: an error in any of them makes
# the event unusable, while an error elsewhere (a bad ATTENDEE line) does not.
TIME_PROPERTIES = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "UID"}
)

# Every VEVENT property this module (or recurring_ical_events) reads; the
# others are cut before parsing. Reading a new property means adding it here.
READ_PROPERTIES = frozenset(
    name.encode()
    for name in TIME_PROPERTIES | {
        "EXRULE", "SEQUENCE", "STATUS", "SUMMARY", "DESCRIPTION", "LOCATION",
        "ORGANIZER", "ATTENDEE", "CATEGORIES",
    }
)

_RESPONSES = {
    "ACCEPTED": Response.ACCEPTED,
    "DECLINED": Response.DECLINED,
    # Someone who delegated the meeting does not attend it.
    "DELEGATED": Response.DECLINED,
    "TENTATIVE": Response.TENTATIVE,
    "NEEDS-ACTION": Response.NEEDS_ACTION,
}

# Time-zone offsets reach +-14h; two days of slack keeps every event the
# window could touch when only the date digits are looked at.
_SLACK = timedelta(days=2)
_VEVENT_BLOCK = re.compile(
    rb"^BEGIN:VEVENT[ \t]*\r?\n.*?^END:VEVENT[ \t]*(?:\r?\n|\Z)",
    re.DOTALL | re.MULTILINE | re.IGNORECASE,
)
_NAME = re.compile(rb"[A-Za-z0-9-]+(?=[;:])")
_FOLD = re.compile(rb"\r?\n[ \t]")
_RECURRING_LINE = re.compile(rb"^(?:RRULE|RDATE|RECURRENCE-ID)[;:]", re.MULTILINE | re.IGNORECASE)
_DATE_LINE = {
    name: re.compile(rb"^" + name + rb"(?:;[^:\r\n]*)?:(\d{8})", re.MULTILINE | re.IGNORECASE)
    for name in (b"DTSTART", b"DTEND")
}
_DURATION_LINE = re.compile(
    rb"^DURATION(?:;[^:\r\n]*)?:\+?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
    rb"[ \t]*\r?$",
    re.MULTILINE | re.IGNORECASE,
)


def read_events(
    data: bytes,
    start: datetime,
    end: datetime,
    default_tz: tzinfo,
    source: str = "calendar",
) -> tuple[list[Event], list[str]]:
    """Events of ``data`` overlapping [start, end), and the problems met.

    Floating times and all-day dates are read in ``default_tz`` (or the
    calendar's X-WR-TIMEZONE). Cancelled events are included, flagged.
    Each problem names the event's UID and what is wrong with it.

    :raises BadData: the data is not an iCalendar file at all (names ``source``).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("read_events needs timezone-aware start and end")
    calendars = _parse(_drop_distant_events(data, start, end), source)
    problems: list[str] = []
    single, series = _split_series(_usable_components(calendars, problems))
    occurrences = [(c, False) for c in single]
    occurrences += [(c, True) for c in _expand(series, start.astimezone(default_tz),
                                               end.astimezone(default_tz), problems)]
    events: list[Event] = []
    for component, recurring in occurrences:
        try:
            event = _to_event(component, recurring, default_tz)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            problems.append(_problem(str(component["UID"]), f"cannot read: {_short(exc)}"))
            continue
        if _overlaps(event, start, end):
            events.append(event)
    events.sort(key=lambda e: (e.start.astimezone(UTC), e.uid))
    return events, problems


# -- before parsing --------------------------------------------------------

def _drop_distant_events(data: bytes, start: datetime, end: datetime) -> bytes:
    """Cut non-recurring VEVENT blocks whose dates are far outside the window,
    and the lines of the others that nothing here reads.

    Only blocks whose dates are read with certainty are cut; anything odd is
    left for the real parser (which reports it).
    """
    first = (start.astimezone(UTC) - _SLACK).date()
    last = (end.astimezone(UTC) + _SLACK).date()

    def keep(match: re.Match[bytes]) -> bytes:
        block = _FOLD.sub(b"", match.group(0))
        span = _block_dates(block)
        if span is None or (span[1] >= first and span[0] <= last):
            return _minimize(block)
        return b""

    return _VEVENT_BLOCK.sub(keep, data)


def _minimize(block: bytes) -> bytes:
    """An unfolded VEVENT block with only the properties in READ_PROPERTIES.

    Exports carry many lines nobody here reads (alarms, X-MICROSOFT-*, HTML
    copies of the description); parsing them would be most of the cost.
    """
    kept: list[bytes] = []
    depth = 0
    for line in block.splitlines():
        upper = line[:12].upper()
        if upper.startswith(b"BEGIN:"):
            depth += 1
            if depth == 1:
                kept.append(line)
            continue
        if upper.startswith(b"END:"):
            if depth == 1:
                kept.append(line)
            depth -= 1
            continue
        name = _NAME.match(line)
        if depth == 1 and name and name.group(0).upper() in READ_PROPERTIES:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n"


def _block_dates(block: bytes) -> tuple[date, date] | None:
    """The (first, last) local dates a plain VEVENT block covers; None = unsure."""
    if _RECURRING_LINE.search(block):
        return None
    starts = _DATE_LINE[b"DTSTART"].findall(block)
    ends = _DATE_LINE[b"DTEND"].findall(block)
    if len(starts) != 1 or len(ends) > 1:
        return None
    try:
        first = _digits_to_date(starts[0])
        if ends:
            return first, _digits_to_date(ends[0])
        duration = _DURATION_LINE.search(block)
        if duration is None:
            if re.search(rb"^DURATION", block, re.MULTILINE | re.IGNORECASE):
                return None  # a duration we cannot read: let the parser judge
            return first, first + timedelta(days=1)
        weeks, days, hours, minutes, seconds = (int(g or 0) for g in duration.groups())
        length = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes,
                           seconds=seconds)
        return first, first + length + timedelta(days=1)
    except (ValueError, OverflowError):
        return None


def _digits_to_date(digits: bytes) -> date:
    text = digits.decode("ascii")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


# -- parsing ---------------------------------------------------------------

def _parse(data: bytes, source: str) -> list[icalendar.Calendar]:
    try:
        parsed = icalendar.Calendar.from_ical(data, multiple=True)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise BadData(source, source, f"not an iCalendar file: {_short(exc)}") from None
    calendars = [c for c in parsed if isinstance(c, icalendar.Calendar) and c.name == "VCALENDAR"]
    if not calendars:
        raise BadData(source, source, "no complete VCALENDAR (empty or truncated file?)")
    result = []
    for calendar in calendars:
        if "X-WR-TIMEZONE" in calendar:
            # Google exports store times in UTC plus this zone; converting keeps
            # a weekly meeting at the same local hour across DST changes.
            try:
                calendar = x_wr_timezone.to_standard(calendar)
            except (ValueError, KeyError) as exc:
                logger.warning("%s: ignoring X-WR-TIMEZONE: %s", source, _short(exc))
        result.append(calendar)
    return result


def _usable_components(
    calendars: Iterable[icalendar.Calendar], problems: list[str]
) -> list[Component]:
    """Every VEVENT that can be expanded, with UIDs filled in; broken ones reported.

    A broken component takes its whole UID group with it: expanding a series
    without its broken override would show a moved meeting at its old time.
    """
    groups: dict[str, list[Component]] = {}
    broken: dict[str, str] = {}
    for calendar in calendars:
        cancel = str(calendar.get("METHOD", "")).upper() == "CANCEL"
        for component in calendar.walk("VEVENT"):
            problem = _check(component)
            if "UID" not in component:
                component["UID"] = _derived_uid(component)
            uid = str(component["UID"])
            if cancel:
                # An iTIP cancellation (METHOD:CANCEL) cancels what it names
                # even when the event itself does not say so.
                component["STATUS"] = "CANCELLED"
            if problem and uid not in broken:
                broken[uid] = problem
            groups.setdefault(uid, []).append(component)
    for uid, problem in broken.items():
        problems.append(_problem(uid, problem))
        logger.warning("skipping event %s: %s", uid, problem)
    return [c for uid, group in groups.items() if uid not in broken for c in group]


def _check(component: Component) -> str | None:
    """What makes this component unusable, or None."""
    for name, error in component.errors:
        if name in TIME_PROPERTIES:
            return f"bad {name}: {_short(error)}"
    if "DTSTART" not in component:
        return "no DTSTART"
    for rule in _as_list(component.get("RRULE")):
        problem = _check_rule(rule)
        if problem:
            return problem
    try:
        first = _dt(component, "DTSTART")
        if "DTEND" in component:
            last = _dt(component, "DTEND")
            if _instant(last, UTC) < _instant(first, UTC):
                return "DTEND is before DTSTART"
        if "DURATION" in component and _dt(component, "DURATION") < timedelta(0):
            return "negative DURATION"
    except (AttributeError, TypeError, ValueError) as exc:
        # A list here means the property was repeated.
        return f"unreadable start or end: {_short(exc)}"
    return None


def _check_rule(rule: Any) -> str | None:
    """Rules that would make the expansion loop forever or for minutes.

    dateutil never ends on INTERVAL=0, and steps through every minute or
    second since DTSTART; no interview repeats that often.
    """
    frequency = str((rule.get("FREQ") or [""])[0]).upper()
    if frequency in {"SECONDLY", "MINUTELY"}:
        return f"unsupported RRULE frequency {frequency}"
    intervals = rule.get("INTERVAL") or [1]
    try:
        if int(intervals[0]) < 1:
            return f"bad RRULE: INTERVAL={intervals[0]}"
    except (TypeError, ValueError):
        return f"bad RRULE: INTERVAL={intervals[0]}"
    return None


def _derived_uid(component: Component) -> str:
    """A stable id for an event without UID, from its start and title."""
    start = component.get("DTSTART")
    start_text = start.to_ical().decode() if hasattr(start, "to_ical") else str(start)
    tzid = start.params.get("TZID", "") if hasattr(start, "params") else ""
    key = f"{tzid}|{start_text}|{component.get('SUMMARY', '')}"
    return "nouid-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def _split_series(
    components: list[Component],
) -> tuple[list[Component], list[Component]]:
    """(single events, components of recurring series).

    Single events skip recurring_ical_events: copying each one costs as much
    as parsing it, and most of a calendar is single events.
    """
    groups: dict[str, list[Component]] = {}
    for component in components:
        groups.setdefault(str(component["UID"]), []).append(component)
    single: list[Component] = []
    series: list[Component] = []
    for group in groups.values():
        if len(group) == 1 and not any(n in group[0] for n in ("RRULE", "RDATE", "RECURRENCE-ID")):
            single.extend(group)
        else:
            # Several components with one UID (updates of one invite) are
            # left to recurring_ical_events, which keeps the highest SEQUENCE.
            series.extend(group)
    return single, series


# -- expanding -------------------------------------------------------------

def _expand(
    components: list[Component], start: datetime, end: datetime, problems: list[str]
) -> list[Component]:
    """Occurrences overlapping the window (roughly: the caller filters exactly)."""
    try:
        return _between(components, start, end)
    except Exception:  # see below
        logger.debug("expanding the whole calendar failed; expanding event by event")
    # recurring_ical_events and dateutil raise assorted types on odd rules
    # (an UNTIL of the wrong type, ...). Series by series, one bad series is
    # named and skipped instead of hiding the whole calendar.
    groups: dict[str, list[Component]] = {}
    for component in components:
        groups.setdefault(str(component["UID"]), []).append(component)
    result: list[Component] = []
    for uid, group in groups.items():
        try:
            result.extend(_between(group, start, end))
        except Exception as exc:  # any library failure is this event's
            problems.append(_problem(uid, f"cannot expand: {_short(exc)}"))
            logger.warning("skipping event %s: cannot expand: %s", uid, _short(exc))
    return result


def _between(components: list[Component], start: datetime, end: datetime) -> list[Any]:
    calendar = icalendar.Calendar()
    for component in components:
        calendar.add_component(component)
    query = recurring_ical_events.of(calendar, keep_recurrence_attributes=True)
    return list(query.between(start, end))


# -- converting ------------------------------------------------------------

def _to_event(component: Component, recurring: bool, default_tz: tzinfo) -> Event:
    uid = str(component["UID"])
    raw_start = _dt(component, "DTSTART")
    raw_end = _dt(component, "DTEND") if "DTEND" in component else _default_end(component)
    all_day = not isinstance(raw_start, datetime)
    if recurring:
        recurrence = component.get("RECURRENCE-ID")
        uid = f"{uid}/{_recurrence_text(recurrence.dt if recurrence else raw_start, default_tz)}"
    return Event(
        uid=uid,
        title=_text(component.get("SUMMARY")),
        start=_instant(raw_start, default_tz),
        end=_instant(raw_end, default_tz),
        description=_text(component.get("DESCRIPTION")),
        location=_text(component.get("LOCATION")),
        all_day=all_day,
        cancelled=str(component.get("STATUS", "")).strip().upper() == "CANCELLED",
        organizer=_person(component.get("ORGANIZER"), organizer=True),
        attendees=tuple(
            a for a in (_person(v) for v in _as_list(component.get("ATTENDEE"))) if a is not None
        ),
        categories=_categories(component.get("CATEGORIES")),
    )


def _default_end(component: Component) -> date | datetime:
    start = _dt(component, "DTSTART")
    if "DURATION" in component:
        duration: timedelta = _dt(component, "DURATION")
        if not isinstance(start, datetime) and duration % timedelta(days=1):
            start = datetime.combine(start, time())  # a date plus hours: floating
        result: date | datetime = start + duration
        return result
    # RFC 5545 3.6.1: neither DTEND nor DURATION means one day for a date,
    # an instant for a date-time.
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def _instant(value: date | datetime, default_tz: tzinfo) -> datetime:
    """An aware datetime: floating times and dates are read in ``default_tz``."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=default_tz)
    return datetime.combine(value, time(), tzinfo=default_tz)


def _recurrence_text(value: date | datetime, default_tz: tzinfo) -> str:
    """The recurrence id as UTC text (20261125T150000Z); a date stays a date."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    return _instant(value, default_tz).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _overlaps(event: Event, start: datetime, end: datetime) -> bool:
    if event.end <= event.start:  # an instant (or a broken end): where it starts
        return start <= event.start < end
    return event.start < end and event.end > start


def _person(value: Any, organizer: bool = False) -> Attendee | None:
    if value is None or isinstance(value, list):
        # A repeated ORGANIZER is invalid; none is better than a guess.
        return None
    params = getattr(value, "params", {})
    address = str(value).strip()
    if address.lower().startswith("mailto:"):
        email = address[7:].strip()
    elif "EMAIL" in params:
        email = str(params["EMAIL"]).strip()
    elif "@" in address and ":" not in address:
        email = address  # some tools omit the mailto: scheme
    else:
        email = ""  # urn:uuid:..., a CN only
    cutype = str(params.get("CUTYPE", "")).upper()
    partstat = str(params.get("PARTSTAT", "")).upper()
    if organizer and not partstat:
        response = Response.UNKNOWN
    else:
        # RFC 5545 3.2.12: PARTSTAT defaults to NEEDS-ACTION.
        response = _RESPONSES.get(partstat or "NEEDS-ACTION", Response.UNKNOWN)
    name = _param_text(params.get("CN", ""))
    if not email and not name:
        return None
    return Attendee(
        email=email.lower(),
        name=name,
        response=response,
        is_resource=cutype in {"ROOM", "RESOURCE"},
        is_group=cutype == "GROUP",
    )


def _categories(value: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in _as_list(value):
        for name in getattr(item, "cats", [item]):
            text = str(name).strip()
            if text:
                seen.setdefault(text, None)
    return tuple(seen)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # a repeated property: keep all of it
        return "\n".join(str(v) for v in value)
    return str(value)


def _dt(component: Component, name: str) -> Any:
    """The decoded value of a date/time property.

    Typed loosely: icalendar's union of property types does not narrow.
    A repeated property is a list and raises AttributeError here.
    """
    value: Any = component[name]
    return value.dt


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _problem(uid: str, what: str) -> str:
    return f"event {uid}: {what}"


def _short(exc: object, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def _param_text(value: Any) -> str:
    # An unquoted comma in a parameter (CN=Groß, Jürgen: invalid, but common) makes
    # icalendar return a list; the comma was part of the name.
    if isinstance(value, list | tuple):
        return ", ".join(str(v).strip() for v in value).strip()
    return str(value).strip()
