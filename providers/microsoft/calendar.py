"""The "microsoft" provider: Outlook calendar and mail (Microsoft 365, Outlook.com) via Graph.

Tokens come from msal's cache in the keyring (:mod:`providers.microsoft.auth`);
HTTP, throttling and error translation are :mod:`providers.microsoft.graph`.

Account options: ``client_id`` (required), ``tenant`` (default ``common``),
``cloud`` (``global``, ``usgov``, ``usgov-dod``, ``china``: the sign-in host and
the Graph root), ``endpoint`` (another Graph root: test servers, other clouds)
and ``authority`` (another sign-in authority, used only when set).

Calendar: ``/me/calendarView/delta`` over the engine's window widened to whole
UTC days. The first read, a window that moved to another day, and a delta link
Graph no longer accepts (410, ``syncStateNotFound``, ``resyncRequired``) read
the window in full; otherwise a cycle follows the stored ``@odata.deltaLink``:
one request when nothing changed. Times arrive in UTC (``Prefer:
outlook.timezone="UTC"``) and descriptions as text. Outlook categories are the
event's categories; an attendee of type ``resource`` is a room; the user's own
answer (``responseStatus``) is an attendee marked ``is_self``.

An event that leaves the window (deleted, or postponed by two months) comes as
``@removed``; :meth:`GraphCalendar.lookup` (``GET /me/events/{id}``) tells the two
apart before the engine counts the interview as cancelled (rule 8).

The mailbox half (every folder but Drafts, Deleted Items, Junk Email and Outbox;
drafts) is :mod:`providers.microsoft.mailbox`.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._shared.retry import ExpectedStatus
from ..base import Attendee, CalendarChanges, CalendarSource, Event, Response
from ..errors import ProviderUnavailable
from .graph import DeltaExpired, GraphHttp, dump_state, graph_time, iso, load_state

if TYPE_CHECKING:

    pass

logger = logging.getLogger(__name__)

EVENTS_PAGE = 200
_RESPONSES = {
    "accepted": Response.ACCEPTED, "organizer": Response.ACCEPTED,
    "declined": Response.DECLINED, "tentativelyAccepted": Response.TENTATIVE,
    "notResponded": Response.NEEDS_ACTION, "none": Response.UNKNOWN,
}
_HTML = re.compile(r"<(?:html|body|br|p|div|span|a|b|i|u|ul|ol|li|table|font|strong|em)\b",
                   re.IGNORECASE)


# -- calendar ------------------------------------------------------------------
class GraphCalendar(CalendarSource):
    def __init__(self, http: GraphHttp, me: Iterable[str] = ()) -> None:
        self.http = http
        self.me = frozenset(a.lower() for a in me)

    def changes(self, checkpoint: str | None, start: datetime, end: datetime,
                default_tz: tzinfo) -> CalendarChanges:
        window = _window(start, end)
        state = load_state(checkpoint, "calendar")
        if state is not None and state.get("window") == list(window) and state.get("link"):
            try:
                return self._incremental(checkpoint or "", str(state["link"]), window,
                                         start, end)
            except DeltaExpired as exc:
                logger.info("account %s: calendar delta link expired (%s); reading the "
                            "calendar again", self.http.account, exc)
        return self._full(window, start, end)

    def _headers(self) -> dict[str, str]:
        return {"Prefer": f'outlook.timezone="UTC", outlook.body-content-type="text", '
                          f"odata.maxpagesize={EVENTS_PAGE}"}

    def _full(self, window: tuple[str, str], start: datetime,
              end: datetime) -> CalendarChanges:
        events: dict[str, Event] = {}
        problems: list[str] = []
        link = None
        for page in self.http.pages("calendarView.delta", self.http.url("me/calendarView/delta"),
                                    params={"startDateTime": window[0],
                                            "endDateTime": window[1]},
                                    headers=self._headers()):
            for item in page.get("value") or []:
                if "@removed" in item:
                    continue
                event = self._event(item, problems)
                if event is not None and _overlaps(event, start, end):
                    events[event.uid] = event
            link = page.get("@odata.deltaLink") or link
        if not link:
            logger.warning("account %s: Graph gave no calendar delta link; the calendar will "
                           "be read in full again next cycle", self.http.account)
        logger.debug("account %s: read %d events", self.http.account, len(events))
        return CalendarChanges(events=tuple(events.values()), removed=(), complete=True,
                               checkpoint=dump_state("calendar", window=list(window), link=link),
                               problems=tuple(problems))

    def _incremental(self, checkpoint: str, link: str, window: tuple[str, str],
                     start: datetime, end: datetime) -> CalendarChanges:
        events: dict[str, Event] = {}
        removed: set[str] = set()
        problems: list[str] = []
        new_link = None
        for page in self.http.pages("calendarView.delta", link, headers=self._headers(),
                                    delta=True):
            for item in page.get("value") or []:
                uid = str(item.get("id") or "")
                if "@removed" in item:
                    # Deleted, or (Graph's way of saying it) moved out of the window.
                    removed.add(uid)
                    events.pop(uid, None)
                    continue
                event = self._event(item, problems)
                if event is None:
                    continue
                if _overlaps(event, start, end):
                    events[event.uid] = event
                    removed.discard(event.uid)
                else:
                    removed.add(event.uid)
            new_link = page.get("@odata.deltaLink") or new_link
        removed.discard("")
        if not new_link:
            raise DeltaExpired("the round ended without a delta link")
        if not events and not removed and not problems and new_link == link:
            return CalendarChanges(events=(), removed=(), checkpoint=checkpoint,
                                   complete=False, unchanged=True)
        return CalendarChanges(events=tuple(events.values()), removed=tuple(sorted(removed)),
                               checkpoint=dump_state("calendar", window=list(window),
                                                     link=new_link),
                               complete=False, problems=tuple(problems))

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        """``GET /me/events/{id}``: the event at its current time, wherever that is. The
        calendar view's delta reports an event moved out of the window as ``@removed``, just
        like a deletion (rule 8); this tells them apart. None when it is gone (404) or
        cancelled."""
        try:
            item = self.http.request(
                "events.get", "GET", self.http.url(f"me/events/{quote(uid, safe='')}"),
                headers={"Prefer": 'outlook.timezone="UTC", outlook.body-content-type="text"'},
                expect=(404,))
        except ExpectedStatus:
            return None
        if item.get("isCancelled"):
            return None
        problems: list[str] = []
        event = self._event(item, problems)
        if problems:
            raise ProviderUnavailable(self.http.account, problems[0])
        return event

    def _event(self, item: dict[str, Any], problems: list[str]) -> Event | None:
        if item.get("type") == "seriesMaster":
            return None  # the view lists occurrences; a master is not one
        try:
            return _to_event(item, self.me)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(f"event {item.get('id', '?')}: unreadable "
                            f"({type(exc).__name__}: {exc})")
            return None


def _window(start: datetime, end: datetime) -> tuple[str, str]:
    """The engine's window widened to whole UTC days: a delta link is bound to its window,
    so it is reused until the window moves to another day."""
    first = datetime.combine(start.astimezone(UTC).date(), time(0), tzinfo=UTC)
    last = datetime.combine(end.astimezone(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)
    return iso(first), iso(last)


def _to_event(item: dict[str, Any], me: frozenset[str]) -> Event:
    start = graph_time(item["start"])
    end = graph_time(item.get("end") or item["start"])
    own = _RESPONSES.get(str((item.get("responseStatus") or {}).get("response") or ""))
    is_organizer = bool(item.get("isOrganizer"))
    attendees = []
    mine = False
    for raw in item.get("attendees") or []:
        person = _person(raw)
        if person.email and person.email in me:
            mine = True
            if own not in (None, Response.UNKNOWN):
                person = Attendee(person.email, person.name, own, person.is_resource,
                                  is_self=True)
        attendees.append(person)
    if not mine and not is_organizer and own not in (None, Response.UNKNOWN):
        # The user's answer without their address: the rules need only "this is me".
        attendees.append(Attendee("", "", own, is_self=True))
    organizer = None
    if isinstance(item.get("organizer"), dict):
        organizer = _person(item["organizer"]).as_organizer(attendees, is_organizer)
    body = item.get("body") or {}
    return Event(
        uid=str(item["id"]),
        title=str(item.get("subject") or ""),
        start=start,
        end=max(end, start),
        description=_plain(str(body.get("content") or ""), str(body.get("contentType") or "")),
        location=str((item.get("location") or {}).get("displayName") or ""),
        all_day=bool(item.get("isAllDay")),
        cancelled=bool(item.get("isCancelled")),
        organizer=organizer,
        attendees=tuple(attendees),
        categories=tuple(str(c) for c in item.get("categories") or () if str(c).strip()),
    )


def _person(raw: dict[str, Any]) -> Attendee:
    email = raw.get("emailAddress") or {}
    status = (raw.get("status") or {}).get("response")
    return Attendee(
        email=str(email.get("address") or "").strip().lower(),
        name=str(email.get("name") or "").strip(),
        response=_RESPONSES.get(str(status or ""), Response.UNKNOWN),
        is_resource=str(raw.get("type") or "").lower() == "resource",
    )


def _plain(content: str, content_type: str) -> str:
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    if content_type.lower() == "html" or (content_type.lower() != "text" and _HTML.search(text)):
        text = re.sub(r"<(head|style|script)\b.*?</\1\s*>", "", text,
                      flags=re.IGNORECASE | re.DOTALL)
        text = re.sub(r"\s*\n\s*", " ", text)  # HTML line breaks are tags, not newlines
        text = re.sub(r"<br\s*/?>|</(?:p|div|li|tr|h\d)\s*>", "\n", text, flags=re.IGNORECASE)
        text = html.unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")
        text = "\n".join(line.strip() for line in text.split("\n"))
    return text.strip()


def _overlaps(event: Event, start: datetime, end: datetime) -> bool:
    return event.end > start and event.start < end
