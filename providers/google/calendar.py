"""The "google" provider: Google Calendar v3 and Gmail v1 through google-api-python-client.

The client library uses the discovery documents it ships (``static_discovery``);
credentials come from the keyring (:mod:`providers.google.auth`), a refreshed
token is written back after each call, and every error is translated in
:mod:`providers.google.api`. The mailbox half is :mod:`providers.google.mailbox`.

Account options: ``client_secrets`` (used by ``followup auth`` only),
``calendars`` (default ``["primary"]``) and ``endpoint`` (the API root, for
tests and private endpoints).

Calendar: ``events.list`` with ``singleEvents`` and a sync token per calendar,
so a cycle in which nothing changed costs one request per calendar (plus one
``history.list`` for Gmail). The calendars are listed in full over the engine's
window on the first cycle, when Google answers 410 to a sync token, and once a
day when the window's end moves to a new day (an event that enters the horizon
without being edited produces no sync change). Event ids are the uids: a
recurring instance's id already names its original start. Events whose
``eventType`` is not ``default`` (out of office, focus time, working location,
birthdays, events from Gmail) are ignored. A colour and the private extended
property ``interview-followup=interview`` become tags the [detect] categories
can name ("Tomato", "Interview").

An event that a sync reports changed but now lies outside the window (postponed by
two months) is reported as removed, as Graph's delta does: the engine then asks
:meth:`GoogleCalendar.lookup` (``events.get``, in each calendar) where it went
before it counts the interview as cancelled (rule 8). ``events.get`` answers a
deleted event with ``status: cancelled`` (or 404/410 once it is purged): None.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._shared import checkpoint as checkpoints
from .._shared.retry import ExpectedStatus
from ..base import Attendee, CalendarChanges, CalendarSource, Event, Response
from ..errors import ProviderUnavailable
from .api import GoogleApi

if TYPE_CHECKING:

    pass

logger = logging.getLogger(__name__)

# Google's event palette (colors.get "event"): colorId -> the name its web UI shows.
COLOURS = {
    "1": "Lavender", "2": "Sage", "3": "Grape", "4": "Flamingo", "5": "Banana",
    "6": "Tangerine", "7": "Peacock", "8": "Graphite", "9": "Blueberry", "10": "Basil",
    "11": "Tomato",
}
PROPERTY = "interview-followup"  # private extended property; value "interview" tags the event
EVENTS_PAGE = 250
_RESPONSES = {
    "accepted": Response.ACCEPTED, "declined": Response.DECLINED,
    "tentative": Response.TENTATIVE, "needsAction": Response.NEEDS_ACTION,
}
_HTML = re.compile(r"<(?:br|p|div|a|b|i|u|ul|ol|li|span|strong|em)\b[^>]*>", re.IGNORECASE)


class GoogleCalendar(CalendarSource):
    def __init__(self, api: GoogleApi, calendars: Sequence[str] = ("primary",)) -> None:
        self.api = api
        self.calendars = tuple(calendars)

    def changes(self, checkpoint: str | None, start: datetime, end: datetime,
                default_tz: tzinfo) -> CalendarChanges:
        try:
            state = _calendar_state(checkpoint)
            end_day = end.astimezone(UTC).date().isoformat()
            if (state is not None and state["end_day"] == end_day
                    and set(state["tokens"]) == set(self.calendars)
                    and all(state["tokens"].values())):
                try:
                    return self._incremental(checkpoint or "", state, start, end, default_tz)
                except ExpectedStatus:
                    logger.info("account %s: calendar sync token expired (410); "
                                "reading the calendars again", self.api.account)
            return self._full(start, end, default_tz)
        finally:
            self.api.save()

    def _list(self, calendar_id: str, **params: Any) -> Iterator[dict[str, Any]]:
        events = self.api.calendar().events()
        return self.api.pages("events.list", lambda token: events.list(
            calendarId=calendar_id, singleEvents=True, maxResults=EVENTS_PAGE,
            pageToken=token, **params), expect=(410,) if "syncToken" in params else ())

    def _full(self, start: datetime, end: datetime, default_tz: tzinfo) -> CalendarChanges:
        events: dict[str, Event] = {}
        problems: list[str] = []
        tokens: dict[str, str | None] = {}
        for calendar_id in self.calendars:
            token = None
            for page in self._list(calendar_id, timeMin=_rfc3339(start), timeMax=_rfc3339(end)):
                for item in page.get("items", []):
                    if item.get("status") == "cancelled":
                        continue
                    event = self._event(calendar_id, item, default_tz, problems)
                    if event is not None and _overlaps(event, start, end):
                        events.setdefault(event.uid, event)
                token = page.get("nextSyncToken", token)
            if not token:
                logger.warning("account %s: calendar %s gave no sync token; it will be read "
                               "in full again next cycle", self.api.account, calendar_id)
            tokens[calendar_id] = token
        logger.debug("account %s: read %d events from %d calendars", self.api.account,
                     len(events), len(self.calendars))
        return CalendarChanges(
            events=tuple(events.values()), removed=(), complete=True,
            checkpoint=_calendar_checkpoint(end, tokens), problems=tuple(problems),
        )

    def _incremental(self, checkpoint: str, state: dict[str, Any], start: datetime,
                     end: datetime, default_tz: tzinfo) -> CalendarChanges:
        events: dict[str, Event] = {}
        removed: set[str] = set()
        problems: list[str] = []
        tokens: dict[str, str | None] = {}
        for calendar_id in self.calendars:
            token = state["tokens"][calendar_id]
            for page in self._list(calendar_id, syncToken=token):
                for item in page.get("items", []):
                    if item.get("status") == "cancelled":
                        removed.add(str(item.get("id", "")))
                        continue
                    event = self._event(calendar_id, item, default_tz, problems)
                    if event is not None and _overlaps(event, start, end):
                        events.setdefault(event.uid, event)
                    elif event is not None:
                        removed.add(event.uid)  # moved out of the window: looked up (rule 8)
                token = page.get("nextSyncToken", token)
            tokens[calendar_id] = token
        new = _calendar_checkpoint(end, tokens)
        removed = {uid for uid in removed if uid and uid not in events}
        if not events and not removed and not problems and new == checkpoint:
            return CalendarChanges(events=(), removed=(), checkpoint=checkpoint,
                                   complete=False, unchanged=True)
        return CalendarChanges(events=tuple(events.values()), removed=tuple(sorted(removed)),
                               checkpoint=new, complete=False, problems=tuple(problems))

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        """``events.get`` in each calendar: the event at its current time, None when it was
        deleted or cancelled (or is no longer an event the rules read)."""
        try:
            events = self.api.calendar().events()
            for calendar_id in self.calendars:
                def get(cal: str = calendar_id) -> Any:
                    return events.get(calendarId=cal, eventId=uid).execute()

                try:
                    item = self.api.call("events.get", get, expect=(404, 410))
                except ExpectedStatus:
                    continue  # not in this calendar (or purged)
                if item.get("status") == "cancelled":
                    return None
                problems: list[str] = []
                event = self._event(calendar_id, item, default_tz, problems)
                if problems:
                    raise ProviderUnavailable(self.api.account, problems[0])
                return event
            return None
        finally:
            self.api.save()

    def _event(self, calendar_id: str, item: dict[str, Any], default_tz: tzinfo,
               problems: list[str]) -> Event | None:
        if item.get("eventType", "default") != "default":
            return None  # out of office, focus time, working location, birthdays ...
        try:
            return _to_event(item, default_tz)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"calendar {calendar_id}: event {item.get('id', '?')}: "
                            f"unreadable ({type(exc).__name__}: {exc})")
            return None


def _check_calendar_state(state: dict[str, Any]) -> None:
    if not isinstance(state.get("tokens"), dict):
        raise ValueError("no sync tokens")
    str(state["end_day"])


def _calendar_state(checkpoint: str | None) -> dict[str, Any] | None:
    return checkpoints.load(checkpoint, "Google Calendar", check=_check_calendar_state)


def _calendar_checkpoint(end: datetime, tokens: dict[str, str | None]) -> str:
    return checkpoints.dump(end_day=end.astimezone(UTC).date().isoformat(), tokens=tokens)


def _to_event(item: dict[str, Any], default_tz: tzinfo) -> Event:
    start, all_day = _when(item["start"], default_tz)
    end, _ = _when(item.get("end") or item["start"], default_tz)
    attendees = tuple(_attendee(a) for a in item.get("attendees") or [] if isinstance(a, dict))
    organizer = None
    if isinstance(item.get("organizer"), dict):
        org = _attendee(item["organizer"])
        organizer = org.as_organizer(attendees, org.is_self)
    return Event(
        uid=str(item["id"]),
        title=str(item.get("summary") or ""),
        start=start,
        end=max(end, start),
        description=_plain(str(item.get("description") or "")),
        location=str(item.get("location") or ""),
        all_day=all_day,
        organizer=organizer,
        attendees=attendees,
        tags=_tags(item),
    )


def _when(value: dict[str, Any], default_tz: tzinfo) -> tuple[datetime, bool]:
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=_zone(value.get("timeZone"), default_tz))
        return moment, False
    day = datetime.fromisoformat(str(value["date"])).date()
    return datetime.combine(day, dtime(0), tzinfo=default_tz), True


def _zone(name: Any, default_tz: tzinfo) -> tzinfo:
    try:
        return ZoneInfo(str(name)) if name else default_tz
    except (ZoneInfoNotFoundError, ValueError):
        return default_tz


def _attendee(raw: dict[str, Any]) -> Attendee:
    return Attendee(
        email=str(raw.get("email") or "").strip().lower(),
        name=str(raw.get("displayName") or "").strip(),
        response=_RESPONSES.get(str(raw.get("responseStatus")), Response.UNKNOWN),
        is_resource=bool(raw.get("resource")),
        is_self=bool(raw.get("self")),
    )


def _tags(item: dict[str, Any]) -> tuple[str, ...]:
    tags = []
    colour = COLOURS.get(str(item.get("colorId") or ""))
    if colour:
        tags.append(colour)
    private = (item.get("extendedProperties") or {}).get("private") or {}
    if str(private.get(PROPERTY, "")).strip().lower() == "interview":
        tags.append("Interview")
    return tuple(tags)


def _plain(description: str) -> str:
    """Descriptions typed in Google Calendar's web UI are HTML; the rules read lines."""
    if not _HTML.search(description):
        return description
    text = re.sub(r"<br\s*/?>|</(?:p|div|li)>", "\n", description, flags=re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def _overlaps(event: Event, start: datetime, end: datetime) -> bool:
    return event.end > start and event.start < end


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
